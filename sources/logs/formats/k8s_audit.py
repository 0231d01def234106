"""Kubernetes API server audit events (``audit.k8s.io/v1`` ``Event``): one JSON object a line.

A line is an ``Event`` (log backend, EKS exports), an AKS diagnostic log record (category ``kube-audit`` or
``kube-audit-admin``) holding one in ``properties.log`` (a JSON string or object), or an ``EventList`` batch
(webhook backend), whose ``items`` become one row each; lines that cannot be read stay one row, so a malformed
line counts once and each event of a batch counts (and is rejected) on its own. An empty batch and objects of another
``kind`` are counted as skipped; events without ``auditID`` or ``stage`` are rejected, and so are GKE's Cloud
Audit Logs entries (``protoPayload``), which are not ``audit.k8s.io`` events.

A record's time is its ``stageTimestamp``, else ``requestReceivedTimestamp``. ``decision`` and
``reason`` come from the ``authorization.k8s.io/decision`` (allow | forbid) and
``authorization.k8s.io/reason`` annotations, ``code`` from ``responseStatus``. An event is identified
by ``auditID`` and ``stage``: an event already loaded (overlapping or re-shipped files, repeated
lines) is loaded once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sources.logs.ingest import LogFormat

SCHEMA = json.dumps(
    {
        "kind": "VARCHAR",
        "auditID": "VARCHAR",
        "stage": "VARCHAR",
        "level": "VARCHAR",
        "requestURI": "VARCHAR",
        "verb": "VARCHAR",
        "user": {"username": "VARCHAR", "groups": ["VARCHAR"]},
        "impersonatedUser": {"username": "VARCHAR"},
        "sourceIPs": ["VARCHAR"],
        "userAgent": "VARCHAR",
        "objectRef": {
            "resource": "VARCHAR",
            "subresource": "VARCHAR",
            "namespace": "VARCHAR",
            "name": "VARCHAR",
            "apiGroup": "VARCHAR",
            "apiVersion": "VARCHAR",
        },
        "responseStatus": {"code": "INTEGER"},
        "requestReceivedTimestamp": "VARCHAR",
        "stageTimestamp": "VARCHAR",
        "annotations": "MAP(VARCHAR, VARCHAR)",
    }
)
# An AKS diagnostic log record (categories kube-audit, kube-audit-admin) holds the event in ``properties.log``,
# as a JSON string or an object; any other line is the event (or batch) itself.
AKS_EVENT = """CASE
    WHEN contains(line, '"kube-audit') AND try(line->>'$.category') IN ('kube-audit', 'kube-audit-admin')
         THEN coalesce(CASE try(json_type(line, '$.properties.log'))
                            WHEN 'VARCHAR' THEN line->>'$.properties.log'
                            WHEN 'OBJECT' THEN CAST(json_extract(line, '$.properties.log') AS VARCHAR) END, line)
         ELSE line END"""
DECISION = "authorization.k8s.io/decision"
REASON = "authorization.k8s.io/reason"


def select(first_line: str | None, spec: Mapping[str, Any]) -> str:
    return f"""
    SELECT raw, line,
           CASE WHEN e.kind = 'Event' AND nullif(e.auditID, '') IS NOT NULL AND nullif(e.stage, '') IS NOT NULL
                    THEN 'ok'  -- first: a valid event is read once (an object, as from_json read it)
                WHEN NOT coalesce(json_valid(ev), false) THEN 'reject:invalid JSON'
                WHEN try(json_type(ev)) <> 'OBJECT' THEN 'reject:not a JSON object'
                WHEN e.kind = 'EventList' THEN 'skip:empty EventList'
                WHEN e.kind IS NULL AND try(json_type(ev, '$.protoPayload')) = 'OBJECT'
                    THEN 'reject:a Cloud Audit Logs entry (protoPayload), not an audit.k8s.io Event'
                WHEN e.kind <> 'Event' THEN 'skip:not an audit event'
                ELSE 'reject:no auditID or stage' END AS _status,
           coalesce(TRY_CAST(e.stageTimestamp AS TIMESTAMPTZ),
                    TRY_CAST(e.requestReceivedTimestamp AS TIMESTAMPTZ)) AS ts,
           NULL::VARCHAR AS cluster,
           e.auditID AS audit_id,
           e.stage,
           e.level,
           e.user.username AS "user",
           e.user.groups AS groups,
           e.impersonatedUser.username AS impersonated_user,
           e.sourceIPs AS source_ips,
           e.userAgent AS user_agent,
           e.verb,
           e.objectRef.apiGroup AS api_group,
           e.objectRef.apiVersion AS api_version,
           e.objectRef.resource,
           e.objectRef.subresource,
           e.objectRef.namespace,
           e.objectRef.name,
           e.requestURI AS request_uri,
           e.annotations['{DECISION}'] AS decision,
           nullif(e.annotations['{REASON}'], '') AS reason,
           e.responseStatus.code AS code
    FROM (SELECT raw, line, ev, try(from_json(ev, '{SCHEMA}')) AS e
          FROM (SELECT raw, line, unnest(CASE WHEN len(items) > 0 THEN items ELSE [doc] END) AS ev
                FROM (SELECT raw, line, doc,
                             CASE WHEN contains(doc, 'EventList') AND try(doc->>'$.kind') = 'EventList'
                                  THEN try(CAST(json_extract(doc, '$.items[*]') AS VARCHAR[])) END AS items
                      FROM (SELECT raw, line, {AKS_EVENT} AS doc FROM lines))))
    """


FORMAT = LogFormat(
    name="k8s-audit",
    table="audit_events",
    description="Kubernetes API server audit events (audit.k8s.io/v1 Event or EventList, JSON lines)",
    select=select,
    dedupe=("audit_id", "stage"),
    batch_marker="EventList",  # an EventList line holds a batch
)

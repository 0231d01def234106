"""Cilium Hubble flows: ``hubble observe -o json`` lines and the Hubble exporter's files.

Each line wraps one event: ``{"flow": {...}, "node_name": ..., "time": ...}`` (older CLIs print the bare
flow, which is read too); ``lost_events`` and ``node_status`` lines (and other non-flow events) are counted
as skipped. Times are RFC 3339 with
nanoseconds (kept to the microsecond). DROPPED (and ERROR) flows are denies with ``drop_reason_desc`` (else the
numeric ``drop_reason``) as the reason; the policy named by ``*_denied_by``/``*_allowed_by`` is recorded when
Hubble gives it. ``dst_fqdn`` holds every name of ``destination_names`` (the names the destination address maps
to in the source's DNS cache), comma-separated. The cluster is the ``io.cilium.k8s.policy.cluster`` label of
the local endpoint (the destination of ingress flows and of egress replies, else the source), else the prefix
of a ``node_name`` ``<cluster>/<node>`` (Cilium names a node so when its cluster is not ``default``:
``GetAbsoluteNodeName`` in cilium/pkg/node), unless the input names one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sources.logs.ingest import LogFormat

ENDPOINT = {"identity": "VARCHAR", "namespace": "VARCHAR", "pod_name": "VARCHAR", "labels": ["VARCHAR"]}
PORTS = {"source_port": "INTEGER", "destination_port": "INTEGER"}
POLICIES = [{"name": "VARCHAR", "namespace": "VARCHAR"}]
FLOW = {
    "time": "VARCHAR",
    "verdict": "VARCHAR",
    "drop_reason_desc": "VARCHAR",
    "drop_reason": "VARCHAR",  # deprecated numeric code (133: POLICY_DENIED), in older captures
    "IP": {"source": "VARCHAR", "destination": "VARCHAR"},
    "l4": {"TCP": PORTS, "UDP": PORTS, "SCTP": PORTS, "ICMPv4": "JSON", "ICMPv6": "JSON"},
    "source": ENDPOINT,
    "destination": ENDPOINT,
    "destination_names": ["VARCHAR"],
    "traffic_direction": "VARCHAR",
    "is_reply": "BOOLEAN",
    "reply": "BOOLEAN",  # deprecated name of is_reply, in older captures
    "node_name": "VARCHAR",
    "egress_denied_by": POLICIES,
    "ingress_denied_by": POLICIES,
    "egress_allowed_by": POLICIES,
    "ingress_allowed_by": POLICIES,
}
# An event ({"flow": …}, {"lost_events": …}, …) or, from older CLIs, a bare flow (told by its verdict).
SCHEMA = json.dumps(
    {
        "flow": FLOW,
        "lost_events": "JSON",
        "node_status": "JSON",
        "node_name": "VARCHAR",
        "time": "VARCHAR",
        "verdict": "VARCHAR",
    }
)
ALLOWED = ("FORWARDED", "REDIRECTED", "TRACED", "TRANSLATED", "AUDIT")
DENIED = ("DROPPED", "ERROR")
CLUSTER_LABEL = "k8s:io.cilium.k8s.policy.cluster="


def select(first_line: str | None, spec: Mapping[str, Any]) -> str:
    allowed = ", ".join(f"'{v}'" for v in ALLOWED)
    denied = ", ".join(f"'{v}'" for v in DENIED)
    return f"""
    SELECT raw, line,
           CASE WHEN j IS NULL THEN 'reject:invalid JSON'
                WHEN fl IS NOT NULL AND fl.verdict IN ({allowed}, {denied}) THEN 'ok'
                WHEN fl IS NOT NULL THEN 'reject:unknown verdict'
                WHEN j.lost_events IS NOT NULL THEN 'skip:lost_events'
                WHEN j.node_status IS NOT NULL THEN 'skip:node_status'
                ELSE 'skip:not a flow' END AS _status,
           try(CAST(coalesce(fl.time, j.time) AS TIMESTAMPTZ)) AS ts,
           coalesce(nullif(substr([l FOR l IN CASE WHEN (fl.traffic_direction = 'INGRESS')
                                                            <> coalesce(fl.is_reply, fl.reply, false)
                                                   THEN fl.destination.labels ELSE fl.source.labels END
                                   IF starts_with(l, '{CLUSTER_LABEL}')][1], {len(CLUSTER_LABEL) + 1}), ''),
                    CASE WHEN contains(observer, '/') THEN nullif(split_part(observer, '/', 1), '') END) AS cluster,
           observer,
           fl.IP.source AS src_ip,
           coalesce(fl.l4.TCP.source_port, fl.l4.UDP.source_port, fl.l4.SCTP.source_port) AS src_port,
           fl.IP.destination AS dst_ip,
           coalesce(fl.l4.TCP.destination_port, fl.l4.UDP.destination_port, fl.l4.SCTP.destination_port) AS dst_port,
           CASE WHEN fl.l4.TCP IS NOT NULL THEN 'TCP' WHEN fl.l4.UDP IS NOT NULL THEN 'UDP'
                WHEN fl.l4.SCTP IS NOT NULL THEN 'SCTP' WHEN fl.l4.ICMPv4 IS NOT NULL THEN 'ICMP'
                WHEN fl.l4.ICMPv6 IS NOT NULL THEN 'ICMPv6' END AS protocol,
           fl.source.namespace AS src_namespace, fl.source.pod_name AS src_pod,
           fl.source.identity AS src_identity, fl.source.labels AS src_labels,
           fl.destination.namespace AS dst_namespace, fl.destination.pod_name AS dst_pod,
           fl.destination.identity AS dst_identity, fl.destination.labels AS dst_labels,
           nullif(array_to_string(fl.destination_names, ','), '') AS dst_fqdn,  -- every name, comma-separated
           lower(nullif(fl.traffic_direction, 'TRAFFIC_DIRECTION_UNKNOWN')) AS direction,
           CASE WHEN fl.verdict IN ({denied}) THEN 'deny' ELSE 'allow' END AS verdict,
           CASE WHEN fl.verdict IN ({denied})
                THEN coalesce(fl.drop_reason_desc, nullif(fl.drop_reason, '0'), fl.verdict)
                WHEN fl.verdict = 'AUDIT' THEN 'AUDIT' END AS reason,
           CASE WHEN policy.name IS NOT NULL THEN concat_ws('/', policy.namespace, policy.name) END AS policy
    FROM (SELECT *, flatten([coalesce(fl.egress_denied_by, []), coalesce(fl.ingress_denied_by, []),
                             coalesce(fl.egress_allowed_by, []), coalesce(fl.ingress_allowed_by, [])])[1] AS policy
          FROM (SELECT *, coalesce(fl.node_name, j.node_name) AS observer
                FROM (SELECT raw, line, j,
                             CASE WHEN j.flow IS NOT NULL THEN j.flow
                                  WHEN j.verdict IS NOT NULL THEN try(from_json(line, '{json.dumps(FLOW)}')) END AS fl
                      FROM (SELECT raw, line, try(from_json(line, '{SCHEMA}')) AS j FROM lines))))
    """


FORMAT = LogFormat(
    name="hubble",
    table="flows",
    description="Cilium Hubble flows (hubble observe -o json, Hubble exporter)",
    select=select,
)

"""AWS Network Firewall alert, flow and TLS logs: one JSON object a line (S3, CloudWatch Logs or Firehose).

Each line is ``{"firewall_name", "availability_zone", "event_timestamp", "event": {...}}`` where ``event``
is Suricata EVE JSON. Loaded as flows (``observer`` is the firewall):

- ``alert``: ``alert.action`` blocked/drop(ped)/reject(ed) is a deny, allowed/alert/pass an allow; the
  reason is the rule's ``signature`` and the policy ``sid:<signature_id>``;
- ``netflow``: an allowed (one-way) flow with its ``bytes`` and ``pkts``;
- TLS log entries (no ``event_type``): a ``tls_error`` is a deny (the firewall reset the connection) with
  the error message as reason; a ``revocation_check`` is decided by its ``action`` (PASS | DROP | REJECT).

The destination name is ``tls.sni``, ``http.hostname`` or the TLS log's ``sni``. A record's time is
``event.timestamp``, else ``event_timestamp`` (epoch seconds). Ports may be numbers or strings. Other
event types are counted as skipped; unknown actions are rejected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sources.logs.ingest import LogFormat

SCHEMA = json.dumps(
    {
        "firewall_name": "VARCHAR",
        "event_timestamp": "VARCHAR",
        "event": {
            "timestamp": "VARCHAR",
            "event_type": "VARCHAR",
            "src_ip": "VARCHAR",
            "src_port": "VARCHAR",
            "dest_ip": "VARCHAR",
            "dest_port": "VARCHAR",
            "proto": "VARCHAR",
            "alert": {"action": "VARCHAR", "signature": "VARCHAR", "signature_id": "VARCHAR"},
            "netflow": {"pkts": "VARCHAR", "bytes": "VARCHAR"},
            "tls": {"sni": "VARCHAR"},
            "http": {"hostname": "VARCHAR"},
            "sni": "VARCHAR",
            "tls_error": {"error_message": "VARCHAR"},
            "revocation_check": {"action": "VARCHAR", "status": "VARCHAR"},
        },
    }
)
ALERT_DENY = ("blocked", "drop", "dropped", "reject", "rejected")
ALERT_ALLOW = ("allowed", "alert", "pass")
REVOCATION_DENY = ("DROP", "REJECT")
PROTOCOLS = {"1": "ICMP", "6": "TCP", "17": "UDP", "58": "ICMPv6", "132": "SCTP", "IPV6-ICMP": "ICMPv6"}


def quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def select(first_line: str | None, spec: Mapping[str, Any]) -> str:
    deny, allow, revocation_deny = quoted(ALERT_DENY), quoted(ALERT_ALLOW), quoted(REVOCATION_DENY)
    protocols = ", ".join(f"'{n}': '{p}'" for n, p in PROTOCOLS.items())
    return f"""
    SELECT raw, line,
           CASE WHEN e IS NOT NULL AND (e.event_type = 'netflow' OR e.event_type = 'alert' AND alert_action IN ({deny},
                                        {allow})) THEN 'ok'  -- first: an alert or flow is read as JSON once
                WHEN NOT coalesce(json_valid(line), false) THEN 'reject:invalid JSON'
                WHEN try(json_type(line)) <> 'OBJECT' THEN 'reject:not a JSON object'
                WHEN try(json_type(line, '$.event')) IS DISTINCT FROM 'OBJECT' THEN 'reject:no event'
                WHEN e.event_type = 'alert' AND alert_action IN ({deny}, {allow}) THEN 'ok'
                WHEN e.event_type = 'alert' THEN 'reject:unknown alert action'
                WHEN e.event_type = 'netflow' THEN 'ok'
                WHEN e.event_type IS NOT NULL THEN 'skip:' || e.event_type
                WHEN e.tls_error IS NOT NULL THEN 'ok'
                WHEN e.revocation_check IS NOT NULL AND revocation_action IN ({revocation_deny}, 'PASS') THEN 'ok'
                WHEN e.revocation_check IS NOT NULL THEN 'reject:unknown revocation check action'
                ELSE 'skip:no event_type' END AS _status,
           coalesce(TRY_CAST(e.timestamp AS TIMESTAMPTZ),
                    try(to_timestamp(TRY_CAST(j.event_timestamp AS DOUBLE)))) AS ts,
           NULL::VARCHAR AS cluster,
           j.firewall_name AS observer,
           e.src_ip,
           TRY_CAST(e.src_port AS INTEGER) AS src_port,
           e.dest_ip AS dst_ip,
           TRY_CAST(e.dest_port AS INTEGER) AS dst_port,
           coalesce(MAP {{{protocols}}}[upper(e.proto)], e.proto) AS protocol,
           coalesce(nullif(e.tls.sni, ''), nullif(e.http.hostname, ''), nullif(nullif(e.sni, ''), '-')) AS dst_fqdn,
           CASE WHEN alert_action IN ({deny}) OR e.tls_error IS NOT NULL OR revocation_action IN ({revocation_deny})
                THEN 'deny' ELSE 'allow' END AS verdict,
           CASE WHEN e.event_type = 'alert' THEN nullif(e.alert.signature, '')
                WHEN e.tls_error IS NOT NULL THEN 'TLS error: ' || e.tls_error.error_message
                WHEN e.revocation_check IS NOT NULL THEN 'certificate revocation check: ' || e.revocation_check.status
                END AS reason,
           'sid:' || e.alert.signature_id AS policy,
           TRY_CAST(e.netflow.bytes AS BIGINT) AS bytes,
           TRY_CAST(e.netflow.pkts AS BIGINT) AS packets
    FROM (SELECT raw, line, j, j.event AS e, lower(j.event.alert.action) AS alert_action,
                 upper(j.event.revocation_check.action) AS revocation_action
          FROM (SELECT raw, line, try(from_json(line, '{SCHEMA}')) AS j FROM lines))
    """


FORMAT = LogFormat(
    name="network-firewall",
    table="flows",
    description="AWS Network Firewall alert, flow (netflow) and TLS logs (JSON lines; S3, CloudWatch Logs, Firehose)",
    select=select,
)

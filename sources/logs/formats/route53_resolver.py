"""Amazon Route 53 Resolver query logs: one JSON object a line (S3 or CloudWatch Logs delivery).

A record's time is its ``query_timestamp``; ``srcport`` is a string in the log and is cast. ``src_id`` is
the EC2 instance (``srcids.instance``) or the Resolver inbound endpoint (``srcids.resolver_endpoint``) that
asked. ``answers`` keeps each answer's ``Rdata``, in order. When a DNS Firewall rule matched,
``firewall_action`` is its ``firewall_rule_action`` (BLOCK | ALERT | ALLOW) and ``firewall_rule`` is
``<firewall_rule_group_id>/<firewall_domain_list_id>`` (whichever of the two is given, alone, if one is
missing). Lines that are not JSON objects, or have no ``query_name``, are rejected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sources.logs.ingest import LogFormat

SCHEMA = json.dumps(
    {
        "query_timestamp": "VARCHAR",
        "vpc_id": "VARCHAR",
        "srcaddr": "VARCHAR",
        "srcport": "VARCHAR",
        "srcids": {"instance": "VARCHAR", "resolver_endpoint": "VARCHAR"},
        "query_name": "VARCHAR",
        "query_type": "VARCHAR",
        "rcode": "VARCHAR",
        "answers": [{"Rdata": "VARCHAR"}],
        "transport": "VARCHAR",
        "firewall_rule_action": "VARCHAR",
        "firewall_rule_group_id": "VARCHAR",
        "firewall_domain_list_id": "VARCHAR",
    }
)


def select(first_line: str | None, spec: Mapping[str, Any]) -> str:
    return f"""
    SELECT raw, line,
           CASE WHEN nullif(j.query_name, '') IS NOT NULL THEN 'ok'  -- first: a record is read as JSON once
                WHEN NOT coalesce(json_valid(line), false) THEN 'reject:invalid JSON'
                WHEN try(json_type(line)) <> 'OBJECT' THEN 'reject:not a JSON object'
                ELSE 'reject:no query_name' END AS _status,
           TRY_CAST(j.query_timestamp AS TIMESTAMPTZ) AS ts,
           NULL::VARCHAR AS cluster,
           j.vpc_id,
           j.srcaddr AS src_ip,
           TRY_CAST(j.srcport AS INTEGER) AS src_port,
           coalesce(j.srcids.instance, j.srcids.resolver_endpoint) AS src_id,
           j.query_name AS qname,
           j.query_type AS qtype,
           j.rcode,
           [a.Rdata FOR a IN coalesce(j.answers, [])] AS answers,
           j.transport,
           nullif(upper(j.firewall_rule_action), '') AS firewall_action,
           nullif(concat_ws('/', nullif(j.firewall_rule_group_id, ''), nullif(j.firewall_domain_list_id, '')), '')
               AS firewall_rule
    FROM (SELECT raw, line, try(from_json(line, '{SCHEMA}')) AS j FROM lines)
    """


FORMAT = LogFormat(
    name="route53-resolver",
    table="dns_queries",
    description="Amazon Route 53 Resolver query logs, incl. DNS Firewall actions (JSON lines; S3 or CloudWatch Logs)",
    select=select,
)

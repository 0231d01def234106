"""AWS VPC Flow Logs, default (v2) and custom formats (v3-v8), as delivered to S3 or CloudWatch Logs.

Field order comes from the file's header line (S3 delivery writes one; concatenated files repeat it),
else from the input's ``fields``, else from the order AWS introduced the fields in, which reads the
default v2 format and records holding every field up to some version: a record of as many fields whose
``version`` (the highest among its format's fields) is above that version holds a later field, so is in another
(custom) order, and is rejected. ``-`` is an absent value.
Behind a NAT or load balancer ``pkt-srcaddr``/``pkt-dstaddr`` are the packet's real addresses and are
preferred to the interface's ``srcaddr``/``dstaddr``. NODATA and SKIPDATA records are counted, not loaded.
A record's time is its ``start`` (first packet), or its ``end`` when ``start`` is not within a day before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.plugins import SourceError
from sources.logs.ingest import LogFormat

# Every field, in the order AWS introduced them (v2 … v8).
ALL_FIELDS = (
    *("version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets"),
    *("bytes", "start", "end", "action", "log-status"),  # v2, the default format
    *("vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr"),  # v3
    *("region", "az-id", "sublocation-type", "sublocation-id"),  # v4
    *("pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path"),  # v5
    *("ecs-cluster-arn", "ecs-cluster-name", "ecs-container-instance-arn", "ecs-container-instance-id"),  # v7
    *("ecs-container-id", "ecs-second-container-id", "ecs-service-name", "ecs-task-definition-arn"),
    *("ecs-task-arn", "ecs-task-id"),
    "reject-reason",  # v8
)
# records holding every field up to v2, v3, v4, v5, v7, v8: their length and the version they give (a record's
# version is the highest version among its format's fields)
VERSIONS = {14: 2, 21: 3, 25: 4, 29: 5, 39: 7, 40: 8}
WRONG_VERSION = "reject:version above that of the number of fields (a custom order): set `fields`"
PROTOCOLS = {"1": "ICMP", "6": "TCP", "17": "UDP", "58": "ICMPv6", "132": "SCTP"}


def field_names(names: list[str]) -> list[str]:
    return [n.strip().lower().replace("_", "-").removeprefix("$").strip("{}") for n in names]


def header_fields(first_line: str | None) -> list[str] | None:
    """The field list if ``first_line`` is a header line."""
    names = field_names(first_line.split()) if first_line else []
    return names if names and all(n in ALL_FIELDS for n in names) else None


def select(first_line: str | None, spec: Mapping[str, Any]) -> str:
    fields = header_fields(first_line) or (field_names(spec["fields"]) if "fields" in spec else None)
    unknown = [n for n in fields or [] if n not in ALL_FIELDS]
    if unknown:
        raise SourceError(f"logs: vpcflow: unknown field(s) in `fields`: {', '.join(unknown)}")
    order = fields or ALL_FIELDS
    lengths = (len(order),) if fields else tuple(VERSIONS)
    versions = ", ".join(f"{n}: {v}" for n, v in VERSIONS.items())
    # without a header or `fields`, a record is read in AWS's order only if its version is not above that of its
    # length: a higher one names a field of a later version, so the record is in a custom order (a lower one, as in
    # public samples holding ECS fields with version 3, is read)
    version_check = (
        ""
        if fields
        else f"WHEN NOT coalesce(TRY_CAST(f[1] AS INTEGER) <= MAP {{{versions}}}[array_length(f)], false) "
        f"THEN '{WRONG_VERSION}'"
    )
    position = {name: i + 1 for i, name in enumerate(order)}

    def f(name: str) -> str:
        return f"nullif(f[{position[name]}], '-')" if name in position else "NULL::VARCHAR"

    protocols = ", ".join(f"'{n}': '{p}'" for n, p in PROTOCOLS.items())
    return f"""
    SELECT raw, line,
           CASE WHEN f[1] = '{order[0]}' THEN 'skip:header'
                WHEN array_length(f) NOT IN ({", ".join(map(str, lengths))})
                    THEN 'reject:expected {" or ".join(map(str, lengths))} fields'
                {version_check}
                WHEN {f("log-status")} IN ('NODATA', 'SKIPDATA') THEN 'skip:' || {f("log-status")}
                WHEN coalesce({f("action")}, '') NOT IN ('ACCEPT', 'REJECT')
                    THEN 'reject:action is not ACCEPT or REJECT'
                ELSE 'ok' END AS _status,
           try(to_timestamp(CASE WHEN end_s IS NULL OR end_s - start_s BETWEEN 0 AND 86400 THEN start_s
                                 ELSE end_s END)) AS ts,
           NULL::VARCHAR AS cluster,
           {f("interface-id")} AS observer,
           coalesce({f("pkt-srcaddr")}, {f("srcaddr")}) AS src_ip,
           TRY_CAST({f("srcport")} AS INTEGER) AS src_port,
           coalesce({f("pkt-dstaddr")}, {f("dstaddr")}) AS dst_ip,
           TRY_CAST({f("dstport")} AS INTEGER) AS dst_port,
           coalesce(MAP {{{protocols}}}[{f("protocol")}], {f("protocol")}) AS protocol,
           CASE {f("action")} WHEN 'ACCEPT' THEN 'allow' WHEN 'REJECT' THEN 'deny' END AS verdict,
           {f("flow-direction")} AS direction,
           {f("reject-reason")} AS reason,
           TRY_CAST({f("bytes")} AS BIGINT) AS bytes,
           TRY_CAST({f("packets")} AS BIGINT) AS packets
    FROM (SELECT *, TRY_CAST({f("start")} AS BIGINT) AS start_s, TRY_CAST({f("end")} AS BIGINT) AS end_s
          FROM (SELECT raw, line, string_split(line, ' ') AS f FROM lines))
    """


FORMAT = LogFormat(
    name="vpcflow",
    table="flows",
    description="AWS VPC Flow Logs (v2 default, custom v3-v8; S3 or CloudWatch Logs)",
    select=select,
    header=lambda first_line: header_fields(first_line) is not None,
)

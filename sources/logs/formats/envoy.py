"""Envoy and Istio access logs: the default text formats and JSON lines, into ``http_access``.

Text lines follow Envoy's default format, optionally with Istio's (1.8+) additions: response code and
connection termination details and the upstream transport failure reason after the flags, and upstream
cluster, local/remote addresses, SNI and route name after the upstream host. A leading ``ACCESS `` is
ignored. A line that is a JSON object is read with Istio's key names (plus
common custom keys for trace ids and the peer certificate, and Envoy Gateway's header-named keys: ``:authority``,
``x-envoy-origin-path``, ``user-agent``…), any other as text, each line on its own: a proxy container's log
mixes access log lines with the agent's and Envoy's own, which are skipped. ``-`` is an absent value.

An RBAC or external authorization denial (403 with ``rbac_access_denied…`` details, a connection
terminated with such details, or the ``RBAC``/``UAEX`` flag) is a ``deny``; anything else an ``allow``.
The client is the downstream remote address (port removed), else the first X-Forwarded-For entry.
The gateway is the input's ``gateway`` setting, else the pod whose kubelet log file was read
(``…/pods/<namespace>_<pod>_<uid>/<container>/…`` or ``…/containers/<pod>_<namespace>_<container>-<id>.log``),
as ``namespace/pod``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sources.logs.ingest import LogFormat

# Groups of TEXT, in order; named like the keys of Istio's JSON encoding.
TEXT_FIELDS = (
    "start_time",
    "method",
    "path",
    "protocol",
    "response_code",
    "response_flags",
    "response_code_details",
    "connection_termination_details",
    "upstream_transport_failure_reason",
    "bytes_received",
    "bytes_sent",
    "duration",
    "upstream_service_time",
    "x_forwarded_for",
    "user_agent",
    "request_id",
    "authority",
    "upstream_host",
    "upstream_cluster",
    "upstream_local_address",
    "downstream_local_address",
    "downstream_remote_address",
    "requested_server_name",
    "route_name",
)
TEXT = (
    r'^(?:ACCESS )?\[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d+|-) (\S+)'
    r'(?: (\S+) (\S+) "([^"]*)")?'  # Istio 1.8+
    r' (\d+|-) (\d+|-) (\d+|-) (\S+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)"'
    r"(?: (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)(?: .*)?)?\s*$"  # Istio; custom fields may follow
)
# TEXT where no unquoted field holds a quote: the line's quotes then delimit its fields exactly (``text_fields``).
QUOTE_FREE = TEXT.replace(r"\S", r'[^\s"]').replace(r"[^\]]", r'[^\]"]')
# Keys read from JSON lines beyond TEXT_FIELDS.
JSON_EXTRA = (
    "traceparent",
    "x_b3_traceid",
    "trace_id",
    "downstream_peer_uri_san",
    "downstream_peer_subject",
    "downstream_tls_version",
    "upstream_peer_uri_san",
)
# Other keys of JSON lines for TEXT_FIELDS, read when the field's own key is absent: Envoy Gateway's default JSON
# format names request headers as the headers (https://gateway.envoyproxy.io, "Proxy Access Logs").
JSON_ALIASES = {
    "authority": ":authority",
    "path": "x-envoy-origin-path",
    "upstream_service_time": "x-envoy-upstream-service-time",
    "x_forwarded_for": "x-forwarded-for",
    "user_agent": "user-agent",
    "request_id": "x-request-id",
}
JSON_SCHEMA = json.dumps(dict.fromkeys(TEXT_FIELDS + JSON_EXTRA + tuple(JSON_ALIASES.values()), "VARCHAR"))
DENY_FLAGS = ("RBAC", "UAEX", "RbacAccessDenied", "UnauthorizedExternalService")
REJECT = "reject:not an Envoy access log line"
# The proxy's own log lines in its container's log, skipped: Istio's agent and Envoy (istio/pkg/log: time, tab,
# level, tab; or JSON with level and msg) and Envoy's default application log ("[%Y-%m-%d %T.%e][%t][%l][%n] %v").
LEVELS = "trace|debug|info|warn|warning|error|critical|fatal"
PROXY_LOG = (
    rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\t(?:{LEVELS})\t"
    rf"|^\[\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\]\[\d+\]\[(?:{LEVELS})\]"
)
SKIP_PROXY_LOG = "skip:proxy log line"
NAME = r"[a-z0-9](?:[-.a-z0-9]*[a-z0-9])?"
POD_LOG_PATHS = (  # kubelet's file names: (namespace, pod) or (pod, namespace)
    re.compile(rf"(?:^|/)pods/(?P<namespace>{NAME})_(?P<pod>{NAME})_[0-9a-f-]{{32,36}}/"),
    re.compile(rf"(?:^|/)containers/(?P<pod>{NAME})_(?P<namespace>{NAME})_{NAME}-[0-9a-f]{{64}}\.log"),
)


def gateway(spec: Mapping[str, Any]) -> str | None:
    """The gateway of an input's file: its ``gateway`` setting, else the pod of a kubelet pod-log path (its origin,
    or the file read: a local file's origin is named by its root, which may start below ``pods/``)."""
    if spec.get("gateway"):
        return spec["gateway"]
    for name in (spec.get("origin", ""), spec.get("file", "")):
        for pattern in POD_LOG_PATHS:
            if found := pattern.search(name):
                return f"{found['namespace']}/{found['pod']}"
    return None


# the columns a line yields (the inner select's, but termination_details, which only decides the verdict), named so
# that the same SELECT runs on DuckDB and Spark (no `* EXCLUDE`)
COLUMNS = (
    "raw", "line", "_status", "ts", "cluster", "gateway", "route", "upstream_cluster", "upstream_host", "authority",
    "method", "path", "protocol", "status", "response_flags", "response_details", "duration_ms", "bytes_received",
    "bytes_sent", "src_ip", "src_principal", "dst_principal", "mtls", "trace_id", "request_id", "user_agent",
)  # fmt: skip


def select(first_line: str | None, spec: Mapping[str, Any]) -> str:
    names = ", ".join(f"'{n}'" for n in TEXT_FIELDS)
    text = f"""CASE WHEN quote_free THEN {text_fields()}
                    WHEN NOT json_line THEN regexp_extract(line, '{TEXT}', [{names}]) END"""
    entry = f"CASE WHEN json_line AND json_valid(line) THEN from_json(line, '{JSON_SCHEMA}') END"
    status = f"""CASE WHEN json_line THEN
                          CASE WHEN j.start_time IS NOT NULL THEN 'ok'
                               WHEN try(line->>'$.msg') IS NOT NULL AND try(line->>'$.level') IS NOT NULL
                                   THEN '{SKIP_PROXY_LOG}'
                               ELSE '{REJECT}' END
                      WHEN coalesce(t.start_time, '') <> '' THEN 'ok'
                      WHEN regexp_matches(line, '{PROXY_LOG}') THEN '{SKIP_PROXY_LOG}'
                      ELSE '{REJECT}' END"""

    def v(name: str) -> str:
        """A field of the line: of its JSON object (``j``; the field's key, else its alias) or of its text (``t``)."""
        if name in JSON_EXTRA:
            return f"nullif(nullif(j.{name}, '-'), '')"
        logged = f"""coalesce(j.{name}, j."{JSON_ALIASES[name]}")""" if name in JSON_ALIASES else f"j.{name}"
        return f"nullif(nullif(CASE WHEN json_line THEN {logged} ELSE t.{name} END, '-'), '')"

    principal = f"coalesce({v('downstream_peer_uri_san')}, {v('downstream_peer_subject')})"
    logged_absent = " OR ".join(
        f"j.{n} IN ('-', '')" for n in ("downstream_peer_uri_san", "downstream_peer_subject", "downstream_tls_version")
    )
    deny_flags = ", ".join(f"'{f}'" for f in DENY_FLAGS)
    return f"""
    SELECT {", ".join(COLUMNS)},
           CASE WHEN (status = 403 AND starts_with(response_details, 'rbac_access_denied'))
                  OR starts_with(termination_details, 'rbac_access_denied')
                  OR list_has_any(string_split(response_flags, ','), [{deny_flags}])
                THEN 'deny' ELSE 'allow' END AS verdict
    FROM (
        SELECT raw, line, {status} AS _status,
               TRY_CAST({v("start_time")} AS TIMESTAMPTZ) AS ts,
               NULL::VARCHAR AS cluster,
               {sql_string(gateway(spec))} AS gateway,
               {v("route_name")} AS route,
               {v("upstream_cluster")} AS upstream_cluster,
               {v("upstream_host")} AS upstream_host,
               {v("authority")} AS authority,
               {v("method")} AS method,
               {v("path")} AS path,
               {v("protocol")} AS protocol,
               TRY_CAST({v("response_code")} AS INTEGER) AS status,
               {v("response_flags")} AS response_flags,
               {v("response_code_details")} AS response_details,
               {v("connection_termination_details")} AS termination_details,
               TRY_CAST({v("duration")} AS BIGINT) AS duration_ms,
               TRY_CAST({v("bytes_received")} AS BIGINT) AS bytes_received,
               TRY_CAST({v("bytes_sent")} AS BIGINT) AS bytes_sent,
               coalesce(
                   regexp_replace({v("downstream_remote_address")}, '^\\[([^\\]]+)\\]:\\d+$|^([^:]+):\\d+$', '\\1\\2'),
                   nullif(trim(split_part({v("x_forwarded_for")}, ',', 1)), '')
               ) AS src_ip,
               {principal} AS src_principal,
               {v("upstream_peer_uri_san")} AS dst_principal,
               CASE WHEN {principal} IS NOT NULL THEN true WHEN {logged_absent} THEN false END AS mtls,
               coalesce(
                   nullif(regexp_extract(lower({v("traceparent")}), '^[0-9a-f]{{2}}-([0-9a-f]{{32}})-', 1), ''),
                   {v("x_b3_traceid")}, {v("trace_id")}
               ) AS trace_id,
               {v("request_id")} AS request_id,
               {v("user_agent")} AS user_agent
        FROM (SELECT raw, line, json_line, {text} AS t, {entry} AS j FROM {TEXT_PARTS})
    )
    """


# Whether a line is a JSON object (json_line); a text line split at its quotes (q) and, when it matches QUOTE_FREE,
# the parts holding several fields split at spaces: the code, flags and (Istio 1.8) details or bytes and durations
# between the second and third quotes (t3), the part holding the bytes and durations (head: t3 without Istio 1.8's
# fields, from its third field), and Istio's fields after the last quoted one (tail). Written for Spark too (no
# slices, no negative lengths).
TEXT_PARTS = f"""(
    SELECT *, CASE WHEN istio18 THEN string_split(trim(q[5]), ' ') ELSE t3 END AS head,
              string_split(rtrim(q[CASE WHEN istio18 THEN 15 ELSE 13 END], ' ' || chr(9) || chr(12)), ' ') AS tail
    FROM (SELECT *, array_length(t3) = 4 AS istio18
          FROM (SELECT *, CASE WHEN quote_free THEN string_split(trim(q[3]), ' ') END AS t3
                FROM (SELECT raw, line, json_line,
                             CASE WHEN NOT json_line THEN regexp_matches(line, '{QUOTE_FREE}') END AS quote_free,
                             CASE WHEN NOT json_line THEN string_split(line, '"') END AS q
                      FROM (SELECT raw, line, starts_with(ltrim(line), '{{') AS json_line FROM lines))))
)"""


def text_fields() -> str:
    """The fields of a text line matching QUOTE_FREE (from TEXT_PARTS), as the struct ``regexp_extract`` gives for
    TEXT (absent fields ''), without capturing groups: RE2 capturing 24 groups costs many times the read. Between
    the second and third quotes are 4 fields (code, flags and Istio 1.8's details) or 6 (code, flags, bytes and
    durations: the Istio 1.8 fields and their quoted transport failure reason are absent, so every later quoted
    field is 2 parts earlier); Istio's six fields, then custom ones, follow the last quoted field."""

    def after(i: int) -> str:
        return f"q[CASE WHEN istio18 THEN {i} ELSE {i - 2} END]"

    def timing(i: int) -> str:
        return f"head[CASE WHEN istio18 THEN {i} ELSE {i + 2} END]"

    values = {
        "start_time": "substr(q[1], strpos(q[1], '[') + 1, length(q[1]) - strpos(q[1], '[') - 2)",  # [time] + space
        "method": "split_part(q[2], ' ', 1)",
        "path": "split_part(q[2], ' ', 2)",
        "protocol": "split_part(q[2], ' ', 3)",
        "response_code": "t3[1]",
        "response_flags": "t3[2]",
        "response_code_details": "CASE WHEN istio18 THEN t3[3] ELSE '' END",
        "connection_termination_details": "CASE WHEN istio18 THEN t3[4] ELSE '' END",
        "upstream_transport_failure_reason": "CASE WHEN istio18 THEN q[4] ELSE '' END",
        "bytes_received": timing(1),
        "bytes_sent": timing(2),
        "duration": timing(3),
        "upstream_service_time": timing(4),
        "x_forwarded_for": after(6),
        "user_agent": after(8),
        "request_id": after(10),
        "authority": after(12),
        "upstream_host": after(14),
        **{name: f"coalesce(tail[{i}], '')" for i, name in enumerate(TEXT_FIELDS[18:], start=2)},
    }
    return "{" + ", ".join(f"'{name}': {values[name]}" for name in TEXT_FIELDS) + "}"


def sql_string(value: str | None) -> str:
    return "NULL::VARCHAR" if value is None else "'" + value.replace("'", "''") + "'"


FORMAT = LogFormat(
    name="envoy",
    table="http_access",
    description="Envoy / Istio access logs (default text formats or JSON lines)",
    select=select,
)

"""Squid native access.log, into ``http_access``.

``time elapsed client action/code size method URL user hierarchy/peer type``, separated by one or more
spaces: ``time`` is epoch seconds (with milliseconds) and ``elapsed`` milliseconds. The action
(TCP_MISS, TCP_DENIED, NONE_NONE …) is kept as the response flags; any DENIED action is a ``deny``,
including TCP_DENIED/407 (a proxy authentication challenge). A CONNECT's URL is its ``host:port``
authority; other absolute URLs give their authority and path. ``-`` is an absent value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sources.logs.ingest import LogFormat, whitespace_fields_sql

FIELDS = ("time", "elapsed", "client", "action/code", "size", "method", "url", "user", "hierarchy/peer", "type")
NATIVE = (
    r"^\s*(\d+(?:\.\d+)?)\s+(-?\d+)\s+(\S+)\s+([A-Za-z_]+)/(\d+)\s+(\d+)"  # time elapsed client action/code size
    r"\s+(\S+)\s+(\S+)\s+(\S+)\s+(\w+)/(\S+)\s+(\S+)\s*$"  # method URL user hierarchy/peer type
)
SCHEME = r"^[A-Za-z][A-Za-z0-9+.-]*://"  # an absolute URL: its authority runs to the first / ? or #


def select(first_line: str | None, spec: Mapping[str, Any]) -> str:
    def f(name: str) -> str:
        """A field of the line: ``action/code`` and ``hierarchy/peer`` are one field each."""
        if name in ("action", "code"):
            return f"split_part(f[4], '/', {1 if name == 'action' else 2})"
        if name == "peer":
            return "substr(f[9], strpos(f[9], '/') + 1)"
        return f"f[{FIELDS.index(name) + 1}]"

    def v(name: str) -> str:
        return f"nullif(nullif({f(name)}, '-'), '')"

    return f"""
    SELECT raw, line,
           CASE WHEN f IS NULL THEN 'reject:not a Squid access log line' ELSE 'ok' END AS _status,
           try(to_timestamp(TRY_CAST({f("time")} AS DOUBLE))) AS ts,
           NULL::VARCHAR AS cluster,
           CASE WHEN {f("method")} = 'CONNECT' THEN {v("url")} ELSE nullif(authority, '') END AS authority,
           {v("method")} AS method,
           CASE WHEN {f("method")} = 'CONNECT' THEN NULL
                WHEN starts_with({f("url")}, '/') THEN {f("url")}
                ELSE nullif(substr(after_scheme, length(authority) + 1), '') END AS path,
           TRY_CAST({f("code")} AS INTEGER) AS status,
           {f("action")} AS response_flags,
           TRY_CAST({f("elapsed")} AS BIGINT) AS duration_ms,
           TRY_CAST({f("size")} AS BIGINT) AS bytes_sent,
           {v("client")} AS src_ip,
           {v("user")} AS src_principal,
           {v("peer")} AS upstream_host,
           CASE WHEN contains(upper({f("action")}), 'DENIED') THEN 'deny' ELSE 'allow' END AS verdict
    FROM (SELECT *, split_part(split_part(split_part(after_scheme, '/', 1), '?', 1), '#', 1) AS authority
          FROM (SELECT *, CASE WHEN regexp_matches({f("url")}, '{SCHEME}')
                               THEN substr({f("url")}, strpos({f("url")}, '://') + 3) END AS after_scheme
                FROM (SELECT raw, line, {whitespace_fields_sql(NATIVE)} AS f FROM lines)))
    """


FORMAT = LogFormat(
    name="squid",
    table="http_access",
    description="Squid native access.log",
    select=select,
)

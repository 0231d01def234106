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

from sources.logs.ingest import LogFormat

FIELDS = ("time", "elapsed", "client", "action", "code", "size", "method", "url", "user", "hierarchy", "peer", "type")
NATIVE = (
    r"^\s*(\d+(?:\.\d+)?)\s+(-?\d+)\s+(\S+)\s+([A-Za-z_]+)/(\d+)\s+(\d+)"  # time elapsed client action/code size
    r"\s+(\S+)\s+(\S+)\s+(\S+)\s+(\w+)/(\S+)\s+(\S+)\s*$"  # method URL user hierarchy/peer type
)
ABSOLUTE_URL = r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)(.*)$"


def select(first_line: str | None, spec: Mapping[str, Any]) -> str:
    names = ", ".join(f"'{n}'" for n in FIELDS)

    def v(name: str) -> str:
        return f"nullif(nullif(e.{name}, '-'), '')"

    return f"""
    SELECT raw, line,
           CASE WHEN coalesce(e.time, '') = '' THEN 'reject:not a Squid access log line' ELSE 'ok' END AS _status,
           try(to_timestamp(TRY_CAST(e.time AS DOUBLE))) AS ts,
           NULL::VARCHAR AS cluster,
           CASE WHEN e.method = 'CONNECT' THEN {v("url")}
                ELSE nullif(regexp_extract(e.url, '{ABSOLUTE_URL}', 1), '') END AS authority,
           {v("method")} AS method,
           CASE WHEN e.method = 'CONNECT' THEN NULL
                WHEN starts_with(e.url, '/') THEN e.url
                ELSE nullif(regexp_extract(e.url, '{ABSOLUTE_URL}', 2), '') END AS path,
           TRY_CAST(e.code AS INTEGER) AS status,
           e.action AS response_flags,
           TRY_CAST(e.elapsed AS BIGINT) AS duration_ms,
           TRY_CAST(e.size AS BIGINT) AS bytes_sent,
           {v("client")} AS src_ip,
           {v("user")} AS src_principal,
           {v("peer")} AS upstream_host,
           CASE WHEN contains(upper(e.action), 'DENIED') THEN 'deny' ELSE 'allow' END AS verdict
    FROM (SELECT raw, line, regexp_extract(line, '{NATIVE}', [{names}]) AS e FROM lines)
    """


FORMAT = LogFormat(
    name="squid",
    table="http_access",
    description="Squid native access.log",
    select=select,
)

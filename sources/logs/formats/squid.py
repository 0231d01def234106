"""Squid access.log in its built-in ``squid`` (native), ``common`` and ``combined`` formats, into ``http_access``.

Squid's ``logformat`` directive (https://www.squid-cache.org/Doc/config/logformat) defines them as::

    squid     %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt
    common    %>a %[ui %[un [%tl] "%rm %ru HTTP/%rv" %>Hs %<st %Ss:%Sh
    combined  %>a %[ui %[un [%tl] "%rm %ru HTTP/%rv" %>Hs %<st "%{Referer}>h" "%{User-Agent}>h" %Ss:%Sh

Native fields are separated by one or more spaces: ``time`` is epoch seconds (with milliseconds) and
``elapsed`` milliseconds. A common/combined line's time is ``%tl`` (``%d/%b/%Y:%H:%M:%S %z``); it has no elapsed
time nor peer (its HTTP version, referer and user agent are not kept). Each line is read in the format it matches.
The action (TCP_MISS, TCP_DENIED, NONE_NONE …) is kept as the response flags; any DENIED action is a ``deny``,
including TCP_DENIED/407 (a proxy authentication challenge). A CONNECT's URL is its ``host:port`` authority;
other absolute URLs give their authority and path. ``-`` is an absent value.
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
# common and combined; a quoted header has its quotes and backslashes \-escaped
QUOTED = r'"((?:[^"\\]|\\.)*)"'
COMMON = (
    r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d+) (\d+|-)'  # client ident user [time] "request" code size
    rf"(?: {QUOTED} {QUOTED})? ([A-Za-z_]+):(\w+)\s*$"  # combined: "referer" "user agent"; action:hierarchy
)
COMMON_FIELDS = ("client", "ident", "user", "time", "method", "url", "protocol", "code", "size", "referer",
                 "user_agent", "action", "hierarchy")  # fmt: skip
COMMON_TIME = "%d/%b/%Y:%H:%M:%S %z"
SCHEME = r"^[A-Za-z][A-Za-z0-9+.-]*://"  # an absolute URL: its authority runs to the first / ? or #
# the fields a line gives, in either format
VALUES = ("time", "elapsed", "client", "action", "code", "size", "method", "url", "user", "peer")


def record_sql() -> str:
    """The line's fields (VALUES) as a struct, from the native split ``f`` or the common/combined match ``c``."""
    native = {
        "action": "split_part(f[4], '/', 1)",
        "code": "split_part(f[4], '/', 2)",
        "peer": "substr(f[9], strpos(f[9], '/') + 1)",
        **{n: f"f[{FIELDS.index(n) + 1}]" for n in VALUES if n in FIELDS},
    }
    common = {n: f"c.{n}" for n in VALUES if n in COMMON_FIELDS}

    def struct(values: dict[str, str]) -> str:
        return "{" + ", ".join(f"'{n}': {values.get(n, 'NULL::VARCHAR')}" for n in VALUES) + "}"

    return f"CASE WHEN f IS NOT NULL THEN {struct(native)} WHEN c.action <> '' THEN {struct(common)} END"


def select(first_line: str | None, spec: Mapping[str, Any]) -> str:
    def v(name: str) -> str:
        return f"nullif(nullif(r.{name}, '-'), '')"

    names = ", ".join(f"'{n}'" for n in COMMON_FIELDS)
    return f"""
    SELECT raw, line,
           CASE WHEN r IS NULL THEN 'reject:not a Squid access log line' ELSE 'ok' END AS _status,
           CASE WHEN native THEN try(to_timestamp(TRY_CAST(r.time AS DOUBLE)))
                ELSE try(strptime(r.time, '{COMMON_TIME}')) END AS ts,
           NULL::VARCHAR AS cluster,
           CASE WHEN r.method = 'CONNECT' THEN {v("url")} ELSE nullif(authority, '') END AS authority,
           {v("method")} AS method,
           CASE WHEN r.method = 'CONNECT' THEN NULL
                WHEN starts_with(r.url, '/') THEN r.url
                ELSE nullif(substr(after_scheme, length(authority) + 1), '') END AS path,
           TRY_CAST(r.code AS INTEGER) AS status,
           r.action AS response_flags,
           TRY_CAST(r.elapsed AS BIGINT) AS duration_ms,
           TRY_CAST(r.size AS BIGINT) AS bytes_sent,
           {v("client")} AS src_ip,
           {v("user")} AS src_principal,
           {v("peer")} AS upstream_host,
           CASE WHEN contains(upper(r.action), 'DENIED') THEN 'deny' ELSE 'allow' END AS verdict
    FROM (SELECT *, split_part(split_part(split_part(after_scheme, '/', 1), '?', 1), '#', 1) AS authority
          FROM (SELECT *, CASE WHEN regexp_matches(r.url, '{SCHEME}')
                               THEN substr(r.url, strpos(r.url, '://') + 3) END AS after_scheme
                FROM (SELECT raw, line, f IS NOT NULL AS native, {record_sql()} AS r
                      FROM (SELECT *, CASE WHEN f IS NULL THEN regexp_extract(line, '{COMMON}', [{names}]) END AS c
                            FROM (SELECT raw, line, {whitespace_fields_sql(NATIVE)} AS f FROM lines)))))
    """


FORMAT = LogFormat(
    name="squid",
    table="http_access",
    description="Squid access.log (native, common or combined format)",
    select=select,
)

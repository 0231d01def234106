"""Load one log file into its table with DuckDB: read lines natively, unwrap shippers' envelopes, parse in SQL.

A file is read as lines by ``read_csv`` (one VARCHAR column), so a malformed line never stops the read:
lines DuckDB cannot read (binary data, invalid UTF-8, longer than ``max_line_bytes``) are rejected by the
reader with their line number; lines the format's SQL cannot parse get a ``reject:<why>`` status. A second,
cheaper pass counts statuses and samples rejects, which land in ``ingest_rejects`` and make the run partial.
Gzip is inflated by streaming into a temporary file first: a truncated or corrupt stream keeps every
complete line before the damage.
"""

from __future__ import annotations

import json
import re
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from collector.plugins import CollectContext

SAMPLES = 3
SAMPLE_CHARS = 300
REJECTS_TABLE = "log_line_rejects"
CRI_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\S+ (stdout|stderr) [FP] ")
READER_ERRORS = {
    "TOO MANY COLUMNS": "control characters (binary data)",
    "INVALID ENCODING": "invalid UTF-8",
    "LINE SIZE OVER MAXIMUM": "line longer than max_line_bytes",
}
# Envelopes log shippers put around a line, unwrapped in SQL (``raw`` is the line as read).
UNWRAP = {
    "plain": "raw",
    "message": "CASE WHEN json_valid(raw) THEN raw->>'$.message' END",  # CloudWatch Logs events, exporters
    "docker": "CASE WHEN json_valid(raw) THEN rtrim(raw->>'$.log', chr(10)) END",  # Docker json-file
    "cri": r"nullif(regexp_extract(raw, '^\S+ (?:stdout|stderr) [FP] (.*)$', 1), '')",  # containerd/CRI-O
}


@dataclass(frozen=True)
class Window:
    """Records kept: ``since <= ts < until``; either bound may be open."""

    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Fetched:
    """A local file holding one log artifact, and where it came from."""

    path: Path
    origin: str


@dataclass(frozen=True)
class LogFormat:
    """How one log format becomes rows of ``table``.

    ``select(first_line, input_config)`` returns SQL over the relation ``lines(raw, line)`` (``line`` is
    ``raw`` unwrapped, NULL when the envelope is broken) selecting the table's columns (``cluster`` may be
    NULL: the input's or the source's cluster is used), ``raw`` and ``line`` as they are, and ``_status``: ``ok``, ``skip:<why>`` for lines that are not records, or
    ``reject:<why>`` for malformed ones. ``dedupe`` names columns identifying a record: rows whose key is
    already in the table, or earlier in the same file, are dropped."""

    name: str
    table: str
    description: str
    select: Callable[[str | None, Mapping[str, Any]], str]
    dedupe: tuple[str, ...] = ()


@dataclass
class FileStats:
    records: int = 0
    rejected: int = 0
    outside_window: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None


def ingest_file(
    ctx: CollectContext,
    fmt: LogFormat,
    fetched: Fetched,
    spec: Mapping[str, Any],
    window: Window,
    this_run: set[tuple[str, str]],
) -> None:
    """Keep ``fetched`` as an artifact and load its records, unless the same bytes were already loaded
    (by this run, ``this_run``: (digest, format), or by an earlier one for a window covering this one)."""
    digest, size = ctx.store.put_artifact_file(fetched.path)
    if (digest, fmt.name) in this_run or already_ingested(ctx, digest, fmt.name, window):
        ctx.note(f"{fetched.origin}: already ingested (sha256 {digest[:12]}…), skipped")
        return
    this_run.add((digest, fmt.name))
    ctx.record_artifact(digest, fetched.origin, "application/gzip" if is_gzip(fetched.path) else "text/plain", size)
    with tempfile.TemporaryDirectory(prefix="defensible-log-") as tmp:
        path = ctx.store.artifact_path(digest)
        rejects: list[tuple[str, int, list[dict]]] = []
        compression = "none"
        if is_gzip(path):
            compression = "gzip"
            path, damage = gunzip(path, Path(tmp) / "inflated")
            if damage:
                rejects.append(damage)
        wrapper, first_line = sniff(path)
        sql = parsed_sql(fmt, wrapper, first_line, spec, ctx.config["max_line_bytes"])
        cluster = spec.get("cluster")
        params = {
            "path": str(path),
            "since": window.since,
            "until": window.until,
            "format": fmt.name,
            "cluster": cluster,
            "default_cluster": ctx.config["cluster"],
            "source": ctx.source,
            "run_id": ctx.run_id,
            "artifact": digest,
            "collected_at": ctx.collected_at,
        }
        records = ctx.insert(fmt.table, insert_sql(fmt, sql), params)
        skipped, stats = count_statuses(ctx, sql, params, rejects)
    stats.records = records
    stats.rejected = sum(n for _, n, _ in rejects)
    ctx.emit(
        "log_artifacts",
        {
            "origin": fetched.origin,
            "log_format": fmt.name,
            "cluster": cluster or ctx.config["cluster"],
            "compression": compression,
            "wrapper": wrapper,
            "window_since": window.since,
            "window_until": window.until,
            "records": stats.records,
            "rejected": stats.rejected,
            "skipped": skipped,
            "outside_window": stats.outside_window,
            "first_ts": stats.first_ts,
            "last_ts": stats.last_ts,
        },
        digest,
    )
    for reason, count, samples in rejects:
        ctx.emit(
            "ingest_rejects",
            {"origin": fetched.origin, "log_format": fmt.name, "reason": reason, "count": count, "samples": samples},
            digest,
        )
    if rejects:
        reasons = ", ".join(f"{count} {reason}" for reason, count, _ in rejects)
        ctx.partial(f"logs: {fetched.origin} ({fmt.name}): {stats.rejected} line(s) rejected: {reasons}")


def already_ingested(ctx: CollectContext, digest: str, fmt: str, window: Window) -> bool:
    row = ctx.store.con.execute(
        """
        SELECT count(*) FROM log_artifacts_ingested
        WHERE artifact_sha256 = $digest AND log_format = $format
          AND (window_since IS NULL OR window_since <= CAST($since AS TIMESTAMPTZ))
          AND (window_until IS NULL OR window_until >= CAST($until AS TIMESTAMPTZ))
        """,
        {"digest": digest, "format": fmt, "since": window.since or datetime.min, "until": window.until or datetime.max},
    ).fetchone()
    return bool(row and row[0])


def parsed_sql(fmt: LogFormat, wrapper: str, first_line: str | None, spec: Mapping[str, Any], max_line: int) -> str:
    """The format's SELECT over the file's lines, with a missing timestamp made a reject."""
    reader = (
        "read_csv($path, columns = {'raw': 'VARCHAR'}, delim = '\x01', quote = '', escape = '', header = false, "
        f"auto_detect = false, max_line_size = {int(max_line)}, ignore_errors = true"
    )
    return f"""
    WITH lines AS (
        SELECT raw, {UNWRAP[wrapper]} AS line
        FROM (SELECT rtrim(raw, chr(13)) AS raw FROM {reader}{{rejects}}))
        WHERE raw IS NOT NULL AND trim(raw) <> ''
    ), parsed AS (
        {fmt.select(first_line, spec)}
    )
    SELECT * REPLACE (CASE
        WHEN line IS NULL THEN 'reject:not a {wrapper} envelope'
        WHEN _status = 'ok' AND ts IS NULL THEN 'reject:no valid timestamp'
        ELSE _status END AS _status)
    FROM parsed
    """


def insert_sql(fmt: LogFormat, parsed: str) -> str:
    dedupe = ""
    if fmt.dedupe:
        keys = ", ".join(fmt.dedupe)
        dedupe = (
            f" AND ({keys}) NOT IN (SELECT ({keys}) FROM {fmt.table})"
            f" QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY ts) = 1"
        )
    return f"""
    INSERT INTO {fmt.table} BY NAME
    SELECT * EXCLUDE (_status, raw, line, cluster),
           coalesce(CAST($cluster AS VARCHAR), cluster, $default_cluster) AS cluster, $format AS log_format,
           $source AS source, $run_id AS run_id, $artifact AS artifact_sha256, $collected_at AS collected_at
    FROM ({parsed.replace("{rejects}", "")})
    WHERE _status = 'ok' {in_window("ts")}{dedupe}
    """


def in_window(column: str) -> str:
    return (
        f"AND (CAST($since AS TIMESTAMPTZ) IS NULL OR {column} >= CAST($since AS TIMESTAMPTZ)) "
        f"AND (CAST($until AS TIMESTAMPTZ) IS NULL OR {column} < CAST($until AS TIMESTAMPTZ))"
    )


def count_statuses(
    ctx: CollectContext, parsed: str, params: Mapping[str, Any], rejects: list[tuple[str, int, list[dict]]]
) -> tuple[dict[str, int], FileStats]:
    """Second pass: lines by status (rejects sampled into ``rejects``), records outside the window, time span.
    Lines the reader itself rejected come from its rejects table, with their line numbers."""
    con = ctx.store.con
    con.execute(f"DROP TABLE IF EXISTS {REJECTS_TABLE}; DROP TABLE IF EXISTS {REJECTS_TABLE}_scans")
    reader_rejects = f", store_rejects = true, rejects_table = '{REJECTS_TABLE}', rejects_scan = '{REJECTS_TABLE}_scans'"
    rows = con.execute(
        f"""
        SELECT CASE WHEN _status <> 'ok' THEN _status
                    WHEN NOT (true {in_window("ts")}) THEN 'outside-window' ELSE 'ok' END AS status,
               count(*), min(ts), max(ts),
               min_by(left(raw, {SAMPLE_CHARS}), hash(raw), {SAMPLES}) FILTER (WHERE _status LIKE 'reject:%')
        FROM ({parsed.replace("{rejects}", reader_rejects)})
        GROUP BY ALL ORDER BY ALL
        """,
        {key: params[key] for key in ("path", "since", "until")},
    ).fetchall()
    stats = FileStats()
    skipped: dict[str, int] = {}
    for status, count, first, last, samples in rows:
        if status == "ok":
            stats.first_ts, stats.last_ts = first, last
        elif status == "outside-window":
            stats.outside_window = count
        elif status.startswith("skip:"):
            skipped[status.removeprefix("skip:")] = count
        else:
            rejects.append((status.removeprefix("reject:"), count, [{"line": None, "text": t} for t in samples or []]))
    for error_type, count, samples in con.execute(
        f"""
        SELECT error_type, count(*), list({{'line': line, 'text': left(csv_line, {SAMPLE_CHARS})}} ORDER BY line)[:{SAMPLES}]
        FROM {REJECTS_TABLE} GROUP BY ALL ORDER BY ALL
        """
    ).fetchall():
        rejects.append((READER_ERRORS.get(error_type, error_type.lower()), count, samples))
    return skipped, stats


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def gunzip(src: Path, dst: Path) -> tuple[Path, tuple[str, int, list[dict]] | None]:
    """Inflate (multi-member) gzip ``src`` into ``dst``. A truncated or corrupt stream keeps every complete
    line before the damage; the damage is returned as a reject (reason, 1, [sample of the cut line])."""
    inflater = zlib.decompressobj(wbits=31)
    fed = 0  # compressed bytes given to the current member
    problem = None
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while problem is None and (chunk := fin.read(1 << 20)):
            while chunk:
                try:
                    fout.write(inflater.decompress(chunk))
                except zlib.error as exc:
                    problem = f"corrupt gzip stream ({exc})"
                    break
                fed += len(chunk)
                if not inflater.eof:
                    break
                chunk = inflater.unused_data.lstrip(b"\0")
                inflater, fed = zlib.decompressobj(wbits=31), 0
        if problem is None and fed:
            problem = "truncated gzip stream (file ends mid-stream)"
        end = fout.tell()
    if problem is None:
        return dst, None
    cut = cut_incomplete_line(dst, end)
    return dst, (problem, 1, [{"line": None, "text": cut[:SAMPLE_CHARS]}])


def cut_incomplete_line(path: Path, end: int) -> str:
    """Drop the bytes after the last newline of ``path`` (``end`` bytes long); return them as text."""
    with open(path, "r+b") as fh:
        start = max(0, end - (1 << 20))
        fh.seek(start)
        tail = fh.read()
        newline = tail.rfind(b"\n")
        keep = start + newline + 1 if newline >= 0 else (0 if start == 0 else end)
        fh.truncate(keep)
        return tail[newline + 1 :].decode("utf-8", "replace")


def sniff(path: Path) -> tuple[str, str | None]:
    """The envelope around the lines of ``path`` and its first non-blank line, unwrapped."""
    with open(path, "rb") as fh:
        for raw in fh:
            text = raw.decode("utf-8", "replace").strip()
            if text:
                break
        else:
            return "plain", None
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return "plain", text
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return "message", doc["message"]
        if isinstance(doc, dict) and isinstance(doc.get("log"), str) and "stream" in doc:
            return "docker", doc["log"].rstrip("\n")
        return "plain", text
    if CRI_PREFIX.match(text):
        return "cri", CRI_PREFIX.sub("", text, count=1)
    return "plain", text

"""Load one log file into its table with DuckDB: read lines natively, unwrap shippers' envelopes, parse in SQL.

A file is read as lines by ``read_csv`` (one VARCHAR column), so a malformed line never stops the read:
lines DuckDB cannot read (binary data, invalid UTF-8, longer than ``max_line_bytes``) are rejected by the
reader with their line number; lines the format's SQL cannot parse get a ``reject:<why>`` status. A second,
cheap pass counts the lines DuckDB could read; only when that differs from the rows loaded does a full pass
count statuses and sample rejects. Rejects land in ``ingest_rejects`` and make the run partial.
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
from collector.store import hash_file

SAMPLES = 3
SAMPLE_CHARS = 300
REJECTS_TABLE = "log_line_rejects"
LINE_DELIMITER = "\x1e\x1f\x1d\x1c"  # ASCII record/unit/group/file separators in a row: never in a log line
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
class Reject:
    """Lines of one file rejected for one reason, with a few samples ``{"line": n or None, "text": ...}``."""

    reason: str
    count: int
    samples: list[dict]


@dataclass(frozen=True)
class Fetched:
    """A local file holding one log artifact, where it came from and the origin's version (S3 ETag)."""

    path: Path
    origin: str
    version: str | None = None


@dataclass(frozen=True)
class LogFormat:
    """How one log format becomes rows of ``table``.

    ``select(first_line, input_config)`` returns SQL over the relation ``lines(raw, line)`` (``line`` is
    ``raw`` unwrapped, NULL when the envelope is broken) selecting the table's columns (``cluster`` may be
    NULL: the input's or the source's cluster is used), ``raw`` and ``line`` as they are, and ``_status``:
    ``ok``, ``skip:<why>`` for lines that are not records, or
    ``reject:<why>`` for malformed ones. ``dedupe`` names columns identifying a record: rows whose key is
    already in the table, or earlier in the same file, are dropped. ``header(first_line)`` says whether the
    file starts with a header line the reader should skip (a header repeated further on is the format's to skip).
    A format whose lines may hold several records (``one_row_per_line=False``) is always counted line by line."""

    name: str
    table: str
    description: str
    select: Callable[[str | None, Mapping[str, Any]], str]
    dedupe: tuple[str, ...] = ()
    header: Callable[[str | None], bool] = lambda first_line: False  # is the first line a header to skip?
    one_row_per_line: bool = True  # False: a line may hold several records (batches)


@dataclass
class Loaded:
    """What loading one file gave."""

    wrapper: str
    records: int
    rejects: list[Reject]
    skipped: dict[str, int]
    outside_window: int


def ingest_file(
    ctx: CollectContext,
    fmt: LogFormat,
    fetched: Fetched,
    spec: Mapping[str, Any],
    window: Window,
    this_run: set[tuple[str, str, str]],
) -> int:
    """Keep ``fetched`` as an artifact and load its records. The same bytes read the same way (format and
    options) are loaded once: skipped, before being copied, when this run (``this_run``) or an earlier one
    loaded them for a window covering this one; otherwise only records outside the earlier runs' windows are
    loaded. Returns the number of records loaded."""
    options = read_options(ctx, spec)
    hashed = hash_file(fetched.path)
    earlier = not_loaded_yet(ctx, fetched.origin, hashed.sha256, fmt.name, options, window, this_run)
    if earlier is None:
        return 0
    kept = ctx.store.put_artifact_file(fetched.path, hashed)
    if kept.sha256 != hashed.sha256:  # the file changed while it was read: the bytes kept are another file
        earlier = not_loaded_yet(ctx, fetched.origin, kept.sha256, fmt.name, options, window, this_run)
        if earlier is None:
            return 0
    digest = kept.sha256
    this_run.add((digest, fmt.name, options))
    path = ctx.store.artifact_path(digest)
    compression = "gzip" if is_gzip(path) else "none"
    ctx.record_artifact(
        digest, fetched.origin, "application/gzip" if compression == "gzip" else "text/plain", kept.size
    )
    with tempfile.TemporaryDirectory(prefix="defensible-log-") as tmp:
        damage: list[Reject] = []
        if compression == "gzip":
            path, damage = gunzip(path, Path(tmp) / "inflated")
        loaded = load(ctx, fmt, path, digest, spec, window, earlier)
    rejects = damage + loaded.rejects
    rejected = sum(r.count for r in rejects)
    ctx.emit(
        "log_artifacts",
        {
            "origin": fetched.origin,
            "origin_version": fetched.version,
            "log_format": fmt.name,
            "cluster": spec.get("cluster") or ctx.config["cluster"],
            "compression": compression,
            "wrapper": loaded.wrapper,
            "options": options,
            "window_since": window.since,
            "window_until": window.until,
            "records": loaded.records,
            "rejected": rejected,
            "skipped": loaded.skipped,
            "outside_window": loaded.outside_window,
        },
        digest,
    )
    for r in rejects:
        row = {"origin": fetched.origin, "log_format": fmt.name, "reason": r.reason, "count": r.count}
        ctx.emit("ingest_rejects", {**row, "samples": r.samples}, digest)
    if rejects:
        reasons = ", ".join(f"{r.count} {r.reason}" for r in rejects)
        ctx.partial(f"logs: {fetched.origin} ({fmt.name}): {rejected} line(s) rejected: {reasons}")
    elif not loaded.records and not loaded.outside_window and (not_records := not_records_skipped(loaded.skipped)):
        ctx.partial(f"logs: {fetched.origin} ({fmt.name}): no records, every line skipped ({not_records})")
    return loaded.records


def load(
    ctx: CollectContext,
    fmt: LogFormat,
    path: Path,
    digest: str,
    spec: Mapping[str, Any],
    window: Window,
    earlier: list[Window],
) -> Loaded:
    """Insert the records of the plain-text file ``path`` (artifact ``digest``) in the window and outside the
    ``earlier`` windows; count the lines, and when they are not all loaded, why."""
    wrapper, first_line = sniff(path)
    reader = reader_sql(ctx.config["max_line_bytes"], 1 if fmt.header(first_line) else 0)
    sql = parsed_sql(fmt, reader, wrapper, first_line, spec, required_columns(ctx, fmt.table))
    params = {"path": str(path), "since": window.since, "until": window.until}
    for i, w in enumerate(earlier):
        params |= {f"earlier_{i}_since": w.since, f"earlier_{i}_until": w.until}
    provenance = {"source": ctx.source, "run_id": ctx.run_id, "artifact": digest, "collected_at": ctx.collected_at}
    records = ctx.insert(
        fmt.table,
        insert_sql(fmt, sql, len(earlier)),
        {
            **params,
            **provenance,
            "format": fmt.name,
            "cluster": spec.get("cluster"),
            "default_cluster": ctx.config["cluster"],
        },
    )
    lines, rejects = count_lines(ctx, str(path), reader)
    loaded = Loaded(wrapper, records, rejects, {}, 0)
    if lines != records or not fmt.one_row_per_line:  # some lines may not have been loaded: find out why
        loaded.skipped, loaded.outside_window, parse_rejects = count_statuses(ctx, sql, params, len(earlier), records)
        loaded.rejects += parse_rejects
    return loaded


def not_records_skipped(skipped: dict[str, int]) -> str:
    """The lines the format skipped as not being records (not blanks, duplicates or already loaded)."""
    loaded_elsewhere = ("blank", "duplicate", "loaded by an earlier run")
    return ", ".join(f"{n} {reason}" for reason, n in skipped.items() if reason not in loaded_elsewhere)


def required_columns(ctx: CollectContext, table: str) -> list[str]:
    """The NOT NULL columns of ``table`` a format fills (the engine fills cluster, format and provenance)."""
    rows = ctx.store.con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND NOT is_nullable AND database_name <> 'temp' "
        "ORDER BY column_index",
        [table],
    ).fetchall()
    engine = {"cluster", "log_format", "source", "run_id", "artifact_sha256", "collected_at"}
    return [name for (name,) in rows if name not in engine]


def read_options(ctx: CollectContext, spec: Mapping[str, Any]) -> str:
    """The settings that change the rows a file gives (the input's cluster and fields, the source's cluster)."""
    options = {"cluster": spec.get("cluster"), "fields": spec.get("fields"), "default_cluster": ctx.config["cluster"]}
    return json.dumps(options, sort_keys=True)


def earlier_windows(ctx: CollectContext, file: Mapping[str, str], fmt: str, options: str) -> list[Window]:
    """Windows for which earlier runs loaded the file whose ``log_artifacts`` columns have the values ``file``
    (its digest, or its origin and version) with this format and these options."""
    match = "".join(f"{column} = ${column} AND " for column in file)
    rows = ctx.store.con.execute(
        "SELECT DISTINCT window_since, window_until FROM log_artifacts_ingested "
        f"WHERE {match}log_format = $format AND options = $options ORDER BY ALL",
        {**file, "format": fmt, "options": options},
    ).fetchall()
    return [Window(since, until) for since, until in rows]


def not_loaded_yet(
    ctx: CollectContext,
    origin: str,
    digest: str,
    fmt: str,
    options: str,
    window: Window,
    this_run: set[tuple[str, str, str]],
) -> list[Window] | None:
    """The earlier windows these bytes were loaded for, or None (noted) when a load covers this window."""
    earlier = earlier_windows(ctx, {"artifact_sha256": digest}, fmt, options)
    if (digest, fmt, options) in this_run or any(covers(w, window) for w in earlier):
        ctx.note(f"{origin}: already ingested (sha256 {digest[:12]}…), skipped")
        return None
    return earlier


def already_read(
    ctx: CollectContext, fmt: LogFormat, spec: Mapping[str, Any], origin: str, version: str, window: Window
) -> bool:
    """Whether this version of a remote object (S3 ETag) was loaded for a window covering ``window``, so that
    it need not be downloaded again."""
    earlier = earlier_windows(ctx, {"origin": origin, "origin_version": version}, fmt.name, read_options(ctx, spec))
    if any(covers(w, window) for w in earlier):
        ctx.note(f"{origin}: already ingested (version {version}), not downloaded")
        return True
    return False


def covers(outer: Window, inner: Window) -> bool:
    since_ok = outer.since is None or (inner.since is not None and outer.since <= inner.since)
    until_ok = outer.until is None or (inner.until is not None and outer.until >= inner.until)
    return since_ok and until_ok


def window_sql(prefix: str) -> str:
    """``ts`` within the window whose bounds are the parameters ``$<prefix>since`` and ``$<prefix>until``."""
    since, until = f"CAST(${prefix}since AS TIMESTAMPTZ)", f"CAST(${prefix}until AS TIMESTAMPTZ)"
    return f"(({since} IS NULL OR ts >= {since}) AND ({until} IS NULL OR ts < {until}))"


def not_earlier_sql(earlier: int) -> str:
    """``ts`` outside each of the ``earlier`` windows (``$earlier_<i>_since``, ``$earlier_<i>_until``)."""
    return " AND ".join(["true", *(f"NOT {window_sql(f'earlier_{i}_')}" for i in range(earlier))])


def reader_sql(max_line: int, skip: int) -> str:
    """DuckDB's CSV reader as a line reader (``{options}`` to be filled): one VARCHAR column ``raw``, no quoting,
    a delimiter no text holds. Not strict, so CR, LF and CRLF all end a line and a stray CR cannot stop the read."""
    return (
        f"read_csv($path, columns = {{{{'raw': 'VARCHAR'}}}}, delim = '{LINE_DELIMITER}', quote = '', escape = '', "
        f"header = false, auto_detect = false, strict_mode = false, max_line_size = {int(max_line)}, skip = {skip}, "
        "{options})"
    )


def parsed_sql(
    fmt: LogFormat, reader: str, wrapper: str, first_line: str | None, spec: Mapping[str, Any], required: list[str]
) -> str:
    """The format's SELECT over the file's non-empty lines: a line of blanks is skipped; a broken envelope or
    a record without a value for a ``required`` column (``ts``, ``verdict``…) is a reject."""
    names = {"ts": "timestamp"}
    missing = "".join(f"WHEN {c} IS NULL THEN 'reject:no valid {names.get(c, c)}' " for c in required)
    return f"""
    WITH lines AS NOT MATERIALIZED (
        SELECT raw, {UNWRAP[wrapper]} AS line FROM {reader.format(options="ignore_errors = true")} WHERE raw IS NOT NULL
    ), parsed AS NOT MATERIALIZED (
        {fmt.select(first_line, spec)}
    )
    SELECT * REPLACE (CASE
        WHEN _status = 'ok' AND {" AND ".join(f"{c} IS NOT NULL" for c in required)} THEN 'ok'
        WHEN regexp_full_match(raw, '[[:space:]]*') THEN 'skip:blank'
        WHEN line IS NULL THEN 'reject:not a {wrapper} envelope'
        WHEN _status <> 'ok' THEN _status
        {missing}END AS _status)
    FROM parsed
    """


def insert_sql(fmt: LogFormat, parsed: str, earlier: int) -> str:
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
    FROM ({parsed})
    WHERE _status = 'ok' AND {window_sql("")} AND {not_earlier_sql(earlier)}{dedupe}
    """


def count_lines(ctx: CollectContext, path: str, reader: str) -> tuple[int, list[Reject]]:
    """Cheap pass: the non-empty lines DuckDB can read, and the lines it cannot, by reason with line numbers."""
    con = ctx.store.con
    con.execute(f"DROP TABLE IF EXISTS {REJECTS_TABLE}; DROP TABLE IF EXISTS {REJECTS_TABLE}_scans").fetchall()
    options = f"store_rejects = true, rejects_table = '{REJECTS_TABLE}', rejects_scan = '{REJECTS_TABLE}_scans'"
    row = con.execute(
        f"SELECT count(*) FROM {reader.format(options=options)} WHERE raw IS NOT NULL", {"path": path}
    ).fetchone()
    rejects = [
        Reject(READER_ERRORS.get(error_type, error_type.lower()), count, samples)
        for error_type, count, samples in con.execute(
            f"""
            SELECT error_type, count(*),
                   list({{'line': line, 'text': left(csv_line, {SAMPLE_CHARS})}} ORDER BY line)[:{SAMPLES}]
            FROM {REJECTS_TABLE} GROUP BY ALL ORDER BY ALL
            """
        ).fetchall()
    ]
    return (row[0] if row else 0), rejects


def count_statuses(
    ctx: CollectContext, parsed: str, params: Mapping[str, Any], earlier: int, records: int
) -> tuple[dict[str, int], int, list[Reject]]:
    """Full pass, run when some lines were not loaded: lines skipped by reason (with duplicates dropped),
    records outside the window, and rejects by reason with samples."""
    rows = ctx.store.con.execute(
        f"""
        SELECT CASE WHEN _status <> 'ok' THEN _status
                    WHEN NOT {window_sql("")} THEN 'outside-window'
                    WHEN NOT ({not_earlier_sql(earlier)}) THEN 'skip:loaded by an earlier run' ELSE 'ok' END,
               count(*), min_by(left(raw, {SAMPLE_CHARS}), hash(raw), {SAMPLES}) FILTER (WHERE _status LIKE 'reject:%')
        FROM ({parsed})
        GROUP BY ALL ORDER BY ALL
        """,
        dict(params),
    ).fetchall()
    skipped: dict[str, int] = {}
    outside_window = 0
    rejects = []
    for status, count, samples in rows:
        if status == "ok" and count > records:
            skipped["duplicate"] = count - records
        elif status == "outside-window":
            outside_window = count
        elif status.startswith("skip:"):
            skipped[status.removeprefix("skip:")] = count
        elif status.startswith("reject:"):
            rejects.append(Reject(status.removeprefix("reject:"), count, [{"line": None, "text": t} for t in samples]))
    return skipped, outside_window, rejects


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def gunzip(src: Path, dst: Path) -> tuple[Path, list[Reject]]:
    """Inflate (multi-member) gzip ``src`` into ``dst``. A truncated stream keeps every complete line before
    the cut. A corrupt stream keeps the members before the damaged one: the damaged member's output may
    already hold garbage (deflate can decode damaged data until the member's CRC fails), so it is dropped.
    The damage is returned as a reject sampling the line it cut."""
    inflater = zlib.decompressobj(wbits=31)
    fed = 0  # compressed bytes given to the current member
    member_start = 0  # where the current member's output begins in dst
    problem = None
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while problem is None and (chunk := fin.read(1 << 20)):
            while chunk:
                try:
                    fout.write(inflater.decompress(chunk))
                except zlib.error as exc:
                    problem = f"corrupt gzip stream ({exc})"
                    fout.seek(member_start)
                    fout.truncate()
                    break
                fed += len(chunk)
                if not inflater.eof:
                    break
                chunk = inflater.unused_data.lstrip(b"\0")
                inflater, fed, member_start = zlib.decompressobj(wbits=31), 0, fout.tell()
        if problem is None and fed:
            problem = "truncated gzip stream (file ends mid-stream)"
        end = fout.tell()
    if problem is None:
        return dst, []
    cut = cut_incomplete_line(dst, end)
    return dst, [Reject(problem, 1, [{"line": None, "text": cut[:SAMPLE_CHARS]}])]


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

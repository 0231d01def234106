"""Load one log file into its table with DuckDB: read lines natively, unwrap shippers' envelopes, parse in SQL.

The records go to the format's own table (``LogFormat.storage``: ``flows_vpcflow``…) with the number of the load
(``log_artifacts.load_id``), not the provenance: the views under the old names (``flows``…) add it per load.

A file is read as lines by ``read_csv`` (one VARCHAR column), so a malformed line never stops the read:
lines DuckDB cannot read (binary data, invalid UTF-8, longer than ``max_line_bytes``) are rejected by the
reader with their line number; lines the format's SQL cannot parse get a ``reject:<why>`` status. Rejects land
in ``ingest_rejects`` and make the run partial.

Every line is accounted for: ``lines = records + outside_window + skipped + rejected``. The lines are counted in
Python as the file's text is written (``TextLines``: as it is copied and hashed, rewritten with LF line ends or
inflated), at no extra read. When the records loaded make up every line (and no line holds the format's batch
marker), DuckDB reads the file once, for the INSERT. Otherwise one counting pass parses it again, the reader
storing its rejects, and counts the lines by status. DuckDB's reader can lose a line without a word (one
longer than its 32 MB buffer vanishes), so what it returned and rejected is checked against the count: the
lines it did not return, or rejected, are found by reading the file in Python ("line longer than
max_line_bytes" with their line numbers when that is why, else "line not read by DuckDB's CSV reader").
DuckDB sees LF as the only line end: a file holding a CR (CRLF or lone CR line ends, noticed while it is
hashed) is read from a copy rewritten with LF, and gzip is inflated, rewritten the same way, into a temporary
file first: a truncated or corrupt stream keeps every complete line before the damage.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

from collector.plugins import CollectContext, SourceError
from collector.store import CHUNK, FileDigest, no_space

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
TOO_LONG = READER_ERRORS["LINE SIZE OVER MAXIMUM"]
NOT_READ = "line not read by DuckDB's CSV reader"
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
class Kept:
    """A log file kept in the artifact store, and its lines as counted while it was hashed."""

    digest: FileDigest
    text: TextLines


@dataclass(frozen=True)
class Fetched:
    """A file holding one log artifact, where it came from and the origin's version (S3 ETag); ``kept`` when it is
    already in the artifact store (a download, hashed as it was written there)."""

    path: Path
    origin: str
    version: str | None = None
    kept: Kept | None = None


@dataclass(frozen=True)
class LogFormat:
    """How one log format becomes rows of ``table``.

    ``select(first_line, input_config)`` (the input's settings and the file's ``origin``) returns SQL over
    the relation ``lines(raw, line)`` (``line`` is ``raw`` unwrapped, NULL when the envelope is broken)
    selecting the table's columns (``cluster`` may be NULL: the input's or the source's cluster is used),
    ``raw`` and ``line`` as they are, and ``_status``: ``ok``, ``skip:<why>`` for lines that are not records,
    or ``reject:<why>`` for malformed ones. ``dedupe`` names columns identifying a record: rows whose key is
    already in the table, or earlier in the same file, are dropped. ``header(first_line)`` says whether the
    file starts with a header line the reader should skip (a header repeated further on is the format's to skip).
    A format whose lines may hold several records (batches) names ``batch_marker``, a text every such line holds:
    a file with a line holding it is always counted line by line."""

    name: str
    table: str
    description: str
    select: Callable[[str | None, Mapping[str, Any]], str]
    dedupe: tuple[str, ...] = ()
    header: Callable[[str | None], bool] = lambda first_line: False  # is the first line a header to skip?
    batch_marker: str | None = None  # a line may hold several records only if it holds this text

    @property
    def storage(self) -> str:
        """The table holding this format's rows (with their load's id), which the view ``table`` reads."""
        return f"{self.table}_{self.name.replace('-', '_')}"


@dataclass
class Loaded:
    """What loading one file gave: ``lines = records + outside_window + sum(skipped) + rejected`` (for a format
    whose line may hold a batch, each record of a batch counts)."""

    wrapper: str
    lines: int
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
    loaded. Returns the number of records loaded. A file that cannot be read or written (a full disk: "No
    space left on device" and the file it hit) fails the run, naming the file."""
    try:
        return ingest(ctx, fmt, fetched, spec, window, this_run)
    except (OSError, duckdb.Error) as exc:
        raise SourceError(f"logs: {fetched.origin} ({fmt.name}): {no_space(exc) or exc}") from exc


def ingest(
    ctx: CollectContext,
    fmt: LogFormat,
    fetched: Fetched,
    spec: Mapping[str, Any],
    window: Window,
    this_run: set[tuple[str, str, str]],
) -> int:
    options = read_options(ctx, spec)
    kept = fetched.kept or keep_file(ctx, fetched.path, fmt.batch_marker)
    digest = kept.digest.sha256
    earlier = not_loaded_yet(ctx, fetched.origin, digest, fmt.name, options, window, this_run)
    if earlier is None:
        return 0
    this_run.add((digest, fmt.name, options))
    load_id = loads_before(ctx) + len(this_run)
    path = ctx.store.artifact_path(digest)
    compression = "gzip" if is_gzip(path) else "none"
    ctx.record_artifact(
        digest, fetched.origin, "application/gzip" if compression == "gzip" else "text/plain", kept.digest.size
    )
    with tempfile.TemporaryDirectory(prefix="defensible-log-") as tmp:
        damage: list[Reject] = []
        text = kept.text  # the lines of the text DuckDB reads, counted as it is written
        if compression == "gzip":
            text, damage = gunzip(path, Path(tmp) / "text", fmt.batch_marker)
            path = Path(tmp) / "text"
        elif text.carriage_return:
            text = with_lf_line_ends(path, Path(tmp) / "text", fmt.batch_marker)
            path = Path(tmp) / "text"
        found = {"origin": fetched.origin, "file": str(fetched.path)}  # file: this machine's path, never recorded
        loaded = load(ctx, fmt, path, load_id, text, {**spec, **found}, window, earlier)
    rejects = damage + loaded.rejects  # damage: one line each, the line cut or the member dropped
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
            "lines": loaded.lines + sum(r.count for r in damage),
            "records": loaded.records,
            "rejected": rejected,
            "skipped": loaded.skipped,
            "outside_window": loaded.outside_window,
            "load_id": load_id,
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


def keep_file(ctx: CollectContext, path: Path, marker: str | None) -> Kept:
    """Copy the local file ``path`` into the artifact store, hashing it and counting its lines (those holding
    ``marker`` noted) in the same read."""
    text = TextLines(marker)
    return Kept(ctx.store.put_artifact_file(path, text), text)


def loads_before(ctx: CollectContext) -> int:
    """The loads of earlier runs, numbered 1 to this (a run's loads land with their rows or not at all)."""
    row = ctx.store.con.execute("SELECT count(load_id), coalesce(max(load_id), 0) FROM log_artifacts").fetchone()
    count, last = row if row else (0, 0)
    if count != last:
        raise SourceError(f"logs: the store's loads are numbered up to {last} but {count} are recorded: store damaged")
    return int(last)


def load(
    ctx: CollectContext,
    fmt: LogFormat,
    path: Path,
    load_id: int,
    text: TextLines,
    spec: Mapping[str, Any],
    window: Window,
    earlier: list[Window],
) -> Loaded:
    """Insert the records of the plain-text file ``path`` (LF line ends, its lines counted in ``text``) as load
    ``load_id``, in the window and outside the ``earlier`` windows; when they are not all loaded, count why."""
    max_line = ctx.config["max_line_bytes"]
    wrapper, first_line, on_line_one = sniff(path, max_line)
    header = 1 if on_line_one and fmt.header(first_line) else 0  # the reader skips it
    required = required_columns(ctx.store.con, fmt.storage)
    sql = parsed_sql(fmt, reader_sql(max_line, header), wrapper, first_line, spec, required)
    params = {"path": str(path), "since": window.since, "until": window.until}
    for i, w in enumerate(earlier):
        params |= {f"earlier_{i}_since": w.since, f"earlier_{i}_until": w.until}
    record_cluster = "cluster" in ctx.store.table_columns(fmt.storage)
    records = ctx.insert(
        fmt.table,
        insert_sql(fmt, sql, len(earlier), record_cluster),
        {**params, "load_id": load_id, **({"cluster": spec.get("cluster")} if record_cluster else {})},
    )
    if fmt.dedupe:  # rows whose key is earlier in the file (those already in the table were not inserted)
        records -= ctx.delete(fmt.table, duplicates_sql(fmt), {"load_id": load_id})
    loaded = Loaded(wrapper, text.lines, records, [], {"header": header} if header else {}, 0)
    if records + header == text.lines and not text.marked:
        return loaded  # every line a record (a line holds one, unless it holds the batch marker)
    reader = reader_sql(max_line, header)
    counting = parsed_sql(fmt, reader, wrapper, first_line, spec, required, counting=True)
    loaded.skipped, loaded.outside_window, parse_rejects, rows = count_statuses(
        ctx, counting, params, len(earlier), records
    )
    if text.marked:  # a line may hold several records: the lines read are counted apart
        (rows,) = ctx.store.con.execute(
            f"SELECT count(*) FROM {reader.format(options='ignore_errors = true')}", {"path": params["path"]}
        ).fetchall()[0]
    loaded.rejects = reader_rejects(ctx.store.con, path, max_line, text.lines - header - rows) + parse_rejects
    if header:  # the reader skipped it; the format may skip more (a header repeated further on)
        loaded.skipped["header"] = loaded.skipped.get("header", 0) + header
    return loaded


def not_records_skipped(skipped: dict[str, int]) -> str:
    """The lines the format skipped as not being records (not blanks, headers, duplicates or already loaded)."""
    loaded_elsewhere = ("blank", "header", "duplicate", "loaded by an earlier run")
    return ", ".join(f"{n} {reason}" for reason, n in skipped.items() if reason not in loaded_elsewhere)


def required_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The NOT NULL columns of the storage ``table`` a format fills (not the load's id)."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND NOT is_nullable AND database_name <> 'temp' "
        "ORDER BY column_index",
        [table],
    ).fetchall()
    return [name for (name,) in rows if name != "load_id"]


def read_options(ctx: CollectContext, spec: Mapping[str, Any]) -> str:
    """The settings that change the rows a file gives (the input's cluster, fields and gateway, the source's
    cluster)."""
    options = {"cluster": spec.get("cluster"), "fields": spec.get("fields"), "default_cluster": ctx.config["cluster"]}
    if spec.get("gateway"):
        options["gateway"] = spec["gateway"]
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
    """DuckDB's CSV reader as a line reader (``{options}`` to be filled): one VARCHAR column ``raw``, NULL for an
    empty line, no quoting, a delimiter no text holds, lines of up to ``max_line`` bytes (DuckDB's limit excludes
    its own value). Not strict, so a stray byte cannot stop the read; the file's lines end with LF only."""
    return (
        f"read_csv($path, columns = {{{{'raw': 'VARCHAR'}}}}, delim = '{LINE_DELIMITER}', quote = '', escape = '', "
        f"header = false, auto_detect = false, strict_mode = false, max_line_size = {int(max_line) + 1}, "
        f"skip = {skip}, {{options}})"
    )


def parsed_sql(
    fmt: LogFormat,
    reader: str,
    wrapper: str,
    first_line: str | None,
    spec: Mapping[str, Any],
    required: list[str],
    counting: bool = False,
) -> str:
    """The format's SELECT over the file's non-empty lines, with its final ``_status`` (``status_sql``). When
    ``counting``, over every line the reader returns (an empty one as '', a ``skip:blank``), the lines it rejects
    stored in ``REJECTS_TABLE``."""
    if counting:
        options = f"store_rejects = true, rejects_table = '{REJECTS_TABLE}', rejects_scan = '{REJECTS_TABLE}_scans'"
        read = f"(SELECT coalesce(raw, '') AS raw FROM {reader.format(options=options)})"
    else:
        read = f"{reader.format(options='ignore_errors = true')} WHERE raw IS NOT NULL"
    return f"""
    WITH lines AS NOT MATERIALIZED (
        SELECT raw, {UNWRAP[wrapper]} AS line FROM {read}
    ), parsed AS NOT MATERIALIZED (
        {fmt.select(first_line, spec)}
    )
    SELECT * REPLACE ({status_sql(wrapper, required)} AS _status)
    FROM parsed
    """


def whitespace_fields_sql(pattern: str) -> str:
    """The whitespace-separated fields of ``line`` when it matches ``pattern`` (anchored, fields of non-blanks), else
    NULL. RE2 only decides the match, which is fast; capturing groups (``regexp_extract``) would cost several times
    the read. RE2's whitespace is space, tab, form feed, CR and LF; a line holds no LF and, as read, no CR."""
    return f"""CASE WHEN NOT regexp_matches(line, '{pattern}') THEN NULL
        WHEN contains(line, chr(9)) OR contains(line, chr(12))
            THEN list_filter(regexp_split_to_array(line, '\\s+'), lambda x: x <> '')
        ELSE list_filter(string_split(line, ' '), lambda x: x <> '') END"""


def status_sql(wrapper: str, required: list[str]) -> str:
    """A parsed line's final status: a line of blanks is skipped; a broken envelope or a record without a value
    for a ``required`` column (``ts``, ``verdict``…) is a reject."""
    names = {"ts": "timestamp"}
    missing = "".join(f"WHEN {c} IS NULL THEN 'reject:no valid {names.get(c, c)}' " for c in required)
    return f"""CASE
        WHEN _status = 'ok' AND {" AND ".join(f"{c} IS NOT NULL" for c in required)} THEN 'ok'
        WHEN regexp_full_match(raw, '[[:space:]]*') THEN 'skip:blank'
        WHEN line IS NULL THEN 'reject:not a {wrapper} envelope'
        WHEN _status <> 'ok' THEN _status
        {missing}END"""


def insert_sql(fmt: LogFormat, parsed: str, earlier: int, record_cluster: bool) -> str:
    """Insert the records of ``parsed`` into the format's storage table with the load's id (``$load_id``); a format
    whose records may name their cluster keeps it only when the input names none (``$cluster``): the view takes the
    load's cluster otherwise."""
    keys = ", ".join(fmt.dedupe)
    dedupe = f" AND ({keys}) NOT IN (SELECT ({keys}) FROM {fmt.table})" if fmt.dedupe else ""
    cluster = ", CASE WHEN CAST($cluster AS VARCHAR) IS NULL THEN cluster END AS cluster" if record_cluster else ""
    return f"""
    INSERT INTO {fmt.storage} BY NAME
    SELECT * EXCLUDE (_status, raw, line, cluster){cluster}, CAST($load_id AS INTEGER) AS load_id
    FROM ({parsed})
    WHERE _status = 'ok' AND {window_sql("")} AND {not_earlier_sql(earlier)}{dedupe}
    """


def duplicates_sql(fmt: LogFormat) -> str:
    """Delete the rows of this load (``$load_id``) whose key an earlier row of the file has: found once loaded, by
    key, time and row id only (deduplicating while inserting carries every column), and ordered by time only among
    the rows of a repeated key (a sort of every row costs more than finding the repeated keys). Repeated keys are
    found by their hash, a number where the key is strings: half the time and memory; rows whose hashes merely
    collide are each first of their own key, so none of them is deleted."""
    keys = ", ".join(fmt.dedupe)
    return f"""
    DELETE FROM {fmt.storage} WHERE rowid IN (
        SELECT rowid FROM {fmt.storage}
        WHERE load_id = $load_id AND hash({keys}) IN (
            SELECT key_hash FROM (SELECT hash({keys}) AS key_hash FROM {fmt.storage} WHERE load_id = $load_id)
            GROUP BY key_hash HAVING count(*) > 1)
        QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY ts) > 1
    )
    """


def reader_rejects(con: duckdb.DuckDBPyConnection, path: Path, max_line: int, not_returned: int) -> list[Reject]:
    """The lines of ``path`` the counting pass's reader rejected (``REJECTS_TABLE``), by reason, and those it
    neither returned nor rejected, of the ``not_returned`` lines it did not return. Only when there are any is the
    file read in Python, to number the rejected lines (DuckDB's own numbers are off after a line it dropped; the
    byte offsets it gives are not) and to find the lines it dropped."""
    found = con.execute(
        f"""
        SELECT error_type, count(*),
               list({{'at': byte_position - 1, 'text': left(csv_line, {SAMPLE_CHARS})}} ORDER BY byte_position)
               [:{SAMPLES}]
        FROM {REJECTS_TABLE} GROUP BY ALL ORDER BY ALL
        """
    ).fetchall()
    unread = not_returned - sum(count for _, count, _ in found)
    if not found and unread <= 0:
        return []
    counted = count_file_lines(path, max_line, [s["at"] for _, _, samples in found for s in samples])
    rejects = [
        Reject(
            READER_ERRORS.get(error_type, error_type.lower()),
            count,
            [{"line": counted.numbers.get(s["at"]), "text": s["text"]} for s in samples],
        )
        for error_type, count, samples in found
    ]
    return with_unread(con, path, rejects, counted, unread) if unread > 0 else rejects


@dataclass(frozen=True)
class FileLines:
    """The lines of a file as counted in Python: LF-ended, a last line without LF counts."""

    lines: int
    long: list[tuple[int, int]]  # line number and offset of lines over max_line_bytes found (all over CHUNK)
    numbers: dict[int, int]  # line number of each line start asked for


def count_file_lines(path: Path, max_line: int, starts: list[int]) -> FileLines:
    """Count the lines of ``path``, note the lines longer than ``max_line`` bytes that span a read boundary
    (every line longer than a read, CHUNK, does), and number the lines starting at the offsets ``starts``."""
    lines = pending = offset = 0  # pending: bytes of the line not ended yet
    long_lines = []
    wanted = sorted(set(starts), reverse=True)
    numbers = {}
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            while wanted and wanted[-1] < offset + len(chunk):
                at = wanted.pop()
                numbers[at] = lines + 1 + chunk.count(b"\n", 0, at - offset)
            first = chunk.find(b"\n")
            if first < 0:
                pending += len(chunk)
            else:
                if pending + first > max_line:
                    long_lines.append((lines + 1, offset - pending))
                lines += chunk.count(b"\n")
                pending = len(chunk) - chunk.rfind(b"\n") - 1
            offset += len(chunk)
    if pending > max_line:
        long_lines.append((lines + 1, offset - pending))
    return FileLines(lines + (pending > 0), long_lines, numbers)


def with_unread(
    con: duckdb.DuckDBPyConnection, path: Path, rejects: list[Reject], counted: FileLines, unread: int
) -> list[Reject]:
    """``rejects`` with the ``unread`` lines the reader neither returned nor rejected: the long lines it did not
    report are lines longer than max_line_bytes (with their line numbers), the rest lines not read."""
    offsets = [at for _, at in counted.long]
    reported = {
        at
        for (at,) in con.execute(
            f"SELECT byte_position - 1 FROM {REJECTS_TABLE} WHERE list_contains($offsets, byte_position - 1)",
            {"offsets": offsets},
        ).fetchall()
    }
    lost = [(n, at) for n, at in counted.long if at not in reported][:unread]
    too_long = next((r for r in rejects if r.reason == TOO_LONG), Reject(TOO_LONG, 0, []))
    samples = too_long.samples + [{"line": n, "text": text_at(path, at)} for n, at in lost[:SAMPLES]]
    found = [Reject(TOO_LONG, too_long.count + len(lost), sorted(samples, key=lambda s: s["line"])[:SAMPLES])]
    if unread > len(lost):
        found.append(Reject(NOT_READ, unread - len(lost), []))
    return [r for r in rejects if r.reason != TOO_LONG] + [r for r in found if r.count]


def text_at(path: Path, offset: int) -> str:
    """The first characters of the line at byte ``offset`` of ``path``."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(SAMPLE_CHARS).decode("utf-8", "replace")[:SAMPLE_CHARS]


def count_statuses(
    ctx: CollectContext, counting: str, params: Mapping[str, Any], earlier: int, records: int
) -> tuple[dict[str, int], int, list[Reject], int]:
    """The full pass, run when some lines were not loaded (``counting``: ``parsed_sql`` counting): lines skipped by
    reason (with duplicates dropped), records outside the window, rejects by reason with samples, and the rows the
    reader returned (its lines, unless a line holds a batch). The reader's rejects are left in ``REJECTS_TABLE``."""
    con = ctx.store.con
    con.execute(f"DROP TABLE IF EXISTS {REJECTS_TABLE}; DROP TABLE IF EXISTS {REJECTS_TABLE}_scans").fetchall()
    rows = con.execute(
        f"""
        SELECT CASE WHEN _status <> 'ok' THEN _status
                    WHEN NOT {window_sql("")} THEN 'outside-window'
                    WHEN NOT ({not_earlier_sql(earlier)}) THEN 'skip:loaded by an earlier run' ELSE 'ok' END,
               count(*), min_by(left(raw, {SAMPLE_CHARS}), hash(raw), {SAMPLES}) FILTER (WHERE _status LIKE 'reject:%')
        FROM ({counting})
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
    return skipped, outside_window, rejects, sum(count for _, count, _ in rows)


class TextLines:
    """Given the chunks of a text in order (as it is hashed, or rewritten), counts its lines (LF-ended; a last line
    without LF counts), and notes whether it holds a CR and whether ``marker`` occurs (also across two chunks)."""

    def __init__(self, marker: str | None = None) -> None:
        self.marker = marker.encode() if marker else b""
        self._marker_bytes = [bytes([b]) for b in set(self.marker)]  # a chunk lacking one cannot hold the marker
        self.lf = 0
        self.size = 0
        self.ends_with_lf = False
        self.carriage_return = False
        self.marked = False
        self._tail = b""  # the last len(marker) - 1 bytes seen: a marker may start there

    @property
    def lines(self) -> int:
        return self.lf + (self.size > 0 and not self.ends_with_lf)

    def __call__(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.lf += chunk.count(b"\n")
        self.size += len(chunk)
        self.ends_with_lf = chunk.endswith(b"\n")
        self.carriage_return = self.carriage_return or b"\r" in chunk
        if self.marker and not self.marked:
            keep = len(self.marker) - 1
            self.marked = self.marker in self._tail + chunk[:keep] or (
                all(b in chunk for b in self._marker_bytes) and self.marker in chunk  # memchr first: faster
            )
            self._tail = (self._tail + chunk[-keep:])[-keep:] if keep else b""

    def cut(self, size: int) -> None:
        """Forget the text's last ``size`` bytes (holding no LF), dropped from it."""
        self.size -= size
        self.ends_with_lf = self.size > 0


class LfLineEnds:
    """Rewrites the chunks of a text so that LF alone ends its lines: CRLF becomes LF, a lone CR becomes LF
    (also when a CRLF is split between two chunks)."""

    after_cr = False  # the last chunk ended with a CR: an LF starting the next one belongs to it

    def __call__(self, data: bytes) -> bytes:
        if not data:
            return data
        if self.after_cr and data.startswith(b"\n"):
            data = data[1:]
        self.after_cr = data.endswith(b"\r")
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in data else data


def with_lf_line_ends(src: Path, dst: Path, marker: str | None) -> TextLines:
    """Copy ``src`` to ``dst`` with LF as its only line end; count its lines (those holding ``marker`` noted)."""
    rewrite = LfLineEnds()
    text = TextLines(marker)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(CHUNK):
            data = rewrite(chunk)
            fout.write(data)
            text(data)
    return text


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def gunzip(src: Path, dst: Path, marker: str | None) -> tuple[TextLines, list[Reject]]:
    """Inflate (multi-member) gzip ``src`` into ``dst``, with LF as its only line end, and count its lines (those
    holding ``marker`` noted); 64 KiB are inflated at a time (at most 64 MiB of text: deflate expands 1032 times
    at most). A truncated stream keeps every complete line before the cut. A corrupt stream keeps the members
    before the damaged one: the damaged member's output may already hold garbage (deflate can decode damaged data
    until the member's CRC fails), so it and its count are dropped. The damage is returned as a reject sampling
    the line it cut."""
    inflater = zlib.decompressobj(wbits=31)
    rewrite = LfLineEnds()
    fed = 0  # compressed bytes given to the current member
    member_start = 0  # where the current member's output begins in dst
    text = TextLines(marker)
    before_member = copy.copy(text)  # the count at member_start
    problem = None
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while problem is None and (chunk := fin.read(1 << 16)):
            while chunk:
                try:
                    data = rewrite(inflater.decompress(chunk))
                except zlib.error as exc:
                    problem = f"corrupt gzip stream ({exc})"
                    fout.seek(member_start)
                    fout.truncate()
                    text = before_member
                    break
                fout.write(data)
                text(data)
                fed += len(chunk)
                if not inflater.eof:
                    break
                chunk = inflater.unused_data.lstrip(b"\0")
                inflater, fed, member_start = zlib.decompressobj(wbits=31), 0, fout.tell()
                before_member = copy.copy(text)
        if problem is None and fed:
            problem = "truncated gzip stream (file ends mid-stream)"
        end = fout.tell()
    if problem is None:
        return text, []
    cut, removed = cut_incomplete_line(dst, end)
    text.cut(removed)
    return text, [Reject(problem, 1, [{"line": None, "text": cut[:SAMPLE_CHARS]}])]


def cut_incomplete_line(path: Path, end: int) -> tuple[str, int]:
    """Drop the bytes after the last newline of ``path`` (``end`` bytes long); return them as text, and how many
    bytes were dropped."""
    with open(path, "r+b") as fh:
        start = max(0, end - (1 << 20))
        fh.seek(start)
        tail = fh.read()
        newline = tail.rfind(b"\n")
        keep = start + newline + 1 if newline >= 0 else (0 if start == 0 else end)
        fh.truncate(keep)
        return tail[newline + 1 :].decode("utf-8", "replace"), end - keep


def sniff(path: Path, max_line: int) -> tuple[str, str | None, bool]:
    """The envelope around the lines of ``path``, its first non-blank line of at most ``max_line`` bytes,
    unwrapped, and whether that is the file's first line."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(lines_within(fh, max_line)):
            if text := raw.decode("utf-8", "replace").strip():
                return (*unwrap_first(text), number == 0)
    return "plain", None, False


def lines_within(fh: BinaryIO, max_line: int) -> Iterator[bytes]:
    """The lines of ``fh``, each longer than ``max_line`` bytes given as empty (never read whole)."""
    while line := fh.readline(max_line + 1):
        if len(line) > max_line and not line.endswith(b"\n"):
            while (rest := fh.readline(CHUNK)) and not rest.endswith(b"\n"):
                pass
            line = b""
        yield line


def unwrap_first(text: str) -> tuple[str, str]:
    """The envelope of the first non-blank line ``text`` and the line it holds."""
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

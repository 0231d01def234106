"""Looking into the evidence store: what a collection did (its summary), what the store holds
(``defensible status``) and ad-hoc read-only SQL (``defensible query`` and ``defensible shell``)."""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import duckdb
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from collector.claims import Pack, duration
from collector.query_results import cell, csv_cell
from collector.runner import RunResult
from collector.store import Store

LANDED = ("succeeded", "partial")  # runs whose evidence is in the store
STATUS_STYLES = {"succeeded": "green", "partial": "yellow", "failed": "bold red", "running": "cyan"}
TABLE_ROWS = 100  # rows a table shows; csv and json print every row
BATCH = 10_000
NARROW = 24  # width a table column may be wrapped to


# what one collection did ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    source: str
    run_id: str
    status: str
    tables: dict[str, int]
    rejected_lines: int  # malformed input lines (ingest_rejects)
    partial_reasons: list[str]
    error: str | None
    duration_seconds: float

    @property
    def records(self) -> int:
        return sum(self.tables.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "run_id": self.run_id,
            "status": self.status,
            "records": self.records,
            "tables": self.tables,
            "rejected_lines": self.rejected_lines,
            "partial_reasons": self.partial_reasons,
            "error": self.error,
            "duration_seconds": round(self.duration_seconds, 3),
        }


def run_summary(store: Store, result: RunResult) -> RunSummary:
    """Summarise ``result`` with what the store recorded of its run (duration, rejected lines)."""
    row = store.con.execute(
        "SELECT coalesce(epoch(finished_at - started_at), 0) FROM runs WHERE run_id = ?", [result.run_id]
    ).fetchone()
    rejected = 0
    if store.has_table("ingest_rejects"):
        found = store.con.execute(
            "SELECT coalesce(sum(count), 0) FROM ingest_rejects WHERE run_id = ?", [result.run_id]
        ).fetchone()
        rejected = int(found[0]) if found else 0
    return RunSummary(
        result.source,
        result.run_id,
        result.status,
        dict(sorted(result.counts.items())),
        rejected,
        list(result.partial_reasons),
        result.error,
        float(row[0]) if row else 0.0,
    )


def summary_table(summaries: list[RunSummary]) -> Table:
    table = Table("source", "status", "records", "rejects", "partial", "duration", title="collection summary")
    for s in summaries:
        table.add_row(
            s.source,
            Text(s.status, style=STATUS_STYLES.get(s.status, "")),
            f"{s.records:,}",
            f"{s.rejected_lines:,}" if s.rejected_lines else "-",
            str(len(s.partial_reasons)) if s.partial_reasons else "-",
            f"{s.duration_seconds:.1f}s",
        )
    return table


# what the store holds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """One evidence table's rows of a source and the time they cover."""

    table: str
    rows: int
    column: str  # ts (log records) or collected_at
    first: datetime | None
    last: datetime | None


@dataclass
class SourceStatus:
    source: str
    runs: int = 0
    last_run: dict[str, Any] | None = None  # run_id, status, finished_at
    last_landed: datetime | None = None  # end of the newest run whose evidence landed
    limit: str | None = None  # strictest freshness of the packs for this source
    tables: list[Coverage] = field(default_factory=list)

    def age(self, now: datetime) -> timedelta | None:
        return now - self.last_landed if self.last_landed else None

    def freshness(self, now: datetime) -> str:
        """fresh, stale, no-limit or never (no evidence landed)."""
        age = self.age(now)
        if age is None:
            return "never"
        if self.limit is None:
            return "no-limit"
        return "fresh" if age <= duration(self.limit) else "stale"

    def describe_freshness(self, now: datetime) -> str:
        """E.g. ``2h old (fresh, limit 7d)``."""
        age = self.age(now)
        if age is None:
            return "no evidence landed"
        limit = f", limit {self.limit}" if self.limit else ""
        verdict = self.freshness(now) if self.limit else "no pack limit"
        return f"{format_age(age)} old ({verdict}{limit})"

    def to_json(self, now: datetime) -> dict[str, Any]:
        age = self.age(now)
        return {
            "source": self.source,
            "runs": self.runs,
            "last_run": cell(self.last_run),
            "last_landed_at": cell(self.last_landed),
            "age_seconds": round(age.total_seconds()) if age is not None else None,
            "freshness": {"status": self.freshness(now), "limit": self.limit},
            "tables": [
                {"table": c.table, "rows": c.rows, "time_column": c.column, "from": cell(c.first), "to": cell(c.last)}
                for c in self.tables
            ],
        }


def freshness_limits(packs: Iterable[Pack]) -> dict[str, str]:
    """The strictest freshness any pack sets for each source."""
    limits: dict[str, str] = {}
    for pack in packs:
        for source, limit in pack.freshness.items():
            if source not in limits or duration(limit) < duration(limits[source]):
                limits[source] = limit
    return limits


def evidence_tables(store: Store) -> list[str]:
    """Base tables carrying the provenance columns, with the views whose rows other tables store in place of
    those tables (other views and bookkeeping tables excluded)."""
    storage = store.view_storage()
    rows = store.con.execute(
        "SELECT c.table_name FROM duckdb_columns() c LEFT JOIN duckdb_tables() t USING (database_name, schema_name, "
        "table_name) WHERE c.database_name = current_database() AND c.column_name IN ('source', 'run_id', "
        "'collected_at') AND (list_contains($views, c.table_name) OR t.table_name IS NOT NULL AND NOT t.temporary "
        "AND NOT list_contains($tables, c.table_name)) GROUP BY ALL HAVING count(*) = 3 ORDER BY 1",
        {"views": list(storage), "tables": [t for tables in storage.values() for t in tables]},
    ).fetchall()
    return [name for (name,) in rows]


def store_status(store: Store, limits: dict[str, str]) -> list[SourceStatus]:
    """Per source: runs, the last one, the last one that landed evidence, and each evidence table's coverage."""
    found: dict[str, SourceStatus] = {}
    for run in store.runs():  # oldest first
        status = found.setdefault(run["source"], SourceStatus(run["source"]))
        status.runs += 1
        status.last_run = {k: run[k] for k in ("run_id", "status", "finished_at")}
        if run["status"] in LANDED:
            status.last_landed = run["finished_at"]
    for table in evidence_tables(store):
        columns = store.table_columns(table)
        column = "ts" if columns.get("ts", "").startswith("TIMESTAMP") else "collected_at"
        rows = store.con.execute(
            f'SELECT source, count(*), min("{column}"), max("{column}") FROM "{table}" GROUP BY source ORDER BY source'
        ).fetchall()
        for source, count, first, last in rows:
            found.setdefault(source, SourceStatus(source)).tables.append(Coverage(table, count, column, first, last))
    for status in found.values():
        status.limit = limits.get(status.source)
    return [found[name] for name in sorted(found)]


def status_tables(statuses: list[SourceStatus], now: datetime, store: Path) -> tuple[Table, Table]:
    """Two tables: the sources (last run, runs, freshness), and their evidence tables (rows, time covered)."""
    sources = Table(title=f"sources in {store}", box=box.SIMPLE_HEAD)
    for name in ("source", "last run", "runs", "freshness"):
        sources.add_column(name, no_wrap=name != "freshness")
    tables = Table(title="evidence tables", box=box.SIMPLE_HEAD)
    for name in ("source", "table", "rows", "covers"):
        tables.add_column(name, no_wrap=name != "covers", justify="right" if name == "rows" else "left")
    for s in statuses:
        run = s.last_run
        last = Text("never (rows only)")
        if run:
            ended = f" {moment(run['finished_at'])}" if run["finished_at"] else ""
            last = Text.assemble(
                (run["status"], STATUS_STYLES.get(run["status"], "")), ended, "\n", (run["run_id"], "dim")
            )
        style = {"fresh": "green", "stale": "bold dark_orange", "never": "red"}.get(s.freshness(now), "")
        sources.add_row(s.source, last, str(s.runs), Text(s.describe_freshness(now), style=style))
        for i, c in enumerate(s.tables):
            tables.add_row(s.source if i == 0 else "", c.table, f"{c.rows:,}", covers(c))
    return sources, tables


def covers(c: Coverage) -> str:
    """``records 2026-03-02 09:00 → 10:57`` (log tables) or ``collected 2026-11-24 22:35``."""
    if c.first is None or c.last is None:
        return "-"
    label = "records" if c.column == "ts" else "collected"
    first, last = moment(c.first), moment(c.last)
    if first == last:
        return f"{label} {first}"
    same_day = c.first.date() == c.last.date()
    return f"{label} {first} → {last[11:] if same_day else last}"


def moment(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


def format_age(age: timedelta) -> str:
    """The largest whole unit: ``45s``, ``12m``, ``2h``, ``3d``."""
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ad-hoc SQL ----------------------------------------------------------------------------------------------


@dataclass
class Result:
    """An executed statement's columns and the cursor to fetch its rows from."""

    columns: list[str]
    json_columns: set[int]  # positions of JSON-typed columns (DuckDB returns them as text)
    cursor: duckdb.DuckDBPyConnection

    def batches(self) -> Iterator[list[tuple]]:
        while rows := self.cursor.fetchmany(BATCH):
            yield rows


class Refused(Exception):
    """A statement that could change something: `query` and `shell` run only statements that read."""


def execute(con: duckdb.DuckDBPyConnection, sql: str) -> Result:
    """Run the statements of ``sql`` once every one of them is known to only read (else raise :class:`Refused`);
    with several statements, the last one's result is kept."""
    result = Result([], set(), con)
    for statement in reading_statements(con, sql):
        cur = con.execute(statement)
        described = cur.description or []
        result = Result([d[0] for d in described], {i for i, d in enumerate(described) if str(d[1]) == "JSON"}, cur)
    return result


def reading_statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[duckdb.Statement]:
    """The statements of ``sql`` as DuckDB parses them, if each is a SELECT (also FROM, WITH, VALUES, TABLE,
    DESCRIBE, SHOW, SUMMARIZE) or an EXPLAIN of one; else raise :class:`Refused` naming the first that is not."""
    statements = con.extract_statements(sql)
    for number, statement in enumerate(statements, start=1):
        if kind := refused_kind(con, statement):
            text = " ".join(statement.query.split()).rstrip(";")
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise Refused(
                f"refused statement {number} ({shown}): it is {kind}; query and shell are read-only and run "
                "only SELECT (also FROM, WITH, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE) and EXPLAIN of one"
            )
    return statements


def refused_kind(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> str | None:
    """None when ``statement`` only reads, else what it is (``a COPY statement``, ``an EXPLAIN of a COPY
    statement``)."""
    if statement.type == duckdb.StatementType.SELECT:
        return None
    if statement.type == duckdb.StatementType.EXPLAIN:
        inner = explained(con, statement.query)
        kind = "a statement it cannot find" if inner is None else refused_kind(con, inner)
        return kind and f"an EXPLAIN of {kind}"
    name = statement.type.name
    several = " (several in one, e.g. PIVOT without IN)" if statement.type == duckdb.StatementType.MULTI else ""
    return f"{'an' if name[0] in 'AEIOU' else 'a'} {name} statement{several}"


def explained(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement | None:
    """The one statement an ``EXPLAIN [ANALYZE] [(options)] statement`` explains, or None if there is not one.
    Found with DuckDB's tokenizer (comments and strings are single tokens) and parsed by DuckDB again."""
    every = duckdb.tokenize(sql)
    ends = [at for at, _ in every[1:]] + [len(sql)]
    tokens = [(at, kind, sql[at:end].strip()) for (at, kind), end in zip(every, ends, strict=True)]
    tokens = [token for token in tokens if token[1] != duckdb.token_type.comment]
    starts, texts = [at for at, _, _ in tokens], [text for _, _, text in tokens]
    i = 1  # past EXPLAIN
    while i < len(texts) and texts[i].lower() in ("analyze", "analyse"):
        i += 1
    candidates = starts[i : i + 1]  # as a whole: a statement, or a parenthesised SELECT
    if candidates and texts[i].startswith("("):  # else after the option list in parentheses
        depth = 0
        for j in range(i, len(tokens)):
            if tokens[j][1] == duckdb.token_type.operator:
                depth += texts[j].count("(") - texts[j].count(")")
            if depth <= 0:
                candidates += starts[j + 1 : j + 2]
                break
    for start in candidates:
        try:
            found = con.extract_statements(sql[start:])
        except duckdb.ParserException:
            continue
        if len(found) == 1:
            return found[0]
    return None


def text_cell(value: Any) -> Text:
    if value is None:
        return Text("NULL", style="dim")
    data = cell(value)
    return Text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))


def print_result(console: Console, result: Result, limit: int = TABLE_ROWS) -> bool:
    """Print the first ``limit`` rows as a table, or one block per row when the table would not fit the
    console; return whether rows were left out."""
    rows = [[text_cell(v) for v in row] for row in result.cursor.fetchmany(limit + 1)]
    more, rows = len(rows) > limit, rows[:limit]
    widths = [max([len(c), *(t.cell_len for t in texts)]) for c, *texts in zip(result.columns, *rows, strict=True)]
    if sum(min(w, NARROW) + 3 for w in widths) + 1 <= console.width:
        table = Table()
        for column in result.columns:
            table.add_column(Text(column))  # as text: a column name is not markup
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return more
    for number, row in enumerate(rows, start=1):  # too wide: a record per row, like psql's expanded display
        record = Table.grid(padding=(0, 2))
        record.add_column(style="bold", no_wrap=True)
        record.add_column()
        for column, value in zip(result.columns, row, strict=True):
            record.add_row(Text(column), value)
        console.print(Text(f"-[ row {number} ]-", style="dim"), record)
    return more


def write_csv(result: Result, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    for rows in result.batches():
        writer.writerows([csv_cell(v) for v in row] for row in rows)


def write_json(result: Result, out: IO[str]) -> None:
    """A JSON array of objects keyed by column, in column order, streamed; JSON columns are embedded."""
    out.write("[")
    first = True
    for rows in result.batches():
        for row in rows:
            values = [
                json.loads(v) if i in result.json_columns and v is not None else cell(v) for i, v in enumerate(row)
            ]
            out.write(("\n  " if first else ",\n  ") + json.dumps(dict(zip(result.columns, values, strict=True))))
            first = False
    out.write("\n]\n" if not first else "]\n")


SHELL_HELP = """\
SQL statements end with ";" and may span lines. Read-only: SELECT (FROM, WITH, DESCRIBE, SHOW,
SUMMARIZE...) and EXPLAIN run; other statements are refused, and no file but the store is read or written.
.tables            list tables and views
.schema TABLE      show how TABLE is defined
.help              this text
.quit              leave (also .exit or end of input)"""


class Shell:
    """A read-only SQL prompt over the store: statements end with ``;``; dot commands as in sqlite3."""

    def __init__(self, con: duckdb.DuckDBPyConnection, out: Console, err: Console):
        self.con, self.out, self.err = con, out, err
        self.buffer: list[str] = []
        self.failed = False  # a statement or command failed
        self.refused = False  # a statement was refused for not only reading

    def run(self, lines: Iterable[str]) -> None:
        for line in lines:
            if not self.feed(line):
                return
        self.flush()

    def feed(self, line: str) -> bool:
        """Take one input line; False when the user asked to leave."""
        stripped = line.strip()
        if not self.buffer and stripped.startswith("."):
            return self.command(stripped)
        if stripped:
            self.buffer.append(line.rstrip("\n"))
        if stripped.endswith(";"):
            self.flush()
        return True

    @property
    def continuing(self) -> bool:
        return bool(self.buffer)

    def flush(self) -> None:
        sql = "\n".join(self.buffer).strip()
        self.buffer = []
        if sql:
            self.query(sql)

    def query(self, sql: str) -> None:
        try:
            result = execute(self.con, sql)
            more = bool(result.columns) and print_result(self.out, result)
        except Refused as exc:
            self.refused = True
            self.error(str(exc))
            return
        except duckdb.Error as exc:
            self.error(str(exc))
            return
        if more:
            self.err.print(f"(first {TABLE_ROWS} rows shown; add LIMIT/OFFSET, or use `defensible query --format csv`)")

    def command(self, text: str) -> bool:
        name, _, arg = text.partition(" ")
        arg = arg.strip().rstrip(";")
        if name in (".quit", ".exit"):
            return False
        if name == ".tables":
            rows = self.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog <> 'temp' ORDER BY 1"
            ).fetchall()
            self.out.print("\n".join(name for (name,) in rows), markup=False, highlight=False)
        elif name == ".schema" and arg:
            found = self.con.execute(
                "SELECT sql FROM duckdb_tables() WHERE table_name = $n AND NOT temporary "
                "UNION ALL SELECT sql FROM duckdb_views() WHERE view_name = $n AND NOT temporary AND NOT internal",
                {"n": arg},
            ).fetchall()
            if found:
                self.out.print("\n".join(sql for (sql,) in found), markup=False, highlight=False)
            else:
                self.error(f"no table or view {arg!r} (see .tables)")
        elif name == ".help":
            self.out.print(SHELL_HELP, markup=False, highlight=False)
        else:
            self.error(f"unknown command {text!r}; .help lists the commands")
        return True

    def error(self, message: str) -> None:
        self.failed = True
        self.err.print(f"error: {message}", markup=False, highlight=False)


HISTORY = Path.home() / ".defensible_history"


def interactive(shell: Shell, history: Path = HISTORY) -> None:
    """Prompt for lines with readline editing and history until .quit or end of input."""
    try:
        import readline
    except ImportError:  # not on every platform; the prompt works without it
        readline = None  # type: ignore[assignment]
    if readline:
        with contextlib.suppress(OSError):
            readline.read_history_file(history)
    shell.out.print(
        "read-only SQL over the store; statements end with ';', .help lists the commands", markup=False, highlight=False
    )
    try:
        while True:
            try:
                line = input("       ...> " if shell.continuing else "defensible> ")
            except KeyboardInterrupt:
                shell.buffer = []
                print()
                continue
            except EOFError:
                print()
                break
            if not shell.feed(line):
                break
    finally:
        if readline:
            with contextlib.suppress(OSError):
                readline.write_history_file(history)

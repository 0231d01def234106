"""The evidence store: one DuckDB file, versioned schema, collection runs and content-addressed artifacts.

Raw artifacts live on disk beside the store (``<store>.artifacts/sha256/ab/abcd…``); the database records
which run collected which artifact. Every evidence table carries the provenance columns
``source, run_id, artifact_sha256, collected_at``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import duckdb

DEFAULT_STORE = Path("evidence.duckdb")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")

PROVENANCE_COLUMNS = """
    source VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    artifact_sha256 VARCHAR NOT NULL,
    collected_at TIMESTAMPTZ NOT NULL"""

CORE_MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        source VARCHAR NOT NULL,
        config JSON,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        status VARCHAR NOT NULL,  -- running | succeeded | partial | failed
        error VARCHAR,
        record_counts JSON
    );
    CREATE TABLE artifacts (
        run_id VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        origin VARCHAR NOT NULL,
        media_type VARCHAR NOT NULL,
        size BIGINT NOT NULL,
        origin_sha256 VARCHAR,  -- digest of the original bytes when the stored copy was redacted
        collected_at TIMESTAMPTZ NOT NULL
    );
    """,
    """
    -- Views whose rows are stored in other tables (a source's per-format storage): the bundle exports the tables
    -- and re-creates the view from its definition; `status` reports the view.
    CREATE TABLE view_storage (
        view_name VARCHAR NOT NULL,
        table_name VARCHAR NOT NULL
    );
    """,
)


# DuckDB settings of a store opened ``locked`` (for ad-hoc SQL): no file but the store is read or written, no
# URL, other database or extension is reached, and nothing spills to <store>.tmp (a query larger than memory
# fails instead). The configuration is then locked, so no statement can change these.
LOCKED_SETTINGS = {
    "enable_external_access": "false",
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
    "temp_directory": "",
}


class StoreError(Exception):
    """The store cannot be opened or used."""


# DuckDB's memory limit for a store: $DEFENSIBLE_MEMORY_LIMIT, else the `memory_limit` of defensible.yaml (e.g.
# 4GB, 512MB), else 1 GiB (half the machine's memory if that is less): a laptop's share, within which the scale
# benchmark's 10M-flow check and bundle run no slower than with more (docs/performance.md). Beyond it DuckDB
# spills to <store>.tmp instead of exhausting RAM.
MEMORY_LIMIT_ENV = "DEFENSIBLE_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = 2**30
MEMORY_LIMIT = re.compile(r"[0-9]+(\.[0-9]+)? ?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)")


def memory_limit(configured: str | None = None) -> str:
    """The memory limit a store is opened with (see MEMORY_LIMIT_ENV); StoreError if it is not a size."""
    from_env = os.environ.get(MEMORY_LIMIT_ENV)
    limit = from_env or configured
    if limit is None:
        half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
        return f"{min(DEFAULT_MEMORY_LIMIT, half) // 2**20}MiB"
    if not MEMORY_LIMIT.fullmatch(limit.strip()):
        where = f"${MEMORY_LIMIT_ENV}" if from_env else "memory_limit"
        raise StoreError(f"{where}: expected a size such as 4GB or 512MB, got {limit!r}")
    return limit.strip()


SIZE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30,
              "TiB": 2**40}  # fmt: skip  # as DuckDB reads them


def size_bytes(limit: str) -> int:
    """The bytes of a memory limit as :func:`memory_limit` returns it (``4GB``, ``512 MiB``)."""
    match = MEMORY_LIMIT.fullmatch(limit.strip())
    if not match:
        raise StoreError(f"expected a size such as 4GB or 512MB, got {limit!r}")
    return int(float(limit.strip()[: match.start(2)]) * SIZE_UNITS[match.group(2)])


NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device"


def no_space(exc: BaseException) -> str | None:
    """The text "No space left on device" and the file it hit, when ``exc`` or an exception it arose from is a
    full disk (ENOSPC). DuckDB's "Current transaction is aborted" arises from the write that failed."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            written = seen.filename2 or seen.filename
            return f"{NO_SPACE} (writing {written})" if written else NO_SPACE
        if isinstance(seen, duckdb.Error) and NO_SPACE in str(seen):
            written = re.search(rf'"([^"]+)": {NO_SPACE}', str(seen))
            return f"{NO_SPACE} (writing {written[1]})" if written else NO_SPACE
        seen = seen.__cause__ or seen.__context__
    return None


def utcnow() -> datetime:
    return datetime.now(UTC)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FileDigest:
    """The sha256 and size of an artifact's bytes."""

    sha256: str
    size: int


CHUNK = 1 << 20  # bytes read at a time when copying


class ArtifactCopy:
    """A file written into the artifact directory under a temporary name and hashed in the same pass, as it is
    written (``see`` is given each chunk too, for a caller to learn more of the file in that pass). ``keep``
    renames it to its content address; the store's ``artifact_copy`` discards it on error. Writes may be paused
    (the file closed, e.g. between pages of a download) and resumed."""

    def __init__(self, directory: Path, see: Callable[[bytes], object]):
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        self.tmp = Path(tmp)
        self._fh: BinaryIO | None = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self._see = see
        self.size = 0

    def write(self, data: bytes) -> int:
        with self._naming_file():
            if self._fh is None:
                self._fh = open(self.tmp, "ab")  # noqa: SIM115 - closed by pause, digest or discard
            self._fh.write(data)
        self._digest.update(data)
        self._see(data)
        self.size += len(data)
        return len(data)

    def seekable(self) -> bool:
        return False  # written in order (boto3 then writes a download's parts in order)

    def pause(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            with self._naming_file():
                fh.close()

    @contextmanager
    def _naming_file(self) -> Iterator[None]:
        """An OSError of a write (a full disk) names the file it hit."""
        try:
            yield
        except OSError as exc:
            if exc.filename:
                raise
            raise OSError(exc.errno, exc.strerror, str(self.tmp)) from exc

    def digest(self) -> FileDigest:
        """Close the file; the digest of the bytes written."""
        self.pause()
        return FileDigest(self._digest.hexdigest(), self.size)

    def discard(self) -> None:
        self.pause()
        self.tmp.unlink(missing_ok=True)


class Store:
    """An open evidence store. Use :meth:`open`; close with :meth:`close` or as a context manager."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, read_only: bool):
        self.path = path
        self.con = con
        self.read_only = read_only
        self.artifacts_dir = path.with_name(path.name + ".artifacts")
        self.placed: set[Path] = set()  # artifact files this object created since the last run ended
        self.settings: dict[str, str | bool] = {}  # the DuckDB settings the store was opened with

    @classmethod
    def open(cls, path: Path, read_only: bool = False, locked: bool = False, memory: str | None = None) -> Store:
        """Open (or create) the store; ``locked`` opens it read-only with :data:`LOCKED_SETTINGS`; ``memory``: the
        configured memory limit (see :func:`memory_limit`)."""
        path = Path(path)
        read_only = read_only or locked
        limit = memory_limit(memory)
        if read_only and not path.exists():
            raise StoreError(f"no evidence store at {path}: run `defensible collect` or `defensible demo` first")
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=LOCKED_SETTINGS if locked else {})
        except duckdb.Error as exc:
            raise StoreError(f"cannot open evidence store {path}: {exc}") from exc
        # UTC: timestamps read back identically on every machine; no DuckDB progress bar: it prints to stdout (into
        # `check --format json`) once a query runs 2 s, and the commands show their own progress on stderr
        settings = {"TimeZone": "UTC", "memory_limit": limit, "enable_progress_bar": False}
        for name, value in settings.items():
            con.execute(f"SET {name} = ?", [value])
        if locked:
            con.execute("SET lock_configuration = true")
        store = cls(path, con, read_only)
        store.settings = settings
        if not read_only:
            store.migrate("core", CORE_MIGRATIONS)
            store._fail_interrupted_runs()
        return store

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def memory_capped(self, cap: str) -> Iterator[None]:
        """Within the block DuckDB's memory limit is ``cap`` when that is below the store's; set back after."""
        limit = str(self.settings["memory_limit"])
        if size_bytes(cap) >= size_bytes(limit):
            yield
            return
        self.con.execute("SET memory_limit = ?", [cap])
        try:
            yield
        finally:
            self.con.execute("SET memory_limit = ?", [limit])

    # schema ---------------------------------------------------------------------------------------------

    def migrate(self, component: str, migrations: Sequence[str]) -> None:
        """Apply the migrations of ``component`` (core or a source plugin) not applied yet, in order."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(component VARCHAR, version INTEGER, applied_at TIMESTAMPTZ, PRIMARY KEY (component, version))"
        )
        row = self.con.execute(
            "SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = ?", [component]
        ).fetchone()
        applied = row[0] if row else 0
        if applied > len(migrations):
            raise StoreError(
                f"{self.path}: schema of {component!r} is at version {applied}, newer than this tool "
                f"knows ({len(migrations)}); upgrade defensible"
            )
        for version, sql in enumerate(migrations[applied:], start=applied + 1):
            self.con.begin()
            self.con.execute(sql)
            self.con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [component, version, utcnow()])
            self.con.commit()

    def schema_versions(self) -> dict[str, int]:
        if not self.has_table("schema_migrations"):
            return {}
        rows = self.con.execute("SELECT component, max(version) FROM schema_migrations GROUP BY ALL").fetchall()
        return dict(rows)

    def has_table(self, name: str) -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_catalog <> 'temp'",
            [name],
        ).fetchone()
        return bool(row and row[0])

    def view_storage(self) -> dict[str, list[str]]:
        """Views whose rows are stored in other tables: view -> its storage tables (see ``view_storage``)."""
        if not self.has_table("view_storage"):  # a store of before, opened read-only
            return {}
        rows = self.con.execute(
            "SELECT view_name, list(table_name ORDER BY table_name) FROM view_storage GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        return dict(rows)

    def table_columns(self, table: str) -> dict[str, str]:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND database_name <> 'temp' "
            "ORDER BY column_index",
            [table],
        ).fetchall()
        return dict(rows)

    # runs -----------------------------------------------------------------------------------------------

    def begin_run(self, run_id: str, source: str, config: dict, started_at: datetime) -> None:
        """Record a run as running, committed at once so that a killed process leaves a trace."""
        self.con.execute(
            "INSERT INTO runs (run_id, source, config, started_at, status) VALUES (?, ?, ?, ?, 'running')",
            [run_id, source, json.dumps(config, sort_keys=True, default=str), started_at],
        )

    def finish_run(self, run_id: str, status: str, error: str | None, counts: dict[str, int]) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, error = ?, record_counts = ? WHERE run_id = ?",
            [utcnow(), status, error, json.dumps(counts, sort_keys=True), run_id],
        )

    def _fail_interrupted_runs(self) -> None:
        # DuckDB allows one writer per file, so a run still 'running' when we open for writing was killed.
        row = self.con.execute(
            "UPDATE runs SET status = 'failed', finished_at = coalesce(finished_at, started_at), "
            "error = 'interrupted: the collecting process ended before the run finished' "
            "WHERE status = 'running'"
        ).fetchone()
        if row and row[0]:
            self._remove_unreferenced_artifacts()

    def _remove_unreferenced_artifacts(self) -> None:
        """Remove what a killed run left in the artifact directory: copies no committed run references and
        temporary files of interrupted copies."""
        referenced = {sha for (sha,) in self.con.execute("SELECT DISTINCT sha256 FROM artifacts").fetchall()}
        copies = [p for p in self.artifacts_dir.glob("sha256/*/*") if p.name not in referenced]  # .tmp-* too
        for path in [*self.artifacts_dir.glob(".tmp-*"), *copies]:
            path.unlink(missing_ok=True)

    def end_run(self, committed: bool) -> None:
        """Forget the artifact files placed during the run that just ended; unless it committed, remove them
        first. A file placed during the run did not exist before it, so no earlier run refers to it."""
        if not committed:
            for path in self.placed:
                path.unlink(missing_ok=True)
        self.placed.clear()

    def runs(self) -> list[dict]:
        if not self.has_table("runs"):
            return []
        cur = self.con.execute(
            "SELECT run_id, source, started_at, finished_at, status, error, record_counts FROM runs "
            "ORDER BY started_at, run_id"
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    # artifacts and bulk loading -------------------------------------------------------------------------

    def artifact_path(self, sha256: str) -> Path:
        """Where the artifact of this sha256 is kept; StoreError unless it is one (nothing else names a path)."""
        if not SHA256_HEX.fullmatch(sha256):
            raise StoreError(f"artifact_sha256 {sha256!r} is not a sha256 digest (64 lowercase hex digits)")
        return self.artifacts_dir / "sha256" / sha256[:2] / sha256

    def put_artifact(self, content: bytes) -> str:
        """Write ``content`` to the content-addressed artifact directory; return its sha256."""
        digest = sha256_hex(content)
        target = self.artifact_path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(content)
                self._place(Path(tmp), target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return digest

    @contextmanager
    def artifact_copy(self, see: Callable[[bytes], object] = lambda chunk: None) -> Iterator[ArtifactCopy]:
        """A new :class:`ArtifactCopy`, discarded if the block raises (a full disk, Ctrl-C) or does not keep it."""
        copy = ArtifactCopy(self.artifacts_dir, see)
        try:
            yield copy
        finally:
            copy.discard()

    def keep(self, copy: ArtifactCopy) -> FileDigest:
        """Rename the complete ``copy`` to its content address (dropped when the store holds those bytes already);
        return its digest."""
        kept = copy.digest()
        target = self.artifact_path(kept.sha256)
        if target.is_file():
            copy.discard()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._place(copy.tmp, target)
        return kept

    def put_artifact_file(self, source: Path, see: Callable[[bytes], object] = lambda chunk: None) -> FileDigest:
        """Keep a copy of the file ``source`` in the artifact directory, hashed as it is copied: one read (``see``
        is given each chunk). The copy is the bytes hashed, also of a file that grows meanwhile (a log being
        written)."""
        with self.artifact_copy(see) as copy, open(source, "rb") as fh:
            while chunk := fh.read(CHUNK):
                copy.write(chunk)
            return self.keep(copy)

    def _place(self, tmp: Path, target: Path) -> None:
        """Rename the complete copy ``tmp`` to ``target``, noting it as placed by this run if it is new."""
        if not target.exists():
            self.placed.add(target)
        os.replace(tmp, target)

    def load_ndjson(self, table: str, ndjson: Path) -> int:
        """Bulk-load newline-delimited JSON rows into ``table`` with DuckDB's reader; return rows loaded."""
        columns = self.table_columns(table)
        if not columns:
            raise StoreError(f"no table {table!r} in the store")
        row = self.con.execute(
            f"INSERT INTO {table} BY NAME SELECT * FROM read_json(?, format = 'newline_delimited', "
            "columns = ?, maximum_object_size = 67108864)",  # rows are one object each: etcd caps those at ~1.5 MB
            [str(ndjson), columns],
        ).fetchone()
        return int(row[0]) if row else 0

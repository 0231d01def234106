"""The evidence store: one DuckDB file, versioned schema, collection runs and content-addressed artifacts.

Raw artifacts live on disk beside the store (``<store>.artifacts/sha256/ab/abcd…``); the database records
which run collected which artifact. Every evidence table carries the provenance columns
``source, run_id, artifact_sha256, collected_at``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

DEFAULT_STORE = Path("evidence.duckdb")

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


def utcnow() -> datetime:
    return datetime.now(UTC)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FileDigest:
    """A file's sha256 with the size and modification time it had when hashed."""

    sha256: str
    size: int
    mtime_ns: int


def hash_file(path: Path) -> FileDigest:
    before = os.stat(path)
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    return FileDigest(digest, before.st_size, before.st_mtime_ns)


class Store:
    """An open evidence store. Use :meth:`open`; close with :meth:`close` or as a context manager."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, read_only: bool):
        self.path = path
        self.con = con
        self.read_only = read_only
        self.artifacts_dir = path.with_name(path.name + ".artifacts")

    @classmethod
    def open(cls, path: Path, read_only: bool = False, locked: bool = False) -> Store:
        """Open (or create) the store; ``locked`` opens it read-only with :data:`LOCKED_SETTINGS`."""
        path = Path(path)
        read_only = read_only or locked
        if read_only and not path.exists():
            raise StoreError(f"no evidence store at {path}: run `defensible collect` or `defensible demo` first")
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=LOCKED_SETTINGS if locked else {})
        except duckdb.Error as exc:
            raise StoreError(f"cannot open evidence store {path}: {exc}") from exc
        con.execute("SET TimeZone = 'UTC'")  # timestamps read back identically on every machine
        if locked:
            con.execute("SET lock_configuration = true")
        store = cls(path, con, read_only)
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
        self.con.execute(
            "UPDATE runs SET status = 'failed', finished_at = coalesce(finished_at, started_at), "
            "error = 'interrupted: the collecting process ended before the run finished' "
            "WHERE status = 'running'"
        )

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
        return self.artifacts_dir / "sha256" / sha256[:2] / sha256

    def put_artifact(self, content: bytes) -> str:
        """Write ``content`` to the content-addressed artifact directory; return its sha256."""
        digest = sha256_hex(content)
        target = self.artifact_path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.replace(tmp, target)
        return digest

    def put_artifact_file(self, source: Path, hashed: FileDigest) -> FileDigest:
        """Keep the file ``source``, hashed as ``hashed``, in the artifact directory (copied by the kernel, unless
        the store holds those bytes already); return what is kept. A source that changed since it was hashed
        (a log being written) is kept as copied, hashed again."""
        if self.artifact_path(hashed.sha256).is_file():
            return hashed
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.artifacts_dir, prefix=".tmp-")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            now, copied = os.stat(source), os.stat(tmp)
            kept = hashed
            if (now.st_size, now.st_mtime_ns) != (hashed.size, hashed.mtime_ns) or copied.st_size != hashed.size:
                kept = hash_file(Path(tmp))
            target = self.artifact_path(kept.sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return kept

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

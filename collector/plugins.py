"""The source plugin contract and the registry that discovers plugins through entry points.

A source is any object with ``name``, ``description``, ``config_schema`` (JSON Schema of its config),
``migrations`` (DDL for its evidence tables, applied in order and versioned) and ``collect(ctx)``.
Third parties register one under the entry-point group ``defensible.sources``.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import duckdb
import jsonschema

from collector.progress import Step, current
from collector.redaction import comments_hold_secrets, redact
from collector.store import Store, sha256_hex

ENTRY_POINT_GROUP = "defensible.sources"


class SourceError(Exception):
    """A source cannot collect; the message says what to fix (file, object, endpoint)."""


@runtime_checkable
class Source(Protocol):
    name: str
    description: str
    config_schema: Mapping[str, Any]
    migrations: Sequence[str]

    def collect(self, ctx: CollectContext) -> None: ...


@dataclass
class CollectContext:
    """What a source sees during one run: its validated config and sinks for artifacts and rows."""

    store: Store
    source: str
    run_id: str
    config: Mapping[str, Any]
    collected_at: datetime
    partial_reasons: list[str] = field(default_factory=list)
    inserted: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _staging: tempfile.TemporaryDirectory | None = None
    _files: dict[str, IO[str]] = field(default_factory=dict)
    _settings: list[str] = field(default_factory=list)

    def add_artifact(self, content: bytes, origin: str, media_type: str, origin_sha256: str | None = None) -> str:
        """Keep raw bytes as a content-addressed artifact of this run; return the sha256 to cite."""
        digest = self.store.put_artifact(content)
        self.record_artifact(digest, origin, media_type, len(content), origin_sha256)
        return digest

    def record_artifact(
        self, digest: str, origin: str, media_type: str, size: int, origin_sha256: str | None = None
    ) -> None:
        """Record that this run used an artifact already in the store (see ``Store.put_artifact_file``)."""
        self._write(
            "artifacts",
            {
                "run_id": self.run_id,
                "sha256": digest,
                "origin": origin,
                "media_type": media_type,
                "size": size,
                "origin_sha256": origin_sha256,
                "collected_at": self.collected_at,
            },
        )

    def add_document_artifact(
        self, raw: bytes, decoded: Any, origin: str, media_type: str, *, complete: bool = True
    ) -> str:
        """Keep ``raw`` as an artifact only if nothing in ``decoded`` (its decoded documents) needs redaction and
        its comments hold no key material or credentials; else keep the redacted JSON rendering of ``decoded``,
        recording the original bytes' digest. ``complete=False`` says ``decoded`` misses part of ``raw``
        (undecodable content): raw is then never kept."""
        redacted, sensitive = redact(decoded)
        if complete and not sensitive and not comments_hold_secrets(raw.decode("utf-8", "replace")):
            return self.add_artifact(raw, origin, media_type)
        rendering = json.dumps(redacted, indent=1, sort_keys=True, default=str).encode()
        return self.add_artifact(rendering, origin, "application/json", sha256_hex(raw))

    def emit(self, table: str, row: Mapping[str, Any], artifact_sha256: str) -> None:
        """Stage one evidence row; provenance columns are added here. Rows load in bulk at the end."""
        self._write(
            table,
            {
                **row,
                "source": self.source,
                "run_id": self.run_id,
                "artifact_sha256": artifact_sha256,
                "collected_at": self.collected_at,
            },
        )

    def insert(self, table: str, sql: str, params: Mapping[str, Any]) -> int:
        """Run a set-based ``INSERT INTO table … SELECT`` (e.g. over an artifact read with DuckDB's readers)
        inside the run's transaction; the SELECT must supply the provenance columns. Returns rows inserted."""
        row = self.store.con.execute(sql, dict(params)).fetchone()
        return self._count(table, int(row[0]) if row else 0)

    def delete(self, table: str, sql: str, params: Mapping[str, Any]) -> int:
        """Run a set-based ``DELETE FROM table …`` of rows this run inserted (e.g. duplicates, found once loaded)
        inside the run's transaction. Returns rows deleted."""
        row = self.store.con.execute(sql, dict(params)).fetchone()
        deleted = int(row[0]) if row else 0
        self._count(table, -deleted)
        return deleted

    def _count(self, table: str, rows: int) -> int:
        self.inserted[table] = self.inserted.get(table, 0) + rows
        return rows

    def load_ndjson(self, table: str, ndjson: Path) -> int:
        """Bulk-load a file of rows the source wrote itself (each with its provenance columns) into ``table``
        inside the run's transaction, for row counts where staging each row through ``emit`` is too slow."""
        return self._count(table, self.store.load_ndjson(table, ndjson))

    def set_duckdb(self, setting: str, value: str) -> None:
        """``SET setting = value`` (an SQL literal) on the store's connection for this run; set back to what the
        store was opened with (e.g. its configured memory limit), else reset, when the run ends, after its
        transaction (a failed statement aborts the transaction, and a reset inside it would fail)."""
        self.store.con.execute(f"SET {setting} = {value}")
        self._settings.append(setting)

    def partial(self, reason: str) -> None:
        """Note that some input was rejected; the run still lands, marked partial with this reason."""
        self.partial_reasons.append(reason)

    def note(self, message: str) -> None:
        """Tell the user something about the run that is not a problem (e.g. input skipped as unchanged)."""
        self.notes.append(message)

    def progress(self, description: str, total: int | None = None, unit: str = "") -> Step:
        """A progress bar for a long step of the run, e.g. ``ctx.progress("files", unit="files")``; advance it
        per file, page or batch (never per record) and close it, or use it as a context manager."""
        return current().step(f"{self.source}: {description}", total, unit)

    def _write(self, table: str, row: Mapping[str, Any]) -> None:
        if table not in self._files:
            if self._staging is None:
                self._staging = tempfile.TemporaryDirectory(prefix="defensible-stage-")
            staged = Path(self._staging.name) / f"{table}.ndjson"
            self._files[table] = open(staged, "w", encoding="utf-8")  # noqa: SIM115 - closed by load_staged/discard
        self._files[table].write(json.dumps(row, default=str, separators=(",", ":")) + "\n")

    def load_staged(self) -> dict[str, int]:
        """Load every staged table with DuckDB's JSON reader; return row counts per evidence table."""
        counts = dict(self.inserted)
        for table, fh in self._files.items():
            fh.close()
            loaded = self.store.load_ndjson(table, Path(fh.name))
            if table != "artifacts":
                counts[table] = counts.get(table, 0) + loaded
        return counts

    def discard(self) -> None:
        """Once the run's transaction has ended: drop the staged rows and reset the DuckDB settings changed."""
        for fh in self._files.values():
            fh.close()
        if self._staging is not None:
            self._staging.cleanup()
        with contextlib.suppress(duckdb.Error):  # only a connection DuckDB invalidated refuses, with no setting left
            for setting in self._settings:
                if setting in self.store.settings:
                    self.store.con.execute(f"SET {setting} = ?", [self.store.settings[setting]])
                else:
                    self.store.con.execute(f"RESET {setting}")


@dataclass(frozen=True)
class SourceEntry:
    """A discovered plugin, or the reason it could not be loaded."""

    name: str
    target: str
    source: Source | None
    error: str | None


def discover_sources() -> dict[str, SourceEntry]:
    found: dict[str, SourceEntry] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            source = obj() if isinstance(obj, type) else obj
            if not isinstance(source, Source):
                raise TypeError("does not implement the Source contract (name, config_schema, collect)")
            found[ep.name] = SourceEntry(ep.name, ep.value, source, None)
        except Exception as exc:  # a broken third-party plugin must not break the tool
            found[ep.name] = SourceEntry(ep.name, ep.value, None, f"{type(exc).__name__}: {exc}")
    return dict(sorted(found.items()))


def get_source(name: str) -> Source:
    entry = discover_sources().get(name)
    if entry is None:
        known = ", ".join(discover_sources()) or "none"
        raise SourceError(f"unknown source {name!r} (installed: {known})")
    if entry.source is None:
        raise SourceError(f"source {name!r} failed to load: {entry.error}")
    return entry.source


def validate_config(source: Source, config: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``config`` against the source's schema, returning it with schema defaults filled in."""
    errors = sorted(jsonschema.Draft202012Validator(source.config_schema).iter_errors(config), key=str)
    if errors:
        lines = [f"  {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]
        raise SourceError(f"invalid config for source {source.name!r}:\n" + "\n".join(lines))
    defaults = {k: v["default"] for k, v in source.config_schema.get("properties", {}).items() if "default" in v}
    return {**defaults, **config}

"""The claim engine: query packs (YAML + SQL) evaluated against the evidence store.

A claim's verdict is ``no-evidence`` when what it requires was not collected, ``error`` when a query
fails, ``gap`` when its gaps query returns rows, ``no-evidence`` when its evidence query returns none,
and ``satisfied`` otherwise.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import yaml

from collector.store import Store

VERDICTS = ("satisfied", "gap", "no-evidence", "error")
FAILING_VERDICTS = frozenset({"gap", "no-evidence", "error"})
ID_PATTERN = "^[a-z0-9][a-z0-9-]*$"
SQL_FILE_PATTERN = r"^[A-Za-z0-9._-]+\.sql$"

PACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "title", "version", "claims"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": ID_PATTERN},
        "title": {"type": "string"},
        "version": {"type": "integer"},
        "description": {"type": "string"},
        "views": {"type": "string", "pattern": SQL_FILE_PATTERN},
        "parameters": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
            "additionalProperties": {
                "type": "object",
                "required": ["default", "description"],
                "additionalProperties": False,
                "properties": {"default": {}, "description": {"type": "string"}},
            },
        },
        "claims": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/claim"}},
    },
    "$defs": {
        "claim": {
            "type": "object",
            "required": ["id", "title", "statement", "evidence", "gaps", "requires"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": ID_PATTERN},
                "title": {"type": "string"},
                "enabled": {"type": "boolean"},
                "statement": {"type": "string"},
                "frameworks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["framework", "control"],
                        "additionalProperties": False,
                        "properties": {"framework": {"type": "string"}, "control": {"type": "string"}},
                    },
                },
                "requires": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "tables": {"type": "array", "items": {"type": "string"}},
                        "k8s_kinds": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "evidence": {"type": "string", "pattern": SQL_FILE_PATTERN},
                "gaps": {"type": "string", "pattern": SQL_FILE_PATTERN},
            },
        }
    },
}


class PackError(Exception):
    """A query pack is malformed; the message names the file and the claim."""


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    statement: str
    frameworks: tuple[dict[str, str], ...]
    tables: tuple[str, ...]
    k8s_kinds: tuple[str, ...]
    evidence_file: str
    gaps_file: str
    evidence_sql: str
    gaps_sql: str
    enabled: bool = True


@dataclass(frozen=True)
class Pack:
    id: str
    title: str
    version: int
    description: str
    directory: Path
    files: dict[str, bytes]  # every file of the pack by name, as read: shipped verbatim in bundles
    views_sql: str
    claims: tuple[Claim, ...]
    parameters: dict[str, Any] = field(default_factory=dict)  # name -> default value

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + self.files[name] + b"\0")
        return h.hexdigest()


@dataclass(frozen=True)
class Settings:
    """How packs are evaluated: parameter overrides (applied to every pack defining the name) and
    claims switched on that are disabled by default (``pack/claim``)."""

    parameters: dict[str, Any] = field(default_factory=dict)
    enable: frozenset[str] = frozenset()

    def validate(self, packs: list[Pack]) -> None:
        known = {name for pack in packs for name in pack.parameters}
        unknown = sorted(set(self.parameters) - known)
        if unknown:
            raise PackError(f"no pack defines parameter {', '.join(unknown)} (parameters: {', '.join(sorted(known))})")
        claims = {f"{pack.id}/{claim.id}" for pack in packs for claim in pack.claims}
        missing = sorted(self.enable - claims)
        if missing:
            raise PackError(f"no claim {', '.join(missing)} to enable (use PACK/CLAIM)")

    def parameters_for(self, pack: Pack) -> dict[str, Any]:
        return {name: self.parameters.get(name, default) for name, default in pack.parameters.items()}

    def enabled(self, pack: Pack, claim: Claim) -> bool:
        return claim.enabled or f"{pack.id}/{claim.id}" in self.enable


DEFAULT_SETTINGS = Settings()


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]


@dataclass
class ClaimResult:
    claim: Claim
    verdict: str
    reason: str
    evidence: QueryResult = field(default_factory=lambda: QueryResult([], []))
    gaps: QueryResult = field(default_factory=lambda: QueryResult([], []))


def builtin_pack_dirs() -> dict[str, Path]:
    root = Path(str(files("queries")))
    return {p.parent.name: p.parent for p in sorted(root.glob("*/pack.yaml"))}


def resolve_pack(ref: str) -> Path:
    """A built-in pack name or a directory/pack.yaml path."""
    builtin = builtin_pack_dirs()
    if ref in builtin:
        return builtin[ref]
    path = Path(ref)
    if path.is_file():
        path = path.parent
    if not (path / "pack.yaml").is_file():
        raise PackError(f"no query pack {ref!r}: not a built-in pack ({', '.join(builtin)}) nor a pack directory")
    return path


def load_pack(directory: Path) -> Pack:
    pack_file = directory / "pack.yaml"
    raw = pack_file.read_bytes()
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise PackError(f"{pack_file}: invalid YAML: {exc}") from None
    errors = sorted(jsonschema.Draft202012Validator(PACK_SCHEMA).iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        raise PackError(f"{pack_file}: {_locate(doc, errors[0])}: {errors[0].message}")
    seen: set[str] = set()
    texts: dict[str, bytes] = {"pack.yaml": raw}

    def read_sql(name: str, claim_id: str | None) -> str:
        where = f"claim {claim_id!r}" if claim_id else "views"
        path = directory / name
        if not path.is_file():
            raise PackError(f"{pack_file}: {where}: SQL file {name} not found in {directory}")
        texts[name] = path.read_bytes()
        sql = texts[name].decode("utf-8").strip().rstrip(";").strip()
        if not sql:
            raise PackError(f"{path}: {where}: SQL file is empty")
        return sql

    claims = []
    for c in doc["claims"]:
        if c["id"] in seen:
            raise PackError(f"{pack_file}: claim {c['id']!r} is defined twice")
        seen.add(c["id"])
        claims.append(
            Claim(
                id=c["id"],
                title=c["title"],
                statement=" ".join(c["statement"].split()),
                frameworks=tuple(c.get("frameworks", [])),
                tables=tuple(c["requires"].get("tables", [])),
                k8s_kinds=tuple(c["requires"].get("k8s_kinds", [])),
                evidence_file=c["evidence"],
                gaps_file=c["gaps"],
                evidence_sql=read_sql(c["evidence"], c["id"]),
                gaps_sql=read_sql(c["gaps"], c["id"]),
                enabled=c.get("enabled", True),
            )
        )
    views_sql = read_sql(doc["views"], None) if "views" in doc else ""
    return Pack(
        id=doc["id"],
        title=doc["title"],
        version=doc["version"],
        description=" ".join(doc.get("description", "").split()),
        directory=directory,
        files=dict(sorted(texts.items())),
        views_sql=views_sql,
        claims=tuple(claims),
        parameters={name: p["default"] for name, p in doc.get("parameters", {}).items()},
    )


def _locate(doc: Any, error: jsonschema.ValidationError) -> str:
    path = list(error.absolute_path)
    if len(path) >= 2 and path[0] == "claims" and isinstance(doc, dict):
        claim = doc["claims"][path[1]]
        name = claim.get("id", f"#{path[1] + 1}") if isinstance(claim, dict) else f"#{path[1] + 1}"
        rest = "/".join(map(str, path[2:]))
        return f"claim {name!r}" + (f" field {rest!r}" if rest else "")
    return "/".join(map(str, path)) or "top level"


def evaluate_pack(store: Store, pack: Pack, settings: Settings = DEFAULT_SETTINGS) -> list[ClaimResult]:
    """Evaluate the enabled claims of ``pack`` with its parameters set as DuckDB variables
    (``getvariable('name')`` in SQL); never raises for a failing query (that is an ``error`` verdict)."""
    for name, value in settings.parameters_for(pack).items():
        store.con.execute(f"SET VARIABLE {name} = ?", [value])
    views_errors = _create_views(store.con, pack)
    results = []
    for claim in pack.claims:
        if not settings.enabled(pack, claim):
            continue
        missing = _missing_requirements(store, claim)
        if missing:
            results.append(ClaimResult(claim, "no-evidence", missing))
            continue
        result = _evaluate_claim(store.con, claim)
        if result.verdict == "error":
            sql = claim.evidence_sql + claim.gaps_sql
            result.reason += "".join(f"; {error}" for view, error in views_errors.items() if view in sql)
        results.append(result)
    return results


def _create_views(con: duckdb.DuckDBPyConnection, pack: Pack) -> dict[str, str]:
    """Create the pack's views one statement at a time, so that a view over evidence not collected fails
    alone; return the error of each view that failed, by name."""
    errors = {}
    for statement in con.extract_statements(pack.views_sql) if pack.views_sql else []:
        sql = statement.query.replace("CREATE VIEW", "CREATE OR REPLACE TEMP VIEW")
        try:
            con.execute(sql)
        except duckdb.Error as exc:
            name = re.search(r"CREATE OR REPLACE TEMP VIEW\s+(\w+)", sql)
            errors[name.group(1) if name else sql[:40]] = f"view of pack {pack.id!r} failed: {exc}"
    return errors


def _missing_requirements(store: Store, claim: Claim) -> str | None:
    absent = [t for t in claim.tables if not store.has_table(t)]
    if absent:
        return f"required evidence not collected: table {', '.join(absent)} absent"
    if not claim.k8s_kinds:
        return None
    if not store.has_table("k8s_inventory"):
        return "required evidence not collected: no Kubernetes inventory"
    collected = {
        row[0]
        for row in store.con.execute(
            "SELECT DISTINCT kind FROM k8s_inventory_current WHERE status = 'collected'"
        ).fetchall()
    }
    lacking = [k for k in claim.k8s_kinds if k not in collected]
    if lacking:
        return f"required evidence not collected: Kubernetes kind {', '.join(lacking)} not collectible or not listed"
    return None


def _evaluate_claim(con: duckdb.DuckDBPyConnection, claim: Claim) -> ClaimResult:
    try:
        gaps = run_query(con, claim.gaps_sql)
        evidence = run_query(con, claim.evidence_sql)
    except duckdb.Error as exc:
        return ClaimResult(claim, "error", f"query failed: {exc}")
    if gaps.rows:
        verdict, reason = "gap", f"{len(gaps.rows)} gap(s); {len(evidence.rows)} supporting row(s)"
    elif not evidence.rows:
        verdict, reason = "no-evidence", "evidence query returned no rows"
    else:
        verdict, reason = "satisfied", f"{len(evidence.rows)} supporting row(s), no gaps"
    return ClaimResult(claim, verdict, reason, evidence, gaps)


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> QueryResult:
    """Run a pack query with a total order on its rows, so outputs are deterministic."""
    cur = con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL")
    return QueryResult([d[0] for d in cur.description], cur.fetchall())

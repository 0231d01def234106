"""The claim engine: query packs (YAML + SQL) evaluated against the evidence store.

A claim's verdict is, in this order: ``no-evidence`` when what it requires was not collected, ``error`` when a
query fails, ``gap`` when its gaps query returns rows not all waived, ``waived`` when every gap row is waived,
``no-evidence`` when its evidence query returns none, ``stale`` when its evidence from some source is older than
the pack's freshness for that source, and ``satisfied`` otherwise. Claims are judged as of one instant (the
latest collection run's end unless given), which the SQL reads as ``getvariable('as_of')``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import duckdb
import jsonschema

from collector.query_results import QueryResult
from collector.safe_yaml import InputError, TextTimesLoader, load
from collector.scope import Scope
from collector.store import Store
from collector.waivers import Waiver

VERDICTS = ("satisfied", "waived", "gap", "stale", "no-evidence", "error")
FAILING_VERDICTS = frozenset({"gap", "stale", "no-evidence", "error"})
# Scorecard areas a claim may count towards (see collector/scorecard.py).
AREAS = (
    "connectivity", "service-discovery", "gateway-routing", "tls-identity", "network-policy", "egress", "mesh",
    "resilience", "observability", "multi-cluster", "ownership", "cost-capacity", "migration", "regulatory-evidence",
)  # fmt: skip
DURATION = re.compile(r"^([0-9]+)([dhm])$")
ID_PATTERN = "^[a-z0-9][a-z0-9-]*$"
SQL_FILE_PATTERN = r"^[A-Za-z0-9._-]+\.sql$"
LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
LABEL = rf"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?{LABEL_NAME}=({LABEL_NAME})?$"  # a Kubernetes label key=value
INT64 = range(-(2**63), 2**63)
SCALARS = (str, int, float)  # bool is an int

# What a pack parameter's values may be (its declaration in pack.yaml, less default and description): a JSON
# Schema subset for a scalar or a list of scalars. See ParameterType.
VALUE_KEYWORDS: dict[str, Any] = {
    "type": {"enum": ["integer", "number", "boolean", "string"]},
    "minimum": {"type": "number"},
    "exclusiveMinimum": {"type": "number"},
    "maximum": {"type": "number"},
    "minLength": {"type": "integer", "minimum": 0},
    "format": {"enum": ["date-time", "regex", "label"]},
    "enum": {"type": "array", "minItems": 1, "items": {"type": ["number", "boolean", "string"]}},
}
PARAMETER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "default", "description"],
    "additionalProperties": False,
    "properties": {
        **VALUE_KEYWORDS,
        "type": {"enum": ["integer", "number", "boolean", "string", "array"]},
        "items": {"type": "object", "required": ["type"], "additionalProperties": False, "properties": VALUE_KEYWORDS},
        "minItems": {"type": "integer", "minimum": 0},
        "nullable": {"type": "boolean"},
        "default": {},
        "description": {"type": "string"},
    },
    "if": {"properties": {"type": {"const": "array"}}},
    "then": {"required": ["items"]},
    "else": {"not": {"anyOf": [{"required": ["items"]}, {"required": ["minItems"]}]}},
}

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
        "materialize_views": {
            "type": "boolean",
            "description": "create the views as temporary tables: for packs over inventories (small), whose deeply "
            "nested views DuckDB would plan again for every query; packs over logs keep views, which stream",
        },
        "inventories": {
            "type": "object",
            "description": "name -> SQL file listing what the pack's domain holds (e.g. public routes); shipped in "
            "bundles and compared by `defensible diff`",
            "propertyNames": {"pattern": ID_PATTERN},
            "additionalProperties": {"type": "string", "pattern": SQL_FILE_PATTERN},
        },
        "freshness": {
            "type": "object",
            "description": "source name -> longest age of its evidence before a claim is stale (30d, 12h, 90m)",
            "additionalProperties": {"type": "string", "pattern": DURATION.pattern},
        },
        "parameters": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
            "additionalProperties": PARAMETER_SCHEMA,
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
                "covers": {"type": "string"},
                "blind_spots": {"type": "string"},
                "areas": {"type": "array", "items": {"enum": list(AREAS)}, "uniqueItems": True},
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


def _integer(_: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in INT64  # DuckDB's BIGINT


def _number(checker: Any, value: Any) -> bool:
    return _integer(checker, value) or (isinstance(value, float) and math.isfinite(value))


def _string(_: Any, value: Any) -> bool:
    return isinstance(value, str) and value.encode("utf-8", "replace").decode("utf-8") == value  # no lone surrogate


# Strict JSON Schema types for parameter values, as DuckDB variables take them: true is no integer, nor 2.0;
# .inf and .nan are no number; a string is valid UTF-8.
ParameterValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _integer, "number": _number, "string": _string}
    ),
)
# Formats are checked as the packs' SQL uses the value: DuckDB casts the time and compiles the RE2 expression.
FORMATS = jsonschema.FormatChecker(formats=())
FORMAT_WORDS = {"date-time": "an ISO 8601 time", "regex": "a regular expression (RE2)", "label": "a label key=value"}
TYPE_WORDS = {"integer": "an integer", "number": "a number", "boolean": "true or false", "string": "a string"}


def _duckdb_accepts(sql: str, value: Any) -> bool:
    if isinstance(value, str):
        with duckdb.connect() as con:
            con.execute(sql, [value])
    return True


FORMATS.checks("date-time", raises=duckdb.Error)(lambda v: _duckdb_accepts("SELECT CAST($1 AS TIMESTAMPTZ)", v))
FORMATS.checks("regex", raises=duckdb.Error)(lambda v: _duckdb_accepts("SELECT regexp_matches('', $1)", v))
FORMATS.checks("label")(lambda v: not isinstance(v, str) or re.match(LABEL, v) is not None)


@dataclass(frozen=True)
class ParameterType:
    """The values a pack parameter takes: its declaration in pack.yaml less default and description (see
    PARAMETER_SCHEMA), e.g. ``{"type": "integer", "minimum": 1}``."""

    spec: dict[str, Any]

    def accepts(self, value: Any) -> bool:
        if value is None:
            return bool(self.spec.get("nullable"))
        if not (isinstance(value, SCALARS) or (isinstance(value, list) and all(isinstance(v, SCALARS) for v in value))):
            return False  # deeper than any declaration allows; JSON Schema's messages would repr it whole
        return ParameterValidator(
            {k: v for k, v in self.spec.items() if k != "nullable"}, format_checker=FORMATS
        ).is_valid(value)

    @property
    def words(self) -> str:
        """E.g. ``an integer >= 1``, ``a list, each a non-empty string``, ``an ISO 8601 time, or null``."""
        return expected(self.spec) + (", or null" if self.spec.get("nullable") else "")


def expected(spec: dict[str, Any]) -> str:
    """The values a parameter's (or a list item's) declaration allows, in words."""
    if "enum" in spec:
        return "one of " + ", ".join(json.dumps(v) for v in spec["enum"])
    if spec["type"] == "array":
        least = spec.get("minItems", 0)
        words = "a non-empty list" if least == 1 else f"a list of at least {least} items" if least else "a list"
        return f"{words}, each {expected(spec['items'])}"
    words = FORMAT_WORDS.get(spec.get("format", ""), TYPE_WORDS[spec["type"]])
    if spec.get("minLength"):
        words = "a non-empty string" if spec["minLength"] == 1 else f"{words} of {spec['minLength']}+ characters"
    bounds = [
        f"{op} {spec[k]}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<=")) if k in spec
    ]
    return " ".join([words, *bounds])


def shown(value: Any, width: int = 80) -> str:
    """A parameter value as JSON text cut to ``width``, encoded lazily: a YAML alias bomb or a recursive value
    (``&a [*a]``) costs no more."""
    text = ""
    for chunk in json.JSONEncoder(ensure_ascii=False, check_circular=False, default=str).iterencode(value):
        text += chunk
        if len(text) > width:
            break
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= width else text[: width - 3] + "..."


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
    areas: tuple[str, ...] = ()
    covers: str = ""  # what the evidence covers, path by path
    blind_spots: str = ""  # what the claim cannot see (e.g. cloud firewall rules)


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
    views_file: str = ""  # the file views_sql was read from (for file:line in messages)
    parameters: dict[str, Any] = field(default_factory=dict)  # name -> default value
    parameter_types: dict[str, ParameterType] = field(default_factory=dict)  # name -> the values it takes
    freshness: dict[str, str] = field(default_factory=dict)  # source -> duration (30d, 12h, 90m)
    inventories: dict[str, str] = field(default_factory=dict)  # name -> SQL
    materialize_views: bool = False  # views created as temporary tables (see PACK_SCHEMA)

    def check_parameter(self, name: str, value: Any) -> None:
        """Raise PackError, naming the parameter, this pack, the type and the value, unless ``value`` is of the
        declared type of parameter ``name``."""
        declared = self.parameter_types[name]
        if not declared.accepts(value):
            raise PackError(f"parameter {name} of pack {self.id} expects {declared.words}, got {shown(value)}")

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + self.files[name] + b"\0")
        return h.hexdigest()


@dataclass(frozen=True)
class Settings:
    """How packs are evaluated: parameter overrides (applied to every pack defining the name), claims switched
    on that are disabled by default (``pack/claim``), the instant judged (default: the latest run's end),
    waivers, and the scope of an incident export."""

    parameters: dict[str, Any] = field(default_factory=dict)
    enable: frozenset[str] = frozenset()
    as_of: datetime | None = None
    waivers: tuple[Waiver, ...] = ()
    scope: Scope | None = None
    freshness: dict[str, str] = field(default_factory=dict)  # source -> duration, overriding every pack's

    def freshness_for(self, pack: Pack) -> dict[str, str]:
        """The pack's freshness, with this override applied (it may also name sources the pack does not)."""
        return {**pack.freshness, **self.freshness}

    def validate(self, packs: list[Pack]) -> None:
        """Raise PackError for a parameter no pack defines or of another type than a pack declares, and for a
        claim to enable that no pack has."""
        known = {name for pack in packs for name in pack.parameters}
        unknown = sorted(set(self.parameters) - known)
        if unknown:
            raise PackError(f"no pack defines parameter {', '.join(unknown)} (parameters: {', '.join(sorted(known))})")
        for pack in packs:
            self.parameters_for(pack)
        claims = {f"{pack.id}/{claim.id}" for pack in packs for claim in pack.claims}
        missing = sorted(self.enable - claims)
        if missing:
            raise PackError(f"no claim {', '.join(missing)} to enable (use PACK/CLAIM)")

    def parameters_for(self, pack: Pack) -> dict[str, Any]:
        """The pack's parameters, each given value checked against its declared type (PackError if not); an
        incident scope's window sets ``window_since``/``window_until`` unless given."""
        for name in self.parameters.keys() & pack.parameters.keys():
            pack.check_parameter(name, self.parameters[name])
        window = self.scope.window_parameters() if self.scope else {}
        return {name: self.parameters.get(name, window.get(name, default)) for name, default in pack.parameters.items()}

    def changed_parameters(self, pack: Pack) -> dict[str, dict[str, Any]]:
        """The pack's parameters judged with another value than their default: name -> value and default."""
        return {
            name: {"value": value, "default": pack.parameters[name]}
            for name, value in self.parameters_for(pack).items()
            if value != pack.parameters[name]
        }

    def enabled(self, pack: Pack, claim: Claim) -> bool:
        return claim.enabled or f"{pack.id}/{claim.id}" in self.enable


DEFAULT_SETTINGS = Settings()


@dataclass
class ClaimResult:
    claim: Claim
    verdict: str
    reason: str
    evidence: QueryResult = field(default_factory=lambda: QueryResult([], []))
    gaps: QueryResult = field(default_factory=lambda: QueryResult([], []))
    waived: dict[int, Waiver] = field(default_factory=dict)  # gap row index -> the waiver that waives it
    expired_waivers: list[Waiver] = field(default_factory=list)  # would have waived rows, had they not expired
    clusters: dict[str, tuple[str, str]] = field(default_factory=dict)  # cluster -> (verdict, reason) on its rows


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
        doc = load(raw.decode("utf-8"), str(pack_file), TextTimesLoader)  # an unquoted time stays text
    except UnicodeDecodeError as exc:
        raise PackError(f"{pack_file}: not UTF-8 text (byte {exc.start})") from None
    except InputError as exc:
        raise PackError(str(exc)) from None
    errors = sorted(jsonschema.Draft202012Validator(PACK_SCHEMA).iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        raise PackError(f"{pack_file}: {_locate(doc, errors[0])}: {errors[0].message}")
    seen: set[str] = set()
    texts: dict[str, bytes] = {"pack.yaml": raw}

    def read_sql(name: str, where: str) -> str:
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
                evidence_sql=read_sql(c["evidence"], f"claim {c['id']!r}"),
                gaps_sql=read_sql(c["gaps"], f"claim {c['id']!r}"),
                enabled=c.get("enabled", True),
                areas=tuple(c.get("areas", [])),
                covers=" ".join(c.get("covers", "").split()),
                blind_spots=" ".join(c.get("blind_spots", "").split()),
            )
        )
    views_sql = read_sql(doc["views"], "views") if "views" in doc else ""
    declared = doc.get("parameters", {})
    types = {
        name: ParameterType({k: v for k, v in p.items() if k not in ("default", "description")})
        for name, p in declared.items()
    }
    for name, p in declared.items():
        if not types[name].accepts(p["default"]):
            raise PackError(
                f"{pack_file}: parameter {name!r}: default {shown(p['default'])} is not {types[name].words}"
            )
    inventories = {name: read_sql(file, f"inventory {name!r}") for name, file in doc.get("inventories", {}).items()}
    pack = Pack(
        id=doc["id"],
        title=doc["title"],
        version=doc["version"],
        description=" ".join(doc.get("description", "").split()),
        directory=directory,
        files=dict(sorted(texts.items())),
        views_sql=views_sql,
        claims=tuple(claims),
        views_file=doc.get("views", ""),
        parameters={name: p["default"] for name, p in declared.items()},
        parameter_types=types,
        freshness=dict(doc.get("freshness", {})),
        inventories=inventories,
        materialize_views=doc.get("materialize_views", False),
    )
    if "as_of" in pack.parameters:
        raise PackError(f"{pack_file}: parameter 'as_of' is reserved (the instant judged, set by the engine)")
    return pack


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
    at, views_errors = prepare_pack(store, pack, settings)
    remote = engine_results(store, pack, settings.parameters_for(pack))
    results = []
    for claim in pack.claims:
        if not settings.enabled(pack, claim):
            continue
        missing = _missing_requirements(store, claim)
        if missing:
            results.append(ClaimResult(claim, "no-evidence", missing))
            continue
        try:
            if remote is not None:
                gaps, evidence = remote.get(claim.id) or (f"no result of claim {claim.id} from the engine", "")
            else:
                gaps, evidence = run_query(store.con, claim.gaps_sql), run_query(store.con, claim.evidence_sql)
        except duckdb.Error as exc:
            sql = claim.evidence_sql + claim.gaps_sql
            reason = f"query failed: {exc}" + "".join(f"; {e}" for view, e in views_errors.items() if view in sql)
            results.append(ClaimResult(claim, "error", reason))
            continue
        if isinstance(gaps, str) or isinstance(evidence, str):
            results.append(ClaimResult(claim, "error", gaps if isinstance(gaps, str) else str(evidence)))
            continue
        if settings.scope:
            evidence, gaps = settings.scope.select(evidence), settings.scope.select(gaps)
        result = judge(pack, claim, evidence, gaps, settings, at)
        for cluster, (cluster_evidence, cluster_gaps) in by_cluster(evidence, gaps).items():
            alone = judge(pack, claim, cluster_evidence, cluster_gaps, settings, at)
            result.clusters[cluster] = (alone.verdict, alone.reason)
        results.append(result)
    return results


def prepare_pack(store: Store, pack: Pack, settings: Settings = DEFAULT_SETTINGS) -> tuple[datetime, dict[str, str]]:
    """Set the pack's parameters and the instant judged as DuckDB variables and create its views in the session,
    as the claims read them; return (the instant, why each view that could not be created failed, by name)."""
    parameters = settings.parameters_for(pack)  # each of its declared type, before any SQL runs
    at = evaluation_time(store, settings)
    store.con.execute("SET VARIABLE as_of = ?", [at])
    for name, value in parameters.items():
        store.con.execute(f"SET VARIABLE {name} = ?", [value])
    errors = {v.name: f"view of pack {pack.id!r} failed: {v.error}" for v in create_views(store.con, pack) if v.error}
    return at, errors


def by_cluster(evidence: QueryResult, gaps: QueryResult) -> dict[str, tuple[QueryResult, QueryResult]]:
    """Each cluster's evidence and gap rows, for claims whose rows name their cluster (multi-cluster stores)."""
    if "cluster" not in evidence.columns and "cluster" not in gaps.columns:
        return {}

    def rows_of(result: QueryResult, cluster: str) -> QueryResult:
        if "cluster" not in result.columns:
            return QueryResult(result.columns, [])
        i = result.columns.index("cluster")
        return QueryResult(result.columns, [row for row in result.rows if row[i] == cluster])

    named = [row[q.columns.index("cluster")] for q in (evidence, gaps) if "cluster" in q.columns for row in q.rows]
    names = {name for name in named if name is not None}
    return {name: (rows_of(evidence, name), rows_of(gaps, name)) for name in sorted(names)}


def evaluation_time(store: Store, settings: Settings) -> datetime:
    """The instant judged: given, else the end of the latest collection run, else now."""
    if settings.as_of:
        return settings.as_of
    row = store.con.execute("SELECT max(finished_at) FROM runs").fetchone() if store.has_table("runs") else None
    return row[0] if row and row[0] else datetime.now(UTC)


def judge(
    pack: Pack, claim: Claim, evidence: QueryResult, gaps: QueryResult, settings: Settings, at: datetime
) -> ClaimResult:
    """The verdict of a claim from its rows, its waivers and the freshness of its evidence."""
    mine = [w for w in settings.waivers if w.claim == f"{pack.id}/{claim.id}"]
    rows = [dict(zip(gaps.columns, row, strict=True)) for row in gaps.rows]
    active = [w for w in mine if w.active(at)]
    waived = {i: w for i, row in enumerate(rows) if (w := next((w for w in active if w.matches(row)), None))}
    expired = [w for w in mine if not w.active(at) and any(w.matches(row) for row in rows)]
    result = ClaimResult(claim, "", "", evidence, gaps, waived, expired)
    supporting = f"{len(evidence.rows)} supporting row(s)"
    lapsed = "".join(f"; waiver {w.id} expired {w.expires:%Y-%m-%d %H:%M} UTC" for w in expired)
    if len(rows) > len(waived):
        also = f", {len(waived)} waived" if waived else ""
        result.verdict, result.reason = "gap", f"{len(rows) - len(waived)} gap(s){also}; {supporting}{lapsed}"
    elif waived:
        used = set(waived.values())
        by = ", ".join(
            sorted(f"{w.id} by {w.approver} ({w.ticket}, until {w.expires:%Y-%m-%d %H:%M} UTC)" for w in used)
        )
        result.verdict, result.reason = "waived", f"{len(waived)} gap(s) waived: {by}; {supporting}"
    elif not evidence.rows:
        scoped = " in the incident scope" if settings.scope else ""
        result.verdict, result.reason = "no-evidence", f"evidence query returned no rows{scoped}"
    elif old := stale_sources(pack, evidence, at, settings.freshness_for(pack)):
        result.verdict, result.reason = "stale", "; ".join(old)
    else:
        result.verdict, result.reason = "satisfied", f"{supporting}, no gaps"
    return result


def stale_sources(
    pack: Pack, evidence: QueryResult, at: datetime, freshness: dict[str, str] | None = None
) -> list[str]:
    """Sources whose newest evidence row is older than their freshness (default: the pack's)."""
    limits = pack.freshness if freshness is None else freshness
    if not {"source", "collected_at"} <= set(evidence.columns):
        return []
    source, collected = evidence.columns.index("source"), evidence.columns.index("collected_at")
    newest: dict[str, datetime] = {}
    for row in evidence.rows:
        if row[source] in limits and row[collected] is not None:
            newest[row[source]] = max(newest.get(row[source], row[collected]), row[collected])
    return [
        f"{name} evidence collected {when:%Y-%m-%d %H:%M}, older than its freshness {limits[name]}"
        for name, when in sorted(newest.items())
        if at - when > duration(limits[name])
    ]


def duration(text: str) -> timedelta:
    match = DURATION.match(text)
    if not match:
        raise PackError(f"not a duration: {text!r} (use 30d, 12h or 90m)")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})


@dataclass(frozen=True)
class ViewStatement:
    """One statement of a pack's views, as the engine ran it, and why it failed (None: created)."""

    sql: str
    error: str | None

    @property
    def name(self) -> str:
        found = re.search(r"CREATE OR REPLACE TEMP (?:VIEW|TABLE)\s+(\w+)", self.sql)
        return found.group(1) if found else self.sql[:40]


def create_views(con: duckdb.DuckDBPyConnection, pack: Pack) -> list[ViewStatement]:
    """Create the pack's views (as TEMP views, or TEMP tables if the pack materializes them: the claims' variables
    must be set first) one statement at a time, so that a view over evidence not collected fails alone; return
    every statement as run, with its error."""
    done = []
    created_as = "CREATE OR REPLACE TEMP TABLE" if pack.materialize_views else "CREATE OR REPLACE TEMP VIEW"
    for statement in con.extract_statements(pack.views_sql) if pack.views_sql else []:
        sql = statement.query.replace("CREATE VIEW", created_as, 1).strip().rstrip(";")
        try:
            con.execute(sql)
        except duckdb.Error as exc:
            done.append(ViewStatement(sql, str(exc)))
            continue
        done.append(ViewStatement(sql, None))
    return done


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


ENGINE_TYPES: dict[str, Any] = {
    "timestamp": datetime.fromisoformat, "date": date.fromisoformat, "bigint": int, "int": int, "smallint": int,
    "double": float, "float": float, "boolean": bool, "string": str,
}  # fmt: skip


def engine_results(
    store: Store, pack: Pack, parameters: dict[str, Any]
) -> dict[str, tuple[QueryResult | str, QueryResult | str]] | None:
    """The claims of ``pack`` as judged on another engine (Spark) by the latest landed run of a source, when that
    run is its source's latest landed one: claim -> (gaps, evidence), each rows or why there are none. None: the
    pack is judged here."""
    if not store.has_table("engine_results"):
        return None
    row = store.con.execute(
        """
        SELECT e.run_id FROM engine_results e JOIN runs r USING (run_id)
        WHERE e.pack = ? AND r.status IN ('succeeded', 'partial')
          AND r.started_at = (SELECT max(started_at) FROM runs l
                              WHERE l.source = r.source AND l.status IN ('succeeded', 'partial'))
        ORDER BY r.started_at DESC LIMIT 1
        """,
        [pack.id],
    ).fetchone()
    if not row:
        return None
    results = store.con.execute(
        "SELECT claim, query, engine, parameters, columns, error, "
        "(SELECT list(value ORDER BY position) FROM engine_rows w WHERE w.run_id = e.run_id AND w.pack = e.pack "
        " AND w.claim = e.claim AND w.query = e.query) FROM engine_results e WHERE run_id = ? AND pack = ?",
        [row[0], pack.id],
    ).fetchall()
    judged_with = json.loads(json.dumps(parameters, default=str))  # as the engine run stored them
    out: dict[str, dict[str, QueryResult | str]] = {}
    for claim, query, engine, used, columns, error, values in results:
        used = json.loads(used)
        if used != judged_with:
            changed = ", ".join(sorted(k for k in judged_with if used.get(k) != judged_with[k]))
            out.setdefault(claim, {})[query] = f"judged on {engine} with other parameters ({changed}): collect again"
        elif error:
            out.setdefault(claim, {})[query] = error
        else:
            out.setdefault(claim, {})[query] = engine_rows(json.loads(columns), values or [])
    return {claim: (q.get("gaps", "no gaps rows"), q.get("evidence", "no evidence rows")) for claim, q in out.items()}


def engine_rows(columns: list[list[str]], values: list[str]) -> QueryResult:
    """Rows an engine returned (each a JSON array) with their values typed as DuckDB gives them, ordered as
    ``run_query`` orders rows."""
    kinds = [ENGINE_TYPES.get(kind, lambda v: v) for _, kind in columns]
    rows = [
        tuple(None if v is None else cast(v) for v, cast in zip(json.loads(row), kinds, strict=True)) for row in values
    ]
    rows.sort(key=lambda row: tuple((v is None, v) for v in row))
    return QueryResult([name for name, _ in columns], rows)


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> QueryResult:
    """Run a pack query with a total order on its rows, so outputs are deterministic."""
    cur = con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL")
    return QueryResult([d[0] for d in cur.description], cur.fetchall())

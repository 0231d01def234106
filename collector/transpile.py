"""A pack's DuckDB SQL as Spark SQL, through SQLGlot: one SQL for both engines.

Every SQL file of a pack (views and claims) is parsed as DuckDB SQL; its parameters (``getvariable('name')``)
become literals and its macros are inlined. DuckDB constructs SQLGlot leaves to Spark as they are, though Spark
reads them otherwise or not at all, are rewritten here by their DuckDB meaning: ``regexp_full_match``, list
comprehensions, ``json_each``, ``->`` and ``->>`` with a key or a path, ``GLOB``, ``&&`` on lists, ``epoch``,
``epoch_us``, ``epoch_ns``, ``json_object``, ``string_agg(DISTINCT …)``, ``try``. What still does not transpile
(SQLGlot's unsupported constructs, functions Spark does not have) is reported by ``problems`` with its file and
line, when the pack is loaded for Spark, never when it runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ErrorLevel, SqlglotError

from collector.claims import Pack, PackError

# Spark SQL functions SQLGlot may leave as plain calls; any other unknown call is reported.
SPARK_FUNCTIONS = frozenset(
    {
        "array_join", "array_sort", "arrays_overlap", "collect_set", "concat", "filter", "from_json",
        "get_json_object", "listagg", "map", "map_from_arrays", "named_struct", "regexp_replace", "replace", "rlike",
        "size", "split", "split_part", "startswith", "string_agg", "timestamp_seconds", "to_json", "transform",
        "try_cast", "try_parse_json", "unix_micros",
    }
)  # fmt: skip
VIEW_NAME = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\w*\s+)?(?:VIEW|MACRO)\s+(\w+)", re.IGNORECASE)


class DuckDBKeys(DuckDB):
    """DuckDB as it reads ``->>``: a text not starting with ``$`` is one key, dots and all."""

    def to_json_path(self, path: exp.Expr | None) -> exp.Expr | None:
        if isinstance(path, exp.Literal) and path.is_string and not path.this.startswith("$"):
            return path
        return super().to_json_path(path)


@dataclass(frozen=True)
class SparkStatement:
    """One statement of a pack in Spark SQL: a view (``name``) or a claim's query, and where it was written."""

    file: str
    line: int
    name: str
    sql: str


@dataclass(frozen=True)
class SparkPack:
    """A pack in Spark SQL: its views in order, and each claim's gaps and evidence queries."""

    views: tuple[SparkStatement, ...]
    claims: dict[str, tuple[SparkStatement, SparkStatement]]

    @property
    def statements(self) -> list[SparkStatement]:
        return [*self.views, *(s for pair in self.claims.values() for s in pair)]

    @property
    def inputs(self) -> set[str]:
        """The tables the pack's SQL reads: neither one of its views nor a query's common table expressions."""
        names: set[str] = set()
        for s in self.statements:
            tree = sqlglot.parse_one(s.sql, read="spark")
            ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
            names |= {t.name.lower() for t in tree.find_all(exp.Table) if t.name} - ctes
        return names - {v.name.lower() for v in self.views}


class TranspileError(PackError):
    """Some of a pack's SQL does not transpile to Spark; the message lists each construct's file and line."""


def to_spark(pack: Pack, parameters: Mapping[str, Any]) -> SparkPack:
    """The pack in Spark SQL with ``parameters`` as literals; TranspileError lists every construct that does not
    transpile (with file and line)."""
    found: list[str] = []
    macros: dict[str, tuple[list[str], exp.Expression]] = {}
    views = []
    views_file = pack.views_file or "views"
    for line, text in split_statements(pack.views_sql):
        name = (m.group(1) if (m := VIEW_NAME.search(text)) else "") or f"statement at line {line}"
        tree = parse(text, f"{views_file}:{line}", found)
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "MACRO":
            fn = tree.this
            macros[name.lower()] = ([p.name for p in fn.expressions], tree.expression)
            continue
        if tree is not None:
            views.append(statement(views_file, line, name, text, tree, parameters, macros, found))
    claims = {}
    for claim in pack.claims:
        pair = []
        for kind, file, sql in (
            ("gaps", claim.gaps_file, claim.gaps_sql),
            ("evidence", claim.evidence_file, claim.evidence_sql),
        ):
            tree = parse(sql, file, found)
            if tree is not None:
                pair.append(statement(file, 1, f"{claim.id} {kind}", sql, tree, parameters, macros, found))
        if len(pair) == 2:
            claims[claim.id] = (pair[0], pair[1])
    if found:
        raise TranspileError(f"pack {pack.id}: SQL that does not transpile to Spark: " + "; ".join(found))
    return SparkPack(tuple(views), claims)


def transpile_query(sql: str, where: str) -> str:
    """One DuckDB query (no parameters, no macros) in Spark SQL; TranspileError names ``where`` and the line."""
    found: list[str] = []
    tree = parse(sql, where, found)
    spark = "" if tree is None else statement(where, 1, where, sql, tree, {}, {}, found).sql
    if found:
        raise TranspileError(f"{where}: SQL that does not transpile to Spark: " + "; ".join(found))
    return spark


def problems(pack: Pack) -> list[str]:
    """Every construct of the pack's SQL that does not transpile to Spark, as ``file:line: what``."""
    try:
        to_spark(pack, pack.parameters)
    except TranspileError as exc:
        return str(exc).split(": SQL that does not transpile to Spark: ", 1)[1].split("; ")
    return []


def split_statements(sql: str) -> list[tuple[int, str]]:
    """The statements of a views file with the line each starts on (comments kept with the statement after)."""
    out, line, current, start = [], 1, [], 1
    for raw in sql.splitlines(keepends=True):
        if not "".join(current).strip():
            start = line
        code, dashes, comment = raw.partition("--")
        if code.rstrip().endswith(";"):  # the statement's end: its semicolon dropped, a comment after it kept
            current.append(code.rstrip().rstrip(";") + (f" {dashes}{comment}" if dashes else "\n"))
            out.append((start, "".join(current).strip()))
            current = []
        else:
            current.append(raw)
        line += 1
    if "".join(current).strip():
        out.append((start, "".join(current).strip().rstrip(";")))
    return [(n, text) for n, text in out if strip_comments(text)]


def strip_comments(text: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines()).strip()


def parse(text: str, where: str, found: list[str]) -> exp.Expression | None:
    try:
        return sqlglot.parse_one(text, read=DuckDBKeys)
    except SqlglotError as exc:
        found.append(f"{where}: not parsed: {str(exc).splitlines()[0]}")
        return None


def statement(
    file: str,
    line: int,
    name: str,
    text: str,
    tree: exp.Expression,
    parameters: Mapping[str, Any],
    macros: Mapping[str, tuple[list[str], exp.Expression]],
    found: list[str],
) -> SparkStatement:
    """One statement rewritten and generated as Spark SQL; what does not transpile is added to ``found``."""

    def where(construct: str) -> str:
        return f"{file}:{line + line_of(text, construct)}"

    tree = tree.transform(lambda node: substitute(node, parameters, macros, where, found))
    tree = bottom_up(tree, rewrite)
    tree = move_json_each(tree)
    for call in tree.find_all(exp.Anonymous):
        if call.name.lower() not in SPARK_FUNCTIONS:
            found.append(f"{where(call.name)}: function {call.name}() has no Spark equivalent")
    for star in tree.find_all(exp.Star):  # SQLGlot writes them for Spark, which does not read them
        for modifier in ("ilike", "except_", "replace", "rename"):
            if star.args.get(modifier):
                word = {"except_": "EXCLUDE"}.get(modifier, modifier.upper())
                found.append(f"{where(word)}: SELECT * {word} has no Spark equivalent: name the columns")
    if isinstance(tree, exp.Create):
        tree = tree.expression  # the view's query: the engine names the view
    try:
        sql = tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
        sqlglot.parse_one(sql, read="spark")  # what SQLGlot wrote Spark must read
    except SqlglotError as exc:
        found.append(f"{file}:{line}: {str(exc).strip().splitlines()[0]}")
        sql = ""
    return SparkStatement(file, line, name, sql)


def bottom_up(tree: exp.Expression, fun: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """``tree`` with ``fun`` applied to every node, children before their parent."""
    for node in reversed(list(tree.walk())):
        new = fun(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def line_of(text: str, construct: str) -> int:
    """Lines from the start of ``text`` to the first mention of ``construct`` (0 when not found)."""
    at = text.lower().find(construct.lower())
    return text.count("\n", 0, at) if at >= 0 else 0


def literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, list):
        return exp.Array(expressions=[literal(v) for v in value])
    return exp.Literal.string(str(value))


def substitute(
    node: exp.Expression,
    parameters: Mapping[str, Any],
    macros: Mapping[str, tuple[list[str], exp.Expression]],
    where: Callable[[str], str],
    found: list[str],
) -> exp.Expression:
    """``getvariable('name')`` as the parameter's literal; a macro call as the macro's body."""
    if not isinstance(node, exp.Anonymous):
        return node
    name = node.name.lower()
    if name == "getvariable":
        key = node.expressions[0].name if node.expressions else ""
        if key not in parameters:
            found.append(f"{where('getvariable')}: getvariable({key!r}) names no parameter of the pack")
            return node
        return literal(parameters[key])
    if name in macros:
        names, body = macros[name]
        args = dict(zip(names, node.expressions, strict=False))
        return body.copy().transform(
            lambda n: args[n.name].copy() if isinstance(n, exp.Column) and not n.table and n.name in args else n
        )
    return node


def spark_call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


POSIX_CLASS = re.compile(r"\[:(alnum|alpha|blank|cntrl|digit|graph|lower|print|punct|space|upper|xdigit):\]")
REGEX_NODES = (exp.RegexpFullMatch, exp.RegexpLike, exp.RegexpReplace, exp.RegexpExtract)


def rewrite(node: exp.Expression) -> exp.Expression:
    """DuckDB constructs by their DuckDB meaning, in what Spark reads the same."""
    if isinstance(node, REGEX_NODES):
        node.set("expression", java_regex(node.expression))
    if isinstance(node, exp.RegexpFullMatch):  # Java regex: anchor the whole pattern
        pattern = exp.DPipe(
            this=exp.Literal.string("^(?:"),
            expression=exp.DPipe(this=node.expression, expression=exp.Literal.string(")$")),
        )
        return exp.RegexpLike(this=node.this, expression=pattern)
    if (
        isinstance(node, exp.Array)
        and len(node.expressions) == 1
        and isinstance(node.expressions[0], exp.Comprehension)
    ):
        return comprehension(node.expressions[0])
    if isinstance(node, exp.JSONExtract | exp.JSONExtractScalar):  # ->, ->>: an object's JSON text, a value's text
        return spark_call("get_json_object", node.this, json_path(node.expression))
    if isinstance(node, exp.Glob):  # glob: * any run, ? one character, the rest literal
        escaped = spark_call(
            "regexp_replace", node.expression, exp.Literal.string(r"([\\.+(){}^$|\[\]])"), exp.Literal.string(r"\\$1")
        )
        star = spark_call("replace", escaped, exp.Literal.string("*"), exp.Literal.string(".*"))
        regex = spark_call("replace", star, exp.Literal.string("?"), exp.Literal.string("."))
        anchored = spark_call("concat", exp.Literal.string("^"), regex, exp.Literal.string("$"))
        return exp.RegexpLike(this=node.this, expression=anchored)
    if isinstance(node, exp.FromJson) and isinstance(node.expression, exp.Literal):  # DuckDB's JSON structure
        try:
            ddl = spark_type(json.loads(node.expression.this))
        except ValueError:
            return node
        # NULL for text that is no JSON, as DuckDB (Spark's from_json gives a struct of NULLs)
        parsed = spark_call("from_json", node.this, exp.Literal.string(ddl))
        valid = exp.Not(this=exp.Is(this=spark_call("try_parse_json", node.this.copy()), expression=exp.null()))
        return exp.If(this=valid, true=parsed, false=exp.null())
    if isinstance(node, exp.Anonymous) and node.name.lower() in EPOCH_UNITS:  # a timestamp in whole units
        micros = spark_call("unix_micros", *node.expressions)
        scale = EPOCH_UNITS[node.name.lower()]
        return exp.Mul(this=micros, expression=exp.Literal.number(scale)) if scale != 1 else micros
    if isinstance(node, exp.Anonymous) and node.name.lower() == "json_valid":
        return exp.Not(this=exp.Is(this=spark_call("try_parse_json", *node.expressions), expression=exp.null()))
    if isinstance(node, exp.RegexpExtract) and isinstance(node.args.get("group"), exp.Array):
        # DuckDB's regexp_extract(text, pattern, [names]): a struct of the named groups
        fields = []
        for i, name in enumerate(node.args["group"].expressions, start=1):
            group = exp.RegexpExtract(
                this=node.this.copy(), expression=node.expression.copy(), group=exp.Literal.number(i)
            )
            fields += [name.copy(), group]
        return spark_call("named_struct", *fields)
    if isinstance(node, exp.ToMap):  # MAP {k: v, …}, or MAP {…}[key] which SQLGlot reads as MAP ({…}[key])
        inner = node.this
        key = inner.expressions[0] if isinstance(inner, exp.Bracket) else None
        struct = inner.this if isinstance(inner, exp.Bracket) else inner
        if not isinstance(struct, exp.Struct) or not all(isinstance(e, exp.PropertyEQ) for e in struct.expressions):
            return node
        pairs = [part.copy() for e in struct.expressions for part in (e.this, e.expression)]
        as_map = spark_call("map", *pairs)
        return exp.Bracket(this=as_map, expressions=[key]) if key is not None else as_map
    if isinstance(node, exp.JSONObject) and all(isinstance(e, exp.JSONKeyValue) for e in node.expressions):
        # DuckDB's json_object(k, v, …): JSON text keeping NULL values, as Spark's to_json of a struct
        fields = [part.copy() for e in node.expressions for part in (e.this, e.expression)]
        keep_nulls = spark_call("map", exp.Literal.string("ignoreNullFields"), exp.Literal.string("false"))
        return spark_call("to_json", spark_call("named_struct", *fields), keep_nulls)
    if isinstance(node, exp.GroupConcat) and (distinct := distinct_in_order(node.this)) is not None:
        # string_agg(DISTINCT x, sep [ORDER BY x]): the distinct values sorted, as Spark's collect_set (Spark's
        # listagg(DISTINCT …) WITHIN GROUP fails beside another DISTINCT aggregate)
        values = spark_call("array_sort", spark_call("collect_set", distinct))
        return spark_call("array_join", values, node.args.get("separator") or exp.Literal.string(","))
    if isinstance(node, exp.ArrayOverlaps):
        return spark_call("arrays_overlap", node.this, node.expression)
    if isinstance(node, exp.TimeToUnix):  # DuckDB's epoch keeps the fraction of a second
        return exp.Div(this=spark_call("unix_micros", node.this), expression=exp.Literal.number("1e6"))
    if isinstance(node, exp.Try):  # the Spark session runs without ANSI mode: a failing cast or call gives NULL
        inner = node.this
        return exp.TryCast(this=inner.this, to=inner.args["to"]) if isinstance(inner, exp.Cast) else inner
    return node


EPOCH_UNITS = {"epoch_us": 1, "epoch_ns": 1000}  # DuckDB's epoch_us/epoch_ns as microseconds times this
SPARK_TYPES = {
    "VARCHAR": "string",
    "JSON": "string",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "BOOLEAN": "boolean",
    "DOUBLE": "double",
    "TIMESTAMPTZ": "timestamp",
    "TIMESTAMP": "timestamp",
}


def spark_type(structure: Any) -> str:
    """A DuckDB ``from_json`` structure (``{"a": "VARCHAR", "b": ["INTEGER"]}``) as a Spark DDL type; a JSON
    field read as text keeps nested JSON as text on both."""
    if isinstance(structure, dict):
        return "struct<" + ",".join(f"`{k}`:{spark_type(v)}" for k, v in structure.items()) + ">"
    if isinstance(structure, list):
        return f"array<{spark_type(structure[0])}>"
    return SPARK_TYPES[str(structure).upper()]


def distinct_in_order(arg: exp.Expression) -> exp.Expression | None:
    """``x`` of ``DISTINCT x`` or ``DISTINCT x ORDER BY x`` (ascending); None for anything else."""
    order = arg if isinstance(arg, exp.Order) else None
    distinct = order.this if order is not None else arg
    if not isinstance(distinct, exp.Distinct) or len(distinct.expressions) != 1:
        return None
    value = distinct.expressions[0]
    if order is not None and [(o.this, bool(o.args.get("desc"))) for o in order.expressions] != [(value, False)]:
        return None
    return value


def java_regex(pattern: exp.Expression) -> exp.Expression:
    """RE2's POSIX classes (``[[:space:]]``) in the pattern's literals as Java's (``[\\p{Space}]``)."""
    return pattern.transform(
        lambda n: (
            exp.Literal.string(POSIX_CLASS.sub(lambda m: r"\p{" + m.group(1).capitalize() + "}", n.this))
            if isinstance(n, exp.Literal) and n.is_string
            else n
        )
    )


def comprehension(c: exp.Comprehension) -> exp.Expression:
    """``[expr FOR x IN list IF cond]`` as ``transform(filter(list, x -> cond), x -> expr)``."""
    var = c.expression
    items: exp.Expression = c.args["iterator"]
    if c.args.get("condition") is not None:
        items = spark_call("filter", items, exp.Lambda(this=c.args["condition"], expressions=[var]))
    if isinstance(c.this, exp.Column) and c.this.name == var.name and not c.this.table:
        return items
    return spark_call("transform", items, exp.Lambda(this=c.this, expressions=[var]))


def json_path(path: exp.Expression) -> exp.Expression:
    """A DuckDB JSON path or key (``->>``, ``json_extract_string``) as a Spark ``get_json_object`` path: a text
    starting with ``$`` is a path (quoted keys become ``['key']``), any other a key."""
    if isinstance(path, exp.JSONPath):
        parts = ["$"]
        for p in path.expressions:
            if isinstance(p, exp.JSONPathKey):
                parts.append(f"['{p.this}']")
            elif isinstance(p, exp.JSONPathSubscript):
                parts.append(f"[{p.this}]")
        return exp.Literal.string("".join(parts))
    if isinstance(path, exp.Literal) and path.is_string:
        text = path.this
        return exp.Literal.string(re.sub(r'\."([^"]*)"', r"['\1']", text) if text.startswith("$") else f"$['{text}']")
    as_path = spark_call("regexp_replace", path, exp.Literal.string(r'\."([^"]*)"'), exp.Literal.string("['$1']"))
    as_key = spark_call("concat", exp.Literal.string("$['"), path, exp.Literal.string("']"))
    return exp.If(this=spark_call("startswith", path, exp.Literal.string("$")), true=as_path, false=as_key)


def move_json_each(tree: exp.Expression) -> exp.Expression:
    """``FROM t, json_each(t.doc) AS d`` as ``LATERAL VIEW explode(from_json(t.doc, 'map<string,string>')) d AS
    key, value``: each top-level key with its value as text (``d.value->>'$'`` is then the value itself)."""
    for select in tree.find_all(exp.Select):
        joins = select.args.get("joins") or []
        moved = []
        for join in list(joins):
            table = join.this
            call = table.this if isinstance(table, exp.Table) else None
            if isinstance(call, exp.Anonymous) and call.name.lower() == "json_each":
                doc = spark_call("from_json", call.expressions[0], exp.Literal.string("map<string,string>"))
                alias = table.alias or "json_each"
                moved.append(
                    exp.Lateral(
                        this=exp.Explode(this=doc),
                        view=True,
                        alias=exp.TableAlias(
                            this=exp.to_identifier(alias),
                            columns=[exp.to_identifier("key"), exp.to_identifier("value")],
                        ),
                    )
                )
                joins.remove(join)
                for ref in select.find_all(exp.Column):
                    if ref.table == alias and ref.name == "value":
                        parent = ref.parent
                        if isinstance(parent, exp.Anonymous) and parent.name == "get_json_object":
                            parent.replace(ref.copy())
            elif moved and isinstance(table, exp.Unnest):  # later lateral joins keep their order
                moved.append(unnest_as_lateral(table))
                joins.remove(join)
        if moved:
            select.set("joins", joins)
            select.set("laterals", [*(select.args.get("laterals") or []), *moved])
    return tree


def unnest_as_lateral(unnest: exp.Unnest) -> exp.Lateral:
    alias = unnest.args["alias"]
    return exp.Lateral(
        this=exp.Explode(this=unnest.expressions[0]),
        view=True,
        alias=exp.TableAlias(this=alias.this, columns=alias.columns),
    )

"""The packs' DuckDB SQL as Spark SQL: what transpiles, and what is reported with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write

from collector.claims import load_pack, resolve_pack
from collector.transpile import TranspileError, problems, to_spark, transpile_query

PACK = """
id: tiny
title: Tiny
version: 1
views: views.sql
inventories: {a: a.inventory.sql}  # listed before views.sql among the pack's files
parameters:
  label: {type: string, default: a=b, description: a label}
claims:
  - {id: one, title: One, statement: s, evidence: one.evidence.sql, gaps: one.gaps.sql, requires: {tables: [t]}}
"""


def tiny_pack(tmp_path: Path, views: str, gaps: str = "SELECT 1 AS x") -> Path:
    write(tmp_path / "pack.yaml", PACK)
    write(tmp_path / "views.sql", views)
    write(tmp_path / "one.gaps.sql", gaps)
    write(tmp_path / "one.evidence.sql", "SELECT 1 AS x")
    write(tmp_path / "a.inventory.sql", "SELECT 1 AS x")
    return tmp_path


def test_every_sql_file_of_the_logs_pack_transpiles() -> None:
    pack = load_pack(resolve_pack("logs"))
    spark = to_spark(pack, pack.parameters)  # raises TranspileError listing what does not transpile
    assert {s.file for s in spark.statements} == {
        "views.sql",
        *(f for c in pack.claims for f in (c.gaps_file, c.evidence_file)),
    }
    text = " ".join(s.sql for s in spark.statements)
    assert "getvariable" not in text.lower() and "logs_ipv4_int" not in text.lower()  # literals, macro inlined
    assert "'defensible.io/regulated=true'" in text
    assert spark.inputs >= {"flows", "k8s_current", "public_suffixes", "log_retention", "runs"}  # sent or read
    assert not spark.inputs & {v.name for v in spark.views}


def test_what_does_not_transpile_is_reported_with_file_and_line(tmp_path: Path) -> None:
    views = (
        "CREATE VIEW u AS SELECT 1 AS a;  -- ends here\n"
        "-- a view\nCREATE VIEW v AS\nSELECT 1 AS a,\n       no_such_function(2) AS b;\n"
    )
    pack = load_pack(tiny_pack(tmp_path, views, gaps="SELECT getvariable('nope') AS x"))
    found = problems(pack)
    assert "views.sql:5: function no_such_function() has no Spark equivalent" in found
    assert "one.gaps.sql:1: getvariable('nope') names no parameter of the pack" in found
    with pytest.raises(TranspileError, match=r"q:2: SELECT \* REPLACE has no Spark equivalent"):
        transpile_query("SELECT 1 AS x,\n  * REPLACE (lower(a) AS a) FROM t", "q")
    with pytest.raises(TranspileError, match=r"views\.sql:5"):
        to_spark(pack, pack.parameters)


@pytest.mark.parametrize(
    ("duckdb", "spark"),
    [
        ("SELECT regexp_full_match(a, 'x+')", "SELECT a RLIKE '^(?:' || 'x+' || ')$'"),
        ("SELECT [l FOR l IN xs IF l LIKE 'a%']", "SELECT FILTER(xs, l -> l LIKE 'a%')"),
        (
            "SELECT a GLOB b",
            r"SELECT a RLIKE CONCAT('^', REPLACE(REPLACE(REGEXP_REPLACE(b, '([\\\\.+(){}^$|\\[\\]])', "
            r"'\\\\$1'), '*', '.*'), '?', '.'), '$')",
        ),
        ("SELECT epoch(ts)", "SELECT UNIX_MICROS(ts) / 1e6"),
        (  # DuckDB: a text not starting with $ is one key
            "SELECT labels->>'k.io/x', d->>'$.\"a.b\".c'",
            "SELECT GET_JSON_OBJECT(labels, '$[\\'k.io/x\\']'), GET_JSON_OBJECT(d, '$[\\'a.b\\'][\\'c\\']')",
        ),
        ("SELECT list_has_any(a, ['x'])", "SELECT ARRAYS_OVERLAP(a, ARRAY('x'))"),
        ("SELECT regexp_matches(a, '[[:space:]]')", "SELECT a RLIKE '[\\\\p{Space}]'"),
        ("SELECT MAP {'1': 'a'}[k]", "SELECT MAP('1', 'a')[k]"),
        ("SELECT epoch_us(ts) // 60, epoch_ns(ts)", "SELECT UNIX_MICROS(ts) DIV 60, UNIX_MICROS(ts) * 1000"),
        (  # Spark would read 'k': v as a parameter marker; DuckDB keeps NULL values
            "SELECT json_object('k.io/n', name)",
            "SELECT TO_JSON(NAMED_STRUCT('k.io/n', name), MAP('ignoreNullFields', 'false'))",
        ),
        ("SELECT spec->'a.b'->'c'", "SELECT GET_JSON_OBJECT(GET_JSON_OBJECT(spec, '$[\\'a.b\\']'), '$[\\'c\\']')"),
        (  # Spark's listagg(DISTINCT …) fails beside another DISTINCT aggregate
            "SELECT count(DISTINCT o), string_agg(DISTINCT f, ', ' ORDER BY f) FROM t",
            "SELECT COUNT(DISTINCT o), ARRAY_JOIN(ARRAY_SORT(COLLECT_SET(f)), ', ') FROM t",
        ),
        (  # ordered by something else: kept as it is
            "SELECT string_agg(DISTINCT f, ', ' ORDER BY g) FROM t",
            "SELECT LISTAGG(DISTINCT f, ', ') WITHIN GROUP (ORDER BY g NULLS LAST) FROM t",
        ),
    ],
)
def test_duckdb_constructs_keep_their_meaning(duckdb: str, spark: str) -> None:
    assert transpile_query(duckdb, "test") == spark

"""`query` and `shell` only read: every statement that could write is refused before it runs, and the store is
opened locked (no file but the store, no extension, settings locked), so that no SELECT writes either."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from collector.cli import main
from collector.store import Store

# Every kind of statement that writes (a file, the store, another database, the session or its settings),
# hidden in comments, odd case and after a harmless statement too. Each is refused, naming its type.
WRITES = {
    "COPY t TO 'out.csv'": "COPY",
    "COPY (SELECT * FROM t) TO 'out.parquet' (FORMAT parquet)": "COPY",
    "COPY t FROM 'in.csv'": "COPY",
    "COPY FROM DATABASE evidence TO other": "PRAGMA",
    "EXPORT DATABASE 'exported'": "EXPORT",
    "ATTACH 'other.duckdb' AS other": "ATTACH",
    "ATTACH 'other.duckdb' AS other (READ_WRITE)": "ATTACH",
    "DETACH evidence": "DETACH",
    "CREATE TABLE x AS SELECT 1 AS a": "CREATE",
    "CREATE TEMP TABLE x (a INT)": "CREATE",
    "CREATE OR REPLACE TEMP VIEW v AS SELECT 1": "CREATE",
    "CREATE MACRO m(x) AS x + 1": "CREATE",
    "CREATE TEMP MACRO m(x) AS x + 1": "CREATE",
    "CREATE SEQUENCE s": "CREATE",
    "CREATE SECRET (TYPE s3, KEY_ID 'k', SECRET 's')": "CREATE",
    "CREATE PERSISTENT SECRET keep (TYPE s3, KEY_ID 'k', SECRET 's')": "CREATE",
    "INSERT INTO t VALUES (2, 'x')": "INSERT",
    "UPDATE t SET a = 3": "UPDATE",
    "DELETE FROM t": "DELETE",
    "DROP TABLE t": "DROP",
    "ALTER TABLE t ADD COLUMN c INT": "ALTER",
    "INSTALL httpfs": "LOAD",
    "FORCE INSTALL httpfs": "LOAD",
    "LOAD httpfs": "LOAD",
    "SET enable_external_access = true": "SET",
    "SET temp_directory = 'spill'": "SET",
    "SET VARIABLE x = 1": "SET",
    "RESET threads": "SET",
    "USE memory": "SET",
    "PRAGMA enable_profiling": "PRAGMA",
    "PRAGMA profiling_output = 'profile.json'": "SET",
    "CHECKPOINT": "CALL",
    "FORCE CHECKPOINT": "CALL",
    "CALL pragma_version()": "CALL",
    "VACUUM": "VACUUM",
    "ANALYZE": "VACUUM",
    "BEGIN TRANSACTION": "TRANSACTION",
    "PREPARE p AS SELECT 1": "PREPARE",
    "PIVOT t ON a": "MULTI",
    "EXPLAIN ANALYZE COPY t TO 'explained.csv'": "EXPLAIN of a COPY",
    "EXPLAIN (FORMAT json) /* ( */ COPY t TO 'explained.csv'": "EXPLAIN of a COPY",
    "EXPLAIN ANALYZE CREATE TEMP TABLE x AS SELECT 1": "EXPLAIN of a CREATE",
    "SELECT 1 AS a; COPY t TO 'second.csv'": "COPY",  # statement 2
    "/* SELECT */ CoPy t To 'hidden.csv'": "COPY",
    "-- SELECT 1\nexport database 'hidden'": "EXPORT",
    "SeLeCt 1;\n\tiNsErT /* ; */ InTo t VaLuEs (9, ';')": "INSERT",
}

# SELECTs that try to reach a file, a URL or the environment: DuckDB refuses them on the locked connection.
REACHING = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('evidence.duckdb')",
    "SELECT * FROM read_blob('evidence.duckdb.artifacts/**')",
    "SELECT * FROM glob('*')",
    "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    "SELECT * FROM duckdb_secrets()",
    "SELECT getenv('HOME')",
    "SELECT * FROM query('COPY t TO ''q.csv''')",
]

READS = {
    "SELECT a FROM t ORDER BY a": "a\n1\n",
    "FROM t SELECT b": "b\none\n",
    "WITH w AS (SELECT 41 AS n) SELECT n + 1 AS n FROM w": "n\n42\n",
    "VALUES (7)": "col0\n7\n",
    "TABLE t": "a,b\n1,one\n",
    "DESCRIBE t": None,
    "SHOW TABLES": None,
    "SUMMARIZE t": None,
    "PIVOT t ON a IN (1) USING first(b)": "1\none\n",
    "SELECT 1 AS a; SELECT 2 AS b": "b\n2\n",
    "EXPLAIN SELECT * FROM t": None,
    "EXPLAIN ANALYZE SELECT * FROM t": None,
    "EXPLAIN (FORMAT json) SELECT * FROM t": None,
    "EXPLAIN ANALYZE (SELECT 1)": None,
    "SELECT * FROM pragma_version()": None,
}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with one table and one artifact; the working directory and $HOME (DuckDB's extension and secret
    directories) are inside tmp_path, so that any file written lands there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "in.csv").write_text("a,b\n5,five\n")
    path = tmp_path / "evidence.duckdb"
    with Store.open(path) as st:
        st.con.execute("CREATE TABLE t AS SELECT 1 AS a, 'one' AS b")
        st.put_artifact(b"raw evidence")
    return path


def snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under ``root`` with the sha256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


@pytest.mark.parametrize("sql", WRITES)
def test_query_refuses_every_statement_that_writes(store: Path, sql: str) -> None:
    before = snapshot(store.parent)
    result = run("query", "--store", str(store), "--", sql)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: refused statement ") and f" {WRITES[sql]} statement" in result.stderr
    assert "read-only" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(store.parent) == before


@pytest.mark.parametrize("sql", REACHING)
def test_query_reaches_no_file_url_or_environment(store: Path, sql: str) -> None:
    before = snapshot(store.parent)
    result = run("query", "--store", str(store), "--", sql)
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert snapshot(store.parent) == before


@pytest.mark.parametrize("sql", READS)
def test_query_runs_statements_that_read(store: Path, sql: str) -> None:
    before = snapshot(store.parent)
    result = run("query", "--format", "csv", "--store", str(store), "--", sql)
    assert result.exit_code == 0 and result.stderr == "", result.output
    assert result.stdout == READS[sql] if READS[sql] else result.stdout
    assert snapshot(store.parent) == before


def test_shell_script_refuses_writes_and_runs_reads(store: Path) -> None:
    before = snapshot(store.parent)
    script = "\n".join(f"{sql};" for sql in [*WRITES, *REACHING]) + "\nSELECT 'still here' AS x;\n.tables\n"
    result = run("shell", "--store", str(store), stdin=script)
    assert result.exit_code == 2, result.output
    refusals = [line for line in result.stderr.splitlines() if line.startswith("error: refused statement ")]
    assert len(refusals) == len(WRITES)
    assert "still here" in result.stdout and "Traceback" not in result.output
    assert snapshot(store.parent) == before


def test_shell_exits_1_when_a_statement_only_failed(store: Path) -> None:
    result = run("shell", "--store", str(store), stdin="SELECT nope FROM t;\nSELECT 1 AS one;\n")
    assert result.exit_code == 1 and "Binder Error" in result.stderr and "│ 1 " in result.stdout


def test_the_locked_connection_cannot_write_even_unchecked(store: Path) -> None:
    """Below the statement check: DuckDB itself refuses files, other databases, extensions and new settings."""
    before = snapshot(store.parent)
    with Store.open(store, locked=True) as st:
        for sql in [
            "COPY t TO 'out.csv'",
            "EXPORT DATABASE 'exported'",
            "ATTACH 'other.duckdb' AS other",
            "INSTALL httpfs",
            "LOAD httpfs",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
            "SET temp_directory = 'spill'",
            "INSERT INTO t VALUES (2, 'x')",
        ]:
            with pytest.raises(duckdb.Error):
                st.con.execute(sql)
        settings = dict(
            st.con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
                "'lock_configuration', 'temp_directory', 'autoinstall_known_extensions', 'autoload_known_extensions')"
            ).fetchall()
        )
    assert settings == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "temp_directory": "",  # nothing spills to evidence.duckdb.tmp
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
    }
    assert snapshot(store.parent) == before

"""The CLI for people and scripts: progress, collection summaries, --quiet/--format json, status, query, shell,
completion and examples in every --help."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner, Result
from helpers import cli, write, write_lines
from rich.console import Console

from collector.cli import main
from collector.cli.common import invoked_as
from collector.inspect import SourceStatus, format_age
from collector.plugins import CollectContext
from collector.progress import Reporter, reporting
from collector.store import Store

NAMESPACE = """
apiVersion: v1
kind: Namespace
metadata: {name: payments}
"""
HUBBLE = (
    '{"flow":{"time":"2026-03-02T09:00:20Z","verdict":"DROPPED","IP":{"source":"10.0.0.1",'
    '"destination":"10.0.0.2","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":1,"destination_port":443}},'
    '"source":{"namespace":"a"},"destination":{"namespace":"b"},"node_name":"n1"}}'
)


def run(*args: str, stdin: str | None = None, columns: int = 80) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, env={"COLUMNS": str(columns)}, catch_exceptions=False)


@pytest.fixture
def collected(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A manifest directory, a log file with one malformed line, and the store to collect them into."""
    manifests = write(tmp_path / "m" / "ns.yaml", NAMESPACE).parent
    logs = write_lines(tmp_path / "hubble.json", HUBBLE, "{not json")
    return manifests, logs, tmp_path / "e.duckdb"


def collect(manifests: Path, logs: Path, store: Path, *options: str) -> Result:
    config = write(
        store.parent / "sources.yaml",
        f"""
        sources:
          kubernetes: {{paths: [{manifests}], cluster: prod}}
          logs: {{inputs: [{{format: hubble, paths: [{logs}]}}]}}
        """,
    )
    return run("collect", "--config", str(config), "--store", str(store), *options)


def store_rows(store: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(sql).fetchall()


# collect: summary, --format json, --quiet ------------------------------------------------------------------


def test_collect_ends_with_a_summary_table(collected: tuple[Path, Path, Path]) -> None:
    result = collect(*collected)
    assert result.exit_code == 3, result.output  # the logs run is partial: evidence incomplete, said by the exit code
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("│")}
    records = dict(store_rows(collected[2], "SELECT source, count(*) FROM k8s_objects GROUP BY ALL"))
    inventory = dict(store_rows(collected[2], "SELECT source, count(*) FROM k8s_inventory GROUP BY ALL"))
    kubernetes = lines["kubernetes"].split("│")
    assert [c.strip() for c in kubernetes[2:6]] == [
        "succeeded",
        str(records["kubernetes"] + inventory["kubernetes"]),
        "-",
        "-",
    ]
    logs = [c.strip() for c in lines["logs"].split("│")[2:6]]
    assert logs == ["partial", "3", "1", "1"]  # 1 flow, its log_artifacts row, 1 ingest_rejects row
    assert kubernetes[6].strip().endswith("s") and "collection summary" in result.stdout
    assert "logs: partial" in result.stderr  # per-source detail stays on stderr


def test_collect_format_json_is_the_only_stdout(collected: tuple[Path, Path, Path]) -> None:
    result = collect(*collected, "--format", "json", "--allow-partial")
    assert result.exit_code == 0, result.output
    doc = {s["source"]: s for s in json.loads(result.stdout)}
    runs = dict(store_rows(collected[2], "SELECT source, run_id FROM runs"))
    logs = doc["logs"]
    assert logs["run_id"] == runs["logs"] and logs["status"] == "partial" and logs["error"] is None
    assert logs["tables"] == {"flows": 1, "ingest_rejects": 1, "log_artifacts": 1} and logs["records"] == 3
    assert logs["rejected_lines"] == 1 and len(logs["partial_reasons"]) == 1
    assert "1 line(s) rejected" in logs["partial_reasons"][0]
    assert doc["kubernetes"]["status"] == "succeeded" and doc["kubernetes"]["tables"]["k8s_objects"] == 1
    assert all(isinstance(s["duration_seconds"], float) and s["duration_seconds"] >= 0 for s in doc.values())


def test_collect_quiet_prints_nothing_on_success_and_errors_on_failure(tmp_path: Path) -> None:
    manifests = write(tmp_path / "m" / "ns.yaml", NAMESPACE).parent
    store = str(tmp_path / "e.duckdb")
    result = run("collect", "kubernetes", "--set", f"paths=[{manifests}]", "--quiet", "--store", store)
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
    assert store_rows(Path(store), "SELECT count(*) FROM k8s_objects") == [(1,)]
    failed = run("collect", "kubernetes", "--set", "paths=[/does/not/exist]", "-q", "--store", store)
    assert failed.exit_code == 1 and failed.stdout == ""
    assert "kubernetes: failed" in failed.stderr and "/does/not/exist does not exist" in failed.stderr


def test_collect_quiet_still_says_why_a_run_is_partial(collected: tuple[Path, Path, Path]) -> None:
    result = collect(*collected, "--quiet")
    assert result.exit_code == 3 and result.stdout == ""
    (line,) = result.stderr.splitlines()  # one line per reason; nothing about the complete kubernetes run
    assert line.startswith("logs: partial: ") and "1 line(s) rejected" in line


def test_check_and_bundle_quiet_and_json(demo_dir: Path, tmp_path: Path) -> None:
    store = str(demo_dir / "evidence.duckdb")
    quiet = run("check", "--quiet", "--store", store)
    assert quiet.exit_code == 1 and quiet.stdout == "" and quiet.stderr == ""  # the demo has gaps
    out = tmp_path / "bundle"
    result = run("bundle", "--out", str(out), "--pack", "git-changes", "--format", "json", "--store", store)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["path"] == str(out) and doc["files"] == sum(1 for p in out.rglob("*") if p.is_file())
    assert doc["verdicts"] == {"satisfied": 3, "gap": 2, "no-evidence": 3}  # 8 git-changes claims
    assert doc["signed_by"] == [] and doc["archive"] is None
    assert "unsigned" in result.stderr and "bundle written" not in result.stderr  # the warning stays


# status ------------------------------------------------------------------------------------------------------


def test_status_of_the_demo_store(demo_dir: Path) -> None:
    store = str(demo_dir / "evidence.duckdb")
    result = run("status", "--format", "json", "--store", store)
    assert result.exit_code == 0, result.output
    doc = {s["source"]: s for s in json.loads(result.stdout)["sources"]}
    assert sorted(doc) == ["analysis", "certificates", "git", "kubernetes", "logs"]
    runs = dict(store_rows(Path(store), "SELECT source, run_id FROM runs"))
    limits = {"analysis": "7d", "certificates": "1d", "git": "30d", "kubernetes": "7d", "logs": "2d"}
    for source, status in doc.items():
        assert status["runs"] == 1 and status["last_run"]["run_id"] == runs[source]
        assert status["last_run"]["status"] == "succeeded" and status["freshness"] == {
            "status": "fresh",
            "limit": limits[source],
        }
        assert 0 <= status["age_seconds"] < 3600
    flows = next(t for t in doc["logs"]["tables"] if t["table"] == "flows")
    first, last, count = store_rows(Path(store), "SELECT min(ts), max(ts), count(*) FROM flows")[0]
    assert flows == {
        "table": "flows",
        "rows": count,
        "time_column": "ts",
        "from": first.isoformat(),
        "to": last.isoformat(),
    }
    objects = next(t for t in doc["kubernetes"]["tables"] if t["table"] == "k8s_objects")
    assert objects["time_column"] == "collected_at" and objects["rows"] == 70

    table = run("status", "--store", store, columns=160)
    assert table.exit_code == 0, table.output
    assert "(fresh, limit 7d)" in table.stdout and runs["kubernetes"] in table.stdout
    assert f"records {first:%Y-%m-%d %H:%M} → {last:%H:%M}" in table.stdout


def test_status_of_an_empty_or_missing_store(tmp_path: Path) -> None:
    missing = run("status", "--store", str(tmp_path / "none.duckdb"))
    assert missing.exit_code == 2 and "no evidence store" in missing.stderr
    Store.open(tmp_path / "empty.duckdb").close()
    empty = run("status", "--store", str(tmp_path / "empty.duckdb"))
    assert empty.exit_code == 0 and "holds no evidence yet" in empty.stderr and empty.stdout == ""
    assert (
        json.loads(run("status", "--store", str(tmp_path / "empty.duckdb"), "--format", "json").stdout)["sources"] == []
    )


def test_freshness_wording() -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    stale = SourceStatus("kubernetes", last_landed=now - timedelta(days=8, hours=3), limit="7d")
    assert stale.freshness(now) == "stale" and stale.describe_freshness(now) == "8d old (stale, limit 7d)"
    fresh = SourceStatus("kubernetes", last_landed=now - timedelta(hours=2), limit="7d")
    assert fresh.describe_freshness(now) == "2h old (fresh, limit 7d)"
    unlimited = SourceStatus("acme", last_landed=now - timedelta(minutes=5))
    assert unlimited.freshness(now) == "no-limit" and unlimited.describe_freshness(now) == "5m old (no pack limit)"
    assert SourceStatus("acme").describe_freshness(now) == "no evidence landed"
    assert [format_age(timedelta(seconds=s)) for s in (0, 59, 60, 3599, 3600, 86400 * 3)] == [
        "0s",
        "59s",
        "1m",
        "59m",
        "1h",
        "3d",
    ]


# query and shell -----------------------------------------------------------------------------------------------


def test_query_formats(demo_dir: Path) -> None:
    store = str(demo_dir / "evidence.duckdb")
    sql = "SELECT kind, count(*) AS n FROM k8s_objects GROUP BY kind ORDER BY kind"
    expected = store_rows(Path(store), sql)
    as_csv = run("query", sql, "--format", "csv", "--store", store)
    assert as_csv.exit_code == 0 and as_csv.stderr == ""
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [["kind", "n"], *([k, str(n)] for k, n in expected)]
    as_json = run(
        "query", "SELECT run_id, record_counts FROM runs WHERE source = 'logs'", "--format", "json", "--store", store
    )
    run_id, counts = store_rows(Path(store), "SELECT run_id, record_counts FROM runs WHERE source = 'logs'")[0]
    assert json.loads(as_json.stdout) == [{"run_id": run_id, "record_counts": json.loads(counts)}]
    table = run("query", sql, "--store", store)
    assert table.exit_code == 0 and table.stderr == ""
    rows = [[c.strip() for c in line.split("│")[1:3]] for line in table.stdout.splitlines() if line.startswith("│")]
    assert rows == [[k, str(n)] for k, n in expected]


def test_query_table_is_capped_and_wide_rows_are_expanded(demo_dir: Path) -> None:
    store = str(demo_dir / "evidence.duckdb")
    capped = run("query", "SELECT range AS i FROM range(150)", "--store", store)
    shown = [line for line in capped.stdout.splitlines() if line.startswith("│")]
    assert len(shown) == 100 and shown[-1].split("│")[1].strip() == "99"
    assert "first 100 rows shown" in capped.stderr
    assert run("query", "SELECT range FROM range(150)", "--quiet", "--store", store).stderr == ""
    full = run("query", "SELECT range AS i FROM range(150)", "--format", "csv", "--store", store)
    assert full.stdout.splitlines() == ["i", *map(str, range(150))]
    wide = run("query", "SELECT * FROM flows ORDER BY ts LIMIT 2", "--store", store)
    assert "-[ row 1 ]-" in wide.stdout and "-[ row 2 ]-" in wide.stdout and "-[ row 3 ]-" not in wide.stdout
    first = store_rows(Path(store), "SELECT src_pod FROM flows ORDER BY ts LIMIT 1")[0][0]
    assert any(line.split() == ["src_pod", first] for line in wide.stdout.splitlines())


def test_query_errors_exit_2_and_the_store_is_read_only(demo_dir: Path) -> None:
    store = str(demo_dir / "evidence.duckdb")
    typo = run("query", "SELEC 1", "--store", store)
    assert typo.exit_code == 2 and "Parser Error" in typo.stderr and typo.stdout == ""
    before = store_rows(Path(store), "SELECT count(*) FROM runs")
    write_attempt = run("query", "DELETE FROM runs", "--store", store)
    assert write_attempt.exit_code == 2 and "read-only" in write_attempt.stderr
    assert store_rows(Path(store), "SELECT count(*) FROM runs") == before


def test_shell_reads_statements_and_dot_commands_from_stdin(demo_dir: Path) -> None:
    store = str(demo_dir / "evidence.duckdb")
    script = ".tables\nSELECT count(*) AS n\n  FROM flows;\n.schema runs\n.quit\nSELECT 'after quit' AS x;\n"
    result = run("shell", "--store", store, stdin=script)
    assert result.exit_code == 0 and result.stderr == "", result.output
    out = result.stdout.splitlines()
    assert "flows" in out and "k8s_current" in out  # .tables lists tables and views
    [(flows,)] = store_rows(Path(store), "SELECT count(*) FROM flows")
    assert f"│ {flows} " in result.stdout
    assert "CREATE TABLE runs(" in result.stdout and "after quit" not in result.stdout
    failing = run("shell", "--store", store, stdin="SELEC 1;\n.schema nope\n.frobnicate\nSELECT 42 AS answer")
    assert failing.exit_code == 1 and "│ 42 " in failing.stdout  # the last statement runs at end of input
    assert "Parser Error" in failing.stderr and "no table or view 'nope'" in failing.stderr
    assert "unknown command '.frobnicate'" in failing.stderr


# completion and help ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "#compdef defensible"), ("fish", "complete --no-files --command")],
)
def test_completion_prints_the_shell_script(shell: str, marker: str) -> None:
    result = run("completion", shell)
    assert result.exit_code == 0 and marker in result.stdout and "_DEFENSIBLE_COMPLETE" in result.stdout


def test_completion_completes_commands_and_choices() -> None:
    def complete(words: str, cword: int) -> list[str]:
        env = {"_DEFENSIBLE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        result = CliRunner().invoke(main, [], env=env, prog_name="defensible")
        return [line.split(",", 1)[1] for line in result.stdout.splitlines()]

    assert complete("defensible sta", 1) == ["status"]
    assert complete("defensible query 'SELECT 1' --format ", 4) == ["table", "csv", "json"]


def test_every_command_has_an_example_in_its_help() -> None:
    assert "Examples:" in cli("--help").output
    for name in main.list_commands(click.Context(main)):
        result = cli(name, "--help")
        assert result.exit_code == 0 and "Example" in result.output, name
        example = result.output.split("Examples:")[1]
        assert f"defensible {name}" in example, name


# progress ------------------------------------------------------------------------------------------------------


def test_progress_is_silent_unless_on_a_terminal(tmp_path: Path) -> None:
    piped = io.StringIO()
    reporter = Reporter(Console(file=piped))
    with reporting(reporter), reporter.step("logs: files", total=3, unit="files") as step:
        step.advance(2)
        reporter.refresh()
    assert not reporter.enabled and piped.getvalue() == ""

    terminal = io.StringIO()
    reporter = Reporter(Console(file=terminal, force_terminal=True, width=120))
    with Store.open(tmp_path / "e.duckdb") as store, reporting(reporter):
        ctx = CollectContext(store, "logs", "run-1", {}, datetime.now(UTC))
        with ctx.progress("input 1 (hubble)", unit="records") as records, ctx.progress("files", 4, "files") as files:
            records.advance(1200)
            files.advance(3)
            files.update(detail="flows-3.json")
            reporter.refresh()
        drawn = terminal.getvalue()
    assert "logs: input 1 (hubble)" in drawn and "1,200 records" in drawn
    assert "logs: files" in drawn and "3/4 files" in drawn and "flows-3.json" in drawn
    assert reporter._progress is None  # every step closed: the display stopped


def test_collect_draws_no_progress_when_stderr_is_not_a_terminal(collected: tuple[Path, Path, Path]) -> None:
    result = collect(*collected, "--allow-partial")
    assert result.exit_code == 0 and "\x1b[" not in result.stderr and "manifest files" not in result.stderr


def test_hints_name_the_program_as_it_can_be_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "defensible").write_text("#!/bin/sh\n")
    (bin_dir / "defensible").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [".venv/bin/defensible", "demo"])
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert invoked_as() == ".venv/bin/defensible"  # the README's commands, pasted without activating the venv
    monkeypatch.setenv("PATH", str(bin_dir))
    assert invoked_as() == "defensible"


def test_demo_and_verify_count_the_same_files(demo_dir: Path) -> None:
    printed = (demo_dir.parent / "demo-output.txt").read_text()
    written, listed = map(int, re.search(r"\((\d+) files: (\d+) listed in the signed statement", printed).groups())
    assert written == listed + 2 == sum(1 for p in (demo_dir / "bundle").rglob("*") if p.is_file())
    result = run("verify", str(demo_dir / "bundle"), "--pubkey", str(demo_dir / "keys" / "signing.pub"))
    assert result.exit_code == 0 and f" {listed} files verified (and the statement META/" in result.stdout


def test_check_json_lists_the_gap_rows(demo_dir: Path) -> None:
    result = run("check", "--pack", "k8s-networking", "--format", "json", "--store", str(demo_dir / "evidence.duckdb"))
    claims = {c["claim"]: c for c in json.loads(result.stdout)}
    access = claims["access-restricted"]
    assert len(access["gaps"]) == access["gap_rows"] > 0
    assert {"object": "Namespace/admin-console", "cluster": "casework-prod"}.items() <= access["gaps"][0].items()
    assert all(c["gaps"] == [] for c in claims.values() if c["verdict"] == "satisfied")


def test_a_store_with_nothing_in_scope_is_explained(tmp_path: Path) -> None:
    manifests = write(tmp_path / "m" / "ns.yaml", NAMESPACE).parent  # a namespace, not labelled regulated
    store = str(tmp_path / "e.duckdb")
    assert run("collect", "kubernetes", "--set", f"paths=[{manifests}]", "-q", "--store", store).exit_code == 0
    checked = run("check", "--pack", "k8s-networking", "-q", "--store", store)
    bundled = run("bundle", "--pack", "k8s-networking", "--out", str(tmp_path / "b"), "-q", "--store", store)
    for result in (checked, bundled):
        assert "warning: no claim found evidence" in result.stderr
        assert "labelled defensible.io/regulated=true" in " ".join(result.stderr.split())


def test_query_sees_the_views_of_a_pack(demo_dir: Path) -> None:
    store = ("--store", str(demo_dir / "evidence.duckdb"))
    sql = "FROM regulated_namespaces SELECT namespace ORDER BY 1"
    assert run("query", sql, *store).exit_code == 2  # a pack view exists only with its pack
    result = run("query", "--pack", "k8s-networking", sql, "--format", "csv", *store)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["namespace", "admin-console", "case-workers", "citizen-api", "enforcement"]
    other = run("query", "--pack", "k8s-networking", "--param", "regulated_label=team=none", sql, *store)
    assert other.exit_code == 0 and "admin-console" not in other.stdout  # the views follow the parameters

"""The command line: check exit codes and formats, collect configuration, sources, keygen."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from helpers import cli, write

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"


def test_check_json_and_exit_code(demo_dir: Path) -> None:
    result = cli("check", "--format", "json", "--store", str(demo_dir / "evidence.duckdb"))
    assert result.exit_code == 1  # the demo has deliberate gaps
    verdicts = {c["claim"]: c["verdict"] for c in json.loads(result.output)}
    assert verdicts["public-exposure-controlled"] == "gap" and verdicts["access-restricted"] == "gap"


def test_check_exits_zero_when_all_claims_hold(demo_dir: Path, tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    write(
        pack / "pack.yaml",
        """
        id: only-exposure
        title: Exposure only
        version: 1
        claims:
          - id: exposure
            title: Exposure
            statement: s
            requires: {k8s_kinds: [Gateway]}
            evidence: e.sql
            gaps: g.sql
        """,
    )
    (pack / "e.sql").write_text("SELECT name FROM k8s_current WHERE kind = 'Gateway'")
    (pack / "g.sql").write_text("SELECT name FROM k8s_current WHERE false")
    result = cli("check", "--pack", str(pack), "--store", str(demo_dir / "evidence.duckdb"))
    assert result.exit_code == 0 and "satisfied" in result.output


def test_check_without_store_is_a_clear_error(tmp_path: Path) -> None:
    result = cli("check", "--store", str(tmp_path / "none.duckdb"))
    assert result.exit_code == 2 and "no evidence store" in result.output


def test_collect_with_set_and_config_file(tmp_path: Path) -> None:
    manifests = write(tmp_path / "m" / "ns.yaml", NAMESPACE).parent
    store = str(tmp_path / "e.duckdb")
    result = cli("collect", "kubernetes", "--set", f"paths=[{manifests}]", "--set", "cluster=prod", "--store", store)
    assert result.exit_code == 0, result.output
    assert "kubernetes: succeeded" in result.output and "1 k8s_objects" in result.output
    config = write(tmp_path / "defensible.yaml", f"sources:\n  kubernetes:\n    paths: [{manifests}]\n")
    result = cli("collect", "--config", str(config), "--store", store)
    assert result.exit_code == 0 and "succeeded" in result.output
    result = cli("sources", "--store", store)
    assert "kubernetes" in result.output and "succeeded" in result.output


def test_collect_errors_are_clear(tmp_path: Path) -> None:
    store = str(tmp_path / "e.duckdb")
    result = cli("collect", "kubernetes", "--set", "page_size=0", "--store", store)
    assert result.exit_code == 2 and "page_size: 0 is less than the minimum of 1" in result.output
    result = cli("collect", "nosuch", "--store", store)
    assert (
        result.exit_code == 2
        and "unknown source 'nosuch' (installed: analysis, certificates, git, kubernetes, logs)" in result.output
    )
    result = cli("collect", "kubernetes", "--set", "paths=[/does/not/exist]", "--store", store)
    assert result.exit_code == 1 and "failed" in result.output and "/does/not/exist does not exist" in result.output
    result = cli("collect", "kubernetes", "--set", "novalue", "--store", store)
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


def test_keygen_writes_private_key_0600_and_refuses_overwrite(tmp_path: Path) -> None:
    prefix = tmp_path / "k"
    result = cli("keygen", "--out", str(prefix))
    assert result.exit_code == 0 and "key id" in result.output
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in result.output.encode()
    again = cli("keygen", "--out", str(prefix))
    assert again.exit_code == 2 and "already exists" in again.output


def test_demo_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("x")
    result = cli("demo", "--out", str(tmp_path))
    assert result.exit_code == 2 and "not a demo directory" in result.output
    assert (tmp_path / "precious.txt").exists()


def test_check_parameters_and_optional_claims(demo_dir: Path) -> None:
    store = str(demo_dir / "evidence.duckdb")
    unknown = cli("check", "--store", store, "--param", "nosuch=1")
    assert unknown.exit_code == 2 and "no pack defines parameter nosuch" in unknown.output
    result = cli("check", "--store", store, "--pack", "git-changes", "--format", "json")
    assert [(c["claim"], c["gap_rows"]) for c in json.loads(result.output)] == [
        ("changes-reviewed", 1), ("emergency-changes-accounted", 0), ("egress-allowlist-approved", 1),
        ("live-matches-git", 0), ("out-of-band-changes", 0), ("adr-approved", 0),
        ("failover-game-day-completed", 0), ("emergency-rollback-tested", 0),
    ]  # fmt: skip
    result = cli(
        "check", "--store", store, "--pack", "git-changes", "--format", "json",
        "--param", "min_approvals=2", "--enable", "git-changes/signed-commits",
    )  # fmt: skip
    verdicts = {c["claim"]: (c["verdict"], c["gap_rows"]) for c in json.loads(result.output)}
    assert verdicts == {"changes-reviewed": ("gap", 3), "egress-allowlist-approved": ("gap", 1),
                        "emergency-changes-accounted": ("satisfied", 0),
                        "live-matches-git": ("satisfied", 0), "out-of-band-changes": ("no-evidence", 0),
                        "adr-approved": ("satisfied", 0), "failover-game-day-completed": ("no-evidence", 0),
                        "emergency-rollback-tested": ("no-evidence", 0),
                        "signed-commits": ("gap", verdicts["signed-commits"][1])}  # fmt: skip
    assert cli("check", "--store", store, "--enable", "git-changes/nosuch").exit_code == 2


def test_collect_logs_with_a_time_window(tmp_path: Path) -> None:
    log = tmp_path / "flows.log"
    log.write_text(
        "2 123456789010 eni-1 10.0.0.1 10.0.0.2 1000 443 6 1 40 1767225600 1767225660 ACCEPT OK\n"  # 2026-01-01
        "2 123456789010 eni-1 10.0.0.1 10.0.0.2 1001 443 6 1 40 1767312000 1767312060 REJECT OK\n"  # 2026-01-02
    )
    inputs = f"      - {{format: vpcflow, paths: [{log}]}}\n"
    config = write(tmp_path / "defensible.yaml", "sources:\n  logs:\n    inputs:\n" + inputs)
    store = str(tmp_path / "e.duckdb")
    window = ("--since", "2026-01-02T00:00:00Z", "--until", "2026-01-03T00:00:00Z")
    result = cli("collect", "--config", str(config), *window, "--store", store)
    assert result.exit_code == 0, result.output
    assert "logs: succeeded" in result.output and "1 flows" in result.output
    refused = cli("collect", "kubernetes", "--set", f"paths=[{tmp_path}]", *window, "--store", store)
    assert refused.exit_code == 2
    assert "--since/--until apply to sources that read logs; none of kubernetes does" in refused.output
    bad = cli("collect", "--config", str(config), "--since", "yesterday", "--store", store)
    assert bad.exit_code == 1 and "logs: since: 'yesterday' is not an ISO 8601 time" in bad.output


def test_unquoted_times_in_the_config_are_read_as_written(tmp_path: Path) -> None:
    log = tmp_path / "flows.log"
    log.write_text("2 123456789010 eni-1 10.0.0.1 10.0.0.2 1000 443 6 1 40 1767225600 1767225660 ACCEPT OK\n")
    inputs = f"      - {{format: vpcflow, paths: [{log}]}}\n"
    config = write(tmp_path / "d.yaml", "sources:\n  logs:\n    since: 2026-01-02T00:00:00Z\n    inputs:\n" + inputs)
    result = cli("collect", "--config", str(config), "--store", str(tmp_path / "e.duckdb"))
    assert result.exit_code == 0, result.output
    assert "logs: succeeded" in result.output and "0 flows" in result.output  # the record is before `since`

"""Per-format log storage: each format's rows in a table of their own keyed by their load, the views under the old
names (``flows``…) giving every row its provenance, stores of before migrated without losing a row, and bundles
exporting the storage tables while the re-performance script re-creates the views."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from helpers import collect_logs
from test_logs_engine import lines

from bundles.reperform import export_parquet, store_relations, stored_views
from collector.inspect import evidence_tables
from collector.store import Store
from sources.logs.source import MIGRATIONS

PROVENANCE = ("source", "run_id", "artifact_sha256", "collected_at")


def vpc(tmp_path: Path, name: str, n: int, first: int = 0) -> Path:
    path = tmp_path / name
    path.write_bytes(lines(n, first))
    return path


def test_rows_are_stored_without_provenance_and_the_view_gives_each_its_load(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        first = collect_logs(store, vpc(tmp_path, "a.log", 3), log_format="vpcflow")
        second = collect_logs(store, vpc(tmp_path, "b.log", 2, first=10), vpc(tmp_path, "c.log", 1, first=20),
                              log_format="vpcflow", cluster="prod")  # fmt: skip
        stored = store.table_columns("flows_vpcflow")
        assert "load_id" in stored and not set(PROVENANCE) & set(stored) and "cluster" not in stored
        loads = store.con.execute(
            "SELECT load_id, run_id, artifact_sha256, cluster FROM log_artifacts ORDER BY load_id"
        ).fetchall()
        assert [load[0] for load in loads] == [1, 2, 3]  # dense, in the order loaded
        assert [load[1] for load in loads] == [first.run_id, second.run_id, second.run_id]
        rows = store.con.execute(
            "SELECT src_port, log_format, cluster, source, run_id, artifact_sha256, collected_at FROM flows "
            "ORDER BY src_port"
        ).fetchall()
        assert [r[0] for r in rows] == [1000, 1001, 1002, 1010, 1011, 1020]
        artifacts = {load[0]: load[2] for load in loads}
        by_port = {1000: 1, 1001: 1, 1002: 1, 1010: 2, 1011: 2, 1020: 3}
        for port, log_format, cluster, source, run_id, artifact, collected_at in rows:
            load = by_port[port]
            assert (log_format, source, artifact) == ("vpcflow", "logs", artifacts[load])
            assert run_id == loads[load - 1][1] and cluster == ("default" if load == 1 else "prod")
            assert isinstance(collected_at, datetime)
        assert [c for c in store.table_columns("flows")][-4:] == list(PROVENANCE)  # the columns of before, in order


def test_a_failed_run_leaves_no_load_behind_and_the_next_takes_its_number(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        collect_logs(store, vpc(tmp_path, "a.log", 2), log_format="vpcflow")
        loaded, missing = vpc(tmp_path, "b.log", 2, first=10), tmp_path / "nowhere" / "x.log"
        inputs = [{"format": "vpcflow", "paths": [str(loaded)]}, {"format": "vpcflow", "paths": [str(missing)]}]
        failed = collect_logs(store, log_format="vpcflow", source_config={"inputs": inputs})
        assert failed.status == "failed", failed  # after b.log was loaded: its rows and load went with the run
        collect_logs(store, vpc(tmp_path, "c.log", 1, first=20), log_format="vpcflow")
        assert store.con.execute("SELECT list(load_id ORDER BY load_id) FROM log_artifacts").fetchone()[0] == [1, 2]
        assert store.con.execute("SELECT count(*) FROM flows").fetchone()[0] == 3


def test_a_gap_in_the_load_numbers_stops_the_run_rather_than_mislabel_rows(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        collect_logs(store, vpc(tmp_path, "a.log", 2), log_format="vpcflow")
        store.con.execute("UPDATE log_artifacts SET load_id = 5")
        result = collect_logs(store, vpc(tmp_path, "b.log", 1, first=10), log_format="vpcflow")
        assert result.status == "failed" and "numbered up to 5 but 1 are recorded" in (result.error or "")


def test_a_store_of_before_keeps_its_rows_beside_the_new_ones(tmp_path: Path) -> None:
    """A store whose logs tables predate per-format storage: its rows stay, with their provenance, in the views."""
    with Store.open(tmp_path / "e.duckdb") as store:
        store.migrate("logs", MIGRATIONS[:4])
        old = datetime(2026, 1, 1, tzinfo=UTC)
        store.con.execute(
            "INSERT INTO flows (ts, log_format, cluster, src_port, verdict, source, run_id, artifact_sha256, "
            "collected_at) VALUES (?, 'hubble', 'old', 7, 'deny', 'logs', 'run-old', 'abc', ?)",
            [old, old],
        )
        collect_logs(store, vpc(tmp_path, "a.log", 2), log_format="vpcflow")
        rows = store.con.execute("SELECT src_port, log_format, cluster, run_id FROM flows ORDER BY src_port").fetchall()
        assert rows[0] == (7, "hubble", "old", "run-old") and [r[0] for r in rows[1:]] == [1000, 1001]
        assert "flows_v1" in store.view_storage()["flows"]
        assert "flows" in evidence_tables(store) and "flows_v1" not in evidence_tables(store)


@pytest.fixture
def bundled(tmp_path: Path) -> tuple[Store, Path]:
    store = Store.open(tmp_path / "e.duckdb")
    collect_logs(store, vpc(tmp_path, "a.log", 5), log_format="vpcflow")
    yield store, tmp_path / "bundle"
    store.close()


def test_bundles_export_the_storage_and_the_script_re_creates_the_views(bundled: tuple[Store, Path]) -> None:
    store, root = bundled
    names = {name for name, *_ in store_relations(store)}
    assert {"flows_vpcflow", "flows_v1", "log_artifacts"} <= names and "flows" not in names
    written = export_parquet(store, None, root)
    assert "data/flows_vpcflow.parquet" in written and "data/flows.parquet" not in written
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{root}'")
    for name in names:
        con.execute(f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('data/{name}.parquet')")
    for definition in stored_views(store):
        con.execute(definition)
    query = "SELECT * EXCLUDE (collected_at), epoch_us(collected_at) FROM flows ORDER BY ALL"
    assert con.execute(query).fetchall() == store.con.execute(query).fetchall()


def test_the_storage_exports_the_same_bytes_whatever_the_threads(bundled: tuple[Store, Path]) -> None:
    store, root = bundled
    digests = []
    for threads in (1, 4):
        store.con.execute(f"SET threads = {threads}")
        digests.append(json.dumps(export_parquet(store, None, root / str(threads)), sort_keys=True))
    assert digests[0] == digests[1]

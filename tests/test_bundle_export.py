"""The bundle's Parquet export: reproducible bytes without sorting tables, within a bounded memory limit."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from bundles.reperform import EXPORT_MEMORY, export_parquet
from collector.store import MEMORY_LIMIT_ENV, Store, StoreError, size_bytes

ROWS = 300_000  # several of DuckDB's row groups (122,880 rows), so threads scan the table in parallel


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store with a multi-row-group table whose insertion order is not its sorted order, and a view over it."""
    with Store.open(tmp_path / "s.duckdb") as st:
        st.con.execute(
            f"CREATE TABLE events AS SELECT (i * 7919) % {ROWS} AS id, 'pod-' || (i % 97) AS pod, "
            f"TIMESTAMPTZ '2026-01-01' + to_seconds(i) AS ts FROM range({ROWS}) t(i)"
        )
        st.con.execute("CREATE VIEW pods AS SELECT DISTINCT pod FROM events")
    st = Store.open(tmp_path / "s.duckdb", read_only=True)
    yield st
    st.close()


def digests(store: Store, root: Path, threads: int) -> dict[str, str]:
    store.con.execute(f"SET threads = {threads}")
    written = export_parquet(store, None, root)
    for name, digest in written.items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest  # hashed as written
    return written


def test_tables_are_written_in_the_stores_order_and_views_sorted(store: Store, tmp_path: Path) -> None:
    export_parquet(store, None, tmp_path)
    events = duckdb.execute(f"SELECT id FROM '{tmp_path}/data/events.parquet'").fetchall()
    assert events == store.con.execute("SELECT id FROM events ORDER BY rowid").fetchall()
    assert events != sorted(events)  # not sorted: the insertion order
    pods = duckdb.execute(f"SELECT pod FROM '{tmp_path}/data/pods.parquet'").fetchall()
    assert pods == sorted(pods) and len(pods) == 97


def test_bytes_do_not_depend_on_threads(store: Store, tmp_path: Path) -> None:
    one, four = digests(store, tmp_path / "one", 1), digests(store, tmp_path / "four", 4)
    assert one == four and "data/events.parquet" in one
    assert digests(store, tmp_path / "again", 4) == four


def test_export_runs_under_the_cap_and_restores_the_limit(store: Store, tmp_path: Path) -> None:
    seen = []
    con = store.con

    class Spy:  # the limit in force while each COPY runs
        def __getattr__(self, name: str) -> object:
            return getattr(con, name)

        def execute(self, sql: str, *args: object) -> duckdb.DuckDBPyConnection:
            if sql.startswith("COPY"):
                seen.append(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
            return con.execute(sql, *args)

    before = con.execute("SELECT current_setting('memory_limit')").fetchone()
    store.con = Spy()  # type: ignore[assignment]
    try:
        export_parquet(store, None, tmp_path)
    finally:
        store.con = con
    assert seen and set(seen) == {"953.6 MiB"}  # EXPORT_MEMORY, 1GB: the store's limit (half the RAM) is higher
    assert con.execute("SELECT current_setting('memory_limit')").fetchone() == before


def test_a_lower_store_limit_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "256MB")
    with Store.open(tmp_path / "s.duckdb") as st, st.memory_capped(EXPORT_MEMORY):
        assert st.con.execute("SELECT current_setting('memory_limit')").fetchone() == ("244.1 MiB",)


def test_size_bytes() -> None:
    assert size_bytes("1GB") == 10**9 and size_bytes("512 MiB") == 512 * 2**20 and size_bytes("1.5GiB") == 3 * 2**29
    with pytest.raises(StoreError, match="expected a size"):
        size_bytes("lots")


def test_no_duckdb_progress_bar_on_stdout(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """DuckDB's progress bar would print into `check --format json` once a query runs 2 s on a large store."""
    with Store.open(tmp_path / "s.duckdb") as st:
        assert st.con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
        st.con.execute("SELECT sum(i % 7) FROM range(20000000) t(i)").fetchall()
    assert capfd.readouterr().out == ""

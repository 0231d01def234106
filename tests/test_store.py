"""The store: versioned migrations, one transaction per run, artifacts on disk, killed runs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import collect_manifests, named, write

from collector.plugins import CollectContext, SourceError
from collector.runner import run_source
from collector.store import (
    CORE_MIGRATIONS,
    DEFAULT_MEMORY_LIMIT,
    MEMORY_LIMIT_ENV,
    FileDigest,
    Store,
    StoreError,
    sha256_hex,
)

NAMESPACE = """
    apiVersion: v1
    kind: Namespace
    metadata: {name: payments, labels: {defensible.io/regulated: "true"}}
"""


class ExplodingSource:
    """Emits rows, then fails: none of its rows may land."""

    name = "exploding"
    description = "test source that fails half-way"
    config_schema = {"type": "object", "properties": {}}
    migrations = (
        "CREATE TABLE boom (x INTEGER, source VARCHAR, run_id VARCHAR, "
        "artifact_sha256 VARCHAR, collected_at TIMESTAMPTZ)",
    )

    def collect(self, ctx: CollectContext) -> None:
        sha = ctx.add_artifact(b"raw", "memory", "text/plain")
        for i in range(10):
            ctx.emit("boom", {"x": i}, sha)
        raise SourceError("exploding: bad input at object boom/7")


def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    with Store.open(path) as st:
        assert st.schema_versions() == {"core": len(CORE_MIGRATIONS)}
    with Store.open(path) as st:  # reopening applies nothing twice
        rows = st.con.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert rows == (len(CORE_MIGRATIONS),)
        st.con.execute("INSERT INTO schema_migrations VALUES ('core', 99, now())")
    with pytest.raises(StoreError, match="version 99, newer than this tool"):
        Store.open(path)


def test_read_only_open_of_missing_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="defensible collect"):
        Store.open(tmp_path / "absent.duckdb", read_only=True)


def test_memory_limit_from_the_environment_else_configured_else_a_gib_at_most_half_the_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def limit(**kwargs: object) -> float:
        with Store.open(tmp_path / "s.duckdb", **kwargs) as st:  # type: ignore[arg-type]
            row = st.con.execute("SELECT current_setting('memory_limit')").fetchone()
        value, unit = str(row[0] if row else "").split()
        return float(value) * {"MiB": 2**20, "GiB": 2**30}[unit]

    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert abs(limit() - min(DEFAULT_MEMORY_LIMIT, physical / 2)) < 2**20
    assert DEFAULT_MEMORY_LIMIT == 2**30
    assert limit(memory="1GiB") == 2**30  # the configuration's memory_limit
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "300MiB")  # the environment wins, as $DEFENSIBLE_STORE does
    assert limit() == limit(read_only=True) == limit(locked=True) == limit(memory="1GiB") == 300 * 2**20
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(
        StoreError, match=r"\$DEFENSIBLE_MEMORY_LIMIT: expected a size such as 4GB or 512MB, got 'lots'"
    ):
        Store.open(tmp_path / "s.duckdb")


def test_successful_run_records_counts_provenance_and_artifacts(store: Store, tmp_path: Path) -> None:
    manifest = write(tmp_path / "m" / "ns.yaml", NAMESPACE)
    result = collect_manifests(store, manifest)
    assert result.status == "succeeded"
    run = store.runs()[0]
    assert run["status"] == "succeeded" and run["finished_at"] is not None
    assert json.loads(run["record_counts"])["k8s_objects"] == 1
    row = store.con.execute(
        "SELECT source, run_id, artifact_sha256, collected_at FROM k8s_objects WHERE name = 'payments'"
    ).fetchone()
    assert row is not None and row[0] == "kubernetes" and row[1] == result.run_id and row[3] is not None
    assert store.artifact_path(row[2]).read_bytes() == manifest.read_bytes()
    origin = store.con.execute("SELECT origin FROM artifacts WHERE sha256 = ?", [row[2]]).fetchone()
    assert origin == (named(manifest),)


def test_failed_run_keeps_earlier_data_and_is_recorded(store: Store, tmp_path: Path) -> None:
    collect_manifests(store, write(tmp_path / "ns.yaml", NAMESPACE))
    result = run_source(store, ExplodingSource(), {})
    assert result.status == "failed"
    assert result.error == "exploding: bad input at object boom/7"
    assert store.con.execute("SELECT count(*) FROM boom").fetchone() == (0,)
    assert store.con.execute("SELECT count(*) FROM artifacts WHERE run_id = ?", [result.run_id]).fetchone() == (0,)
    assert not store.artifact_path(sha256_hex(b"raw")).exists()  # nor its artifact file
    assert store.con.execute("SELECT count(*) FROM k8s_objects").fetchone() == (1,)
    statuses = {r["source"]: (r["status"], r["error"]) for r in store.runs()}
    assert statuses["exploding"] == ("failed", "exploding: bad input at object boom/7")


def test_killed_run_leaves_earlier_data_and_is_marked_failed(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    with Store.open(path) as st:
        collect_manifests(st, write(tmp_path / "ns.yaml", NAMESPACE))
    second = write(tmp_path / "second.yaml", NAMESPACE.replace("payments", "ledger"))
    # A child process collects and is SIGKILLed in the middle of its run's transaction.
    script = textwrap.dedent(f"""
        import os, signal
        from collector.store import Store
        from collector.runner import run_source
        from sources.kubernetes import source as kubernetes

        real = kubernetes.collect_manifests
        def collect_then_die(ctx, *args):
            real(ctx, *args)
            ctx.load_staged()
            os.kill(os.getpid(), signal.SIGKILL)
        kubernetes.collect_manifests = collect_then_die
        st = Store.open({str(path)!r})
        run_source(st, kubernetes.KubernetesSource(), {{"paths": [{str(second)!r}]}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent.parent, check=False)
    assert proc.returncode == -9
    artifacts = path.with_name(path.name + ".artifacts")
    killed_copy = artifacts / "sha256" / sha256_hex(second.read_bytes())[:2] / sha256_hex(second.read_bytes())
    assert killed_copy.is_file()  # the killed run's copy, which no committed run refers to
    (artifacts / ".tmp-interrupted-copy").write_bytes(b"half a fi")
    with Store.open(path) as st:
        names = [r[0] for r in st.con.execute("SELECT name FROM k8s_objects ORDER BY name").fetchall()]
        assert names == ["payments"]
        runs = st.runs()
        assert [r["status"] for r in runs] == ["succeeded", "failed"]
        assert "interrupted" in runs[1]["error"]
        kept = sorted(
            st.artifact_path(sha) for (sha,) in st.con.sql("SELECT DISTINCT sha256 FROM artifacts").fetchall()
        )
    assert kept and killed_copy not in kept
    assert sorted(p for p in artifacts.rglob("*") if p.is_file()) == kept


def test_a_file_artifact_is_hashed_in_the_read_that_copies_it_even_if_the_source_grows(
    store: Store, tmp_path: Path
) -> None:
    source = tmp_path / "app.log"
    source.write_bytes(b"line 1\n")
    chunks = []

    def writer_appends(chunk: bytes) -> None:  # a writer appends while the collector copies
        chunks.append(chunk)
        if len(chunks) == 1:
            with open(source, "ab") as fh:
                fh.write(b"line 2\n")

    kept = store.put_artifact_file(source, writer_appends)
    copied = store.artifact_path(kept.sha256).read_bytes()
    assert copied == b"".join(chunks) == b"line 1\nline 2\n"  # read once: the chunks seen are the copy
    assert kept == FileDigest(hashlib.sha256(copied).hexdigest(), 14)
    assert sorted(p.name for p in store.artifacts_dir.rglob("*") if p.is_file()) == [kept.sha256]


def test_a_copy_of_bytes_the_store_holds_is_dropped(store: Store, tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"same\n")
    (tmp_path / "b.log").write_bytes(b"same\n")
    first = store.put_artifact_file(tmp_path / "a.log")
    assert store.put_artifact_file(tmp_path / "b.log") == first
    assert [p.name for p in store.artifacts_dir.rglob("*") if p.is_file()] == [first.sha256]


def test_an_artifact_copy_cut_by_an_error_leaves_no_file(store: Store) -> None:
    with pytest.raises(OSError, match="No space"), store.artifact_copy() as copy:
        copy.write(b"half a fi")
        raise OSError(28, "No space left on device")
    assert not [p for p in store.artifacts_dir.rglob("*") if p.is_file()]

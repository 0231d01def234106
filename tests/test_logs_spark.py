"""The logs claims on Apache Spark (local[2]) and on DuckDB over one corpus: the same verdicts and rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import write
from test_pack_logs import CONFIGMAP, NAMESPACES, T0, access, deny, flow

from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.runner import run_source
from collector.store import Store
from sources.kubernetes.source import KubernetesSource
from sources.logs.source import LogsSource

PROVENANCE = {"run_id", "artifact_sha256", "collected_at"}  # name each store's own runs
# the ConfigMap of CONFIGMAP allows *.payments.example.net; *.co.uk covers a public suffix (public_suffixes, a
# table of the store that Spark is sent): a gap row on both engines
ALLOWLIST = ["10.20.0.0/16", "*.co.uk"]


def corpus(tmp: Path) -> list[dict[str, Any]]:
    """Hubble, Envoy and VPC flow logs holding a gap of every logs claim, and evidence of each."""
    start = int(T0.timestamp())
    hubble = [
        deny(0), flow(1, "203.0.113.10", fqdn="api.payments.example.net."), flow(2, "10.20.0.15", 5432),
        flow(3, "198.51.100.23", fqdn="paste.example.org"), deny(95), "not json",
        flow(4, "2001:db8::1", labels=None),  # IPv6 outside the cluster: a gap
        flow(5, "fd00::1", labels=None),  # IPv6 ULA: inside
        flow(6, "192.0.2.7", labels=(), identity=2),  # Cilium's world identity: a gap
        flow(7, "100.64.1.1", labels=None),  # internal_cidrs: inside
        flow(8, "10.8.4.21", 8080, labels=("k8s:app=db",), dst_namespace="data"),  # a pod: inside
        flow(9, "198.51.100.5", src=("shop", "worker-x2x4z")),  # a bare pod name: its own workload
        {"lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": "12"}, "time": "2026-01-05T11:40:00Z"},
    ]  # fmt: skip
    envoy = [
        access(33, flags="NR", route="-", upstream_host="-", upstream_cluster="-"),  # unrouted: needs an id only
        access(34, flags="DPE", route="-", upstream_host="-", upstream_cluster="-", request_id="-"),  # a gap
        access(30),
        access(31, request_id="-", route="-"),
        access(32, status=403, route="-", details="rbac_access_denied_matched_policy[none]"),
    ]
    vpc = [
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
        "log-status",
        f"2 123456789010 eni-1 10.0.0.5 198.51.100.1 49152 443 6 10 840 {start} {start + 60} REJECT OK",
        f"2 123456789010 eni-1 - - - - - - - {start + 600} {start + 660} - SKIPDATA",
    ]
    inputs = []
    for fmt, lines in (("hubble", hubble), ("envoy", envoy), ("vpcflow", vpc)):
        path = write(
            tmp / "logs" / f"prod-{fmt}.log",
            "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines),
        )
        inputs.append({"format": fmt, "paths": [str(path)]})
    return inputs


def judged(store: Store, tmp: Path, engine: dict[str, Any]) -> dict[str, ClaimResult]:
    manifests = write(tmp / "k8s.yaml", NAMESPACES + CONFIGMAP)
    config = {"paths": [str(manifests)], "cluster": "prod", "egress_allowlists": True}
    assert run_source(store, KubernetesSource(), config).status == "succeeded"
    config = {"inputs": corpus(tmp), "cluster": "prod", "engine": engine}
    result = run_source(store, LogsSource(), config)
    assert result.status in ("succeeded", "partial"), result.error
    results = evaluate_pack(store, load_pack(resolve_pack("logs")), Settings({"egress_allowlist": ALLOWLIST}))
    return {r.claim.id: r for r in results}


def comparable(result: ClaimResult) -> tuple[str, list, list]:
    def rows(q: Any) -> list:
        keep = [i for i, c in enumerate(q.columns) if c not in PROVENANCE]
        return sorted((tuple((q.columns[i], row[i]) for i in keep) for row in q.rows), key=repr)

    return result.verdict, rows(result.gaps), rows(result.evidence)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, ClaimResult], dict[str, ClaimResult]]:
    pytest.importorskip("pyspark")
    tmp = tmp_path_factory.mktemp("spark")
    with Store.open(tmp / "duck.duckdb") as duck, Store.open(tmp / "spark.duckdb") as spark:
        on_duckdb = judged(duck, tmp / "duck", {"name": "duckdb"})
        engine = {
            "name": "spark",
            "master": "local[2]",
            "output": str(tmp / "lake"),
            "parameters": {"egress_allowlist": ALLOWLIST},
            "conf": {"spark.sql.shuffle.partitions": "1"},  # tiny corpus
        }
        on_spark = judged(spark, tmp / "duck", engine)
        return on_duckdb, on_spark


def test_every_logs_claim_has_the_same_verdict_and_rows_on_both_engines(both: Any) -> None:
    on_duckdb, on_spark = both
    assert sorted(on_spark) == sorted(on_duckdb)
    assert {c: r.verdict for c, r in on_duckdb.items()} == {
        "egress-controlled": "gap",
        "policy-denies-visible": "gap",
        "incidents-traceable": "gap",
        "logs-retained": "no-evidence",
    }
    egress = on_duckdb["egress-controlled"].gaps
    destinations = {row[egress.columns.index("destination")] for row in egress.rows}
    assert {"paste.example.org", "2001:db8::1", "192.0.2.7", "*.co.uk"} <= destinations
    assert not destinations & {"fd00::1", "100.64.1.1", "10.8.4.21", "10.20.0.15", "api.payments.example.net"}
    for claim in on_duckdb:
        assert on_spark[claim].verdict != "error", on_spark[claim].reason
        assert comparable(on_spark[claim]) == comparable(on_duckdb[claim]), claim


def test_rows_come_back_as_a_run_with_provenance_and_a_manifest(both: Any) -> None:
    _, on_spark = both
    gaps = on_spark["egress-controlled"].gaps
    rows = [dict(zip(gaps.columns, row, strict=True)) for row in gaps.rows]
    row = next(r for r in rows if r["destination"] == "paste.example.org")
    assert row["location"].endswith("prod-hubble.log")
    assert row["run_id"] and row["artifact_sha256"]


def test_a_missing_path_fails_the_run_in_one_line_and_keeps_the_store(tmp_path: Path, store: Store) -> None:
    pytest.importorskip("pyspark")
    before = store.con.execute("SELECT count(*) FROM runs").fetchone() if store.has_table("runs") else None
    config = {
        "inputs": [{"format": "vpcflow", "paths": [str(tmp_path / "absent")]}],
        "engine": {"name": "spark", "master": "local[2]", "output": str(tmp_path / "lake")},
    }
    result = run_source(store, LogsSource(), config)
    assert result.status == "failed"
    assert result.error.startswith("logs: Spark failed: ") and "\n" not in result.error and "absent" in result.error
    assert before is None or store.con.execute("SELECT count(*) FROM runs").fetchone()[0] == before[0] + 1


def test_without_pyspark_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from collector.plugins import SourceError
    from sources.logs.spark import spark_session

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(SourceError, match=r"pip install 'defensible\[spark\]'"):
        spark_session({"name": "spark"})

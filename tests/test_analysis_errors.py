"""A malformed object is left out of its analysis (an ``analysis_errors`` row names it), the rest of the inventory
is analysed, and every claim that uses that analysis is a gap for it: never silently satisfied because an object
was skipped. One store: cluster ``ok`` and cluster ``broken`` (the same inventory plus one malformed object per
analysis), analysed once and judged once per claim."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import collect_manifests, write
from test_analysis import MANIFESTS
from test_pack_reachability import rows

from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource

# reachability: an endPort below its port; gateway: a listener without a name; Service ports not a list: the
# BackendTLSPolicy analysis names the Service, the mesh analysis fails without naming it (the source finds the
# object that fails alone)
MALFORMED = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: shop}
spec: {podSelector: {}, ingress: [{ports: [{port: 90, endPort: 80}]}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: odd, namespace: infra}
spec: {listeners: [{port: 80, protocol: HTTP}]}
---
apiVersion: v1
kind: Service
metadata: {name: odd, namespace: shop}
spec: {selector: {app: web}, ports: "80"}
"""
# claim -> (pack, the objects its gap rows name, the words of their findings)
CLAIMS = {
    "public-exposure-controlled": ("k8s-networking", ["Gateway/odd"], "left out of the gateway analysis"),
    "route-conflicts-absent": ("k8s-networking", ["Gateway/odd"], "left out of the gateway analysis"),
    "access-restricted": ("k8s-networking", ["NetworkPolicy/bad"], "left out of the reachability analysis"),
    "lateral-movement-restricted": ("reachability", ["NetworkPolicy/bad"], "left out of the reachability analysis"),
    "egress-restricted-by-policy": ("reachability", ["NetworkPolicy/bad"], "left out of the reachability analysis"),
    "traffic-encrypted": ("k8s-networking", ["Service/odd", "Service/odd"], "analysis of cluster broken"),
    "backend-reencryption": ("k8s-networking", ["Service/odd", "Service/odd"], "analysis of cluster broken"),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("analysis-errors")
    with Store.open(folder / "store.duckdb") as store:
        for cluster, text in (("ok", MANIFESTS), ("broken", MANIFESTS + MALFORMED)):
            result = collect_manifests(store, write(folder / cluster / "m.yaml", text), cluster=cluster)
            assert result.status == "succeeded", result.error
        result = run_source(store, AnalysisSource(), {})
        assert result.status == "partial" and result.partial_reasons == [
            "cluster broken: 4 object(s) left out of the analysis (analysis_errors)"
        ]
        yield store


@pytest.fixture(scope="module")
def judged(store: Store) -> dict[str, ClaimResult]:
    """Every claim of CLAIMS, judged in one evaluation per pack."""
    results = {}
    for pack_id in sorted({pack for pack, _, _ in CLAIMS.values()}):
        pack = load_pack(resolve_pack(pack_id))
        pack = replace(pack, claims=tuple(c for c in pack.claims if c.id in CLAIMS))
        results.update({r.claim.id: r for r in evaluate_pack(store, pack, Settings())})
    return results


def test_each_analysis_runs_without_the_malformed_object(store: Store) -> None:
    errors = store.con.execute("SELECT cluster, analysis, kind, namespace, name FROM analysis_errors ORDER BY 2")
    assert errors.fetchall() == [
        ("broken", "backend-tls", "Service", "shop", "odd"),
        ("broken", "gateway", "Gateway", "infra", "odd"),
        ("broken", "mesh", "Service", "shop", "odd"),
        ("broken", "reachability", "NetworkPolicy", "shop", "bad"),
    ]
    for table in ("reach_class_conns", "gateway_attachments", "gateway_listener_status"):
        per_cluster = f"SELECT cluster, count(*) FROM {table} GROUP BY 1 ORDER BY 1"
        [broken, ok] = store.con.execute(per_cluster).fetchall()
        assert broken[1] == ok[1] > 0, table  # the rest of the inventory, analysed as in the healthy cluster


@pytest.mark.parametrize("claim", CLAIMS)
def test_a_claim_is_a_gap_for_each_object_its_analysis_left_out(judged: dict[str, ClaimResult], claim: str) -> None:
    _, objects, words = CLAIMS[claim]
    result = judged[claim]
    found = [(c, o, f) for c, o, f in rows(result.gaps, "cluster", "object", "finding") if "analysis" in f]
    left_out = sorted((c, o) for c, o, f in found if words in f)
    assert left_out == [("broken", o) for o in objects], found
    provenance = rows(result.gaps, "object", "run_id", "artifact_sha256")
    assert all(run and sha for o, run, sha in provenance if o in objects)

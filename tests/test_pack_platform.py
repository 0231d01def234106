"""The platform pack (issue 22): a compliant two-cluster baseline on which every claim is satisfied, and spec-first
counter-examples, each one change to the baseline that must turn its claim into a gap naming the offending object.
The corpus is tests/data/platform/ (baseline/<cluster>.yaml, cases.yaml: see the README there)."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from certs import issue
from helpers import collect_manifests

from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.store import Store

DATA = Path(__file__).parent / "data" / "platform"
CLUSTERS = ("prod-a", "prod-b")
CLAIMS = (
    "cidrs-recorded-disjoint",
    "clusters-cidrs-disjoint",
    "cni-enforces-policy",
    "cluster-dns-resilient",
    "mesh-trust-roots-consistent",
    "gateway-classes-approved",
)
APPROVED = {
    "approved_gateway_classes": ["internal"],
    "approved_gateway_controllers": ["example.com/gateway-controller"],
}
ROOT_MARK = "x-platform-root: "  # a ConfigMap value the test replaces with a generated root certificate
ROOTS = {name: issue(f"Istio root {name}", ca=True).pem.decode() for name in ("ca-1", "ca-2")}
CASES = yaml.safe_load((DATA / "cases.yaml").read_text())


def identity(obj: dict[str, Any]) -> tuple[str, str | None, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace"), meta["name"]


def baseline() -> dict[str, list[dict[str, Any]]]:
    return {c: [d for d in yaml.safe_load_all((DATA / "baseline" / f"{c}.yaml").read_text()) if d] for c in CLUSTERS}


def with_roots(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: with_roots(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [with_roots(v) for v in obj]
    if isinstance(obj, str) and obj.startswith(ROOT_MARK):
        return "".join(ROOTS[name.strip()] for name in obj[len(ROOT_MARK) :].split(","))
    return obj


def apply(clusters: dict[str, list[dict[str, Any]]], case: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The baseline with the case's one change: documents replaced (same kind, namespace, name), added, removed
    (``Kind namespace/name`` or ``Kind name``), or a cluster dropped (``drop_cluster``)."""
    out = copy.deepcopy(clusters)
    docs = out[case.get("cluster", "prod-a")]
    for new in case.get("replace", []):
        index = [identity(d) for d in docs].index(identity(new))
        docs[index] = new
    docs.extend(case.get("add", []))
    for ref in case.get("remove", []):
        kind, _, name = ref.partition(" ")
        namespace, _, name = name.rpartition("/")
        before = len(docs)
        docs[:] = [d for d in docs if identity(d) != (kind, namespace or None, name)]
        assert len(docs) == before - 1, f"{case['id']}: {ref} not in the baseline"
    if case.get("drop_cluster"):
        del out[case["drop_cluster"]]
    return out


def evaluate(store: Store, tmp_path: Path, clusters: dict[str, list[dict[str, Any]]]) -> dict[str, ClaimResult]:
    for cluster, docs in clusters.items():
        path = tmp_path / cluster / "objects.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(yaml.safe_dump_all(with_roots(docs)))
        assert collect_manifests(store, path.parent, cluster=cluster).status == "succeeded"
    pack = load_pack(resolve_pack("platform"))
    pack = replace(pack, parameters={**pack.parameters, **APPROVED})
    return {r.claim.id: r for r in evaluate_pack(store, pack, Settings())}


def findings(result: ClaimResult) -> list[str]:
    if not result.gaps.rows:
        return [result.reason] if result.verdict != "satisfied" else []
    i = result.gaps.columns.index("finding")
    return [row[i] for row in result.gaps.rows]


def test_baseline_satisfies_every_claim(store: Store, tmp_path: Path) -> None:
    results = evaluate(store, tmp_path, baseline())
    assert {c: (r.verdict, findings(r)) for c, r in results.items()} == {c: ("satisfied", []) for c in CLAIMS}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_counter_example_is_a_gap(store: Store, tmp_path: Path, case: dict[str, Any]) -> None:
    assert set(case) <= {"id", "claim", "description", "source", "cluster", "replace", "add", "remove",
                         "drop_cluster", "expect", "finding"}  # fmt: skip
    results = evaluate(store, tmp_path, apply(baseline(), case))
    result = results[case["claim"]]
    assert result.verdict == case.get("expect", "gap"), (result.reason, findings(result))
    if "finding" in case:
        assert any(case["finding"] in f for f in findings(result)), findings(result)

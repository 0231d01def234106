"""k8s-networking/exposure-rights-restricted: only the platform's identities can change public entry points.

A compliant baseline (satisfied) and one-change counter-examples (tests/data/exposure-rights/, README.md there),
each collected as its own cluster with the kubernetes and analysis sources and judged by the pack's SQL; plus the
clusters whose rights are not judged (RBAC not listed, analysis older than the inventory) and no RBAC at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import write
from test_pack_reachability import judge, rows

from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource
from sources.kubernetes.source import KIND_NAMES, KubernetesSource

CLAIM = "exposure-rights-restricted"
DATA = Path(__file__).parent / "data" / "exposure-rights"
BASELINE = [d for d in yaml.safe_load_all((DATA / "baseline.yaml").read_text()) if d]
CASES = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(DATA.glob("*.yaml")) if p.stem != "baseline"}
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
WITHOUT_RBAC = [d for d in BASELINE if d["kind"] not in RBAC_KINDS]  # listed, but no RBAC object in the files
PLATFORM = {
    "Group:system:masters", "ServiceAccount:flux-system/kustomize-controller",
    "ServiceAccount:flux-system/helm-controller", "ServiceAccount:argocd/argocd-application-controller",
}  # fmt: skip


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def objects(overlay: list[dict[str, Any]]) -> list[dict[str, Any]]:
    replaced = {key(d) for d in overlay}
    return [d for d in BASELINE if key(d) not in replaced] + overlay


def collect(store: Store, folder: Path, cluster: str, docs: list[dict[str, Any]], **config: Any) -> None:
    path = write(folder / cluster / "objects.yaml", yaml.safe_dump_all(docs))
    result = run_source(store, KubernetesSource(), {"paths": [str(path)], "cluster": cluster, **config})
    assert result.status == "succeeded", result.error


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("exposure-rights")
    with Store.open(folder / "store.duckdb") as store:
        collect(store, folder, "baseline", BASELINE)
        for case, spec in CASES.items():
            collect(store, folder, case, objects(spec["overlay"]))
        collect(store, folder, "no-rbac", BASELINE, kinds=[k for k in KIND_NAMES if k not in RBAC_KINDS])
        collect(store, folder, "rbac-not-in-manifests", WITHOUT_RBAC)
        assert run_source(store, AnalysisSource(), {}).status == "succeeded"
        collect(store, folder, "unanalysed", BASELINE)  # after the analysis
        yield judge(store, "k8s-networking", CLAIM)


def test_the_compliant_baseline_is_satisfied_by_the_platform_identities(judged: Any) -> None:
    assert judged.clusters["baseline"][0] == "satisfied", judged.clusters["baseline"]
    subjects = {s for c, s in rows(judged.evidence, "cluster", "subject") if c == "baseline"}
    assert subjects == PLATFORM
    details = [d for c, d in rows(judged.evidence, "cluster", "detail") if c == "baseline"]
    assert (
        "ServiceAccount:flux-system/kustomize-controller can create, patch, update envoyfilters.networking.istio.io, "
        "gateways.gateway.networking.k8s.io" in "\n".join(details)
    )
    assert any("via ClusterRoleBinding cluster-reconciler-flux-system -> ClusterRole cluster-admin rule 0" in d
               for d in details)  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_each_counter_example_is_a_gap_naming_subject_and_binding(judged: Any, case: str) -> None:
    assert judged.clusters[case][0] == "gap", judged.clusters[case]
    found = {
        (s, o, scope, indirect)
        for c, s, o, scope, indirect in rows(judged.gaps, "cluster", "subject", "object", "scope", "indirect")
        if c == case
    }
    expected = {(e["subject"], e["object"], e["scope"], e.get("indirect")) for e in CASES[case]["expect"]}
    assert found == expected


def test_gap_rows_name_rights_path_and_file(judged: Any) -> None:
    found = {
        (f, loc.split(":", 1)[-1].split(" (line ")[0])  # ROOT:file#document (line n)
        for c, f, loc in rows(judged.gaps, "cluster", "finding", "location")
        if c == "developers-edit-in-namespace"
    }
    binding = next(
        i
        for i, d in enumerate(objects(CASES["developers-edit-in-namespace"]["overlay"]))
        if d["metadata"]["name"] == "shop-devs"
    )
    via = "via RoleBinding shop/shop-devs -> ClusterRole edit (aggregating ClusterRole edit-networking)"
    can = "Group:shop-devs can create, patch, update"
    assert found == {
        (f"{can} services in namespace shop {via} rule 0", f"objects.yaml#{binding + 1}"),
        (f"{can} ingresses.networking.k8s.io in namespace shop {via} rule 1", f"objects.yaml#{binding + 1}"),
    }


def test_unjudged_clusters_are_gaps(judged: Any) -> None:
    not_in = "is not in its inventory"
    for cluster, words in (("no-rbac", f"the RBAC of cluster no-rbac {not_in}"),
                           ("rbac-not-in-manifests", f"the RBAC of cluster rbac-not-in-manifests {not_in}"),
                           ("unanalysed", "has no RBAC analysis of its current inventory")):  # fmt: skip
        assert judged.clusters[cluster][0] == "gap"
        findings = [f for c, f in rows(judged.gaps, "cluster", "finding") if c == cluster]
        assert any(words in f for f in findings), findings


def test_platform_identities_are_a_parameter(tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.duckdb") as store:
        collect(store, tmp_path, "prod", objects(CASES["developers-edit-in-namespace"]["overlay"]))
        assert run_source(store, AnalysisSource(), {}).status == "succeeded"
        assert judge(store, "k8s-networking", CLAIM).verdict == "gap"
        result = judge(store, "k8s-networking", CLAIM, exposure_identities=[*sorted(PLATFORM), "Group:shop-devs"])
        assert result.verdict == "satisfied", result.reason


def test_no_rbac_collected_is_no_evidence(tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.duckdb") as store:
        collect(store, tmp_path, "prod", BASELINE, kinds=[k for k in KIND_NAMES if k not in RBAC_KINDS])
        assert run_source(store, AnalysisSource(), {}).status == "succeeded"
        result = judge(store, "k8s-networking", CLAIM)
        assert result.verdict == "no-evidence" and "Kubernetes kind Role" in result.reason, result.reason
        # listed from manifests that hold no RBAC: the superuser group alone is no evidence
        collect(store, tmp_path, "prod", WITHOUT_RBAC)
        assert run_source(store, AnalysisSource(), {}).status == "succeeded"
        result = judge(store, "k8s-networking", CLAIM)
        assert (result.verdict, len(result.gaps.rows)) == ("no-evidence", 0), result.reason


def test_a_malformed_rbac_object_is_a_gap(tmp_path: Path) -> None:
    broken = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "odd", "namespace": "shop"},
        "rules": [{"apiGroups": [""], "resources": "services", "verbs": ["create"]}],
    }
    with Store.open(tmp_path / "store.duckdb") as store:
        collect(store, tmp_path, "prod", [*BASELINE, broken])
        assert run_source(store, AnalysisSource(), {}).status == "partial"
        result = judge(store, "k8s-networking", CLAIM)
    assert result.verdict == "gap"
    [(obj, finding)] = rows(result.gaps, "object", "finding")
    assert obj == "Role/odd" and finding.startswith("left out of the rbac analysis of cluster prod as malformed")

"""The platform pack (issue 22): a compliant two-cluster baseline on which every claim is satisfied, and spec-first
counter-examples, each one change to the baseline that must turn its claim into a gap naming the offending object.
The corpus is tests/data/platform/ (baseline/<cluster>.yaml, and cases.yaml whose header gives its format)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from certs import issue
from helpers import collect_manifests
from kube_api import FakeKubeAPI

from bundles.build import pack_inventories
from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.redaction import redact_object
from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource
from sources.kubernetes.source import KubernetesSource

DATA = Path(__file__).parent / "data" / "platform"
CLUSTERS = ("prod-a", "prod-b")
CLAIMS = (
    "cidrs-recorded-disjoint",
    "clusters-cidrs-disjoint",
    "cni-enforces-policy",
    "cluster-dns-resilient",
    "mesh-trust-roots-consistent",
    "gateway-classes-approved",
    "gateway-capacity-bounded",
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


# collection of what the pack reads -------------------------------------------------------------------------------


def test_default_parameters_approve_no_gateway_class(store: Store, tmp_path: Path) -> None:
    for cluster, docs in baseline().items():
        path = tmp_path / cluster / "objects.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(yaml.safe_dump_all(with_roots(docs)))
        collect_manifests(store, path.parent, cluster=cluster)
    (result,) = [
        r for r in evaluate_pack(store, load_pack(resolve_pack("platform"))) if r.claim.id == "gateway-classes-approved"
    ]
    assert result.verdict == "gap"
    assert sorted(findings(result)) == 2 * [
        "GatewayClass internal is not in approved_gateway_classes; its controller example.com/gateway-controller is "
        "not in approved_gateway_controllers"
    ]


def test_offline_keeps_only_the_named_configmaps_and_their_read_keys(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        yaml.safe_dump_all(
            [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "cilium-config", "namespace": "kube-system"},
                    "data": {"enable-policy": "always", "debug": "true", "bpf-lb-sock": "x"},
                },
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "cilium-config", "namespace": "other"},
                    "data": {"enable-policy": "never"},
                },
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "app", "namespace": "kube-system"},
                    "data": {"password": "hunter2"},
                },
            ]
        )
    )
    assert collect_manifests(store, path).status == "succeeded"
    rows = store.con.execute(
        "SELECT kind, namespace, name, data FROM k8s_current WHERE kind LIKE '%ConfigMap'"
    ).fetchall()
    assert rows == [("PlatformConfigMap", "kube-system", "cilium-config", '{"enable-policy":"always"}')]


def test_live_lists_each_named_configmap_by_field_selector(store: Store, tmp_path: Path) -> None:
    kube_system = "/api/v1/namespaces/kube-system/configmaps"
    cilium = {"metadata": {"name": "cilium-config", "namespace": "kube-system"},
              "data": {"enable-policy": "never", "cluster-name": "a", "debug-verbose": "flow"}}  # fmt: skip
    with FakeKubeAPI({kube_system: [cilium], "/api/v1/namespaces/istio-system/configmaps": []}) as api:
        config = {
            "contexts": ["ctx"],
            "kubeconfig": str(api.kubeconfig(tmp_path / "kc")),
            "kinds": ["PlatformConfigMap"],
        }
        result = run_source(store, KubernetesSource(), config)
    assert result.status == "succeeded", result.error
    selectors = sorted((r.path, r.query.get("fieldSelector")) for r in api.requests)
    assert selectors == sorted(
        (f"/api/v1/namespaces/{ns}/configmaps", f"metadata.name={name}")
        for ns, name in [
            ("kube-system", "cilium-config"),
            ("kube-system", "kube-proxy"),
            ("kube-system", "dns-autoscaler"),
            ("kube-system", "kube-dns-autoscaler"),
            ("kube-system", "coredns-autoscaler"),
            ("istio-system", "istio-ca-root-cert"),
            ("istio-system", "istio"),
        ]
    )
    # the fake server ignores field selectors: each kube-system listing returns cilium-config, kept once per name
    rows = store.con.execute("SELECT name, data FROM k8s_current WHERE name = 'cilium-config'").fetchall()
    assert rows and all(json.loads(data) == {"enable-policy": "never", "cluster-name": "a"} for _, data in rows)
    shas = store.con.execute("SELECT sha256 FROM artifacts").fetchall()
    artifacts = [store.artifact_path(sha).read_bytes() for (sha,) in shas]
    assert not any(b"debug-verbose" in body for body in artifacts)  # dropped keys are not kept raw either


def test_live_forbidden_named_configmaps_are_not_collectible(store: Store, tmp_path: Path) -> None:
    kube_system = {"/api/v1/namespaces/kube-system/configmaps": []}
    with FakeKubeAPI(kube_system, forbidden={"/api/v1/namespaces/istio-system/configmaps"}) as api:
        config = {
            "contexts": ["ctx"],
            "kubeconfig": str(api.kubeconfig(tmp_path / "kc")),
            "kinds": ["PlatformConfigMap"],
        }
        assert run_source(store, KubernetesSource(), config).status == "succeeded"
    assert store.con.execute("SELECT kind, status, reason FROM k8s_inventory").fetchall() == [
        ("PlatformConfigMap", "not-collectible", "forbidden")
    ]


def test_redaction_keeps_range_flags_and_policy_switch_only() -> None:
    pod = {"kind": "Pod", "spec": {"containers": [{
        "name": "kube-apiserver", "image": "k", "resources": {"requests": {"cpu": "250m"}},
        "command": ["kube-apiserver", "--service-cluster-ip-range=10.96.0.0/12,fd00::/108",
                    "--token-auth-file=/etc/t.csv", "--oidc-client-secret=s3cr3t"],
        "args": ["--enable-network-policy=true", "--cluster-cidr=10.0.0.0/8;rm", "--password=x"],
        "env": [{"name": "ENABLE_NETWORK_POLICY", "value": "true"}],
    }]}}  # fmt: skip
    assert redact_object(pod)["spec"]["containers"] == [
        {"name": "kube-apiserver", "image": "k", "resources": {"requests": {"cpu": "250m"}},
         "command": ["--service-cluster-ip-range=10.96.0.0/12,fd00::/108"],
         "args": ["--enable-network-policy=true", "--cluster-cidr"]}
    ]  # fmt: skip


def test_redaction_keeps_two_word_range_flags_and_go_boolean_switches() -> None:
    """pflag's ``--flag value`` keeps its value word (only a range's characters), a range option whose value is not
    kept its name alone; a Go boolean in any spelling."""
    container = {"name": "c", "image": "i",
                 "command": ["--cluster-cidr", "10.0.0.0/8,fd00::/48", "--service-cluster-ip-range", "$(RANGE)",
                             "--oidc-client-secret", "s3cr3t", "--cluster-cidr=$(POD_RANGE)", "--cluster-cidrs=x"],
                 "args": ["--enable-network-policy", "--enable-network-policy=T",
                          "--enable-network-policy=yes"]}  # fmt: skip
    assert redact_object({"kind": "Pod", "spec": {"containers": [container]}})["spec"]["containers"] == [
        {"name": "c", "image": "i",
         "command": ["--cluster-cidr", "10.0.0.0/8,fd00::/48", "--service-cluster-ip-range", "--cluster-cidr"],
         "args": ["--enable-network-policy", "--enable-network-policy=T"]}
    ]  # fmt: skip


CONFLICTED_GATEWAY = """
apiVersion: v1
kind: Namespace
metadata: {name: infra}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: internal
  listeners: [{name: http, port: 80, protocol: HTTP, hostname: a.example.com}]
status:
  listeners:
    - name: http
      attachedRoutes: 0
      conditions:
        - {type: Accepted, status: "True", reason: Accepted}
        - {type: Conflicted, status: "%s", reason: HostnameConflict, message: shares port 80 with a ListenerSet}
"""


@pytest.mark.parametrize(("status", "verdict"), [("True", "gap"), ("False", "satisfied")])
def test_listener_reported_conflicted_is_a_route_conflict(
    store: Store, tmp_path: Path, status: str, verdict: str
) -> None:
    """Gateway API ListenerConditionType Conflicted, set by the controller (here from a ListenerSet the inventory
    does not hold): route-conflicts-absent (k8s-networking) reports it whatever the attachment analysis found."""
    (tmp_path / "gw.yaml").write_text(CONFLICTED_GATEWAY % status)
    assert collect_manifests(store, tmp_path / "gw.yaml").status == "succeeded"
    assert run_source(store, AnalysisSource(), {}).status == "succeeded"
    pack = load_pack(resolve_pack("k8s-networking"))
    pack = replace(pack, claims=tuple(c for c in pack.claims if c.id == "route-conflicts-absent"))
    (result,) = evaluate_pack(store, pack)
    assert (result.verdict, findings(result)) == (
        verdict,
        ["listener http of Gateway infra/edge is reported Conflicted by its controller (HostnameConflict: shares "
         "port 80 with a ListenerSet)"] if status == "True" else [],
    )  # fmt: skip


EXTERNAL = [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "payments", "namespace": "shop"},
     "spec": {"type": "ExternalName", "externalName": "api.payments.example.net"}},
    {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
     "metadata": {"name": "ledger", "namespace": "shop"},
     "spec": {"hosts": ["ledger.example.org", "ledger-dr.example.org"], "location": "MESH_EXTERNAL",
              "resolution": "DNS"}},
    {"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceExport",
     "metadata": {"name": "shop", "namespace": "shop"},
     "status": {"conditions": [{"type": "Valid", "status": "True"}, {"type": "Conflict", "status": "False"}]}},
]  # fmt: skip


def test_inventories_record_the_network_dns_dependencies_and_exports(store: Store, tmp_path: Path) -> None:
    clusters = baseline()
    clusters["prod-a"] += EXTERNAL
    results = evaluate(store, tmp_path, clusters)
    assert results["cidrs-recorded-disjoint"].verdict == "satisfied"
    pack = load_pack(resolve_pack("platform"))
    inventories = {
        name: [dict(zip(q.columns, row, strict=True)) for q in [query] for row in q.rows]
        for name, query in pack_inventories(store, pack, Settings()).items()
    }
    assert inventories["cluster-network"] == [
        {"cluster": "prod-a", "pod_ranges": None, "node_pod_cidrs": 4,
         "service_ranges": "10.96.0.0/16, fd00:a:ffff::/112",
         "cni": "Cilium (kube-system/cilium, enforces NetworkPolicy: true)",
         "proxy_mode": "Cilium kube-proxy-replacement true", "dns": "coredns 2 replicas", "nodelocal_dns": True},
        {"cluster": "prod-b", "pod_ranges": "10.250.0.0/16", "node_pod_cidrs": 1, "service_ranges": "10.100.0.0/16",
         "cni": "Calico (calico-system/calico-node, enforces NetworkPolicy: true)",
         "proxy_mode": "kube-proxy mode ipvs", "dns": "coredns 3 replicas", "nodelocal_dns": False},
    ]  # fmt: skip
    assert inventories["external-dns-dependencies"] == [
        {"cluster": "prod-a", "namespace": "shop", "object": "Service/payments", "hosts": "api.payments.example.net",
         "location": "ExternalName", "resolution": None},
        {"cluster": "prod-a", "namespace": "shop", "object": "ServiceEntry/ledger",
         "hosts": "ledger.example.org, ledger-dr.example.org", "location": "MESH_EXTERNAL", "resolution": "DNS"},
    ]  # fmt: skip
    assert inventories["multicluster-services"] == [
        {"cluster": "prod-a", "namespace": "shop", "object": "ServiceExport/shop", "type": None,
         "conditions": "Conflict=False, Valid=True"}
    ]  # fmt: skip

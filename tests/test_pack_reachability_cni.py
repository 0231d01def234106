"""The reachability pack under Cilium and Calico policies: one store, one cluster per scenario (a compliant
baseline, and one-change variants that each open a regulated workload or leave part of a pair unmodelled)."""

from __future__ import annotations

import pytest
from test_pack_reachability import DB, collect, judge, rows

from collector.claims import ClaimResult
from collector.store import Store

API = "shop/api[Deployment]"


def cilium(name: str, spec: str, kind: str = "CiliumNetworkPolicy") -> str:
    meta = f"{{name: {name}, namespace: shop}}" if kind == "CiliumNetworkPolicy" else f"{{name: {name}}}"
    return f"apiVersion: cilium.io/v2\nkind: {kind}\nmetadata: {meta}\nspec: {spec}\n"


def calico(name: str, spec: str, kind: str = "NetworkPolicy") -> str:
    meta = f"{{name: {name}, namespace: shop}}" if kind == "NetworkPolicy" else f"{{name: {name}}}"
    return f"apiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata: {meta}\nspec: {spec}\n"


def anp(name: str, action: str) -> str:
    """An AdminNetworkPolicy on the regulated namespaces with one ingress rule for the `other` namespace."""
    return (
        f"apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: {name}}}\n"
        "spec: {priority: 10, subject: {namespaces: {matchLabels: {defensible.io/regulated: 'true'}}}, ingress: "
        f"[{{action: {action}, from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: other}}}}}}]}}]}}\n"
    )


API_SELECTED = "endpointSelector: {matchLabels: {app: api}}"
FROM_INFRA = "fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: infra}}]"
HTTP = "toPorts: [{ports: [{port: '8080', protocol: TCP}]}]"
SCENARIOS = {
    "baseline": [cilium("api", f"{{{API_SELECTED}, ingress: [{{{FROM_INFRA}, {HTTP}}}]}}")],
    "baseline-calico": [calico("no-other", "{order: 10, ingress: [{action: Deny, source: {namespaceSelector: "
                                           "projectcalico.org/name == 'other'}}]}")],
    # a Pass skips the rest of its tier, the Kubernetes policy (default tier, order 1000) included
    "calico-pass": [calico("no-other", "{order: 10, ingress: [{action: Deny, source: {namespaceSelector: "
                                       "projectcalico.org/name == 'other'}}, {action: Pass}]}")],
    "cnp-cluster": [cilium("api", f"{{{API_SELECTED}, ingress: [{{fromEntities: [cluster]}}]}}")],
    # admin policies beside Cilium, which does not implement them: the order between them is not modelled
    "anp-agrees": [cilium("api", f"{{{API_SELECTED}, ingress: [{{{FROM_INFRA}, {HTTP}}}]}}"), anp("guard", "Deny")],
    "anp-deny-cnp-allow": [cilium("api", f"{{{API_SELECTED}, ingress: [{{fromEntities: [cluster]}}]}}"),
                           anp("guard", "Deny")],
    "anp-allow-cnp-deny": [cilium("api", f"{{{API_SELECTED}, ingress: [{{{FROM_INFRA}, {HTTP}}}]}}"),
                           anp("open", "Allow")],
    "ccnp-world": [cilium("world", "{endpointSelector: {}, ingress: [{fromEntities: [world], " + HTTP + "}]}",
                          "CiliumClusterwideNetworkPolicy")],
    "cnp-l7": [cilium("api-l7", f"{{{API_SELECTED}, ingress: [{{{FROM_INFRA}, toPorts: [{{ports: [{{port: '8080', "
                                "protocol: TCP}], rules: {http: [{method: GET}]}}]}]}")],
    "calico-first": [calico("all-in", "{selector: app == 'api', order: 100, ingress: [{action: Allow, source: "
                                      "{namespaceSelector: all()}}]}")],
    "calico-egress": [calico("dns-out", "{selector: app == 'api', order: 10, egress: [{action: Allow, protocol: UDP, "
                                        "destination: {nets: [8.8.8.8/32], ports: [53]}}]}", "GlobalNetworkPolicy")],
    "cnp-fqdn": [cilium("api-fqdn", f"{{{API_SELECTED}, egress: [{{toFQDNs: [{{matchName: api.example.com}}]}}]}}")],
    "cnp-world-out": [cilium("api-out", f"{{{API_SELECTED}, egress: [{{toEntities: [world], toPorts: [{{ports: "
                                        "[{port: '443', protocol: TCP}]}]}]}")],
    "ccnp-cidr-out": [cilium("dns", "{endpointSelector: {}, egress: [{toCIDR: [8.8.8.8/32]}]}",
                             "CiliumClusterwideNetworkPolicy")],
    "calico-pass-out": [calico("skip", "{order: 10, egress: [{action: Pass}]}", "GlobalNetworkPolicy")],
    # as stored: a Cilium policy of `specs` only, a Calico policy as its operator's CRD keeps it
    "cnp-specs": [cilium("api", "null").replace("spec: null", f"specs: [{{{API_SELECTED}, ingress: [{{fromEntities: "
                                                              "[cluster]}]}]")],
    "calico-crd": [calico("all-in", "{selector: app == 'api', order: 100, ingress: [{action: Allow, source: "
                                    "{namespaceSelector: all()}}]}").replace("projectcalico.org/v3",
                                                                             "crd.projectcalico.org/v1")],
}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("cni")
    with Store.open(tmp_path / "evidence.duckdb") as st:
        for cluster, docs in SCENARIOS.items():
            collect(st, tmp_path, *docs, cluster=cluster, analyse=False)
        from collector.runner import run_source
        from sources.analysis.source import AnalysisSource

        assert run_source(st, AnalysisSource(), {}).status == "succeeded"
        yield st


@pytest.fixture(scope="module")
def lateral(store: Store) -> ClaimResult:
    return judge(store, "reachability", "lateral-movement-restricted")


@pytest.fixture(scope="module")
def egress(store: Store) -> ClaimResult:
    return judge(store, "reachability", "egress-restricted-by-policy", egress_allowlist=DB)


def gaps(result: ClaimResult, cluster: str, *columns: str) -> list[tuple]:
    return [row[1:] for row in rows(result.gaps, "cluster", *columns) if row[0] == cluster]


@pytest.mark.parametrize("cluster", ["baseline", "baseline-calico", "anp-agrees"])
def test_compliant_baselines_have_no_gap(lateral: ClaimResult, egress: ClaimResult, cluster: str) -> None:
    assert gaps(lateral, cluster, "finding") == [] and gaps(egress, cluster, "finding") == []
    assert ("infra/gw[Deployment]", API) in [r[1:] for r in rows(lateral.evidence, "cluster", "src", "dst")]


def test_cilium_policies_opening_the_regulated_workload_are_gaps(lateral: ClaimResult) -> None:
    assert gaps(lateral, "cnp-cluster", "src", "dst", "conn") == [("other/batch[Deployment]", API, "All Connections")]
    assert gaps(lateral, "ccnp-world", "src", "conn") == [
        ("0.0.0.0-255.255.255.255", "TCP 8080"),
        ("::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "TCP 8080"),
    ]


@pytest.mark.parametrize("cluster", ["cnp-specs", "calico-crd"])
def test_policies_as_stored_are_read(store: Store, lateral: ClaimResult, cluster: str) -> None:
    kinds = {"cnp-specs": "CiliumNetworkPolicy", "calico-crd": "NetworkPolicy.crd.projectcalico.org"}
    [(kind,)] = store.con.execute(
        "SELECT kind FROM k8s_current WHERE cluster = ? AND kind IN ('CiliumNetworkPolicy', "
        "'NetworkPolicy.crd.projectcalico.org')",
        [cluster],
    ).fetchall()
    assert kind == kinds[cluster]
    assert gaps(lateral, cluster, "src", "conn") == [("other/batch[Deployment]", "All Connections")]


def test_calico_allow_or_pass_ordered_before_the_kubernetes_policy_is_a_gap(lateral: ClaimResult) -> None:
    assert gaps(lateral, "calico-first", "src", "conn") == [("other/batch[Deployment]", "All Connections")]
    assert gaps(lateral, "calico-pass", "src", "conn") == [
        ("0.0.0.0-255.255.255.255", "All Connections"),
        ("::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "All Connections"),
    ]


def test_an_l7_rule_is_an_unmodelled_gap_naming_the_policy(lateral: ClaimResult) -> None:
    [(obj, src, dst, finding, location)] = gaps(lateral, "cnp-l7", "object", "src", "dst", "finding", "location")
    assert (obj, src, dst) == ("CiliumNetworkPolicy/api-l7", "infra/gw[Deployment]", API)
    assert finding.startswith(f"infra/gw[Deployment] => {API}: not modelled by the reachability analysis ")
    assert "CiliumNetworkPolicy shop/api-l7: spec.ingress[0]: L7 rules (http) on toPorts[0]" in finding
    assert location.endswith("extra0.yaml#1 (line 1)")


def test_egress_opened_by_cilium_allows_or_a_calico_pass_is_a_gap(egress: ClaimResult) -> None:
    world = [(API, "0.0.0.0-10.0.255.255", "TCP 443"), (API, "10.2.0.0-255.255.255.255", "TCP 443"),
             (API, "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "TCP 443")]  # fmt: skip
    assert gaps(egress, "cnp-world-out", "src", "external", "conn") == world
    assert gaps(egress, "ccnp-cidr-out", "src", "external", "conn") == [(API, "8.8.8.8-8.8.8.8", "All Connections")]
    passed = gaps(egress, "calico-pass-out", "src", "external", "conn")  # the Kubernetes policy is skipped
    assert passed == [(API, "0.0.0.0-255.255.255.255", "All Connections"),
                      (API, "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "All Connections")]  # fmt: skip


def test_egress_opened_by_calico_or_dns_names_is_a_gap(egress: ClaimResult) -> None:
    assert gaps(egress, "calico-egress", "src", "external", "conn") == [(API, "8.8.8.8-8.8.8.8", "UDP 53")]
    fqdn = gaps(egress, "cnp-fqdn", "object", "external", "conn")
    assert ("CiliumNetworkPolicy/api-fqdn", "0.0.0.0-255.255.255.255", None) in fqdn  # unmodelled: DNS names
    assert ("Deployment/api", "0.0.0.0-255.255.255.255", "All Connections") in fqdn  # taken as every address


def test_access_restricted_reports_unmodelled_pairs_too(store: Store) -> None:
    result = judge(store, "k8s-networking", "access-restricted")
    unmodelled = [f for (f,) in gaps(result, "cnp-l7", "finding") if "not modelled" in f]
    assert [f.split(" (")[0] for f in unmodelled] == [
        f"infra/gw[Deployment] => {API}: not modelled by the reachability analysis"
    ]
    assert not [f for (f,) in gaps(result, "baseline", "finding") if "not modelled" in f]


@pytest.mark.parametrize(("cluster", "policy"), [("anp-deny-cnp-allow", "guard"), ("anp-allow-cnp-deny", "open")])
def test_admin_policy_against_cilium_on_a_regulated_workload_is_a_gap(
    lateral: ClaimResult, cluster: str, policy: str
) -> None:
    [(obj, src, finding)] = gaps(lateral, cluster, "object", "src", "finding")
    assert (obj, src) == (f"AdminNetworkPolicy/{policy}", "other/batch[Deployment]")
    assert "order between admin policies and Cilium not modelled" in finding
    assert "CiliumNetworkPolicy shop/api" in finding and "NetworkPolicy shop/api" in finding
    lines = [r[1:] for r in rows(lateral.evidence, "cluster", "src") if r[0] == cluster]
    assert ("other/batch[Deployment]",) not in lines  # the lines alone would look compliant

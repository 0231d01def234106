"""The reachability pack (lateral movement, egress by policy) and k8s-networking's public exposure claim and public
routes with the Gateway API attachment analysis: each rule, on small manifests analysed by the analysis source."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers import write

from bundles.build import pack_inventories
from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource
from sources.kubernetes.source import KIND_NAMES, KubernetesSource

# Regulated shop/api admits infra (its declared callers) on http and may reach only the database range 10.1.0.0/16.
BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {defensible.io/regulated: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: infra}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop, annotations: {defensible.io/allowed-callers: "infra/*"}}
spec:
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: gw, namespace: infra}
spec: {template: {metadata: {labels: {app: gw}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: batch, namespace: other}
spec: {template: {metadata: {labels: {app: batch}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: infra}}}], ports: [{port: http}]}]
  egress: [{to: [{ipBlock: {cidr: 10.1.0.0/16}}], ports: [{port: 5432}]}]
"""
DB = ["10.1.0.0/16"]
GW_TO_API = "infra/gw[Deployment] can connect to shop/api[Deployment] (TCP 8080)"


def doc(kind: str, name: str, namespace: str, body: str) -> str:
    api = {"NetworkPolicy": "networking.k8s.io/v1", "Deployment": "apps/v1", "Namespace": "v1", "ConfigMap": "v1"}
    return f"apiVersion: {api[kind]}\nkind: {kind}\nmetadata: {{name: {name}, namespace: {namespace}}}\n{body}\n"


def collect(store: Store, tmp_path: Path, *docs: str, base: str = BASE, cluster: str = "test", analyse: bool = True):
    """Collect ``base`` and ``docs`` (egress allowlist ConfigMaps included) as ``cluster``, then analyse it."""
    folder = tmp_path / cluster
    write(folder / "base.yaml", base)
    for i, text in enumerate(docs):
        write(folder / f"extra{i}.yaml", text)
    config = {"paths": [str(folder)], "cluster": cluster, "egress_allowlists": True}
    assert run_source(store, KubernetesSource(), config).status == "succeeded"
    if analyse:
        result = run_source(store, AnalysisSource(), {})
        assert result.status == "succeeded", result.error


def judge(store: Store, pack_id: str, claim: str, **parameters: Any) -> ClaimResult:
    pack = load_pack(resolve_pack(pack_id))
    pack = replace(pack, claims=tuple(c for c in pack.claims if c.id == claim))
    [result] = evaluate_pack(store, pack, Settings(parameters=parameters))
    return result


def rows(query: Any, *columns: str) -> list[tuple]:
    index = [query.columns.index(c) for c in columns]
    return [tuple(row[i] for i in index) for row in query.rows]


def findings(result: ClaimResult) -> list[str]:
    return [f for (f,) in rows(result.gaps, "finding")]


def details(result: ClaimResult) -> list[str]:
    return [d for (d,) in rows(result.evidence, "detail")]


# lateral-movement-restricted ---------------------------------------------------------------------------------


def test_declared_callers_satisfy_lateral_movement(store: Store, tmp_path: Path) -> None:
    collect(store, tmp_path)
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert result.verdict == "satisfied", result.reason
    [row] = [dict(zip(result.evidence.columns, r, strict=True)) for r in result.evidence.rows]
    assert {k: row[k] for k in ("cluster", "namespace", "object", "src", "dst", "src_namespace", "conn")} == {
        "cluster": "test",
        "namespace": "shop",
        "object": "Deployment/api",
        "src": "infra/gw[Deployment]",
        "dst": "shop/api[Deployment]",
        "src_namespace": "infra",
        "conn": "TCP 8080",
    }
    assert (
        row["detail"] == f'{GW_TO_API}, declared by "infra/*" in defensible.io/allowed-callers of Deployment shop/api'
    )
    assert row["source"] == "analysis" and row["location"].endswith("base.yaml#4 (line 13)")


def test_undeclared_caller_is_a_gap_naming_the_declaration(store: Store, tmp_path: Path) -> None:
    from_other = "spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 8080}]}]}"
    collect(store, tmp_path, doc("NetworkPolicy", "open", "shop", from_other))
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert result.verdict == "gap"
    assert rows(result.gaps, "src", "dst", "conn", "declared_in") == [
        ("other/batch[Deployment]", "shop/api[Deployment]", "TCP 8080", "Deployment shop/api")
    ]
    assert findings(result) == [
        "other/batch[Deployment] can connect to shop/api[Deployment] (TCP 8080) but is not a declared caller: "
        'defensible.io/allowed-callers of Deployment shop/api is "infra/*"; opened by: NetworkPolicy shop/open'
    ]
    assert rows(result.evidence, "src") == [("infra/gw[Deployment]",)]


def test_namespace_declaration_applies_unless_the_workload_has_its_own(store: Store, tmp_path: Path) -> None:
    namespace = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {defensible.io/regulated: "true"},\n'
    namespace += "  annotations: {defensible.io/allowed-callers: 'infra/gw, other/*'}}\n"
    base = BASE.replace(
        'metadata: {name: shop, labels: {defensible.io/regulated: "true"}}\n', namespace.split("\n", 2)[2]
    ).replace(', annotations: {defensible.io/allowed-callers: "infra/*"}', "")
    from_other = "spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 8080}]}]}"
    collect(store, tmp_path, doc("NetworkPolicy", "open", "shop", from_other), base=base)
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert result.verdict == "satisfied", findings(result)
    assert rows(result.evidence, "src", "declared_in") == [
        ("infra/gw[Deployment]", "Namespace shop"),
        ("other/batch[Deployment]", "Namespace shop"),
    ]
    assert result.evidence.rows[0][result.evidence.columns.index("location")].endswith("base.yaml#1 (line 1)")


def test_workload_declaration_overrides_the_namespace(store: Store, tmp_path: Path) -> None:
    base = BASE.replace(
        'metadata: {name: shop, labels: {defensible.io/regulated: "true"}}',
        'metadata: {name: shop, labels: {defensible.io/regulated: "true"}, '
        'annotations: {defensible.io/allowed-callers: "other/*"}}',
    )
    from_other = "spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 8080}]}]}"
    collect(store, tmp_path, doc("NetworkPolicy", "open", "shop", from_other), base=base)
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert rows(result.gaps, "src", "declared_in") == [("other/batch[Deployment]", "Deployment shop/api")]


@pytest.mark.parametrize(("callers", "verdict"), [("infra/*", "gap"), ("infra/*, shop/*", "satisfied"),
                                                  ("shop/worker,infra/gw", "satisfied")])  # fmt: skip
def test_same_namespace_callers_must_be_declared(store: Store, tmp_path: Path, callers: str, verdict: str) -> None:
    worker = "spec: {template: {metadata: {labels: {app: worker}}}}"
    same = "spec: {podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: worker}}}]}]}"
    base = BASE.replace('allowed-callers: "infra/*"', f'allowed-callers: "{callers}"')
    collect(store, tmp_path, doc("Deployment", "worker", "shop", worker), doc("NetworkPolicy", "w", "shop", same),
            base=base)  # fmt: skip
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert result.verdict == verdict
    if verdict == "gap":
        assert rows(result.gaps, "src", "conn") == [("shop/worker[Deployment]", "All Connections")]


@pytest.mark.parametrize(
    ("callers", "verdict"),
    [("infra/*, 192.168.0.0/16", "satisfied"), ("infra/*, 192.168.0.0/17, 192.168.128.0/17", "satisfied"),
     ("infra/*, 192.168.1.0/24", "gap"), ("infra/*, 192.168.0.0/17, 192.168.129.0/24", "gap")],
)  # fmt: skip
def test_external_callers_are_declared_by_a_cidr_holding_the_whole_range(
    store: Store, tmp_path: Path, callers: str, verdict: str
) -> None:
    external = "spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 192.168.0.0/16}}], ports: [{port: 8080}]}]}"
    base = BASE.replace('allowed-callers: "infra/*"', f'allowed-callers: "{callers}"')
    collect(store, tmp_path, doc("NetworkPolicy", "lb", "shop", external), NODE, base=base)  # pods: 10.244.1.0/24
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert result.verdict == verdict
    if verdict == "gap":  # the declared CIDRs together must hold the whole range
        assert rows(result.gaps, "src", "src_namespace") == [("192.168.0.0-192.168.255.255", None)]
    else:
        [detail] = [d for (src, d) in rows(result.evidence, "src", "detail") if src == "192.168.0.0-192.168.255.255"]
        assert f'declared by "{callers.removeprefix("infra/*, ")}"' in detail


NODE = """apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24]}
status: {addresses: [{type: InternalIP, address: 192.168.3.4}, {type: Hostname, address: n1}]}
"""
HOST_AGENT = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: other}
spec: {template: {metadata: {labels: {app: agent}}, spec: {hostNetwork: true}}}
"""

CALICO_POOL = """apiVersion: crd.projectcalico.org/v1
kind: IPPool
metadata: {name: default-ipv4-ippool}
spec: {cidr: 192.168.0.0/16, ipipMode: Always, natOutgoing: true}
"""
AWS_NODE = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: aws-node, namespace: kube-system}
spec: {template: {metadata: {labels: {k8s-app: aws-node}}, spec: {hostNetwork: true}}}
"""


@pytest.mark.parametrize(
    ("cidr", "extra", "range_"),
    [("10.0.0.0/8", [NODE], "10.244.1.0/24 (pod range of Node n1)"),
     ("192.168.0.0/16", [NODE, HOST_AGENT], "192.168.3.4 (address of Node n1, where host-network pods run)"),
     ("192.168.0.0/16", [], "192.168.0.0/16 (private range: no pod range recorded)"),
     ("192.168.0.0/16", [NODE, CALICO_POOL], "192.168.0.0/16 (pod range of IPPool default-ipv4-ippool)"),
     ("10.0.0.0/8", [NODE.replace("{type: InternalIP, address: 192.168.3.4}, ", ""), HOST_AGENT],
      "10.0.0.0/8 (private range: host-network pods run and no Node address is recorded), "
      "10.244.1.0/24 (pod range of Node n1)"),
     ("192.168.0.0/16", [NODE, AWS_NODE], "192.168.0.0/16 (private range: aws-node gives pods addresses not in the "
                                          "inventory)")],
)  # fmt: skip
def test_declared_ranges_holding_the_clusters_own_addresses_are_gaps(
    store: Store, tmp_path: Path, cidr: str, extra: list[str], range_: str
) -> None:
    """An ipBlock may match the cluster's own pods (the network plugin decides; a host-network pod's address is its
    node's): a declared range that may hold them admits undeclared workloads."""
    rule = f"{{from: [{{ipBlock: {{cidr: {cidr}}}}}], ports: [{{port: 8080}}]}}"
    external = f"spec: {{podSelector: {{}}, ingress: [{rule}]}}"
    base = BASE.replace('allowed-callers: "infra/*"', f'allowed-callers: "infra/*, {cidr}"')
    collect(store, tmp_path, doc("NetworkPolicy", "lb", "shop", external), *extra, base=base)
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert result.verdict == "gap"
    [finding] = findings(result)
    assert f'declared by "{cidr}", but the range holds {range_}' in finding
    assert "opened by: NetworkPolicy shop/lb" in finding


def test_missing_annotation_and_invalid_pattern(store: Store, tmp_path: Path) -> None:
    collect(store, tmp_path, base=BASE.replace('allowed-callers: "infra/*"', 'allowed-callers: "infra/*, Infra_GW"'))
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert findings(result) == [
        'defensible.io/allowed-callers of Deployment shop/api: "Infra_GW" is not a pattern (ns/name, ns/* or an IPv4 '
        "CIDR)"
    ]
    collect(store, tmp_path, base=BASE.replace(', annotations: {defensible.io/allowed-callers: "infra/*"}', ""))
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert findings(result) == [
        f"{GW_TO_API} but is not a declared caller: no defensible.io/allowed-callers annotation on the workload or its "
        "namespace; opened by: NetworkPolicy shop/api"
    ]


def test_isolated_regulated_workload_is_evidence(store: Store, tmp_path: Path) -> None:
    collect(store, tmp_path, base=BASE.replace("ingress: [{from:", "ingress: [] #"))
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert result.verdict == "satisfied"
    assert details(result) == ["no workload or external address can connect to shop/api[Deployment]"]


def admin(kind: str, name: str, spec: str) -> str:
    return f"apiVersion: policy.networking.k8s.io/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec: {spec}\n"


def anp(
    name: str, priority: int, rest: str, subject: str = "{namespaces: {matchLabels: {defensible.io/regulated: 'true'}}}"
) -> str:
    return admin("AdminNetworkPolicy", name, f"{{priority: {priority}, subject: {subject}, {rest}}}")


# Admin policies of a compliant platform: a guardrail keeps `other` out of regulated namespaces and denies SMTP from
# them; the baseline denies ingress between namespaces where no NetworkPolicy isolates a pod.
GUARDRAILS = (
    anp(
        "guard",
        10,
        "ingress: [{action: Deny, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: other}}}]}],"
        " egress: [{action: Deny, to: [{networks: [0.0.0.0/0]}], ports: [{portNumber: {protocol: TCP, port: 25}}]}]",
    ),
    admin(
        "BaselineAdminNetworkPolicy",
        "default",
        "{subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}]}]}",
    ),
)
API_PODS = "{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: api}}}}"
# Spec-first counter-examples (policy.networking.k8s.io/v1alpha1 API reference): each one change to the compliant
# platform that must turn exactly its claim into a gap whose rows name the offender.
LATERAL_CASES = {
    # an Allow at a higher priority (lower number) than the guard's Deny wins, and skips the NetworkPolicy
    "allow-before-guard": (
        anp(
            "open-other",
            5,
            "ingress: [{action: Allow, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: other}}}]}]",
        ),
        (
            "other/batch[Deployment]",
            "shop/api[Deployment]",
            "All Connections",
            "opened by: AdminNetworkPolicy open-other",
        ),
    ),
    # a pods subject and a pods peer; portRange
    "pods-port-range": (
        anp(
            "batch-range",
            3,
            "ingress: [{action: Allow, ports: [{portRange: {protocol: TCP, start: 8000, end: 8100}}],"
            " from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: batch}}}}]}]",
            API_PODS,
        ),
        (
            "other/batch[Deployment]",
            "shop/api[Deployment]",
            "TCP 8000-8100",
            "opened by: AdminNetworkPolicy batch-range",
        ),
    ),
    # every namespace, one portNumber: the guard's Deny for `other` comes later
    "ssh-from-everywhere": (
        anp(
            "ssh",
            2,
            "ingress: [{action: Allow, from: [{namespaces: {}}], ports: [{portNumber: {protocol: TCP, port: 22}}]}]",
        ),
        ("other/batch[Deployment]", "shop/api[Deployment]", "TCP 22", "opened by: AdminNetworkPolicy ssh"),
    ),
    # a namedPort resolves against the destination's container ports; NotIn matches every other namespace
    "named-port-not-in": (
        anp(
            "http-not-infra",
            1,
            "ingress: [{action: Allow, from: [{namespaces: {matchExpressions: [{key: kubernetes.io/metadata.name,"
            " operator: NotIn, values: [infra]}]}}], ports: [{namedPort: http}]}]",
            API_PODS,
        ),
        ("other/batch[Deployment]", "shop/api[Deployment]", "TCP 8080", "opened by: AdminNetworkPolicy http-not-infra"),
    ),
    # equal priorities have no defined order: an Allow beside the guard's Deny may win
    "same-priority-as-guard": (
        anp(
            "tie",
            10,
            "ingress: [{action: Allow, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: other}}}]}]",
        ),
        ("other/batch[Deployment]", "shop/api[Deployment]", "All Connections", "opened by: AdminNetworkPolicy tie"),
    ),
    # rule order within one policy: the Allow on 9090 comes before the Deny of everything else
    "rule-order": (
        anp(
            "metrics-first",
            5,
            "ingress: [{action: Allow, from: [{namespaces: {}}], ports: [{portNumber: {protocol: TCP, port: 9090}}]},"
            " {action: Deny, from: [{namespaces: {}}]}]",
        ),
        ("other/batch[Deployment]", "shop/api[Deployment]", "TCP 9090", "opened by: AdminNetworkPolicy metrics-first"),
    ),
    # networks are checked against pod traffic too, and pod addresses are unknown: with `other` kept out of shop by
    # its own egress rules (and shop's ingress open to it), an Allow to the pod network may let it in
    "networks-may-hold-pods": (
        anp(
            "other-out",
            1,
            "egress: [{action: Allow, to: [{networks: [10.0.0.0/8]}]}, {action: Deny, to: [{namespaces: {}}]}]",
            "{namespaces: {matchLabels: {kubernetes.io/metadata.name: other}}}",
        )
        + "---\n"
        + anp("shop-in", 2, "ingress: [{action: Allow, from: [{namespaces: {}}]}]"),
        (
            "other/batch[Deployment]",
            "shop/api[Deployment]",
            None,
            "(AdminNetworkPolicy other-out: spec.egress[0].to[0].networks (workloads): ",
        ),
    ),
}
V4_ALL, V6_ALL = "0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
EGRESS_CASES = {
    # an egress Allow skips the NetworkPolicy's egress isolation
    "https-anywhere": (
        anp(
            "internet",
            5,
            "egress: [{action: Allow, to: [{networks: [0.0.0.0/0]}],"
            " ports: [{portNumber: {protocol: TCP, port: 443}}]}]",
        ),
        ("shop/api[Deployment]", "0.0.0.0-10.0.255.255", "TCP 443", "opened by: AdminNetworkPolicy internet"),
    ),
    "dns-to-lan": (
        anp(
            "lan-dns",
            6,
            "egress: [{action: Allow, to: [{networks: [192.168.0.0/16]}],"
            " ports: [{portNumber: {protocol: UDP, port: 53}}]}]",
            API_PODS,
        ),
        ("shop/api[Deployment]", "192.168.0.0-192.168.255.255", "UDP 53", "opened by: AdminNetworkPolicy lan-dns"),
    ),
    "ipv6-same-priority-as-guard": (
        anp("v6", 10, "egress: [{action: Allow, to: [{networks: ['::/0']}]}]"),
        (
            "shop/api[Deployment]",
            "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "All Connections",
            "opened by: AdminNetworkPolicy v6",
        ),
    ),
    # nodes and domainNames select addresses the inventory does not know
    "nodes": (
        anp("kubelet", 7, "egress: [{action: Allow, to: [{nodes: {}}]}]"),
        ("shop/api[Deployment]", V4_ALL, None, "(AdminNetworkPolicy kubelet: spec.egress[0].to[0].nodes (nodes): "),
    ),
    "domain-names": (
        anp("saas", 8, "egress: [{action: Allow, to: [{domainNames: [api.example.com]}]}]"),
        (
            "shop/api[Deployment]",
            V6_ALL,
            None,
            "(AdminNetworkPolicy saas: spec.egress[0].to[0].domainNames (addresses): ",
        ),
    ),
}


def test_admin_network_policy_counter_examples(store: Store, tmp_path: Path) -> None:
    """Every case in its own cluster of one store, analysed and judged once."""
    cases = {"baseline": None, **{k: v for k, v in LATERAL_CASES.items()}, **EGRESS_CASES}
    for cluster, case in cases.items():
        collect(store, tmp_path, *GUARDRAILS, *([case[0]] if case else []), cluster=cluster, analyse=False)
    assert run_source(store, AnalysisSource(), {}).status == "succeeded"
    for claim, mine, columns in (
        ("lateral-movement-restricted", LATERAL_CASES, ("src", "dst", "conn")),
        ("egress-restricted-by-policy", EGRESS_CASES, ("src", "external", "conn")),
    ):
        result = judge(store, "reachability", claim, egress_allowlist=DB)
        gaps: dict[str, list[tuple]] = {}
        for row in rows(result.gaps, "cluster", *columns, "finding"):
            gaps.setdefault(row[0], []).append(row[1:])
        assert set(gaps) == set(mine), claim  # the baseline and the other claim's cases stay satisfied
        for cluster, (_, (*expected, named)) in mine.items():
            [row] = [g for g in gaps[cluster] if g[0] == expected[0] and (expected[1] is None or g[1] == expected[1])]
            assert [e for e in expected if e is not None] == [
                v for v, e in zip(row, expected, strict=False) if e is not None
            ], cluster
            assert named in row[-1], (cluster, row[-1])


def test_admin_policies_never_listed_are_gaps(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", BASE)
    kinds = [k for k in KIND_NAMES if "AdminNetworkPolicy" not in k]
    config = {"paths": [str(tmp_path)], "cluster": "test", "kinds": kinds}
    assert run_source(store, KubernetesSource(), config).status == "succeeded"
    assert run_source(store, AnalysisSource(), {}).status == "succeeded"
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert result.verdict == "gap" and sorted(findings(result))[0].startswith(
        "the AdminNetworkPolicy objects of cluster test were never listed: the reachability analysis may miss policies"
    )


def test_claims_need_an_analysis_of_the_current_inventory(store: Store, tmp_path: Path) -> None:
    collect(store, tmp_path, analyse=False)
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert (result.verdict, result.reason) == (
        "no-evidence",
        "required evidence not collected: table reach_class_conns, reachability_unmodelled, analysis_inputs, "
        "analysis_workloads absent",
    )
    collect(store, tmp_path)
    collect(store, tmp_path, base=BASE, cluster="test", analyse=False)  # listed again after the analysis
    for claim in ("lateral-movement-restricted", "egress-restricted-by-policy"):
        result = judge(store, "reachability", claim, egress_allowlist=DB)
        assert result.verdict == "gap" and rows(result.evidence, "src") == []
        [finding] = findings(result)
        assert finding.startswith("the latest reachability analysis of cluster test (run ")
        assert finding.endswith(
            "read Kubernetes listings that are no longer current: run `defensible collect analysis`"
        )
    collect(store, tmp_path, cluster="second", analyse=False)
    run_source(store, AnalysisSource(), {"clusters": ["test"]})
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert rows(result.gaps, "cluster", "object", "finding") == [
        ("second", "Namespace/shop", "no reachability analysis of cluster second: run `defensible collect analysis`")
    ]


# egress-restricted-by-policy ---------------------------------------------------------------------------------


def test_an_analysis_stored_before_classes_is_not_read(store: Store, tmp_path: Path) -> None:
    # an analysis whose reachability was stored per pair (before reach_class_conns) has no class rows: read as is,
    # every regulated workload would look unreachable; the claims ask for the analysis to be run again instead
    collect(store, tmp_path)
    store.con.execute("UPDATE analysis_inputs SET reach_classes = NULL")
    for pack, claim in (("reachability", "lateral-movement-restricted"), ("k8s-networking", "access-restricted")):
        result = judge(store, pack, claim, egress_allowlist=DB)
        assert result.verdict == "gap", (pack, claim)
        assert any("collect analysis" in f for f in findings(result)), findings(result)


def test_egress_inside_the_allowlist_parameter(store: Store, tmp_path: Path) -> None:
    collect(store, tmp_path)
    result = judge(store, "reachability", "egress-restricted-by-policy", egress_allowlist=DB)
    assert result.verdict == "satisfied"
    assert rows(result.evidence, "namespace", "object", "src", "external", "conn", "allowed_by") == [
        ("shop", "Deployment/api", "shop/api[Deployment]", "10.1.0.0-10.1.255.255", "TCP 5432",
         "10.1.0.0/16 (parameter egress_allowlist)")
    ]  # fmt: skip
    result = judge(store, "reachability", "egress-restricted-by-policy")
    assert findings(result) == [
        "shop/api[Deployment] can connect to 10.1.0.0-10.1.255.255 (TCP 5432), outside the egress allowlist; opened "
        "by: NetworkPolicy shop/api"
    ]


@pytest.mark.parametrize(
    ("allowlist", "verdict"),
    [(["10.1.0.0/17", "10.1.128.0/17"], "satisfied"), (["10.1.0.0/17", "10.1.128.0/18"], "gap"),
     (["10.0.0.0/8", "10.1.0.0/16"], "satisfied"), (["10.1.0.1"], "gap"), (["db.example.com", "*"], "gap")],
)  # fmt: skip
def test_allowlist_ranges_are_merged_and_names_ignored(
    store: Store, tmp_path: Path, allowlist: list[str], verdict: str
) -> None:
    collect(store, tmp_path)
    assert judge(store, "reachability", "egress-restricted-by-policy", egress_allowlist=allowlist).verdict == verdict


def allowlist_configmap(namespace: str, *entries: str) -> str:
    data = "".join(f"    {e}\n" for e in entries)
    return doc("ConfigMap", "egress", namespace, f"data:\n  networks: |\n{data}").replace(
        f"namespace: {namespace}}}", f"namespace: {namespace}, labels: {{defensible.io/egress-allowlist: 'true'}}}}"
    )


def test_allowlist_configmaps_count_in_their_cluster_only(store: Store, tmp_path: Path) -> None:
    collect(
        store, tmp_path, allowlist_configmap("platform", "api.example.com", "10.1.0.0/16   # database"), cluster="a"
    )
    collect(store, tmp_path, cluster="b")
    result = judge(store, "reachability", "egress-restricted-by-policy")
    assert rows(result.evidence, "cluster", "allowed_by") == [
        ("a", "10.1.0.0/16 (ConfigMap platform/egress data.networks)")
    ]
    assert rows(result.gaps, "cluster", "external") == [("b", "10.1.0.0-10.1.255.255")]


def test_allowlists_count_only_from_their_owners_and_when_bounded(store: Store, tmp_path: Path) -> None:
    """A team's own allowlist, a look-alike owner namespace, 0.0.0.0/0 or a range wider than /8 allows nothing
    (the logs pack names them); the platform's bounded range is the baseline."""
    variants = {
        "baseline": ("platform", "10.1.0.0/16"),
        "own-namespace": ("shop", "10.1.0.0/16"),
        "lookalike-owner": ("platform-team", "10.1.0.0/16"),
        "everything": ("platform", "0.0.0.0/0"),
        "too-wide": ("platform", "10.0.0.0/7"),
    }
    for cluster, (namespace, entry) in variants.items():
        collect(store, tmp_path, allowlist_configmap(namespace, entry), cluster=cluster, analyse=False)
    assert run_source(store, AnalysisSource(), {}).status == "succeeded"
    result = judge(store, "reachability", "egress-restricted-by-policy")
    assert rows(result.evidence, "cluster") == [("baseline",)]
    assert rows(result.gaps, "cluster", "object") == [
        (c, "Deployment/api") for c in sorted(variants) if c != "baseline"
    ]
    wider = judge(store, "reachability", "egress-restricted-by-policy", egress_allowlist_owners=["shop", "platform"],
                  egress_allowlist_min_prefix=7)  # fmt: skip
    assert rows(wider.gaps, "cluster") == [("everything",), ("lookalike-owner",)]


def test_unrestricted_egress_and_workloads_without_egress(store: Store, tmp_path: Path) -> None:
    quiet = "spec: {template: {metadata: {labels: {app: quiet}}}}"
    deny = "spec: {podSelector: {matchLabels: {app: quiet}}, policyTypes: [Egress]}"
    base = BASE.replace("policyTypes: [Ingress, Egress]", "policyTypes: [Ingress]")
    collect(
        store, tmp_path, doc("Deployment", "quiet", "shop", quiet), doc("NetworkPolicy", "q", "shop", deny), base=base
    )
    result = judge(store, "reachability", "egress-restricted-by-policy", egress_allowlist=DB)
    assert findings(result) == [
        "shop/api[Deployment] can connect to 0.0.0.0-255.255.255.255 (All Connections), outside the egress allowlist; "
        "opened by: no NetworkPolicy selects it for egress",
        "shop/api[Deployment] can connect to ::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff (All Connections), outside the "
        "egress allowlist (an IPv6 range: the allowlist holds IPv4 CIDRs only); opened by: no NetworkPolicy selects it "
        "for egress",
    ]
    assert details(result) == ["shop/quiet[Deployment] cannot connect to any address outside the cluster"]
    # non-regulated workloads (infra/gw, other/batch reach everything) are not judged
    assert {r[0] for r in rows(result.gaps, "namespace")} == {"shop"}


# k8s-networking public-exposure-controlled and public-routes with the attachment analysis ---------------------

GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  listeners:
    - {name: https, port: 443, protocol: HTTPS, hostname: shop.example.com, tls: {certificateRefs: [{name: tls}]},
       allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {kubernetes.io/metadata.name: shop}}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api, namespace: shop}
spec: {parentRefs: [{name: edge, namespace: infra}], rules: [{backendRefs: [{name: api, port: 8080}]}]}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: none, namespace: infra}
spec: {from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: x}], to: [{group: "", kind: Service}]}
"""
PUBLIC = BASE.replace('labels: {defensible.io/regulated: "true"}', 'labels: {defensible.io/regulated: "true", '
                      "gateway-access: public}")  # fmt: skip


def exposure(store: Store) -> ClaimResult:
    return judge(store, "k8s-networking", "public-exposure-controlled")


def test_accepted_routes_on_public_listeners_are_the_evidence(store: Store, tmp_path: Path) -> None:
    collect(store, tmp_path, GATEWAY, base=PUBLIC)
    result = exposure(store)
    assert result.verdict == "satisfied", findings(result)
    assert rows(result.evidence, "namespace", "object", "detail", "source") == [
        ("infra", "Gateway/edge", "Gateway entry point (https HTTPS 443) is public: no evidence that it is internal",
         "kubernetes"),
        ("infra", "Gateway/edge listener https", "public listener admits routes from Selector namespaces only: shop",
         "analysis"),
        ("shop", "HTTPRoute/api", "accepted on public listener https of Gateway infra/edge for shop.example.com",
         "analysis"),
    ]  # fmt: skip
    routes = pack_inventories(store, load_pack(resolve_pack("k8s-networking")), Settings())["public-routes"]
    assert routes.rows == [("test", "HTTPRoute", "shop", "api", "infra", "edge", "https", "shop.example.com", "HTTPS")]


def test_regulated_namespace_needs_the_public_access_label(store: Store, tmp_path: Path) -> None:
    collect(store, tmp_path, GATEWAY)
    result = exposure(store)
    assert rows(result.gaps, "namespace", "object", "finding") == [
        ("shop", "HTTPRoute/api", "attached to public listener https of Gateway infra/edge from regulated namespace "
         "shop, which is not labelled gateway-access=public")
    ]  # fmt: skip
    assert result.gaps.rows[0][result.gaps.columns.index("location")].endswith("extra0.yaml#2 (line 9)")
    assert (
        judge(store, "k8s-networking", "public-exposure-controlled", public_access_label="team=shop").verdict == "gap"
    )
    internal = GATEWAY.replace("namespace: infra}\nspec:\n  listeners", "namespace: infra, labels: "
                               "{defensible.io/exposure: internal}}\nspec:\n  listeners")  # fmt: skip
    collect(store, tmp_path, internal)
    internal_only = exposure(store)  # no public listener, no route on one: the entry point is evidenced internal
    assert internal_only.verdict == "satisfied"
    assert rows(internal_only.evidence, "object", "detail") == [
        ("Gateway/edge", "Gateway entry point (https HTTPS 443) is internal: labelled defensible.io/exposure=internal")
    ]


def test_listener_open_to_all_namespaces(store: Store, tmp_path: Path) -> None:
    selector = "from: Selector, selector: {matchLabels: {kubernetes.io/metadata.name: shop}}"
    collect(store, tmp_path, GATEWAY.replace(selector, "from: All"), base=PUBLIC)
    assert findings(exposure(store)) == [
        "public listener admits routes from all namespaces (allowedRoutes.namespaces.from: All), including namespaces "
        "created later"
    ]


def test_references_not_permitted_on_public_listeners(store: Store, tmp_path: Path) -> None:
    gateway = GATEWAY.replace("{name: api, port: 8080}", "{name: pay, namespace: pay, port: 80}").replace(
        "certificateRefs: [{name: tls}]", "certificateRefs: [{name: tls, namespace: certs}]"
    )
    collect(store, tmp_path, gateway, base=PUBLIC)
    gaps = findings(exposure(store))
    assert len(gaps) == 2
    assert gaps[0].startswith(
        "public listener has a certificateRef not permitted by any ReferenceGrant (RefNotPermitted)"
    )
    assert gaps[1].startswith(
        "attached to public listener https of Gateway infra/edge with a backendRef not permitted by any ReferenceGrant "
        "(RefNotPermitted): "
    )


def test_unattached_routes_are_not_exposure_with_the_analysis(store: Store, tmp_path: Path) -> None:
    # the route names the listener but the listener admits only shop: rejected, so neither exposed nor a gap
    stray = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: stray, namespace: other}\n"
    stray += (
        "spec: {parentRefs: [{name: edge, namespace: infra}], rules: [{backendRefs: [{name: b, namespace: pay}]}]}\n"
    )
    collect(store, tmp_path, GATEWAY, stray, base=PUBLIC)
    assert exposure(store).verdict == "satisfied"
    routes = pack_inventories(store, load_pack(resolve_pack("k8s-networking")), Settings())["public-routes"]
    assert [r[3] for r in routes.rows] == ["api"]
    collect(store, tmp_path, GATEWAY, stray, base=PUBLIC, analyse=False)  # the analysis is outdated: SQL rules
    assert findings(exposure(store)) == ["backendRef to Service pay/b is not permitted by any ReferenceGrant in pay"]
    routes = pack_inventories(store, load_pack(resolve_pack("k8s-networking")), Settings())["public-routes"]
    assert sorted(r[3] for r in routes.rows) == ["api", "stray"]


def test_public_routes_list_every_route_kind_with_or_without_the_analysis(store: Store, tmp_path: Path) -> None:
    listener = "    - {name: db, port: 5432, protocol: TCP, allowedRoutes: {namespaces: {from: Same}}}\n---\n"
    tcp = GATEWAY.replace("\n---\n", "\n" + listener, 1) + (
        "---\napiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\nmetadata: {name: db, namespace: infra}\n"
        "spec: {parentRefs: [{name: edge, sectionName: db}], rules: [{backendRefs: [{name: db, port: 5432}]}]}\n"
    )
    for analyse in (True, False):
        collect(store, tmp_path, tcp, base=PUBLIC, analyse=analyse)
        exposure(store)  # the inventory reads the pack's views, as the bundle runs it: right after the claims
        routes = pack_inventories(store, load_pack(resolve_pack("k8s-networking")), Settings())["public-routes"]
        listed = {(r[1], r[3], r[6]) for r in routes.rows}
        assert ("TCPRoute", "db", "db") in listed and ("HTTPRoute", "api", "https") in listed
        if analyse:  # without it, the SQL rules ignore allowedRoutes: api is listed on db too (over, never under)
            assert listed == {("HTTPRoute", "api", "https"), ("TCPRoute", "db", "db")}


def test_a_relabelled_pod_of_a_workload_is_judged_as_its_own_label_group(store: Store, tmp_path: Path) -> None:
    # issue 18: an operator relabels one pod of api (role=canary) that no policy selects: described by its template
    # (app=api, isolated), the workload would hide that every namespace reaches the canary
    pods = "".join(
        f"""---
apiVersion: v1
kind: Pod
metadata:
  name: api-{name}
  namespace: shop
  labels: {{app: {app}, pod-template-hash: {name}}}
  ownerReferences: [{{kind: Deployment, name: api, controller: true}}]
spec: {{containers: [{{name: api, ports: [{{name: http, containerPort: 8080}}]}}]}}
"""
        for name, app in (("a1", "api"), ("b2", "api-canary"))
    )
    collect(store, tmp_path, pods)
    grouped = store.con.execute(
        "SELECT name, kind, label_group FROM analysis_workloads WHERE namespace = 'shop' ORDER BY label_group"
    ).fetchall()
    assert grouped == [("api", "Deployment", "app=api"), ("api", "Deployment", "app=api-canary")]
    result = judge(store, "reachability", "lateral-movement-restricted")
    assert result.verdict == "gap"
    gaps = set(rows(result.gaps, "src", "dst", "conn"))
    assert ("other/batch[Deployment]", "shop/api[Deployment]{app=api-canary}", "All Connections") in gaps
    assert not any(dst == "shop/api[Deployment]{app=api}" for _, dst, _ in gaps)  # the isolated group holds
    assert sorted(rows(result.evidence, "src", "dst")) == [  # the declared caller reaches both
        ("infra/gw[Deployment]", "shop/api[Deployment]{app=api-canary}"),
        ("infra/gw[Deployment]", "shop/api[Deployment]{app=api}"),
    ]


# one-change counter-examples on BASE (each from the NetworkPolicy reference) ----------------------------------------

NP_REFERENCE = "https://kubernetes.io/docs/concepts/services-networking/network-policies/"
API_POLICY = "  podSelector: {matchLabels: {app: api}}\n  policyTypes: [Ingress, Egress]\n"
API_CONTAINER = "spec: {containers: [{name: api, ports: [{name: http, containerPort: 8080}]}]}"


def policy(name: str, spec: str) -> str:
    return doc("NetworkPolicy", name, "shop", f"spec: {{podSelector: {{matchLabels: {{app: api}}}}, {spec}}}")


@pytest.mark.parametrize(
    ("claim", "extra", "replaced", "named"),
    [
        # an empty ingress rule matches every source on every port (#behavior-of-to-and-from-selectors)
        ("lateral-movement-restricted", policy("open", "ingress: [{}]"), None, "NetworkPolicy shop/open"),
        # two peers, not one: namespaceSelector {} alone selects every pod of every namespace (OR, not AND)
        ("lateral-movement-restricted",
         policy("gw-only", "ingress: [{from: [{namespaceSelector: {}}, {podSelector: {matchLabels: {app: gw}}}]}]"),
         None, "NetworkPolicy shop/gw-only"),
        # NotIn over the namespace name label matches every other namespace (#default-policies: labels)
        ("lateral-movement-restricted",
         policy("not-shop", "ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: "
                "kubernetes.io/metadata.name, operator: NotIn, values: [shop]}]}}], ports: [{port: 8080}]}]"),
         None, "NetworkPolicy shop/not-shop"),
        # policyTypes [Egress] leaves ingress unisolated: the ingress rules are ignored (#networkpolicy-resource)
        ("lateral-movement-restricted", None, (API_POLICY, API_POLICY.replace("Ingress, Egress", "Egress")),
         "no NetworkPolicy selects it for ingress"),
        # a hostPort is reachable on the node's address whatever the policies (#what-you-can-t-do-with-network-policies)
        ("lateral-movement-restricted", None,
         (API_CONTAINER, API_CONTAINER.replace("containerPort: 8080}", "containerPort: 8080, hostPort: 8080}")),
         "hostPort"),
        # an egress rule without `to` allows its ports to every destination (#behavior-of-to-and-from-selectors)
        ("egress-restricted-by-policy", policy("https-out", "policyTypes: [Egress], egress: [{ports: [{port: 443}]}]"),
         None, "NetworkPolicy shop/https-out"),
        # ipBlock except narrows one block only: 0.0.0.0/0 except the private ranges is the internet
        ("egress-restricted-by-policy",
         policy("internet", "policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0, except: "
                "[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}}]}]"), None, "NetworkPolicy shop/internet"),
        # `to: []` is an empty list, not a peer list that selects nothing: every destination on the rule's ports
        ("egress-restricted-by-policy",
         policy("to-none", "policyTypes: [Egress], egress: [{to: [], ports: [{port: 443}]}]"), None,
         "NetworkPolicy shop/to-none"),
        # namespaceSelector {} and podSelector {} in one peer: every pod of every namespace
        ("lateral-movement-restricted",
         policy("everyone", "ingress: [{from: [{namespaceSelector: {}, podSelector: {}}], ports: [{port: http}]}]"),
         None, "NetworkPolicy shop/everyone"),
        # an IPv6 ipBlock: the egress allowlist holds IPv4 CIDRs only
        ("egress-restricted-by-policy",
         policy("v6", "policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: '::/0'}}]}]"), None,
         "NetworkPolicy shop/v6"),
        # host-network pods are outside NetworkPolicy: api's egress policy no longer applies
        ("egress-restricted-by-policy", None,
         (API_CONTAINER, API_CONTAINER.replace("spec: {", "spec: {hostNetwork: true, ")), "hostNetwork"),
    ],
    ids=["empty-ingress-rule", "peers-or-not-and", "namespace-notin", "egress-only-policytypes", "hostport",
         "egress-rule-without-to", "ipblock-except-private", "egress-to-empty-list", "every-pod-named-port",
         "ipv6-ipblock", "hostnetwork-egress"],
)  # fmt: skip
def test_one_change_counter_examples(
    store: Store, tmp_path: Path, claim: str, extra: str | None, replaced: tuple[str, str] | None, named: str
) -> None:
    """Each change makes the compliant BASE a gap of ``claim`` whose findings name what opens the connection."""
    assert judge_base(store, tmp_path / "base", claim) == "satisfied"
    base = BASE.replace(*replaced) if replaced else BASE
    assert base != BASE or extra
    collect(store, tmp_path, *([extra] if extra else []), base=base, cluster="changed")
    result = judge(store, "reachability", claim, egress_allowlist=DB)
    gaps = [f for c, f in rows(result.gaps, "cluster", "finding") if c == "changed"]
    assert result.verdict == "gap" and gaps, (NP_REFERENCE, findings(result))
    assert any(named in f for f in gaps), gaps


def judge_base(store: Store, folder: Path, claim: str) -> str:
    """The verdict of ``claim`` on BASE alone, as cluster ``base``."""
    collect(store, folder, base=BASE, cluster="base")
    return judge(store, "reachability", claim, egress_allowlist=DB).verdict


@pytest.mark.parametrize("claim", ["lateral-movement-restricted", "egress-restricted-by-policy"])
def test_cluster_network_policies_are_not_analysed(store: Store, tmp_path: Path, claim: str) -> None:
    """A ClusterNetworkPolicy (policy.networking.k8s.io v1alpha2, the admin policies' successor) Admin-tier Accept
    decides before the NetworkPolicies; the analysis does not read it, so each regulated namespace is a gap."""
    accept = """apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: open-shop}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  ingress: [{action: Accept, from: [{namespaces: {}}]}]
  egress: [{action: Accept, to: [{networks: [0.0.0.0/0]}]}]
"""
    collect(store, tmp_path, accept)
    result = judge(store, "reachability", claim, egress_allowlist=DB)
    assert result.verdict == "gap"
    assert rows(result.gaps, "namespace", "object") == [("shop", "ClusterNetworkPolicy/open-shop")]
    assert "is not analysed" in findings(result)[0]

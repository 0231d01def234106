"""The built-in k8s-networking pack: each rule of each claim, on small manifests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers import collect_manifests, write

from bundles.build import pack_inventories
from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.query_results import QueryResult
from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource
from sources.certificates.source import CertificatesSource
from sources.kubernetes.source import KIND_NAMES, KubernetesSource

# The baseline: regulated namespace shop behind Gateway infra/edge (HTTPS), its backend re-encrypted by a
# DestinationRule, mesh-wide STRICT mTLS. Each test adds or swaps documents to break or satisfy one rule.
NAMESPACES = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {defensible.io/regulated: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: infra}
"""
GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: istio  # istiod's own class: its proxy applies DestinationRules
  listeners:
    - name: https
      port: 443
      protocol: HTTPS
      tls: {certificateRefs: [{name: edge-tls}]}
      allowedRoutes: {namespaces: {from: Same}}
"""
ROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: shop}
spec:
  parentRefs: [{name: edge, namespace: infra}]
  rules: [{backendRefs: [{name: shop, port: 80}]}]
"""
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop}
spec: {selector: {app: shop, tier: web}, ports: [{port: 80}]}
"""
DENY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""
DESTINATION_RULE = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: shop}
spec: {host: shop, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}
"""
MESH_STRICT = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
"""
# The mesh (analysis source): istiod of the default revision, and the shop workload, injected by its own label.
WORKLOADS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: istiod, namespace: istio-system}
spec: {template: {metadata: {labels: {app: istiod}}, spec: {containers: [{name: discovery}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: shop}
spec:
  template:
    metadata: {labels: {app: shop, tier: web, sidecar.istio.io/inject: "true"}}
    spec: {containers: [{name: web}]}
"""
HOP_CLAIMS = ("traffic-encrypted", "backend-reencryption")
PARTS = (NAMESPACES, GATEWAY, ROUTE, SERVICE, DENY, DESTINATION_RULE, MESH_STRICT, WORKLOADS)
BASE = "---".join(PARTS)


def base_without(*parts: str) -> str:
    return "---".join(p for p in PARTS if p not in parts)


def evaluate(
    store: Store, tmp_path: Path, *extra: str, base: str = BASE, claims: tuple[str, ...] = ()
) -> dict[str, ClaimResult]:
    """Collect ``base`` and ``extra`` documents and evaluate the pack (only ``claims``, if given: faster)."""
    write(tmp_path / "env" / "base.yaml", base)
    for i, doc in enumerate(extra):
        write(tmp_path / "env" / f"extra{i}.yaml", doc)
    assert collect_manifests(store, tmp_path / "env").status == "succeeded"
    if not claims or set(claims) & {*HOP_CLAIMS, "access-restricted"}:  # judged on the analyses of the inventory
        assert run_source(store, AnalysisSource(), {}).status == "succeeded"
    pack = load_pack(resolve_pack("k8s-networking"))
    if claims:
        pack = replace(pack, claims=tuple(c for c in pack.claims if c.id in claims))
    return {r.claim.id: r for r in evaluate_pack(store, pack)}


def evaluate_claim(store: Store, tmp_path: Path, claim: str, *extra: str, base: str = BASE) -> ClaimResult:
    return evaluate(store, tmp_path, *extra, base=base, claims=(claim,))[claim]


def findings(result: ClaimResult) -> list[str]:
    i = result.gaps.columns.index("finding")
    return [row[i] for row in result.gaps.rows]


def records(query: QueryResult, **where: str) -> list[dict[str, Any]]:
    """The rows of ``query`` as dicts, those whose columns equal ``where``."""
    rows = [dict(zip(query.columns, row, strict=True)) for row in query.rows]
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def hop_findings(result: ClaimResult, hop: str) -> list[tuple[str, str, str]]:
    return [(r["namespace"], r["object"], r["finding"]) for r in records(result.gaps, hop=hop)]


def hop_details(result: ClaimResult, hop: str) -> list[tuple[str, str, str]]:
    return [(r["namespace"], r["object"], r["detail"]) for r in records(result.evidence, hop=hop)]


def test_baseline_satisfies_every_claim(store: Store, tmp_path: Path) -> None:
    results = evaluate(store, tmp_path)
    assert {k: r.verdict for k, r in results.items()} == {
        "public-exposure-controlled": "satisfied",
        "access-restricted": "satisfied",
        "traffic-encrypted": "satisfied",
        "backend-reencryption": "satisfied",
        "route-conflicts-absent": "satisfied",
        "exposure-rights-restricted": "no-evidence",  # no RBAC here: tests/test_exposure_rights_claim.py judges it
    }
    for r in results.values():  # every evidence row carries provenance
        assert {"source", "run_id", "artifact_sha256", "collected_at", "location"} <= set(r.evidence.columns)
    assert {"cluster", "namespace", "object", "hop", "finding", "location", "source", "run_id", "artifact_sha256",
            "collected_at"} <= set(results["traffic-encrypted"].gaps.columns)  # fmt: skip


def test_public_listener_from_all_is_a_gap_but_internal_is_not(store: Store, tmp_path: Path) -> None:
    gateways = """
    apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: open, namespace: infra}
    spec: {listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]}
    ---
    apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: staff, namespace: infra, labels: {defensible.io/exposure: internal}}
    spec: {listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]}
    """
    result = evaluate_claim(store, tmp_path, "public-exposure-controlled", gateways)
    assert result.verdict == "gap"
    objects = [row[result.gaps.columns.index("object")] for row in result.gaps.rows]
    assert objects == ["Gateway/open listener http"]
    assert "from: All" in findings(result)[0]


@pytest.mark.parametrize("granted", [True, False])
def test_cross_namespace_backend_ref_needs_reference_grant(store: Store, tmp_path: Path, granted: bool) -> None:
    route = """
    apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: checkout, namespace: shop}
    spec: {rules: [{backendRefs: [{name: payments, namespace: pay, port: 80}]}]}
    """
    grant = """
    apiVersion: gateway.networking.k8s.io/v1beta1
    kind: ReferenceGrant
    metadata: {name: from-shop, namespace: pay}
    spec:
      from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop}]
      to: [{group: "", kind: Service, name: payments}]
    """
    result = evaluate_claim(store, tmp_path, "public-exposure-controlled", route, *([grant] if granted else []))
    if granted:
        assert result.verdict == "satisfied"
        assert any("permitted by ReferenceGrant pay/from-shop" in str(row) for row in result.evidence.rows)
    else:
        assert result.verdict == "gap"
        assert findings(result) == ["backendRef to Service pay/payments is not permitted by any ReferenceGrant in pay"]


def test_grant_for_another_kind_or_name_does_not_count(store: Store, tmp_path: Path) -> None:
    gateway = """
    apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: edge2, namespace: infra}
    spec:
      listeners:
        - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: cert, namespace: certs}]}}
    ---
    apiVersion: gateway.networking.k8s.io/v1beta1
    kind: ReferenceGrant
    metadata: {name: wrong, namespace: certs}
    spec:
      from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: infra}]
      to: [{group: "", kind: Secret, name: other}]
    """
    result = evaluate_claim(store, tmp_path, "public-exposure-controlled", gateway)
    assert findings(result) == ["certificateRef to Secret certs/cert is not permitted by any ReferenceGrant in certs"]


@pytest.mark.parametrize(
    ("policy", "verdict"),
    [
        ("spec: {podSelector: {}, policyTypes: [Ingress]}", "satisfied"),
        ("spec: {podSelector: {}}", "satisfied"),  # policyTypes defaults to Ingress
        ("spec: {podSelector: {matchLabels: {}}, policyTypes: [Ingress, Egress]}", "satisfied"),
        ("spec: {podSelector: {matchLabels: {app: a}}, policyTypes: [Ingress]}", "gap"),
        ("spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{}]}", "gap"),  # allows all
        ("spec: {podSelector: {}, policyTypes: [Egress]}", "gap"),
    ],
)
def test_default_deny_detection(store: Store, tmp_path: Path, policy: str, verdict: str) -> None:
    base = BASE.replace("spec: {podSelector: {}, policyTypes: [Ingress]}", policy)
    result = evaluate_claim(store, tmp_path, "access-restricted", base=base)
    assert result.verdict == verdict
    if verdict == "gap":  # the shop workload, no longer isolated, may be reachable from outside as well
        assert "regulated namespace has no default-deny ingress NetworkPolicy" in findings(result)


def test_access_restricted_needs_every_admin_policy_kind_listed(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "env" / "base.yaml", BASE)
    kinds = [k for k in KIND_NAMES if k != "BaselineAdminNetworkPolicy"]
    config = {"paths": [str(tmp_path / "env")], "cluster": "test", "kinds": kinds}
    assert run_source(store, KubernetesSource(), config).status == "succeeded"
    assert run_source(store, AnalysisSource(), {}).status == "succeeded"
    pack = load_pack(resolve_pack("k8s-networking"))
    [result] = evaluate_pack(store, replace(pack, claims=tuple(c for c in pack.claims if c.id == "access-restricted")))
    never_listed = "the BaselineAdminNetworkPolicy objects of cluster test were never listed"
    assert result.verdict == "gap" and any(f.startswith(never_listed) for f in findings(result))


def test_access_restricted_without_regulated_namespaces_has_no_evidence(store: Store, tmp_path: Path) -> None:
    base = BASE.replace('labels: {defensible.io/regulated: "true"}', "labels: {}")
    assert evaluate_claim(store, tmp_path, "access-restricted", base=base).verdict == "no-evidence"


# traffic-encrypted: hop client->gateway -----------------------------------------------------------------

HTTP = "{name: http, port: 80, protocol: HTTP}"
HTTPS = "{name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: c}]}}"
FORWARD = "{backendRefs: [{name: shop, port: 80}]}"
INFRA = "namespace: infra"
REDIRECT = "{filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]}"


def gateway(name: str, *listeners: str, namespace: str = "infra") -> str:
    return (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {{listeners: [{', '.join(listeners)}]}}\n"
    )


def route(name: str, parent: str, rule: str = FORWARD, kind: str = "HTTPRoute") -> str:
    return (
        f"apiVersion: gateway.networking.k8s.io/v1\nkind: {kind}\nmetadata: {{name: {name}, namespace: shop}}\n"
        f"spec: {{parentRefs: [{parent}], rules: [{rule}]}}\n"
    )


def docs(*documents: str) -> str:
    return "---\n".join(documents)


def test_http_listener_with_a_forwarding_route_is_a_gap_row_with_provenance(store: Store, tmp_path: Path) -> None:
    extra = docs(gateway("plain", HTTP, HTTPS), route("web", "{name: plain, namespace: infra, sectionName: http}"))
    result = evaluate_claim(store, tmp_path, "traffic-encrypted", extra)
    assert result.verdict == "gap"
    [gap] = records(result.gaps)
    run_id = store.con.execute("SELECT max(run_id) FROM runs WHERE source = 'kubernetes'").fetchone()[0]
    assert {k: v for k, v in gap.items() if k not in ("artifact_sha256", "collected_at")} == {
        "cluster": "test",
        "namespace": "infra",
        "object": "Gateway/plain listener http",
        "hop": "client->gateway",
        "finding": "HTTP listener accepts unencrypted traffic (routes: HTTPRoute shop/web)",
        "location": "env:extra0.yaml#1 (line 1)",  # the file named by its root (issue 21)
        "source": "kubernetes",
        "run_id": run_id,
    }
    assert len(gap["artifact_sha256"]) == 64 and gap["collected_at"] is not None
    # the HTTPS listener of the same gateway is not named by the route: neither evidence nor gap
    assert [d[1] for d in hop_details(result, "client->gateway")] == ["Gateway/edge listener https"]


def test_route_attaches_to_the_listeners_its_parent_refs_name(store: Store, tmp_path: Path) -> None:
    cases = {  # gateway (listeners http and https) -> (parentRef of a route in namespace shop, listeners that are hops)
        "all": ("{name: all, namespace: infra}", ["http", "https"]),  # no sectionName: every listener
        "section": ("{name: section, namespace: infra, sectionName: https}", ["https"]),
        "port": ("{name: port, namespace: infra, port: 443}", ["https"]),
        "own": ("{name: own}", []),  # namespace defaults to the route's (shop): not this gateway in infra
        "other": ("{name: nosuch, namespace: infra}", []),
        "mesh": ("{name: mesh, namespace: infra, kind: Service, group: ''}", []),  # a GAMMA parent, not a Gateway
        "redirect": ("{name: redirect, namespace: infra, sectionName: http}", []),  # the route does not forward
    }
    extra = [
        docs(gateway(gw, HTTP, HTTPS), route(gw, parent, rule=REDIRECT if gw == "redirect" else FORWARD))
        for gw, (parent, _) in cases.items()
    ]
    extra.append(docs(gateway("local", HTTP, namespace="shop"), route("local", "{name: local, sectionName: http}")))
    result = evaluate_claim(store, tmp_path, "traffic-encrypted", *extra)
    hops = hop_details(result, "client->gateway") + hop_findings(result, "client->gateway")
    attached: dict[str, list[str]] = {}
    for namespace, obj, _ in sorted(hops):
        gw, listener = obj.removeprefix("Gateway/").split(" listener ")
        attached.setdefault(f"{namespace}/{gw}", []).append(listener)
    expected = {f"infra/{gw}": listeners for gw, (_, listeners) in cases.items() if listeners}
    assert attached == {"infra/edge": ["https"], **expected, "shop/local": ["http"]}


@pytest.mark.parametrize("verdict", ["satisfied", "gap"])
def test_listener_encryption(store: Store, tmp_path: Path, verdict: str) -> None:
    cases = {  # listener settings (name l, port 443) -> route kind, encrypted, evidence detail or finding
        "{protocol: HTTPS, tls: {certificateRefs: [{name: c}]}}":
            ("HTTPRoute", True, "HTTPS listener terminates TLS with 1 certificate reference(s)"),
        "{protocol: TLS, tls: {mode: Terminate, certificateRefs: [{name: c}, {name: d}]}}":
            ("TLSRoute", True, "TLS listener terminates TLS with 2 certificate reference(s)"),
        "{protocol: TLS, tls: {mode: Passthrough}}": ("TLSRoute", True, "TLS listener passes TLS through"),
        "{protocol: HTTPS}": ("HTTPRoute", False, "HTTPS listener terminates TLS without certificateRefs"),
        "{protocol: TCP}": ("GRPCRoute", False, "TCP listener accepts unencrypted traffic"),
    }  # fmt: skip
    chosen = {k: v for k, v in cases.items() if v[1] == (verdict == "satisfied")}
    extra = []
    for i, (listener, (kind, _, _)) in enumerate(chosen.items()):
        listener_doc = "{name: l, port: 443, " + listener[1:]
        extra.append(docs(gateway(f"gw{i}", listener_doc), route(f"r{i}", f"{{name: gw{i}, {INFRA}}}", kind=kind)))
    result = evaluate_claim(store, tmp_path, "traffic-encrypted", *extra)
    assert result.verdict == verdict
    expected = [
        ("infra", f"Gateway/gw{i} listener l", f"{text} (routes: {kind} shop/r{i})")
        for i, (kind, _, text) in enumerate(chosen.values())
    ]
    if verdict == "satisfied":
        assert [d for d in hop_details(result, "client->gateway") if "edge" not in d[1]] == expected
    else:
        assert hop_findings(result, "client->gateway") == expected


# traffic-encrypted: hop gateway->backend ----------------------------------------------------------------

MESH_PERMISSIVE = MESH_STRICT.replace("STRICT", "PERMISSIVE")
NO_COVER = "---".join([NAMESPACES, GATEWAY, ROUTE, SERVICE, DENY, MESH_PERMISSIVE])
PERMISSIVE_BY_MESH = "mesh mTLS is PERMISSIVE (decided by mesh-wide PeerAuthentication istio-system/default)"
NOT_COVERED = "is reached without TLS: no BackendTLSPolicy or TLS DestinationRule, and "


REGULATED = '{defensible.io/regulated: "true"}'


def regulated_service(namespace: str) -> str:
    """Regulated namespace ``namespace`` with Service web (selector app: web, tier: front)."""
    return docs(
        f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}, labels: {REGULATED}}}\n",
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {namespace}}}\n"
        "spec: {selector: {app: web, tier: front}, ports: [{port: 80}]}\n",
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {namespace}}}\n"
        "spec: {template: {metadata: {labels: {app: web, tier: front, sidecar.istio.io/inject: 'true'}},\n"
        "  spec: {containers: [{name: web, ports: [{containerPort: 80}, {containerPort: 5432}]}]}}}\n",
    )


def route_to_webs(*namespaces: str) -> str:
    """HTTPRoute shop/webs on the edge gateway, forwarding to Service web of each namespace."""
    refs = ", ".join(f"{{name: web, namespace: {ns}, port: 80}}" for ns in namespaces)
    return route("webs", "{name: edge, namespace: infra}", rule=f"{{backendRefs: [{refs}]}}")


def destination_rule(
    namespace: str, host: str, mode: str | None = "ISTIO_MUTUAL", name: str = "dr", port_level: str = ""
) -> str:
    policy = [f"tls: {{mode: {mode}}}"] if mode else []
    policy += [f"portLevelSettings: [{port_level}]"] if port_level else []
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec: {{host: '{host}', trafficPolicy: {{{', '.join(policy)}}}}}\n"
    )


def backend_tls_policy(namespace: str, target: str, name: str = "btp") -> str:
    return (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec: {{{target}, validation: {{hostname: web.example, wellKnownCACertificates: System}}}}\n"
    )


def test_backend_covered_by_backend_tls_policy_or_destination_rule(store: Store, tmp_path: Path) -> None:
    web = "{group: '', kind: Service, name: web}"
    cases = {  # namespace of Service web -> the object meant to cover it, what covers it (None: nothing)
        "b0": (backend_tls_policy("b0", f"targetRefs: [{web}]"), "BackendTLSPolicy b0/btp"),
        "b1": (backend_tls_policy("b1", f"targetRef: {web}"), "BackendTLSPolicy b1/btp"),  # before v1alpha3
        "b2": (backend_tls_policy("infra", f"targetRefs: [{web}]", name="b2"), None),  # policy in another namespace
        "b3": (backend_tls_policy("b3", "targetRefs: [{group: '', kind: Service, name: api}]"), None),
        "d0": (destination_rule("d0", "web"), "DestinationRule d0/dr"),
        "d1": (destination_rule("infra", "web", name="d1"), None),  # a short name resolves in the rule's namespace
        "d2": (destination_rule("infra", "web.d2", "SIMPLE", name="d2"),
               "DestinationRule infra/d2"),
        "d3": (destination_rule("d3", "web.d3.svc", "MUTUAL"),
               "DestinationRule d3/dr"),
        "d4": (destination_rule("d4", "Web.d4.svc.cluster.local"),
               "DestinationRule d4/dr"),
        "d5": (destination_rule("d5", "*.d5.svc.cluster.local"),
               "DestinationRule d5/dr"),
        "d6": (destination_rule("d6", "*.other.svc.cluster.local"), None),
        "d7": (destination_rule("d7", "web", "DISABLE"), None),
        # the route reaches web on port 80: a port-level setting for port 80 replaces the rule's TLS policy
        "p0": (destination_rule("p0", "web", port_level="{port: {number: 80}, tls: {mode: DISABLE}}"), None),
        "p1": (destination_rule("p1", "web", port_level="{port: {number: 80}, loadBalancer: {simple: RANDOM}}"), None),
        "p2": (destination_rule("p2", "web", port_level="{port: {number: 8443}, tls: {mode: DISABLE}}"),
               "DestinationRule p2/dr"),
        "p3": (destination_rule("p3", "web", None, port_level="{port: {number: 80}, tls: {mode: SIMPLE}}"),
               "DestinationRule p3/dr"),
        "p4": (destination_rule("p4", "web", None, port_level="{port: {number: 8443}, tls: {mode: SIMPLE}}"), None),
    }  # fmt: skip
    extra = [regulated_service(ns) for ns in cases] + [cover for cover, _ in cases.values()] + [route_to_webs(*cases)]
    results = evaluate(store, tmp_path, *extra, base=NO_COVER, claims=HOP_CLAIMS)
    te, reenc = results["traffic-encrypted"], results["backend-reencryption"]
    covered = {ns: by for ns, (_, by) in cases.items() if by}
    uncovered = sorted(ns for ns, (_, by) in cases.items() if not by)
    via = "port 80 (backendRef of HTTPRoute shop/webs through Gateway infra/edge)"
    details = hop_details(te, "gateway->backend")
    assert [(ns, obj) for ns, obj, _ in details] == [(ns, "Service/web") for ns in sorted(covered)]
    for ns, _, detail in details:  # the covering object, applied by the gateway's proxy for DestinationRules
        assert detail.startswith(f"{via} encrypted by {covered[ns]}"), detail
    gaps = hop_findings(te, "gateway->backend")
    assert [(ns, obj) for ns, obj, _ in gaps] == sorted(
        [(ns, "Service/web") for ns in uncovered] + [("shop", "Service/shop")]
    )
    assert all("is reached without TLS" in f and "mesh: " in f for _, _, f in gaps)
    assert [(r["namespace"], r["route"]) for r in records(reenc.evidence)] == [
        (ns, "HTTPRoute shop/webs") for ns in sorted(covered)
    ]
    assert all(covered[r["namespace"]] in r["detail"] for r in records(reenc.evidence))
    [d5] = records(reenc.evidence, namespace="d5")  # cites the route; the detail names the covering object
    assert d5["location"] == f"env:extra{2 * len(cases)}.yaml#1 (line 1)"
    assert [r["namespace"] for r in records(reenc.gaps)] == [*uncovered, "shop"]


def test_backend_tls_policy_must_apply_and_be_accepted_to_cover(store: Store, tmp_path: Path) -> None:
    """With the analysis, a BackendTLSPolicy covers a port only when it is the one that applies there (a policy
    naming the port before one for the whole Service, the oldest on one target) and is accepted (a core ConfigMap
    CA or wellKnownCACertificates System, and a hostname; a CA ConfigMap the certificates collection did not find
    is no valid CA): GEP-1897, GEP-713, BackendTLSPolicyConflictResolution."""
    web = "{group: '', kind: Service, name: web}"

    def btp(ns: str, name: str, created: str, validation: str, target: str = web) -> str:
        return (
            "apiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\n"
            f"metadata: {{name: {name}, namespace: {ns}, creationTimestamp: '{created}'}}\n"
            f"spec: {{targetRefs: [{target}], validation: {{{validation}}}}}\n"
        )

    ok, secret_ca = (
        "hostname: web.example, wellKnownCACertificates: System",
        ("hostname: web.example, caCertificateRefs: [{group: '', kind: Secret, name: ca}]"),
    )
    named = "{group: '', kind: Service, name: web, sectionName: http}"
    cases = {  # namespace -> its policies, covered
        "v0": ([btp("v0", "btp", "2026-01-01T00:00:00Z", ok)], True),
        "v1": ([btp("v1", "btp", "2026-01-01T00:00:00Z", secret_ca)], False),  # InvalidKind: NoValidCACertificate
        "v2": ([btp("v2", "btp", "2026-01-01T00:00:00Z", "wellKnownCACertificates: System")], False),  # no hostname
        "v3": ([btp("v3", "old", "2026-01-01T00:00:00Z", secret_ca), btp("v3", "new", "2026-02-01T00:00:00Z", ok)],
               False),  # the oldest applies
        "v4": ([btp("v4", "all", "2026-01-01T00:00:00Z", ok), btp("v4", "port", "2026-02-01T00:00:00Z", secret_ca,
                                                              named)], False),  # the port's own policy applies
        "v5": ([btp("v5", "all", "2026-02-01T00:00:00Z", secret_ca), btp("v5", "port", "2026-03-01T00:00:00Z", ok,
                                                                     named)], True),
        # a CA ConfigMap that the certificates collection does not find: NoValidCACertificate
        "v6": ([btp("v6", "btp", "2026-01-01T00:00:00Z", "hostname: web.example, caCertificateRefs: "
                    "[{group: '', kind: ConfigMap, name: ca}]")], False),
        # Service web is not in the inventory: a policy for the whole Service covers whatever port the route uses
        "v7": ([btp("v7", "btp", "2026-01-01T00:00:00Z", ok)], True),
    }  # fmt: skip
    services = [regulated_service(ns).replace("ports: [{port: 80}]", "ports: [{name: http, port: 80}]") for ns in cases]
    services[-1] = f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: v7, labels: {REGULATED}}}\n"
    extra = services + [p for policies, _ in cases.values() for p in policies] + [route_to_webs(*cases)]
    for i, doc in enumerate([NO_COVER, *extra]):
        write(tmp_path / "env" / f"{i}.yaml", doc)
    assert collect_manifests(store, tmp_path / "env").status == "succeeded"
    assert run_source(store, AnalysisSource(), {}).status == "succeeded"
    certificates = {"paths": [str(tmp_path / "env")], "cluster": "test"}
    assert run_source(store, CertificatesSource(), certificates).status in ("succeeded", "partial")
    pack = load_pack(resolve_pack("k8s-networking"))
    [reenc] = evaluate_pack(
        store, replace(pack, claims=tuple(c for c in pack.claims if c.id == "backend-reencryption"))
    )
    assert sorted(r["namespace"] for r in records(reenc.evidence)) == [ns for ns, (_, ok) in cases.items() if ok]
    gaps = {r["namespace"]: r["finding"] for r in records(reenc.gaps) if r["namespace"] in cases}
    assert sorted(gaps) == [ns for ns, (_, ok) in cases.items() if not ok]
    assert "BackendTLSPolicy v1/btp applies but is not accepted (NoValidCACertificate" in gaps["v1"]
    assert "BackendTLSPolicy v2/btp applies but is not accepted (Invalid: validation.hostname" in gaps["v2"]
    assert "BackendTLSPolicy v3/old applies" in gaps["v3"] and "v4/port applies" in gaps["v4"]
    assert "v6/btp applies but has no valid CA certificate (NoValidCACertificate)" in gaps["v6"]
    assert "did not find ConfigMap v6/ca" in gaps["v6"]


@pytest.mark.parametrize("refused", [False, True])
def test_backend_tls_policy_its_controller_refuses_does_not_count(store: Store, tmp_path: Path, refused: bool) -> None:
    policy = backend_tls_policy("shop", "targetRefs: [{group: '', kind: Service, name: shop}]")
    if refused:  # the spec is the same; the controller's status says it is not accepted
        policy += (
            "status: {ancestors: [{ancestorRef: {name: edge, namespace: infra}, controllerName: example.com/gw, "
            "conditions: [{type: Accepted, status: 'False', reason: NoValidCACertificate, message: bad CA}]}]}\n"
        )
    results = evaluate(store, tmp_path, policy, base=base_without(DESTINATION_RULE), claims=HOP_CLAIMS)
    reenc = results["backend-reencryption"]
    assert reenc.verdict == ("gap" if refused else "satisfied")
    if refused:
        [gap] = records(reenc.gaps)
        said = "example.com/gw reports Accepted False (NoValidCACertificate) for Gateway infra/edge: bad CA"
        assert gap["object"] == "Service/shop", gap
        assert f"BackendTLSPolicy shop/btp applies but is not accepted (NoValidCACertificate: {said})" in gap["finding"]


def test_backend_encrypted_by_strict_mesh_mtls_alone(store: Store, tmp_path: Path) -> None:
    results = evaluate(store, tmp_path, base=base_without(DESTINATION_RULE), claims=HOP_CLAIMS)
    assert hop_details(results["traffic-encrypted"], "gateway->backend") == [
        (
            "shop",
            "Service/shop",
            "port 80 (backendRef of HTTPRoute shop/shop through Gateway infra/edge) encrypted by mesh mTLS STRICT: "
            "Deployment shop/shop port 80: sidecar (Deployment shop/shop label sidecar.istio.io/inject=true); "
            "mesh-wide PeerAuthentication istio-system/default: STRICT",
        )
    ]
    assert results["traffic-encrypted"].verdict == "satisfied"
    # backend re-encryption does not count the mesh: a gap naming the route, the Service and its namespace
    reenc = results["backend-reencryption"]
    assert reenc.verdict == "gap"
    [gap] = records(reenc.gaps)
    assert (gap["cluster"], gap["namespace"], gap["object"], gap["route"]) == (
        "test", "shop", "Service/shop", "HTTPRoute shop/shop"
    )  # fmt: skip
    assert gap["finding"] == (
        "backend Service shop/shop port 80 (backendRef of HTTPRoute shop/shop through Gateway infra/edge) is not "
        "re-encrypted: no DestinationRule applies to shop.shop.svc.cluster.local:80 for the infra/edge proxy"
    )
    assert gap["location"].endswith("base.yaml#4 (line 21)")  # the route that declares the backendRef
    assert gap["source"] == "kubernetes" and len(gap["artifact_sha256"]) == 64


def test_backend_namespace_and_missing_service(store: Store, tmp_path: Path) -> None:
    extra = route(
        "pay", "{name: edge, namespace: infra}", "{backendRefs: [{name: payments, namespace: pay}, {name: shop}]}"
    )
    result = evaluate_claim(store, tmp_path, "traffic-encrypted", extra, base=base_without(DESTINATION_RULE))
    # a Service backendRef must give its port: without one the hop cannot be judged
    assert hop_findings(result, "gateway->backend") == [
        ("pay", "Service/payments", "Service pay/payments port ? (backendRef of HTTPRoute shop/pay through Gateway "
         "infra/edge) is reached without TLS: the backendRef gives no port; mesh: the Service port is not in the "
         "inventory"),
        ("shop", "Service/shop", "Service shop/shop port ? (backendRef of HTTPRoute shop/pay through Gateway "
         "infra/edge) is reached without TLS: the backendRef gives no port; mesh: the Service port is not in the "
         "inventory"),
    ]  # fmt: skip
    assert [d[:2] for d in hop_details(result, "gateway->backend")] == [("shop", "Service/shop")]


def test_unattached_route_backends_are_no_hop(store: Store, tmp_path: Path) -> None:
    base = NO_COVER.replace("parentRefs: [{name: edge, namespace: infra}]", "parentRefs: [{name: gone}]")
    results = evaluate(store, tmp_path, base=base, claims=HOP_CLAIMS)
    assert records(results["traffic-encrypted"].gaps, hop="gateway->backend") == []
    assert results["backend-reencryption"].verdict == "no-evidence"


def test_tls_passthrough_route_backend_is_encrypted_end_to_end(store: Store, tmp_path: Path) -> None:
    passthrough = "{name: tls, port: 443, protocol: TLS, tls: {mode: Passthrough}}"
    extra = docs(gateway("pt", passthrough), route("web", "{name: pt, namespace: infra}", kind="TLSRoute"))
    results = evaluate(
        store, tmp_path, extra, base=docs(NAMESPACES, GATEWAY, SERVICE, DENY, MESH_PERMISSIVE), claims=HOP_CLAIMS
    )
    assert hop_details(results["traffic-encrypted"], "gateway->backend") == [
        ("shop", "Service/shop", "port 80 (backendRef of TLSRoute shop/web through Gateway infra/pt) encrypted by TLS "
         "passthrough (the gateway does not terminate TLS)")
    ]  # fmt: skip
    assert results["backend-reencryption"].verdict == "satisfied"


# traffic-encrypted: hop workload<->workload -------------------------------------------------------------


def peer_authentication(namespace: str, name: str, spec: str) -> str:
    return (
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {spec}\n"
    )


WEB = "selector: {matchLabels: {app: web}}"


def test_workload_effective_mtls_mode(store: Store, tmp_path: Path) -> None:
    cases = {  # namespace of Service web (app: web, tier: front) -> its policies (name, spec), mode, decided by
        "w0": ([], "STRICT", "mesh-wide PeerAuthentication istio-system/default"),
        "w1": ([("ns", "{mtls: {mode: PERMISSIVE}}")], "PERMISSIVE", "namespace PeerAuthentication w1/ns"),
        "w2": ([("ns", "{mtls: {mode: PERMISSIVE}}"), ("wl", f"{{{WEB}, mtls: {{mode: STRICT}}}}")],
               "STRICT", "workload PeerAuthentication w2/wl"),
        "w3": ([("wl", "{selector: {matchLabels: {app: web}}, mtls: {mode: DISABLE}}")],
               "DISABLE", "workload PeerAuthentication w3/wl"),
        "w4": ([("wl", "{selector: {matchLabels: {app: api}}, mtls: {mode: DISABLE}}")],  # selects another workload
               "STRICT", "mesh-wide PeerAuthentication istio-system/default"),
        "w5": ([("wl", "{selector: {matchLabels: {app: web, tier: db}}, mtls: {mode: DISABLE}}")],  # not a subset
               "STRICT", "mesh-wide PeerAuthentication istio-system/default"),
        "w6": ([("a", "{selector: {matchLabels: {app: web}}, mtls: {mode: PERMISSIVE}}"),
                ("b", "{selector: {matchLabels: {app: web, tier: front}}, mtls: {mode: STRICT}}")],
               # Istio keeps the oldest of two workload policies, which the inventory cannot order: the weaker
               "PERMISSIVE", "workload PeerAuthentication w6/a"),
        "w7": ([("a", "{selector: {matchLabels: {app: web}}, mtls: {mode: STRICT}}"),
                ("b", "{selector: {matchLabels: {tier: front}}, mtls: {mode: PERMISSIVE}}")],  # tie: the weaker
               "PERMISSIVE", "workload PeerAuthentication w7/b"),
        "w8": ([("ns", "{mtls: {mode: PERMISSIVE}}"), ("wl", f"{{{WEB}, mtls: {{mode: UNSET}}}}")],
               "PERMISSIVE", "namespace PeerAuthentication w8/ns"),  # UNSET inherits
    }  # fmt: skip
    extra = [regulated_service(ns) for ns in cases]
    extra += [peer_authentication(ns, name, spec) for ns, (policies, _, _) in cases.items() for name, spec in policies]
    result = evaluate_claim(store, tmp_path, "traffic-encrypted", *extra)
    details = hop_details(result, "workload<->workload")
    strict = [ns for ns, (_, m, _) in cases.items() if m == "STRICT"]
    assert [(ns, obj) for ns, obj, _ in details if obj == "Deployment/web" and "port 80:" in _] == [
        (ns, "Deployment/web") for ns in strict
    ]
    for ns, _, detail in details:
        if ns in cases:
            assert detail.endswith(f"{cases[ns][2]}: STRICT"), detail
    gaps = [(ns, f) for ns, obj, f in hop_findings(result, "workload<->workload") if "port 80 " in f]
    assert [ns for ns, _ in gaps] == [ns for ns, (_, m, _) in cases.items() if m != "STRICT"]
    for ns, finding in gaps:
        assert finding.endswith(f"{cases[ns][2]}: {cases[ns][1]}"), finding
    assert result.verdict == "gap"


def test_no_mesh_policy_means_istio_default_permissive(store: Store, tmp_path: Path) -> None:
    result = evaluate_claim(store, tmp_path, "traffic-encrypted", base=base_without(MESH_STRICT))
    [gap] = records(result.gaps, hop="workload<->workload")
    assert gap["object"] == "Deployment/shop"
    assert gap["finding"] == (
        "port 80 not encrypted: sidecar (Deployment shop/shop label sidecar.istio.io/inject=true); "
        "no PeerAuthentication applies: Istio's default PERMISSIVE"
    )
    assert gap["source"] == "analysis"  # the mesh analysis, which cites its artifact


def test_port_level_override_weaker_than_strict(store: Store, tmp_path: Path) -> None:
    policies = {  # namespace of Service web -> its PeerAuthentication "port"
        "p0": "{selector: {matchLabels: {app: web}}, portLevelMtls: {'5432': {mode: PERMISSIVE}}}",
        "p1": "{selector: {matchLabels: {app: web}}, portLevelMtls: {'5432': {mode: STRICT}}}",
        "p2": "{mtls: {mode: STRICT}, portLevelMtls: {'5432': {mode: DISABLE}}}",  # ignored by Istio without selector
    }
    extra = [regulated_service(ns) for ns in policies] + [route_to_webs(*policies)]
    extra += [peer_authentication(ns, "port", spec) for ns, spec in policies.items()]
    te = evaluate_claim(store, tmp_path, "traffic-encrypted", *extra)
    assert hop_findings(te, "workload<->workload") == [
        ("p0", "Deployment/web", "port 5432 not encrypted: sidecar (Deployment p0/web label "
         "sidecar.istio.io/inject=true); workload PeerAuthentication p0/port portLevelMtls 5432: PERMISSIVE")
    ]  # fmt: skip
    # the gateway reaches port 80, whose mesh mTLS stays STRICT: the gateway->backend hop is encrypted
    assert hop_findings(te, "gateway->backend") == []
    assert {d[0] for d in hop_details(te, "workload<->workload")} == {"p0", "p1", "p2", "shop"}


def test_only_services_of_regulated_namespaces_are_workload_hops(store: Store, tmp_path: Path) -> None:
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: tools, namespace: infra}\nspec: {selector: {app: t}}\n"
    permissive = peer_authentication("infra", "ns", "{mtls: {mode: PERMISSIVE}}")
    result = evaluate_claim(store, tmp_path, "traffic-encrypted", service, permissive)
    assert result.verdict == "satisfied"
    assert [d[1] for d in hop_details(result, "workload<->workload")] == ["Deployment/shop"]


def evaluate_kinds(store: Store, tmp_path: Path, kinds: list[str]) -> dict[str, ClaimResult]:
    write(tmp_path / "env" / "base.yaml", BASE)
    run_source(store, KubernetesSource(), {"paths": [str(tmp_path / "env")], "cluster": "test", "kinds": kinds})
    return {r.claim.id: r for r in evaluate_pack(store, load_pack(resolve_pack("k8s-networking")))}


def test_traffic_encrypted_requires_services(store: Store, tmp_path: Path) -> None:
    result = evaluate_kinds(store, tmp_path, [k for k in KIND_NAMES if k != "Service"])["traffic-encrypted"]
    assert result.verdict == "no-evidence"
    assert result.reason == "required evidence not collected: Kubernetes kind Service not collectible or not listed"


def test_internal_ingress_whose_controller_cannot_be_looked_for_is_a_gap(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "env" / "ingress.yaml", ingress("shop", "staff", "labels: {defensible.io/exposure: internal}"))
    result = evaluate_kinds(store, tmp_path, [k for k in KIND_NAMES if k != "IngressClass"])
    assert findings(result["public-exposure-controlled"]) == [
        "Ingress entry point judged internal (labelled defensible.io/exposure=internal), but whether its ingress "
        "controller's load balancer is public cannot be decided: IngressClass not listed in the Kubernetes inventory"
    ]


# backend-reencryption ----------------------------------------------------------------------------------


def test_backend_reencryption_ignores_backends_outside_regulated_namespaces(store: Store, tmp_path: Path) -> None:
    base = base_without(DESTINATION_RULE).replace('labels: {defensible.io/regulated: "true"}', "labels: {}")
    result = evaluate_claim(store, tmp_path, "backend-reencryption", base=base)
    assert result.verdict == "no-evidence" and result.gaps.rows == []


def test_backend_reencryption_without_destination_rule_or_policy_kinds_is_still_judged(
    store: Store, tmp_path: Path
) -> None:
    kinds = [k for k in KIND_NAMES if k not in ("DestinationRule", "BackendTLSPolicy")]
    result = evaluate_kinds(store, tmp_path, kinds)["backend-reencryption"]
    assert result.verdict == "gap"
    assert [r["object"] for r in records(result.gaps)] == ["Service/shop"]


@pytest.mark.parametrize("missing", ["HTTPRoute", "Namespace"])
def test_backend_reencryption_needs_routes_and_namespaces(store: Store, tmp_path: Path, missing: str) -> None:
    result = evaluate_kinds(store, tmp_path, [k for k in KIND_NAMES if k != missing])["backend-reencryption"]
    assert result.verdict == "no-evidence"
    assert result.reason == f"required evidence not collected: Kubernetes kind {missing} not collectible or not listed"


def test_backend_reencryption_lists_each_route_of_an_uncovered_backend(store: Store, tmp_path: Path) -> None:
    second = route("web", "{name: edge, namespace: infra}", kind="GRPCRoute")
    result = evaluate_claim(store, tmp_path, "backend-reencryption", second, base=NO_COVER)
    assert [(r["namespace"], r["object"], r["route"]) for r in records(result.gaps)] == [
        ("shop", "Service/shop", "GRPCRoute shop/web"),
        ("shop", "Service/shop", "HTTPRoute shop/shop"),
    ]


# access-restricted: effective reachability, scope ------------------------------------------------------------

SHOP_POD = """
apiVersion: v1
kind: Pod
metadata: {name: shop, namespace: shop, labels: {app: shop, tier: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
"""
INFRA_POD = SHOP_POD.replace("namespace: shop", "namespace: infra").replace("name: shop,", "name: scraper,")


def test_access_restricted_judges_who_can_reach_regulated_workloads(store: Store, tmp_path: Path) -> None:
    assert evaluate_claim(store, tmp_path, "access-restricted", SHOP_POD, INFRA_POD).verdict == "satisfied"
    allow = "---\n" + DENY.replace("name: deny", "name: allow-http").replace(
        "policyTypes: [Ingress]}", "policyTypes: [Ingress], ingress: [{ports: [{port: 8080}]}]}"
    )
    result = evaluate_claim(store, tmp_path, "access-restricted", SHOP_POD, INFRA_POD, allow)
    assert result.verdict == "gap"
    found = findings(result)
    assert any(f.startswith("infra/scraper[Pod] can connect to shop/shop[Pod] (TCP 8080)") for f in found), found
    assert all("admitted by NetworkPolicy shop/allow-http" in f for f in found), found
    # a declared caller is allowed: the namespace's defensible.io/allowed-callers
    declared = BASE.replace(
        'labels: {defensible.io/regulated: "true"}}',
        'labels: {defensible.io/regulated: "true"}, annotations: {defensible.io/allowed-callers: "infra/scraper"}}',
    )
    result = evaluate_claim(store, tmp_path, "access-restricted", SHOP_POD, INFRA_POD, allow, base=declared)
    assert not any(f.startswith("infra/scraper[Pod]") for f in findings(result))
    assert any(f.startswith("0.0.0.0-255.255.255.255 can connect") for f in findings(result))


def test_access_restricted_host_network_and_stale_analysis(store: Store, tmp_path: Path) -> None:
    host = SHOP_POD.replace("spec: {containers", "spec: {hostNetwork: true, containers")
    result = evaluate_claim(store, tmp_path, "access-restricted", host)
    assert any("runs with hostNetwork" in f for f in findings(result)), findings(result)
    # a kubernetes collection after the analysis: the analysis no longer describes the inventory
    assert collect_manifests(store, tmp_path / "env").status == "succeeded"
    (stale,) = [
        r for r in evaluate_pack(store, load_pack(resolve_pack("k8s-networking"))) if r.claim.id == "access-restricted"
    ]
    assert stale.verdict == "gap"
    assert any(f.startswith("no reachability analysis of the current Kubernetes inventory") for f in findings(stale))


def test_access_restricted_scope_names_and_descoping(store: Store, tmp_path: Path) -> None:
    assert evaluate_claim(store, tmp_path, "access-restricted").verdict == "satisfied"
    unlabelled = BASE.replace('labels: {defensible.io/regulated: "true"}', "labels: {}")
    (tmp_path / "env" / "base.yaml").unlink()
    result = evaluate_claim(store, tmp_path, "access-restricted", base=unlabelled)
    assert result.verdict == "gap"
    assert any(f.startswith("descoped: namespace shop was regulated") for f in findings(result)), findings(result)
    pack = load_pack(resolve_pack("k8s-networking"))
    listed = Settings({"regulated_namespace_names": ["shop", "gone"]})
    (result,) = [r for r in evaluate_pack(store, pack, listed) if r.claim.id == "access-restricted"]
    assert result.verdict == "satisfied"
    scope = pack_inventories(store, pack, listed)["regulated-scope"]
    assert [row[1:] for row in scope.rows] == [
        ("shop", "regulated", "parameter regulated_namespace_names"),
        ("gone", "absent", "parameter regulated_namespace_names (no cluster of the inventory has the namespace)"),
    ]


def ingress(
    namespace: str, name: str, metadata: str = "", spec: str = "ingressClassName: nginx", status: str = ""
) -> str:
    return (
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
        f"metadata: {{name: {name}, namespace: {namespace}{', ' + metadata if metadata else ''}}}\n"
        f"spec: {{{spec}, rules: [{{host: {name}.example, http: {{paths: [{{path: /, pathType: Prefix, "
        "backend: {service: {name: web, port: {number: 80}}}}]}}]}\n" + (f"status: {status}\n" if status else "")
    )


def ingress_class(name: str, controller: str, metadata: str = "") -> str:
    return (
        f"apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {{name: {name}{metadata}}}\n"
        f"spec: {{controller: {controller}}}\n"
    )


def ingress_controller(namespace: str, controller_class: str, scheme: str, address: str) -> str:
    """An ingress-nginx Deployment of ``controller_class`` and the LoadBalancer Service that selects it."""
    return docs(
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: controller, namespace: {namespace}}}\n"
        "spec: {template: {metadata: {labels: {app: nginx}}, spec: {containers: [{name: c, image: nginx,\n"
        f"  args: [--controller-class={controller_class}, --password=hunter2]}}]}}}}}}\n",
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: lb, namespace: {namespace}, annotations: "
        f"{{service.beta.kubernetes.io/aws-load-balancer-scheme: {scheme}}}}}\n"
        "spec: {type: LoadBalancer, allocateLoadBalancerNodePorts: false, selector: {app: nginx},\n"
        "  ports: [{port: 443}]}\n"
        f"status: {{loadBalancer: {{ingress: [{{hostname: {address}}}]}}}}\n",
    )


DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"


def test_ingress_is_as_public_as_its_controllers_load_balancer(store: Store, tmp_path: Path) -> None:
    extra = docs(
        ingress_class("nginx", "k8s.io/ingress-nginx", f", annotations: {{{DEFAULT_CLASS}: 'true'}}"),
        ingress_class("staff", "k8s.io/staff-nginx"),
        ingress_controller("edge", "k8s.io/ingress-nginx", "internet-facing", "pub.elb.example"),
        ingress_controller("staff", "k8s.io/staff-nginx", "internal", "internal-staff.elb.example"),
        ingress("shop", "by-class", "labels: {defensible.io/exposure: internal}"),
        ingress("shop", "by-default", "labels: {defensible.io/exposure: internal}", spec="tls: []"),
        ingress("shop", "by-status", "labels: {defensible.io/exposure: internal}", spec="tls: []",
                status="{loadBalancer: {ingress: [{hostname: pub.elb.example}]}}"),
        ingress("shop", "staff-only", "labels: {defensible.io/exposure: internal}", spec="ingressClassName: staff"),
        # a controller without a Service of its own, publishing edge/lb's address (--publish-service)
        ingress_class("published", "k8s.io/published-nginx"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: controller, namespace: pub}\n"
        "spec: {template: {metadata: {labels: {app: pub}}, spec: {containers: [{name: c, "
        "args: [--ingress-class=published, --publish-service=edge/lb]}]}}}\n",
        ingress("shop", "by-publish", "labels: {defensible.io/exposure: internal}", spec="ingressClassName: published"),
    )  # fmt: skip
    result = evaluate_claim(store, tmp_path, "public-exposure-controlled", extra)
    contradicted = {r["object"]: r["finding"] for r in records(result.gaps) if "contradicts" in r["finding"]}
    assert sorted(contradicted) == ["Ingress/by-class", "Ingress/by-default", "Ingress/by-publish", "Ingress/by-status"]
    assert contradicted["Ingress/by-class"] == (
        "Ingress entry point is public: Service edge/lb (LoadBalancer; it selects Deployment edge/controller, the "
        "controller of IngressClass nginx): internet-facing load-balancer annotation; which contradicts: labelled "
        "defensible.io/exposure=internal"
    )
    assert (
        "its load-balancer address pub.elb.example is the Ingress's status address" in contradicted["Ingress/by-status"]
    )
    assert (
        "Service edge/lb (LoadBalancer; it is published by Deployment pub/controller"
        in contradicted["Ingress/by-publish"]
    )
    [staff] = records(result.evidence, object="Ingress/staff-only")
    assert staff["detail"].startswith("Ingress entry point (class staff) is internal: Service staff/lb (LoadBalancer;")
    [lb] = records(result.evidence, object="Service/lb", namespace="edge")
    assert lb["detail"].endswith(
        "the ingress controller's entry point for Ingress shop/by-class, Ingress shop/by-default, "
        "Ingress shop/by-publish, Ingress shop/by-status"
    )


ALB = "alb.ingress.kubernetes.io/backend-protocol"


def test_ingress_backends_judged_by_their_controllers_upstream_tls(store: Store, tmp_path: Path) -> None:
    cases = {  # namespace -> IngressClass, Ingress annotations, Service annotations, what re-encrypts (None: nothing)
        "i0": ("nginx", "nginx.ingress.kubernetes.io/backend-protocol: HTTPS", "", "nginx.ingress"),
        "i1": ("nginx", "nginx.ingress.kubernetes.io/backend-protocol: GRPCS", "", "nginx.ingress"),
        "i2": ("nginx", "nginx.ingress.kubernetes.io/backend-protocol: GRPC", "", None),
        "i3": ("alb", f"{ALB}: HTTPS", f"{ALB}: HTTP", None),  # the Service's annotation wins
        "i4": ("alb", "", f"{ALB}: HTTPS", "alb.ingress"),
        "i5": ("alb", "nginx.ingress.kubernetes.io/backend-protocol: HTTPS", "", None),  # another controller's
        "i6": ("none", "nginx.ingress.kubernetes.io/backend-protocol: HTTPS", "", None),  # class not in the inventory
    }  # fmt: skip
    extra = [ingress_class("nginx", "k8s.io/ingress-nginx"), ingress_class("alb", "ingress.k8s.aws/alb")]
    for ns, (cls, on_ingress, on_service, _) in cases.items():
        service = f"kind: Service\nmetadata: {{name: web, namespace: {ns}"
        extra.append(regulated_service(ns).replace(service, f"{service}, annotations: {{{on_service}}}"))
        extra.append(ingress(ns, "site", f"annotations: {{{on_ingress}}}", spec=f"ingressClassName: {cls}"))
    reenc = evaluate_claim(store, tmp_path, "backend-reencryption", *extra)
    covered = {
        r["namespace"]: r["detail"]
        for r in records(reenc.evidence)
        if r["route"] == "Ingress " + r["namespace"] + "/site"
    }
    assert sorted(covered) == sorted(ns for ns, (*_, by) in cases.items() if by)
    for ns, detail in covered.items():
        assert cases[ns][3] in detail and detail.startswith("port 80 (backend of Ingress"), detail
    assert "backend-protocol: HTTPS on the Service" in covered["i4"]
    gaps = {r["namespace"]: r["finding"] for r in records(reenc.gaps) if r["route"].startswith("Ingress ")}
    assert sorted(gaps) == ["i2", "i3", "i5", "i6"]
    assert "backend-protocol is HTTP on the Service" in gaps["i3"]
    assert "IngressClass none is not in the inventory" in gaps["i6"]


def test_ingress_tls_hosts_also_served_over_plaintext_http(store: Store, tmp_path: Path) -> None:
    tls = "tls: [{hosts: [site.example], secretName: site-tls}]"
    cases = {  # namespace -> IngressClass, Ingress annotations; the namespaces named in `plain` serve HTTP too
        "n0": ("nginx", ""),  # ingress-nginx redirects a TLS host by default
        "n1": ("nginx", "nginx.ingress.kubernetes.io/ssl-redirect: 'false'"),
        "n2": ("nginx", "{'nginx.ingress.kubernetes.io/ssl-redirect': 'false', "
                        "'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true'}"),
        "a0": ("alb", """alb.ingress.kubernetes.io/listen-ports: '[{"HTTPS": 443}]'"""),
        "a1": ("alb", """alb.ingress.kubernetes.io/listen-ports: '[{"HTTP": 80}, {"HTTPS": 443}]'"""),
        "a2": ("alb", """{alb.ingress.kubernetes.io/listen-ports: '[{"HTTP": 80}, {"HTTPS": 443}]',
                          alb.ingress.kubernetes.io/ssl-redirect: '443'}"""),
        "g0": ("gce", ""),  # GKE serves HTTP unless told not to
        "g1": ("gce", "kubernetes.io/ingress.allow-http: 'false'"),
    }  # fmt: skip
    plain = {"n1": "ssl-redirect=false", "a1": "listen-ports opens an HTTP listener", "g0": "ingress.allow-http"}
    extra = [ingress_class("nginx", "k8s.io/ingress-nginx"), ingress_class("alb", "ingress.k8s.aws/alb")]
    for ns, (cls, on_ingress) in cases.items():
        meta = f"annotations: {on_ingress if on_ingress.startswith('{') else '{' + on_ingress + '}'}"
        extra.append(ingress(ns, "site", meta, spec=f"ingressClassName: {cls}, {tls}"))
    result = evaluate_claim(store, tmp_path, "traffic-encrypted", *extra)
    gaps = {ns: finding for ns, obj, finding in hop_findings(result, "client->ingress") if obj == "Ingress/site"}
    assert sorted(gaps) == sorted(plain)
    for ns, why in plain.items():
        assert gaps[ns].startswith(f"Ingress {ns}/site serves host site.example over plaintext HTTP: "), gaps[ns]
        assert why in gaps[ns], gaps[ns]
    served = {ns for ns, obj, _ in hop_details(result, "client->ingress") if obj == "Ingress/site"}
    assert served == set(cases) - set(plain)


def virtual_service(namespace: str, name: str, hosts: str, extra: str = "gateways: [istio-system/edge]") -> str:
    route = "http: [{route: [{destination: {host: shop.shop.svc.cluster.local}}]}]"
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {{hosts: {hosts}, {extra}, {route}}}\n"
    )


def test_virtual_services_bind_to_istio_gateway_servers_as_istiod_binds_them(store: Store, tmp_path: Path) -> None:
    gateway = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: edge, namespace: istio-system}
    spec:
      selector: {istio: ingressgateway}
      servers:
        - port: {number: 443, name: https, protocol: HTTPS}
          hosts: [web/*.web.example.com, ./ops.example.com, "~/none.example.com"]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: ingressgateway, namespace: gateways}
    spec: {template: {metadata: {labels: {istio: ingressgateway}}, spec: {containers: [{name: proxy}]}}}
    """.replace("\n    ", "\n")
    bound = {  # name -> (namespace, hosts, extra)
        "wildcard-server": ("web", "[a.web.example.com]", "gateways: [istio-system/edge]"),
        "wildcard-both": ("web", "['*.b.web.example.com']", "gateways: [istio-system/edge]"),
        "wildcard-wider": ("web", "['*.example.com']", "gateways: [istio-system/edge]"),
        "any-host": ("web", "['*']", "gateways: [istio-system/edge]"),
        "own-namespace": ("istio-system", "[ops.example.com]", "gateways: [edge]"),
        "exported-to-proxies": ("web", "[c.web.example.com]", "gateways: [istio-system/edge], exportTo: [gateways]"),
    }
    unbound = {
        "other-host": ("web", "[a.example.org]", "gateways: [istio-system/edge]"),
        "not-admitted": ("shop", "[a.web.example.com]", "gateways: [istio-system/edge]"),
        "dot-other-namespace": ("web", "[ops.example.com]", "gateways: [istio-system/edge]"),
        "tilde": ("none", "[none.example.com]", "gateways: [istio-system/edge]"),
        "mesh-only": ("web", "[a.web.example.com]", "gateways: [mesh]"),
        "no-gateways": ("web", "[a.web.example.com]", "exportTo: ['*']"),
        "private": ("web", "[a.web.example.com]", "gateways: [istio-system/edge], exportTo: ['.']"),
        "wrong-gateway": ("web", "[a.web.example.com]", "gateways: [web/edge]"),
    }
    extra = [gateway] + [virtual_service(ns, name, hosts, x) for name, (ns, hosts, x) in {**bound, **unbound}.items()]
    result = evaluate_claim(store, tmp_path, "public-exposure-controlled", *extra)
    routed = {r["object"] for r in records(result.gaps) if "routes to Service shop/shop" in r["finding"]}
    assert routed == {f"VirtualService/{name}" for name in bound}

"""The built-in k8s-networking pack: each rule of each claim, on small manifests."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import collect_manifests, write

from collector.claims import ClaimResult, evaluate_pack, load_pack, resolve_pack
from collector.store import Store

BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {defensible.io/regulated: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: infra}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  listeners:
    - name: https
      port: 443
      protocol: HTTPS
      tls: {certificateRefs: [{name: edge-tls}]}
      allowedRoutes: {namespaces: {from: Same}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: shop}
spec:
  rules: [{backendRefs: [{name: shop, port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
"""


def evaluate(store: Store, tmp_path: Path, *extra: str, base: str = BASE) -> dict[str, ClaimResult]:
    write(tmp_path / "env" / "base.yaml", base)
    for i, doc in enumerate(extra):
        write(tmp_path / "env" / f"extra{i}.yaml", doc)
    assert collect_manifests(store, tmp_path / "env").status == "succeeded"
    results = evaluate_pack(store, load_pack(resolve_pack("k8s-networking")))
    return {r.claim.id: r for r in results}


def findings(result: ClaimResult) -> list[str]:
    i = result.gaps.columns.index("finding")
    return [row[i] for row in result.gaps.rows]


def test_baseline_satisfies_every_claim(store: Store, tmp_path: Path) -> None:
    results = evaluate(store, tmp_path)
    assert {k: r.verdict for k, r in results.items()} == {
        "public-exposure-controlled": "satisfied",
        "access-restricted": "satisfied",
        "traffic-encrypted": "satisfied",
    }
    for r in results.values():  # every evidence row carries provenance
        assert {"source", "run_id", "artifact_sha256", "collected_at", "location"} <= set(r.evidence.columns)


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
    result = evaluate(store, tmp_path, gateways)["public-exposure-controlled"]
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
    result = evaluate(store, tmp_path, route, *([grant] if granted else []))["public-exposure-controlled"]
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
    result = evaluate(store, tmp_path, gateway)["public-exposure-controlled"]
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
    result = evaluate(store, tmp_path, base=base)["access-restricted"]
    assert result.verdict == verdict
    if verdict == "gap":
        assert findings(result) == ["regulated namespace has no default-deny ingress NetworkPolicy"]


def test_access_restricted_without_regulated_namespaces_has_no_evidence(store: Store, tmp_path: Path) -> None:
    base = BASE.replace('labels: {defensible.io/regulated: "true"}', "labels: {}")
    assert evaluate(store, tmp_path, base=base)["access-restricted"].verdict == "no-evidence"


@pytest.mark.parametrize(
    ("extra", "finding"),
    [
        (
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
            "metadata: {name: ns, namespace: shop}\nspec: {mtls: {mode: PERMISSIVE}}\n",
            "mesh mTLS is PERMISSIVE, not STRICT (decided by PeerAuthentication shop/ns)",
        ),
        (
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: legacy, namespace: shop}\n"
            "spec: {selector: {matchLabels: {app: legacy}}, mtls: {mode: DISABLE}}\n",
            "workload override weakens mTLS to DISABLE",
        ),
        (
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: port, namespace: shop}\n"
            "spec: {selector: {matchLabels: {app: db}}, portLevelMtls: {'5432': {mode: PERMISSIVE}}}\n",
            "port-level override weakens mTLS",
        ),
        (
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: nocert, namespace: infra}\n"
            "spec: {listeners: [{name: tls, port: 443, protocol: HTTPS}]}\n",
            "HTTPS listener terminates TLS without certificateRefs",
        ),
    ],
)
def test_traffic_encrypted_gaps(store: Store, tmp_path: Path, extra: str, finding: str) -> None:
    result = evaluate(store, tmp_path, extra)["traffic-encrypted"]
    assert result.verdict == "gap"
    assert findings(result) == [finding]


def test_no_mesh_policy_means_istio_default_permissive(store: Store, tmp_path: Path) -> None:
    base = BASE[: BASE.index("---\napiVersion: security.istio.io/v1")]
    result = evaluate(store, tmp_path, base=base)["traffic-encrypted"]
    assert findings(result) == ["mesh mTLS is PERMISSIVE, not STRICT (decided by Istio default (PERMISSIVE))"]


def test_passthrough_tls_listener_needs_no_certificate(store: Store, tmp_path: Path) -> None:
    extra = (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: pt, namespace: infra}\n"
        "spec: {listeners: [{name: tls, port: 443, protocol: TLS, tls: {mode: Passthrough}}]}\n"
    )
    assert evaluate(store, tmp_path, extra)["traffic-encrypted"].verdict == "satisfied"

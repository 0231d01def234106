"""BackendTLSPolicy (Gateway API v1, standard since v1.4): which policy applies to each Service port and whether it
re-encrypts there. Each case is one change to a compliant baseline (one Service with ports http and https, one
policy for the whole Service validated by a CA ConfigMap), derived from backendtlspolicy_types.go, GEP-713 and the
conformance test BackendTLSPolicyConflictResolution."""

from __future__ import annotations

from typing import Any

import pytest

from collector.analysis.gateway.backend_tls import analyze_backend_tls

NS = "shop"


def service() -> dict[str, Any]:
    ports = [{"name": "http", "port": 80}, {"name": "https", "port": 443}]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {"ports": ports},
    }


def configmap(name: str = "ca") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}}


def policy(name: str, created: str = "2026-01-01T00:00:00Z", section: str | None = None, **validation: Any) -> dict:
    """A policy for Service api (sectionName: one port); `validation` overrides the CA ConfigMap and hostname
    (None: the field left out)."""
    target = {"group": "", "kind": "Service", "name": "api"} | ({"sectionName": section} if section else {})
    fields = {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}], "hostname": "api.shop"}
    fields |= validation
    meta = {"name": name, "namespace": NS, "creationTimestamp": created}
    spec = {"targetRefs": [target], "validation": {k: v for k, v in fields.items() if v is not None}}
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy", "metadata": meta, "spec": spec}


BASELINE = [service(), configmap(), policy("tls")]
ConfigMapRef = {"group": "", "kind": "ConfigMap", "name": "ca"}

# case: (objects, {port: (applied policy, reason, encrypts)})
CASES: dict[str, tuple[list[dict], dict[int | None, tuple[str, str, bool]]]] = {
    "baseline": (BASELINE, {80: ("tls", "Accepted", True), 443: ("tls", "Accepted", True)}),
    "section-name-one-port": (
        [service(), configmap(), policy("tls", section="https")],
        {443: ("tls", "Accepted", True)},
    ),
    "section-name-of-no-port": (
        [service(), configmap(), policy("tls", section="grpc")],
        {None: ("tls", "Accepted", False)},
    ),
    "section-name-wins-over-whole-service": (
        [
            *BASELINE,
            policy(
                "narrow", "2026-02-01T00:00:00Z", section="https", caCertificateRefs=[], wellKnownCACertificates=None
            ),
        ],
        {80: ("tls", "Accepted", True), 443: ("narrow", "NoValidCACertificate", False)},
    ),
    "oldest-wins-conflict": (
        [
            service(),
            configmap(),
            policy("new", "2026-03-01T00:00:00Z"),
            policy("old", "2026-01-01T00:00:00Z", caCertificateRefs=[{"kind": "Secret", "name": "ca"}]),
        ],
        {80: ("old", "NoValidCACertificate", False), 443: ("old", "NoValidCACertificate", False)},
    ),
    "same-time-first-by-name": (
        [*BASELINE, policy("a-broken", hostname=None)],
        {80: ("a-broken", "Invalid", False), 443: ("a-broken", "Invalid", False)},
    ),
    "ca-of-another-kind": (
        [service(), policy("tls", caCertificateRefs=[{"group": "", "kind": "Secret", "name": "ca"}])],
        {80: ("tls", "NoValidCACertificate", False), 443: ("tls", "NoValidCACertificate", False)},
    ),
    "ca-configmap-missing": (
        [service(), configmap("other"), policy("tls")],
        {80: ("tls", "NoValidCACertificate", False), 443: ("tls", "NoValidCACertificate", False)},
    ),
    "one-of-two-cas-valid": (
        [*BASELINE[:2], policy("tls", caCertificateRefs=[ConfigMapRef, {"kind": "ConfigMap", "name": "gone"}])],
        {80: ("tls", "Accepted", True), 443: ("tls", "Accepted", True)},
    ),
    "well-known-system": (
        [service(), policy("tls", caCertificateRefs=None, wellKnownCACertificates="System")],
        {80: ("tls", "Accepted", True), 443: ("tls", "Accepted", True)},
    ),
    "unnamed-port": (
        [{**service(), "spec": {"ports": [{"port": 8443}]}}, configmap(), policy("tls")],
        {8443: ("tls", "Accepted", True)},
    ),
    "no-hostname": (
        [service(), configmap(), policy("tls", hostname=None)],
        {80: ("tls", "Invalid", False), 443: ("tls", "Invalid", False)},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_the_policy_that_applies_to_each_port(case: str) -> None:
    objects, expected = CASES[case]
    ports, errors = analyze_backend_tls(objects)
    assert not errors
    applied = {p.port: (p.policy, p.accepted_reason, p.encrypts) for p in ports if p.accepted_reason != "Conflicted"}
    assert applied == expected


def test_a_losing_policy_is_conflicted_naming_the_winner() -> None:
    ports, _ = analyze_backend_tls([*BASELINE, policy("later", "2026-05-01T00:00:00Z")])
    lost = {(p.port, p.accepted_reason, p.encrypts) for p in ports if p.policy == "later"}
    assert lost == {(80, "Conflicted", False), (443, "Conflicted", False)}
    assert all("tls applies" in p.message for p in ports if p.policy == "later")


def test_resolved_refs_reasons() -> None:
    secret = policy("tls", caCertificateRefs=[{"group": "", "kind": "Secret", "name": "ca"}])
    [port, _] = analyze_backend_tls([service(), configmap(), secret])[0]
    assert (port.resolved_refs_reason, port.accepted) == ("InvalidKind", False)
    [port, _] = analyze_backend_tls([service(), configmap("x"), policy("tls")])[0]
    assert port.resolved_refs_reason == "InvalidCACertificateRef" and "ConfigMap shop/ca: not found" in port.message


def test_configmaps_not_collected_are_assumed_to_exist() -> None:
    ports, _ = analyze_backend_tls([service(), policy("tls")], collected_kinds=["Service", "BackendTLSPolicy"])
    assert all(p.encrypts for p in ports)


def test_other_targets_and_v1alpha2() -> None:
    other = policy("tls")
    other["spec"]["targetRefs"][0]["group"] = "networking.istio.io"
    assert analyze_backend_tls([service(), configmap(), other])[0] == []
    old = {
        "apiVersion": "gateway.networking.k8s.io/v1alpha2", "kind": "BackendTLSPolicy",
        "metadata": {"name": "tls", "namespace": NS},
        "spec": {"targetRef": {"group": "", "kind": "Service", "name": "api", "sectionName": "https"},
                 "tls": {"caCertRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}], "hostname": "api.shop"}},
    }  # fmt: skip
    ports, _ = analyze_backend_tls([service(), configmap(), old])
    assert [(p.port, p.encrypts) for p in ports] == [(443, True)]


def test_a_malformed_policy_is_an_error_and_the_others_are_analysed() -> None:
    bad = policy("bad")
    bad["spec"]["targetRefs"] = "api"
    ports, errors = analyze_backend_tls([*BASELINE, bad])
    assert [(e.kind, e.namespace, e.name) for e in errors] == [("BackendTLSPolicy", NS, "bad")]
    assert {p.policy for p in ports} == {"tls"}

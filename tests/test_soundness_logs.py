"""Soundness counter-examples for the logs pack's claims and the reachability pack's egress and DNS claims.

A compliant baseline — a regulated namespace whose only external egress is to its allowlisted payments provider,
Hubble flows every ten minutes with NetworkPolicy drops, traceable Istio access log lines — on which
egress-controlled, policy-denies-visible and incidents-traceable are satisfied; then one-change overlays, each
derived from the upstream documentation named in its ``source``, that must turn exactly their claim into a gap
whose rows name the offending object, the other claims keeping their baseline verdicts. The reachability cases
change the compliant baselines of test_pack_reachability (egress) and test_dns_exceptions (DNS).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import write
from test_dns_exceptions import TCP, UDP, egress_to
from test_dns_exceptions import manifests as dns_manifests
from test_pack_logs import API_POD, NAMESPACES, access, at, flow
from test_pack_reachability import BASE as REACHABILITY_BASE
from test_pack_reachability import DB, judge

from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource
from sources.kubernetes.source import KubernetesSource
from sources.logs.source import LogsSource

ALLOWED = "api.payments.example.net"
NOT_ALLOWED = "paste.example.org"
API_IP = "10.8.3.14"  # the regulated pod's address (flow()'s source address)
PODS = f"""
---
apiVersion: v1
kind: Pod
metadata: {{name: squid-0, namespace: egress-proxy}}
spec: {{containers: [{{name: squid, image: ubuntu/squid}}]}}
status: {{podIP: 10.8.7.7, podIPs: [{{ip: 10.8.7.7}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: {API_POD}, namespace: shop}}
spec: {{containers: [{{name: api, image: shop/api}}]}}
status: {{podIP: {API_IP}, podIPs: [{{ip: {API_IP}}}, {{ip: "fd00:10:8::3:14"}}]}}
"""
EGRESS_GATEWAY = """
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress, namespace: istio-system}
spec: {selector: {istio: egressgateway}, servers: [{port: {number: 443, name: tls, protocol: TLS}, hosts: ["*"]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-egressgateway, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: egressgateway}}
  template:
    metadata: {labels: {istio: egressgateway}}
    spec: {containers: [{name: istio-proxy, image: istio/proxyv2}]}
"""
BASELINE_VERDICTS = {"egress-controlled": "satisfied", "policy-denies-visible": "satisfied",
                     "incidents-traceable": "satisfied", "logs-retained": "no-evidence"}  # fmt: skip


def drop(minutes: float) -> dict[str, Any]:
    """A NetworkPolicy drop of the regulated pod's connection to a database inside the cluster."""
    return flow(minutes, "10.8.4.21", 5432, labels=("k8s:app=db",), dst_namespace="data", verdict="DROPPED")


def baseline_flows() -> list[dict[str, Any]]:
    """Egress to the allowlisted provider every ten minutes for two hours, and two NetworkPolicy drops."""
    return [flow(m, "203.0.113.10", fqdn=ALLOWED) for m in range(0, 121, 10)] + [drop(m) for m in (5, 65)]


@dataclass
class Platform:
    """One cluster's manifests, log lines and pack parameters: the baseline, changed by a case."""

    manifests: str = NAMESPACES + PODS
    hubble: list[dict[str, Any]] = field(default_factory=baseline_flows)
    envoy: list[str] = field(default_factory=lambda: [access(m) for m in (1, 61)])
    squid: list[str] = field(default_factory=list)
    egress_gateway: list[str] = field(default_factory=list)  # Envoy lines of istio-system/istio-egressgateway
    parameters: dict[str, Any] = field(default_factory=lambda: {"egress_allowlist": [ALLOWED]})


@dataclass(frozen=True)
class Case:
    """One change to the baseline, the claim it must turn into a gap and a name some gap row must carry."""

    claim: str
    names: str
    change: Callable[[Platform], None]
    source: str


def hubble_event(minutes: float, **changes: Any) -> dict[str, Any]:
    """A regulated pod's egress flow to a non-allowlisted address, its Hubble flow changed by ``changes``."""
    event = flow(minutes, "198.51.100.50", fqdn=NOT_ALLOWED)
    event["flow"] |= changes
    return event


def cidr_identity_without_labels(p: Platform) -> None:
    # Hubble's exporter with a field mask keeps the identity but not the labels; a CIDR identity (ToCIDR /
    # toFQDNs selections) is local-scoped, 16777217-33554431, and always outside the cluster.
    p.hubble.append(flow(30, "198.51.100.50", labels=None, identity=16777217))


def host_network_workload(p: Platform) -> None:
    # A regulated workload on the node's network: Hubble reports its connections as the host's (reserved:host,
    # no namespace), so none of its egress can be attributed to the regulated namespace.
    p.manifests += """
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sftp-sync, namespace: shop}
spec:
  selector: {matchLabels: {app: sftp-sync}}
  template:
    metadata: {labels: {app: sftp-sync}}
    spec: {hostNetwork: true, containers: [{name: sync, image: shop/sftp-sync}]}
"""


def namespace_not_in_inventory(p: Platform) -> None:
    # A namespace created and deleted between two collections: its flows are logged, the inventory never saw it,
    # so nothing says it was not regulated.
    p.hubble.append(flow(30, "198.51.100.50", fqdn=NOT_ALLOWED, src=("ledger", "ledger-7c9d8b6f5d-k2xbw")))


def second_destination_name(p: Platform) -> None:
    # destination_names lists every name the address maps to in the source endpoint's DNS cache: one shared
    # CDN address, resolved for the allowlisted name and for another one.
    p.hubble.append(hubble_event(30, destination_names=[ALLOWED, NOT_ALLOWED]))


def squid_connect_tunnel(p: Platform) -> None:
    # The regulated pod reaches the Internet through an in-cluster Squid: Hubble sees only pod -> proxy (inside the
    # cluster); Squid's access log shows the CONNECT tunnel from the pod's address to a non-allowlisted host.
    p.hubble.append(flow(30, "10.8.7.7", 3128, labels=("k8s:app=squid",), dst_namespace="egress-proxy"))
    p.squid.append(f"{at(30).timestamp():.3f}   5006 {API_IP} TCP_TUNNEL/200 19763 CONNECT {NOT_ALLOWED}:443 - "
                   "HIER_DIRECT/198.51.100.50 -")  # fmt: skip


def squid_absolute_url(p: Platform) -> None:
    # A plain-HTTP request through the proxy: the URL is absolute (no CONNECT), its authority names no port; the
    # client is the pod's second (IPv6) address of status.podIPs.
    p.hubble.append(flow(30, "10.8.7.7", 3128, labels=("k8s:app=squid",), dst_namespace="egress-proxy"))
    p.squid.append(f"{at(30).timestamp():.3f}    120 fd00:10:8::3:14 TCP_MISS/200 512 POST "
                   f"http://{NOT_ALLOWED}/upload - HIER_DIRECT/198.51.100.50 text/html")  # fmt: skip


def through_egress_gateway(p: Platform, record: str) -> None:
    """Istio's egress gateway pattern: the sidecar sends the request to the egress gateway (inside the cluster,
    what Hubble sees); the gateway's access log ``record`` shows the pod's address as the downstream peer and the
    external host it forwarded to."""
    p.manifests += EGRESS_GATEWAY
    p.hubble.append(flow(30, "10.8.9.9", 443, labels=("k8s:istio=egressgateway",), dst_namespace="istio-system"))
    p.egress_gateway.append(record)


def istio_egress_gateway(p: Platform) -> None:
    through_egress_gateway(
        p,
        f'[{at(30):%Y-%m-%dT%H:%M:%S}.000Z] "POST /upload HTTP/2" 200 - via_upstream - "-" 512 0 40 39 "-" '
        f'"curl/8.5.0" "9a1e5f2c-7b3d-4e8f-a1b2-c3d4e5f6a7b8" "{NOT_ALLOWED}" "198.51.100.50:443" '
        f"outbound|443||{NOT_ALLOWED} 10.8.9.9:40312 10.8.9.9:8443 {API_IP}:51234 {NOT_ALLOWED} -",
    )


def istio_egress_gateway_tls(p: Platform) -> None:
    # Through a TLS passthrough server (the pod originates TLS): the gateway's TCP record has no authority; the
    # upstream cluster outbound|443||<host> names the ServiceEntry host it was routed to.
    through_egress_gateway(
        p,
        f'[{at(30):%Y-%m-%dT%H:%M:%S}.000Z] "- - -" 0 - - - "-" 512 4096 40 - "-" "-" "-" "-" "198.51.100.50:443" '
        f"outbound|443||{NOT_ALLOWED} 10.8.9.9:40312 10.8.9.9:443 {API_IP}:51234 {NOT_ALLOWED} -",
    )


def squid_client_pod_gone(p: Platform) -> None:
    # The regulated pod that made the request was replaced before the collection: no Pod of the inventory holds
    # its address any more, so nothing says it was not a regulated one.
    p.squid.append(f"{at(30).timestamp():.3f}   5006 10.8.3.99 TCP_TUNNEL/200 19763 CONNECT {NOT_ALLOWED}:443 - "
                   "HIER_DIRECT/198.51.100.50 -")  # fmt: skip


def ipv6_world_without_name(p: Platform) -> None:
    # A connection to an IPv6 address literal, no DNS name: Cilium's world-ipv6 identity (10).
    p.hubble.append(flow(30, "2606:4700:4700::1111", labels=("reserved:world-ipv6",), identity=10))


def audit_verdict_egress(p: Platform) -> None:
    # Policy Audit Mode: a connection the policy would drop is let through with verdict AUDIT.
    p.hubble.append(hubble_event(30, verdict="AUDIT"))


def audit_mode_without_drops(p: Platform) -> None:
    # The endpoints run in Policy Audit Mode: what policy would drop is logged as AUDIT and forwarded, so no
    # NetworkPolicy drop is ever logged.
    for event in p.hubble:
        if event["flow"]["verdict"] == "DROPPED":
            event["flow"]["verdict"] = "AUDIT"
            del event["flow"]["drop_reason_desc"]


def tcp_proxy_records(p: Platform) -> None:
    # A TCP (non-HTTP) listener: Istio's default format prints "-" for every HTTP field, so the record has no
    # route, authority, path or request id.
    p.envoy.append(f'[{at(30):%Y-%m-%dT%H:%M:%S}.000Z] "- - -" 0 - - - "-" 1234 567 1200 - "-" "-" "-" "-" '
                   '"10.8.4.21:5432" outbound|5432||db.data.svc.cluster.local 10.8.1.7:51234 10.96.0.10:5432 '
                   f"{API_IP}:40000 - -")  # fmt: skip


CASES: dict[str, Case] = {
    "cidr-identity-without-labels": Case(
        "egress-controlled",
        "198.51.100.50",
        cidr_identity_without_labels,
        "https://docs.cilium.io/en/stable/internals/security-identities/ (CIDR-based identity: 16777217 to "
        "33554431, local to each node); Hubble exporter field masks (hubble-export-fieldmask) drop labels",
    ),
    "host-network-workload": Case(
        "egress-controlled",
        "sftp-sync",
        host_network_workload,
        "https://kubernetes.io/docs/concepts/services-networking/network-policies/ (hostNetwork pods: behaviour "
        "undefined, traffic seen as the node's); https://docs.cilium.io/en/stable/internals/security-identities/ "
        "(reserved:host identity)",
    ),
    "namespace-not-in-inventory": Case(
        "egress-controlled",
        "ledger",
        namespace_not_in_inventory,
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/ (namespaces come and go; "
        "only the collected inventory says which are regulated)",
    ),
    "second-destination-name": Case(
        "egress-controlled",
        NOT_ALLOWED,
        second_destination_name,
        "https://github.com/cilium/cilium/blob/main/api/v1/flow/flow.proto (Flow.destination_names: the names "
        "the destination IP resolves to in the source's DNS cache); https://github.com/cilium/hubble/issues/1438",
    ),
    "squid-connect-tunnel": Case(
        "egress-controlled",
        NOT_ALLOWED,
        squid_connect_tunnel,
        "https://wiki.squid-cache.org/Features/LogFormat (native access.log: client address, CONNECT host:port, "
        "HIER_DIRECT/peer)",
    ),
    "squid-absolute-url": Case(
        "egress-controlled",
        NOT_ALLOWED,
        squid_absolute_url,
        "https://wiki.squid-cache.org/Features/LogFormat (native access.log: absolute URL of a proxied request); "
        "https://kubernetes.io/docs/concepts/services-networking/dual-stack/ (status.podIPs)",
    ),
    "istio-egress-gateway": Case(
        "egress-controlled",
        NOT_ALLOWED,
        istio_egress_gateway,
        "https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/ (sidecar -> egress gateway "
        "-> external host); https://istio.io/latest/docs/tasks/observability/logs/access-log/ (downstream remote "
        "address, authority, upstream host)",
    ),
    "istio-egress-gateway-tls": Case(
        "egress-controlled",
        NOT_ALLOWED,
        istio_egress_gateway_tls,
        "https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/ (Egress gateway for HTTPS "
        "traffic: PASSTHROUGH server, upstream cluster outbound|443||edition.cnn.com)",
    ),
    "squid-client-pod-gone": Case(
        "egress-controlled",
        "10.8.3.99",
        squid_client_pod_gone,
        "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/ (pods are ephemeral, their IPs reused); "
        "https://wiki.squid-cache.org/Features/LogFormat (client address)",
    ),
    "ipv6-world-without-name": Case(
        "egress-controlled",
        "2606:4700:4700::1111",
        ipv6_world_without_name,
        "https://docs.cilium.io/en/stable/gettingstarted/terminology/ (reserved identities: world-ipv6, 10)",
    ),
    "audit-verdict-egress": Case(
        "egress-controlled",
        NOT_ALLOWED,
        audit_verdict_egress,
        "https://docs.cilium.io/en/latest/security/policy-creation/ (Policy Audit Mode: allows all traffic, logs "
        "what policy would drop, verdict AUDIT)",
    ),
    "audit-mode-without-drops": Case(
        "policy-denies-visible",
        "cluster prod",
        audit_mode_without_drops,
        "https://docs.cilium.io/en/latest/security/policy-creation/ (Policy Audit Mode: no network policy is "
        "enforced; would-be drops have verdict AUDIT)",
    ),
    "tcp-proxy-records": Case(
        "incidents-traceable",
        "without trace or request id",
        tcp_proxy_records,
        "https://istio.io/latest/docs/tasks/observability/logs/access-log/ (default format; HTTP fields are '-' "
        "for TCP connections)",
    ),
}


def collect(store: Store, tmp: Path, platform: Platform) -> dict[str, ClaimResult]:
    """The platform's manifests and logs in ``store`` (cluster prod), then the logs pack evaluated."""
    path = write(tmp / "k8s.yaml", platform.manifests)
    config = {"paths": [str(path)], "cluster": "prod", "egress_allowlists": True}
    assert run_source(store, KubernetesSource(), config).status == "succeeded"
    inputs = []
    files = (
        ("hubble", platform.hubble, {}),
        ("envoy", platform.envoy, {}),
        ("squid", platform.squid, {}),
        ("envoy", platform.egress_gateway, {"gateway": "istio-system/istio-egressgateway"}),
    )
    for number, (fmt, lines, setting) in enumerate(files):
        if lines:
            file = tmp / "logs" / f"{number}-{fmt}.log"
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
            inputs.append({"format": fmt, "paths": [str(file)], **setting})
    result = run_source(store, LogsSource(), {"inputs": inputs, "cluster": "prod"})
    assert result.status == "succeeded", result.error
    results = evaluate_pack(store, load_pack(resolve_pack("logs")), Settings(platform.parameters))
    return {r.claim.id: r for r in results}


def verdicts(results: dict[str, ClaimResult]) -> dict[str, str]:
    return {claim: r.verdict for claim, r in results.items() if claim in BASELINE_VERDICTS}


def test_baseline_satisfies_every_claim(store: Store, tmp_path: Path) -> None:
    results = collect(store, tmp_path, Platform())
    assert verdicts(results) == BASELINE_VERDICTS, {c: r.reason for c, r in results.items()}


@pytest.mark.parametrize("name", CASES)
def test_each_change_is_a_gap_of_its_claim_naming_the_offender(store: Store, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    platform = Platform()
    case.change(platform)
    results = collect(store, tmp_path, platform)
    result = results[case.claim]
    texts = [" ".join(str(v) for v in row) for row in result.gaps.rows]
    assert result.verdict == "gap" and any(case.names in text for text in texts), texts
    assert verdicts(results) == BASELINE_VERDICTS | {case.claim: "gap"}


# reachability: egress-restricted-by-policy and dns-exceptions-modelled --------------------------------------------

EGRESS_RULE = "  egress: [{to: [{ipBlock: {cidr: 10.1.0.0/16}}], ports: [{port: 5432}]}]"
ANP_DENY_DNS = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: no-dns-egress}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  egress:
  - action: Deny
    to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
    ports: [{portNumber: {protocol: UDP, port: 53}}, {portNumber: {protocol: TCP, port: 53}}]
"""


@dataclass(frozen=True)
class PolicyCase:
    """One change to a reachability baseline (shop/api may reach 10.1.0.0/16 on 5432; shop resolves names through
    CoreDNS), the claim it must turn into a gap and a name some gap row must carry."""

    claim: str
    names: str
    manifests: str
    source: str


POLICY_CASES: dict[str, PolicyCase] = {
    "ipblock-host-bits": PolicyCase(
        "egress-restricted-by-policy",
        "10.0.0.0-10.255.255.255",
        REACHABILITY_BASE.replace(EGRESS_RULE, EGRESS_RULE.replace("10.1.0.0/16", "10.1.0.5/8")),
        "https://github.com/kubernetes/enhancements/issues/4858 (KEP-4858 IP/CIDR validation: non-canonical "
        "CIDRs such as 10.1.0.5/8 were accepted, net.ParseCIDR ignoring the host bits)",
    ),
    "ipv4-mapped-ipblock": PolicyCase(
        "egress-restricted-by-policy",
        "::ffff:0:0-::ffff:ffff:ffff",
        REACHABILITY_BASE.replace(EGRESS_RULE, EGRESS_RULE[:-1] + ", {to: [{ipBlock: {cidr: '::ffff:0.0.0.0/96'}}]}]"),
        "https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/network-policy-v1/ (ipBlock.cidr: "
        "any IPv4 or IPv6 CIDR); RFC 4291 2.5.5.2 (IPv4-mapped IPv6 addresses)",
    ),
    "dns-peer-pod-selector-only": PolicyCase(
        "dns-exceptions-modelled",
        "shop/api",
        dns_manifests(egress_to(UDP, TCP, peer="{podSelector: {matchLabels: {k8s-app: kube-dns}}}"), []),
        "https://kubernetes.io/docs/concepts/services-networking/network-policies/ (a podSelector peer without a "
        "namespaceSelector selects pods in the policy's own namespace)",
    ),
    "dns-admin-deny": PolicyCase(
        "dns-exceptions-modelled",
        "shop/web",
        dns_manifests(ANP_DENY_DNS, []),
        "https://network-policy-api.sigs.k8s.io/reference/spec/ (AdminNetworkPolicy Deny rules are evaluated "
        "before, and override, NetworkPolicy)",
    ),
}


@pytest.mark.parametrize("name", POLICY_CASES)
def test_each_policy_change_is_a_gap_of_its_claim_naming_the_offender(store: Store, tmp_path: Path, name: str) -> None:
    case = POLICY_CASES[name]
    path = write(tmp_path / "objects.yaml", case.manifests)
    assert run_source(store, KubernetesSource(), {"paths": [str(path)], "cluster": "prod"}).status == "succeeded"
    assert run_source(store, AnalysisSource(), {}).status == "succeeded"
    result = judge(store, "reachability", case.claim, egress_allowlist=DB)
    texts = [" ".join(str(v) for v in row) for row in result.gaps.rows]
    assert result.verdict == "gap" and any(case.names in text for text in texts), texts

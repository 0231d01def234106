"""route-conflicts-absent (issue 17): no listener conflicts and no competing routes on one listener, as the Gateway
API spec resolves them (ListenerConditionReason Conflicted; HTTPRoute rule precedence; TCPRoute/UDPRoute/TLSRoute
on one listener; HTTPRoute vs GRPCRoute hostnames). Each counter-example is one change to a compliant baseline,
collected as its own cluster into one store and judged once."""

from __future__ import annotations

import pytest
import yaml
from helpers import write
from test_pack_reachability import judge, rows

from collector.analysis.gateway.attachment import analyze_gateways
from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource
from sources.kubernetes.source import KubernetesSource

GW = "apiVersion: gateway.networking.k8s.io/v1\n"
ALPHA = "apiVersion: gateway.networking.k8s.io/v1alpha2\n"
LISTENERS = """
  - {name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}
  - {name: tcp, protocol: TCP, port: 5432, allowedRoutes: {namespaces: {from: All}}}
  - {name: udp, protocol: UDP, port: 5353, allowedRoutes: {namespaces: {from: All}}}
  - {name: tls, protocol: TLS, port: 8443, tls: {mode: Passthrough}, allowedRoutes: {namespaces: {from: All}}}
"""


def gateway(extra: str = "") -> str:
    meta = "metadata: {name: gw, namespace: infra}"
    return f"{GW}kind: Gateway\n{meta}\nspec:\n  gatewayClassName: x\n  listeners:{LISTENERS}{extra}"


def route(kind: str, name: str, spec: str, namespace: str = "shop", created: str = "2026-01-01T00:00:00Z") -> str:
    api = GW if kind in ("HTTPRoute", "GRPCRoute") else ALPHA
    meta = f"{{name: {name}, namespace: {namespace}, creationTimestamp: '{created}'}}"
    return f"{api}kind: {kind}\nmetadata: {meta}\nspec:\n{spec}"


def http(name: str, host: str, matches: str, namespace: str = "shop", created: str = "2026-01-01T00:00:00Z") -> str:
    spec = f"""  parentRefs: [{{name: gw, namespace: infra, sectionName: http}}]
  hostnames: [{host}]
  rules: [{{matches: {matches}, backendRefs: [{{name: {name}, port: 80}}]}}]
"""
    return route("HTTPRoute", name, spec, namespace, created)


def stream(kind: str, name: str, section: str, hosts: str = "") -> str:
    hostnames = f"  hostnames: [{hosts}]\n" if hosts else ""
    spec = f"  parentRefs: [{{name: gw, namespace: infra, sectionName: {section}}}]\n{hostnames}"
    return route(kind, name, spec + f"  rules: [{{backendRefs: [{{name: {name}, port: 1}}]}}]\n")


BASE = "\n---\n".join(
    [
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: infra}",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}",
        gateway(),
        http("web", "shop.example.com", "[{path: {type: PathPrefix, value: /}}]"),
        # different paths, types and headers on one hostname: precedence, not conflicts
        http("api", "shop.example.com", "[{path: {type: PathPrefix, value: /api}}]"),
        http("api-exact", "shop.example.com", "[{path: {type: Exact, value: /api}}]"),
        http("canary", "shop.example.com", "[{path: {value: /api}, headers: [{name: x-canary, value: 'true'}]}]"),
        # the same match on another hostname
        http("admin", "admin.example.com", "[{path: {type: PathPrefix, value: /}}]"),
        stream("GRPCRoute", "rpc", "http", "grpc.example.com"),
        stream("TCPRoute", "db", "tcp"),
        stream("UDPRoute", "dns", "udp"),
        stream("TLSRoute", "vault", "tls", "vault.example.com"),
    ]
)  # fmt: skip

CANARY_TWICE = "{name: x-canary, value: 'true'}, {name: X-Canary, value: 'false'}"  # equivalent header names

# case: (objects added or replaced (matched on kind, namespace, name), the gap rows' (first, second) objects)
CASES: dict[str, tuple[str, set[tuple[str, str]]]] = {
    "baseline": ("", set()),
    # a second HTTP listener on port 80 without a hostname: not distinct from http (HostnameConflict)
    "listener-hostname-conflict": (
        gateway("  - {name: http-2, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}\n"),
        {("listener http", "listener http-2")},
    ),
    # a TCP listener on the HTTP listener's port (ProtocolConflict)
    "listener-protocol-conflict": (
        gateway("  - {name: raw, protocol: TCP, port: 80}\n"),
        {("listener http", "listener raw")},
    ),
    # another team's HTTPRoute with the same host and match, created earlier: it takes shop/web's traffic
    "httproute-identical-match": (
        http("web", "shop.example.com", "[{path: {type: PathPrefix, value: /}}]", "other", "2025-01-01T00:00:00Z"),
        {("HTTPRoute other/web", "HTTPRoute shop/web")},
    ),
    # no matches is PathPrefix / (the spec's default match)
    "httproute-default-match": (
        http("catch-all", "shop.example.com", "[]", "other"),
        {("HTTPRoute other/catch-all", "HTTPRoute shop/web")},
    ),
    # a PathPrefix's trailing slash is ignored: /api/ is /api
    "httproute-trailing-slash": (
        http("api-v2", "shop.example.com", "[{path: {type: PathPrefix, value: /api/}}]"),
        {("HTTPRoute shop/api", "HTTPRoute shop/api-v2")},
    ),
    # header names are case-insensitive
    "httproute-header-case": (
        http("canary-2", "shop.example.com", "[{path: {value: /api}, headers: [{name: X-Canary, value: 'true'}]}]"),
        {("HTTPRoute shop/canary", "HTTPRoute shop/canary-2")},
    ),
    # of header matches with equivalent names only the first counts: X-Canary false is ignored, the match is canary's
    "httproute-duplicate-header-name": (
        http("canary-3", "shop.example.com", f"[{{path: {{value: /api}}, headers: [{CANARY_TWICE}]}}]"),
        {("HTTPRoute shop/canary", "HTTPRoute shop/canary-3")},
    ),
    # a GRPCRoute on the hostname an HTTPRoute serves on the same listener
    "grpcroute-on-http-hostname": (
        stream("GRPCRoute", "rpc-2", "http", "admin.example.com"),
        {("GRPCRoute shop/rpc-2", "HTTPRoute shop/admin")},
    ),
    # a second GRPCRoute matching every method of the same hostname
    "grpcroute-identical-match": (
        stream("GRPCRoute", "rpc-2", "http", "grpc.example.com"),
        {("GRPCRoute shop/rpc", "GRPCRoute shop/rpc-2")},
    ),
    # a second TCPRoute on the TCP listener
    "second-tcproute": (stream("TCPRoute", "db-2", "tcp"), {("TCPRoute shop/db", "TCPRoute shop/db-2")}),
    # a second UDPRoute on the UDP listener
    "second-udproute": (stream("UDPRoute", "dns-2", "udp"), {("UDPRoute shop/dns", "UDPRoute shop/dns-2")}),
    # two TLSRoutes for one SNI name
    "tlsroute-same-sni": (
        stream("TLSRoute", "vault-2", "tls", "vault.example.com"),
        {("TLSRoute shop/vault", "TLSRoute shop/vault-2")},
    ),
}


def key(obj: dict) -> tuple[str, str, str]:
    return (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def objects(overlay: str) -> list[dict]:
    added = [d for d in yaml.safe_load_all(overlay) if d]
    replaced = {key(d) for d in added}
    return [d for d in yaml.safe_load_all(BASE) if key(d) not in replaced] + added


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("conflicts")
    with Store.open(folder / "store.duckdb") as store:
        for case, (overlay, _) in CASES.items():
            path = write(folder / case / "objects.yaml", yaml.safe_dump_all(objects(overlay)))
            assert run_source(store, KubernetesSource(), {"paths": [str(path)], "cluster": case}).status == "succeeded"
        assert run_source(store, AnalysisSource(), {}).status == "succeeded"
        path = write(folder / "unanalysed" / "objects.yaml", yaml.safe_dump_all(objects("")))  # after the analysis
        assert (
            run_source(store, KubernetesSource(), {"paths": [str(path)], "cluster": "unanalysed"}).status == "succeeded"
        )
        yield judge(store, "k8s-networking", "route-conflicts-absent")


@pytest.mark.parametrize("case", CASES)
def test_each_counter_example_is_a_gap_naming_both_objects(judged, case: str) -> None:
    expected = CASES[case][1]
    assert judged.clusters[case][0] == ("gap" if expected else "satisfied"), judged.clusters[case]
    found = {(a, b) for c, a, b in rows(judged.gaps, "cluster", "first", "second") if c == case}
    assert found == expected


def test_a_cluster_without_an_analysis_is_a_gap_per_gateway(judged) -> None:
    [(obj, finding)] = [(o, f) for c, o, f in rows(judged.gaps, "cluster", "object", "finding") if c == "unanalysed"]
    assert obj == "Gateway/gw" and "has no analysis of its current inventory" in finding


def test_the_older_route_wins_and_the_loser_is_the_object(judged) -> None:
    [(obj, winner, finding)] = [
        (o, w, f) for c, o, w, f in rows(judged.gaps, "cluster", "object", "winner", "finding")
        if c == "httproute-identical-match"
    ]  # fmt: skip
    assert (obj, winner) == ("HTTPRoute/web", "HTTPRoute other/web")
    assert "MatchConflict on Gateway infra/gw listener http (port 80)" in finding
    assert "HTTPRoute other/web is served, the other is not" in finding
    listeners = {o for c, o in rows(judged.gaps, "cluster", "object") if c == "listener-protocol-conflict"}
    assert listeners == {"Gateway/gw"}


def test_precedence_without_creation_times_is_not_guessed() -> None:
    objs = [*objects(CASES["httproute-identical-match"][0])]
    for obj in objs:
        obj["metadata"].pop("creationTimestamp", None)
    [conflict] = analyze_gateways(objs).conflicts
    assert conflict.winner is None and "creation times unknown" in conflict.detail
    same_time = objects(http("web", "shop.example.com", "[{path: {value: /}}]", "other"))
    [conflict] = analyze_gateways(same_time).conflicts
    assert conflict.winner == "HTTPRoute other/web"  # same creation time: the first by namespace/name

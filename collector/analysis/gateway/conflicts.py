"""Listener and route conflicts on each Gateway listener, as the Gateway API spec resolves them.

- Listeners on one port that are not distinct (same protocol and hostname, or incompatible protocols): both are
  ``Conflicted`` (HostnameConflict, ProtocolConflict) and neither serves.
- Two HTTPRoutes (or two GRPCRoutes) on one listener with an identical match for an identical hostname: the
  spec's precedence sends every such request to the older route (creationTimestamp), then to the first by
  ``namespace/name``; the other's match is shadowed.
- An HTTPRoute and a GRPCRoute on one listener sharing a hostname; two TLSRoutes sharing an SNI hostname; two
  TCPRoutes or two UDPRoutes on one listener (no hostname to tell them apart): one route is served, the other not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from itertools import combinations, product
from typing import Any

from collector.analysis.gateway.inventory import Gateway, Inventory, Route
from collector.analysis.gateway.listeners import conflicting_pairs
from collector.analysis.gateway.model import Attachment, Conflict, ObjectError

MatchKey = tuple[Any, ...]
RouteKey = tuple[str, str, str]  # kind, namespace, name


def listener_conflicts(gateway: Gateway) -> Iterator[Conflict]:
    """Each pair of listeners on one port that are not distinct."""
    for a, b, reason in conflicting_pairs(gateway):
        detail = (
            f"listeners {a.name} ({a.protocol} {a.hostname or '*'}) and {b.name} ({b.protocol} "
            f"{b.hostname or '*'}) share port {a.port} without being distinct: neither is accepted"
        )
        yield Conflict(
            gateway.namespace, gateway.name, a.name, a.port, reason, f"listener {a.name}", f"listener {b.name}",
            None, detail,
        )  # fmt: skip


def http_match_keys(route: Route) -> set[MatchKey]:
    """Every match of every rule, normalized (defaults applied, header names lower-cased and the first of equivalent
    ones kept, a PathPrefix without its trailing slash)."""
    keys: set[MatchKey] = set()
    for rule in route.spec.get("rules") or [{}]:
        for match in (rule or {}).get("matches") or [{}]:
            path = match.get("path") or {}
            kind, value = path.get("type") or "PathPrefix", str(path.get("value") or "/")
            if kind == "PathPrefix" and value != "/":
                value = value.rstrip("/") or "/"
            keys.add((kind, value, match.get("method"), headers(match.get("headers")), params(match)))
    return keys


def grpc_match_keys(route: Route) -> set[MatchKey]:
    """Every match of every rule (method match type Exact by default, header names lower-cased)."""
    keys: set[MatchKey] = set()
    for rule in route.spec.get("rules") or [{}]:
        for match in (rule or {}).get("matches") or [{}]:
            method, hdrs = match.get("method") or {}, headers(match.get("headers"))
            keys.add((method.get("type") or "Exact", method.get("service"), method.get("method"), hdrs))
    return keys


def headers(raw: Any) -> frozenset[tuple[str, str, str]]:
    """Header matches by lower-cased name; of entries with equivalent names only the first counts (the spec's
    HTTPHeaderMatch and GRPCHeaderMatch: later ones MUST be ignored)."""
    first: dict[str, tuple[str, str, str]] = {}
    for h in raw or []:
        name = str(h.get("name")).lower()
        first.setdefault(name, (h.get("type") or "Exact", name, str(h.get("value"))))
    return frozenset(first.values())


def params(match: dict[str, Any]) -> frozenset[tuple[str, str, str]]:
    raw = match.get("queryParams") or []
    return frozenset((q.get("type") or "Exact", str(q.get("name")), str(q.get("value"))) for q in raw)


def key_text(key: MatchKey) -> str:
    if len(key) == 5:
        kind, value, method, hdrs, query = key
        parts = [f"path {kind} {value}"]
        parts += [f"method {method}"] if method else []
    else:
        kind, service, method, hdrs = key
        parts, query = [f"gRPC {kind} {service or '*'}/{method or '*'}"], frozenset()
    parts += [f"header {n} {t} {v}" for t, n, v in sorted(hdrs)] + [f"query {n} {t} {v}" for t, n, v in sorted(query)]
    return ", ".join(parts)


def precedence(a: Route, b: Route) -> str | None:
    """The route the spec's tie-break keeps: the older (creationTimestamp), then the first by namespace/name.
    None when a creation time is unknown and the names alone cannot decide."""
    if a.created and b.created and a.created != b.created:
        return (a if a.created < b.created else b).ref
    if a.created and b.created:
        return min(a, b, key=lambda r: (r.namespace, r.name)).ref
    return None


def route_conflicts(inv: Inventory, attachments: list[Attachment]) -> Iterator[Conflict]:
    """Conflicts between the routes accepted on each listener. Candidate pairs come from buckets (the listener for
    TCPRoutes and UDPRoutes, each shared hostname for the others, each identical match for routes of one kind), so
    the cost follows the routes and the conflicts, not every pair of routes on a listener. A route whose matches
    cannot be read is recorded in ``inv.errors`` and left out of the check."""
    on_listener: dict[tuple[str, str, str], dict[RouteKey, set[str]]] = defaultdict(dict)
    for a in attachments:
        if a.accepted and a.listener is not None:
            routes = on_listener[(a.gateway_ns, a.gateway, a.listener)]
            routes.setdefault((a.route_kind, a.route_ns, a.route), set()).update(a.hostnames)
    keys = _match_keys(inv, {k for routes in on_listener.values() for k in routes})
    ports = {(g.namespace, g.name, x.name): x.port for g in inv.gateways.values() for x in g.listeners}
    for (gw_ns, gw, listener), routes in sorted(on_listener.items()):
        routes = {k: hosts for k, hosts in routes.items() if k in keys}
        for ka, kb in _candidate_pairs(routes, keys):
            a, b = inv.routes[ka], inv.routes[kb]
            found = route_pair(a, b, routes[ka] & routes[kb], keys[ka] & keys[kb])
            if found:
                reason, detail = found
                winner = precedence(a, b)
                rule = "the older route (creationTimestamp), then the first by namespace/name, wins"
                kept = f"{winner} is served, the other is not" if winner else f"creation times unknown: {rule}"
                yield Conflict(gw_ns, gw, listener, ports[(gw_ns, gw, listener)], reason, a.ref, b.ref, winner,
                               f"{detail}: {kept}")  # fmt: skip


def _match_keys(inv: Inventory, routes: set[RouteKey]) -> dict[RouteKey, set[MatchKey]]:
    """The match keys of each route (empty for kinds without matches); malformed ones are errors."""
    found: dict[RouteKey, set[MatchKey]] = {}
    for key in sorted(routes):
        route = inv.routes[key]
        reader = CONFLICT_KEYS.get(route.kind)
        try:
            found[key] = reader(route) if reader else set()
        except (ValueError, TypeError, AttributeError) as exc:
            consequence = "its matches cannot be read, its conflicts are not judged"
            inv.errors.append(ObjectError.of(route.kind, route.namespace, route.name, exc, consequence))
    return found


def _candidate_pairs(
    routes: dict[RouteKey, set[str]], keys: dict[RouteKey, set[MatchKey]]
) -> list[tuple[RouteKey, RouteKey]]:
    """Pairs of routes on one listener that may conflict, each once, in sorted order."""
    pairs: set[tuple[RouteKey, RouteKey]] = set()
    by_kind: dict[str, list[RouteKey]] = defaultdict(list)
    by_host: dict[str, list[RouteKey]] = defaultdict(list)
    for k in sorted(routes):
        by_kind[k[0]].append(k)
        for host in routes[k]:
            by_host[host].append(k)
    for kind in ("TCPRoute", "UDPRoute"):
        pairs.update(combinations(by_kind[kind], 2))
    for members in by_host.values():
        grpc = [k for k in members if k[0] == "GRPCRoute"]
        http = [k for k in members if k[0] == "HTTPRoute"]
        pairs.update(combinations([k for k in members if k[0] == "TLSRoute"], 2))
        pairs.update(tuple(sorted(p)) for p in product(http, grpc))
        for same_kind in (http, grpc):
            by_match: dict[MatchKey, list[RouteKey]] = defaultdict(list)
            for k in same_kind:
                for match in keys[k]:
                    by_match[match].append(k)
            for group in by_match.values():
                pairs.update(combinations(group, 2))
    return sorted(pairs)


def route_pair(a: Route, b: Route, shared_hosts: set[str], same: set[MatchKey]) -> tuple[str, str] | None:
    """(reason, detail) when two routes on one listener conflict; `same`: the matches they share."""
    hosts = ", ".join(sorted(shared_hosts))
    kinds = {a.kind, b.kind}
    if a.kind == b.kind and a.kind in ("TCPRoute", "UDPRoute"):
        return "ListenerShared", f"both {a.kind}s are attached to the listener, which cannot tell them apart"
    if not shared_hosts:
        return None
    if kinds == {"HTTPRoute", "GRPCRoute"}:
        return "HostnameShared", f"an HTTPRoute and a GRPCRoute both serve {hosts} on the listener"
    if kinds == {"TLSRoute"}:
        return "HostnameShared", f"both TLSRoutes serve SNI {hosts}"
    if kinds in ({"HTTPRoute"}, {"GRPCRoute"}) and same:
        matches = "; ".join(sorted(key_text(k) for k in same))
        return "MatchConflict", f"identical matches for {hosts} ({matches})"
    return None


CONFLICT_KEYS = {"HTTPRoute": http_match_keys, "GRPCRoute": grpc_match_keys}

"""Listener validation: conflicts on a port, Accepted/Conflicted/ResolvedRefs conditions, who may attach."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from itertools import combinations, product

from collector.analysis.gateway.inventory import Gateway, Inventory, Listener
from collector.analysis.gateway.model import (
    ACCEPTED,
    CORE_PROTOCOLS,
    LISTENER_REF_REASONS,
    Condition,
    ListenerExposure,
    ListenerStatus,
)
from collector.analysis.gateway.reference_grants import certificate_problems, resolved_refs


def conflicting_pairs(gateway: Gateway) -> list[tuple[Listener, Listener, str]]:
    """(first, second, reason) for each pair of listeners on one port that are not distinct, in listener order.

    Same protocol: TCP or UDP always conflict, HTTP, HTTPS or TLS when the hostname is the same (HostnameConflict);
    HTTPS and TLS with the same hostname, TCP with HTTP/HTTPS/TLS and cleartext HTTP with HTTPS/TLS are a
    ProtocolConflict; UDP is another transport, and a non-core protocol is not compared. Pairs are found through
    per-port and per-hostname buckets, never by comparing every pair of a port."""
    order = {x.name: i for i, x in enumerate(gateway.listeners)}
    by_port: dict[int, dict[str, dict[str | None, list[Listener]]]] = defaultdict(lambda: defaultdict(dict))
    for x in gateway.listeners:
        if x.protocol in CORE_PROTOCOLS:
            by_port[x.port][x.protocol].setdefault(x.hostname, []).append(x)
    pairs: list[tuple[Listener, Listener, str]] = []
    for protocols in by_port.values():
        every = {p: [x for group in hosts.values() for x in group] for p, hosts in protocols.items()}
        for p in ("TCP", "UDP"):
            pairs += [(a, b, "HostnameConflict") for a, b in combinations(every.get(p, []), 2)]
        for p in ("HTTP", "HTTPS", "TLS"):
            for group in protocols.get(p, {}).values():
                pairs += [(a, b, "HostnameConflict") for a, b in combinations(group, 2)]
        tls = protocols.get("TLS", {})
        for host, group in protocols.get("HTTPS", {}).items():
            pairs += [(a, b, "ProtocolConflict") for a, b in product(group, tls.get(host, []))]
        terminating = every.get("HTTPS", []) + every.get("TLS", [])
        tcp, http = every.get("TCP", []), every.get("HTTP", [])
        pairs += [(a, b, "ProtocolConflict") for a, b in product(tcp, http + terminating)]
        pairs += [(a, b, "ProtocolConflict") for a, b in product(http, terminating)]
    ordered = [(a, b, r) if order[a.name] < order[b.name] else (b, a, r) for a, b, r in pairs]
    return sorted(ordered, key=lambda t: (order[t[0].name], order[t[1].name]))


def _conflicts(gateway: Gateway) -> dict[str, str]:
    found: dict[str, str] = {}
    for a, b, reason in conflicting_pairs(gateway):
        for x in (a, b):
            if found.get(x.name) != "ProtocolConflict":
                found[x.name] = reason
    return found


def _listener_conditions(
    inv: Inventory, gateway: Gateway, listener: Listener, conflict: str | None
) -> tuple[Condition, Condition, Condition]:
    if listener.protocol not in CORE_PROTOCOLS:
        accepted = Condition("Accepted", "False", "UnsupportedProtocol", f"protocol {listener.protocol}")
    elif conflict:
        accepted = Condition("Accepted", "False", conflict, "the listener is not distinct from another on its port")
    else:
        accepted = Condition("Accepted", "True", ACCEPTED)
    conflicted = (
        Condition("Conflicted", "True", conflict, f"port {listener.port}")
        if conflict
        else Condition("Conflicted", "False", "NoConflicts")
    )
    problems = certificate_problems(inv, gateway, listener)
    if listener.invalid_kinds:
        problems.append(("InvalidRouteKinds", "unsupported route kinds: " + ", ".join(listener.invalid_kinds)))
    return accepted, conflicted, resolved_refs(problems, LISTENER_REF_REASONS)


def analyze_listeners(
    inv: Inventory, gateway: Gateway, attached: dict[str, set[tuple[str, str, str]]]
) -> Iterator[tuple[ListenerStatus, ListenerExposure]]:
    """Status and exposure of each listener; `attached`: the routes accepted on each listener of the Gateway."""
    conflicts = _conflicts(gateway)
    for listener in gateway.listeners:
        conditions = _listener_conditions(inv, gateway, listener, conflicts.get(listener.name))
        admits_kinds = bool(listener.kinds)
        basics = (listener.name, listener.protocol, listener.port, listener.hostname)
        count = len(attached.get(listener.name, ()))
        yield (
            ListenerStatus(gateway.namespace, gateway.name, *basics, listener.kinds, count, *conditions),
            ListenerExposure(
                *basics,
                listener.from_,
                listener.selector,
                listener.kinds,
                inv.admitted_namespaces(listener, gateway.namespace) if admits_kinds else (),
                admits_kinds and inv.admits_every_namespace(listener),
                conditions[0].status == "True",
            ),
        )

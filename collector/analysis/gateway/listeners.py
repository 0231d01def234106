"""Listener validation: conflicts on a port, Accepted/Conflicted/ResolvedRefs conditions, who may attach."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from collector.analysis.gateway.inventory import Gateway, Inventory, Listener
from collector.analysis.gateway.model import (
    ACCEPTED,
    CORE_PROTOCOLS,
    LISTENER_REF_REASONS,
    Attachment,
    Condition,
    ListenerExposure,
    ListenerStatus,
)
from collector.analysis.gateway.reference_grants import certificate_problems, resolved_refs


def listener_conflict(a: Listener, b: Listener) -> str | None:
    """Why two listeners on one port are not distinct, or None if they are."""
    pa, pb = a.protocol, b.protocol
    if pa not in CORE_PROTOCOLS or pb not in CORE_PROTOCOLS:
        return None
    if pa == pb:
        return "HostnameConflict" if pa in ("TCP", "UDP") or a.hostname == b.hostname else None
    if "UDP" in (pa, pb):
        return None  # a different transport: distinct
    if {pa, pb} == {"HTTPS", "TLS"}:
        return "ProtocolConflict" if a.hostname == b.hostname else None
    return "ProtocolConflict"  # TCP with HTTP/HTTPS/TLS, cleartext HTTP with HTTPS/TLS


def _conflicts(gateway: Gateway) -> dict[str, str]:
    found: dict[str, str] = {}
    for a, b in combinations(gateway.listeners, 2):
        if a.port == b.port and (reason := listener_conflict(a, b)):
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
    inv: Inventory, gateway: Gateway, attachments: list[Attachment]
) -> Iterator[tuple[ListenerStatus, ListenerExposure]]:
    conflicts = _conflicts(gateway)
    for listener in gateway.listeners:
        attached = {
            (a.route_kind, a.route_ns, a.route)
            for a in attachments
            if a.accepted and (a.gateway_ns, a.gateway, a.listener) == (gateway.namespace, gateway.name, listener.name)
        }
        conditions = _listener_conditions(inv, gateway, listener, conflicts.get(listener.name))
        where = f"Gateway {gateway.namespace}/{gateway.name} listener {listener.name}"
        admitted = tuple(
            ns for ns in sorted(inv.namespace_labels) if inv.namespace_allowed(listener, gateway.namespace, ns, where)
        )
        admits_kinds = bool(listener.kinds)
        basics = (listener.name, listener.protocol, listener.port, listener.hostname)
        yield (
            ListenerStatus(gateway.namespace, gateway.name, *basics, listener.kinds, len(attached), *conditions),
            ListenerExposure(
                *basics,
                listener.from_,
                listener.selector,
                listener.kinds,
                admitted if admits_kinds else (),
                admits_kinds and inv.admits_every_namespace(listener, where),
                conditions[0].status == "True",
            ),
        )

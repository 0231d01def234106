"""Gateway API route attachment analysis (gateway.networking.k8s.io/v1).

From an inventory of Kubernetes objects, computes what a conformant Gateway controller would report: which route
parentRefs attach to which listeners (and why not), route and listener status conditions, and which namespaces could
attach routes to each listener. Rules and spec citations: docs/gateway-attachment.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from collector.analysis.gateway.conflicts import listener_conflicts, route_conflicts
from collector.analysis.gateway.inventory import Gateway, Inventory, Listener, Route, mappings, parse_port
from collector.analysis.gateway.listeners import analyze_listeners
from collector.analysis.gateway.matching import effective_hostnames
from collector.analysis.gateway.model import (
    ACCEPTED,
    GATEWAY_GROUP,
    HOSTNAME_KINDS,
    PARENT_REASONS,
    Attachment,
    Condition,
    GatewayReport,
    ListenerExposure,
    ListenerStatus,
    ObjectError,
    RouteParentStatus,
    default_group,
)
from collector.analysis.gateway.reference_grants import route_resolved_refs


def _listener_verdict(
    inv: Inventory, route: Route, gateway: Gateway, listener: Listener
) -> tuple[str, tuple[str, ...], str]:
    """(reason, effective hostnames, message) for a route on one listener."""
    if route.kind == "TLSRoute" and listener.protocol != "TLS":
        return "UnsupportedValue", (), f"{listener.name}: a TLSRoute needs a TLS listener, not {listener.protocol}"
    if route.kind not in listener.kinds:
        kinds = ", ".join(listener.kinds) or "none"
        return "NotAllowedByListeners", (), f"{listener.name}: kind {route.kind} not allowed (allows {kinds})"
    if not inv.namespace_allowed(listener, gateway.namespace, route.namespace):
        namespaces = f"namespace {route.namespace} not allowed ({listener.from_})"
        return "NotAllowedByListeners", (), f"{listener.name}: {namespaces}"
    if route.kind not in HOSTNAME_KINDS:
        return ACCEPTED, (), listener.name
    hostnames = effective_hostnames(listener.hostname, route.spec.get("hostnames") or [])
    if not hostnames:
        return "NoMatchingListenerHostname", (), f"{listener.name}: no route hostname matches {listener.hostname}"
    return ACCEPTED, hostnames, listener.name


def _parent_section(ref: dict[str, Any], where: str) -> tuple[str | None, int | None]:
    section = ref.get("sectionName") or None
    port = ref.get("port")
    return section, (None if port in (None, 0) else parse_port(port, where))


def _analyze_parent(
    inv: Inventory, route: Route, index: int, ref: dict[str, Any], resolved: Condition
) -> tuple[list[Attachment], RouteParentStatus]:
    where = f"{route.ref} parentRef {index}"
    if not ref.get("name"):
        raise ValueError(f"{where}: no name")
    gw_ns, gw_name = ref.get("namespace") or route.namespace, str(ref["name"])
    section, port = _parent_section(ref, where)
    gateway = inv.gateways.get((gw_ns, gw_name))
    targeted = gateway.targeted(section, port) if gateway else []
    route_id = (route.kind, route.namespace, route.name, index, gw_ns, gw_name)
    if gateway is None or not targeted:
        missing = "is not in the inventory" if gateway is None else f"has no listener matching {section=} {port=}"
        rows = [Attachment(*route_id, None, (), False, "NoMatchingParent")]
        messages = [f"Gateway {gw_ns}/{gw_name} {missing}"]
    else:
        verdicts = [(x.name, *_listener_verdict(inv, route, gateway, x)) for x in targeted]
        rows = [Attachment(*route_id, name, hosts, reason == ACCEPTED, reason) for name, reason, hosts, _ in verdicts]
        messages = [message for *_, message in verdicts]
    reason = min((r.reason for r in rows), key=PARENT_REASONS.index)
    if reason == ACCEPTED:
        message = "attached to listener(s) " + ", ".join(str(r.listener) for r in rows if r.accepted)
        accepted = Condition("Accepted", "True", ACCEPTED, message)
    else:
        accepted = Condition("Accepted", "False", reason, "; ".join(messages))
    return rows, RouteParentStatus(*route_id, section, port, accepted, resolved)


def _analyze_route(inv: Inventory, route: Route) -> tuple[list[Attachment], list[RouteParentStatus], list[str]]:
    attachments: list[Attachment] = []
    route_status: list[RouteParentStatus] = []
    notes: list[str] = []
    parent_refs = mappings(route.spec.get("parentRefs"), f"{route.ref}: spec.parentRefs")
    resolved = route_resolved_refs(inv, route)
    for index, ref in enumerate(parent_refs):
        group, kind = default_group(ref), ref.get("kind") or "Gateway"
        if (group, kind) != (GATEWAY_GROUP, "Gateway"):
            notes.append(f"{route.ref} parentRef {index} ({group or 'core'}/{kind}) is not a Gateway: not analysed")
            continue
        rows, status = _analyze_parent(inv, route, index, ref, resolved)
        attachments.extend(rows)
        route_status.append(status)
    return attachments, route_status, notes


def analyze_gateways(
    objects: Iterable[dict[str, Any]], *, collected_kinds: Iterable[str] | None = None
) -> GatewayReport:
    """Analyse route attachment for every Gateway and route in `objects` (Kubernetes object dicts).

    `collected_kinds`: kinds whose absence from `objects` means the object does not exist (Service, Secret);
    by default the kinds present in `objects`. A referenced object of a kind not collected is assumed to exist.
    A malformed object is left out and reported in `errors`; the rest is analysed. Cost is linear in the
    objects and the (parentRef, listener) rows, plus the conflicting pairs found.
    """
    inv = Inventory(objects, collected_kinds)
    attachments: list[Attachment] = []
    route_status: list[RouteParentStatus] = []
    notes: list[str] = []
    for key in sorted(inv.routes, key=lambda k: (k[1], k[0], k[2])):
        route = inv.routes[key]
        try:
            rows, statuses, route_notes = _analyze_route(inv, route)
        except (ValueError, TypeError, AttributeError) as exc:
            inv.errors.append(ObjectError.of(route.kind, route.namespace, route.name, exc, "left out of the analysis"))
            continue
        attachments += rows
        route_status += statuses
        notes += route_notes
    attached: dict[tuple[str, str], dict[str, set[tuple[str, str, str]]]] = defaultdict(lambda: defaultdict(set))
    for a in attachments:
        if a.accepted and a.listener is not None:
            attached[(a.gateway_ns, a.gateway)][a.listener].add((a.route_kind, a.route_ns, a.route))
    listener_status: list[ListenerStatus] = []
    exposure: dict[tuple[str, str], list[ListenerExposure]] = {}
    conflicts = list(route_conflicts(inv, attachments))
    for key in sorted(inv.gateways):
        conflicts.extend(listener_conflicts(inv.gateways[key]))
        results = list(analyze_listeners(inv, inv.gateways[key], attached.get(key, {})))
        listener_status.extend(status for status, _ in results)
        exposure[key] = [exposed for _, exposed in results]
    return GatewayReport(attachments, route_status, listener_status, notes, conflicts, exposure, inv.errors)

"""Gateway API route attachment analysis (gateway.networking.k8s.io/v1).

From an inventory of Kubernetes objects, computes what a conformant Gateway controller would report: which route
parentRefs attach to which listeners (and why not), route and listener status conditions, and which namespaces could
attach routes to each listener. Rules and spec citations: docs/gateway-attachment.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

GATEWAY_GROUP = "gateway.networking.k8s.io"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")
HOSTNAME_KINDS = frozenset({"HTTPRoute", "GRPCRoute", "TLSRoute"})  # kinds with spec.hostnames
CORE_PROTOCOLS = ("HTTP", "HTTPS", "TLS", "TCP", "UDP")
# Route kinds a listener may admit (when listed in allowedRoutes.kinds) and admits by default (kinds empty).
COMPATIBLE_KINDS = {
    "HTTP": {"HTTPRoute", "GRPCRoute"},
    "HTTPS": {"HTTPRoute", "GRPCRoute"},
    "TLS": {"TLSRoute", "TCPRoute"},
    "TCP": {"TCPRoute"},
    "UDP": {"UDPRoute"},
}
DEFAULT_KINDS = {**COMPATIBLE_KINDS, "TLS": {"TLSRoute"}}
SERVICE_IMPORT = ("multicluster.x-k8s.io", "ServiceImport")
_INDEXED_KINDS = frozenset({"Namespace", "Gateway", "ReferenceGrant", "Service", "Secret", *ROUTE_KINDS})

ACCEPTED = "Accepted"
# How close a rejected parentRef came to attaching: the reason of the best listener row wins.
_PARENT_REASONS = (
    ACCEPTED,
    "NoMatchingListenerHostname",
    "NotAllowedByListeners",
    "UnsupportedValue",
    "NoMatchingParent",
)
_ROUTE_REF_REASONS = ("RefNotPermitted", "InvalidKind", "BackendNotFound")
_LISTENER_REF_REASONS = ("RefNotPermitted", "InvalidCertificateRef", "InvalidRouteKinds")


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True" | "False"
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Attachment:
    """One (route parentRef, listener it targets) pair; listener is None when the parentRef matches no listener."""

    route_kind: str
    route_ns: str
    route: str
    parent_index: int
    gateway_ns: str
    gateway: str
    listener: str | None
    hostnames: tuple[str, ...]  # effective (intersected) hostnames; "*" = any; () when rejected or not applicable
    accepted: bool
    reason: str


@dataclass(frozen=True)
class RouteParentStatus:
    route_kind: str
    route_ns: str
    route: str
    parent_index: int
    gateway_ns: str
    gateway: str
    section_name: str | None
    port: int | None
    accepted: Condition
    resolved_refs: Condition

    @property
    def conditions(self) -> tuple[Condition, Condition]:
        return (self.accepted, self.resolved_refs)


@dataclass(frozen=True)
class ListenerStatus:
    gateway_ns: str
    gateway: str
    listener: str
    protocol: str
    port: int
    hostname: str | None
    supported_kinds: tuple[str, ...]
    attached_routes: int
    accepted: Condition
    conflicted: Condition
    resolved_refs: Condition

    @property
    def conditions(self) -> tuple[Condition, Condition, Condition]:
        return (self.accepted, self.conflicted, self.resolved_refs)


@dataclass(frozen=True)
class ListenerExposure:
    """Which namespaces could attach routes to a listener: those of the inventory it admits (any_namespace: all)."""

    listener: str
    protocol: str
    port: int
    hostname: str | None
    from_: str  # Same | All | Selector
    selector: dict[str, Any] | None
    kinds: tuple[str, ...]
    namespaces: tuple[str, ...]
    any_namespace: bool
    listener_accepted: bool


@dataclass
class GatewayReport:
    attachments: list[Attachment]
    route_status: list[RouteParentStatus]
    listener_status: list[ListenerStatus]
    notes: list[str]
    _exposure: dict[tuple[str, str], list[ListenerExposure]] = field(repr=False)

    def exposure(self, gateway_ns: str, gateway: str) -> list[ListenerExposure]:
        try:
            return self._exposure[(gateway_ns, gateway)]
        except KeyError:
            raise KeyError(f"Gateway {gateway_ns}/{gateway} is not in the inventory") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "attachments": [asdict(a) | {"hostnames": list(a.hostnames)} for a in self.attachments],
            "route_status": [asdict(s) for s in self.route_status],
            "listener_status": [asdict(s) | {"supported_kinds": list(s.supported_kinds)} for s in self.listener_status],
            "exposure": [
                {"gateway_ns": ns, "gateway": name, "listeners": [_exposure_json(e) for e in listeners]}
                for (ns, name), listeners in sorted(self._exposure.items())
            ],
            "notes": list(self.notes),
        }


def _exposure_json(e: ListenerExposure) -> dict[str, Any]:
    out = asdict(e) | {"kinds": list(e.kinds), "namespaces": list(e.namespaces)}
    out["from"] = out.pop("from_")
    return out


# hostnames ------------------------------------------------------------------------------------------------------


def _within(pattern: str, name: str) -> bool:
    """Whether every host `name` (precise or wildcard) matches is matched by `pattern`."""
    # A wildcard label matches one or more labels: *.example.com covers a.b.example.com, not example.com.
    return pattern == name or (pattern.startswith("*.") and name.endswith(pattern[1:]))


def intersect_hostname(listener: str | None, route: str) -> str | None:
    """The intersection of a listener hostname (None: any) and a route hostname, or None if they do not overlap."""
    lh, rh = (listener or "*").lower(), route.lower()
    if lh == "*" or _within(lh, rh):
        return rh
    if rh == "*" or _within(rh, lh):
        return lh
    return None


def effective_hostnames(listener: str | None, route_hostnames: Iterable[str]) -> tuple[str, ...]:
    """Route hostnames intersected with the listener's; a route without hostnames inherits the listener's."""
    names = list(route_hostnames)
    if not names:
        return ((listener or "*").lower(),)
    return tuple(sorted({h for n in names if (h := intersect_hostname(listener, n)) is not None}))


# label selectors ------------------------------------------------------------------------------------------------


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str], where: str = "selector") -> bool:
    """Kubernetes LabelSelector semantics; a missing selector selects nothing, an empty one everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            raise ValueError(f"{where}: unknown matchExpressions operator {op!r}")
        if not ok:
            return False
    return True


# inventory ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Listener:
    name: str
    port: int
    protocol: str  # core protocols upper-cased
    hostname: str | None
    from_: str
    selector: dict[str, Any] | None
    kinds: tuple[str, ...]  # supported kinds
    invalid_kinds: tuple[str, ...]
    tls_mode: str
    certificate_refs: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class _Gateway:
    namespace: str
    name: str
    listeners: tuple[_Listener, ...]


@dataclass(frozen=True)
class _Route:
    kind: str
    namespace: str
    name: str
    spec: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def _port(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError(f"{where}: port {value!r} is not a number")
    return int(value)


def _parse_listener(raw: Any, where: str) -> _Listener:
    if not isinstance(raw, dict) or not raw.get("name") or "port" not in raw or not raw.get("protocol"):
        raise ValueError(f"{where}: a listener needs name, port and protocol")
    where = f"{where} listener {raw['name']}"
    protocol = str(raw["protocol"])
    if protocol.upper() in CORE_PROTOCOLS:
        protocol = protocol.upper()
    allowed = raw.get("allowedRoutes") or {}
    namespaces = allowed.get("namespaces") or {}
    compatible = COMPATIBLE_KINDS.get(protocol, set())
    kinds, invalid = set(), []
    for rgk in allowed.get("kinds") or []:
        group, kind = rgk.get("group", GATEWAY_GROUP), rgk.get("kind")
        if group == GATEWAY_GROUP and kind in compatible:
            kinds.add(kind)
        else:
            invalid.append(f"{group}/{kind}" if group else str(kind))
    if not allowed.get("kinds"):
        kinds = set(DEFAULT_KINDS.get(protocol, set()))
    tls = raw.get("tls") or {}
    return _Listener(
        name=str(raw["name"]),
        port=_port(raw["port"], where),
        protocol=protocol,
        hostname=(raw.get("hostname") or None) and str(raw["hostname"]).lower(),
        from_=namespaces.get("from") or "Same",
        selector=namespaces.get("selector"),
        kinds=tuple(sorted(kinds)),
        invalid_kinds=tuple(invalid),
        tls_mode=tls.get("mode") or "Terminate",
        certificate_refs=tuple(tls.get("certificateRefs") or []),
    )


class _Inventory:
    """The objects the analysis reads, indexed; raises ValueError naming the object on malformed input."""

    def __init__(self, objects: Iterable[dict[str, Any]], collected_kinds: Iterable[str] | None) -> None:
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.gateways: dict[tuple[str, str], _Gateway] = {}
        self.routes: dict[tuple[str, str, str], _Route] = {}
        self.grants: list[tuple[str, dict[str, Any]]] = []
        self.existing: set[tuple[str, str, str]] = set()  # (kind, namespace, name) of Services and Secrets
        seen_kinds: set[str] = set()
        namespace_objects: set[str] = set()
        for i, obj in enumerate(objects):
            kind, ns, name = _identity(obj, i)
            seen_kinds.add(kind)
            if kind not in _INDEXED_KINDS:
                continue
            if kind == "Namespace":
                self._unique(namespace_objects, name, f"Namespace {name}")
                namespace_objects.add(name)
                labels = dict((obj.get("metadata") or {}).get("labels") or {})
                self.namespace_labels[name] = labels | {NAMESPACE_NAME_LABEL: name}
                continue
            self.namespace_labels.setdefault(ns, {NAMESPACE_NAME_LABEL: ns})
            spec = obj.get("spec") or {}
            if not isinstance(spec, dict):
                raise ValueError(f"{kind} {ns}/{name}: spec is not a mapping")
            if kind == "Gateway":
                self._unique(self.gateways, (ns, name), f"Gateway {ns}/{name}")
                self.gateways[(ns, name)] = _parse_gateway(ns, name, spec)
            elif kind in ROUTE_KINDS:
                self._unique(self.routes, (kind, ns, name), f"{kind} {ns}/{name}")
                self.routes[(kind, ns, name)] = _Route(kind, ns, name, spec)
            elif kind == "ReferenceGrant":
                self.grants.append((ns, spec))
            elif kind in ("Service", "Secret"):
                self.existing.add((kind, ns, name))
        self.checked_kinds = set(seen_kinds if collected_kinds is None else collected_kinds)

    @staticmethod
    def _unique(index: dict | set, key: Any, what: str) -> None:
        if key in index:
            raise ValueError(f"duplicate {what} in the inventory")

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the object exists; True when its kind was not collected (existence unknown)."""
        return kind not in self.checked_kinds or (kind, namespace, name) in self.existing

    def granted(self, from_kind: str, from_ns: str, to_kind: str, to_group: str, to_ns: str, to_name: str) -> bool:
        """Whether a ReferenceGrant in `to_ns` lets `from_kind` objects of `from_ns` refer to `to_kind` `to_name`."""
        for ns, spec in self.grants:
            if ns != to_ns:
                continue
            froms = spec.get("from") or []
            tos = spec.get("to") or []
            if any(
                f.get("group") == GATEWAY_GROUP and f.get("kind") == from_kind and f.get("namespace") == from_ns
                for f in froms
            ) and any(
                (t.get("group") or "") == to_group and t.get("kind") == to_kind and t.get("name") in (None, "", to_name)
                for t in tos
            ):
                return True
        return False

    def namespace_allowed(self, listener: _Listener, gateway_ns: str, route_ns: str, where: str) -> bool:
        if listener.from_ == "All":
            return True
        if listener.from_ == "Same":
            return route_ns == gateway_ns
        if listener.from_ == "Selector":
            labels = self.namespace_labels.get(route_ns, {NAMESPACE_NAME_LABEL: route_ns})
            return selector_matches(listener.selector, labels, where)
        raise ValueError(f"{where}: unknown allowedRoutes.namespaces.from {listener.from_!r}")


def _identity(obj: Any, index: int) -> tuple[str, str, str]:
    if not isinstance(obj, dict):
        raise ValueError(f"object #{index}: not a mapping")
    meta = obj.get("metadata")
    kind = obj.get("kind")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(kind, str) or not isinstance(name, str):
        raise ValueError(f"object #{index}: not a Kubernetes object (needs kind and metadata.name)")
    return kind, ("" if kind == "Namespace" else meta.get("namespace") or "default"), name


def _parse_gateway(ns: str, name: str, spec: dict[str, Any]) -> _Gateway:
    where = f"Gateway {ns}/{name}"
    raw = spec.get("listeners")
    if not isinstance(raw, list):
        raise ValueError(f"{where}: spec.listeners is not a list")
    listeners = tuple(_parse_listener(item, where) for item in raw)
    names = [x.name for x in listeners]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: listener names are not unique")
    return _Gateway(ns, name, listeners)


# listeners ------------------------------------------------------------------------------------------------------


def _conflict(a: _Listener, b: _Listener) -> str | None:
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


def _conflicts(gateway: _Gateway) -> dict[str, str]:
    found: dict[str, str] = {}
    for a, b in combinations(gateway.listeners, 2):
        if a.port == b.port and (reason := _conflict(a, b)):
            for x in (a, b):
                if found.get(x.name) != "ProtocolConflict":
                    found[x.name] = reason
    return found


def _certificate_problems(inv: _Inventory, gateway: _Gateway, listener: _Listener) -> list[tuple[str, str]]:
    if listener.protocol not in ("HTTPS", "TLS") or listener.tls_mode != "Terminate":
        return []  # Passthrough ignores certificateRefs
    problems = []
    for ref in listener.certificate_refs:
        group, kind, name = ref.get("group") or "", ref.get("kind") or "Secret", str(ref.get("name"))
        ns = ref.get("namespace") or gateway.namespace
        target = f"{kind} {ns}/{name}"
        if (group, kind) != ("", "Secret"):
            problems.append(("InvalidCertificateRef", f"certificateRef {target}: unsupported kind"))
        elif ns != gateway.namespace and not inv.granted("Gateway", gateway.namespace, kind, group, ns, name):
            problems.append(("RefNotPermitted", f"certificateRef {target}: no ReferenceGrant in {ns} allows it"))
        elif not inv.exists(kind, ns, name):
            problems.append(("InvalidCertificateRef", f"certificateRef {target}: not found"))
    return problems


def _listener_conditions(
    inv: _Inventory, gateway: _Gateway, listener: _Listener, conflict: str | None
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
    problems = _certificate_problems(inv, gateway, listener)
    if listener.invalid_kinds:
        problems.append(("InvalidRouteKinds", "unsupported route kinds: " + ", ".join(listener.invalid_kinds)))
    return accepted, conflicted, _resolved(problems, _LISTENER_REF_REASONS)


def _resolved(problems: list[tuple[str, str]], precedence: tuple[str, ...]) -> Condition:
    """ResolvedRefs from (reason, message) problems: the first reason in `precedence`, every message."""
    if not problems:
        return Condition("ResolvedRefs", "True", "ResolvedRefs")
    reason = min((r for r, _ in problems), key=precedence.index)
    return Condition("ResolvedRefs", "False", reason, "; ".join(m for _, m in problems))


# routes ---------------------------------------------------------------------------------------------------------


def _backend_refs(route: _Route) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field, reference) for every backendRef of a route, including RequestMirror filter backendRefs."""

    def mirrors(filters: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        for f in filters or []:
            if f.get("type") == "RequestMirror" and (f.get("requestMirror") or {}).get("backendRef"):
                yield "requestMirror backendRef", f["requestMirror"]["backendRef"]

    for rule in route.spec.get("rules") or []:
        yield from mirrors(rule.get("filters"))
        for ref in rule.get("backendRefs") or []:
            yield "backendRef", ref
            yield from mirrors(ref.get("filters"))


def _route_resolved_refs(inv: _Inventory, route: _Route) -> Condition:
    problems = []
    for what, ref in _backend_refs(route):
        group, kind, name = ref.get("group") or "", ref.get("kind") or "Service", str(ref.get("name"))
        ns = ref.get("namespace") or route.namespace
        target = f"{what} {kind} {ns}/{name}"
        if (group, kind) not in (("", "Service"), SERVICE_IMPORT):
            problems.append(("InvalidKind", f"{target}: unsupported kind {group}/{kind}"))
        elif ns != route.namespace and not inv.granted(route.kind, route.namespace, kind, group, ns, name):
            problems.append(("RefNotPermitted", f"{target}: no ReferenceGrant in {ns} allows {route.ref}"))
        elif kind == "Service" and not inv.exists("Service", ns, name):
            problems.append(("BackendNotFound", f"{target}: not found"))
    return _resolved(problems, _ROUTE_REF_REASONS)


def _listener_verdict(
    inv: _Inventory, route: _Route, gateway: _Gateway, listener: _Listener
) -> tuple[str, tuple[str, ...], str]:
    """(reason, effective hostnames, message) for a route on one listener."""
    where = f"Gateway {gateway.namespace}/{gateway.name} listener {listener.name}"
    if route.kind == "TLSRoute" and listener.protocol != "TLS":
        return "UnsupportedValue", (), f"{listener.name}: a TLSRoute needs a TLS listener, not {listener.protocol}"
    if route.kind not in listener.kinds:
        kinds = ", ".join(listener.kinds) or "none"
        return "NotAllowedByListeners", (), f"{listener.name}: kind {route.kind} not allowed (allows {kinds})"
    if not inv.namespace_allowed(listener, gateway.namespace, route.namespace, where):
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
    return section, (None if port in (None, 0) else _port(port, where))


def _analyze_parent(
    inv: _Inventory, route: _Route, index: int, ref: dict[str, Any], resolved: Condition
) -> tuple[list[Attachment], RouteParentStatus]:
    where = f"{route.ref} parentRef {index}"
    if not ref.get("name"):
        raise ValueError(f"{where}: no name")
    gw_ns, gw_name = ref.get("namespace") or route.namespace, str(ref["name"])
    section, port = _parent_section(ref, where)
    gateway = inv.gateways.get((gw_ns, gw_name))
    listeners = gateway.listeners if gateway else ()
    targeted = [x for x in listeners if section in (None, x.name) and port in (None, x.port)]
    route_id = (route.kind, route.namespace, route.name, index, gw_ns, gw_name)
    if gateway is None or not targeted:
        missing = "is not in the inventory" if gateway is None else f"has no listener matching {section=} {port=}"
        rows = [Attachment(*route_id, None, (), False, "NoMatchingParent")]
        messages = [f"Gateway {gw_ns}/{gw_name} {missing}"]
    else:
        verdicts = [(x.name, *_listener_verdict(inv, route, gateway, x)) for x in targeted]
        rows = [Attachment(*route_id, name, hosts, reason == ACCEPTED, reason) for name, reason, hosts, _ in verdicts]
        messages = [message for *_, message in verdicts]
    reason = min((r.reason for r in rows), key=_PARENT_REASONS.index)
    if reason == ACCEPTED:
        message = "attached to listener(s) " + ", ".join(str(r.listener) for r in rows if r.accepted)
        accepted = Condition("Accepted", "True", ACCEPTED, message)
    else:
        accepted = Condition("Accepted", "False", reason, "; ".join(messages))
    return rows, RouteParentStatus(*route_id, section, port, accepted, resolved)


def _analyze_routes(inv: _Inventory) -> tuple[list[Attachment], list[RouteParentStatus], list[str]]:
    attachments: list[Attachment] = []
    route_status: list[RouteParentStatus] = []
    notes: list[str] = []
    for key in sorted(inv.routes, key=lambda k: (k[1], k[0], k[2])):
        route = inv.routes[key]
        parent_refs = route.spec.get("parentRefs") or []
        if not isinstance(parent_refs, list):
            raise ValueError(f"{route.ref}: spec.parentRefs is not a list")
        resolved = _route_resolved_refs(inv, route)
        for index, ref in enumerate(parent_refs):
            if not isinstance(ref, dict):
                raise ValueError(f"{route.ref} parentRef {index}: not a mapping")
            group, kind = ref.get("group", GATEWAY_GROUP), ref.get("kind") or "Gateway"
            if (group, kind) != (GATEWAY_GROUP, "Gateway"):
                notes.append(f"{route.ref} parentRef {index} ({group or 'core'}/{kind}) is not a Gateway: not analysed")
                continue
            rows, status = _analyze_parent(inv, route, index, ref, resolved)
            attachments.extend(rows)
            route_status.append(status)
    return attachments, route_status, notes


def _analyze_listeners(
    inv: _Inventory, gateway: _Gateway, attachments: list[Attachment]
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
                listener.from_ == "All" and admits_kinds,
                conditions[0].status == "True",
            ),
        )


# entry point ----------------------------------------------------------------------------------------------------


def analyze_gateways(
    objects: Iterable[dict[str, Any]], *, collected_kinds: Iterable[str] | None = None
) -> GatewayReport:
    """Analyse route attachment for every Gateway and route in `objects` (Kubernetes object dicts).

    `collected_kinds`: kinds whose absence from `objects` means the object does not exist (Service, Secret);
    by default the kinds present in `objects`. A referenced object of a kind not collected is assumed to exist.
    """
    inv = _Inventory(objects, collected_kinds)
    attachments, route_status, notes = _analyze_routes(inv)
    listener_status: list[ListenerStatus] = []
    exposure: dict[tuple[str, str], list[ListenerExposure]] = {}
    for key in sorted(inv.gateways):
        results = list(_analyze_listeners(inv, inv.gateways[key], attachments))
        listener_status.extend(status for status, _ in results)
        exposure[key] = [exposed for _, exposed in results]
    return GatewayReport(attachments, route_status, listener_status, notes, exposure)

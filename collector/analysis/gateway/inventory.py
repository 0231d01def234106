"""The objects the attachment analysis reads (Namespaces, Gateways, routes, ReferenceGrants, Services, Secrets),
parsed and indexed; a malformed object is an error naming it, and the rest is analysed."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from collector.analysis.gateway.matching import check_selector, selector_matches
from collector.analysis.gateway.model import (
    COMPATIBLE_KINDS,
    DEFAULT_KINDS,
    GATEWAY_GROUP,
    INDEXED_KINDS,
    NAMESPACE_NAME_LABEL,
    PASSTHROUGH_KINDS,
    ROUTE_KINDS,
    ObjectError,
    default_group,
)


@dataclass(frozen=True)
class Listener:
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

    @cached_property
    def selector_key(self) -> str:
        """The selector as JSON: listeners that share a selector select the same namespaces."""
        return json.dumps(self.selector, sort_keys=True)


@dataclass(frozen=True)
class Gateway:
    namespace: str
    name: str
    listeners: tuple[Listener, ...]

    @cached_property
    def by_name(self) -> dict[str, Listener]:
        return {x.name: x for x in self.listeners}

    @cached_property
    def by_port(self) -> dict[int, list[Listener]]:
        found: dict[int, list[Listener]] = defaultdict(list)
        for x in self.listeners:
            found[x.port].append(x)
        return found

    def targeted(self, section: str | None, port: int | None) -> list[Listener]:
        """The listeners a parentRef's sectionName and port select (both None: every listener)."""
        if section is not None:
            x = self.by_name.get(section)
            return [x] if x is not None and port in (None, x.port) else []
        return list(self.listeners) if port is None else self.by_port.get(port, [])


@dataclass(frozen=True)
class Route:
    kind: str
    namespace: str
    name: str
    spec: dict[str, Any]
    created: str | None = None  # metadata.creationTimestamp (RFC 3339, UTC): the older route wins a conflict

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def parse_port(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError(f"{where}: port {value!r} is not a number")
    return int(value)


def mapping(value: Any, where: str) -> dict[str, Any]:
    """`value` (None: empty) when it is a mapping; ValueError naming `where` otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where} is not a mapping")
    return value


def mappings(value: Any, where: str) -> list[dict[str, Any]]:
    """`value` (None: empty) when it is a list of mappings; ValueError naming `where` otherwise."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where} is not a list")
    return [mapping(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _parse_listener(raw: Any, where: str) -> Listener:
    if not isinstance(raw, dict) or not raw.get("name") or "port" not in raw or not raw.get("protocol"):
        raise ValueError(f"{where}: a listener needs name, port and protocol")
    where = f"{where} listener {raw['name']}"
    allowed = mapping(raw.get("allowedRoutes"), f"{where}: allowedRoutes")
    namespaces = mapping(allowed.get("namespaces"), f"{where}: allowedRoutes.namespaces")
    from_ = namespaces.get("from") or "Same"
    if from_ not in ("Same", "All", "Selector"):
        raise ValueError(f"{where}: unknown allowedRoutes.namespaces.from {from_!r}")
    selector = namespaces.get("selector")
    check_selector(selector, f"{where}: allowedRoutes.namespaces.selector")
    protocol = str(raw["protocol"])  # case-sensitive: "http" is no core protocol (UnsupportedProtocol)
    tls = mapping(raw.get("tls"), f"{where}: tls")
    tls_mode = tls.get("mode") or "Terminate"
    passthrough = (protocol, tls_mode) == ("TLS", "Passthrough")
    compatible = PASSTHROUGH_KINDS if passthrough else COMPATIBLE_KINDS.get(protocol, set())
    kinds, invalid = set(), []
    for rgk in mappings(allowed.get("kinds"), f"{where}: allowedRoutes.kinds"):
        group, kind = default_group(rgk), rgk.get("kind")
        if group == GATEWAY_GROUP and kind in compatible:
            kinds.add(kind)
        else:
            invalid.append(f"{group}/{kind}" if group else str(kind))
    if not allowed.get("kinds"):
        kinds = set(DEFAULT_KINDS.get(protocol, set())) & compatible
    return Listener(
        name=str(raw["name"]),
        port=parse_port(raw["port"], where),
        protocol=protocol,
        hostname=(raw.get("hostname") or None) and str(raw["hostname"]).lower(),
        from_=from_,
        selector=selector,
        kinds=tuple(sorted(kinds)),
        invalid_kinds=tuple(invalid),
        tls_mode=tls_mode,
        certificate_refs=tuple(mappings(tls.get("certificateRefs"), f"{where}: tls.certificateRefs")),
    )


class Inventory:
    """The objects the analysis reads, indexed. A malformed object (or listener) is left out and recorded in
    `errors`, naming it; the rest of the inventory is analysed."""

    def __init__(self, objects: Iterable[dict[str, Any]], collected_kinds: Iterable[str] | None) -> None:
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.gateways: dict[tuple[str, str], Gateway] = {}
        self.routes: dict[tuple[str, str, str], Route] = {}
        self.grants: dict[str, list[dict[str, Any]]] = defaultdict(list)  # by the grant's namespace
        self.existing: set[tuple[str, str, str]] = set()  # (kind, namespace, name) of Services and Secrets
        self.errors: list[ObjectError] = []
        self._selected: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {}  # by the selector's JSON
        seen_kinds: set[str] = set()
        namespace_objects: set[str] = set()
        for i, obj in enumerate(objects):
            try:
                kind, ns, name = _identity(obj, i)
            except ValueError as exc:
                self.errors.append(ObjectError(None, None, None, str(exc)))
                continue
            seen_kinds.add(kind)
            if kind not in INDEXED_KINDS or _other_group(obj, kind):
                continue
            try:
                self._add(obj, kind, ns, name, namespace_objects)
            except (ValueError, TypeError, AttributeError) as exc:
                self.errors.append(ObjectError.of(kind, ns, name, exc, "left out of the analysis"))
        self.checked_kinds = set(seen_kinds if collected_kinds is None else collected_kinds)

    def _add(self, obj: dict[str, Any], kind: str, ns: str, name: str, namespace_objects: set[str]) -> None:
        where = f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
        meta = obj["metadata"]
        if kind == "Namespace":
            if name in namespace_objects:
                raise ValueError(f"duplicate {where} in the inventory")
            namespace_objects.add(name)
            labels = dict(mapping(meta.get("labels"), f"{where}: metadata.labels"))
            self.namespace_labels[name] = labels | {NAMESPACE_NAME_LABEL: name}
            return
        self.namespace_labels.setdefault(ns, {NAMESPACE_NAME_LABEL: ns})
        spec = mapping(obj.get("spec"), f"{where}: spec")
        if kind == "Gateway":
            if (ns, name) in self.gateways:
                raise ValueError(f"duplicate {where} in the inventory")
            gateway, errors = _parse_gateway(ns, name, spec)
            self.gateways[(ns, name)] = gateway
            self.errors += errors
        elif kind in ROUTE_KINDS:
            if (kind, ns, name) in self.routes:
                raise ValueError(f"duplicate {where} in the inventory")
            created = meta.get("creationTimestamp")
            self.routes[(kind, ns, name)] = Route(kind, ns, name, spec, str(created) if created else None)
        elif kind == "ReferenceGrant":
            mappings(spec.get("from"), f"{where}: spec.from")
            mappings(spec.get("to"), f"{where}: spec.to")
            self.grants[ns].append(spec)
        elif kind in ("Service", "Secret"):
            self.existing.add((kind, ns, name))

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the object exists; True when its kind was not collected (existence unknown)."""
        return kind not in self.checked_kinds or (kind, namespace, name) in self.existing

    def namespace_allowed(self, listener: Listener, gateway_ns: str, route_ns: str) -> bool:
        if listener.from_ == "All":
            return True
        if listener.from_ == "Same":
            return route_ns == gateway_ns
        return route_ns in self._select(listener)[1]

    def admitted_namespaces(self, listener: Listener, gateway_ns: str) -> tuple[str, ...]:
        """The namespaces of the inventory that may attach routes to the listener, sorted."""
        if listener.from_ == "All":
            return self.every_namespace
        if listener.from_ == "Same":
            return (gateway_ns,) if gateway_ns in self.namespace_labels else ()
        return self._select(listener)[0]

    @cached_property
    def every_namespace(self) -> tuple[str, ...]:
        return tuple(sorted(self.namespace_labels))

    def _select(self, listener: Listener) -> tuple[tuple[str, ...], frozenset[str]]:
        """The namespaces a listener's selector selects, sorted and as a set; judged once per distinct selector."""
        key = listener.selector_key
        if key not in self._selected:
            labels = self.namespace_labels
            chosen = tuple(ns for ns in self.every_namespace if selector_matches(listener.selector, labels[ns]))
            self._selected[key] = chosen, frozenset(chosen)
        return self._selected[key]

    def admits_every_namespace(self, listener: Listener) -> bool:
        """Whether the listener is open to every namespace: ``from: All``, or a Selector that a namespace created
        later satisfies (it carries only the ``kubernetes.io/metadata.name`` label the API server sets: an empty
        selector, ``Exists`` on that label, ``NotIn``, ``DoesNotExist``), or that every namespace of the inventory
        satisfies."""
        if listener.from_ == "All":
            return True
        if listener.from_ != "Selector":
            return False
        selector = listener.selector or {}
        taken = {str(v) for e in selector.get("matchExpressions") or [] for v in e.get("values") or []}
        fresh = next(f"new-namespace-{i}" for i in range(len(taken) + 1) if f"new-namespace-{i}" not in taken)
        if selector_matches(listener.selector, {NAMESPACE_NAME_LABEL: fresh}):
            return True
        return bool(self.namespace_labels) and len(self._select(listener)[1]) == len(self.namespace_labels)


def _other_group(obj: dict[str, Any], kind: str) -> bool:
    """Whether the object is a kind of that name from another API group (Istio's networking.istio.io Gateway)."""
    api_version = obj.get("apiVersion")
    if not isinstance(api_version, str) or not api_version:
        return False
    group = api_version.rpartition("/")[0]
    return group != ("" if kind in ("Namespace", "Service", "Secret") else GATEWAY_GROUP)


def _identity(obj: Any, index: int) -> tuple[str, str, str]:
    if not isinstance(obj, dict):
        raise ValueError(f"object #{index}: not a mapping")
    meta = obj.get("metadata")
    kind = obj.get("kind")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(kind, str) or not isinstance(name, str):
        raise ValueError(f"object #{index}: not a Kubernetes object (needs kind and metadata.name)")
    return kind, ("" if kind == "Namespace" else meta.get("namespace") or "default"), name


def _parse_gateway(ns: str, name: str, spec: dict[str, Any]) -> tuple[Gateway, list[ObjectError]]:
    """The Gateway with its well-formed listeners, and an error for each listener left out (malformed, or a
    second listener of one name)."""
    where = f"Gateway {ns}/{name}"
    raw = spec.get("listeners")
    if not isinstance(raw, list):
        raise ValueError(f"{where}: spec.listeners is not a list")
    listeners: dict[str, Listener] = {}
    errors = []
    for i, item in enumerate(raw):
        try:
            listener = _parse_listener(item, f"{where} listeners[{i}]")
            if listener.name in listeners:
                raise ValueError(f"{where} listeners[{i}]: listener name {listener.name} is not unique")
            listeners[listener.name] = listener
        except (ValueError, TypeError, AttributeError) as exc:
            errors.append(ObjectError.of("Gateway", ns, name, exc, "the listener is left out"))
    return Gateway(ns, name, tuple(listeners.values())), errors

"""The objects the attachment analysis reads (Namespaces, Gateways, routes, ReferenceGrants, Services, Secrets),
parsed and indexed; malformed input raises ValueError naming the object."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from collector.analysis.gateway.matching import selector_matches
from collector.analysis.gateway.model import (
    COMPATIBLE_KINDS,
    DEFAULT_KINDS,
    GATEWAY_GROUP,
    INDEXED_KINDS,
    NAMESPACE_NAME_LABEL,
    PASSTHROUGH_KINDS,
    ROUTE_KINDS,
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


@dataclass(frozen=True)
class Gateway:
    namespace: str
    name: str
    listeners: tuple[Listener, ...]


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


def _parse_listener(raw: Any, where: str) -> Listener:
    if not isinstance(raw, dict) or not raw.get("name") or "port" not in raw or not raw.get("protocol"):
        raise ValueError(f"{where}: a listener needs name, port and protocol")
    where = f"{where} listener {raw['name']}"
    protocol = str(raw["protocol"])  # case-sensitive: "http" is no core protocol (UnsupportedProtocol)
    tls = raw.get("tls") or {}
    tls_mode = tls.get("mode") or "Terminate"
    allowed = raw.get("allowedRoutes") or {}
    namespaces = allowed.get("namespaces") or {}
    compatible = PASSTHROUGH_KINDS if (protocol, tls_mode) == ("TLS", "Passthrough") else COMPATIBLE_KINDS.get(protocol, set())
    kinds, invalid = set(), []
    for rgk in allowed.get("kinds") or []:
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
        from_=namespaces.get("from") or "Same",
        selector=namespaces.get("selector"),
        kinds=tuple(sorted(kinds)),
        invalid_kinds=tuple(invalid),
        tls_mode=tls_mode,
        certificate_refs=tuple(tls.get("certificateRefs") or []),
    )


class Inventory:
    """The objects the analysis reads, indexed; raises ValueError naming the object on malformed input."""

    def __init__(self, objects: Iterable[dict[str, Any]], collected_kinds: Iterable[str] | None) -> None:
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.gateways: dict[tuple[str, str], Gateway] = {}
        self.routes: dict[tuple[str, str, str], Route] = {}
        self.grants: list[tuple[str, dict[str, Any]]] = []
        self.existing: set[tuple[str, str, str]] = set()  # (kind, namespace, name) of Services and Secrets
        seen_kinds: set[str] = set()
        namespace_objects: set[str] = set()
        for i, obj in enumerate(objects):
            kind, ns, name = _identity(obj, i)
            seen_kinds.add(kind)
            if kind not in INDEXED_KINDS or _other_group(obj, kind):
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
                created = (obj.get("metadata") or {}).get("creationTimestamp")
                self.routes[(kind, ns, name)] = Route(kind, ns, name, spec, str(created) if created else None)
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

    def namespace_allowed(self, listener: Listener, gateway_ns: str, route_ns: str, where: str) -> bool:
        if listener.from_ == "All":
            return True
        if listener.from_ == "Same":
            return route_ns == gateway_ns
        if listener.from_ == "Selector":
            labels = self.namespace_labels.get(route_ns, {NAMESPACE_NAME_LABEL: route_ns})
            return selector_matches(listener.selector, labels, where)
        raise ValueError(f"{where}: unknown allowedRoutes.namespaces.from {listener.from_!r}")

    def admits_every_namespace(self, listener: Listener, where: str) -> bool:
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
        if selector_matches(listener.selector, {NAMESPACE_NAME_LABEL: fresh}, where):
            return True
        return bool(self.namespace_labels) and all(
            selector_matches(listener.selector, labels, where) for labels in self.namespace_labels.values()
        )


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


def _parse_gateway(ns: str, name: str, spec: dict[str, Any]) -> Gateway:
    where = f"Gateway {ns}/{name}"
    raw = spec.get("listeners")
    if not isinstance(raw, list):
        raise ValueError(f"{where}: spec.listeners is not a list")
    listeners = tuple(_parse_listener(item, where) for item in raw)
    names = [x.name for x in listeners]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: listener names are not unique")
    return Gateway(ns, name, listeners)

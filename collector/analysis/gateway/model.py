"""Gateway API attachment: the constants of the spec and the results (conditions, attachments, listener status)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
PASSTHROUGH_KINDS = {"TLSRoute"}  # a TLS listener in Passthrough mode never terminates TLS: TLSRoute only
SERVICE_IMPORT = ("multicluster.x-k8s.io", "ServiceImport")
INDEXED_KINDS = frozenset({"Namespace", "Gateway", "ReferenceGrant", "Service", "Secret", *ROUTE_KINDS})

ACCEPTED = "Accepted"
# How close a rejected parentRef came to attaching: the reason of the best listener row wins.
PARENT_REASONS = (
    ACCEPTED,
    "NoMatchingListenerHostname",
    "NotAllowedByListeners",
    "UnsupportedValue",
    "NoMatchingParent",
)
ROUTE_REF_REASONS = ("RefNotPermitted", "InvalidKind", "BackendNotFound")
LISTENER_REF_REASONS = ("RefNotPermitted", "InvalidCertificateRef", "InvalidRouteKinds")


def default_group(ref: dict[str, Any]) -> Any:
    """The group of a parentRef or RouteGroupKind: absent or null is the Gateway API group, "" the core group."""
    group = ref.get("group")
    return GATEWAY_GROUP if group is None else group


@dataclass(frozen=True)
class ObjectError:
    """A malformed object, left out of the analysis (kind, namespace and name: None when unreadable)."""

    kind: str | None
    namespace: str | None
    name: str | None
    error: str

    @classmethod
    def of(cls, kind: str, namespace: str, name: str, exc: Exception, consequence: str) -> ObjectError:
        """The error of an object, its message prefixed with the object unless it names it already."""
        where = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
        message = str(exc) if str(exc).startswith(where) else f"{where}: malformed ({exc})"
        return cls(kind, namespace, name, f"{message}: {consequence}")


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


@dataclass(frozen=True)
class Conflict:
    """Two listeners, or two routes on one listener, that the spec does not let both serve."""

    gateway_ns: str
    gateway: str
    listener: str
    port: int
    reason: str  # HostnameConflict | ProtocolConflict | MatchConflict | HostnameShared | ListenerShared
    first: str  # "listener NAME" or "Kind ns/name"
    second: str
    winner: str | None  # the one the spec keeps; None: neither (listeners) or not decidable (no creationTimestamp)
    detail: str


@dataclass
class GatewayReport:
    attachments: list[Attachment]
    route_status: list[RouteParentStatus]
    listener_status: list[ListenerStatus]
    notes: list[str]
    conflicts: list[Conflict]
    _exposure: dict[tuple[str, str], list[ListenerExposure]] = field(repr=False)
    errors: list[ObjectError] = field(default_factory=list)  # malformed objects, left out

    def gateways(self) -> list[tuple[str, str]]:
        """(namespace, name) of the Gateways analysed (a malformed one is in `errors` instead)."""
        return sorted(self._exposure)

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
            "conflicts": [asdict(c) for c in self.conflicts],
            "errors": [asdict(e) for e in self.errors],
        }


def _exposure_json(e: ListenerExposure) -> dict[str, Any]:
    out = asdict(e) | {"kinds": list(e.kinds), "namespaces": list(e.namespaces)}
    out["from"] = out.pop("from_")
    return out


# hostnames ------------------------------------------------------------------------------------------------------

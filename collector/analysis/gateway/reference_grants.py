"""ReferenceGrants and the ResolvedRefs conditions they govern: route backendRefs and listener certificateRefs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from collector.analysis.gateway.inventory import Gateway, Inventory, Listener, Route
from collector.analysis.gateway.model import GATEWAY_GROUP, ROUTE_REF_REASONS, SERVICE_IMPORT, Condition


def granted(
    inv: Inventory, from_kind: str, from_ns: str, to_kind: str, to_group: str, to_ns: str, to_name: str
) -> bool:
    """Whether a ReferenceGrant in `to_ns` lets `from_kind` objects of `from_ns` refer to `to_kind` `to_name`."""
    for spec in inv.grants.get(to_ns, ()):
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


def resolved_refs(problems: list[tuple[str, str]], precedence: tuple[str, ...]) -> Condition:
    """ResolvedRefs from (reason, message) problems: the first reason in `precedence`, every message."""
    if not problems:
        return Condition("ResolvedRefs", "True", "ResolvedRefs")
    reason = min((r for r, _ in problems), key=precedence.index)
    return Condition("ResolvedRefs", "False", reason, "; ".join(m for _, m in problems))


def _backend_refs(route: Route) -> Iterator[tuple[str, dict[str, Any]]]:
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


def route_resolved_refs(inv: Inventory, route: Route) -> Condition:
    problems = []
    for what, ref in _backend_refs(route):
        group, kind, name = ref.get("group") or "", ref.get("kind") or "Service", str(ref.get("name"))
        ns = ref.get("namespace") or route.namespace
        target = f"{what} {kind} {ns}/{name}"
        if (group, kind) not in (("", "Service"), SERVICE_IMPORT):
            problems.append(("InvalidKind", f"{target}: unsupported kind {group}/{kind}"))
        elif ns != route.namespace and not granted(inv, route.kind, route.namespace, kind, group, ns, name):
            problems.append(("RefNotPermitted", f"{target}: no ReferenceGrant in {ns} allows {route.ref}"))
        elif kind == "Service" and not inv.exists("Service", ns, name):
            problems.append(("BackendNotFound", f"{target}: not found"))
    return resolved_refs(problems, ROUTE_REF_REASONS)


def certificate_problems(inv: Inventory, gateway: Gateway, listener: Listener) -> list[tuple[str, str]]:
    if listener.protocol not in ("HTTPS", "TLS") or listener.tls_mode != "Terminate":
        return []  # Passthrough ignores certificateRefs
    problems = []
    for ref in listener.certificate_refs:
        group, kind, name = ref.get("group") or "", ref.get("kind") or "Secret", str(ref.get("name"))
        ns = ref.get("namespace") or gateway.namespace
        target = f"{kind} {ns}/{name}"
        if (group, kind) != ("", "Secret"):
            problems.append(("InvalidCertificateRef", f"certificateRef {target}: unsupported kind"))
        elif ns != gateway.namespace and not granted(inv, "Gateway", gateway.namespace, kind, group, ns, name):
            problems.append(("RefNotPermitted", f"certificateRef {target}: no ReferenceGrant in {ns} allows it"))
        elif not inv.exists(kind, ns, name):
            problems.append(("InvalidCertificateRef", f"certificateRef {target}: not found"))
    return problems

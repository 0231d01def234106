"""BackendTLSPolicy (gateway.networking.k8s.io v1; v1alpha3 and v1alpha2 read too): which policy applies to each
Service port, and whether it makes the gateway originate validated TLS there.

- A policy targets Services (``targetRefs[]``, group ``""``, kind ``Service``); a ``sectionName`` names one port
  of the Service, none every port. A policy naming the port takes precedence over one for the whole Service.
- Several policies on one target (same Service and sectionName) conflict: the oldest (creationTimestamp), then the
  first by namespace/name, applies; the others are ``Accepted False/Conflicted`` for it (GEP-713, conformance test
  BackendTLSPolicyConflictResolution).
- ``validation.caCertificateRefs`` must be core ConfigMaps (else ResolvedRefs ``False/InvalidKind``) that exist
  (else ``False/InvalidCACertificateRef``; unknown when ConfigMaps were not collected); when none is valid the policy
  is ``Accepted False/NoValidCACertificate`` and the gateway fails the connections rather than send plaintext.
  ``wellKnownCACertificates: System`` validates with the system CAs. A policy with neither, or without
  ``validation.hostname``, is ``Accepted False/Invalid``.

Only an accepted policy that applies to a port re-encrypts it (``encrypts``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from collector.analysis.gateway.inventory import mapping, mappings
from collector.analysis.gateway.model import GATEWAY_GROUP, ObjectError

WELL_KNOWN = ("System",)


@dataclass(frozen=True)
class BackendTlsPort:
    """The BackendTLSPolicy that applies to a Service port (port None: the Service or its port is not in the
    inventory), its conditions, and whether the gateway originates validated TLS there."""

    namespace: str
    service: str
    port: int | None
    port_name: str | None
    policy: str  # the policy's name (same namespace as the Service)
    section: str | None  # the policy's sectionName for this Service; None: every port
    accepted: bool
    accepted_reason: str  # Accepted | Conflicted | NoValidCACertificate | Invalid
    resolved_refs_reason: str  # ResolvedRefs | InvalidKind | InvalidCACertificateRef
    message: str
    encrypts: bool


@dataclass(frozen=True)
class _Policy:
    namespace: str
    name: str
    created: str | None
    targets: tuple[tuple[str, str | None], ...]  # (Service, sectionName)
    accepted_reason: str
    resolved_refs_reason: str
    message: str

    @property
    def rank(self) -> tuple[int, str, str, str]:
        """Precedence on one target: the oldest first (unknown creation times last), then namespace/name."""
        return (self.created is None, self.created or "", self.namespace, self.name)


def _validation(spec: dict[str, Any], where: str) -> tuple[dict[str, Any], str, str]:
    """(validation, CA refs field, well-known field) of v1/v1alpha3 (``validation``) or v1alpha2 (``tls``)."""
    if "validation" in spec or "tls" not in spec:
        return (
            mapping(spec.get("validation"), f"{where}: spec.validation"),
            "caCertificateRefs",
            "wellKnownCACertificates",
        )
    return mapping(spec.get("tls"), f"{where}: spec.tls"), "caCertRefs", "wellKnownCACerts"


def _parse(obj: dict[str, Any], configmaps: set[tuple[str, str]] | None) -> _Policy:
    meta = obj["metadata"]
    ns, name = meta.get("namespace") or "default", meta["name"]
    where = f"BackendTLSPolicy {ns}/{name}"
    spec = mapping(obj.get("spec"), f"{where}: spec")
    refs = spec["targetRefs"] if "targetRefs" in spec else [spec["targetRef"]] if spec.get("targetRef") else []
    targets = tuple(
        (str(t.get("name")), t.get("sectionName") or None)
        for t in mappings(refs, f"{where}: spec.targetRefs")
        if (t.get("group") or "") == "" and t.get("kind") == "Service"
    )
    validation, ca_field, known_field = _validation(spec, where)
    problems: list[tuple[str, str]] = []
    valid = 0
    for ref in mappings(validation.get(ca_field), f"{where}: {ca_field}"):
        group, kind, ref_name = ref.get("group") or "", ref.get("kind") or "ConfigMap", ref.get("name")
        if (group, kind) != ("", "ConfigMap"):
            problems.append(("InvalidKind", f"caCertificateRef {group or 'core'}/{kind} {ref_name}: not a ConfigMap"))
        elif configmaps is not None and (ns, ref_name) not in configmaps:
            problems.append(("InvalidCACertificateRef", f"caCertificateRef ConfigMap {ns}/{ref_name}: not found"))
        else:
            valid += 1
    known = validation.get(known_field)
    resolved = min(
        (r for r, _ in problems), key=("InvalidKind", "InvalidCACertificateRef").index, default="ResolvedRefs"
    )
    if not validation.get("hostname"):
        accepted, message = "Invalid", "validation.hostname is not set"
    elif known is not None and known not in WELL_KNOWN:
        accepted, message = "Invalid", f"wellKnownCACertificates {known!r} is not supported"
    elif known is None and not valid:
        accepted, message = "NoValidCACertificate", "no valid caCertificateRef: the gateway fails the connections"
    else:
        accepted, message = "Accepted", ""
    message = "; ".join([m for m in (message, *(m for _, m in problems)) if m])
    return _Policy(ns, str(name), meta.get("creationTimestamp") and str(meta["creationTimestamp"]), targets,
                   accepted, resolved, message)  # fmt: skip


def analyze_backend_tls(
    objects: Iterable[dict[str, Any]], *, collected_kinds: Iterable[str] | None = None
) -> tuple[list[BackendTlsPort], list[ObjectError]]:
    """The policy that applies to each targeted Service port, and the malformed policies (left out).

    `collected_kinds`: as for analyze_gateways; a ConfigMap is known missing only when ConfigMaps were collected.
    """
    objects = list(objects)
    kinds = {o.get("kind") for o in objects} if collected_kinds is None else set(collected_kinds)
    configmaps = {(o["metadata"].get("namespace") or "default", o["metadata"]["name"]) for o in objects
                  if o.get("kind") == "ConfigMap"} if "ConfigMap" in kinds else None  # fmt: skip
    services: dict[tuple[str, str], list[tuple[int | None, str | None]]] = {}
    policies: list[_Policy] = []
    errors: list[ObjectError] = []
    for obj in objects:
        kind, meta = obj.get("kind"), obj.get("metadata") or {}
        ns, name = meta.get("namespace") or "default", str(meta.get("name"))
        try:
            if kind == "Service":
                ports = mappings(mapping(obj.get("spec"), "spec").get("ports"), "spec.ports")
                services[(ns, name)] = [(p.get("port"), p.get("name") or None) for p in ports]
            elif kind == "BackendTLSPolicy" and str(obj.get("apiVersion") or GATEWAY_GROUP).startswith(GATEWAY_GROUP):
                policies.append(_parse(obj, configmaps))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            errors.append(ObjectError.of(str(kind), ns, name, exc, "left out of the analysis"))
    return list(_applied(policies, services)), errors


def _applied(
    policies: list[_Policy], services: dict[tuple[str, str], list[tuple[int | None, str | None]]]
) -> Iterator[BackendTlsPort]:
    on_target: dict[tuple[str, str, str | None], list[_Policy]] = defaultdict(list)
    for p in policies:
        for service, section in dict.fromkeys(p.targets):
            on_target[(p.namespace, service, section)].append(p)
    for (ns, service, section), candidates in sorted(
        on_target.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")
    ):
        winner, *losers = sorted(candidates, key=lambda p: p.rank)
        ports = services.get((ns, service))
        named = [(n, pn) for n, pn in ports or [] if section is None or pn == section]
        if section is None and ports:  # a policy for the whole Service yields to one naming the port
            named = [(n, pn) for n, pn in named if pn is None or (ns, service, pn) not in on_target]
        for number, port_name in named or [(None, section)]:
            for p in (winner, *losers):
                conflicted = p is not winner
                reason = "Conflicted" if conflicted else p.accepted_reason
                message = f"{winner.name} applies (the oldest, then the first by name)" if conflicted else p.message
                accepted = reason == "Accepted"
                yield BackendTlsPort(ns, service, number if isinstance(number, int) else None, port_name, p.name,
                                     section, accepted, reason, p.resolved_refs_reason, message,
                                     accepted and number is not None)  # fmt: skip

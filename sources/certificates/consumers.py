"""The TLS consumers of a cluster: every object that makes a Secret's or a ConfigMap's certificates *in use*.

Each consumer names the object holding its certificates and the role they play there:

- ``serving``: a certificate presented to clients: Gateway API listener ``tls.certificateRefs``, Ingress
  ``spec.tls[].secretName``, Istio Gateway ``servers[].tls.credentialName(s)``;
- ``client``: a certificate presented to a backend: Istio DestinationRule ``tls.credentialName``, Gateway API
  ``spec.tls.backend.clientCertificateRef``;
- ``trust-anchor``: CA certificates a peer is validated with: BackendTLSPolicy ``validation.caCertificateRefs``,
  Gateway API client-certificate validation ``caCertificateRefs``;
- ``mesh-ca``: Istio's plugged-in CA, the Secret ``cacerts`` in ``istio-system`` (istiod signs every workload
  certificate with it and distributes its root as the mesh's trust anchor).

A TLS server whose certificate is not in a Kubernetes object (an Ingress TLS entry without ``secretName``, an Istio
server with file-mounted certificates) is a consumer with no object: the pack reports it as unjudgeable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

GATEWAY_API = "gateway.networking.k8s.io"
ISTIO_NETWORKING = "networking.istio.io"
INGRESS_GROUPS = ("networking.k8s.io", "extensions")
MESH_CA = ("istio-system", "cacerts")  # istiod's plugged-in CA, in the namespace istiod runs in
TLS_SERVER_MODES = ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")  # Istio modes in which the gateway terminates TLS
TLS_CLIENT_MODES = ("SIMPLE", "MUTUAL")  # DestinationRule modes that may carry a credentialName


@dataclass(frozen=True)
class Use:
    """One consumer's use of one object's certificates (object_kind None: certificates the collector cannot see)."""

    consumer: str  # e.g. "Gateway infra/edge listener https"
    consumer_kind: str  # Gateway | Ingress | IstioGateway | DestinationRule | BackendTLSPolicy | MeshCA
    role: str  # serving | client | trust-anchor | mesh-ca
    object_kind: str | None  # Secret | ConfigMap
    namespace: str
    name: str | None
    hostnames: tuple[str, ...] = ()
    note: str | None = None  # why the certificates cannot be seen (object_kind None)


def group_of(obj: dict) -> str:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.split("/")[0] if "/" in api_version else ""


def meta(obj: dict) -> tuple[str, str]:
    m = obj.get("metadata") or {}
    return m.get("namespace") or "default", m.get("name", "")


def ref_target(ref: dict, namespace: str) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of a core-group object reference (Secret or ConfigMap), None for other kinds."""
    if not isinstance(ref, dict) or not ref.get("name") or ref.get("group", "") not in ("", "core"):
        return None
    return ref.get("kind", "Secret"), ref.get("namespace") or namespace, ref["name"]


def consumer_kind(obj: dict) -> str | None:
    kind, group = obj.get("kind"), group_of(obj)
    if kind == "Gateway" and group == GATEWAY_API:
        return "Gateway"
    if kind == "Gateway" and group == ISTIO_NETWORKING:
        return "IstioGateway"
    if kind == "Ingress" and group in INGRESS_GROUPS:
        return "Ingress"
    if kind == "BackendTLSPolicy" and group == GATEWAY_API:
        return "BackendTLSPolicy"
    if kind == "DestinationRule" and group == ISTIO_NETWORKING:
        return "DestinationRule"
    return None


def uses(obj: dict) -> Iterator[Use]:
    """The certificate uses of one object (none when it is not a TLS consumer)."""
    kind = consumer_kind(obj)
    if kind == "Gateway":
        yield from gateway_uses(obj)
    elif kind == "IstioGateway":
        yield from istio_gateway_uses(obj)
    elif kind == "Ingress":
        yield from ingress_uses(obj)
    elif kind == "BackendTLSPolicy":
        yield from backend_tls_policy_uses(obj)
    elif kind == "DestinationRule":
        yield from destination_rule_uses(obj)


def gateway_uses(gateway: dict) -> Iterator[Use]:
    ns, name = meta(gateway)
    spec = gateway.get("spec") or {}
    for listener in spec.get("listeners") or []:
        who = f"Gateway {ns}/{name} listener {listener.get('name')}"
        tls = listener.get("tls") or {}
        hostnames = (listener["hostname"],) if listener.get("hostname") else ()
        for ref in tls.get("certificateRefs") or []:
            if target := ref_target(ref, ns):
                yield Use(who, "Gateway", "serving", target[0], target[1], target[2], hostnames)
        # experimental channel before v1.3: per-listener client-certificate validation
        for ref in (tls.get("frontendValidation") or {}).get("caCertificateRefs") or []:
            if target := ref_target(ref, ns):
                yield Use(f"{who} client validation", "Gateway", "trust-anchor", target[0], target[1], target[2])
    gateway_tls = spec.get("tls") or {}
    frontend = gateway_tls.get("frontend") or {}
    validations = [("", frontend.get("default") or {})]
    validations += [(f" port {p.get('port')}", (p.get("tls") or {})) for p in frontend.get("perPort") or []]
    for where, config in validations:
        for ref in (config.get("validation") or {}).get("caCertificateRefs") or []:
            if target := ref_target(ref, ns):
                who = f"Gateway {ns}/{name} client validation{where}"
                yield Use(who, "Gateway", "trust-anchor", target[0], target[1], target[2])
    client = (gateway_tls.get("backend") or {}).get("clientCertificateRef")
    if client and (target := ref_target(client, ns)):
        yield Use(f"Gateway {ns}/{name} backend client certificate", "Gateway", "client", *target)


def istio_gateway_uses(gateway: dict) -> Iterator[Use]:
    """Istio resolves credentialName in the namespace of the gateway workload, the Gateway's own namespace in the
    usual deployment; a Secret not found there is reported as not found."""
    ns, name = meta(gateway)
    for index, server in enumerate((gateway.get("spec") or {}).get("servers") or []):
        tls = server.get("tls") or {}
        port = server.get("port") or {}
        if not tls or (tls.get("httpsRedirect") and not tls.get("mode")):
            continue
        mode = tls.get("mode", "SIMPLE")
        if mode not in TLS_SERVER_MODES:
            continue  # PASSTHROUGH, AUTO_PASSTHROUGH, ISTIO_MUTUAL: no certificate of the gateway's own
        who = f"Istio Gateway {ns}/{name} server {port.get('name') or port.get('number') or index}"
        hostnames = tuple(host.split("/", 1)[-1] for host in server.get("hosts") or [])
        names = [n for n in [tls.get("credentialName"), *(tls.get("credentialNames") or [])] if n]
        for credential in names:
            yield Use(who, "IstioGateway", "serving", "Secret", ns, credential, hostnames)
        if not names:
            note = f"TLS mode {mode} with certificates mounted from files ({tls.get('serverCertificate') or 'unset'})"
            yield Use(who, "IstioGateway", "serving", None, ns, None, hostnames, note)


def ingress_uses(ingress: dict) -> Iterator[Use]:
    ns, name = meta(ingress)
    for entry in (ingress.get("spec") or {}).get("tls") or []:
        hostnames = tuple(entry.get("hosts") or [])
        who = f"Ingress {ns}/{name}"
        if entry.get("secretName"):
            yield Use(who, "Ingress", "serving", "Secret", ns, entry["secretName"], hostnames)
        else:
            note = "TLS entry without secretName: the controller's default certificate is served"
            yield Use(who, "Ingress", "serving", None, ns, None, hostnames, note)


def backend_tls_policy_uses(policy: dict) -> Iterator[Use]:
    ns, name = meta(policy)
    validation = (policy.get("spec") or {}).get("validation") or {}
    for ref in validation.get("caCertificateRefs") or []:
        if target := ref_target({"kind": "ConfigMap", **ref}, ns):
            yield Use(f"BackendTLSPolicy {ns}/{name}", "BackendTLSPolicy", "trust-anchor", *target)


def destination_rule_uses(rule: dict) -> Iterator[Use]:
    """A credentialName holds the client certificate (and CA) of TLS originated to the rule's host."""
    ns, name = meta(rule)
    policies = [("", (rule.get("spec") or {}).get("trafficPolicy") or {})]
    for subset in (rule.get("spec") or {}).get("subsets") or []:
        policies.append((f" subset {subset.get('name')}", subset.get("trafficPolicy") or {}))
    for where, policy in policies:
        settings = [("", policy.get("tls") or {})]
        settings += [
            (f" port {(p.get('port') or {}).get('number')}", p.get("tls") or {})
            for p in policy.get("portLevelSettings") or []
        ]
        for port, tls in settings:
            if tls.get("credentialName") and tls.get("mode") in TLS_CLIENT_MODES:
                who = f"DestinationRule {ns}/{name}{where}{port}"
                yield Use(who, "DestinationRule", "client", "Secret", ns, tls["credentialName"])


def mesh_ca_use() -> Use:
    return Use(f"mesh CA (istiod, Secret {MESH_CA[0]}/{MESH_CA[1]})", "MeshCA", "mesh-ca", "Secret", *MESH_CA)

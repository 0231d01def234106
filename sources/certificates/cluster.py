"""Certificates kept in a cluster: TLS Secrets, CA ConfigMaps, cert-manager Certificates and Issuers, and the TLS
consumers using them (``sources.certificates.consumers``).

Read from manifest files or live through the ``kubernetes`` client. Live, Secrets are listed with the field
selector ``type=kubernetes.io/tls``; the only other Secrets fetched are those a consumer names (an Istio
``credentialName`` may be an Opaque Secret) and the mesh CA ``istio-system/cacerts``, each read by name; the only
ConfigMaps fetched are those a consumer names. A Secret's private key (``tls.key``, ``key``, ``ca-key.pem``) is
dropped the moment the Secret is read and never decoded; only the certificate keys (``CERT_KEYS``) are.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from collector.plugins import CollectContext, SourceError
from collector.redaction import is_secret, redact_object
from sources.certificates.consumers import (
    GATEWAY_API,
    INGRESS_GROUPS,
    ISTIO_NETWORKING,
    MESH_CA,
    Use,
    consumer_kind,
    group_of,
    mesh_ca_use,
    uses,
)
from sources.certificates.x509 import describe, read_pem_bundle, to_pem, verify_chain
from sources.kubernetes.manifests import read_inputs, report_skips
from sources.kubernetes.source import KINDS, Kind, list_kind

# the keys holding certificates: kubernetes.io/tls (tls.crt, ca.crt), Istio's generic credential (cert, cacert) and
# Istio's plugged-in CA (ca-cert.pem, cert-chain.pem, root-cert.pem); never a key (tls.key, key, ca-key.pem)
SERVED_KEYS = ("tls.crt", "cert", "ca-cert.pem", "cert-chain.pem")
ANCHOR_KEYS = ("ca.crt", "cacert", "root-cert.pem")
CERT_KEYS = SERVED_KEYS + ANCHOR_KEYS
CERT_MANAGER = "cert-manager.io"
ISSUER_KINDS = ("Issuer", "ClusterIssuer")
# read from manifests: (API group, kind)
MANIFEST_KINDS = {
    ("", "Secret"), ("", "ConfigMap"), (CERT_MANAGER, "Certificate"), *((CERT_MANAGER, k) for k in ISSUER_KINDS),
    (GATEWAY_API, "Gateway"), (ISTIO_NETWORKING, "Gateway"), *((g, "Ingress") for g in INGRESS_GROUPS),
    (GATEWAY_API, "BackendTLSPolicy"), (ISTIO_NETWORKING, "DestinationRule"),
}  # fmt: skip
# listed live, each at its first served version
LIVE_KINDS = (
    Kind("Secret", "", ("v1",), "secrets", field_selector="type=kubernetes.io/tls"),
    Kind("Certificate", CERT_MANAGER, ("v1",), "certificates"),
    Kind("Issuer", CERT_MANAGER, ("v1",), "issuers"),
    Kind("ClusterIssuer", CERT_MANAGER, ("v1",), "clusterissuers"),
    next(kind for kind in KINDS if kind.kind == "Gateway"),
    next(kind for kind in KINDS if kind.kind == "BackendTLSPolicy"),
    next(kind for kind in KINDS if kind.kind == "DestinationRule"),
    Kind("Ingress", "networking.k8s.io", ("v1",), "ingresses"),
    Kind("Gateway", ISTIO_NETWORKING, ("v1", "v1beta1", "v1alpha3"), "gateways"),
)


@dataclass
class Found:
    """The objects read from one cluster, each with where it came from and its artifact."""

    cluster: str
    secrets: list[tuple[dict, str, str]] = field(default_factory=list)  # (object, location, artifact)
    certificates: list[tuple[dict, str, str]] = field(default_factory=list)
    gateways: list[tuple[dict, str, str]] = field(default_factory=list)  # Gateway API Gateways
    consumers: list[tuple[dict, str, str]] = field(default_factory=list)  # every TLS consumer, Gateways included
    configmaps: list[tuple[dict, str, str]] = field(default_factory=list)
    issuers: list[tuple[dict, str, str]] = field(default_factory=list)

    def add(self, obj: dict, location: str, artifact: str) -> None:
        kind, group = obj.get("kind"), group_of(obj)
        if is_secret(obj) and (holds_certificates(obj) or meta(obj) == meta_of(*MESH_CA)):
            self.secrets.append((obj, location, artifact))
        elif kind == "ConfigMap":
            self.configmaps.append((obj, location, artifact))
        elif kind == "Certificate" and group == CERT_MANAGER:
            self.certificates.append((obj, location, artifact))
        elif kind in ISSUER_KINDS and group == CERT_MANAGER:
            self.issuers.append((obj, location, artifact))
        elif consumer_kind(obj):
            self.consumers.append((obj, location, artifact))
            if kind == "Gateway" and group == GATEWAY_API:
                self.gateways.append((obj, location, artifact))

    def wanted(self) -> set[tuple[str, str, str]]:
        """(kind, namespace, name) of every object a consumer names, and the mesh CA."""
        named = {(u.object_kind, u.namespace, u.name) for obj, _, _ in self.consumers for u in uses(obj)}
        return {n for n in named if n[0] in ("Secret", "ConfigMap")} | {("Secret", *MESH_CA)}


def holds_certificates(secret: dict) -> bool:
    return any(key in (secret.get(part) or {}) for part in ("data", "stringData") for key in CERT_KEYS)


def meta_of(namespace: str, name: str) -> dict[str, str]:
    return {"namespace": namespace, "name": name}


def drop_private_keys(obj: dict) -> dict:
    """A copy of a Secret with only its certificates, of any other object redacted, before anything looks at it."""
    if not is_secret(obj):
        return redact_object(obj)
    kept = {key: obj.get(key) for key in ("apiVersion", "kind", "metadata")}
    for part in ("data", "stringData"):
        if isinstance(obj.get(part), dict):
            kept[part] = {k: v for k, v in obj[part].items() if k in CERT_KEYS}
    return kept


# reading ----------------------------------------------------------------------------------------------


def collect_manifests(ctx: CollectContext) -> None:
    cfg = ctx.config
    found = Found(cfg["cluster"])
    try:
        reading = read_inputs(ctx, cfg["paths"], cfg["stdin"], MANIFEST_KINDS, drop_private_keys)
    except SourceError as exc:
        raise SourceError(f"certificates: {exc}") from None
    for location, obj, sha in reading.objects:
        found.add(obj, location, sha)
    report_skips(ctx, reading)
    emit_found(ctx, found, reading.where)


def collect_live(ctx: CollectContext, context: str) -> None:
    try:
        api = kube_config.new_client_from_config(config_file=ctx.config["kubeconfig"], context=context)
    except (kube_config.ConfigException, OSError) as exc:
        raise SourceError(f"certificates: cannot load kubeconfig context {context!r}: {exc}") from None
    found = Found(context)
    with api:
        server = api.configuration.host
        for kind in LIVE_KINDS:
            listing = list_kind(api, "certificates", context, server, kind, 500)
            if listing.refusal is not None:
                if listing.refusal.status == 403:
                    ctx.partial(f"certificates: {listing.url} (context {context}): listing {kind.kind} forbidden (403)")
                else:
                    ctx.note(f"certificates: context {context} serves no {kind.kind} (404)")
                continue
            for page_no, (body, page) in enumerate(listing.pages, start=1):
                origin = f"{listing.url} page {page_no}"
                items = [{"kind": kind.kind, "apiVersion": listing.api_version, **i} for i in page.get("items") or []]
                sha = ctx.add_document_artifact(body, {**page, "items": items}, origin, "application/json")
                for item in items:
                    found.add(drop_private_keys(item), origin, sha)
        read_named(ctx, api, context, server, found)
    emit_found(ctx, found, f"{server} (context {context})")


def read_named(ctx: CollectContext, api: Any, context: str, server: str, found: Found) -> None:
    """GET, by name, each Secret or ConfigMap a consumer names that the listings did not return (an Opaque Secret,
    a ConfigMap), and the mesh CA. Absent (404) is left to the pack (a consumer of nothing); 403 makes the run
    partial."""
    have = {("Secret", *meta(s).values()) for s, _, _ in found.secrets}
    have |= {("ConfigMap", *meta(c).values()) for c, _, _ in found.configmaps}
    for kind, namespace, name in sorted(found.wanted() - have):
        plural = "secrets" if kind == "Secret" else "configmaps"
        path = f"/api/v1/namespaces/{namespace}/{plural}/{name}"
        try:
            response = api.call_api(
                path, "GET", header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
                _preload_content=False, _return_http_data_only=True, _request_timeout=60,
            )  # fmt: skip
        except ApiException as exc:
            if exc.status == 403:
                ctx.partial(f"certificates: {server}{path} (context {context}): reading {kind} forbidden (403)")
            elif exc.status != 404:
                message = f"certificates: {server}{path} (context {context}) answered HTTP {exc.status}"
                raise SourceError(message) from None
            continue
        except HTTPError as exc:
            raise SourceError(f"certificates: cannot reach {server} (context {context}): {exc}") from None
        body = response.data
        try:
            answered = {"kind": kind, "apiVersion": "v1", **json.loads(body)}
        except (ValueError, TypeError):
            raise SourceError(f"certificates: {server}{path} (context {context}): response is not JSON") from None
        sha = ctx.add_document_artifact(body, answered, f"{server}{path}", "application/json")
        found.add(drop_private_keys(answered), f"{server}{path}", sha)


# rows -------------------------------------------------------------------------------------------------


def emit_found(ctx: CollectContext, found: Found, where: str) -> None:
    anchors = trust_anchors(ctx.config["ca_bundle"])
    scan = json.dumps({"cluster": found.cluster, "read": where}).encode()
    ctx.emit("certificate_scans", {"cluster": found.cluster, "location": where},
             ctx.add_artifact(scan, f"cluster {found.cluster}", "application/json"))  # fmt: skip
    managed = {
        (meta(c)["namespace"], (c.get("spec") or {}).get("secretName")): f"{meta(c)['namespace']}/{meta(c)['name']}"
        for c, _, _ in found.certificates
    }
    emit_references(ctx, found)
    references = emit_consumers(ctx, found)
    for secret, location, _ in found.secrets:
        ns, name = meta(secret)["namespace"], meta(secret)["name"]
        where = {
            "cluster": found.cluster,
            "found_in": "secret",
            "namespace": ns,
            "secret_name": name,
            "managed_by": managed.get((ns, name)),
            "referenced_by": references.get(("Secret", ns, name), []),
        }
        emit_secret(ctx, secret, location, where, anchors)
    for configmap, location, _ in found.configmaps:
        ns, name = meta(configmap)["namespace"], meta(configmap)["name"]
        if ("ConfigMap", ns, name) in references:  # only the ConfigMaps a consumer names
            where = {
                "cluster": found.cluster,
                "found_in": "configmap",
                "namespace": ns,
                "secret_name": name,
                "managed_by": None,
                "referenced_by": references[("ConfigMap", ns, name)],
            }
            emit_configmap(ctx, configmap, location, where)
    for certificate, location, artifact in found.certificates:
        ctx.emit("cert_manager_certificates", cert_manager_row(found.cluster, certificate, location), artifact)
    for issuer, location, artifact in found.issuers:
        ctx.emit("cert_manager_issuers", issuer_row(found.cluster, issuer, location), artifact)


def emit_consumers(ctx: CollectContext, found: Found) -> dict[tuple[str, str, str], list[str]]:
    """Emit a row per TLS consumer's use of an object; return who uses each object (kind, namespace, name)."""
    secrets = {(meta(s)["namespace"], meta(s)["name"]) for s, _, _ in found.secrets}
    configmaps = {(meta(c)["namespace"], meta(c)["name"]) for c, _, _ in found.configmaps}
    everything: list[tuple[Use, str, str]] = [
        (use, location, artifact) for obj, location, artifact in found.consumers for use in uses(obj)
    ]
    for secret, location, artifact in found.secrets:
        if (meta(secret)["namespace"], meta(secret)["name"]) == MESH_CA:
            everything.append((mesh_ca_use(), location, artifact))
    references: dict[tuple[str, str, str], list[str]] = {}
    for use, location, artifact in everything:
        target = (use.object_kind or "", use.namespace, use.name or "")
        if use.object_kind:
            references.setdefault(target, []).append(use.consumer)
        held = secrets if use.object_kind == "Secret" else configmaps
        row = {
            "cluster": found.cluster,
            "consumer": use.consumer,
            "consumer_kind": use.consumer_kind,
            "role": use.role,
            "hostnames": list(use.hostnames),
            "object_kind": use.object_kind,
            "namespace": use.namespace,
            "name": use.name,
            "found": use.object_kind is not None and (use.namespace, use.name) in held,
            "note": use.note,
            "location": location,
        }
        ctx.emit("tls_consumers", row, artifact)
    return references


def emit_references(ctx: CollectContext, found: Found) -> None:
    """Emit a row per Gateway listener certificateRef to a Secret (table certificate_references)."""
    secrets = {(meta(s)["namespace"], meta(s)["name"]) for s, _, _ in found.secrets}
    for gateway, location, artifact in found.gateways:
        gw = meta(gateway)
        for listener in (gateway.get("spec") or {}).get("listeners") or []:
            for ref in (listener.get("tls") or {}).get("certificateRefs") or []:
                if ref.get("kind", "Secret") != "Secret" or ref.get("group", "") not in ("", "core"):
                    continue
                target = (ref.get("namespace") or gw["namespace"], ref["name"])
                row = {
                    "cluster": found.cluster,
                    "gateway_namespace": gw["namespace"],
                    "gateway": gw["name"],
                    "listener": listener.get("name"),
                    "hostname": listener.get("hostname"),
                    "port": listener.get("port"),
                    "protocol": listener.get("protocol"),
                    "secret_namespace": target[0],
                    "secret_name": target[1],
                    "found": target in secrets,
                    "location": location,
                }
                ctx.emit("certificate_references", row, artifact)


def emit_secret(
    ctx: CollectContext, secret: dict, location: str, where: dict[str, Any], anchors: list[x509.Certificate]
) -> None:
    label = f"secret {where['namespace']}/{where['secret_name']}"
    bundles = {key: read_secret_value(ctx, secret, key, label) for key in CERT_KEYS}
    chain = bundles["tls.crt"] or bundles["cert"]
    ca = bundles["ca.crt"] + bundles["cacert"]
    valid, error = verify_chain(chain[0], chain[1:], ca + anchors, ctx.collected_at) if chain else (None, None)
    first = "tls.crt" if bundles["tls.crt"] else "cert"
    for key, certs in bundles.items():
        for position, cert in enumerate(certs):
            leaf = key == first and position == 0
            row = {
                **where,
                **describe(cert),
                "location": f"{label} {key} ({location})",
                "secret_key": key,
                "chain_position": position,
                "chain_valid": valid if leaf else None,
                "chain_error": error if leaf else None,
                "referenced_by": where["referenced_by"] if leaf else [],
                "observed_at": ctx.collected_at,
            }
            sha = ctx.add_artifact(to_pem(cert), f"{label} {key} certificate {position}", "application/x-pem-file")
            ctx.emit("certificates", row, sha)


def emit_configmap(ctx: CollectContext, configmap: dict, location: str, where: dict[str, Any]) -> None:
    """The certificates of a CA ConfigMap a consumer names: every PEM value of ``data`` (``ca.crt`` by the Gateway
    API's convention)."""
    label = f"configmap {where['namespace']}/{where['secret_name']}"
    for key, value in sorted((configmap.get("data") or {}).items()):
        bundle = read_pem_bundle(str(value).encode())
        if bundle.unreadable:
            ctx.partial(f"certificates: {label} {key}: {bundle.unreadable} CERTIFICATE block(s) could not be decoded")
        for position, cert in enumerate(bundle.certificates):
            row = {
                **where,
                **describe(cert),
                "location": f"{label} {key} ({location})",
                "secret_key": key,
                "chain_position": position,
                "chain_valid": None,
                "chain_error": None,
                "referenced_by": where["referenced_by"] if position == 0 else [],
                "observed_at": ctx.collected_at,
            }
            sha = ctx.add_artifact(to_pem(cert), f"{label} {key} certificate {position}", "application/x-pem-file")
            ctx.emit("certificates", row, sha)


def read_secret_value(ctx: CollectContext, secret: dict, key: str, label: str) -> list[x509.Certificate]:
    """The certificates of ``tls.crt`` or ``ca.crt``; what cannot be read makes the run partial, named."""
    data, string_data = secret.get("data") or {}, secret.get("stringData") or {}
    if key in string_data:
        raw = str(string_data[key]).encode()
    elif key in data:
        try:
            raw = base64.b64decode(str(data[key]), validate=True)
        except binascii.Error:
            ctx.partial(f"certificates: {label} {key}: not valid base64")
            return []
    else:
        return []
    bundle = read_pem_bundle(raw)
    if bundle.unreadable:
        ctx.partial(f"certificates: {label} {key}: {bundle.unreadable} CERTIFICATE block(s) could not be decoded")
    elif not bundle.certificates and key == "tls.crt":
        ctx.partial(f"certificates: {label} {key}: no PEM certificate in it")
    return bundle.certificates


def issuer_reference(issuer: dict) -> str | None:
    """A Certificate's issuerRef as ``Kind/name`` (kind default Issuer), or ``Kind.group/name`` for a group other
    than cert-manager.io (the default): an external issuer, which cert-manager's own Issuers never serve."""
    if not issuer.get("name"):
        return None
    kind, group = issuer.get("kind") or "Issuer", issuer.get("group") or CERT_MANAGER
    return f"{kind}/{issuer['name']}" if group == CERT_MANAGER else f"{kind}.{group}/{issuer['name']}"


def cert_manager_row(cluster: str, certificate: dict, location: str) -> dict[str, Any]:
    spec, status = certificate.get("spec") or {}, certificate.get("status") or {}
    conditions = status.get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), {})
    issuer = spec.get("issuerRef") or {}
    return {
        "cluster": cluster,
        "namespace": meta(certificate)["namespace"],
        "name": meta(certificate)["name"],
        "secret_name": spec.get("secretName"),
        "dns_names": spec.get("dnsNames") or [],
        "issuer_ref": issuer_reference(issuer),
        "ready": ready.get("status"),
        "ready_reason": ready.get("reason"),
        "ready_message": ready.get("message"),
        "not_before": status.get("notBefore"),
        "not_after": status.get("notAfter"),
        "renewal_time": status.get("renewalTime"),
        "revision": status.get("revision"),
        "last_failure_time": status.get("lastFailureTime"),
        "conditions": conditions,
        "location": location,
    }


def issuer_row(cluster: str, issuer: dict, location: str) -> dict[str, Any]:
    conditions = (issuer.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), {})
    return {
        "cluster": cluster,
        "kind": issuer["kind"],
        "namespace": meta(issuer)["namespace"] if issuer["kind"] == "Issuer" else None,
        "name": meta(issuer)["name"],
        "ready": ready.get("status"),
        "ready_reason": ready.get("reason"),
        "ready_message": ready.get("message"),
        "conditions": conditions,
        "location": location,
    }


def meta(obj: dict) -> dict[str, str]:
    m = obj.get("metadata") or {}
    return {"namespace": m.get("namespace") or "default", "name": m.get("name", "")}


def trust_anchors(ca_bundle: str | None) -> list[x509.Certificate]:
    if not ca_bundle:
        return []
    try:
        bundle = read_pem_bundle(Path(ca_bundle).read_bytes())
    except OSError as exc:
        raise SourceError(f"certificates: cannot read ca_bundle {ca_bundle}: {exc.strerror}") from None
    if not bundle.certificates:
        raise SourceError(f"certificates: ca_bundle {ca_bundle} holds no PEM certificate")
    return bundle.certificates

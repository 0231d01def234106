"""Certificates kept in a cluster: TLS Secrets, cert-manager Certificates, and the Gateway listeners using them.

Read from manifest files or live through the ``kubernetes`` client. Live, Secrets are listed with the field
selector ``type=kubernetes.io/tls``, so no other Secret is ever fetched. A Secret's ``tls.key`` is dropped the
moment the Secret is read and never decoded; only ``tls.crt`` and ``ca.crt`` are.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from kubernetes import config as kube_config

from collector.plugins import CollectContext, SourceError
from collector.redaction import is_secret, redact_object
from sources.certificates.x509 import describe, read_pem_bundle, to_pem, verify_chain
from sources.kubernetes.source import GATEWAY_API, KINDS, Kind, list_kind, manifest_files, read_manifest

CERT_KEYS = ("tls.crt", "ca.crt")
CERT_MANAGER = "cert-manager.io"
# listed live, each at its first served version
LIVE_KINDS = (
    Kind("Secret", "", ("v1",), "secrets", field_selector="type=kubernetes.io/tls"),
    Kind("Certificate", CERT_MANAGER, ("v1",), "certificates"),
    next(kind for kind in KINDS if kind.kind == "Gateway"),
)


@dataclass
class Found:
    """The objects read from one cluster, each with where it came from and its artifact."""

    cluster: str
    secrets: list[tuple[dict, str, str]] = field(default_factory=list)  # (object, location, artifact)
    certificates: list[tuple[dict, str, str]] = field(default_factory=list)
    gateways: list[tuple[dict, str, str]] = field(default_factory=list)

    def add(self, obj: dict, location: str, artifact: str) -> None:
        kind, group = obj.get("kind"), str(obj.get("apiVersion", "")).split("/")[0]
        if is_secret(obj) and holds_certificates(obj):
            self.secrets.append((obj, location, artifact))
        elif kind == "Certificate" and group == CERT_MANAGER:
            self.certificates.append((obj, location, artifact))
        elif kind == "Gateway" and group == GATEWAY_API:
            self.gateways.append((obj, location, artifact))


def holds_certificates(secret: dict) -> bool:
    return any(key in (secret.get(part) or {}) for part in ("data", "stringData") for key in CERT_KEYS)


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
    found = Found(ctx.config["cluster"])
    try:
        files = manifest_files([Path(p) for p in ctx.config["paths"]])
    except SourceError as exc:
        raise SourceError(f"certificates: {exc}") from None
    for path in files:
        sha, objects = read_manifest(ctx, path, drop_private_keys)
        for location, obj in objects:
            found.add(obj, location, sha)
    emit_found(ctx, found)


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
    emit_found(ctx, found)


# rows -------------------------------------------------------------------------------------------------


def emit_found(ctx: CollectContext, found: Found) -> None:
    anchors = trust_anchors(ctx.config["ca_bundle"])
    managed = {
        (meta(c)["namespace"], (c.get("spec") or {}).get("secretName")): f"{meta(c)['namespace']}/{meta(c)['name']}"
        for c, _, _ in found.certificates
    }
    references = emit_references(ctx, found)
    for secret, location, _ in found.secrets:
        ns, name = meta(secret)["namespace"], meta(secret)["name"]
        where = {
            "cluster": found.cluster,
            "namespace": ns,
            "secret_name": name,
            "managed_by": managed.get((ns, name)),
            "referenced_by": references.get((ns, name), []),
        }
        emit_secret(ctx, secret, location, where, anchors)
    for certificate, location, artifact in found.certificates:
        ctx.emit("cert_manager_certificates", cert_manager_row(found.cluster, certificate, location), artifact)


def emit_references(ctx: CollectContext, found: Found) -> dict[tuple[str, str], list[str]]:
    """Emit a row per Gateway listener certificateRef; return who references each Secret (ns, name)."""
    secrets = {(meta(s)["namespace"], meta(s)["name"]) for s, _, _ in found.secrets}
    references: dict[tuple[str, str], list[str]] = {}
    for gateway, location, artifact in found.gateways:
        gw = meta(gateway)
        for listener in (gateway.get("spec") or {}).get("listeners") or []:
            for ref in (listener.get("tls") or {}).get("certificateRefs") or []:
                if ref.get("kind", "Secret") != "Secret" or ref.get("group", "") not in ("", "core"):
                    continue
                target = (ref.get("namespace") or gw["namespace"], ref["name"])
                user = f"Gateway {gw['namespace']}/{gw['name']} listener {listener.get('name')}"
                references.setdefault(target, []).append(user)
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
    return references


def emit_secret(
    ctx: CollectContext, secret: dict, location: str, where: dict[str, Any], anchors: list[x509.Certificate]
) -> None:
    label = f"secret {where['namespace']}/{where['secret_name']}"
    bundles = {key: read_secret_value(ctx, secret, key, label) for key in CERT_KEYS}
    chain, ca = bundles["tls.crt"], bundles["ca.crt"]
    valid, error = verify_chain(chain[0], chain[1:], ca + anchors, ctx.collected_at) if chain else (None, None)
    for key, certs in bundles.items():
        for position, cert in enumerate(certs):
            leaf = key == "tls.crt" and position == 0
            row = {
                **where,
                **describe(cert),
                "found_in": "secret",
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
        "issuer_ref": f"{issuer.get('kind', 'Issuer')}/{issuer['name']}" if issuer.get("name") else None,
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

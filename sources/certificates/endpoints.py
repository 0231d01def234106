"""Live TLS endpoints for the certificates source: the chain each endpoint serves and whether it verifies.

An endpoint is probed with TLS handshakes only, never application data: first verifying the chain and the name
against ``ca_bundle`` (or the system store); if that verification fails, once more without verifying, so the
served chain is recorded anyway. Each probe is a ``tls_endpoints`` row and each served certificate a
``certificates`` row, citing the served chain as PEM. A probe that fails (timeout, refused, unreachable, DNS,
handshake) is a row too, citing a JSON record of the attempt, and makes the run partial: that evidence is
missing. A chain that does not verify is a finding, not missing evidence, so it does not.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from collector.plugins import CollectContext, SourceError
from collector.roots import Roots
from sources.certificates.x509 import describe, fingerprint, to_pem

PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"  # 1-65535
HOST_PORT = rf"^(\[[0-9A-Fa-f:.]+\]|[^\s\[\]:/]+):{PORT}$"

ENDPOINT_SCHEMA: dict[str, Any] = {
    "description": 'a TLS endpoint to probe: "host:port" ("[::1]:443" for IPv6) or {host, port, sni}',
    "oneOf": [
        {"type": "string", "pattern": HOST_PORT},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["host"],
            "properties": {
                "host": {"type": "string", "pattern": r"^\S+$"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 443},
                "sni": {
                    "type": "string",
                    "pattern": r"^\S+$",
                    "description": "server name to send and verify (default: host, none for an IP literal)",
                },
            },
        },
    ],
}


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    sni: str | None  # None: no SNI is sent (an IP literal host)

    @property
    def name(self) -> str:
        """``host:port``, with an IPv6 host in brackets."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def label(self) -> str:
        return f"{self.name} (SNI {self.sni})" if self.sni else f"{self.name} (no SNI)"


@dataclass
class Probe:
    """What one endpoint answered."""

    status: str  # ok | timeout | refused | unreachable | dns-error | tls-error
    attempted_at: datetime
    error: str | None = None
    chain: list[x509.Certificate] = field(default_factory=list)
    tls_version: str | None = None
    cipher: str | None = None
    verified: bool | None = None
    verify_error: str | None = None


class ProbeFailed(Exception):
    def __init__(self, status: str, error: str):
        super().__init__(error)
        self.status = status
        self.error = error


def collect_endpoints(ctx: CollectContext) -> None:
    """Probe every configured endpoint; failures become rows and partial reasons, never exceptions."""
    endpoints = [parse_endpoint(item) for item in ctx.config["endpoints"]]
    verifying, unverifying = tls_contexts(ctx.config["ca_bundle"])
    timeout = float(ctx.config["timeout_seconds"])
    with ctx.progress("endpoints", total=len(endpoints), unit="endpoints") as progress:
        for endpoint in endpoints:
            progress.update(detail=endpoint.name)
            probe = probe_endpoint(endpoint, verifying, unverifying, timeout)
            record(ctx, endpoint, probe)
            if probe.status != "ok":
                ctx.partial(f"certificates: endpoint {endpoint.name}: {probe.status}: {probe.error}")
            progress.advance()


def parse_endpoint(item: str | Mapping[str, Any]) -> Endpoint:
    """An ``endpoints`` item (already schema-valid) as an Endpoint; SNI defaults to the host unless it is an IP."""
    if isinstance(item, str):
        host, _, port_text = item.rpartition(":")
        port, sni = int(port_text), None
    else:
        host, port, sni = item["host"], item.get("port", 443), item.get("sni")
    host = host.removeprefix("[").removesuffix("]")
    return Endpoint(host, port, sni if sni is not None else (None if is_ip_literal(host) else host))


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def tls_contexts(ca_bundle: str | None) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A context verifying chain and name against ``ca_bundle`` (default: system store), and one that does not."""
    try:
        verifying = ssl.create_default_context(cafile=ca_bundle)
    except OSError as exc:  # missing file, or no certificate in it (ssl.SSLError)
        raise SourceError(f"certificates: ca_bundle {ca_bundle}: cannot load trust anchors: {exc}") from exc
    unverifying = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    unverifying.check_hostname = False
    unverifying.verify_mode = ssl.CERT_NONE
    return verifying, unverifying


def probe_endpoint(endpoint: Endpoint, verifying: ssl.SSLContext, unverifying: ssl.SSLContext, timeout: float) -> Probe:
    """Handshake verifying; on a verification failure, handshake again without verifying to get the chain."""
    at = datetime.now(UTC)
    try:
        return handshake(endpoint, verifying, timeout, at, verified=True)
    except ssl.SSLCertVerificationError as exc:
        problem = exc.verify_message or str(exc)
    except ProbeFailed as exc:
        return Probe(exc.status, at, exc.error)
    try:
        probe = handshake(endpoint, unverifying, timeout, at, verified=False)
    except ProbeFailed as exc:
        probe = Probe(exc.status, at, exc.error, verified=False)
    probe.verify_error = problem
    return probe


def handshake(endpoint: Endpoint, context: ssl.SSLContext, timeout: float, at: datetime, verified: bool) -> Probe:
    """One TLS handshake; closes the connection without sending application data."""
    with connect(endpoint, timeout) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=endpoint.sni or endpoint.host) as tls:
                cipher = tls.cipher()
                return Probe("ok", at, None, served_chain(tls), tls.version(), cipher[0] if cipher else None, verified)
        except ssl.SSLCertVerificationError:
            raise
        except TimeoutError:
            raise ProbeFailed("timeout", f"no TLS handshake within {timeout:g} s") from None
        except (OSError, ValueError) as exc:  # ssl.SSLError, reset by peer, an unusable certificate or name
            raise ProbeFailed("tls-error", str(exc)) from None


def connect(endpoint: Endpoint, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except (socket.gaierror, UnicodeError) as exc:
        raise ProbeFailed("dns-error", f"cannot resolve {endpoint.host}: {exc}") from None
    except TimeoutError:
        raise ProbeFailed("timeout", f"no TCP connection within {timeout:g} s") from None
    except ConnectionRefusedError as exc:
        raise ProbeFailed("refused", str(exc)) from None
    except OSError as exc:
        raise ProbeFailed("unreachable", str(exc)) from None


def served_chain(tls: ssl.SSLSocket) -> list[x509.Certificate]:
    """The certificates the server sent, leaf first (public API from Python 3.13, on the SSL object before)."""
    getter = getattr(tls, "get_unverified_chain", None) or tls._sslobj.get_unverified_chain  # type: ignore[union-attr]
    items = getter() or []
    ders = [i if isinstance(i, bytes) else i.public_bytes(ssl._ssl.ENCODING_DER) for i in items]  # type: ignore[attr-defined]
    return [x509.load_der_x509_certificate(der) for der in ders]


def record(ctx: CollectContext, endpoint: Endpoint, probe: Probe) -> None:
    """Emit the endpoint row and one row per served certificate, all citing one artifact."""
    artifact = evidence_artifact(ctx, endpoint, probe)
    ctx.emit("tls_endpoints", endpoint_row(ctx, endpoint, probe), artifact)
    for position, cert in enumerate(probe.chain):
        ctx.emit("certificates", certificate_row(ctx, endpoint, probe, position, cert), artifact)


def evidence_artifact(ctx: CollectContext, endpoint: Endpoint, probe: Probe) -> str:
    """The served chain as PEM; without one, a JSON record of the attempt."""
    origin = f"tls://{endpoint.label}"
    if probe.chain:
        return ctx.add_artifact(b"".join(to_pem(c) for c in probe.chain), origin, "application/x-pem-file")
    attempt = {
        "endpoint": endpoint.name,
        "sni": endpoint.sni,
        "status": probe.status,
        "error": probe.error,
        "attempted_at": probe.attempted_at.isoformat(),
    }
    return ctx.add_artifact(json.dumps(attempt, indent=1, sort_keys=True).encode(), origin, "application/json")


def endpoint_row(ctx: CollectContext, endpoint: Endpoint, probe: Probe) -> dict[str, Any]:
    return {
        "endpoint": endpoint.name,
        "host": endpoint.host,
        "port": endpoint.port,
        "sni": endpoint.sni,
        "status": probe.status,
        "error": probe.error,
        "tls_version": probe.tls_version,
        "cipher": probe.cipher,
        "chain_length": len(probe.chain) if probe.status == "ok" else None,
        "leaf_sha256": fingerprint(probe.chain[0]) if probe.chain else None,
        "verified": probe.verified,
        "verify_error": probe.verify_error,
        "ca_bundle": Roots(ctx.source, []).label(ctx.config["ca_bundle"]) if ctx.config["ca_bundle"] else "system",
        "observed_at": ctx.collected_at,
    }


def certificate_row(
    ctx: CollectContext, endpoint: Endpoint, probe: Probe, position: int, cert: x509.Certificate
) -> dict[str, Any]:
    leaf = position == 0
    return {
        "found_in": "endpoint",
        "location": f"endpoint {endpoint.label}",
        "endpoint": endpoint.name,
        "sni": endpoint.sni,
        "chain_position": position,
        **describe(cert),
        "chain_valid": probe.verified if leaf else None,
        "chain_error": probe.verify_error if leaf else None,
        "referenced_by": [f"endpoint {endpoint.name}"],
        "details": {"tls_version": probe.tls_version, "cipher": probe.cipher},
        "observed_at": ctx.collected_at,
    }

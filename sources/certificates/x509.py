"""X.509 certificates as evidence: tolerant PEM reading, the facts an auditor asks about, chain checks.

Used by the certificates source for Secrets, TLS endpoints and ACM alike, so every certificate is described
the same way wherever it was found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtensionOID

PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class PemBundle:
    """The certificates of a PEM text in order, without duplicates, and what could not be read."""

    certificates: list[x509.Certificate]
    unreadable: int  # CERTIFICATE blocks that do not decode
    duplicates: int


def read_pem_bundle(data: bytes) -> PemBundle:
    """Every CERTIFICATE block of ``data``; text between blocks (comments, garbage) is ignored."""
    seen: set[bytes] = set()
    certificates: list[x509.Certificate] = []
    unreadable = duplicates = 0
    for block in PEM_CERTIFICATE.findall(data):
        try:
            cert = x509.load_pem_x509_certificate(block)
        except ValueError:
            unreadable += 1
            continue
        der = cert.public_bytes(serialization.Encoding.DER)
        if der in seen:
            duplicates += 1
            continue
        seen.add(der)
        certificates.append(cert)
    return PemBundle(certificates, unreadable, duplicates)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def describe(cert: x509.Certificate) -> dict[str, Any]:
    """The columns of table ``certificates`` that come from the certificate itself."""
    key_type, key_size = public_key_kind(cert)
    return {
        "subject": cert.subject.rfc4514_string(),
        "common_name": first_common_name(cert.subject),
        "sans": subject_alt_names(cert),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "key_type": key_type,
        "key_size": key_size,
        "signature_algorithm": signature_algorithm(cert),
        "sha256_fingerprint": fingerprint(cert),
        "is_ca": is_ca(cert),
        "self_signed": is_self_signed(cert),
    }


def first_common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def subject_alt_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
    names += [f"IP:{n}" for n in san.get_values_for_type(x509.IPAddress)]
    names += [f"URI:{n}" for n in san.get_values_for_type(x509.UniformResourceIdentifier)]
    return names + [f"email:{n}" for n in san.get_values_for_type(x509.RFC822Name)]


def public_key_kind(cert: x509.Certificate) -> tuple[str, int | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, None


def signature_algorithm(cert: x509.Certificate) -> str:
    name = cert.signature_algorithm_oid._name  # e.g. sha256WithRSAEncryption, ecdsa-with-SHA256
    return name if name != "Unknown OID" else cert.signature_algorithm_oid.dotted_string


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca)
    except x509.ExtensionNotFound:
        return False


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):  # another issuer, an unsupported key, a bad signature
        return False
    return True


def verify_chain(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], anchors: list[x509.Certificate], at: datetime
) -> tuple[bool | None, str | None]:
    """Whether ``leaf`` chains to one of ``anchors`` through ``intermediates`` at time ``at`` (WebPKI rules, the
    name checked against the leaf's own first SAN). ``(None, why)`` when there is nothing to verify against."""
    if not anchors:
        if is_self_signed(leaf):
            return False, "self-signed certificate, not among the trust anchors"
        return None, "no trust anchor (configure ca_bundle or ship ca.crt)"
    if fingerprint(leaf) in {fingerprint(a) for a in anchors}:
        expired = not (leaf.not_valid_before_utc <= at <= leaf.not_valid_after_utc)
        return (False, "certificate has expired or is not yet valid") if expired else (True, None)
    subject = verification_subject(leaf)
    if subject is None:
        return False, "certificate has no DNS or IP subjectAltName"
    verifier = verification.PolicyBuilder().store(verification.Store(anchors)).time(at).build_server_verifier(subject)
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError as exc:
        return False, verification_problem(str(exc))
    return True, None


def verification_problem(message: str) -> str:
    """A reader's phrase for the verifier's message (the message itself when unknown)."""
    if "not valid at validation time" in message:
        return "certificate expired or not yet valid"
    if "candidates exhausted" in message:
        return "no chain to a trust anchor (issuer missing, untrusted or expired)"
    return message


def verification_subject(cert: x509.Certificate) -> verification.DNSName | verification.IPAddress | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for dns in san.get_values_for_type(x509.DNSName):  # a wildcard is checked with a name it covers
        return verification.DNSName("wildcard-check." + dns[2:] if dns.startswith("*.") else dns)
    for ip in san.get_values_for_type(x509.IPAddress):
        return verification.IPAddress(ip)
    return None

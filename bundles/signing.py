"""DSSE signing of in-toto statements with Ed25519 keys (PKCS#8 / SubjectPublicKeyInfo PEM files)."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"


class KeyFileError(Exception):
    """A key file is missing, unreadable or of the wrong type."""


class Signer(Protocol):
    key_id: str

    def sign(self, message: bytes) -> bytes: ...


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def key_id(public_key: Ed25519PublicKey) -> str:
    """sha256 of the DER SubjectPublicKeyInfo, hex: the key's fingerprint."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Ed25519Signer:
    private_key: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id(self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def generate_keypair(private_path: Path, public_path: Path) -> str:
    """Write a new Ed25519 key pair (private key mode 0600); refuse to overwrite. Returns the key id."""
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} already exists; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return key_id(key.public_key())


def load_signer(path: Path) -> Ed25519Signer:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise KeyFileError(f"cannot read signing key {path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise KeyFileError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: expected an Ed25519 key, found {type(key).__name__}")
    return Ed25519Signer(key)


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise KeyFileError(f"cannot read public key {path}: {exc.strerror}") from None
    except ValueError:
        raise KeyFileError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: expected an Ed25519 public key, found {type(key).__name__}")
    return key


def envelope(payload: bytes, signers: list[Signer]) -> dict:
    message = pae(PAYLOAD_TYPE, payload)
    return {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": s.key_id, "sig": base64.b64encode(s.sign(message)).decode()} for s in signers],
    }


def verify_envelope(env: dict, public_key: Ed25519PublicKey) -> bytes:
    """Return the payload if some signature in ``env`` verifies with ``public_key``; else raise ValueError."""
    if env.get("payloadType") != PAYLOAD_TYPE:
        raise ValueError(f"unexpected payloadType {env.get('payloadType')!r}")
    payload = base64.b64decode(env["payload"], validate=True)
    signatures = env.get("signatures") or []
    if not signatures:
        raise ValueError("the bundle is unsigned (no signatures in the envelope)")
    message = pae(PAYLOAD_TYPE, payload)
    for sig in signatures:
        try:
            public_key.verify(base64.b64decode(sig["sig"], validate=True), message)
            return payload
        except (InvalidSignature, ValueError, KeyError):
            continue
    raise ValueError(f"no signature verifies with key {key_id(public_key)}")

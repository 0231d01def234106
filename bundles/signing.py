"""DSSE signing of in-toto statements: local Ed25519 keys (PEM files) or AWS KMS ECDSA P-256 keys."""

from __future__ import annotations

import base64
import hashlib
import os
import reprlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bundles.files import UnreadableFile, read_regular
from bundles.statement import json_type

PAYLOAD_TYPE = "application/vnd.in-toto+json"
KMS_KEY_SPEC = "ECC_NIST_P256"
KMS_SIGNING_ALGORITHM = "ECDSA_SHA_256"
MAX_KEY_FILE_BYTES = 64 * 1024  # a PEM key is a few hundred bytes

_short = reprlib.Repr()  # values quoted in messages, cut to a readable length

PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey


class KeyFileError(Exception):
    """A key (file or KMS key) is missing, unreadable, unusable or of the wrong type."""


class Signer(Protocol):
    key_id: str

    def sign(self, message: bytes) -> bytes: ...


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def key_id(public_key: PublicKey) -> str:
    """sha256 of the DER SubjectPublicKeyInfo, hex: the key's fingerprint."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_key_pem(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_signature(public_key: PublicKey, sig: bytes, message: bytes) -> bool:
    """Ed25519 over ``message``, or ECDSA P-256 (DER signature) over sha256(``message``)."""
    try:
        if isinstance(public_key, Ed25519PublicKey):
            public_key.verify(sig, message)
        else:
            public_key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Ed25519Signer:
    private_key: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id(self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


class KmsSigner:
    """Signs with an AWS KMS ECC_NIST_P256 SIGN_VERIFY key; the private key never leaves KMS.

    ``message_type="DIGEST"`` (production) sends sha256(message); ``"RAW"`` sends the message itself, which KMS
    caps at 4096 bytes: it is for moto, whose KMS hashes DIGEST messages again. ``client`` replaces the boto3 client.
    """

    def __init__(
        self,
        key: str,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        message_type: str = "DIGEST",
        client: Any = None,
    ) -> None:
        if message_type not in ("DIGEST", "RAW"):
            raise ValueError(f"message_type must be DIGEST or RAW, not {message_type!r}")
        self.key, self.message_type = key, message_type
        self.client = client or _kms_client(key, region, profile, endpoint_url)
        with _aws_errors(key, "GetPublicKey"):
            response = self.client.get_public_key(KeyId=key)
        spec = response.get("KeySpec") or response.get("CustomerMasterKeySpec")
        usage = response.get("KeyUsage")
        if (spec, usage) != (KMS_KEY_SPEC, "SIGN_VERIFY"):
            raise KeyFileError(
                f"AWS KMS key {key}: expected KeySpec {KMS_KEY_SPEC} with KeyUsage SIGN_VERIFY, found {spec} {usage}"
            )
        self.public_key = _accepted(serialization.load_der_public_key(response["PublicKey"]), f"AWS KMS key {key}")
        self.key_id = key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The DER ECDSA signature of ``message``, checked against the key's public key before it is returned."""
        body = hashlib.sha256(message).digest() if self.message_type == "DIGEST" else message
        with _aws_errors(self.key, "Sign"):
            sig = self.client.sign(
                KeyId=self.key, Message=body, MessageType=self.message_type, SigningAlgorithm=KMS_SIGNING_ALGORITHM
            )["Signature"]
        if not verify_signature(self.public_key, sig, message):
            raise KeyFileError(f"AWS KMS key {self.key}: Sign returned a signature that its public key does not verify")
        return sig


def _kms_client(key: str, region: str | None, profile: str | None, endpoint_url: str | None) -> Any:
    """A KMS client; the region defaults to the key ARN's, then to the AWS configuration's."""
    import boto3  # imported here: boto3 is slow to import and only KMS signing needs it

    if region is None and key.startswith("arn:"):
        region = key.split(":")[3] or None
    with _aws_errors(key, "client setup"):
        return boto3.Session(profile_name=profile, region_name=region).client("kms", endpoint_url=endpoint_url)


@contextmanager
def _aws_errors(key: str, api: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise KeyFileError(f"AWS KMS key {key}: {api} failed: {exc}") from None


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
    public_path.write_bytes(public_key_pem(key.public_key()))
    return key_id(key.public_key())


def load_signer(path: Path) -> Ed25519Signer:
    try:
        key = serialization.load_pem_private_key(_read_key(path), password=None)
    except UnreadableFile as exc:
        raise KeyFileError(f"cannot read signing key {path}: {exc}") from None
    except (ValueError, TypeError):
        raise KeyFileError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: expected an Ed25519 key, found {type(key).__name__}")
    return Ed25519Signer(key)


def _read_key(path: Path) -> bytes:
    """A key file's content: ``path`` may be a symbolic link (as in a mounted Kubernetes secret), but must lead to
    a regular file of at most MAX_KEY_FILE_BYTES."""
    return read_regular(os.path.realpath(path), MAX_KEY_FILE_BYTES)


def load_public_key(path: Path) -> PublicKey:
    """An Ed25519 or ECDSA P-256 public key from a PEM SubjectPublicKeyInfo file."""
    try:
        key = serialization.load_pem_public_key(_read_key(path))
    except UnreadableFile as exc:
        raise KeyFileError(f"cannot read public key {path}: {exc}") from None
    except ValueError:
        raise KeyFileError(f"{path}: not a PEM public key") from None
    return _accepted(key, str(path))


def _accepted(key: Any, where: str) -> PublicKey:
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    found = f"EC {key.curve.name}" if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__
    raise KeyFileError(f"{where}: expected an Ed25519 or ECDSA P-256 public key, found {found}")


def envelope(payload: bytes, signers: list[Signer]) -> dict:
    message = pae(PAYLOAD_TYPE, payload)
    return {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": s.key_id, "sig": base64.b64encode(s.sign(message)).decode()} for s in signers],
    }


def verify_envelope(env: Any, public_key: PublicKey) -> bytes:
    """Return the payload if some signature in the envelope ``env`` (parsed JSON of any shape) verifies with
    ``public_key``; else raise ValueError saying what is wrong."""
    if not isinstance(env, dict):
        raise ValueError(f"a JSON {json_type(env)}, not a DSSE envelope (an object)")
    if env.get("payloadType") != PAYLOAD_TYPE:
        raise ValueError(f"unexpected payloadType {_short.repr(env.get('payloadType'))}")
    payload = _base64(env.get("payload"), "payload")
    signatures = env.get("signatures")
    if not signatures:
        raise ValueError("the bundle is unsigned (no signatures in the envelope)")
    if not isinstance(signatures, list):
        raise ValueError("'signatures' is not a list")
    message = pae(PAYLOAD_TYPE, payload)
    for sig in signatures:
        try:
            if verify_signature(public_key, _base64(sig.get("sig") if isinstance(sig, dict) else None, "sig"), message):
                return payload
        except ValueError:
            continue
    raise ValueError(f"no signature verifies with key {key_id(public_key)}")


def _base64(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{field!r} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise ValueError(f"{field!r} is not valid base64") from None

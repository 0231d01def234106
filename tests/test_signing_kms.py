"""AWS KMS (ECDSA P-256) signing of bundles, alongside local Ed25519 keys, against moto's KMS.

moto's KMS hashes a DIGEST message again, so against moto the signer runs with RAW messages; the production
DIGEST path is tested with a fake client that signs the digest with a local P-256 key (Prehashed).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from helpers import cli
from moto import mock_aws

import collector.cli.judging
from bundles.build import ENVELOPE, build_bundle
from bundles.signing import (
    PAYLOAD_TYPE,
    KeyFileError,
    KmsSigner,
    generate_keypair,
    load_public_key,
    load_signer,
    pae,
    public_key_pem,
)
from bundles.verify import verify_bundle
from collector.claims import builtin_pack_dirs, load_pack
from collector.store import Store

KEY_REGION = "eu-west-1"


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """moto's KMS with fake credentials; the default region differs from the keys' so ARNs must carry it."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield boto3.client("kms", region_name=KEY_REGION)


def create_key(kms: Any, spec: str = "ECC_NIST_P256", usage: str = "SIGN_VERIFY") -> str:
    return kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["Arn"]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """An empty store: the bundle's claims are all no-evidence, which is all signing needs."""
    path = tmp_path / "evidence.duckdb"
    with Store.open(path):
        pass
    return path


def build(store_path: Path, out: Path, signers: list) -> None:
    with Store.open(store_path, read_only=True) as store:
        build_bundle(store, [load_pack(builtin_pack_dirs()["k8s-networking"])], out, signers)


def signatures(bundle: Path) -> list[dict[str, str]]:
    return json.loads((bundle / ENVELOPE).read_text())["signatures"]


def fingerprint(der_spki: bytes) -> str:
    return hashlib.sha256(der_spki).hexdigest()


def test_bundle_signed_with_kms_and_ed25519_verifies_with_each_key(
    kms: Any, store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = create_key(kms)
    kms_fp = fingerprint(kms.get_public_key(KeyId=arn)["PublicKey"])
    ed_fp = generate_keypair(tmp_path / "ed.key", tmp_path / "ed.pub")
    result = cli("kms-pubkey", "--kms-key", arn, "--out", str(tmp_path / "kms.pub"))
    assert result.exit_code == 0, result.output
    assert f"key id {kms_fp}" in result.output
    assert load_public_key(tmp_path / "kms.pub").curve.name == "secp256r1"

    monkeypatch.setattr(collector.cli.judging, "KmsSigner", functools.partial(KmsSigner, message_type="RAW"))
    out = tmp_path / "bundle"
    args = ["bundle", "--out", str(out), "--pack", "k8s-networking", "--store", str(store_path)]
    result = cli(*args, "--key", str(tmp_path / "ed.key"), "--kms-key", arn)
    assert result.exit_code == 0, result.output
    assert f"signed with key {ed_fp}\nsigned with key {kms_fp}\n" in result.output
    assert [s["keyid"] for s in signatures(out)] == [ed_fp, kms_fp]
    for pub, fp in (("ed.pub", ed_fp), ("kms.pub", kms_fp)):
        verification = verify_bundle(out, tmp_path / pub)
        assert verification.ok, verification.problems
        assert verification.key_id == fp
    result = cli("verify", str(out), "--pubkey", str(tmp_path / "kms.pub"))
    assert result.exit_code == 0 and result.output.startswith(f"OK: {out}: signature by {kms_fp} valid")


def test_tampered_kms_signature_fails(kms: Any, store_path: Path, tmp_path: Path) -> None:
    signer = KmsSigner(create_key(kms), message_type="RAW")
    (tmp_path / "kms.pub").write_bytes(public_key_pem(signer.public_key))
    generate_keypair(tmp_path / "ed.key", tmp_path / "ed.pub")
    out = tmp_path / "bundle"
    build(store_path, out, [load_signer(tmp_path / "ed.key"), signer])
    env = json.loads((out / ENVELOPE).read_text())
    sig = bytearray(base64.b64decode(env["signatures"][1]["sig"]))
    sig[-1] ^= 0x01  # the last byte of s
    env["signatures"][1]["sig"] = base64.b64encode(bytes(sig)).decode()
    (out / ENVELOPE).write_text(json.dumps(env))
    assert verify_bundle(out, tmp_path / "kms.pub").problems == [
        f"{ENVELOPE}: signature check failed: no signature verifies with key {signer.key_id}"
    ]
    assert verify_bundle(out, tmp_path / "ed.pub").ok


@pytest.mark.parametrize(
    ("spec", "usage"),
    [("RSA_2048", "SIGN_VERIFY"), ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"), ("ECC_NIST_P256", "ENCRYPT_DECRYPT")],
)
def test_wrong_kind_of_kms_key_is_refused(kms: Any, store_path: Path, tmp_path: Path, spec: str, usage: str) -> None:
    arn = create_key(kms, spec, usage)
    with pytest.raises(KeyFileError) as exc:
        KmsSigner(arn)
    assert str(exc.value) == (
        f"AWS KMS key {arn}: expected KeySpec ECC_NIST_P256 with KeyUsage SIGN_VERIFY, found {spec} {usage}"
    )
    result = cli("bundle", "--out", str(tmp_path / "b"), "--kms-key", arn, "--store", str(store_path))
    assert result.exit_code == 2
    assert "expected KeySpec ECC_NIST_P256" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "b").exists()


def test_aws_errors_name_the_key_and_the_call(kms: Any, tmp_path: Path) -> None:
    arn = create_key(kms)
    key_uuid = arn.rsplit("/", 1)[1]
    assert KmsSigner(key_uuid, region=KEY_REGION).key_id == KmsSigner(arn).key_id
    # a bare key id is looked up in the default region (us-east-1), where it does not exist
    result = cli("kms-pubkey", "--kms-key", key_uuid, "--out", str(tmp_path / "k.pub"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"AWS KMS key {key_uuid}: GetPublicKey failed:" in result.output and "NotFoundException" in result.output
    assert not (tmp_path / "k.pub").exists()


class FakeKms:
    """A KMS client whose P-256 key is local: Sign with DIGEST signs the given digest as is, as AWS does."""

    def __init__(self, key: ec.EllipticCurvePrivateKey | None = None, signing_key: Any = None) -> None:
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.signing_key = signing_key or self.key
        self.calls: list[dict[str, Any]] = []

    def get_public_key(self, KeyId: str) -> dict[str, Any]:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {"KeyId": KeyId, "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY", "PublicKey": der}

    def sign(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        assert params["MessageType"] == "DIGEST"
        sig = self.signing_key.sign(params["Message"], ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return {"KeyId": params["KeyId"], "Signature": sig, "SigningAlgorithm": params["SigningAlgorithm"]}


def test_digest_mode_signs_sha256_of_the_pae(store_path: Path, tmp_path: Path) -> None:
    fake = FakeKms()
    signer = KmsSigner("alias/bundles", client=fake)
    (tmp_path / "kms.pub").write_bytes(public_key_pem(signer.public_key))
    out = tmp_path / "bundle"
    build(store_path, out, [signer])
    statement = (out / "META" / "statement.intoto.json").read_bytes()
    assert fake.calls == [
        {
            "KeyId": "alias/bundles",
            "Message": hashlib.sha256(pae(PAYLOAD_TYPE, statement)).digest(),
            "MessageType": "DIGEST",
            "SigningAlgorithm": "ECDSA_SHA_256",
        }
    ]
    assert [s["keyid"] for s in signatures(out)] == [fingerprint(fake.get_public_key("k")["PublicKey"])]
    assert verify_bundle(out, tmp_path / "kms.pub").ok


def test_signature_not_verifying_with_the_kms_public_key_is_refused() -> None:
    signer = KmsSigner("alias/bundles", client=FakeKms(signing_key=ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(KeyFileError) as exc:
        signer.sign(b"message")
    assert str(exc.value) == "AWS KMS key alias/bundles: Sign returned a signature that its public key does not verify"


def test_public_keys_other_than_ed25519_and_p256_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "p384.pub"
    path.write_bytes(public_key_pem(ec.generate_private_key(ec.SECP384R1()).public_key()))
    with pytest.raises(KeyFileError) as exc:
        load_public_key(path)
    assert str(exc.value) == f"{path}: expected an Ed25519 or ECDSA P-256 public key, found EC secp384r1"

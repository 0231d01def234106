"""The auditor's openssl/sha256sum recipe in docs/verify.md, run exactly as written."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bundles.build import ENVELOPE, STATEMENT, build_bundle
from bundles.signing import envelope, key_id, load_signer, public_key_pem
from bundles.statement import parse_statement, statement_bytes
from collector.claims import builtin_pack_dirs, load_pack
from collector.store import Store

RECIPE_DOC = Path(__file__).parents[1] / "docs" / "verify.md"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("openssl", "sha256sum", "base64", "sh")),
    reason="needs openssl, sha256sum, base64 and sh",
)


def recipe() -> str:
    blocks = re.findall(r"^```sh\n(.*?)^```$", RECIPE_DOC.read_text(), flags=re.S | re.M)
    assert len(blocks) == 1, "docs/verify.md must hold exactly one sh block"
    return blocks[0]


@pytest.fixture
def workdir(demo_dir: Path, tmp_path: Path) -> Path:
    """A directory laid out as the recipe expects: ./bundle and ./signing.pub."""
    shutil.copytree(demo_dir / "bundle", tmp_path / "bundle")
    shutil.copy(demo_dir / "keys" / "signing.pub", tmp_path / "signing.pub")
    return tmp_path


def run_recipe(workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-e", "-c", recipe()], cwd=workdir, capture_output=True, text=True, timeout=60)


def test_recipe_passes_on_intact_bundle(workdir: Path) -> None:
    result = run_recipe(workdir)
    assert result.returncode == 0, result.stderr
    assert "Signature Verified Successfully" in result.stdout
    assert "bundle verified" in result.stdout


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def edit_statement(bundle: Path) -> None:
    statement = bundle / "META" / "statement.intoto.json"
    statement.write_text(statement.read_text().replace('"satisfied"', '"gap"'))


def corrupt_signature(bundle: Path) -> None:
    envelope = bundle / "META" / "statement.dsse.json"
    text = envelope.read_text()
    first = text.index('"sig": "') + len('"sig": "')
    envelope.write_text(text[:first] + ("B" if text[first] == "A" else "A") + text[first + 1 :])


TAMPERINGS: dict[str, tuple[Callable[[Path], None], str]] = {
    "flipped byte": (lambda b: flip_byte(b / "claims.json"), "claims.json"),
    "flipped artifact byte": (lambda b: flip_byte(next((b / "artifacts" / "sha256").iterdir())), "artifacts/sha256/"),
    "added file": (lambda b: (b / "evidence" / "extra.csv").write_text("a,b\n"), "evidence/extra.csv"),
    "deleted file": (lambda b: (b / "report.md").unlink(), "report.md"),
    "edited statement": (edit_statement, "differ"),
    "corrupted signature": (corrupt_signature, "Signature Verification Failure"),
    "symlink": (lambda b: (b / "link").symlink_to(b / "claims.json"), "not a regular file: bundle/link"),
    "fifo": (lambda b: os.mkfifo(b / "report.md.new"), "not a regular file: bundle/report.md.new"),  # must not block
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_recipe_fails_on_tampered_bundle(workdir: Path, tampering: str) -> None:
    tamper, named = TAMPERINGS[tampering]
    tamper(workdir / "bundle")
    result = run_recipe(workdir)
    assert result.returncode != 0
    assert "bundle verified" not in result.stdout
    assert named in result.stdout + result.stderr


def test_recipe_fails_on_an_artifact_replaced_under_a_re_signed_statement(workdir: Path, demo_dir: Path) -> None:
    bundle, forged = workdir / "bundle", b"not what was collected\n"
    artifact = next((bundle / "artifacts" / "sha256").iterdir())
    artifact.write_bytes(forged)
    name = f"artifacts/sha256/{artifact.name}"
    digests, predicate = parse_statement((bundle / STATEMENT).read_bytes())
    payload = statement_bytes({**digests, name: hashlib.sha256(forged).hexdigest()}, predicate)
    (bundle / STATEMENT).write_bytes(payload)
    signed = envelope(payload, [load_signer(demo_dir / "keys" / "signing.key")])
    (bundle / ENVELOPE).write_text(json.dumps(signed, indent=2, sort_keys=True) + "\n")  # as the bundle writes it
    result = run_recipe(workdir)
    assert result.returncode != 0 and "bundle verified" not in result.stdout
    assert "Signature Verified Successfully" in result.stdout  # signature and digests hold: only the name is wrong
    assert f"misnamed artifact: {name}" in result.stdout


def test_recipe_fails_with_another_key(workdir: Path) -> None:
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", workdir / "other.key"], check=True)
    subprocess.run(
        ["openssl", "pkey", "-in", workdir / "other.key", "-pubout", "-out", workdir / "signing.pub"], check=True
    )
    result = run_recipe(workdir)
    assert result.returncode != 0
    assert "bundle verified" not in result.stdout


class P256Signer:
    """A local ECDSA P-256 key, signing as AWS KMS does: DER ECDSA over SHA-256 of the message."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.key_id = key_id(self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message, ec.ECDSA(hashes.SHA256()))


@pytest.fixture(scope="module")
def ecdsa_signed(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """./bundle signed by the demo's Ed25519 key then a P-256 key, ./signing.pub the P-256 key; and its key id."""
    out, signer = tmp_path_factory.mktemp("ecdsa"), P256Signer()
    packs = [load_pack(p) for p in builtin_pack_dirs().values()]
    with Store.open(demo_dir / "evidence.duckdb", read_only=True) as store:
        build_bundle(store, packs, out / "bundle", [load_signer(demo_dir / "keys" / "signing.key"), signer])
    (out / "signing.pub").write_bytes(public_key_pem(signer.private_key.public_key()))
    return out, signer.key_id


@pytest.fixture
def ecdsa_workdir(ecdsa_signed: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A private copy of ``ecdsa_signed``, free to tamper with."""
    workdir = Path(shutil.copytree(ecdsa_signed[0], tmp_path / "work"))
    return workdir, ecdsa_signed[1]


def test_recipe_passes_with_ecdsa_p256_key(ecdsa_workdir: tuple[Path, str]) -> None:
    workdir, ecdsa_key_id = ecdsa_workdir
    result = run_recipe(workdir)
    assert result.returncode == 0, result.stderr
    assert "Signature Verified Successfully" in result.stdout
    assert result.stdout.rstrip().endswith(f"signed by key {ecdsa_key_id}")


def test_documented_openssl_dgst_alternative_verifies_ecdsa(ecdsa_workdir: tuple[Path, str]) -> None:
    workdir, _ = ecdsa_workdir
    pkeyutl = 'openssl pkeyutl -verify -pubin -inkey "$PUB" -rawin -in "$W/pae" -sigfile "$W/sig"'
    dgst = 'openssl dgst -sha256 -verify "$PUB" -signature "$W/sig" "$W/pae"'
    assert f"`{dgst}`" in RECIPE_DOC.read_text() and pkeyutl in recipe()
    script = recipe().replace(pkeyutl, dgst)
    result = subprocess.run(["sh", "-e", "-c", script], cwd=workdir, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Verified OK" in result.stdout and "bundle verified" in result.stdout


def test_recipe_fails_on_corrupted_ecdsa_signature(ecdsa_workdir: tuple[Path, str]) -> None:
    workdir, _ = ecdsa_workdir
    envelope = workdir / "bundle" / "META" / "statement.dsse.json"
    sig = json.loads(envelope.read_text())["signatures"][1]["sig"]
    der = bytearray(base64.b64decode(sig))
    der[-1] ^= 0x01
    envelope.write_text(envelope.read_text().replace(sig, base64.b64encode(bytes(der)).decode()))
    result = run_recipe(workdir)
    assert result.returncode != 0
    assert "bundle verified" not in result.stdout
    assert "Signature Verification Failure" in result.stdout + result.stderr

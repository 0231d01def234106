"""The auditor's openssl/sha256sum recipe in docs/verify.md, run exactly as written."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

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
    "symlink": (lambda b: (b / "link").symlink_to(b / "claims.json"), ""),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_recipe_fails_on_tampered_bundle(workdir: Path, tampering: str) -> None:
    tamper, named = TAMPERINGS[tampering]
    tamper(workdir / "bundle")
    result = run_recipe(workdir)
    assert result.returncode != 0
    assert "bundle verified" not in result.stdout
    assert named in result.stdout + result.stderr


def test_recipe_fails_with_another_key(workdir: Path) -> None:
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", workdir / "other.key"], check=True)
    subprocess.run(
        ["openssl", "pkey", "-in", workdir / "other.key", "-pubout", "-out", workdir / "signing.pub"], check=True
    )
    result = run_recipe(workdir)
    assert result.returncode != 0
    assert "bundle verified" not in result.stdout

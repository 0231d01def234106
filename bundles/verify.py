"""Offline verification of a bundle: signature, every digest, and no file added or removed."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bundles.archive import ArchiveError, extract_archive
from bundles.build import ENVELOPE, STATEMENT
from bundles.signing import PublicKey, key_id, load_public_key, verify_envelope
from bundles.statement import parse_statement
from collector.store import sha256_hex


@dataclass
class Verification:
    bundle: Path
    problems: list[str] = field(default_factory=list)
    files_checked: int = 0
    key_id: str = ""
    predicate: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(bundle: Path, public_key_path: Path) -> Verification:
    """Verify a bundle directory, or a bundle ``.tar.gz`` (extracted safely into a temporary directory)."""
    public_key = load_public_key(public_key_path)
    result = Verification(bundle, key_id=key_id(public_key))
    if bundle.is_file():
        with tempfile.TemporaryDirectory(prefix="defensible-verify-") as tmp:
            try:
                root = extract_archive(bundle, Path(tmp))
            except ArchiveError as exc:
                result.problems.append(str(exc))
                return result
            return _verify_directory(root, public_key, result)
    if not bundle.is_dir():
        result.problems.append(f"{bundle}: not a bundle directory or archive")
        return result
    return _verify_directory(bundle, public_key, result)


def _verify_directory(bundle: Path, public_key: PublicKey, result: Verification) -> Verification:
    try:
        env = json.loads((bundle / ENVELOPE).read_bytes())
        payload = verify_envelope(env, public_key)
    except FileNotFoundError:
        result.problems.append(f"{ENVELOPE}: missing")
        return result
    except (ValueError, KeyError, TypeError) as exc:
        result.problems.append(f"{ENVELOPE}: signature check failed: {exc}")
        return result
    statement_file = bundle / STATEMENT
    if not statement_file.is_file() or statement_file.read_bytes() != payload:
        result.problems.append(f"{STATEMENT}: differs from the signed payload in {ENVELOPE}")
    try:
        digests, result.predicate = parse_statement(payload)
    except (ValueError, KeyError, TypeError) as exc:
        result.problems.append(f"{ENVELOPE}: signed payload is not a valid statement: {exc}")
        return result

    present = {}
    for path in sorted(bundle.rglob("*")):
        name = path.relative_to(bundle).as_posix()
        if path.is_symlink():
            result.problems.append(f"{name}: symbolic link not allowed in a bundle")
        elif path.is_file() and name not in (STATEMENT, ENVELOPE):
            present[name] = path
    for name in sorted(set(digests) - set(present)):
        result.problems.append(f"{name}: missing (listed in the signed statement)")
    for name in sorted(set(present) - set(digests)):
        result.problems.append(f"{name}: unexpected file (not in the signed statement)")
    for name in sorted(set(present) & set(digests)):
        result.files_checked += 1
        if sha256_hex(present[name].read_bytes()) != digests[name]:
            result.problems.append(f"{name}: modified (sha256 differs from the signed statement)")
    return result

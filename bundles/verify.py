"""Offline verification of a bundle: signature, every digest, every artifact's name, and no file added or removed.

Every file is checked to be a regular file before it is opened (no symbolic link, FIFO, device, socket or
directory where a file belongs), opened without following links or blocking, and hashed in bounded chunks.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bundles.archive import ArchiveError, extract_archive
from bundles.build import ENVELOPE, STATEMENT
from bundles.files import UnreadableFile, hash_regular, kind, read_regular, shown
from bundles.signing import PublicKey, key_id, load_public_key, verify_envelope
from bundles.statement import ARTIFACTS, parse_json, parse_statement

MAX_ENVELOPE_BYTES = 64 * 1024**2  # the envelope and the statement: ~100 bytes per bundle file


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
    """Verify a bundle directory, or a bundle ``.tar.gz`` (extracted safely into a temporary directory).

    ``bundle`` itself may be a symbolic link; everything inside it must be a regular file or a directory."""
    public_key = load_public_key(public_key_path)
    result = Verification(bundle, key_id=key_id(public_key))
    target = Path(os.path.realpath(bundle))
    try:
        mode = os.stat(target).st_mode
    except OSError as exc:
        result.problems.append(f"{bundle}: cannot read ({exc.strerror})")
        return result
    if stat.S_ISDIR(mode):
        return _verify_directory(target, public_key, result)
    if not stat.S_ISREG(mode):
        result.problems.append(f"{bundle}: a {kind(mode)}, not a bundle directory or .tar.gz archive")
        return result
    with tempfile.TemporaryDirectory(prefix="defensible-verify-") as tmp:
        try:
            root = extract_archive(bundle, Path(tmp))
        except ArchiveError as exc:
            result.problems.append(str(exc))
            return result
        return _verify_directory(root, public_key, result)


def _verify_directory(bundle: Path, public_key: PublicKey, result: Verification) -> Verification:
    payload = _signed_payload(bundle, public_key, result)
    if payload is None:
        return result
    try:
        digests, result.predicate = parse_statement(payload)
    except ValueError as exc:
        result.problems.append(f"{ENVELOPE}: signed payload is not a valid statement: {exc}")
        return result
    try:
        entries = _entries(bundle)
    except OSError as exc:
        result.problems.append(f"{bundle}: cannot list ({exc.strerror}: {exc.filename})")
        return result
    result.problems += _misnamed_artifacts(digests)
    result.problems += [
        f"{name}: missing (listed in the signed statement)" for name in sorted(digests.keys() - entries.keys())
    ]
    for name, mode in sorted(entries.items()):
        if name in (STATEMENT, ENVELOPE):
            continue  # read and compared above
        if stat.S_ISDIR(mode):
            if name in digests:
                result.problems.append(f"{name}: a directory where the signed statement lists a file")
        elif not stat.S_ISREG(mode):
            result.problems.append(f"{shown(name)}: {kind(mode)} not allowed in a bundle")
        elif name not in digests:
            result.problems.append(f"{shown(name)}: unexpected file (not in the signed statement)")
        else:
            result.files_checked += 1
            result.problems += _digest_problems(bundle, name, digests[name])
    return result


def _signed_payload(bundle: Path, public_key: PublicKey, result: Verification) -> bytes | None:
    """The envelope's payload once a signature by ``public_key`` verifies, else None (the problem recorded)."""
    try:
        payload = verify_envelope(parse_json(read_regular(bundle / ENVELOPE, MAX_ENVELOPE_BYTES)), public_key)
    except UnreadableFile as exc:
        result.problems.append(f"{ENVELOPE}: {exc}")
        return None
    except ValueError as exc:
        result.problems.append(f"{ENVELOPE}: signature check failed: {exc}")
        return None
    try:
        if read_regular(bundle / STATEMENT, MAX_ENVELOPE_BYTES) != payload:
            result.problems.append(f"{STATEMENT}: differs from the signed payload in {ENVELOPE}")
    except UnreadableFile as exc:
        result.problems.append(f"{STATEMENT}: {exc}")
    return payload


def _entries(bundle: Path) -> dict[str, int]:
    """Every entry below ``bundle`` by its ``/``-separated relative name, with its lstat mode; links not followed."""
    found: dict[str, int] = {}
    pending = [""]
    while pending:
        prefix = pending.pop()
        with os.scandir(bundle / prefix) as listing:
            for entry in listing:
                name = prefix + entry.name
                found[name] = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(found[name]):
                    pending.append(name + "/")
    return found


def _misnamed_artifacts(digests: dict[str, str]) -> list[str]:
    """A raw artifact is named by its sha256: the signed digest of ``artifacts/sha256/<d>`` must be ``<d>``."""
    return [
        f"{name}: the artifact's sha256 is {sha256} (signed), not the digest in its name"
        for name, sha256 in sorted(digests.items())
        if name.startswith(ARTIFACTS) and name.removeprefix(ARTIFACTS) != sha256
    ]


def _digest_problems(bundle: Path, name: str, expected: str) -> list[str]:
    try:
        actual = hash_regular(bundle / name)
    except UnreadableFile as exc:
        return [f"{name}: {exc}"]
    return [] if actual == expected else [f"{name}: modified (sha256 differs from the signed statement)"]

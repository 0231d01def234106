"""Hostile stores and bundles: `bundle` signs only artifacts whose content is their name; `verify` checks every file
is a regular file, every artifact's name, and answers any envelope or statement with one clear line, exit 1, never
a traceback or a hang (FIFO cases run under a deadline)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from click.testing import Result
from helpers import cli

from bundles.archive import write_archive
from bundles.build import ENVELOPE, STATEMENT
from bundles.signing import PAYLOAD_TYPE, envelope, key_id, load_public_key, load_signer
from bundles.statement import parse_statement, statement_bytes


@contextmanager
def deadline(seconds: float = 20) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block blocks longer than ``seconds``: SIGALRM interrupts open()."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def bundle(demo_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_dir / "bundle", tmp_path / "bundle"))


@pytest.fixture
def pubkey(demo_dir: Path) -> Path:
    return demo_dir / "keys" / "signing.pub"


def run(*args: str) -> Result:
    with deadline():
        result = cli(*args)
    assert "Traceback" not in result.output
    return result


def failures(target: Path, pubkey: Path) -> list[str]:
    """The FAIL lines of `verify`, which must exit 1."""
    result = run("verify", str(target), "--pubkey", str(pubkey))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert all(line.startswith("FAIL: ") for line in lines), result.output
    return [line.removeprefix("FAIL: ") for line in lines]


def sign(bundle: Path, demo_dir: Path, payload: bytes) -> None:
    """Make ``payload`` the bundle's statement, signed with the demo key, as a publisher (or key thief) would."""
    (bundle / STATEMENT).write_bytes(payload)
    signed = envelope(payload, [load_signer(demo_dir / "keys" / "signing.key")])
    (bundle / ENVELOPE).write_text(json.dumps(signed))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def first_artifact(bundle: Path) -> str:
    return min(p.relative_to(bundle).as_posix() for p in (bundle / "artifacts" / "sha256").iterdir())


# bundle: what is copied from the store ----------------------------------------------------------------------


@pytest.fixture
def store(demo_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the demo store and its artifacts."""
    shutil.copytree(demo_dir / "evidence.duckdb.artifacts", tmp_path / "evidence.duckdb.artifacts")
    return Path(shutil.copy(demo_dir / "evidence.duckdb", tmp_path / "evidence.duckdb"))


def store_artifact(store: Path, digest: str) -> Path:
    return store.with_name(store.name + ".artifacts") / "sha256" / digest[:2] / digest


def bundle_from(store: Path, demo_dir: Path, out: Path) -> Result:
    return run("bundle", "--out", str(out), "--store", str(store), "--key", str(demo_dir / "keys" / "signing.key"))


def appended(path: Path, tmp_path: Path) -> str:
    path.write_bytes(path.read_bytes() + b"changed after collection\n")
    return f"hashes to {sha256(path.read_bytes())}, not to its name: it was changed after collection"


def symlinked(path: Path, tmp_path: Path) -> str:
    path.rename(tmp_path / "elsewhere")
    path.symlink_to(tmp_path / "elsewhere")  # the very same bytes, but not a regular file of the store
    return "is unusable: symbolic link, not a regular file"


def fifo(path: Path, tmp_path: Path) -> str:
    path.unlink()
    os.mkfifo(path)
    return "is unusable: FIFO, not a regular file"


def directory(path: Path, tmp_path: Path) -> str:
    path.unlink()
    path.mkdir()
    return "is unusable: directory, not a regular file"


@pytest.mark.parametrize("damage", [appended, symlinked, fifo, directory], ids=lambda f: f.__name__)
def test_bundle_refuses_a_store_artifact_that_is_not_its_name(
    store: Path, demo_dir: Path, tmp_path: Path, damage: Callable[[Path, Path], str]
) -> None:
    digest = first_artifact(demo_dir / "bundle").rsplit("/", 1)[1]
    why = damage(store_artifact(store, digest), tmp_path)
    result = bundle_from(store, demo_dir, tmp_path / "out")
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith(f"error: artifact {digest} (from ") and line.endswith(f"{why}; bundle not written"), line
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out-*"))  # nothing written, nothing signed


def test_bundle_refuses_evidence_citing_a_path_as_its_artifact(store: Path, demo_dir: Path, tmp_path: Path) -> None:
    digest, path = first_artifact(demo_dir / "bundle").rsplit("/", 1)[1], "../../../../etc/passwd"
    with duckdb.connect(str(store)) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.columns JOIN information_schema.tables USING (table_name) "
            "WHERE column_name = 'artifact_sha256' AND table_type = 'BASE TABLE'"
        ).fetchall()
        for (table,) in tables:
            con.execute(f'UPDATE "{table}" SET artifact_sha256 = ? WHERE artifact_sha256 = ?', [path, digest])
    result = bundle_from(store, demo_dir, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"error: artifact_sha256 {path!r} is not a sha256 digest (64 lowercase hex digits)"
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out-*"))


def test_bundle_lists_a_cited_artifact_missing_from_the_store(
    store: Path, demo_dir: Path, tmp_path: Path, pubkey: Path
) -> None:
    digest = first_artifact(demo_dir / "bundle").rsplit("/", 1)[1]
    store_artifact(store, digest).unlink()
    result = bundle_from(store, demo_dir, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (
        "warning: 1 raw artifact(s) cited by evidence rows are not in the store; listed in artifacts/omitted.json"
        in (result.output)
    )
    omitted = json.loads((tmp_path / "out" / "artifacts" / "omitted.json").read_text())
    assert [(o["sha256"], o["size"], o["reason"]) for o in omitted] == [(digest, None, "not in the store")]
    assert not (tmp_path / "out" / "artifacts" / "sha256" / digest).exists()
    assert run("verify", str(tmp_path / "out"), "--pubkey", str(pubkey)).exit_code == 0


# verify: artifacts are their names, even under a consistent signed statement --------------------------------


@pytest.mark.parametrize("packed", [False, True], ids=["directory", "archive"])
def test_verify_refuses_an_artifact_whose_content_is_not_its_name(
    bundle: Path, demo_dir: Path, pubkey: Path, tmp_path: Path, packed: bool
) -> None:
    name = first_artifact(bundle)
    forged = b"not what was collected\n"
    (bundle / name).write_bytes(forged)
    digests, predicate = parse_statement((bundle / STATEMENT).read_bytes())
    sign(bundle, demo_dir, statement_bytes({**digests, name: sha256(forged)}, predicate))  # statement consistent
    target = bundle
    if packed:
        write_archive(bundle, target := tmp_path / "forged.tar.gz")
    assert failures(target, pubkey) == [
        f"{name}: the artifact's sha256 is {sha256(forged)} (signed), not the digest in its name"
    ]


def test_verify_refuses_an_artifact_not_named_by_a_digest(bundle: Path, demo_dir: Path, pubkey: Path) -> None:
    extra, content = "artifacts/sha256/notes.txt", b"notes\n"
    (bundle / extra).write_bytes(content)
    digests, predicate = parse_statement((bundle / STATEMENT).read_bytes())
    sign(bundle, demo_dir, statement_bytes({**digests, extra: sha256(content)}, predicate))
    assert failures(bundle, pubkey) == [
        f"{extra}: the artifact's sha256 is {sha256(content)} (signed), not the digest in its name"
    ]


# verify: regular files only ----------------------------------------------------------------------------------


def listed_fifo(bundle: Path) -> tuple[str, str]:
    (bundle / "report.md").unlink()
    os.mkfifo(bundle / "report.md")
    return "report.md", "FIFO not allowed in a bundle"


def unlisted_fifo(bundle: Path) -> tuple[str, str]:
    os.mkfifo(bundle / "evidence" / "pipe")
    return "evidence/pipe", "FIFO not allowed in a bundle"


def envelope_fifo(bundle: Path) -> tuple[str, str]:
    (bundle / ENVELOPE).unlink()
    os.mkfifo(bundle / ENVELOPE)
    return ENVELOPE, "FIFO, not a regular file"


def statement_fifo(bundle: Path) -> tuple[str, str]:
    (bundle / STATEMENT).unlink()
    os.mkfifo(bundle / STATEMENT)
    return STATEMENT, "FIFO, not a regular file"


def directory_for_file(bundle: Path) -> tuple[str, str]:
    (bundle / "claims.json").unlink()
    (bundle / "claims.json").mkdir()
    return "claims.json", "a directory where the signed statement lists a file"


def symlink_to_same_bytes(bundle: Path) -> tuple[str, str]:
    (bundle / "report.md").rename(bundle.parent / "report.md")
    (bundle / "report.md").symlink_to(bundle.parent / "report.md")
    return "report.md", "symbolic link not allowed in a bundle"


def symlink_to_device(bundle: Path) -> tuple[str, str]:
    (bundle / "report.md").unlink()
    (bundle / "report.md").symlink_to("/dev/zero")
    return "report.md", "symbolic link not allowed in a bundle"


def envelope_symlink(bundle: Path) -> tuple[str, str]:
    (bundle / ENVELOPE).rename(bundle.parent / "envelope.json")
    (bundle / ENVELOPE).symlink_to(bundle.parent / "envelope.json")
    return ENVELOPE, "symbolic link, not a regular file"


def unix_socket(bundle: Path) -> tuple[str, str]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(bundle / "sock"))
    return "sock", "socket not allowed in a bundle"


@pytest.mark.parametrize(
    "plant",
    [
        listed_fifo,
        unlisted_fifo,
        envelope_fifo,
        statement_fifo,
        directory_for_file,
        symlink_to_same_bytes,
        symlink_to_device,
        envelope_symlink,
        unix_socket,
    ],
    ids=lambda f: f.__name__,
)
def test_verify_refuses_anything_but_regular_files(
    bundle: Path, pubkey: Path, plant: Callable[[Path], tuple[str, str]]
) -> None:
    name, why = plant(bundle)
    assert failures(bundle, pubkey) == [f"{name}: {why}"]


def test_verify_refuses_a_symlinked_directory(bundle: Path, pubkey: Path) -> None:
    shutil.copytree(bundle / "packs", bundle.parent / "packs")
    shutil.rmtree(bundle / "packs")
    (bundle / "packs").symlink_to(bundle.parent / "packs")
    problems = failures(bundle, pubkey)
    assert "packs: symbolic link not allowed in a bundle" in problems
    assert all(
        p == "packs: symbolic link not allowed in a bundle" or p.endswith(": missing (listed in the signed statement)")
        for p in problems
    )


@pytest.mark.parametrize("kind", ["FIFO", "socket"])
def test_verify_refuses_a_special_file_as_bundle_or_key(bundle: Path, pubkey: Path, tmp_path: Path, kind: str) -> None:
    special = tmp_path / "special"
    if kind == "FIFO":
        os.mkfifo(special)
    else:
        socket.socket(socket.AF_UNIX).bind(str(special))
    assert failures(special, pubkey) == [f"{special}: a {kind}, not a bundle directory or .tar.gz archive"]
    result = run("verify", str(bundle), "--pubkey", str(special))
    assert result.exit_code == 2
    assert result.output.strip() == f"error: cannot read public key {special}: {kind}, not a regular file"


def test_keys_may_be_symlinks_to_regular_files(bundle: Path, demo_dir: Path, pubkey: Path, tmp_path: Path) -> None:
    """As in a mounted Kubernetes secret: the link is followed, what it leads to must be a regular file."""
    (tmp_path / "signing.pub").symlink_to(pubkey)
    (tmp_path / "signing.key").symlink_to(demo_dir / "keys" / "signing.key")
    assert run("verify", str(bundle), "--pubkey", str(tmp_path / "signing.pub")).exit_code == 0
    assert load_signer(tmp_path / "signing.key").key_id == key_id(load_public_key(pubkey))


# verify: any envelope and any statement ---------------------------------------------------------------------

GOOD = "e30="  # base64 of "{}"

ENVELOPES = {
    "array": (b"[]", "signature check failed: a JSON array, not a DSSE envelope (an object)"),
    "empty-object": (b"{}", "signature check failed: unexpected payloadType None"),
    "null": (b"null", "signature check failed: a JSON null, not a DSSE envelope (an object)"),
    "infinite-number": (b"1e999999", "signature check failed: a JSON number, not a DSSE envelope (an object)"),
    "huge-integer": (b"7" * 100_000, "signature check failed: not valid JSON ("),
    "garbage": (b"\x00\x01garbage", "signature check failed: not valid JSON ("),
    "non-utf8": (b'{"payload": "\xff\xfe"}', "signature check failed: not valid JSON ('utf-8' codec can't decode"),
    "deeply-nested": (b"[" * 200_000 + b"]" * 200_000, "signature check failed: not valid JSON (nested too deeply)"),
    "payload-type": (
        json.dumps({"payloadType": ["x"] * 1000, "payload": GOOD, "signatures": []}).encode(),
        "signature check failed: unexpected payloadType ['x', 'x', 'x', 'x', 'x', 'x', ...]",
    ),
    "payload-not-string": (
        json.dumps({"payloadType": PAYLOAD_TYPE, "payload": 12, "signatures": [{"sig": GOOD}]}).encode(),
        "signature check failed: 'payload' is not a base64 string",
    ),
    "bad-base64": (
        json.dumps({"payloadType": PAYLOAD_TYPE, "payload": "é!!", "signatures": [{"sig": GOOD}]}).encode(),
        "signature check failed: 'payload' is not valid base64",
    ),
    "signatures-object": (
        json.dumps({"payloadType": PAYLOAD_TYPE, "payload": GOOD, "signatures": {"sig": GOOD}}).encode(),
        "signature check failed: 'signatures' is not a list",
    ),
    "unsigned": (
        json.dumps({"payloadType": PAYLOAD_TYPE, "payload": GOOD, "signatures": []}).encode(),
        "signature check failed: the bundle is unsigned (no signatures in the envelope)",
    ),
    "malformed-signatures": (
        json.dumps(
            {
                "payloadType": PAYLOAD_TYPE,
                "payload": GOOD,
                "signatures": [None, 7, [], {}, {"sig": 7}, {"sig": "é"}, {"sig": "!!"}, {"sig": GOOD}],
            }
        ).encode(),
        "signature check failed: no signature verifies with key ",
    ),
}


@pytest.mark.parametrize("case", ENVELOPES)
def test_verify_answers_any_envelope_with_one_line(bundle: Path, pubkey: Path, case: str) -> None:
    content, message = ENVELOPES[case]
    (bundle / ENVELOPE).write_bytes(content)
    [problem] = failures(bundle, pubkey)
    assert problem.startswith(f"{ENVELOPE}: {message}"), problem


def test_verify_refuses_a_missing_directory_or_oversized_envelope(
    bundle: Path, pubkey: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bundles.verify.MAX_ENVELOPE_BYTES", 1000)
    assert failures(bundle, pubkey) == [f"{ENVELOPE}: larger than 1000 bytes"]
    (bundle / ENVELOPE).unlink()
    assert failures(bundle, pubkey) == [f"{ENVELOPE}: missing"]
    (bundle / ENVELOPE).mkdir()
    assert failures(bundle, pubkey) == [f"{ENVELOPE}: directory, not a regular file"]


HEADER = '{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://defensible.dev/audit-bundle/v1",'
DIGEST = "0" * 64

STATEMENTS = {
    "array": (b"[]", "a JSON array, not an in-toto statement"),
    "not-json": (b"\xff\x00\x01", "not valid JSON ("),
    "foreign": (b'{"_type": "https://in-toto.io/Statement/v1"}', "not a defensible in-toto statement"),
    "subject-object": (f'{HEADER}"subject":{{}}}}'.encode(), "'subject' must be a list and 'predicate' an object"),
    "predicate-list": (f'{HEADER}"predicate":[],"subject":[]}}'.encode(), "'subject' must be a list"),
    "subject-number": (f'{HEADER}"subject":[7]}}'.encode(), "subject 0: no safe file name"),
    "escaping-name": (
        f'{HEADER}"subject":[{{"name":"../../etc/passwd","digest":{{"sha256":"{DIGEST}"}}}}]}}'.encode(),
        "subject 0: no safe file name",
    ),
    "digest-list": (
        f'{HEADER}"subject":[{{"name":"report.md","digest":[]}}]}}'.encode(),
        "subject 'report.md': sha256 is not 64 lowercase hex digits",
    ),
    "digest-short": (
        f'{HEADER}"subject":[{{"name":"report.md","digest":{{"sha256":"abc"}}}}]}}'.encode(),
        "subject 'report.md': sha256 is not 64 lowercase hex digits",
    ),
    "listed-twice": (
        f'{HEADER}"subject":[{{"name":"a","digest":{{"sha256":"{DIGEST}"}}}},'
        f'{{"name":"a","digest":{{"sha256":"{DIGEST}"}}}}]}}'.encode(),
        "subject 'a' listed twice",
    ),
}


@pytest.mark.parametrize("case", STATEMENTS)
def test_verify_answers_any_signed_statement_with_one_line(
    bundle: Path, demo_dir: Path, pubkey: Path, case: str
) -> None:
    payload, message = STATEMENTS[case]
    sign(bundle, demo_dir, payload)
    [problem] = failures(bundle, pubkey)
    assert problem.startswith(f"{ENVELOPE}: signed payload is not a valid statement: {message}"), problem

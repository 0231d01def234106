"""The in-toto Statement v1 of a bundle, serialised one subject per line.

The layout is plain JSON, chosen so that an auditor can turn it into ``sha256sum -c`` input with ``sed``
(see docs/verify.md): every subject sits alone on a line as ``{"name":…,"digest":{"sha256":…}}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from collector.store import SHA256_HEX

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://defensible.dev/audit-bundle/v1"
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
ARTIFACTS = "artifacts/sha256/"  # a raw artifact's bundle name is this followed by its sha256


def safe_name(name: str) -> bool:
    """Whether ``name`` may name a bundle file: a relative path of safe characters, without empty, ``.`` or ``..``
    components."""
    return bool(SAFE_NAME.fullmatch(name)) and not {"", ".", ".."} & set(name.split("/"))


def statement_bytes(digests: dict[str, str], predicate: dict) -> bytes:
    for name in digests:
        if not safe_name(name):
            raise ValueError(f"unsafe bundle file name {name!r}")
    compact = {"separators": (",", ":"), "sort_keys": True}
    subjects = ",\n".join(
        json.dumps({"name": name, "digest": {"sha256": digests[name]}}, separators=(",", ":"))
        for name in sorted(digests)
    )
    return (
        f'{{"_type":"{STATEMENT_TYPE}",\n'
        f'"predicateType":"{PREDICATE_TYPE}",\n'
        f'"predicate":{json.dumps(predicate, **compact)},\n'
        f'"subject":[\n{subjects}\n]}}\n'
    ).encode()


def parse_json(data: bytes) -> Any:
    """``data`` parsed as JSON; ValueError for anything else (bad encoding, syntax, numbers, or nesting too deep)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type: object, array, string, number, boolean or null."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def parse_statement(payload: bytes) -> tuple[dict[str, str], dict]:
    """Return (name → sha256, predicate) of a statement; raise ValueError if it is not one of ours, naming what is
    wrong: every subject has a safe name, listed once, and a sha256 of 64 lowercase hex digits."""
    doc = parse_json(payload)
    if not isinstance(doc, dict):
        raise ValueError(f"a JSON {json_type(doc)}, not an in-toto statement")
    if doc.get("_type") != STATEMENT_TYPE or doc.get("predicateType") != PREDICATE_TYPE:
        raise ValueError("not a defensible in-toto statement")
    subjects, predicate = doc.get("subject", []), doc.get("predicate", {})
    if not isinstance(subjects, list) or not isinstance(predicate, dict):
        raise ValueError("'subject' must be a list and 'predicate' an object")
    digests: dict[str, str] = {}
    for index, subject in enumerate(subjects):
        name, sha256 = _subject(subject)
        if name is None or not safe_name(name):
            raise ValueError(f"subject {index}: no safe file name")
        if name in digests:
            raise ValueError(f"subject {name!r} listed twice")
        if sha256 is None or not SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"subject {name!r}: sha256 is not 64 lowercase hex digits")
        digests[name] = sha256
    return digests, predicate


def _subject(subject: Any) -> tuple[str | None, str | None]:
    """A subject's name and sha256, each None unless a string where one belongs."""
    if not isinstance(subject, dict):
        return None, None
    name, digest = subject.get("name"), subject.get("digest")
    sha256 = digest.get("sha256") if isinstance(digest, dict) else None
    return (name if isinstance(name, str) else None), (sha256 if isinstance(sha256, str) else None)

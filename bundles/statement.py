"""The in-toto Statement v1 of a bundle, serialised one subject per line.

The layout is plain JSON, chosen so that an auditor can turn it into ``sha256sum -c`` input with ``sed``
(see docs/verify.md): every subject sits alone on a line as ``{"name":…,"digest":{"sha256":…}}``.
"""

from __future__ import annotations

import json
import re

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://defensible.dev/audit-bundle/v1"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def statement_bytes(digests: dict[str, str], predicate: dict) -> bytes:
    for name in digests:
        if not SAFE_NAME.match(name) or ".." in name.split("/"):
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


def parse_statement(payload: bytes) -> tuple[dict[str, str], dict]:
    """Return (name → sha256, predicate) of a statement; raise ValueError if it is not one of ours."""
    doc = json.loads(payload)
    if doc.get("_type") != STATEMENT_TYPE or doc.get("predicateType") != PREDICATE_TYPE:
        raise ValueError("not a defensible in-toto statement")
    digests: dict[str, str] = {}
    for subject in doc.get("subject", []):
        name = subject["name"]
        if name in digests:
            raise ValueError(f"subject {name!r} listed twice")
        digests[name] = subject["digest"]["sha256"]
    return digests, doc.get("predicate", {})

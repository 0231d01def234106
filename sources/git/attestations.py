"""Attestations: human evidence kept as Markdown documents with YAML front matter in the GitOps repository.

An architecture decision record (``type: adr``) names its approver per role; a game-day or rollback-test report
(``type: game-day`` / ``rollback-test``) gives its date, scope and result. The templates and their fields are in
docs/attestations.md. The documents at the protected branch's head matching the configured globs are parsed here;
whether Git review approved them is judged by the git-changes pack, from the change that merged each one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import jsonschema

from collector.safe_yaml import InputError, TextTimesLoader, load_document
from collector.yaml_lines import line_of

DEFAULT_GLOBS = ("docs/adr/*.md", "attestations/**/*.md")
ROLES = ("platform", "security", "sre", "app-owner")
LOGIN = {"type": "string", "minLength": 1}
DATE = {"type": "string", "format": "date"}
SCHEMAS: dict[str, dict[str, Any]] = {
    "adr": {
        "type": "object",
        "required": ["type", "status", "date", "approvers"],
        "properties": {
            "type": {"const": "adr"},
            "id": {"type": ["string", "integer"]},
            "title": {"type": "string"},
            "status": {"enum": ["proposed", "accepted", "rejected", "deprecated", "superseded"]},
            "date": DATE,
            "approvers": {"type": "object", "required": list(ROLES), "additionalProperties": LOGIN},
        },
    },
    "report": {
        "type": "object",
        "required": ["type", "date", "scope", "result"],
        "properties": {
            "type": {"enum": ["game-day", "rollback-test"]},
            "id": {"type": ["string", "integer"]},
            "title": {"type": "string"},
            "date": DATE,
            "scope": {
                "type": "object",
                "required": ["clusters"],
                "properties": {
                    "clusters": {"type": "array", "minItems": 1, "items": LOGIN},
                    "services": {"type": "array", "items": LOGIN},
                },
            },
            "result": {"enum": ["pass", "fail"]},
            "follow-ups": {"type": "array", "items": {"type": "string"}},
        },
    },
}
TYPES = {"adr": "adr", "game-day": "report", "rollback-test": "report"}
UNTYPED = {"type": "object", "required": ["type"], "properties": {"type": {"enum": list(TYPES)}}}
TYPE_LINE = re.compile(r"^type:\s*[\"']?([A-Za-z_-]+)", re.MULTILINE)
KEYWORDS = ("type", "status", "result")  # read in any case: `status: Accepted` is `accepted`
SPELLINGS = {"passed": "pass", "failed": "fail"}
FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(day(value))


def day(value: str) -> str:
    """The ISO date of a date (``2026-03-01``) or a time (``2026-03-01T10:00:00Z``); ValueError if neither."""
    return (date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value).date()).isoformat()


def attestation_row(path: str, content: bytes) -> dict[str, Any]:
    """The fields of one attestation document, or ``error`` and ``error_line`` saying why it cannot be read."""
    try:
        doc = front_matter(path, content.decode("utf-8"))
    except UnicodeDecodeError:
        return {"type": None, "error": f"{path}: line 1: not UTF-8 text", "error_line": 1}
    except InputError as exc:
        declared = TYPE_LINE.search(content.decode("utf-8"))  # which claims the malformed document concerns
        kind = declared.group(1).lower().replace("_", "-") if declared else "adr"
        kind = kind if kind in TYPES else None
        return {"type": kind, "error": str(exc), "error_line": _line(str(exc))}
    root, value = doc
    if isinstance(value, dict):
        value = normalized(value)
    kind = value.get("type") if isinstance(value, dict) and isinstance(value.get("type"), str) else None
    schema = SCHEMAS[TYPES[kind]] if kind in TYPES else UNTYPED
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema, format_checker=FORMATS).iter_errors(value)
    )
    if error is not None:
        line = line_of(root, list(error.absolute_path))
        field = "/".join(map(str, error.absolute_path)) or "front matter"
        return {
            "type": kind if kind in TYPES else None,
            "error": f"{path}: line {line}: {field}: {error.message}",
            "error_line": line,
        }
    scope = value.get("scope", {})
    return {
        "type": kind,
        "id": str(value["id"]) if "id" in value else None,
        "title": value.get("title"),
        "status": value.get("status"),
        "date": day(value["date"]),
        "approvers": [{"role": role, "login": login} for role, login in value.get("approvers", {}).items()],
        "clusters": scope.get("clusters"),
        "services": scope.get("services"),
        "result": value.get("result"),
        "follow_ups": value.get("follow-ups"),
        "error": None,
        "error_line": None,
    }


def normalized(value: dict) -> dict:
    """The front matter as the schemas read it: keys (also of ``approvers`` and ``scope``) in lower case with
    hyphens (``follow_ups``, ``App_Owner``), keywords in lower case, ``passed``/``failed`` as ``pass``/``fail``,
    ``decision-date`` as ``date``, one cluster or service without a list (or key in the singular), and
    ``type: adr`` when no type is given (an ADR's template has none in many projects)."""

    def keys(mapping: Any) -> Any:
        return {_key(k): v for k, v in mapping.items()} if isinstance(mapping, dict) else mapping

    value = keys(value)
    value |= {k: keys(value[k]) for k in ("approvers", "scope") if k in value}
    value |= {k: SPELLINGS.get(v.lower(), v.lower()) for k in KEYWORDS if isinstance(v := value.get(k), str)}
    if isinstance(value.get("type"), str):
        value["type"] = value["type"].replace("_", "-")
    value.setdefault("type", "adr")
    if "date" not in value and "decision-date" in value:
        value["date"] = value.pop("decision-date")
    if isinstance(scope := value.get("scope"), dict):  # `cluster: prod-eu` is `clusters: [prod-eu]`
        scope |= {f"{k}s": scope.pop(k) for k in ("cluster", "service") if k in scope and f"{k}s" not in scope}
        scope |= {k: [v] for k, v in scope.items() if isinstance(v, str)}
    return value


def _key(key: Any) -> Any:
    return key.lower().replace("_", "-") if isinstance(key, str) else key


def front_matter(path: str, text: str) -> tuple[Any, Any]:
    """The YAML node and value between the opening ``---`` line and the next ``---`` (or ``...``) line; lines are
    counted in the whole document."""
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != "---":
        raise InputError(f"{path}: line 1: no YAML front matter (the document must start with a --- line)")
    end = next((i for i, line in enumerate(lines[1:], 1) if line.rstrip() in ("---", "...")), None)
    if end is None:
        raise InputError(f"{path}: line 1: front matter is not closed by a --- line")
    return load_document("\n" + "\n".join(lines[1:end]), path, TextTimesLoader)  # "\n": the opening line


def _line(message: str) -> int:
    return int(message.split(": line ", 1)[1].split(":", 1)[0]) if ": line " in message else 1


def listed_blobs(raw: bytes) -> Iterator[tuple[str, str]]:
    """(path, blob id) of each file added in ``git diff-tree -r -z`` output (``:old new 0… blob A\0path\0``)."""
    fields = raw.decode("utf-8", "replace").split("\0")
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if meta.startswith(":") and meta.split(" ")[1] != "160000":  # not a submodule
            yield path, meta.split(" ")[3]

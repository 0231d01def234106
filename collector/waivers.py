"""Waivers: accepted gaps, each with a justification, an approver, a ticket and an expiry.

``waivers.yaml``::

    waivers:
      - id: W-7                        # optional; default W-<position>
        claim: k8s-networking/access-restricted
        scope: {namespace: admin-console}   # gap-row column = value (glob); empty or absent: every gap row
        justification: legacy SSO decommissioned in Q1
        approver: ciso@example.gov
        ticket: SEC-1234
        expires: 2027-01-31            # date (end of day, UTC) or ISO 8601 instant

A gap row is waived by an unexpired waiver of its claim whose scope matches it; a claim whose gap rows are all
waived is ``waived``. An expired waiver waives nothing and is reported, as is a waiver that matched no gap row.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from collector.safe_yaml import InputError, load_document
from collector.yaml_lines import line_of

WAIVER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["waivers"],
    "additionalProperties": False,
    "properties": {
        "waivers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["claim", "justification", "approver", "ticket", "expires"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "claim": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*$"},
                    "scope": {"type": ["object", "null"], "additionalProperties": {"type": ["string", "number"]}},
                    "justification": {"type": "string", "minLength": 1},
                    "approver": {"type": "string", "minLength": 1},
                    "ticket": {"type": "string", "minLength": 1},
                    "expires": {},  # a date or instant, checked by expiry() (YAML may have decoded it already)
                },
            },
        }
    },
}


class WaiverError(Exception):
    """The waivers file is malformed; the message names the file, the waiver and the line."""


@dataclass(frozen=True)
class Waiver:
    id: str
    claim: str  # pack/claim
    scope: tuple[tuple[str, str], ...]
    justification: str
    approver: str
    ticket: str
    expires: datetime
    line: int  # in the waivers file

    def active(self, at: datetime) -> bool:
        return at < self.expires

    def matches(self, row: dict[str, Any]) -> bool:
        return scope_matches(dict(self.scope), row)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "claim": self.claim,
            "scope": dict(self.scope),
            "justification": self.justification,
            "approver": self.approver,
            "ticket": self.ticket,
            "expires": self.expires.isoformat(),
        }


def scope_matches(scope: dict[str, Any], row: dict[str, Any]) -> bool:
    """Whether every ``column: glob`` of a waiver's scope matches the gap row (an empty scope matches all)."""
    return all(
        column in row and row[column] is not None and fnmatch.fnmatchcase(str(row[column]), str(pattern))
        for column, pattern in scope.items()
    )


def load_waivers(path: Path) -> tuple[list[Waiver], bytes]:
    """The waivers of ``path`` and the file's bytes (shipped in the bundle as read)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WaiverError(f"cannot read waivers file {path}: {exc.strerror}") from None
    try:
        node, doc = load_document(raw.decode("utf-8"), str(path))
    except UnicodeDecodeError as exc:
        raise WaiverError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except InputError as exc:
        raise WaiverError(str(exc)) from None
    errors = sorted(jsonschema.Draft202012Validator(WAIVER_SCHEMA).iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        where = list(errors[0].absolute_path)
        raise WaiverError(f"{path}: {locate(node, where)}: {errors[0].message}")
    waivers, seen = [], set()
    for i, item in enumerate(doc["waivers"]):
        where = locate(node, ["waivers", i])
        waiver_id = item.get("id") or f"W-{i + 1}"
        if waiver_id in seen:
            raise WaiverError(f"{path}: {where}: waiver id {waiver_id!r} is used twice")
        seen.add(waiver_id)
        scope = tuple(sorted((str(k), str(v)) for k, v in (item.get("scope") or {}).items()))
        waivers.append(
            Waiver(
                waiver_id,
                item["claim"],
                scope,
                item["justification"].strip(),
                item["approver"],
                item["ticket"],
                expiry(item["expires"], f"{path}: {where}"),
                line_of(node, ["waivers", i]),
            )
        )
    return waivers, raw


def expiry(value: Any, where: str) -> datetime:
    """A date expires at the end of that day (UTC); an instant without zone is UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1), time(), UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise WaiverError(f"{where}: expires {value!r} is not a date (YYYY-MM-DD) or ISO 8601 instant") from None
    if len(str(value)) == 10:
        return datetime.combine(parsed.date() + timedelta(days=1), time(), UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def locate(root: yaml.Node | None, path: list[Any]) -> str:
    """``waiver 2 (line 14)`` or ``line 3`` for a path into the document."""
    line = line_of(root, path)
    if len(path) >= 2 and path[0] == "waivers":
        return f"waiver {path[1] + 1} (line {line})" + (f" field {'/'.join(map(str, path[2:]))}" if path[2:] else "")
    return f"line {line}"

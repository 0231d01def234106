"""``defensible diff``: what changed between two verified bundles, as JSON and Markdown.

Both bundles are verified first (with any of the given public keys); only then are their files read. Rows are
compared by identity: the row without its provenance columns and ``location`` (a path or URL that changes between
collections). Gap rows are compared for claims present in both bundles, whether waived or not: a row that stays but
loses its waiver is not an opened gap; it is listed as *reopened* under the waiver that expired.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bundles.archive import ArchiveError, extract_archive
from bundles.build import ENVELOPE
from bundles.verify import Verification, verify_bundle
from collector.claims import VERDICTS
from collector.waivers import scope_matches

IGNORED_COLUMNS = frozenset({"source", "run_id", "artifact_sha256", "collected_at", "location"})
HOLDING = frozenset({"satisfied", "waived"})  # verdicts a claim may not leave without a regression
INVENTORY_TITLES = {
    "k8s-networking/public-routes": "Public routes",
    "k8s-networking/regulated-scope": "Regulated scope",
    "logs/log-retention": "Log retention",
    "platform/cluster-network": "Cluster network",
    "platform/external-dns-dependencies": "External DNS dependencies",
    "platform/multicluster-services": "Multi-cluster Services",
}
OBJECT_COLUMNS = ("object", "commit")  # how a gap row is named in Markdown, first present wins
FINDING_COLUMNS = ("finding", "reason")

Row = dict[str, Any]


class DiffError(Exception):
    """A verified bundle cannot be read for comparison."""


class BundlesRejected(DiffError):
    """One or both bundles failed verification: ``refused`` holds (bundle, problems) for each."""

    def __init__(self, refused: list[tuple[Path, list[str]]]) -> None:
        self.refused = refused
        super().__init__("; ".join(f"{path}: {'; '.join(problems)}" for path, problems in refused))


@dataclass(frozen=True)
class ClaimState:
    title: str
    verdict: str
    gaps: tuple[Row, ...]  # gap rows as in the bundle
    waived: frozenset[int]  # indices into gaps


@dataclass(frozen=True)
class Bundle:
    """What the diff reads from one verified bundle."""

    path: str
    as_of: str
    scope: dict | None
    signed_by: tuple[str, ...]  # key ids of the envelope's signatures
    verified_with: str
    packs: dict[str, dict]  # id -> {"version", "digest"}
    claims: dict[str, ClaimState]  # "pack/claim" -> state
    inventories: dict[str, tuple[Row, ...]]
    waivers: dict[str, dict]  # id -> entry of claims.json's `waivers`


def diff_bundles(old: Path, new: Path, pubkeys: Sequence[Path]) -> Diff:
    """Verify both bundles (directory or ``.tar.gz``), then compare them; raise BundlesRejected if either fails."""
    loaded, refused = [], []
    for path in (old, new):
        try:
            loaded.append(load_verified(path, pubkeys))
        except BundlesRejected as exc:
            refused += exc.refused
    if refused:
        raise BundlesRejected(refused)
    return compare(*loaded)


def load_verified(path: Path, pubkeys: Sequence[Path]) -> Bundle:
    """Read a bundle once it verifies with one of ``pubkeys``; an archive is extracted, verified and read in place."""
    if not path.is_file():
        return _verified(path, path, pubkeys)
    with tempfile.TemporaryDirectory(prefix="defensible-diff-") as tmp:
        try:
            root = extract_archive(path, Path(tmp))
        except ArchiveError as exc:
            raise BundlesRejected([(path, [str(exc)])]) from None
        return _verified(path, root, pubkeys)


def _verified(path: Path, root: Path, pubkeys: Sequence[Path]) -> Bundle:
    results = [verify_bundle(root, key) for key in pubkeys]
    good = next((r for r in results if r.ok), None)
    if good is None:
        raise BundlesRejected([(path, _problems(results))])
    return read_bundle(path, root, good.key_id)


def _problems(results: list[Verification]) -> list[str]:
    """The problems to show: those under a key whose signature held (files changed), else every key's."""
    signed = [r for r in results if not any(p.startswith(f"{ENVELOPE}: signature check failed") for p in r.problems)]
    return list(dict.fromkeys(p for r in (signed or results) for p in r.problems))


def read_bundle(path: Path, root: Path, verified_with: str) -> Bundle:
    """The parts of a (verified) bundle directory the diff compares."""
    doc = _read_json(path, root, "claims.json")
    envelope = _read_json(path, root, ENVELOPE)
    try:
        claims = {
            f"{pack['id']}/{claim['id']}": ClaimState(
                claim["title"],
                claim["verdict"],
                tuple(_read_json(path, root, claim["files"]["gaps_json"])),
                frozenset(claim.get("waived_rows", [])),
            )
            for pack in doc["packs"]
            for claim in pack["claims"]
        }
        return Bundle(
            path=str(path),
            as_of=doc["as_of"],
            scope=doc.get("scope"),
            signed_by=tuple(s.get("keyid", "") for s in envelope.get("signatures", [])),
            verified_with=verified_with,
            packs={p["id"]: {"version": p.get("version"), "digest": p.get("digest")} for p in doc["packs"]},
            claims=claims,
            inventories={
                name: tuple(_read_json(path, root, file)) for name, file in (doc.get("inventories") or {}).items()
            },
            waivers={w["id"]: w for w in doc.get("waivers") or []},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise DiffError(f"{path}: claims.json: unexpected structure ({exc!r})") from None


def _read_json(path: Path, root: Path, name: str) -> Any:
    target = (root / name).resolve()
    if not target.is_relative_to(root.resolve()):
        raise DiffError(f"{path}: {name}: outside the bundle")
    try:
        return json.loads(target.read_bytes())
    except (OSError, ValueError) as exc:
        raise DiffError(f"{path}: {name}: cannot read: {exc}") from None


def identity(row: Row) -> Row:
    """The row as compared across bundles: without provenance columns and ``location``."""
    return {k: v for k, v in row.items() if k not in IGNORED_COLUMNS}


def _key(row: Row) -> str:
    return json.dumps(identity(row), sort_keys=True, ensure_ascii=False)


def changed_rows(old: Iterable[Row], new: Iterable[Row]) -> tuple[list[Row], list[Row]]:
    """(added, removed) identity rows, counted as multisets, sorted by identity."""
    before, after = Counter(map(_key, old)), Counter(map(_key, new))

    def rows(counts: Counter[str]) -> list[Row]:
        return [json.loads(k) for k in sorted(counts.elements())]

    return rows(after - before), rows(before - after)


@dataclass
class Diff:
    old: Bundle
    new: Bundle
    verdict_changes: list[dict] = field(default_factory=list)  # {claim, title, old, new}
    claims_added: list[dict] = field(default_factory=list)  # {claim, title, verdict, gap_rows}
    claims_removed: list[dict] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)  # {claim, opened, closed}, claims with changes only
    inventories: dict[str, dict] = field(default_factory=dict)  # name -> {title, added, removed}
    waivers_expired: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[str]:
        """A claim that held (satisfied or waived) and no longer does, and every gap row opened."""
        found = [
            f"{v['claim']}: {v['old']} → {v['new']}"
            for v in self.verdict_changes
            if v["old"] in HOLDING and v["new"] not in HOLDING
        ]
        return found + [f"{g['claim']}: gap opened: {_label(row)}" for g in self.gaps for row in g["opened"]]

    def summary(self) -> dict[str, int]:
        return {
            "verdict_changes": len(self.verdict_changes),
            "claims_added": len(self.claims_added),
            "claims_removed": len(self.claims_removed),
            "gaps_opened": sum(len(g["opened"]) for g in self.gaps),
            "gaps_closed": sum(len(g["closed"]) for g in self.gaps),
            "inventory_rows_added": sum(len(i["added"]) for i in self.inventories.values()),
            "inventory_rows_removed": sum(len(i["removed"]) for i in self.inventories.values()),
            "waivers_expired": len(self.waivers_expired),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": _header(self.old),
            "new": _header(self.new),
            "warnings": self.warnings,
            "summary": self.summary(),
            "regressions": self.regressions,
            "verdict_changes": self.verdict_changes,
            "claims_added": self.claims_added,
            "claims_removed": self.claims_removed,
            "gaps": self.gaps,
            "inventories": self.inventories,
            "waivers_expired": self.waivers_expired,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        return render_markdown(self)


def compare(old: Bundle, new: Bundle) -> Diff:
    """Everything that changed from ``old`` to ``new``."""
    diff = Diff(old, new, warnings=_warnings(old, new))
    for claim in sorted(old.claims.keys() | new.claims.keys()):
        before, after = old.claims.get(claim), new.claims.get(claim)
        if before is None or after is None:
            state = before or after
            assert state is not None
            entry = {"claim": claim, "title": state.title, "verdict": state.verdict, "gap_rows": len(state.gaps)}
            (diff.claims_added if after else diff.claims_removed).append(entry)
            continue
        if before.verdict != after.verdict:
            diff.verdict_changes.append(
                {"claim": claim, "title": after.title, "old": before.verdict, "new": after.verdict}
            )
        opened, closed = changed_rows(before.gaps, after.gaps)
        if opened or closed:
            diff.gaps.append({"claim": claim, "opened": opened, "closed": closed})
    for name in sorted(old.inventories.keys() & new.inventories.keys()):
        added, removed = changed_rows(old.inventories[name], new.inventories[name])
        diff.inventories[name] = {"title": inventory_title(name), "added": added, "removed": removed}
    diff.waivers_expired = expired_waivers(old, new)
    return diff


def expired_waivers(old: Bundle, new: Bundle) -> list[dict]:
    """Waivers expired in ``new`` that were not expired (or absent) in ``old``, each with the gap rows it reopened:
    if it was applied in ``old``, the rows of its claim waived in ``old``, within its scope and open in ``new``."""
    found = []
    for waiver_id, waiver in sorted(new.waivers.items()):
        before = old.waivers.get(waiver_id)
        if waiver.get("status") != "expired" or (before and before.get("status") == "expired"):
            continue
        claim = waiver.get("claim", "")
        reopened: list[Row] = []
        if before and before.get("status") == "applied" and claim in old.claims and claim in new.claims:
            was_waived = {_key(r) for i, r in enumerate(old.claims[claim].gaps) if i in old.claims[claim].waived}
            now = new.claims[claim]
            reopened = sorted(
                (
                    identity(r)
                    for i, r in enumerate(now.gaps)
                    if i not in now.waived and _key(r) in was_waived and scope_matches(waiver.get("scope") or {}, r)
                ),
                key=_key,
            )
        found.append(
            {
                "id": waiver_id,
                "claim": claim,
                "scope": waiver.get("scope") or {},
                "approver": waiver.get("approver"),
                "ticket": waiver.get("ticket"),
                "expires": waiver.get("expires"),
                "old_status": before.get("status") if before else None,
                "reopened": reopened,
            }
        )
    return found


def inventory_title(name: str) -> str:
    return INVENTORY_TITLES.get(name, f"Inventory {name}")


def _warnings(old: Bundle, new: Bundle) -> list[str]:
    found = []
    if old.scope != new.scope:
        found.append(
            f"scopes differ (OLD: {describe_scope(old.scope)}; NEW: {describe_scope(new.scope)}): "
            "rows outside the narrower scope show as changes"
        )
    if _earlier(new.as_of, old.as_of):
        found.append(f"NEW is judged earlier ({new.as_of}) than OLD ({old.as_of}): are the bundles swapped?")
    for pack in sorted(old.packs.keys() & new.packs.keys()):
        if old.packs[pack]["digest"] != new.packs[pack]["digest"]:
            was, now = old.packs[pack]["version"], new.packs[pack]["version"]
            found.append(f"pack {pack} changed (version {was} → {now}): its queries differ, so may its rows")
    for name in sorted(old.inventories.keys() ^ new.inventories.keys()):
        found.append(f"inventory {name} is only in {'OLD' if name in old.inventories else 'NEW'}: not compared")
    return found


def _earlier(first: str, second: str) -> bool:
    try:
        return datetime.fromisoformat(first) < datetime.fromisoformat(second)
    except (TypeError, ValueError):
        return False  # not instants: nothing to warn about


def describe_scope(scope: dict | None) -> str:
    parts = [f"{k}={v}" for k, v in (scope or {}).items() if v is not None]
    return ", ".join(parts) if parts else "whole store"


def _verdict_counts(bundle: Bundle) -> dict[str, int]:
    counts = Counter(c.verdict for c in bundle.claims.values())
    return {v: counts[v] for v in (*VERDICTS, *sorted(set(counts) - set(VERDICTS))) if counts[v]}


def _header(bundle: Bundle) -> dict[str, Any]:
    return {
        "bundle": bundle.path,
        "as_of": bundle.as_of,
        "scope": bundle.scope,
        "signed_by": list(bundle.signed_by),
        "verified_with": bundle.verified_with,
        "verdicts": _verdict_counts(bundle),
    }


def _label(row: Row) -> str:
    name = next((row[c] for c in OBJECT_COLUMNS if row.get(c) is not None), None)
    return str(name) if name is not None else ", ".join(f"{k}={_text(v)}" for k, v in row.items())


def _finding(row: Row) -> str:
    return next((str(row[c]) for c in FINDING_COLUMNS if row.get(c) is not None), "")


def _text(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _cell(value: Any) -> str:
    return _text(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


NO_CHANGES = ["No changes."]


def render_markdown(diff: Diff) -> str:
    """Short sections with tables; "No changes." under a section with nothing to report."""
    old, new = diff.old, diff.new
    counts = {b.path: ", ".join(f"{n} {v}" for v, n in _verdict_counts(b).items()) for b in (old, new)}
    out = ["# Defensibility diff", ""]
    out += _table(
        ["", "OLD", "NEW"],
        [
            ["bundle", old.path, new.path],
            ["as of", old.as_of, new.as_of],
            ["scope", describe_scope(old.scope), describe_scope(new.scope)],
            ["signed by", ", ".join(old.signed_by), ", ".join(new.signed_by)],
            ["verified with", old.verified_with, new.verified_with],
            ["verdicts", counts[old.path], counts[new.path]],
        ],
    )
    out.append("")
    for warning in diff.warnings:
        out += [f"> **Warning:** {warning}", ""]
    regressions = diff.regressions
    out.append(f"**Regressions:** {len(regressions)}." if regressions else "**Regressions:** none.")
    out += [f"- {r}" for r in regressions]

    out += ["", "## Verdicts", ""]
    verdicts = [[v["claim"], v["old"], v["new"]] for v in diff.verdict_changes]
    verdicts += [[c["claim"], "(absent)", c["verdict"]] for c in diff.claims_added]
    verdicts += [[c["claim"], c["verdict"], "(absent)"] for c in diff.claims_removed]
    out += _table(["claim", "OLD", "NEW"], verdicts) if verdicts else NO_CHANGES

    for kind in ("opened", "closed"):
        rows = [[g["claim"], _label(r), _finding(r)] for g in diff.gaps for r in g[kind]]
        out += ["", f"## Gaps {kind}", ""]
        out += _table(["claim", "object", "finding"], rows) if rows else NO_CHANGES

    for inventory in diff.inventories.values():
        out += ["", f"## {inventory['title']}", ""]
        changes = [("added", r) for r in inventory["added"]] + [("removed", r) for r in inventory["removed"]]
        columns = list(dict.fromkeys(k for _, r in changes for k in r))
        out += (
            _table(["change", *columns], [[c, *(r.get(k) for k in columns)] for c, r in changes])
            if changes
            else NO_CHANGES
        )

    out += ["", "## Waivers expired", ""]
    waivers = [
        [
            w["id"],
            w["claim"],
            w["approver"],
            w["ticket"],
            w["expires"],
            w["old_status"] or "(absent)",
            "; ".join(_label(r) for r in w["reopened"]) or "—",
        ]
        for w in diff.waivers_expired
    ]
    header = ["waiver", "claim", "approver", "ticket", "expires", "OLD status", "gap rows reopened"]
    out += _table(header, waivers) if waivers else NO_CHANGES
    return "\n".join(out) + "\n"

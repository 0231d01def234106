"""The architecture-review framework: its audit questions answered from claim results, and its coverage.

``framework.yaml`` lists the auditor's questions and the framework's checklist and evidence items, each with the
claims that evidence it, an attestation (human evidence), or why it is not covered. The launch gate's items come
from ``collector.scorecard.GATE_ITEMS`` and the scorecard's areas from the packs' ``areas:`` tags.

python -m collector.framework > docs/coverage.md
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from collector.claims import AREAS, ClaimResult, Pack, builtin_pack_dirs, load_pack
from collector.safe_yaml import load
from collector.scorecard import GATE_ITEMS, HOLDS, JUDGED

MAX_ANSWER_ROWS = 20  # rows of each claim shown with an answer; every row is in the claim's evidence files


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    claims: tuple[str, ...]
    provide: str  # what would evidence the answer when nothing does


@dataclass(frozen=True)
class Item:
    id: str
    kind: str  # checklist | evidence
    area: str
    text: str
    claims: tuple[str, ...] = ()
    attestation: str = ""  # an attestation type of the git source (docs/attestations.md)
    not_covered: str = ""
    blind_spots: str = ""


@cache
def framework() -> tuple[tuple[Question, ...], tuple[Item, ...]]:
    doc = load(files("collector").joinpath("framework.yaml").read_text(), "collector/framework.yaml")
    questions = tuple(Question(**{**q, "claims": tuple(q["claims"])}) for q in doc["questions"])
    items = tuple(Item(**{**i, "claims": tuple(i.get("claims", ()))}) for i in doc["items"])
    return questions, items


def answer_questions(results: list[tuple[str, ClaimResult]], rows: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """Each audit question with the claims behind its answer (verdict, reason, rows and their files) and a status:
    ``answered`` (every claim holds), ``answered-with-gaps`` (one is a gap or stale), ``partly-answered`` (those
    judged hold, others lack evidence) or ``no-evidence``; the last two say what would provide the answer.
    ``rows`` are the bundle's evidence files' rows by path; a claim not evaluated (its pack not selected, or off)
    is listed as such."""
    by_id = {f"{pack_id}/{r.claim.id}": (pack_id, r) for pack_id, r in results}
    answers = []
    for q in framework()[0]:
        claims = [_claim_answer(ref, by_id.get(ref), rows) for ref in q.claims]
        judged = [c for c in claims if c["verdict"] in JUDGED]
        if not judged:
            status = "no-evidence"
        elif any(c["verdict"] not in HOLDS for c in judged):
            status = "answered-with-gaps"
        elif len(judged) < len(claims):
            status = "partly-answered"
        else:
            status = "answered"
        answer = {"id": q.id, "question": q.question, "status": status, "claims": claims}
        if status in ("no-evidence", "partly-answered"):
            answer["provide"] = q.provide
        answers.append(answer)
    return answers


def _claim_answer(ref: str, found: tuple[str, ClaimResult] | None, rows: dict[str, list[dict]]) -> dict[str, Any]:
    if found is None:
        return {"claim": ref, "verdict": "not-evaluated", "reason": "its pack was not evaluated or the claim is off"}
    pack_id, r = found
    entry: dict[str, Any] = {"claim": ref, "title": r.claim.title, "verdict": r.verdict, "reason": r.reason}
    for kind in ("evidence", "gaps"):
        path = f"evidence/{pack_id}/{r.claim.id}/{kind}.json"
        found_rows = rows.get(path, [])
        entry[kind] = {"file": path, "total": len(found_rows), "rows": found_rows[:MAX_ANSWER_ROWS]}
    return entry


def coverage_markdown(packs: list[Pack]) -> str:
    """docs/coverage.md: every framework item with its claims, attestation or why it is not covered."""
    claims = {f"{p.id}/{c.id}": c for p in packs for c in p.claims}
    questions, items = framework()
    out = [COVERAGE_HEADER]
    out.append("\n## Audit questions\n\n| question | answered by | when nothing answers it |\n|---|---|---|\n")
    out += [f"| {q.question} | {_claim_links(q.claims, claims)} | {q.provide} |\n" for q in questions]
    out.append("\n## Launch gate\n\n| item | claims |\n|---|---|\n")
    out += [f"| {g.title} | {_claim_links(g.claims, claims)} |\n" for g in GATE_ITEMS]
    out.append("\n## Scorecard areas\n\n| area | claims tagged with it |\n|---|---|\n")
    for area in AREAS:
        tagged = tuple(ref for ref, c in claims.items() if area in c.areas)
        out.append(f"| {area} | {_claim_links(tagged, claims) if tagged else 'none: not assessed'} |\n")
    for area in AREAS:
        area_items = [i for i in items if i.area == area]
        if not area_items:
            continue
        out.append(f"\n## {area}\n\n| item | kind | evidenced by | blind spots |\n|---|---|---|---|\n")
        for i in area_items:
            out.append(f"| {i.text} | {i.kind} | {_evidenced_by(i, claims)} | {_blind_spots(i, claims)} |\n")
    return "".join(out)


def _evidenced_by(item: Item, claims: dict) -> str:
    parts = []
    if item.claims:
        parts.append(_claim_links(item.claims, claims))
    if item.attestation:
        parts.append(f"human evidence (attestation `type: {item.attestation}`)")
    if item.not_covered:
        parts.append(f"not covered: {item.not_covered}")
    return "; ".join(parts)


def _blind_spots(item: Item, claims: dict) -> str:
    spots = [item.blind_spots] if item.blind_spots else []
    spots += [f"`{ref}`: {' '.join(claims[ref].blind_spots.split())}" for ref in item.claims if claims[ref].blind_spots]
    return "<br>".join(spots) or "—"


def _claim_links(refs: tuple[str, ...], claims: dict) -> str:
    return ", ".join(f"[`{ref}`](claims.md#{_anchor(ref, claims[ref].title)})" for ref in refs)


def _anchor(ref: str, title: str) -> str:
    """GitHub's heading anchor of the catalogue's ``### `pack/claim`: Title``."""
    text = f"{ref}: {title}".lower()
    return "".join(ch for ch in text.replace(" ", "-") if ch.isalnum() or ch in "-_")


COVERAGE_HEADER = """# Framework coverage

Generated by `python -m collector.framework > docs/coverage.md` from `collector/framework.yaml` and the built-in
packs; a test checks it is current. Every audit question, launch-gate item, scorecard area and checklist or
evidence item of the architecture-review framework, with the claims that evidence it, the human evidence
(attestation) it needs, or why machine data does not cover it. A claim's own blind spots are in
[claims.md](claims.md).
"""


def builtin_coverage() -> str:
    return coverage_markdown([load_pack(path) for path in builtin_pack_dirs().values()])


if __name__ == "__main__":
    print(builtin_coverage(), end="")

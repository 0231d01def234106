"""The launch scorecard: each area of the platform scored 0 to 3 from the claims that assess it.

- 3: every claim of the area is satisfied or waived;
- 2: some are satisfied or waived, others are gaps, stale or lack evidence;
- 1: the area has evidence, but no claim of it holds (gaps or stale evidence only);
- 0: no claim assesses the area, or none has evidence.

A 0 in an area of ``GATE_AREAS`` fails the launch gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.claims import AREAS, ClaimResult

GATE_AREAS = ("tls-identity", "egress", "observability")
HOLDS = frozenset({"satisfied", "waived"})
JUDGED = HOLDS | {"gap", "stale"}


@dataclass(frozen=True)
class AreaScore:
    area: str
    score: int
    claims: tuple[str, ...]  # pack/claim: verdict
    gate: bool  # a 0 here fails the launch gate

    @property
    def fails_gate(self) -> bool:
        return self.gate and self.score == 0


def scorecard(results: list[tuple[str, ClaimResult]]) -> list[AreaScore]:
    scores = []
    for area in AREAS:
        mine = [(pack, r) for pack, r in results if area in r.claim.areas]
        verdicts = [r.verdict for _, r in mine]
        if not any(v in JUDGED for v in verdicts):
            score = 0
        elif all(v in HOLDS for v in verdicts):
            score = 3
        elif any(v in HOLDS for v in verdicts):
            score = 2
        else:
            score = 1
        named = tuple(f"{pack}/{r.claim.id}: {r.verdict}" for pack, r in mine)
        scores.append(AreaScore(area, score, named, area in GATE_AREAS))
    return scores


def launch_gate(scores: list[AreaScore]) -> list[str]:
    """The gate areas scored 0 (empty: the gate passes)."""
    return [s.area for s in scores if s.fails_gate]

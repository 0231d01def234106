"""The launch scorecard and the launch gate.

Each area of the platform is scored 0 to 3 by the framework's rubric, from the claims tagged with it
(``areas:`` in pack.yaml):

- 3 production-ready (tested, observable, owned): every claim of the area is satisfied;
- 2 defined and partly automated: some claims hold, others do not, or one holds only by a waiver (a waived gap is
  accepted risk, not readiness: waivers cap an area at 2);
- 1 manual or fragile: the area has evidence, but no claim of it holds (gaps or stale evidence only);
- 0 absent or unknown: the area's claims have no evidence (or failed); and 0 "not assessed" when no claim is tagged
  with the area, shown apart from a failed area. A 0 in an area of ``DESIGN_AREAS`` flags the design.

The total is the sum over all areas out of 3 per area (areas not assessed count 0), and its band reads it
(``BANDS``). The launch gate is the framework's nine must-pass items (``GATE_ITEMS``), each evidenced by claims: an
item passes only when every claim mapped to it is satisfied; a claim that is a gap, stale, without evidence, in
error or not evaluated blocks the launch. Waived claims let the gate pass "with waivers", listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.claims import AREAS, ClaimResult

DESIGN_AREAS = ("tls-identity", "egress", "observability")
HOLDS = frozenset({"satisfied", "waived"})
JUDGED = HOLDS | {"gap", "stale"}
RATINGS = {
    3: "production-ready",
    2: "defined, partly automated",
    1: "manual or fragile",
    0: "absent or unknown",
}
NOT_ASSESSED = "not assessed"
BANDS = ((85, "production-ready"), (60, "conditionally ready"), (0, "not ready"))  # least percentage of the total


@dataclass(frozen=True)
class GateItem:
    id: str
    title: str
    claims: tuple[str, ...]  # pack/claim ids that evidence it


GATE_ITEMS = (
    GateItem(
        "public-routes-reviewed",
        "Public route inventory reviewed",
        ("k8s-networking/public-exposure-controlled", "git-changes/changes-reviewed"),
    ),
    GateItem("tls-chain-validated", "TLS chain validated", ("certificates/certificates-valid",)),
    GateItem("mtls-regulated-path", "mTLS on the regulated path", ("k8s-networking/traffic-encrypted",)),
    GateItem(
        "egress-allowlist-approved",
        "Egress allowlist approved",
        ("logs/egress-controlled", "git-changes/egress-allowlist-approved"),
    ),
    GateItem("deny-logs-visible", "Deny logs visible", ("logs/policy-denies-visible", "logs/logs-retained")),
    GateItem(
        "route-backend-telemetry",
        "Route and backend telemetry present",
        ("logs/incidents-traceable", "logs/logs-retained"),
    ),
    GateItem("failover-game-day", "Failover game day completed", ("git-changes/failover-game-day-completed",)),
    GateItem("emergency-rollback-tested", "Emergency rollback tested", ("git-changes/emergency-rollback-tested",)),
    GateItem(
        "adr-approved",
        "ADR approved by platform, security, SRE and the application owner",
        ("git-changes/adr-approved",),
    ),
)


@dataclass(frozen=True)
class AreaScore:
    area: str
    score: int
    claims: tuple[str, ...]  # pack/claim: verdict
    design: bool  # a 0 here flags the design

    @property
    def assessed(self) -> bool:
        return bool(self.claims)

    @property
    def rating(self) -> str:
        return RATINGS[self.score] if self.assessed else NOT_ASSESSED

    @property
    def flags_design(self) -> bool:
        return self.design and self.score == 0


def scorecard(results: list[tuple[str, ClaimResult]]) -> list[AreaScore]:
    scores = []
    for area in AREAS:
        mine = [(pack, r) for pack, r in results if area in r.claim.areas]
        verdicts = [r.verdict for _, r in mine]
        if not any(v in JUDGED for v in verdicts):
            score = 0
        elif all(v == "satisfied" for v in verdicts):
            score = 3
        elif any(v in HOLDS for v in verdicts):
            score = 2
        else:
            score = 1
        named = tuple(f"{pack}/{r.claim.id}: {r.verdict}" for pack, r in mine)
        scores.append(AreaScore(area, score, named, area in DESIGN_AREAS))
    return scores


def band(percent: float) -> str:
    return next(name for least, name in BANDS if percent >= least)


def launch_gate(results: list[tuple[str, ClaimResult]], items: tuple[GateItem, ...] | None = None) -> dict:
    """The gate over ``items`` (default: ``GATE_ITEMS``): ``status`` passed, "passed with waivers" or failed; each
    item's status (passed, waived, no-evidence: its claims lack evidence or were not evaluated, blocked) and why;
    the blocking items and the waived ones."""
    items = GATE_ITEMS if items is None else items
    verdicts = {f"{pack}/{r.claim.id}": r.verdict for pack, r in results}
    judged = []
    for item in items:
        mine = {c: verdicts.get(c, "not evaluated") for c in item.claims}
        failing = {c: v for c, v in mine.items() if v not in HOLDS}
        if failing:
            absent = all(v in ("no-evidence", "not evaluated") for v in failing.values())
            status, shown = ("no-evidence" if absent else "blocked"), failing
        else:
            status, shown = ("waived" if "waived" in mine.values() else "passed"), mine
        why = "; ".join(f"{c}: {v}" for c, v in shown.items())
        judged.append({"item": item.id, "title": item.title, "claims": list(item.claims), "status": status, "why": why})
    blocking = [j["item"] for j in judged if j["status"] not in ("passed", "waived")]
    waived = [j["item"] for j in judged if j["status"] == "waived"]
    status = "failed" if blocking else "passed with waivers" if waived else "passed"
    return {"status": status, "passed": not blocking, "blocking": blocking, "waived": waived, "items": judged}


def scorecard_document(results: list[tuple[str, ClaimResult]]) -> dict[str, Any]:
    """The scorecard (areas, total and band, design flags) and the launch gate, as bundles and the CLI show them."""
    scores = scorecard(results)
    total, most = sum(s.score for s in scores), 3 * len(scores)
    percent = 100 * total // most  # rounded down: 84.9% is not 85%
    return {
        "areas": [
            {
                "area": s.area,
                "score": s.score,
                "rating": s.rating,
                "assessed": s.assessed,
                "design": s.design,
                "claims": list(s.claims),
            }
            for s in scores
        ],
        "total": {"score": total, "max": most, "percent": percent, "band": band(percent)},
        "bands": [{"from_percent": least, "band": name} for least, name in BANDS],
        "design_flags": [s.area for s in scores if s.flags_design],
        "design_areas": list(DESIGN_AREAS),
        "launch_gate": launch_gate(results),
    }

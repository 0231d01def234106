"""The launch scorecard and the launch gate.

Each area of the platform is scored 0 to 3 from the claims that assess it:

- 3: every claim of the area is satisfied or waived;
- 2: some are satisfied or waived, others are gaps, stale or lack evidence;
- 1: the area has evidence, but no claim of it holds (gaps or stale evidence only);
- 0: no claim assesses the area, or none has evidence. A 0 in an area of ``DESIGN_AREAS`` flags the design.

The launch gate is the framework's must-pass items (``GATE_ITEMS``), each evidenced by claims: an item passes only
when every claim mapped to it holds; one that is a gap, stale, without evidence, in error or not evaluated blocks
the launch, and so does an item no claim can evidence yet (the human attestations: game day, rollback test, ADR).
Waived claims let the gate pass "with waivers", listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.claims import AREAS, ClaimResult

DESIGN_AREAS = ("tls-identity", "egress", "observability")
HOLDS = frozenset({"satisfied", "waived"})
JUDGED = HOLDS | {"gap", "stale"}
ATTESTATION = "needs an approved attestation in the GitOps repository; attestations are not collected yet"


@dataclass(frozen=True)
class GateItem:
    id: str
    title: str
    claims: tuple[str, ...]  # pack/claim ids that evidence it; none: only a human attestation can


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
    GateItem("failover-game-day", "Failover game day completed", ()),
    GateItem("emergency-rollback-tested", "Emergency rollback tested", ()),
    GateItem("adr-approved", "ADR approved by platform, security, SRE and the application owner", ()),
)


@dataclass(frozen=True)
class AreaScore:
    area: str
    score: int
    claims: tuple[str, ...]  # pack/claim: verdict
    design: bool  # a 0 here flags the design

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
        elif all(v in HOLDS for v in verdicts):
            score = 3
        elif any(v in HOLDS for v in verdicts):
            score = 2
        else:
            score = 1
        named = tuple(f"{pack}/{r.claim.id}: {r.verdict}" for pack, r in mine)
        scores.append(AreaScore(area, score, named, area in DESIGN_AREAS))
    return scores


def launch_gate(results: list[tuple[str, ClaimResult]], items: tuple[GateItem, ...] = GATE_ITEMS) -> dict:
    """The gate: ``status`` passed, "passed with waivers" or failed; each item's status and why; the blocking
    items and the waived ones."""
    verdicts = {f"{pack}/{r.claim.id}": r.verdict for pack, r in results}
    judged = []
    for item in items:
        missing = [c for c in item.claims if c not in verdicts]
        failing = [f"{c}: {verdicts[c]}" for c in item.claims if c in verdicts and verdicts[c] not in HOLDS]
        if not item.claims:
            status, why = "no-evidence", ATTESTATION
        elif missing or failing:
            status = "blocked"
            why = "; ".join(failing + [f"{c}: not evaluated" for c in missing])
        elif any(verdicts[c] == "waived" for c in item.claims):
            status, why = "waived", "; ".join(f"{c}: {verdicts[c]}" for c in item.claims)
        else:
            status, why = "passed", "; ".join(f"{c}: satisfied" for c in item.claims)
        judged.append({"item": item.id, "title": item.title, "claims": list(item.claims), "status": status, "why": why})
    blocking = [j["item"] for j in judged if j["status"] not in ("passed", "waived")]
    waived = [j["item"] for j in judged if j["status"] == "waived"]
    status = "failed" if blocking else "passed with waivers" if waived else "passed"
    return {"status": status, "passed": not blocking, "blocking": blocking, "waived": waived, "items": judged}

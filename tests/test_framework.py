"""The framework's audit questions, answered from claim results, and its coverage map."""

from __future__ import annotations

import json
from pathlib import Path

from collector.claims import AREAS, ClaimResult, builtin_pack_dirs, load_pack
from collector.framework import MAX_ANSWER_ROWS, answer_questions, framework
from collector.query_results import QueryResult

CLAIMS = {f"{p.id}/{c.id}": (p.id, c) for p in map(load_pack, builtin_pack_dirs().values()) for c in p.claims}


def result(ref: str, verdict: str, evidence: int = 0) -> tuple[str, ClaimResult]:
    pack_id, claim = CLAIMS[ref]
    evidence_rows = QueryResult(["n"], [(i,) for i in range(evidence)])
    return pack_id, ClaimResult(claim, verdict, f"{verdict} because", evidence_rows)


def rows_of(results: list[tuple[str, ClaimResult]], gaps: dict[str, int]) -> dict[str, list[dict]]:
    """The evidence files' rows as a bundle holds them: one row per evidence row, ``gaps`` gap rows per claim."""
    rows = {}
    for pack_id, r in results:
        base = f"evidence/{pack_id}/{r.claim.id}"
        rows[f"{base}/evidence.json"] = [{"n": i} for i in range(len(r.evidence.rows))]
        rows[f"{base}/gaps.json"] = [{"gap": i} for i in range(gaps.get(f"{pack_id}/{r.claim.id}", 0))]
    return rows


def test_every_framework_item_names_real_claims_and_areas() -> None:
    questions, items = framework()
    assert len(questions) == 10  # the auditor's ten questions of issue 22
    ids = [q.id for q in questions] + [i.id for i in items]
    assert len(ids) == len(set(ids))
    for q in questions:
        assert q.claims and q.provide, q.id
        assert set(q.claims) <= CLAIMS.keys(), q.id
    for i in items:
        assert i.kind in {"checklist", "evidence"}, i.id
        assert i.area in AREAS, i.id
        assert i.claims or i.attestation or i.not_covered, f"{i.id}: says nothing of its evidence"
        assert set(i.claims) <= CLAIMS.keys(), i.id
        assert i.attestation in {"", "adr", "game-day", "rollback-test"}, i.id
    assert {i.area for i in items} == set(AREAS), "every scorecard area has framework items"


def test_answers_hold_only_when_every_judged_claim_holds() -> None:
    results = [
        result("k8s-networking/traffic-encrypted", "gap", evidence=3),
        result("k8s-networking/backend-reencryption", "satisfied", evidence=2),
        result("git-changes/failover-game-day-completed", "no-evidence"),
        result("git-changes/emergency-changes-accounted", "satisfied", evidence=MAX_ANSWER_ROWS + 5),
        result("git-changes/emergency-rollback-tested", "waived", evidence=1),
        result("git-changes/out-of-band-changes", "satisfied", evidence=1),
    ]
    rows = rows_of(results, {"k8s-networking/traffic-encrypted": 4})
    answers = {a["id"]: a for a in answer_questions(results, rows)}
    assert len(answers) == 10

    encrypted = answers["traffic-encrypted"]
    assert encrypted["status"] == "answered-with-gaps"
    by_claim = {c["claim"]: c for c in encrypted["claims"]}
    assert by_claim["k8s-networking/traffic-encrypted"]["gaps"] == {
        "file": "evidence/k8s-networking/traffic-encrypted/gaps.json",
        "total": 4,
        "rows": [{"gap": i} for i in range(4)],
    }
    assert by_claim["certificates/certificates-valid"]["verdict"] == "not-evaluated"

    failover = answers["how-failover-was-tested"]
    assert failover["status"] == "no-evidence"
    assert "game-day" in failover["provide"]

    emergency = answers["emergency-changes"]
    assert emergency["status"] == "answered"  # a waiver accepts the gap's risk: the answer holds, waived
    accounted = emergency["claims"][0]["evidence"]
    assert accounted["total"] == MAX_ANSWER_ROWS + 5 and len(accounted["rows"]) == MAX_ANSWER_ROWS
    assert "provide" not in emergency

    assert answers["who-can-expose"]["status"] == "no-evidence"  # none of its claims evaluated

    partly = answer_questions([result("logs/policy-denies-visible", "satisfied", evidence=1)], {})
    deny_logs = next(a for a in partly if a["id"] == "where-deny-logs-are")
    assert deny_logs["status"] == "partly-answered"  # logs-retained was not judged: the answer is incomplete
    assert "log_retention" in deny_logs["provide"]


def test_the_demo_bundle_answers_all_ten_questions(demo_dir: Path) -> None:
    bundle = demo_dir / "bundle"
    answers = json.loads((bundle / "answers.json").read_text())
    assert [a["id"] for a in answers] == [q.id for q in framework()[0]]
    for a in answers:
        assert a["status"] in {"answered", "answered-with-gaps", "partly-answered", "no-evidence"}, a
        for c in a["claims"]:
            assert c["verdict"] != "not-evaluated", (a["id"], c)  # the demo evaluates every built-in pack
            assert (bundle / c["evidence"]["file"]).is_file() and (bundle / c["gaps"]["file"]).is_file()
    statuses = {a["id"]: a["status"] for a in answers}
    assert statuses["who-can-expose"] == "answered-with-gaps"  # the case-processing developers may edit routes
    assert "Group:case-processing-devs" in answers[0]["claims"][0]["gaps"]["rows"][0]["finding"]
    assert statuses["how-failover-was-tested"] == "no-evidence"  # the demo commits no game-day report
    report = (bundle / "report.html").read_text()
    assert report.index("Audit questions") < report.index("At a glance")
    for q in framework()[0]:
        assert q.question in report
    assert "## Audit questions" in (bundle / "report.md").read_text()

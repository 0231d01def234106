"""Verdicts beyond satisfied and gap: waivers (applied, expired, unused), stale evidence, incident scope, and
the scorecard built from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import collect_manifests, write

from collector.claims import AREAS, Claim, ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.query_results import QueryResult
from collector.runner import run_source
from collector.scope import Scope, ScopeError
from collector.scorecard import GATE_ITEMS, GateItem, launch_gate, scorecard, scorecard_document
from collector.store import Store
from collector.waivers import WaiverError, load_waivers
from sources.analysis.source import AnalysisSource

# Two regulated namespaces without default deny: access-restricted has one gap row per namespace.
MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata: {name: billing, labels: {defensible.io/regulated: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy, labels: {defensible.io/regulated: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {defensible.io/regulated: "true"}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""


def access_restricted(store: Store, tmp_path: Path, **settings: object) -> ClaimResult:
    write(tmp_path / "env" / "ns.yaml", MANIFESTS)
    collect_manifests(store, tmp_path / "env")
    run_source(store, AnalysisSource(), {})  # access-restricted is judged on the reachability analysis
    pack = load_pack(resolve_pack("k8s-networking"))
    (result,) = [r for r in evaluate_pack(store, pack, Settings(**settings)) if r.claim.id == "access-restricted"]
    return result


def waivers(tmp_path: Path, text: str):
    return tuple(load_waivers(write(tmp_path / "waivers.yaml", text))[0])


WAIVE_LEGACY = """
waivers:
  - id: W-legacy
    claim: k8s-networking/access-restricted
    scope: {namespace: legacy}
    justification: decommissioned in Q1; no traffic reaches it
    approver: ciso@example.gov
    ticket: SEC-101
    expires: 2099-01-31
"""


def test_a_waiver_waives_only_the_gap_rows_its_scope_matches(store: Store, tmp_path: Path) -> None:
    result = access_restricted(store, tmp_path, waivers=waivers(tmp_path, WAIVE_LEGACY))
    assert result.verdict == "gap" and result.reason.startswith("1 gap(s), 1 waived;")
    namespaces = [row[result.gaps.columns.index("namespace")] for row in result.gaps.rows]
    assert {namespaces[i]: w.id for i, w in result.waived.items()} == {"legacy": "W-legacy"}


def test_every_gap_row_waived_is_waived_with_its_approver(store: Store, tmp_path: Path) -> None:
    both = WAIVE_LEGACY.replace("{namespace: legacy}", "{namespace: '[bl]*'}")  # a glob
    result = access_restricted(store, tmp_path, waivers=waivers(tmp_path, both))
    assert result.verdict == "waived"
    assert result.reason.startswith(
        "2 gap(s) waived: W-legacy by ciso@example.gov (SEC-101, until 2099-02-01 00:00 UTC)"
    )


def test_an_expired_waiver_turns_back_into_a_gap_and_is_named(store: Store, tmp_path: Path) -> None:
    lapsed = WAIVE_LEGACY.replace("{namespace: legacy}", "{}").replace("2099-01-31", "2026-01-31")
    result = access_restricted(store, tmp_path, waivers=waivers(tmp_path, lapsed))
    assert result.verdict == "gap" and result.waived == {}
    assert [w.id for w in result.expired_waivers] == ["W-legacy"]
    assert result.reason.endswith("; waiver W-legacy expired 2026-02-01 00:00 UTC")  # a date lasts through its day
    # judged before it lapsed, the same waiver applies
    earlier = access_restricted(
        store, tmp_path, waivers=result.expired_waivers, as_of=datetime(2026, 1, 31, 23, tzinfo=UTC)
    )
    assert earlier.verdict == "waived"


def test_stale_evidence_is_stale_not_satisfied(store: Store, tmp_path: Path) -> None:
    shop_only = MANIFESTS.replace('"true"}}', '"false"}}', 2)  # billing and legacy not regulated: no gap
    write(tmp_path / "env" / "ns.yaml", shop_only)
    collect_manifests(store, tmp_path / "env")
    run_source(store, AnalysisSource(), {})
    pack = load_pack(resolve_pack("k8s-networking"))
    assert pack.freshness == {"kubernetes": "7d", "analysis": "7d"}
    now = datetime.now(UTC)

    def judged(days: int) -> ClaimResult:
        settings = Settings(as_of=now + timedelta(days=days))
        return next(r for r in evaluate_pack(store, pack, settings) if r.claim.id == "access-restricted")

    assert judged(6).verdict == "satisfied"
    late = judged(8)
    assert late.verdict == "stale"
    assert late.reason.startswith("kubernetes evidence collected ") and late.reason.endswith(
        ", older than its freshness 7d"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("waivers:\n  - claim: a/b\n    approver: x\n    ticket: T\n    expires: 2027-01-01\n",
         "waiver 1 (line 2): 'justification' is a required property"),
        ("waivers:\n  - claim: nope\n    justification: j\n    approver: x\n    ticket: T\n    expires: 2027-01-01\n",
         "waiver 1 (line 2) field claim: 'nope' does not match"),
        ("waivers:\n  - claim: a/b\n    justification: j\n    approver: x\n    ticket: T\n    expires: soon\n",
         "waiver 1 (line 2): expires 'soon' is not a date"),
        ("waivers:\n  - {id: W, claim: a/b, justification: j, approver: x, ticket: T, expires: 2027-01-01}\n"
         "  - {id: W, claim: a/c, justification: j, approver: x, ticket: T, expires: 2027-01-01}\n",
         "waiver 2 (line 3): waiver id 'W' is used twice"),
        ("waivers: [\n", "invalid YAML"),
    ],
)  # fmt: skip
def test_malformed_waivers_name_the_waiver_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    with pytest.raises(WaiverError) as err:
        load_waivers(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_scope_keeps_rows_of_its_window_namespace_and_service() -> None:
    scope = Scope.parse(
        datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC), "namespace=shop,service=api"
    )
    rows = QueryResult(
        ["ts", "src_namespace", "object"],
        [
            (datetime(2026, 11, 1, 5, tzinfo=UTC), "shop", "Service/api"),
            (datetime(2026, 11, 2, tzinfo=UTC), "shop", "Service/api"),  # until is exclusive
            (datetime(2026, 11, 1, 5, tzinfo=UTC), "other", "Service/api"),
            (datetime(2026, 11, 1, 5, tzinfo=UTC), "shop", "Service/api-v2"),
            (None, "shop", "HTTPRoute shop/api listener https"),  # state rows have no time
        ],
    )
    assert [r[2] for r in scope.select(rows).rows] == ["Service/api", "HTTPRoute shop/api listener https"]
    assert scope.window_parameters() == {
        "window_since": "2026-11-01T00:00:00+00:00",
        "window_until": "2026-11-02T00:00:00+00:00",
    }
    assert Scope.parse(None, None, "namespace=shop").select(QueryResult(["name"], [("x",)])).rows == []


@pytest.mark.parametrize(
    ("selector", "message"),
    [("team=a", "expected namespace=X[,service=Y]"), ("service=api", "a service is named within a namespace")],
)
def test_bad_scope_is_refused(selector: str, message: str) -> None:
    with pytest.raises(ScopeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Scope.parse(None, None, selector)


def claim(claim_id: str, *areas: str) -> Claim:
    return Claim(claim_id, claim_id, "", (), (), (), "e.sql", "g.sql", "", "", areas=areas)


def test_scorecard_scores_areas_by_the_rubric() -> None:
    results = [
        ("p", ClaimResult(claim("a", "tls-identity", "mesh", "ownership"), "satisfied", "")),
        ("p", ClaimResult(claim("b", "tls-identity"), "waived", "")),
        ("p", ClaimResult(claim("c", "mesh"), "gap", "")),
        ("p", ClaimResult(claim("d", "egress"), "stale", "")),
        ("p", ClaimResult(claim("e", "observability"), "no-evidence", "")),
        ("p", ClaimResult(claim("f", "resilience"), "waived", "")),
    ]
    scores = {s.area: (s.score, s.rating) for s in scorecard(results)}
    assert scores["ownership"] == (3, "production-ready")
    assert scores["tls-identity"] == scores["resilience"] == (2, "defined, partly automated")  # waived is not 3
    assert scores["mesh"] == (2, "defined, partly automated")
    assert scores["egress"] == (1, "manual or fragile")
    assert scores["observability"] == (0, "absent or unknown")  # assessed, and failed
    assert scores["migration"] == (0, "not assessed")  # no claim is tagged with it
    assert [s.area for s in scorecard(results) if s.flags_design] == ["observability"]


@pytest.mark.parametrize(
    ("satisfied", "band_name"), [(14, "production-ready"), (12, "production-ready"), (11, "conditionally ready"),
                                 (9, "conditionally ready"), (8, "not ready"), (0, "not ready")]
)  # fmt: skip
def test_the_total_is_out_of_every_area_and_read_by_its_band(satisfied: int, band_name: str) -> None:
    results = [("p", ClaimResult(claim(area, area), "satisfied", "")) for area in AREAS[:satisfied]]
    total = scorecard_document(results)["total"]
    assert (total["score"], total["max"], total["band"]) == (3 * satisfied, 42, band_name)
    assert total["percent"] == 100 * 3 * satisfied // 42


ITEMS = (GateItem("one", "One", ("p/a", "p/b")), GateItem("two", "Two", ("p/c",)))


@pytest.mark.parametrize(
    ("verdicts", "status", "blocking", "waived"),
    [
        ({"a": "satisfied", "b": "satisfied", "c": "satisfied"}, "passed", [], []),
        ({"a": "satisfied", "b": "waived", "c": "satisfied"}, "passed with waivers", [], ["one"]),
        ({"a": "satisfied", "b": "gap", "c": "satisfied"}, "failed", ["one"], []),
        ({"a": "satisfied", "b": "satisfied", "c": "stale"}, "failed", ["two"], []),  # judged a year later
        ({"a": "no-evidence", "b": "satisfied", "c": "error"}, "failed", ["one", "two"], []),
        ({"a": "satisfied", "b": "satisfied"}, "failed", ["two"], []),  # p/c not evaluated
        ({"a": "waived", "b": "gap", "c": "waived"}, "failed", ["one"], ["two"]),
    ],
)
def test_launch_gate_passes_only_when_every_must_pass_item_holds(
    verdicts: dict[str, str], status: str, blocking: list[str], waived: list[str]
) -> None:
    results = [("p", ClaimResult(claim(c), v, "")) for c, v in verdicts.items()]
    gate = launch_gate(results, ITEMS)
    assert (gate["status"], gate["blocking"], gate["waived"]) == (status, blocking, waived)
    assert gate["passed"] is not bool(blocking)


def test_the_framework_gate_maps_its_nine_items_to_claims_that_exist() -> None:
    assert len(GATE_ITEMS) == 9 and all(item.claims for item in GATE_ITEMS)
    packs = ("certificates", "git-changes", "k8s-networking", "logs", "reachability")
    known = {f"{pack.id}/{c.id}" for pack in map(load_pack, map(resolve_pack, packs)) for c in pack.claims}
    assert {c for item in GATE_ITEMS for c in item.claims} <= known
    mapped = [c.split("/") for item in GATE_ITEMS for c in item.claims]
    results = [(pack, ClaimResult(claim(claim_id), "satisfied", "")) for pack, claim_id in mapped]
    assert launch_gate(results)["status"] == "passed"
    results[-1] = (results[-1][0], ClaimResult(results[-1][1].claim, "no-evidence", ""))
    gate = launch_gate(results)
    assert (gate["status"], gate["blocking"]) == ("failed", ["adr-approved"])
    assert gate["items"][-1]["status"] == "no-evidence"


def test_claims_are_judged_per_cluster_and_overall(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "eu" / "ns.yaml", MANIFESTS.replace('"true"}}', '"false"}}', 2))  # only shop, with deny
    write(tmp_path / "us" / "ns.yaml", MANIFESTS)  # billing and legacy lack default deny
    collect_manifests(store, tmp_path / "eu", cluster="prod-eu")
    collect_manifests(store, tmp_path / "us", cluster="prod-us")
    run_source(store, AnalysisSource(), {})
    pack = load_pack(resolve_pack("k8s-networking"))
    (result,) = [r for r in evaluate_pack(store, pack) if r.claim.id == "access-restricted"]
    assert result.verdict == "gap"
    assert {name: verdict for name, (verdict, _) in result.clusters.items()} == {
        "prod-eu": "satisfied",
        "prod-us": "gap",
    }
    assert result.clusters["prod-us"][1].startswith("2 gap(s)")

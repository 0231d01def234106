"""Attestations (ADR, game-day and rollback-test reports) collected from GitOps repositories and judged by the
git-changes pack: a compliant baseline, and spec-first one-change variants that must each turn exactly one claim
into a gap naming the offending file (or cluster).

One store holds every repository: the baseline (all three documents, cluster prod-eu) and one repository per
variant holding the changed document (and, for a report, the other type's baseline report); a report variant's
scope names its own cluster, collected beside prod-eu. Gap rows are attributed to a variant by repository or cluster."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from attestation_scenario import AS_OF, CLUSTER, Document, Repositories, baseline, collect_git, report
from helpers import collect_manifests, write

from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.demo.recorded_api import RecordedAPI
from collector.store import Store
from sources.git.attestations import attestation_row

CLAIMS = ("adr-approved", "failover-game-day-completed", "emergency-rollback-tested")
ADR, GAME_DAY, ROLLBACK = baseline()
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: citizen}\n"
Results = dict[str, ClaimResult]


def approvers(doc: Document, *logins: str) -> Callable[[str], Document]:
    return lambda cluster: dataclasses.replace(doc, text=doc.text.replace(CLUSTER, cluster), approvers=logins)


def edit(doc: Document, old: str, new: str) -> Callable[[str], Document]:
    return lambda cluster: dataclasses.replace(doc, text=doc.text.replace(CLUSTER, cluster).replace(old, new, 1))


def rewrite(doc: Document, kind: str, **fields: str) -> Callable[[str], Document]:
    return lambda cluster: dataclasses.replace(doc, text=report(kind, **{"clusters": cluster, **fields}))


# variant -> (its one document, the claim that must turn gap, what its gap row's location (or cluster) names, and
# a part of its reason). A report variant's cluster is the variant's name.
VARIANTS = {
    # ADR (docs/attestations.md): each named role's approver must APPROVE the merged head in the PR's review
    "adr-named-not-approving": (approvers(ADR, "alice", "bob", "carol"), "adr-approved", ADR.path, "app-owner (dave)"),
    "adr-other-reviewer": (
        approvers(ADR, "alice", "bob", "carol", "frank"), "adr-approved", ADR.path, "app-owner (dave)"),
    "adr-unreviewed": (approvers(ADR), "adr-approved", ADR.path, "approved by: nobody"),
    "adr-role-missing": (
        edit(ADR, "  sre: carol\n", ""), "adr-approved", f"{ADR.path} (line 7)", "'sre' is a required"),
    "adr-proposed": (edit(ADR, "status: accepted", "status: proposed"), "adr-approved", ADR.path, "status proposed"),
    "adr-front-matter-unclosed": (edit(ADR, "---\n#", "#"), "adr-approved", f"{ADR.path} (line 1)", "not closed"),
    "adr-bad-yaml": (edit(ADR, "title: Shared", "title: [Shared"), "adr-approved", ADR.path, "invalid YAML"),
    "adr-approved-on-earlier-head": (
        lambda _: dataclasses.replace(ADR, pushed_after_review=True), "adr-approved", ADR.path, "platform (alice)"),
    "adr-one-approver-two-roles": (
        lambda _: dataclasses.replace(ADR, text=ADR.text.replace("sre: carol", "sre: alice"),
                                      approvers=("alice", "bob", "dave")),
        "adr-approved", ADR.path, "one approver named for several roles"),
    "adr-direct-push": (lambda _: dataclasses.replace(ADR, direct_push=True), "adr-approved", ADR.path,
                        "without a pull request"),
    "adr-edited-after-approval": (
        lambda _: [ADR, dataclasses.replace(ADR, text=ADR.text + "\nAmended.\n", approvers=("alice",))],
        "adr-approved", ADR.path, "security (bob)"),
    # game day (type game-day): the latest report naming a cluster passed, within 180 days, approved in review
    "gd-old": (rewrite(GAME_DAY, "game-day", date="2025-09-01"), "failover-game-day-completed", GAME_DAY.path,
               "older than 180 days"),
    "gd-failed": (rewrite(GAME_DAY, "game-day", result="fail"), "failover-game-day-completed", GAME_DAY.path,
                  "result fail"),
    "gd-other-cluster": (lambda _: dataclasses.replace(GAME_DAY, text=report("game-day", clusters="staging")),
                         "failover-game-day-completed",
                         "gd-other-cluster", "no game-day report names cluster gd-other-cluster"),
    "gd-unapproved": (approvers(GAME_DAY), "failover-game-day-completed", GAME_DAY.path, "0 of 1"),
    "gd-future": (rewrite(GAME_DAY, "game-day", date="2026-05-01"), "failover-game-day-completed", GAME_DAY.path,
                  "after the instant judged"),
    "gd-newer-failed": (
        lambda cluster: [dataclasses.replace(GAME_DAY, text=report("game-day", "2026-03-10", cluster)),
                         Document("attestations/game-days/2026-03-b.md", report("game-day", clusters=cluster,
                                                                                result="fail"), ("bob",))],
        "failover-game-day-completed", "2026-03-b.md", "result fail"),
    "gd-direct-push": (lambda cluster: dataclasses.replace(GAME_DAY, text=GAME_DAY.text.replace(CLUSTER, cluster),
                                                          direct_push=True),
                       "failover-game-day-completed", GAME_DAY.path, "without a pull request"),
    "gd-bad-date": (edit(GAME_DAY, "date: 2026-03-20", "date: 2026-02-30"), "failover-game-day-completed",
                    f"{GAME_DAY.path} (line 5)", "date"),
    # rollback test (type rollback-test)
    "rb-failed": (rewrite(ROLLBACK, "rollback-test", result="fail"), "emergency-rollback-tested", ROLLBACK.path,
                  "result fail"),
    "rb-old": (rewrite(ROLLBACK, "rollback-test", date="2025-06-30"), "emergency-rollback-tested", ROLLBACK.path,
               "older than"),
    "rb-no-result": (edit(ROLLBACK, "result: pass\n", ""), "emergency-rollback-tested", f"{ROLLBACK.path} (line 2)",
                     "'result' is a required"),
    "rb-self-approved": (approvers(ROLLBACK, "erin"), "emergency-rollback-tested", ROLLBACK.path, "0 of 1"),
    "rb-no-front-matter": (edit(ROLLBACK, "---\n", ""), "emergency-rollback-tested", f"{ROLLBACK.path} (line 1)",
                           "no YAML front matter"),
}  # fmt: skip
REPORT_VARIANTS = [name for name, (_, claim, *_) in VARIANTS.items() if claim != "adr-approved"]


# variant -> its documents, that must leave every claim satisfied (cluster: the variant's name)
COMPLIANT: dict[str, Callable[[str], list[Document]]] = {
    "ok-newer-report-passed": lambda cluster: [
        Document(GAME_DAY.path, report("game-day", "2026-03-05", cluster, "fail"), ("bob",)),
        Document("attestations/game-days/2026-03-b.md", report("game-day", "2026-03-20", cluster), ("bob",)),
        dataclasses.replace(ROLLBACK, text=report("rollback-test", clusters=cluster)),
    ],
    "ok-nested-reports": lambda cluster: [
        Document("attestations/2026/q1/failover.md", report("game-day", clusters=cluster), ("bob",)),
        Document("attestations/2026/q1/rollback.md", report("rollback-test", clusters=f"dev, {cluster}"), ("dave",)),
    ],
    "ok-proposed-beside-accepted": lambda _: [
        ADR, Document("docs/adr/0008-next.md", ADR.text.replace("status: accepted", "status: proposed"), ())
    ],
    "ok-extra-role": lambda _: [
        dataclasses.replace(ADR, text=ADR.text.replace("  app-owner: dave\n", "  app-owner: dave\n  dpo: frank\n"),
                            approvers=(*ADR.approvers, "frank"))
    ],
    "ok-keywords-in-any-case": lambda _: [
        dataclasses.replace(ADR, text=ADR.text.replace("type: adr", "type: ADR").replace("accepted", "Accepted"))
    ],
    "ok-adr-without-type": lambda _: [
        dataclasses.replace(ADR, text=ADR.text.replace("type: adr\n", "").replace("date:", "decision_date:"))
    ],
    "ok-login-case": lambda _: [dataclasses.replace(ADR, text=ADR.text.replace("platform: alice", "platform: Alice"))],
}  # fmt: skip


def documents(name: str) -> list[Document]:
    """A variant's documents: its changed document(s) and, for a report, the baseline report of the other type
    for its cluster."""
    if name in COMPLIANT:
        return COMPLIANT[name](name)
    document, claim, *_ = VARIANTS[name]
    made = document(name)
    docs = made if isinstance(made, list) else [made]
    if claim == "adr-approved":
        return docs
    other = ROLLBACK if claim == "failover-game-day-completed" else GAME_DAY
    return [*docs, dataclasses.replace(other, text=other.text.replace(CLUSTER, name))]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    root = tmp_path_factory.mktemp("attest")
    manifests = write(root / "k8s" / "ns.yaml", NAMESPACE)
    repos = Repositories(root / "repos")
    built = [repos.build("baseline", baseline())]
    built += [repos.build(name, documents(name)) for name in [*VARIANTS, *COMPLIANT]]
    with Store.open(root / "evidence.duckdb") as st:
        for cluster in [CLUSTER, *REPORT_VARIANTS, "ok-newer-report-passed", "ok-nested-reports"]:
            collect_manifests(st, manifests, cluster=cluster)
        with RecordedAPI(repos.routes) as api:
            collect_git(st, built, api.url)
        found = evaluate_pack(st, load_pack(resolve_pack("git-changes")), Settings(as_of=AS_OF))
    return {r.claim.id: r for r in found if r.claim.id in CLAIMS}


def rows_of(result: ClaimResult, name: str, gaps: bool = True) -> list[dict]:
    """The gap (or evidence) rows of repository or cluster ``name``."""
    query = result.gaps if gaps else result.evidence
    rows = [dict(zip(query.columns, row, strict=True)) for row in query.rows]
    return [r for r in rows if name in (r["repo"], r.get("cluster"))]


def test_the_baseline_satisfies_every_attestation_claim(results: Results) -> None:
    for claim in CLAIMS:
        assert not rows_of(results[claim], "baseline") and not rows_of(results[claim], CLUSTER), claim
        (evidence,) = rows_of(results[claim], "baseline", gaps=False)
        assert evidence["location"].endswith(baseline()[CLAIMS.index(claim)].path)
        assert evidence["source"] == "git" and evidence["artifact_sha256"] and evidence["run_id"]
    (adr,) = rows_of(results["adr-approved"], "baseline", gaps=False)
    assert adr["review_approvers"] == ["alice", "bob", "carol", "dave"]


@pytest.mark.parametrize("name", VARIANTS)
def test_each_variant_turns_exactly_its_claim_into_a_gap_naming_the_file(results: Results, name: str) -> None:
    _, claim, named, reason = VARIANTS[name]
    gaps = rows_of(results[claim], name)
    assert any(named in (g["location"] or g["cluster"]) and reason in g["reason"] for g in gaps), gaps
    assert all(g["artifact_sha256"] and g["run_id"] and g["collected_at"] for g in gaps)
    assert not [c for c in CLAIMS if c != claim and rows_of(results[c], name)]
    assert not rows_of(results[claim], name, gaps=False)  # nothing of the variant counts as evidence


@pytest.mark.parametrize("name", COMPLIANT)
def test_compliant_variants_stay_satisfied(results: Results, name: str) -> None:
    for claim in CLAIMS:
        assert not rows_of(results[claim], name), (claim, rows_of(results[claim], name))
    for claim in CLAIMS[1:] if "report" in name else CLAIMS[:1]:
        assert rows_of(results[claim], name, gaps=False), claim


def test_without_attestations_the_claims_have_no_evidence(tmp_path: Path) -> None:
    repos = Repositories(tmp_path / "repos")
    with Store.open(tmp_path / "evidence.duckdb") as st:
        collect_manifests(st, write(tmp_path / "ns.yaml", NAMESPACE), cluster=CLUSTER)
        with RecordedAPI(repos.routes) as api:
            collect_git(st, [repos.build("empty", [])], api.url)
        found = evaluate_pack(st, load_pack(resolve_pack("git-changes")), Settings(as_of=AS_OF))
    assert {r.claim.id: r.verdict for r in found if r.claim.id in CLAIMS} == dict.fromkeys(CLAIMS, "no-evidence")


@pytest.mark.parametrize("template", ["adr", "game-day", "rollback-test"])
def test_the_shipped_templates_are_valid_attestations(template: str) -> None:
    path = Path(__file__).resolve().parents[1] / "docs" / "templates" / f"{template}.md"
    row = attestation_row(path.name, path.read_bytes())
    assert (row["type"], row["error"]) == (template, None)


def test_a_malformed_attestation_is_an_error_row_and_the_run_partial(tmp_path: Path) -> None:
    repos = Repositories(tmp_path / "repos")
    broken = dataclasses.replace(GAME_DAY, text=GAME_DAY.text.replace("result: pass", "result: partial"))
    with Store.open(tmp_path / "evidence.duckdb") as st, RecordedAPI(repos.routes) as api:
        collect_git(st, [repos.build("broken", [ADR, broken])], api.url)
        (status, reason), *_ = st.con.execute("SELECT status, error FROM runs").fetchall()
        found = st.con.execute("SELECT path, type, error_line, error IS NULL FROM git_attestations ORDER BY path")
        assert found.fetchall() == [(GAME_DAY.path, "game-day", 9, False), (ADR.path, "adr", None, True)]
    assert status == "partial" and f"{GAME_DAY.path}: line 9: result: 'partial' is not one of" in reason


def test_an_attestation_holding_a_credential_is_kept_redacted(tmp_path: Path) -> None:
    leaked = dataclasses.replace(ADR, text=ADR.text + "\nThe dashboard: https://admin:hunter2@grafana.example.org\n")
    repos = Repositories(tmp_path / "repos")
    with Store.open(tmp_path / "evidence.duckdb") as st, RecordedAPI(repos.routes) as api:
        collect_git(st, [repos.build("leaky", [leaked])], api.url)
        ((digest, kept),) = st.con.execute(
            "SELECT sha256, media_type FROM artifacts WHERE sha256 IN (SELECT artifact_sha256 FROM git_attestations)"
        ).fetchall()
        content = st.artifact_path(digest).read_bytes()
    assert kept == "application/json" and b"hunter2" not in content and b"grafana.example.org" in content

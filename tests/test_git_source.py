"""The git source against real repositories built with the git CLI, and a recorded GitHub/GitLab API."""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from git_scenario import ALICE, PROJECT, START, Scenario, build_scenario

from collector.claims import ClaimResult, Settings, evaluate_pack, load_pack, resolve_pack
from collector.demo.git_history import GitHistory
from collector.demo.recorded_api import RecordedAPI, Reply
from collector.runner import RunResult, run_source
from collector.store import Store
from sources.git.source import GitSource

TOKEN = "ghp_test_token_0123456789abcdef"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_scenario(tmp_path_factory.mktemp("git"))


@pytest.fixture
def api(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordedAPI]:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with RecordedAPI(copy.deepcopy(scenario.routes), token=TOKEN) as server:
        yield server


def repo_config(scenario: Scenario, api: RecordedAPI | None = None, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {"path": str(scenario.repo.path), "allowed_signers": str(scenario.allowed_signers)}
    if api is not None:
        cfg["review"] = {"platform": "github", "project": PROJECT, "api_url": api.url}
    return {"repositories": [{**cfg, **extra}]}


def collect(store: Store, config: dict[str, Any]) -> RunResult:
    return run_source(store, GitSource(), config)


def rows(store: Store, sql: str, *params: Any) -> list[tuple]:
    return store.con.execute(sql, list(params)).fetchall()


def evaluate(store: Store, **parameters: Any) -> dict[str, ClaimResult]:
    settings = Settings(parameters, frozenset({"git-changes/signed-commits"}))
    return {r.claim.id: r for r in evaluate_pack(store, load_pack(resolve_pack("git-changes")), settings)}


def gap_reasons(result: ClaimResult) -> dict[str, str]:
    """commit (12 hex) -> reason of each gap row."""
    cols = result.gaps.columns
    return {row[cols.index("commit")]: row[cols.index("reason")] for row in result.gaps.rows}


def short(scenario: Scenario, name: str) -> str:
    return scenario.commits[name][:12]


def test_commits_parents_trailers_and_pull_requests(store: Store, scenario: Scenario) -> None:
    result = collect(store, repo_config(scenario))
    assert result.status == "partial"  # the broken manifest in history
    c = scenario.commits
    assert rows(store, "SELECT count(*) FROM git_commits")[0][0] == 16
    (pr1,) = rows(store, "SELECT parents, first_parent, pr_number, pr_branch FROM git_commits WHERE sha = ?", c["pr1"])
    assert pr1 == ([c["root"], c["pr1-head"]], True, 1, ["casework", "feature/citizen-route"][1])
    (trailers,) = rows(store, "SELECT trailers FROM git_commits WHERE sha = ?", c["pr1-head"])[0]
    assert trailers == [
        {"key": "Signed-off-by", "value": "Alice Adams <alice@example.org>"},
        {"key": "Co-authored-by", "value": "Carol Chen <carol@example.org>"},
        {"key": "Signed-off-by", "value": "Carol Chen <carol@example.org>"},
    ]
    assert rows(store, "SELECT pr_number, first_parent FROM git_commits WHERE sha = ?", c["pr2"]) == [(2, True)]
    assert rows(store, "SELECT first_parent FROM git_commits WHERE sha = ?", c["pr3-first"]) == [(False,)]
    assert rows(store, "SELECT reverts FROM git_commits WHERE sha = ?", c["glass-revert"]) == [(c["glass"],)]
    (author, committed) = rows(store, "SELECT author_email, committed_at FROM git_commits WHERE sha = ?", c["direct"])[
        0
    ]
    assert author == "dave@example.org" and committed.tzinfo is not None
    # provenance: every row cites the raw git log artifact, kept beside the store
    (digest,) = rows(store, "SELECT DISTINCT artifact_sha256 FROM git_commits")[0]
    assert c["pr1"] in store.artifact_path(digest).read_text()


def test_signature_status_honours_allowed_signers(store: Store, scenario: Scenario) -> None:
    collect(store, repo_config(scenario))
    signed = rows(store, "SELECT signature_status, signer, signature_key FROM git_commits WHERE sha = ?",
                  scenario.commits["signed"])  # fmt: skip
    assert signed[0][0] == "G" and signed[0][1] == ALICE[1] and signed[0][2].startswith("SHA256:")
    assert rows(store, "SELECT DISTINCT signature_status FROM git_commits WHERE sha <> ?", scenario.commits["signed"])\
        == [("N",)]  # fmt: skip


def test_files_map_to_kubernetes_objects_at_each_commit(store: Store, scenario: Scenario) -> None:
    collect(store, repo_config(scenario))
    c = scenario.commits
    merged = rows(store, "SELECT path, change_type FROM git_commit_files WHERE sha = ?", c["pr1"])
    assert merged == [("routes/citizen.yaml", "A")]  # a merge is diffed against its first parent
    objects = rows(
        store,
        "SELECT o.kind, o.namespace, o.name FROM git_commit_files f JOIN git_manifest_objects o "
        "ON o.blob = f.new_blob WHERE f.sha = ? ORDER BY ALL",
        c["pr3-head"],
    )
    assert objects == [("HTTPRoute", "citizen", "citizen-api"), ("Service", "citizen", "citizen-v3")]
    (error,) = rows(store, "SELECT error FROM git_manifest_objects WHERE error IS NOT NULL")[0]
    assert error.startswith(f"routes/broken.yaml@{c['broken'][:12]}: document 1, line 3: invalid YAML")


def test_blobs_already_parsed_are_not_parsed_again(store: Store, scenario: Scenario) -> None:
    first = collect(store, repo_config(scenario))
    second = collect(store, repo_config(scenario))
    assert first.counts["git_manifest_objects"] > 0
    assert "git_manifest_objects" not in second.counts
    assert second.counts["git_commits"] == first.counts["git_commits"]


def test_time_window_limits_commits(store: Store, scenario: Scenario) -> None:
    since = scenario.repo.git("show", "-s", "--format=%cI", scenario.commits["direct"])
    collect(store, repo_config(scenario, since=since))
    shas = {sha for (sha,) in rows(store, "SELECT sha FROM git_commits")}
    assert scenario.commits["direct"] in shas and scenario.commits["pr1"] not in shas


def test_bad_repository_and_branch_fail_clearly(store: Store, scenario: Scenario, tmp_path: Path) -> None:
    result = collect(store, {"repositories": [{"path": str(tmp_path)}]})
    assert result.status == "failed" and result.error == f"git: {tmp_path} is not a git repository"
    result = collect(store, repo_config(scenario, branch="release"))
    assert result.status == "failed" and "branch 'release' not found" in str(result.error)
    detached = GitHistory(tmp_path / "detached", START)
    detached.commit({"a": "1\n"}, "one", ALICE)
    detached.git("switch", "-q", "--detach")
    result = collect(store, {"repositories": [{"path": str(detached.path)}]})
    assert result.error == f"git: {detached.path}: HEAD is detached; set `branch` to the protected branch"


def test_reviews_fetched_with_pagination(store: Store, scenario: Scenario, api: RecordedAPI) -> None:
    pages = api.routes[f"/repos/{PROJECT}/pulls/1/reviews"]
    api.routes[f"/repos/{PROJECT}/pulls/1/reviews"] = [[pages[0][0]], [pages[0][1]]]
    collect(store, repo_config(scenario, api))
    assert rows(store, "SELECT reviewer, state FROM git_reviews WHERE number = 1 ORDER BY submitted_at") == [
        ("bob", "COMMENTED"),
        ("bob", "APPROVED"),
    ]
    assert any("page=2" in target for target, _ in api.requests)
    assert all(headers["authorization"] == f"Bearer {TOKEN}" for _, headers in api.requests)
    assert rows(store, "SELECT labels FROM git_pull_requests WHERE number = 4") == [(["emergency"],)]
    # who wrote and pushed each pull request's commits: an author cannot approve them
    assert rows(store, "SELECT sha, author_login, committer_login FROM git_pull_request_commits WHERE number = 3") == [
        (scenario.commits["pr3-first"], "alice", "alice"),
        (scenario.commits["pr3-head"], "alice", "alice"),
    ]


def test_changes_reviewed_verdicts(store: Store, scenario: Scenario, api: RecordedAPI) -> None:
    collect(store, repo_config(scenario, api))
    result = evaluate(store)["changes-reviewed"]
    assert result.verdict == "gap"
    gaps = gap_reasons(result)
    assert gaps == {
        short(scenario, "pr2"): "0 of 1 required independent approval(s); self-approved by carol",
        short(scenario, "pr3"): f"0 of 1 required independent approval(s); stale approval by bob "
        f"(on {short(scenario, 'pr3-first')}), merged head {short(scenario, 'pr3-head')}",
        short(scenario, "direct"): "direct push to main without a pull request",
        # a manifest that cannot be parsed might define anything: adding or removing it is governed
        short(scenario, "broken"): "direct push to main without a pull request",
        short(scenario, "signed"): "direct push to main without a pull request",
    }
    cols = result.evidence.columns
    evidence = {row[cols.index("commit")]: row for row in result.evidence.rows}
    assert evidence[short(scenario, "pr1")][cols.index("approvers")] == ["bob"]
    assert evidence[short(scenario, "pr1")][cols.index("changed")] == [
        "HTTPRoute citizen/citizen-api (routes/citizen.yaml)",
        "Service citizen/citizen-svc (routes/citizen.yaml)",
    ]
    assert evidence[short(scenario, "glass")][cols.index("status")] == "emergency change (reverted)"
    assert evidence[short(scenario, "glass-revert")][cols.index("status")] == (
        f"revert of emergency change {short(scenario, 'glass')}"
    )
    # the gap row names the objects and files concerned
    (row,) = [r for r in result.gaps.rows if r[0] == "gitops" and r[1] == short(scenario, "direct")]
    assert row[cols.index("changed")] == ["NetworkPolicy citizen/default-deny (policies/citizen.yaml)"]
    (row,) = [r for r in result.gaps.rows if r[1] == short(scenario, "broken")]
    assert row[cols.index("changed")] == ["routes/broken.yaml (unparseable manifest)"]


def test_min_approvals_and_trusted_trailers(store: Store, scenario: Scenario, api: RecordedAPI) -> None:
    collect(store, repo_config(scenario, api))
    two = gap_reasons(evaluate(store, min_approvals=2)["changes-reviewed"])
    assert two[short(scenario, "pr1")] == "1 of 2 required independent approval(s)"
    trusted = gap_reasons(evaluate(store, trust_trailer_approvals=True)["changes-reviewed"])
    assert short(scenario, "direct") not in trusted


def test_emergency_changes_accounted(store: Store, scenario: Scenario, api: RecordedAPI) -> None:
    collect(store, repo_config(scenario, api))
    result = evaluate(store)["emergency-changes-accounted"]
    assert result.verdict == "gap"
    assert list(gap_reasons(result)) == [short(scenario, "pr4")]
    assert gap_reasons(result)[short(scenario, "pr4")].startswith("not reverted or retro-approved within 72h")
    cols = result.evidence.columns
    accounted = {r[cols.index("commit")]: (r[cols.index("accounted")], r[cols.index("markers")])
                 for r in result.evidence.rows}  # fmt: skip
    assert accounted == {
        short(scenario, "glass"): ("reverted", ["Break-glass: INC-42"]),
        short(scenario, "pr5"): ("retro-approved", ["label Break-Glass", "branch hotfix/fix-admin"]),
    }
    # a window long enough to still be open counts as pending, not a gap
    hours = int((store.con.execute("SELECT now()").fetchone()[0] - scenario.repo.clock).total_seconds() // 3600)
    pending = evaluate(store, emergency_window_hours=hours + 24)["emergency-changes-accounted"]
    assert pending.verdict == "satisfied"


def test_emergency_retro_approval_outside_window_is_a_gap(store: Store, scenario: Scenario, api: RecordedAPI) -> None:
    collect(store, repo_config(scenario, api))
    result = evaluate(store, emergency_window_hours=12)["emergency-changes-accounted"]
    assert set(gap_reasons(result)) == {short(scenario, "pr4"), short(scenario, "pr5")}


def test_signed_commits_claim(store: Store, scenario: Scenario) -> None:
    collect(store, repo_config(scenario))
    result = evaluate(store)["signed-commits"]
    assert result.verdict == "gap"
    assert [r[1] for r in result.evidence.rows] == [short(scenario, "signed")]
    assert gap_reasons(result)[short(scenario, "pr1")] == "unsigned"
    default = evaluate_pack(store, load_pack(resolve_pack("git-changes")))
    assert "signed-commits" not in {r.claim.id for r in default}  # off unless enabled


def test_bad_token_keeps_commits_and_never_shows_the_token(
    store: Store, scenario: Scenario, api: RecordedAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrong_token_zzzz")
    result = collect(store, repo_config(scenario, api))
    assert result.status == "partial"
    assert any("rejected the token in $GITHUB_TOKEN (401 Unauthorized)" in r for r in result.partial_reasons)
    assert rows(store, "SELECT count(*) FROM git_commits")[0][0] == 16
    assert rows(store, "SELECT DISTINCT fetch_status FROM git_pull_requests") == [("error",)]
    reasons = gap_reasons(evaluate(store)["changes-reviewed"])
    assert "rejected the token" in reasons[short(scenario, "pr1")]
    dump = store.con.execute("SELECT * FROM runs").fetchall().__repr__()
    assert "ghp_wrong_token_zzzz" not in dump and TOKEN not in dump


def test_rate_limit_is_a_clear_partial_run(store: Store, scenario: Scenario, api: RecordedAPI) -> None:
    api.routes[f"/repos/{PROJECT}/pulls/3"] = Reply(
        403,
        {"message": "API rate limit exceeded for user ID 1."},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1767607200"},
    )
    result = collect(store, repo_config(scenario, api))
    assert result.status == "partial"
    assert result.partial_reasons[-1] == (
        "git: gitops: reviews of 3 request(s) not collected: github API rate limit exceeded (403); "
        "resets at 2026-01-05 10:00:00Z"
    )
    assert rows(store, "SELECT number, fetch_status FROM git_pull_requests ORDER BY number") == [
        (1, "fetched"), (2, "fetched"), (3, "error"), (4, "error"), (5, "error"),
    ]  # fmt: skip


def test_missing_pull_request_is_recorded(store: Store, scenario: Scenario, api: RecordedAPI) -> None:
    del api.routes[f"/repos/{PROJECT}/pulls/2"]
    collect(store, repo_config(scenario, api))
    assert rows(store, "SELECT fetch_status FROM git_pull_requests WHERE number = 2") == [("not-found",)]
    assert gap_reasons(evaluate(store)["changes-reviewed"])[short(scenario, "pr2")] == "#2 not found on github"


def test_unreachable_api_is_partial(store: Store, scenario: Scenario) -> None:
    cfg = repo_config(scenario)
    cfg["repositories"][0]["review"] = {"platform": "github", "project": PROJECT, "api_url": "http://127.0.0.1:9"}
    result = collect(store, cfg)
    assert result.status == "partial" and "github API http://127.0.0.1:9 unreachable" in result.partial_reasons[-1]


def gitlab_repo(root: Path) -> tuple[GitHistory, dict[str, str]]:
    repo = GitHistory(root, START)
    c = {"root": repo.commit({"README.md": "x\n"}, "init", ALICE)}
    for iid, branch in ((7, "feature/a"), (8, "feature/b")):
        repo.switch(branch, create=True)
        c[f"{iid}-head"] = repo.commit({f"policies/{iid}.yaml": policy_doc(f"p{iid}")}, f"policy {iid}", ALICE)
        repo.switch("main")
        c[str(iid)] = repo.merge(
            branch, f"Merge branch '{branch}' into 'main'\n\nSee merge request platform/gitops!{iid}", ALICE
        )
    return repo, c


def policy_doc(name: str) -> str:
    return f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: x}}\n"


def test_gitlab_merge_request_approvals(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, c = gitlab_repo(tmp_path / "gl")
    base = "/projects/platform%2Fgitops/merge_requests"
    merged_at = (START + timedelta(days=1)).isoformat()

    def mr(iid: int) -> list[dict]:
        return [{"iid": iid, "title": f"policy {iid}", "author": {"username": "alice"}, "source_branch": "f",
                 "sha": c[f"{iid}-head"], "labels": [], "merged_at": merged_at, "merge_commit_sha": c[str(iid)],
                 "squash_commit_sha": None, "state": "merged"}]  # fmt: skip

    routes = {
        f"{base}/7": mr(7),
        f"{base}/7/approvals": [
            {
                "approved": True,
                "approved_by": [{"user": {"username": "bob", "name": "Bob"}, "approved_at": START.isoformat()}],
            }
        ],
        f"{base}/8": mr(8),
        f"{base}/8/approvals": [{"approved": True, "approved_by": [{"user": {"username": "alice"}}]}],
    }
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with RecordedAPI(routes, token=TOKEN) as api:
        cfg = {
            "path": str(repo.path),
            "review": {"platform": "gitlab", "project": "platform/gitops", "api_url": api.url},
        }
        result = collect(store, {"repositories": [cfg]})
        assert all(headers["private-token"] == TOKEN for _, headers in api.requests)
    assert result.status == "succeeded"
    assert rows(store, "SELECT pr_number, pr_branch FROM git_commits WHERE sha = ?", c["7"]) == [(7, "feature/a")]
    assert rows(store, "SELECT number, reviewer, submitted_at IS NULL FROM git_reviews ORDER BY number") == [
        (7, "bob", False),
        (8, "alice", True),
    ]
    reasons = gap_reasons(evaluate(store)["changes-reviewed"])
    assert reasons == {c["8"][:12]: "0 of 1 required independent approval(s); self-approved by alice"}


def test_live_objects_traced_to_last_change(store: Store, scenario: Scenario, api: RecordedAPI) -> None:
    from helpers import collect_manifests

    collect(store, repo_config(scenario, api))
    collect_manifests(store, scenario.repo.path / "routes", scenario.repo.path / "policies")
    evaluate(store)
    traced = rows(store, "SELECT kind, name, last_commit, author, approvers FROM live_object_last_change ORDER BY ALL")
    assert ("HTTPRoute", "citizen-api", scenario.commits["pr3"], "alice", []) in traced
    assert ("NetworkPolicy", "default-deny", scenario.commits["direct"], "dave@example.org", []) in traced
    assert ("HTTPRoute", "admin", scenario.commits["pr5"], "dave", []) in traced


def test_demo_gitops_history_has_reviewed_and_unreviewed_changes(demo_dir: Path) -> None:
    evidence = json.loads((demo_dir / "bundle/evidence/git-changes/changes-reviewed/evidence.json").read_text())
    gaps = json.loads((demo_dir / "bundle/evidence/git-changes/changes-reviewed/gaps.json").read_text())
    reviewed = {(r["pr_number"], r["author"], tuple(r["approvers"])) for r in evidence if r["status"] == "reviewed"}
    assert reviewed == {(101, "alice", ("bob",)), (102, "carol", ("alice",))}
    assert [(g["pr_number"], g["reason"]) for g in gaps] == [
        (103, "0 of 1 required independent approval(s); self-approved by dave")
    ]
    assert "HTTPRoute admin-console/admin-console (k8s/40-admin-console.yaml)" in gaps[0]["changed"]


def test_secret_manifests_in_history_stay_out_of_the_store(store: Store, tmp_path: Path) -> None:
    repo = GitHistory(tmp_path / "repo", START)
    pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFakeKeyMaterial00\n-----END PRIVATE KEY-----\n"
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: tls, namespace: x}\n"
        f"stringData:\n  tls.key: |\n{textwrap.indent(pem, '    ')}"
    )
    repo.commit({"secrets/tls.yaml": secret, "policies/p.yaml": policy_doc("p")}, "add", ALICE)
    result = collect(store, {"repositories": [{"path": str(repo.path)}]})
    assert result.status == "succeeded"
    assert rows(store, "SELECT kind, name FROM git_manifest_objects ORDER BY kind") == [
        ("NetworkPolicy", "p"),
        ("Secret", "tls"),
    ]
    for artifact in store.artifacts_dir.rglob("*"):
        if artifact.is_file():
            assert b"PRIVATE KEY-----" not in artifact.read_bytes() and b"FakeKeyMaterial" not in artifact.read_bytes()

"""Egress allowlists are trusted only from their owners (issue 17), written from the specs before the fix.

Counter-examples are one-change variants of a compliant baseline, each in its own cluster of one store:

- logs/egress-controlled: an allowlist ConfigMap is a Kubernetes ConfigMap like any other, so any team that can
  create ConfigMaps in its namespace can label one; only the platform team's namespaces
  (``egress_allowlist_owners``) are trusted. CIDRs (RFC 4632) of ``/0`` cover every IPv4 (``0.0.0.0/0``) or IPv6
  (``::/0``) address; DNS wildcards (RFC 4592) over a top-level domain or a Public Suffix List entry
  (``co.uk``, ``github.io``) cover names anyone can register.
- git-changes/egress-allowlist-approved: the last change of each allowlist in the GitOps repository must be a
  pull request approved by someone other than its author on the merged head (GitHub reviews API).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import write
from test_pack_logs import NAMESPACES, flow

from collector.claims import ClaimResult, Settings, by_cluster, evaluate_pack, load_pack, resolve_pack
from collector.demo.git_history import GitHistory
from collector.demo.gitops import PullRequests
from collector.demo.recorded_api import RecordedAPI
from collector.runner import run_source
from collector.store import Store
from sources.git.source import GitSource
from sources.kubernetes.source import KubernetesSource
from sources.logs.source import LogsSource


def allowlist(namespace: str, name: str, *entries: str) -> str:
    data = "".join(f"    {e}\n" for e in entries)
    return (
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        f'  labels: {{defensible.io/egress-allowlist: "true"}}\ndata:\n  entries: |\n{data}'
    )


BASELINE = allowlist("platform", "egress-allowlist", "api.payments.example.net.", "*.amazonaws.com", "10.20.0.0/16")
BASELINE_FLOWS = [
    flow(0, "203.0.113.10", fqdn="api.payments.example.net"),
    flow(1, "52.94.1.1", fqdn="sqs.eu-west-1.amazonaws.com"),
    flow(2, "10.20.0.15", 5432),
]
# cluster: (extra manifests, extra flows, the offending (object, entry) each gap row must name)
VARIANTS: dict[str, tuple[str, list, set[tuple[str, str | None]]]] = {
    "own-namespace": (
        allowlist("shop", "shop-egress", "0.0.0.0/0", "*"),
        [flow(3, "198.51.100.23", fqdn="paste.example.org")],
        {("ConfigMap/shop-egress", None), ("api", "paste.example.org")},
    ),
    "lookalike-owner": (
        allowlist("platform-team", "egress-allowlist", "paste.example.org"),
        [flow(3, "198.51.100.23", fqdn="paste.example.org")],
        {("ConfigMap/egress-allowlist", None), ("api", "paste.example.org")},
    ),
    "every-ipv4": (
        allowlist("platform", "wide", "0.0.0.0/0"),
        [flow(3, "198.51.100.23")],
        {("ConfigMap/wide", "0.0.0.0/0"), ("api", "198.51.100.23")},
    ),
    "half-ipv4": (
        allowlist("platform", "wide", "0.0.0.0/1", "128.0.0.0/1"),
        [flow(3, "198.51.100.23")],
        {("ConfigMap/wide", "0.0.0.0/1"), ("ConfigMap/wide", "128.0.0.0/1"), ("api", "198.51.100.23")},
    ),
    "every-ipv6": (allowlist("platform", "v6", "::/0"), [], {("ConfigMap/v6", "::/0")}),
    "every-name": (
        allowlist("platform", "names", "*", "*.*"),
        [flow(3, "198.51.100.23", fqdn="paste.example.org")],
        {("ConfigMap/names", "*"), ("ConfigMap/names", "*.*"), ("api", "paste.example.org")},
    ),
    "tld": (
        allowlist("platform", "names", "*.com"),
        [flow(3, "198.51.100.23", fqdn="files.attacker.com")],
        {("ConfigMap/names", "*.com"), ("api", "files.attacker.com")},
    ),
    "public-suffix": (
        allowlist("platform", "names", "*.co.uk", "*.github.io", "*.s3.amazonaws.com"),
        [flow(3, "198.51.100.23", fqdn="drop.attacker.co.uk"), flow(4, "198.51.100.24", fqdn="x.github.io")],
        {
            ("ConfigMap/names", "*.co.uk"),
            ("ConfigMap/names", "*.github.io"),
            ("ConfigMap/names", "*.s3.amazonaws.com"),
            ("api", "drop.attacker.co.uk"),
            ("api", "x.github.io"),
        },
    ),
    "invalid": (
        allowlist("platform", "typo", "api-*.example.com", "300.1.1.1"),
        [],
        {("ConfigMap/typo", "api-*.example.com"), ("ConfigMap/typo", "300.1.1.1")},
    ),
}


@pytest.fixture(scope="module")
def logs_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("egress")
    with Store.open(tmp / "evidence.duckdb") as store:
        for cluster, (manifests, flows, _) in {"baseline": ("", [], set()), **VARIANTS}.items():
            path = write(tmp / cluster / "k8s.yaml", NAMESPACES + BASELINE + manifests)
            config = {"paths": [str(path)], "cluster": cluster, "egress_allowlists": True}
            assert run_source(store, KubernetesSource(), config).status == "succeeded"
            logs = write(tmp / cluster / "hubble.json", "".join(json.dumps(f) + "\n" for f in BASELINE_FLOWS + flows))
            config = {"inputs": [{"format": "hubble", "paths": [str(logs)]}], "cluster": cluster}
            assert run_source(store, LogsSource(), config).status == "succeeded"
        yield store


def evaluate(store: Store, pack: str, claim: str, **parameters: Any) -> ClaimResult:
    [result] = [
        r for r in evaluate_pack(store, load_pack(resolve_pack(pack)), Settings(parameters)) if r.claim.id == claim
    ]
    return result


def named(result: ClaimResult, cluster: str) -> set[tuple[str, str | None]]:
    """(object, entry or destination) of each gap row of ``cluster``."""
    _, gaps = by_cluster(result.evidence, result.gaps)[cluster]
    return {(row[gaps.columns.index("object")], row[gaps.columns.index("destination")]) for row in gaps.rows}


def test_each_untrusted_or_unbounded_allowlist_is_a_gap_and_allows_nothing(logs_store: Store) -> None:
    egress = evaluate(logs_store, "logs", "egress-controlled")
    assert egress.verdict == "gap"
    assert named(egress, "baseline") == set()
    evidence, _ = by_cluster(egress.evidence, egress.gaps)["baseline"]
    assert len(evidence.rows) == len(BASELINE_FLOWS)
    for cluster, (_, _, expected) in VARIANTS.items():
        assert named(egress, cluster) == expected, cluster
    findings = " | ".join(row[egress.gaps.columns.index("finding")] for row in egress.gaps.rows)
    for words in (
        "ConfigMap shop/shop-egress is outside its owners (egress_allowlist_owners: platform, kube-system, istio-",
        "0.0.0.0/0 (ConfigMap platform/wide data.entries): covers every IPv4 address",
        "/1 is wider than egress_allowlist_min_prefix /8",
        "::/0 (ConfigMap platform/v6 data.entries): covers every IPv6 address",
        "wildcard over the top-level domain com",
        "wildcard over the public suffix co.uk",
        "api-*.example.com (ConfigMap platform/typo data.entries): neither an IPv4 CIDR nor a DNS name pattern",
    ):
        assert words in findings


def test_public_suffix_rules_are_recorded_with_their_provenance(logs_store: Store) -> None:
    rules = logs_store.con.execute(
        "SELECT DISTINCT s.rule, a.origin FROM public_suffixes s JOIN artifacts a ON a.sha256 = s.artifact_sha256 "
        "WHERE s.rule IN ('co.uk', 's3.amazonaws.com', '*.ck', '!www.ck', 'example.com') ORDER BY ALL"
    ).fetchall()
    assert [rule for rule, _ in rules] == ["!www.ck", "*.ck", "co.uk", "s3.amazonaws.com"]
    assert all(origin.startswith("Public Suffix List (publicsuffixlist ") for _, origin in rules)


def test_owners_and_prefix_are_parameters_and_the_parameter_list_is_judged_too(logs_store: Store) -> None:
    egress = evaluate(
        logs_store,
        "logs",
        "egress-controlled",
        egress_allowlist_owners=["shop"],
        egress_allowlist_min_prefix=1,
        egress_allowlist=["0.0.0.0/0", "*.example.org"],
    )
    assert ("ConfigMap/egress-allowlist", None) in named(egress, "baseline")  # platform no longer an owner
    assert ("api", "api.payments.example.net") in named(egress, "baseline")
    assert ("ConfigMap/shop-egress", "0.0.0.0/0") in named(egress, "own-namespace")  # trusted, still unbounded
    assert ("api", "paste.example.org") not in named(egress, "own-namespace")  # *.example.org is bounded
    assert ("ConfigMap/wide", "0.0.0.0/1") not in named(egress, "half-ipv4")  # /1 is now long enough
    cols = egress.gaps.columns
    unplaced = {(r[cols.index("object")], r[cols.index("destination")]) for r in egress.gaps.rows if r[0] is None}
    assert unplaced == {("parameter egress_allowlist", "0.0.0.0/0")}  # the auditor's own list is judged too


# egress-allowlist-approved --------------------------------------------------------------------------------------

ALICE, BOB, DAVE = ("Alice Adams", "alice@example.org"), ("Bob Brown", "bob@example.org"), ("Dave Diaz", "dave@x.org")
LOGINS = {ALICE: "alice", BOB: "bob", DAVE: "dave"}
PROJECT = "casework/gitops"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
UNLABELLED = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: platform}\ndata: {a: b}\n"


class Repo:
    """A GitOps repository whose pull requests a recorded GitHub API serves."""

    def __init__(self, path: Path) -> None:
        self.git = GitHistory(path, START)
        self.prs = PullRequests(self.git, PROJECT)
        self.number = 0

    def pull(self, files: dict[str, str | None], author: tuple, reviewer: tuple | None, *, stale: bool = False) -> str:
        """Merge ``files`` through a pull request that ``reviewer`` approved (on an earlier head if ``stale``)."""
        self.number += 1
        branch = f"change-{self.number}"
        self.git.switch(branch, create=True)
        head = self.git.commit(files, f"Change {self.number}", author)
        if stale:
            self.prs.review(self.number, LOGINS[reviewer], "APPROVED", head, self.git.clock)
            head = self.git.commit({k: (v or "") + "# tweak\n" for k, v in files.items()}, "tweak", author)
            reviewer = None
        if reviewer:
            self.prs.review(self.number, LOGINS[reviewer], "APPROVED", head, self.git.clock + timedelta(minutes=5))
        self.git.switch("main")
        merge = self.git.merge(branch, f"Merge pull request #{self.number} from casework/{branch}", author)
        self.prs.merged(self.number, LOGINS[author], branch, head, merge)
        return merge


def build_repo(path: Path) -> Repo:
    repo = Repo(path)
    repo.git.commit({"README.md": "# gitops\n"}, "Initial layout", ALICE)
    repo.pull({"egress/baseline.yaml": git_allowlist("egress-allowlist")}, ALICE, BOB)
    repo.pull({"egress/pushed.yaml": allowlist("platform", "pushed", "a.example.net")}, ALICE, BOB)
    repo.git.commit({"egress/pushed.yaml": git_allowlist("pushed")}, "widen", DAVE)
    repo.pull({"egress/self.yaml": git_allowlist("self-approved")}, ALICE, ALICE)
    repo.pull({"egress/stale.yaml": git_allowlist("stale")}, ALICE, BOB, stale=True)
    repo.pull({"egress/removed.yaml": git_allowlist("removed")}, ALICE, BOB)
    repo.pull({"egress/removed.yaml": None}, ALICE, BOB)
    repo.pull({"egress/edited.yaml": git_allowlist("edited")}, ALICE, BOB)
    repo.git.commit({"egress/settings.yaml": UNLABELLED}, "direct push of a ConfigMap that is no allowlist", DAVE)
    repo.git.commit({"README.md": "later direct push of another file\n"}, "docs", DAVE)
    return repo


def git_allowlist(name: str, *, reorder: bool = False) -> str:
    hosts, networks = f"  hosts: |\n    {name}.example.net\n", "  networks: |\n    10.30.0.0/16\n"
    return allowlist("platform", name).replace("  entries: |\n", networks + hosts if reorder else hosts + networks)


# The cluster's ConfigMaps: the repository's as deployed (data keys in another order for one), the one removed
# from git, one edited in the cluster after its reviewed change, and one created by hand.
LIVE = (
    git_allowlist("egress-allowlist", reorder=True)
    + "".join(git_allowlist(name) for name in ("pushed", "self-approved", "stale", "removed"))
    + git_allowlist("edited").replace("10.30.0.0/16", "0.0.0.0/0")
    + allowlist("platform", "hand-made", "x.example.net")
    + "---\n"
    + UNLABELLED
)


@pytest.fixture(scope="module")
def git_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("egress-git")
    repo = build_repo(tmp / "gitops")
    with Store.open(tmp / "evidence.duckdb") as store, RecordedAPI(repo.prs.routes) as api:
        config = {
            "paths": [str(write(tmp / "cluster" / "live.yaml", LIVE))],
            "cluster": "prod",
            "egress_allowlists": True,
        }
        assert run_source(store, KubernetesSource(), config).status == "succeeded"
        review = {"platform": "github", "project": PROJECT, "api_url": api.url}
        config = {"repositories": [{"path": str(repo.git.path), "name": "gitops", "review": review}]}
        assert run_source(store, GitSource(), config).status == "succeeded"
        yield store


def test_each_allowlist_last_change_must_be_reviewed(git_store: Store) -> None:
    approved = evaluate(git_store, "git-changes", "egress-allowlist-approved")
    assert approved.verdict == "gap"
    columns = approved.gaps.columns
    reasons = {row[columns.index("object")]: row[columns.index("reason")] for row in approved.gaps.rows}
    assert set(reasons) == {
        "ConfigMap/pushed",
        "ConfigMap/self-approved",
        "ConfigMap/stale",
        "ConfigMap/removed",
        "ConfigMap/edited",
        "ConfigMap/hand-made",
    }
    assert "direct push to main without a pull request" in reasons["ConfigMap/pushed"]
    assert "0 of 1 required independent approval(s); self-approved by alice" in reasons["ConfigMap/self-approved"]
    assert "stale approval by bob" in reasons["ConfigMap/stale"]
    assert "removed it, yet it is live" in reasons["ConfigMap/removed"]
    assert "data differs from what its last change in git" in reasons["ConfigMap/edited"]
    assert "no change in the collected git history defines it" in reasons["ConfigMap/hand-made"]
    [baseline] = approved.evidence.rows
    assert baseline[approved.evidence.columns.index("object")] == "ConfigMap/egress-allowlist"
    assert baseline[approved.evidence.columns.index("approvers")] == ["bob"]


def test_allowlist_approval_needs_git_and_the_allowlists(logs_store: Store) -> None:
    result = evaluate(logs_store, "git-changes", "egress-allowlist-approved")
    assert result.verdict == "no-evidence" and "git_commits" in result.reason

"""The demo's GitOps repository and the GitHub API responses for its pull requests.

The Casework manifests reach ``main`` through a bootstrap commit (before the review window), two reviewed
pull requests, a self-approved squash merge (a gap for *changes reviewed*), a break-glass direct
push to the egress allowlist that is reverted three hours later (accounted for), and the platform's architecture
decision record, approved in review by the platform, security, SRE and application-owner approvers it names. No
game-day or rollback-test report is committed: those launch-gate items have no evidence.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from collector.demo.git_history import GitHistory, Person

ALICE: Person = ("Alice Adams", "alice@casework.example.gov")
BOB: Person = ("Bob Brown", "bob@casework.example.gov")
CAROL: Person = ("Carol Chen", "carol@casework.example.gov")
DAVE: Person = ("Dave Diaz", "dave@casework.example.gov")
ERIN: Person = ("Erin Evans", "erin@casework.example.gov")
BOT: Person = ("platform-bot", "platform-bot@casework.example.gov")
LOGINS = {ALICE: "alice", BOB: "bob", CAROL: "carol", DAVE: "dave", ERIN: "erin", BOT: "platform-bot"}
PROJECT = "casework/platform-gitops"
BOOTSTRAP = (
    "00-namespaces.yaml",
    "10-gateways.yaml",
    "50-case-workers.yaml",
    "60-istio-policies.json",
    "70-egress-allowlist.yaml",
    "80-resilience.yaml",
)
EGRESS_ALLOWLIST = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: egress-allowlist, namespace: egress}
data:
  hosts: |
    api.payments.example.net
    *
"""


ADR = """\
---
type: adr
id: ADR-0001
title: One shared Gateway API ingress, mTLS mesh and egress allowlist for Casework
status: accepted
date: {date}
approvers:
  platform: alice
  security: bob
  sre: carol
  app-owner: dave
---
# ADR-0001: Shared ingress, mesh mTLS and an egress allowlist

## Context
Casework exposes citizen and enforcement APIs from one cluster and must evidence its network controls.

## Decision
Public routes attach to one Gateway API gateway; workloads talk over Istio mTLS; egress leaves only to the hosts
in the egress allowlist.

## Consequences
Route, policy and allowlist changes go through reviewed pull requests; the platform team owns the gateway.
"""


def github_pull(
    project: str, number: int, author: str, branch: str, head: str, merge: str, merged_at: str, labels: list[str]
) -> dict[str, Any]:
    """A pull request as ``GET /repos/{owner}/{repo}/pulls/{number}`` returns it (fields we read, and context)."""
    return {
        "url": f"https://api.github.com/repos/{project}/pulls/{number}",
        "number": number,
        "state": "closed",
        "title": f"#{number} from {branch}",
        "user": {"login": author, "type": "User"},
        "labels": [{"name": label, "color": "d73a4a"} for label in labels],
        "head": {"label": f"{project.split('/')[0]}:{branch}", "ref": branch, "sha": head},
        "base": {"ref": "main"},
        "merged": True,
        "merged_at": merged_at,
        "merge_commit_sha": merge,
    }


def github_review(
    project: str, number: int, review_id: int, reviewer: str, state: str, commit: str, at: datetime
) -> dict[str, Any]:
    """A review as ``GET /repos/{owner}/{repo}/pulls/{number}/reviews`` lists it."""
    return {
        "id": review_id,
        "user": {"login": reviewer, "type": "User"},
        "body": "",
        "state": state,
        "html_url": f"https://github.com/{project}/pull/{number}",
        "author_association": "MEMBER",
        "submitted_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit_id": commit,
    }


class PullRequests:
    """Recorded API routes for the pull requests of one repository."""

    def __init__(self, repo: GitHistory, project: str) -> None:
        self.repo, self.project = repo, project
        self.routes: dict[str, Any] = {}

    def merged(
        self, number: int, author: str, branch: str, head: str, merge: str, labels: tuple[str, ...] = ()
    ) -> None:
        merged_at = self.repo.git("show", "-s", "--format=%cI", merge)
        pull = github_pull(self.project, number, author, branch, head, merge, merged_at, list(labels))
        self.routes[f"/repos/{self.project}/pulls/{number}"] = [pull]
        self.routes.setdefault(f"/repos/{self.project}/pulls/{number}/reviews", [[]])
        self.routes[f"/repos/{self.project}/pulls/{number}/commits"] = [self.commits(merge, head)]

    def commits(self, merge: str, head: str) -> list[dict[str, Any]]:
        """The pull request's commits (on ``head``, not on the merge's first parent) as
        ``GET /repos/{owner}/{repo}/pulls/{number}/commits`` lists them; a person's login is the local part of
        their email (as the demo and the tests name people). None listed for a head that is not in the repository."""
        try:
            listed = self.repo.git("log", "--reverse", "--format=%H %ae %ce", f"{merge}^1..{head}")
        except RuntimeError:
            return []
        return [
            {"sha": sha, "author": {"login": author.split("@")[0]}, "committer": {"login": committer.split("@")[0]}}
            for sha, author, committer in (line.split() for line in listed.splitlines())
        ]

    def review(self, number: int, reviewer: str, state: str, commit: str, at: datetime) -> None:
        pages = self.routes.setdefault(f"/repos/{self.project}/pulls/{number}/reviews", [[]])
        review_id = number * 1000 + sum(map(len, pages))
        pages[-1].append(github_review(self.project, number, review_id, reviewer, state, commit, at))


def build_gitops_repo(path: Path, manifests: Path, start: datetime) -> tuple[PullRequests, str]:
    """Commit ``manifests`` into a new repository at ``path`` through a realistic history; return the
    pull-request API routes and the start of the review window (just after the bootstrap)."""
    repo = GitHistory(path, start)
    prs = PullRequests(repo, PROJECT)

    def files(*names: str) -> dict[str, str | None]:
        return {f"k8s/{name}": (manifests / name).read_text() for name in names}

    repo.commit(files(*BOOTSTRAP), "Bootstrap the Casework platform", BOT)
    window_start = (repo.clock + timedelta(minutes=30)).isoformat()
    for number, author, reviewer, name, branch in (
        (101, ALICE, BOB, "20-citizen-api.yaml", "feature/citizen-api"),
        (102, CAROL, ALICE, "30-enforcement.yaml", "feature/enforcement-api"),
    ):
        repo.switch(branch, create=True)
        head = repo.commit(files(name), f"Add {name.split('-', 1)[1].removesuffix('.yaml')}", author)
        repo.switch("main")
        prs.review(number, LOGINS[reviewer], "APPROVED", head, repo.clock + timedelta(minutes=40))
        repo.tick(24)
        merge = repo.merge(branch, f"Merge pull request #{number} from {PROJECT.split('/')[0]}/{branch}", author)
        prs.merged(number, LOGINS[author], branch, head, merge)

    squash = repo.commit(files("40-admin-console.yaml"), "Expose the admin console (#103)", DAVE)
    prs.merged(103, "dave", "feature/admin-console", "3" * 40, squash)
    prs.review(103, "dave", "APPROVED", "3" * 40, repo.clock - timedelta(minutes=10))

    glass = repo.commit(
        {"egress/egress-allowlist.yaml": EGRESS_ALLOWLIST},
        "Allow all egress while the payments provider rotates IPs\n\nBreak-glass: INC-2041",
        DAVE,
    )
    repo.revert(glass, DAVE, hours_later=3)

    repo.switch("docs/adr-0001", create=True)
    head = repo.commit({"docs/adr/0001-shared-ingress.md": ADR.format(date=f"{repo.clock:%Y-%m-%d}")}, "ADR-0001", ERIN)
    repo.switch("main")
    for minutes, login in enumerate(("alice", "bob", "carol", "dave"), 1):
        prs.review(104, login, "APPROVED", head, repo.clock + timedelta(minutes=10 * minutes))
    repo.tick(2)
    merge = repo.merge("docs/adr-0001", f"Merge pull request #104 from {PROJECT.split('/')[0]}/docs/adr-0001", ERIN)
    prs.merged(104, "erin", "docs/adr-0001", head, merge)
    return prs, window_start

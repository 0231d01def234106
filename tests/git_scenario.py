"""A GitOps repository with every approval situation, and the GitHub API responses that go with it.

Built with the git CLI at a fixed clock (January 2026), so every emergency window has elapsed when the
tests collect. ``build_scenario`` returns the repository, the named commits and the API routes.
"""

from __future__ import annotations

import subprocess
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from collector.demo.git_history import GitHistory, Person
from collector.demo.gitops import PullRequests

ALICE = ("Alice Adams", "alice@example.org")
BOB = ("Bob Brown", "bob@example.org")
CAROL = ("Carol Chen", "carol@example.org")
DAVE = ("Dave Diaz", "dave@example.org")
LOGINS = {ALICE: "alice", BOB: "bob", CAROL: "carol", DAVE: "dave"}
PROJECT = "casework/gitops"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def route(name: str, namespace: str, backend: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata:
          name: {name}
          namespace: {namespace}
        spec:
          parentRefs: [{{name: public, namespace: gateway-infra}}]
          rules:
            - backendRefs: [{{name: {backend}, port: 8080}}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {{name: {backend}, namespace: {namespace}}}
        spec: {{ports: [{{port: 8080}}]}}
        """)


def policy(namespace: str, ingress_from: str | None = None) -> str:
    rules = (
        f"\n  ingress:\n    - from: [{{namespaceSelector: {{matchLabels: {{team: {ingress_from}}}}}}}]"
        if ingress_from
        else ""
    )
    return (
        textwrap.dedent(f"""\
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {{name: default-deny, namespace: {namespace}}}
        spec:
          podSelector: {{}}
          policyTypes: [Ingress]""")
        + rules
        + "\n"
    )


@dataclass
class Scenario:
    repo: GitHistory
    prs: PullRequests
    commits: dict[str, str] = field(default_factory=dict)
    allowed_signers: Path | None = None

    @property
    def routes(self) -> dict[str, Any]:
        return self.prs.routes

    def pull(
        self, number: int, author: Person, branch: str, head: str, merge: str, labels: tuple[str, ...] = ()
    ) -> None:
        self.prs.merged(number, LOGINS[author], branch, head, merge, labels)

    def review(self, number: int, reviewer: Person, state: str, commit: str, at: datetime) -> None:
        self.prs.review(number, LOGINS[reviewer], state, commit, at)


def ssh_signing_key(directory: Path, email: str) -> tuple[Path, Path]:
    """An ed25519 SSH key and an allowed-signers file trusting it for ``email``."""
    key = directory / "signing_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", str(key)], check=True)
    signers = directory / "allowed_signers"
    signers.write_text(f'{email} namespaces="git" {key.with_suffix(".pub").read_text().strip()}\n')
    return key, signers


def build_scenario(root: Path) -> Scenario:
    repo = GitHistory(root / "gitops", START)
    s = Scenario(repo, PullRequests(repo, PROJECT))
    c = s.commits
    c["root"] = repo.commit({"README.md": "# gitops\n"}, "Initial layout", ALICE)

    # PR 1: a route, approved by Bob on the merged head; its commit carries repeated trailers.
    repo.switch("feature/citizen-route", create=True)
    c["pr1-head"] = repo.commit(
        {"routes/citizen.yaml": route("citizen-api", "citizen", "citizen-svc")},
        "Expose the citizen API\n\nSigned-off-by: Alice Adams <alice@example.org>\n"
        "Co-authored-by: Carol Chen <carol@example.org>\nSigned-off-by: Carol Chen <carol@example.org>",
        ALICE,
    )
    repo.switch("main")
    s.review(1, BOB, "COMMENTED", c["pr1-head"], repo.clock + timedelta(minutes=10))
    s.review(1, BOB, "APPROVED", c["pr1-head"], repo.clock + timedelta(minutes=20))
    c["pr1"] = repo.merge("feature/citizen-route", "Merge pull request #1 from casework/feature/citizen-route", ALICE)
    s.pull(1, ALICE, "feature/citizen-route", c["pr1-head"], c["pr1"])

    # PR 2: squash-merged policy change approved only by its author.
    c["pr2"] = repo.commit({"policies/citizen.yaml": policy("citizen")}, "Default deny for citizen (#2)", CAROL)
    s.pull(2, CAROL, "policy/citizen", "2" * 40, c["pr2"])
    s.review(2, CAROL, "APPROVED", "2" * 40, repo.clock - timedelta(minutes=5))

    # PR 3: Bob approved an earlier head; Alice pushed again and merged.
    repo.switch("feature/more-routes", create=True)
    c["pr3-first"] = repo.commit(
        {"routes/citizen.yaml": route("citizen-api", "citizen", "citizen-v2")}, "Route to v2", ALICE
    )
    s.review(3, BOB, "APPROVED", c["pr3-first"], repo.clock + timedelta(minutes=5))
    c["pr3-head"] = repo.commit(
        {"routes/citizen.yaml": route("citizen-api", "citizen", "citizen-v3")}, "Route to v3", ALICE
    )
    repo.switch("main")
    c["pr3"] = repo.merge("feature/more-routes", "Merge pull request #3 from casework/feature/more-routes", ALICE)
    s.pull(3, ALICE, "feature/more-routes", c["pr3-head"], c["pr3"])

    # A direct push to main, with a Reviewed-by trailer nobody verified.
    c["direct"] = repo.commit(
        {"policies/citizen.yaml": policy("citizen", "frontend")},
        "Allow frontend into citizen\n\nReviewed-by: Bob Brown <bob@example.org>",
        DAVE,
    )

    # Break-glass direct push to the egress allowlist, reverted two hours later.
    c["glass"] = repo.commit(
        {"egress/egress-allowlist.yaml": "hosts:\n  - api.partner.example\n  - '*'\n"},
        "Open egress during incident\n\nBreak-glass: INC-42",
        DAVE,
    )
    c["glass-revert"] = repo.revert(c["glass"], DAVE, hours_later=2)

    # PR 4: emergency hotfix branch, labelled, never reverted nor approved: unaccounted.
    repo.switch("hotfix/open-admin", create=True)
    c["pr4-head"] = repo.commit({"routes/admin.yaml": route("admin", "admin", "admin-console")}, "Open admin", DAVE)
    repo.switch("main")
    c["pr4"] = repo.merge("hotfix/open-admin", "Merge pull request #4 from casework/hotfix/open-admin", DAVE)
    s.pull(4, DAVE, "hotfix/open-admin", c["pr4-head"], c["pr4"], labels=("emergency",))

    # PR 5: emergency PR approved by Bob after the merge, within the window.
    repo.switch("hotfix/fix-admin", create=True)
    c["pr5-head"] = repo.commit(
        {"routes/admin.yaml": route("admin", "admin", "admin-console-v2")}, "Fix admin backend", DAVE
    )
    repo.switch("main")
    c["pr5"] = repo.merge("hotfix/fix-admin", "Merge pull request #5 from casework/hotfix/fix-admin", DAVE)
    s.pull(5, DAVE, "hotfix/fix-admin", c["pr5-head"], c["pr5"], labels=("Break-Glass",))
    s.review(5, BOB, "APPROVED", c["pr5-head"], repo.clock + timedelta(hours=20))

    # A broken manifest somewhere in history, and a commit signed with an allowed SSH key.
    c["broken"] = repo.commit({"routes/broken.yaml": "kind: HTTPRoute\nmetadata: [unclosed\n"}, "WIP", DAVE)
    key, s.allowed_signers = ssh_signing_key(root, ALICE[1])
    c["signed"] = repo.commit({"routes/broken.yaml": None}, "Remove WIP", ALICE, signing_key=key)
    return s

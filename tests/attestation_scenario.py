"""GitOps repositories holding attestations (an ADR, a game-day and a rollback-test report), each merged through
its own pull request with recorded reviews: a compliant baseline, and one-change variants of it."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector.demo.git_history import GitHistory, Person
from collector.demo.gitops import PullRequests
from collector.runner import run_source
from collector.store import Store
from sources.git.source import GitSource

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AS_OF = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
CLUSTER = "prod-eu"
ERIN: Person = ("Erin Evans", "erin@example.org")
ROLES = {"platform": "alice", "security": "bob", "sre": "carol", "app-owner": "dave"}

ADR = textwrap.dedent("""\
    ---
    type: adr
    id: ADR-0007
    title: Shared Gateway API ingress for the regulated platform
    status: accepted
    date: 2026-03-01
    approvers:
      platform: alice
      security: bob
      sre: carol
      app-owner: dave
    ---
    # ADR-0007: Shared Gateway API ingress

    ## Context
    ## Decision
    ## Consequences
    """)


def report(kind: str, date: str = "2026-03-20", clusters: str = CLUSTER, result: str = "pass") -> str:
    return textwrap.dedent(f"""\
        ---
        type: {kind}
        id: {kind.upper()}-2026-03
        title: {kind} exercise
        date: {date}
        scope:
          clusters: [{clusters}]
          services: [citizen/citizen-api]
        result: {result}
        follow_ups: [automate the DNS cut-over]
        ---
        # Report
        """)


@dataclass
class Document:
    path: str
    text: str
    approvers: tuple[str, ...]  # logins approving in review
    pushed_after_review: bool = False  # the author pushed again after the approvals: they are on an earlier head


def baseline() -> list[Document]:
    return [
        Document("docs/adr/0007-shared-ingress.md", ADR, tuple(ROLES.values())),
        Document("attestations/game-days/2026-03.md", report("game-day"), ("bob",)),
        Document("attestations/rollback/2026-03.md", report("rollback-test"), ("carol",)),
    ]


@dataclass
class Repositories:
    """Repositories built under ``root``, with the review API routes of all of them."""

    root: Path
    routes: dict = field(default_factory=dict)

    def build(self, name: str, documents: list[Document]) -> Path:
        repo = GitHistory(self.root / name, START)
        prs = PullRequests(repo, f"casework/{name}")
        repo.commit({"README.md": "# gitops\n"}, "Initial layout", ERIN)
        for number, doc in enumerate(documents, 1):
            branch = f"docs/{number}"
            repo.switch(branch, create=True)
            head = repo.commit({doc.path: doc.text}, f"Add {doc.path}", ERIN)
            repo.switch("main")
            for login in doc.approvers:
                prs.review(number, login, "APPROVED", head, repo.clock + timedelta(minutes=10))
            if doc.pushed_after_review:
                repo.switch(branch)
                repo.tick()
                head = repo.commit({doc.path: doc.text + "\nTypo fixed.\n"}, "Fix a typo", ERIN)
                repo.switch("main")
            repo.tick()
            merge = repo.merge(branch, f"Merge pull request #{number} from casework/{branch}", ERIN)
            prs.merged(number, "erin", branch, head, merge)
        self.routes.update(prs.routes)
        return repo.path


def collect_git(store: Store, repos: list[Path], api_url: str) -> None:
    review = {"platform": "github", "api_url": api_url}
    configs = [{"path": str(repo), "review": {**review, "project": f"casework/{repo.name}"}} for repo in repos]
    run_source(store, GitSource(), {"repositories": configs})

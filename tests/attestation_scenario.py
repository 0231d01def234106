"""GitOps repositories holding attestations (an ADR, a game-day and a rollback-test report), each merged through
its own pull request with recorded reviews (GitHub API responses): a compliant baseline, and one-change variants
of it. Repositories are written with one ``git fast-import`` each."""

from __future__ import annotations

import subprocess
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector.demo.git_history import Person
from collector.demo.gitops import github_pull, github_review
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
    direct_push: bool = False  # committed straight to main, without a pull request


def baseline() -> list[Document]:
    return [
        Document("docs/adr/0007-shared-ingress.md", ADR, tuple(ROLES.values())),
        Document("attestations/game-days/2026-03.md", report("game-day"), ("bob",)),
        Document("attestations/rollback/2026-03.md", report("rollback-test"), ("carol",)),
    ]


class History:
    """A ``git fast-import`` stream: commits at a controlled clock, imported in one git process (building each
    repository with one git command per step would dominate the tests' time)."""

    def __init__(self) -> None:
        self.clock, self.marks = START, 0
        self.chunks: list[bytes] = []

    def commit(self, ref: str, message: str, files: dict[str, str], parents: tuple[int, ...] = ()) -> int:
        """Commit ``files`` on ``ref`` (its first parent, then merged ones, by mark); return the commit's mark."""
        self.clock += timedelta(hours=1)
        self.marks += 1
        stamp = f"{ERIN[0]} <{ERIN[1]}> {int(self.clock.timestamp())} +0000"
        lines = [f"commit {ref}", f"mark :{self.marks}", f"author {stamp}", f"committer {stamp}"]
        self.chunks.append(("\n".join(lines) + "\n").encode() + data(message))
        self.chunks += [f"{'merge' if i else 'from'} :{mark}\n".encode() for i, mark in enumerate(parents)]
        for path, text in files.items():
            self.chunks.append(f"M 100644 inline {path}\n".encode() + data(text))
        self.chunks.append(b"\n")
        return self.marks

    def write(self, path: Path) -> dict[int, str]:
        """Create the repository at ``path``; return each mark's commit sha."""
        subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
        marks = path / ".git" / "marks"
        stream = b"".join(self.chunks)
        subprocess.run(["git", "-C", str(path), "fast-import", "--quiet", f"--export-marks={marks}"], input=stream,
                       check=True)  # fmt: skip
        return {int(mark[1:]): sha for mark, sha in (line.split() for line in marks.read_text().splitlines())}


def data(text: str) -> bytes:
    raw = text.encode()
    return f"data {len(raw)}\n".encode() + raw + b"\n"


@dataclass
class Repositories:
    """Repositories built under ``root``, with the review API routes of all of them."""

    root: Path
    routes: dict = field(default_factory=dict)

    def build(self, name: str, documents: list[Document]) -> Path:
        """A repository whose ``main`` merges each document through its own pull request, reviewed as it says."""
        history, project = History(), f"casework/{name}"
        main = history.commit("refs/heads/main", "Initial layout", {"README.md": "# gitops\n"})
        pulls = []
        for number, doc in enumerate(documents, 1):
            if doc.direct_push:
                main = history.commit("refs/heads/main", f"Add {doc.path}", {doc.path: doc.text}, (main,))
                continue
            branch = f"docs/{number}"
            head = history.commit(f"refs/heads/{branch}", f"Add {doc.path}", {doc.path: doc.text}, (main,))
            reviewed = head
            if doc.pushed_after_review:
                head = history.commit(f"refs/heads/{branch}", "Fix a typo", {doc.path: history_text(doc)}, (head,))
            message = f"Merge pull request #{number} from casework/{branch}"
            main = history.commit("refs/heads/main", message, {doc.path: history_text(doc)}, (main, head))
            pulls.append((number, doc, branch, reviewed, head, main, history.clock))
        sha = history.write(self.root / name)
        for number, doc, branch, reviewed, head, merge, merged_at in pulls:
            stamp = merged_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            self.routes[f"/repos/{project}/pulls/{number}"] = [
                github_pull(project, number, "erin", branch, sha[head], sha[merge], stamp, [])
            ]
            self.routes[f"/repos/{project}/pulls/{number}/reviews"] = [[
                github_review(project, number, number * 100 + i, login, "APPROVED", sha[reviewed],
                              merged_at - timedelta(minutes=30))
                for i, login in enumerate(doc.approvers)
            ]]  # fmt: skip
            self.routes[f"/repos/{project}/pulls/{number}/commits"] = [[]]  # by nobody who approves
        return self.root / name


def history_text(doc: Document) -> str:
    """The document as merged (with the typo fixed when pushed after review)."""
    return doc.text + ("Typo.\n" if doc.pushed_after_review else "")


def collect_git(store: Store, repos: list[Path], api_url: str) -> None:
    review = {"platform": "github", "api_url": api_url}
    configs = [{"path": str(repo), "review": {**review, "project": f"casework/{repo.name}"}} for repo in repos]
    run_source(store, GitSource(), {"repositories": configs})

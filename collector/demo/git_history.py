"""Build git histories with the git CLI: the demo's GitOps repository, and the tests' repositories.

Every operation runs at a controlled clock (author and committer dates), so histories are reproducible
and time windows can be tested.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

Person = tuple[str, str]  # (name, email)


class GitHistory:
    def __init__(self, path: Path, start: datetime, branch: str = "main") -> None:
        self.path = path
        self.clock = start
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", branch)
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str, person: Person = ("Builder", "builder@example.org")) -> str:
        stamp = self.clock.isoformat()
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": person[0],
            "GIT_AUTHOR_EMAIL": person[1],
            "GIT_COMMITTER_NAME": person[0],
            "GIT_COMMITTER_EMAIL": person[1],
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        done = subprocess.run(["git", "-C", str(self.path), *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def tick(self, hours: float = 1) -> None:
        self.clock += timedelta(hours=hours)

    def commit(
        self, files: dict[str, str | None], message: str, author: Person, signing_key: Path | None = None
    ) -> str:
        """Write (or with ``None`` delete) ``files`` and commit them; return the new sha."""
        self.tick()
        for name, content in files.items():
            target = self.path / name
            if content is None:
                self.git("rm", "-q", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            self.git("add", name)
        sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={signing_key}"] if signing_key else []
        self.git(*sign, "commit", "-q", *(["-S"] if signing_key else []), "-m", message, person=author)
        return self.head()

    def switch(self, branch: str, create: bool = False) -> None:
        self.git("switch", "-q", *(["-c"] if create else []), branch)

    def merge(self, branch: str, message: str, author: Person) -> str:
        """Merge ``branch`` into the current branch with a merge commit (as a platform's merge button)."""
        self.tick()
        self.git("merge", "-q", "--no-ff", "-m", message, branch, person=author)
        return self.head()

    def revert(self, sha: str, author: Person, hours_later: float = 1) -> str:
        self.tick(hours_later)
        parents = self.git("rev-list", "--parents", "-n", "1", sha).split()
        mainline = ["-m", "1"] if len(parents) > 2 else []
        self.git("revert", "--no-edit", *mainline, sha, person=author)
        return self.head()

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", rev)

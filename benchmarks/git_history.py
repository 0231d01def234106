"""Benchmark: collect a synthetic GitOps history of N commits (default 10,000) with the git source.

The history is written with ``git fast-import``: pull-request branches merged with merge commits and
direct pushes, each commit changing a route or policy manifest (so every commit brings a new blob to
map to Kubernetes objects). Prints commits/s and the ratio of the collection time to the bare
``git log`` invocations the source makes (the floor any git-based collector pays).

    python benchmarks/git_history.py [--commits 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from collector.runner import run_source
from collector.store import Store
from sources.git.source import COMMIT_FORMAT, GitSource

EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


def manifest(i: int) -> bytes:
    kind, extra = ("HTTPRoute", f"  hostnames: [svc{i}.example.org]\n") if i % 2 else ("NetworkPolicy", "")
    return (
        f"apiVersion: example/v1\nkind: {kind}\nmetadata:\n  name: obj-{i % 500}\n  namespace: ns-{i % 37}\n"
        f"spec:\n{extra}  revision: {i}\n"
    ).encode()


def data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def fast_import_stream(commits: int) -> bytes:
    out: list[bytes] = []
    mark = 0
    main: int | None = None
    made = 0

    def commit(ref: str, parent: int | None, merge: int | None, message: str, i: int) -> int:
        nonlocal mark
        mark += 1
        out.append(b"blob\nmark :%d\n" % mark + data(manifest(i)))
        blob = mark
        mark += 1
        who = f"dev{i % 13} <dev{i % 13}@example.org> {EPOCH + 60 * i} +0000"
        out.append(f"commit {ref}\nmark :{mark}\nauthor {who}\ncommitter {who}\n".encode() + data(message.encode()))
        if parent is not None:
            out.append(b"from :%d\n" % parent)
        if merge is not None:
            out.append(b"merge :%d\n" % merge)
        path = f"{'routes' if i % 2 else 'policies'}/obj-{i % 500}.yaml"
        out.append(f"M 100644 :{blob} {path}\n\n".encode())
        return mark

    while made < commits:
        if made % 3 == 2 and main is not None and made + 2 <= commits:  # a pull request: branch commit + merge commit
            head = commit(f"refs/heads/pr-{made}", main, None, f"Change {made}", made)
            main = commit("refs/heads/main", main, head, f"Merge pull request #{made} from org/pr-{made}", made + 1)
            made += 2
        else:
            main = commit("refs/heads/main", main, None, f"Direct change {made}\n\nReviewed-by: ops <ops@x>", made)
            made += 1
    return b"".join(out)


def build_repo(path: Path, commits: int) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=fast_import_stream(commits), check=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True)


def bare_git_seconds(path: Path) -> float:
    started = time.perf_counter()
    for args in (
        ["log", f"--format={COMMIT_FORMAT}", "main"],
        ["log", "--format=%x1e%H", "--diff-merges=first-parent", "--raw", "--no-abbrev", "--no-renames", "main"],
        ["rev-list", "--first-parent", "main"],
    ):
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "gitops"
        build_repo(repo, args.commits)
        baseline = bare_git_seconds(repo)
        with Store.open(Path(tmp) / "evidence.duckdb") as store:
            started = time.perf_counter()
            result = run_source(store, GitSource(), {"repositories": [{"path": str(repo)}]})
            elapsed = time.perf_counter() - started
        commits = result.counts.get("git_commits", 0)
        print(f"git source: {result.status}, {commits} commits, {result.counts.get('git_manifest_objects', 0)} objects")
        print(f"commits/s: {commits / elapsed:,.0f}")
        print(f"ratio to bare git log: {elapsed / baseline:.1f}x")
        if result.status != "succeeded" or commits != args.commits:
            raise SystemExit(f"benchmark run did not collect every commit: {result.error or result.counts}")


if __name__ == "__main__":
    main()

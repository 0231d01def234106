"""The documentation's commands run as written: every ```sh block preceded by `<!-- test: run -->` is executed,
in file order, in one temporary directory per document, with this checkout's `defensible` on PATH."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from collector.catalogue import builtin_catalogue
from collector.framework import builtin_coverage

DOCS = Path(__file__).resolve().parents[1] / "docs"
RUNNABLE = re.compile(r"<!-- test: run -->\n```sh\n(.*?)```", re.DOTALL)


def runnable_docs() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.md") if RUNNABLE.search(p.read_text()))


@pytest.mark.parametrize("doc", runnable_docs(), ids=lambda p: p.name)
def test_documented_commands_run(doc: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for number, block in enumerate(RUNNABLE.findall(doc.read_text()), start=1):
        done = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{doc.name} block {number}:\n{block}\n{done.stdout}\n{done.stderr}"


def test_getting_started_is_runnable() -> None:
    assert DOCS / "getting-started.md" in runnable_docs()


def test_claims_catalogue_is_current() -> None:
    assert (DOCS / "claims.md").read_text() == builtin_catalogue(), "regenerate: python -m collector.catalogue"


def test_coverage_is_current() -> None:
    assert (DOCS / "coverage.md").read_text() == builtin_coverage(), "regenerate: python -m collector.framework"

"""Helpers shared by the tests (importable as `helpers`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner, Result

from collector.cli import main
from collector.runner import RunResult, run_source
from collector.store import Store
from sources.kubernetes import KubernetesSource


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def collect_manifests(store: Store, *paths: Path, cluster: str = "test") -> RunResult:
    return run_source(store, KubernetesSource(), {"paths": [str(p) for p in paths], "cluster": cluster})


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)

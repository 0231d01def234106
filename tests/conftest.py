"""Shared fixtures: stores, manifest directories and the CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli

from collector.store import Store


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "evidence.duckdb") as st:
        yield st


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo run shared by read-only tests: environment, store, keys and bundle."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = cli("demo", "--out", str(out))
    assert result.exit_code == 0, result.output
    (out.parent / "demo-output.txt").write_text(result.output)  # what the demo printed, for tests to read
    return out

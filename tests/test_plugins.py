"""Source plugins are discovered through the `defensible.sources` entry-point group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import cli

from collector.plugins import discover_sources


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed third-party distribution with one working and one broken source plugin."""
    dist = tmp_path / "acme_sources-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-sources\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[defensible.sources]\nacme = acme_source:AcmeSource\nbroken = acme_source:Missing\n"
    )
    (tmp_path / "acme_source.py").write_text(
        "class AcmeSource:\n"
        "    name = 'acme'\n"
        "    description = 'Acme firewall rules'\n"
        "    config_schema = {'type': 'object'}\n"
        "    migrations = ()\n"
        "    def collect(self, ctx):\n"
        "        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("acme_source", None)


def test_builtin_kubernetes_source_is_discovered() -> None:
    entry = discover_sources()["kubernetes"]
    assert entry.source is not None and entry.error is None
    assert entry.target == "sources.kubernetes.source:KubernetesSource"


def test_third_party_plugins_are_listed_and_broken_ones_reported(third_party: Path, tmp_path: Path) -> None:
    found = discover_sources()
    assert found["acme"].source is not None and found["acme"].source.description == "Acme firewall rules"
    assert found["broken"].source is None and "Missing" in (found["broken"].error or "")
    result = cli("sources", "--store", str(tmp_path / "none.duckdb"))
    assert result.exit_code == 0
    assert "acme" in result.output and "failed to load" in result.output
    result = cli("collect", "acme", "--store", str(tmp_path / "e.duckdb"))
    assert result.exit_code == 0 and "acme: succeeded" in result.output

"""The package layering of docs/architecture.md: every core module is placed in the import-linter contract, and
the command line loads a command's modules only when that command runs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import click

from collector.cli import main
from collector.cli.group import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = {"collector.cli", "collector.demo", "collector.analysis"}


def layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [{m.strip() for part in layer.split("|") for m in part.split(":")} for layer in contract["layers"]]


def test_every_module_of_the_core_has_a_layer() -> None:
    placed = set().union(*layers())
    children = {
        f"collector.{p.stem if p.suffix == '.py' else p.name}"
        for p in (ROOT / "collector").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert children - placed == set(), "add the new module to a layer in pyproject.toml's [tool.importlinter]"
    assert placed >= SUBPACKAGES


def test_the_command_line_imports_no_command_until_one_runs() -> None:
    probe = "import sys, collector.cli; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    heavy = ("collector.demo", "http.server", "duckdb", "bundles", "sources", "collector.claims", "rich", "jsonschema")
    assert [m for m in loaded if any(m == h or m.startswith(f"{h}.") for h in heavy)] == []


def test_every_listed_command_exists_with_its_summary() -> None:
    ctx = click.Context(main)
    for name, (_, summary) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.get_short_help_str(200) == summary

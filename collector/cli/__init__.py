"""The ``defensible`` command line: one group, its commands in small modules by what they do."""

from collector.cli import analysing, collecting, inspecting, judging, setup
from collector.cli.common import main

__all__ = ["analysing", "collecting", "inspecting", "judging", "main", "setup"]

"""The `defensible` command line, on top of every layer: commands in modules by what they do, loaded lazily.
May import the core, the sources, the bundles and the demo, each only inside the command that needs it."""

from collector.cli.group import main

__all__ = ["main"]

"""The `defensible` group: its commands are listed here and imported only when one of them runs, so that
`defensible --help` (and any one command) does not pay for every command's imports."""

from __future__ import annotations

import importlib

import click

from collector import __version__

# command -> (module of collector.cli defining it, its one-line summary for `defensible --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("setup", "Write a commented configuration file: every setting, and every installed source."),
    "sources": ("collecting", "List installed source plugins with their status."),
    "collect": ("collecting", "Collect evidence from sources into the store."),
    "check": ("judging", "Evaluate claims; exit 1 if any claim is gap, stale, no-evidence or error."),
    "gate": ("judging", "Show the launch scorecard and gate; exit 1 unless the gate passed."),
    "bundle": ("judging", "Write a signed, offline-verifiable audit bundle."),
    "verify": ("judging", "Verify a bundle's signature and contents; exit 1 naming every file that fails."),
    "diff": ("judging", "Compare two verified bundles: verdicts, gaps, public routes, waivers."),
    "keygen": ("setup", "Create an Ed25519 signing key pair."),
    "kms-pubkey": ("setup", "Write an AWS KMS signing key's public key (PEM) for verifiers."),
    "reach": ("analysing", "NetworkPolicy reachability of a workload, from the store's current inventory."),
    "routes": ("analysing", "A Gateway's listeners and the routes attached or rejected, as a controller sees them."),
    "who-can-expose": ("analysing", "Who can create or change an entry point (RBAC), from the current inventory."),
    "status": ("inspecting", "Show what the store holds, what it covers, and how fresh it is."),
    "query": ("inspecting", "Run read-only SQL over the store."),
    "shell": ("inspecting", "An interactive read-only SQL prompt over the store."),
    "demo": ("collecting", "Build the embedded demo environment, collect, check and bundle it."),
    "completion": ("setup", "Print the shell completion script (bash, zsh or fish)."),
}


def example(*lines: str) -> str:
    """A command's epilog: example invocations, kept as written by --help."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


class LazyGroup(click.Group):
    """A group whose commands are imported from ``COMMANDS`` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, summary = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"collector.cli.{module}"), cmd_name.replace("-", "_"))
        command.short_help = summary
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])


@click.group(
    cls=LazyGroup,
    epilog=example(
        "defensible demo                  # collect, check and bundle the embedded demo platform",
        "defensible collect kubernetes --set paths=[manifests/] --set cluster=prod",
        "defensible status                # what the store holds, and how fresh",
        "defensible COMMAND --help        # every command has examples",
    ),
)
@click.version_option(__version__, prog_name="defensible")
def main() -> None:
    """Collect audit evidence about a Kubernetes networking platform and bundle it, signed."""

"""Commands that set a user up: `init`, `keygen`, `kms-pubkey`, `completion`."""

from __future__ import annotations

from pathlib import Path

import click
from click.shell_completion import get_completion_class

from bundles.signing import KeyFileError, KmsSigner, generate_keypair, public_key_pem
from collector import __version__
from collector.claims import (
    PackError,
    builtin_pack_dirs,
    load_pack,
)
from collector.cli.common import (
    DEFAULT_CONFIG,
    command,
    fail,
    kms_options,
)
from collector.cli.group import example, main
from collector.config import render_template
from collector.plugins import discover_sources


@command(epilog=example("defensible keygen --out keys/signing"))
@click.option(
    "--out",
    "prefix",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("defensible-signing"),
    show_default=True,
    help="Writes PREFIX.key (private, mode 0600) and PREFIX.pub.",
)
def keygen(prefix: Path) -> None:
    """Create an Ed25519 signing key pair."""
    try:
        key_id = generate_keypair(Path(f"{prefix}.key"), Path(f"{prefix}.pub"))
    except KeyFileError as exc:
        fail(str(exc))
    click.echo(f"wrote {prefix}.key and {prefix}.pub (key id {key_id})")


@command(
    epilog=example(
        "defensible init",
        "defensible init --out /etc/defensible/defensible.yaml --force",
        "defensible collect --config /etc/defensible/defensible.yaml",
    )
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Configuration file to write.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(out: Path, force: bool) -> None:
    """Write a commented configuration file: every setting, and every installed source (commented out).

    The file loads as written; uncomment the sources you collect from and fill in their settings.
    It never holds secrets: tokens are read from the environment variables it names."""
    if out.exists() and not force:
        fail(f"{out} exists; pass --force to overwrite it")
    installed = {name: entry.source for name, entry in discover_sources().items() if entry.source}
    try:
        packs = [load_pack(d) for d in builtin_pack_dirs().values()]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_template(installed, packs, __version__), encoding="utf-8")
    except (OSError, PackError) as exc:
        fail(f"cannot write {out}: {exc}")
    click.echo(f"wrote {out}: uncomment the sources you collect from, then run `defensible collect`")


@command(
    "kms-pubkey",
    epilog=example("defensible kms-pubkey --kms-key alias/defensible-signing --kms-region eu-west-1 --out signing.pub"),
)
@kms_options(multiple=False)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Public key file (PEM).")
def kms_pubkey(kms_key: str, kms_region: str | None, out: Path) -> None:
    """Write an AWS KMS signing key's public key (PEM), for `defensible verify --pubkey` and auditors."""
    if out.exists():
        fail(f"{out} already exists; not overwriting a key")
    try:
        signer = KmsSigner(kms_key, region=kms_region)
    except KeyFileError as exc:
        fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(public_key_pem(signer.public_key))
    click.echo(f"wrote {out} (key id {signer.key_id})")


@command(
    epilog=example(
        'eval "$(defensible completion bash)"        # in ~/.bashrc',
        'eval "$(defensible completion zsh)"         # in ~/.zshrc',
        "defensible completion fish > ~/.config/fish/completions/defensible.fish",
    )
)
@click.argument("shell_name", metavar="SHELL", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell_name: str) -> None:
    """Print the completion script of SHELL (bash, zsh or fish) for commands, options and choices."""
    complete = get_completion_class(shell_name)
    assert complete is not None  # click knows the three shells offered
    click.echo(complete(main, {}, "defensible", "_DEFENSIBLE_COMPLETE").source())

"""The ``defensible`` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from bundles.archive import write_archive
from bundles.build import BundleError, BundleSummary, build_bundle
from bundles.diff import BundlesRejected, DiffError, diff_bundles
from bundles.signing import KeyFileError, KmsSigner, Signer, generate_keypair, load_signer, public_key_pem
from bundles.verify import verify_bundle
from collector import __version__
from collector.claims import (
    FAILING_VERDICTS,
    ClaimResult,
    Pack,
    PackError,
    Settings,
    builtin_pack_dirs,
    evaluate_pack,
    load_pack,
    resolve_pack,
)
from collector.demo import run_demo
from collector.plugins import SourceError, discover_sources, get_source
from collector.runner import RunResult, run_source
from collector.scope import Scope, ScopeError
from collector.store import DEFAULT_STORE, Store, StoreError
from collector.telemetry import tracer
from collector.waivers import WaiverError, load_waivers

DEFAULT_CONFIG = Path("defensible.yaml")
VERDICT_STYLES = {
    "satisfied": "green",
    "waived": "cyan",
    "gap": "bold red",
    "stale": "dark_orange",
    "no-evidence": "yellow",
    "error": "bold magenta",
}
err = Console(stderr=True, soft_wrap=True)


class TracedCommand(click.Command):
    """Every command runs inside a ``defensible <command>`` span."""

    def invoke(self, ctx: click.Context) -> Any:
        with tracer.start_as_current_span(f"defensible {self.name}") as span:
            span.set_attribute("defensible.command", self.name or "")
            return super().invoke(ctx)


class Group(click.Group):
    command_class = TracedCommand


def store_option(fn: Callable) -> Callable:
    return click.option(
        "--store",
        type=click.Path(path_type=Path, dir_okay=False),
        default=DEFAULT_STORE,
        show_default=True,
        envvar="DEFENSIBLE_STORE",
        help="Evidence store (DuckDB file).",
    )(fn)


def pack_options(fn: Callable) -> Callable:
    """--pack, --param and --enable: which packs to evaluate and how."""
    fn = click.option(
        "--enable",
        multiple=True,
        metavar="PACK/CLAIM",
        help="Evaluate a claim that is off by default, e.g. git-changes/signed-commits (repeatable).",
    )(fn)
    fn = click.option(
        "--param",
        "params",
        multiple=True,
        metavar="NAME=VALUE",
        help="Pack parameter (YAML value), e.g. --param min_approvals=2 (repeatable).",
    )(fn)
    fn = click.option(
        "--as-of",
        type=INSTANT,
        help="Judge the claims as of this instant (ISO 8601; default: the end of the latest collection run).",
    )(fn)
    fn = click.option(
        "--waivers",
        "waivers_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Waivers file (YAML: claim, scope, justification, approver, ticket, expires); see docs/waivers.md.",
    )(fn)
    return click.option(
        "--pack",
        "packs",
        multiple=True,
        help="Query pack: built-in name or directory (repeatable; default: every built-in pack).",
    )(fn)


class Instant(click.ParamType):
    """An ISO 8601 instant; without a zone it is UTC."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time (e.g. 2026-11-20T08:00:00Z)", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


INSTANT = Instant()


@dataclass(frozen=True)
class Judging:
    """What `check` and `bundle` evaluate, and how: packs, settings, and the waivers file as read."""

    packs: list[Pack]
    settings: Settings
    waivers_file: bytes | None


class TextTimesLoader(yaml.SafeLoader):
    """YAML whose unquoted times stay text (``since: 2026-11-01T00:00:00Z``), as sources' configs expect."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=TextTimesLoader)


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    sys.exit(code)


@click.group(cls=Group)
@click.version_option(__version__, prog_name="defensible")
def main() -> None:
    """Collect audit evidence about a Kubernetes networking platform and bundle it, signed."""


@main.command()
@store_option
def sources(store: Path) -> None:
    """List installed source plugins with their status."""
    last: dict[str, dict] = {}
    if store.exists():
        with Store.open(store, read_only=True) as st:
            for run in st.runs():
                last[run["source"]] = run
    table = Table("source", "plugin", "status", "last run")
    for name, entry in discover_sources().items():
        status = "[green]ok[/]" if entry.source else f"[red]failed to load[/]: {entry.error}"
        run = last.get(name)
        table.add_row(
            name, entry.target, status, f"{run['status']} at {run['started_at']:%Y-%m-%d %H:%M:%SZ}" if run else "never"
        )
    Console().print(table)


def load_config(path: Path | None) -> dict[str, dict]:
    if path is None:
        if not DEFAULT_CONFIG.exists():
            return {}
        path = DEFAULT_CONFIG
    try:
        doc = read_yaml(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        fail(f"cannot read config {path}: {exc}")
    configured = doc.get("sources") if isinstance(doc, dict) else None
    if not isinstance(configured, dict):
        fail(f"{path}: expected a mapping `sources: {{<source>: {{...}}}}`")
    return {name: cfg or {} for name, cfg in configured.items()}


def parse_assignments(items: tuple[str, ...], option: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{option} expects KEY=VALUE, got {item!r}")
        parsed[key] = read_yaml(value)
    return parsed


@main.command()
@click.argument("source_names", metavar="[SOURCE]...", nargs=-1)
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help="Sources config (YAML).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Config value for the named source.")
@click.option("--since", metavar="TIME", help="Keep records from TIME (ISO 8601, e.g. 2026-11-01T00:00:00Z).")
@click.option("--until", metavar="TIME", help="Keep records before TIME (ISO 8601).")
@store_option
def collect(
    source_names: tuple[str, ...],
    config_path: Path | None,
    settings: tuple[str, ...],
    since: str | None,
    until: str | None,
    store: Path,
) -> None:
    """Collect evidence from sources into the store.

    Sources and their settings come from --config (default ./defensible.yaml, `sources: {name: {...}}`)
    and from --set KEY=VALUE for a single named source, e.g.
    `defensible collect kubernetes --set paths=[manifests/] --set cluster=prod`.
    --since/--until set the time window of the sources that read logs, e.g.
    `defensible collect logs --since 2026-11-01T00:00:00Z`.
    """
    config = load_config(config_path)
    overrides = parse_assignments(settings, "--set")
    if overrides and len(source_names) != 1:
        fail("--set applies to exactly one named source")
    names = list(source_names) or list(config)
    if not names:
        fail("nothing to collect: name a source or configure `sources` in defensible.yaml")
    window = {key: value for key, value in (("since", since), ("until", until)) if value is not None}
    try:
        configs = {name: {**config.get(name, {}), **overrides} for name in names}
        if window:
            windowed = [name for name in names if "since" in get_source(name).config_schema.get("properties", {})]
            if not windowed:
                fail(f"--since/--until apply to sources that read logs; none of {', '.join(names)} does")
            for name in windowed:
                configs[name] |= window
        with Store.open(store) as st:
            results = [collect_one(st, name, configs[name]) for name in names]
    except (StoreError, SourceError) as exc:
        fail(str(exc))
    if any(r.status == "failed" for r in results):
        sys.exit(1)


def collect_one(store: Store, name: str, config: dict) -> RunResult:
    source = get_source(name)
    with err.status(f"collecting {name}…"):
        result = run_source(store, source, config)
    counts = ", ".join(f"{n} {t}" for t, n in sorted(result.counts.items())) or "no rows"
    style = {"succeeded": "green", "partial": "yellow", "failed": "bold red"}[result.status]
    err.print(f"{name}: [{style}]{result.status}[/] (run {result.run_id}): {counts}", highlight=False)
    if result.error:
        err.print(f"  {result.error}", highlight=False, markup=False)
    for reason in result.partial_reasons:
        err.print(f"  partial: {reason}", highlight=False, markup=False)
    for note in result.notes:
        err.print(f"  {note}", highlight=False, markup=False)
    return result


def load_packs(
    refs: tuple[str, ...],
    params: tuple[str, ...],
    enable: tuple[str, ...],
    as_of: datetime | None = None,
    waivers_path: Path | None = None,
    scope: Scope | None = None,
) -> Judging:
    try:
        waivers, raw = load_waivers(waivers_path) if waivers_path else ([], None)
        settings = Settings(parse_assignments(params, "--param"), frozenset(enable), as_of, tuple(waivers), scope)
        packs = [load_pack(resolve_pack(ref)) for ref in (refs or tuple(builtin_pack_dirs()))]
        settings.validate(packs)
    except (PackError, WaiverError) as exc:
        fail(str(exc))
        raise  # unreachable: fail exits
    return Judging(packs, settings, raw)


def kms_options(multiple: bool) -> Callable[[Callable], Callable]:
    """--kms-key (ARN, key id or alias) and --kms-region. Credentials and endpoint come from the AWS configuration."""

    def decorate(fn: Callable) -> Callable:
        fn = click.option("--kms-region", metavar="REGION", help="AWS region of --kms-key (default: the ARN's).")(fn)
        return click.option(
            "--kms-key",
            "kms_keys" if multiple else "kms_key",
            metavar="ARN",
            multiple=multiple,
            required=not multiple,
            help="AWS KMS key (ECC_NIST_P256, SIGN_VERIFY)" + ("; repeat to add signatures." if multiple else "."),
        )(fn)

    return decorate


@main.command()
@pack_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@store_option
def check(
    packs: tuple[str, ...],
    params: tuple[str, ...],
    enable: tuple[str, ...],
    as_of: datetime | None,
    waivers_path: Path | None,
    fmt: str,
    store: Path,
) -> None:
    """Evaluate claims; exit 1 if any claim is gap, stale, no-evidence or error."""
    judging = load_packs(packs, params, enable, as_of, waivers_path)
    try:
        with Store.open(store, read_only=True) as st:
            results = [(p.id, r) for p in judging.packs for r in evaluate_pack(st, p, judging.settings)]
    except StoreError as exc:
        fail(str(exc))
    print_verdicts(results, fmt)
    if any(r.verdict in FAILING_VERDICTS for _, r in results):
        sys.exit(1)


def print_verdicts(results: list[tuple[str, ClaimResult]], fmt: str = "table") -> None:
    if fmt == "json":
        doc = [
            {
                "pack": pack_id,
                "claim": r.claim.id,
                "title": r.claim.title,
                "verdict": r.verdict,
                "reason": r.reason,
                "evidence_rows": len(r.evidence.rows),
                "gap_rows": len(r.gaps.rows),
            }
            for pack_id, r in results
        ]
        click.echo(json.dumps(doc, indent=2))
        return
    table = Table("pack", "claim", "verdict", "reason")
    for pack_id, r in results:
        table.add_row(pack_id, r.claim.title, f"[{VERDICT_STYLES[r.verdict]}]{r.verdict}[/]", r.reason)
    Console().print(table)


@main.command()
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Bundle directory.")
@click.option(
    "--key",
    "keys",
    type=click.Path(path_type=Path, dir_okay=False),
    multiple=True,
    help="Ed25519 private key (PEM); repeat to add signatures. Without it or --kms-key the bundle is unsigned.",
)
@kms_options(multiple=True)
@click.option(
    "--archive",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the bundle as a deterministic .tar.gz here (see docs/bundle.md).",
)
@click.option("--force", is_flag=True, help="Replace an existing non-empty --out directory (and --archive file).")
@click.option("--since", type=INSTANT, help="Incident export: only evidence from this time (ISO 8601).")
@click.option("--until", type=INSTANT, help="Incident export: only evidence before this time (ISO 8601).")
@click.option("--scope", metavar="namespace=X[,service=Y]", help="Incident export: only evidence of this namespace.")
@click.option("--pdf", is_flag=True, help="Also render the report to report.pdf with headless Chromium.")
@pack_options
@store_option
def bundle(
    out: Path,
    keys: tuple[Path, ...],
    kms_keys: tuple[str, ...],
    kms_region: str | None,
    archive: Path | None,
    force: bool,
    packs: tuple[str, ...],
    params: tuple[str, ...],
    enable: tuple[str, ...],
    as_of: datetime | None,
    waivers_path: Path | None,
    since: datetime | None,
    until: datetime | None,
    scope: str | None,
    pdf: bool,
    store: Path,
) -> None:
    """Write a signed, offline-verifiable audit bundle.

    For an incident, --since/--until/--scope export only the evidence of that window and namespace (and
    service), and say so in the report and the signed statement."""
    try:
        incident = Scope.parse(since, until, scope) if (since or until or scope) else None
    except ScopeError as exc:
        fail(str(exc))
    judging = load_packs(packs, params, enable, as_of, waivers_path, incident)
    if archive and archive.exists() and not force:
        fail(f"{archive} exists; choose another --archive or pass --force")
    try:
        signers: list[Signer] = [load_signer(k) for k in keys]
        signers += [KmsSigner(k, region=kms_region) for k in kms_keys]
        with Store.open(store, read_only=True) as st:
            summary = build_bundle(
                st,
                judging.packs,
                out,
                signers,
                judging.settings,
                force=force,
                waivers_file=judging.waivers_file,
                pdf=pdf,
            )
        if archive:
            write_archive(out, archive)
    except (StoreError, BundleError, KeyFileError) as exc:
        fail(str(exc))
    print_bundle_summary(summary)
    if archive:
        err.print(f"archive written to {archive}", highlight=False)


def print_bundle_summary(summary: BundleSummary) -> None:
    verdicts = ", ".join(f"{n} {v}" for v, n in summary.verdicts.items())
    err.print(f"bundle written to {summary.path} ({summary.files} files; {verdicts})", highlight=False)
    if summary.signed_by:
        for key_id in summary.signed_by:
            err.print(f"signed with key {key_id}", highlight=False)
    else:
        err.print("[yellow]warning:[/] bundle is unsigned (pass --key or --kms-key to sign it)")


@main.command()
@click.argument("bundle_dir", metavar="BUNDLE", type=click.Path(path_type=Path))
@click.option(
    "--pubkey", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Signer's public key (PEM)."
)
def verify(bundle_dir: Path, pubkey: Path) -> None:
    """Verify a bundle (directory or .tar.gz) signature and contents; exit 1 naming every file that fails."""
    try:
        result = verify_bundle(bundle_dir, pubkey)
    except KeyFileError as exc:
        fail(str(exc))
    if result.ok:
        click.echo(f"OK: {bundle_dir}: signature by {result.key_id} valid, {result.files_checked} files verified")
        return
    for problem in result.problems:
        click.echo(f"FAIL: {problem}", err=True)
    sys.exit(1)


@main.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option(
    "--pubkey",
    "pubkeys",
    type=click.Path(path_type=Path, dir_okay=False),
    multiple=True,
    required=True,
    help="Public key (PEM) a bundle must verify with; repeat to accept several.",
)
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the diff here (default: stdout).")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 if a claim stopped holding or a gap opened.")
def diff(old: Path, new: Path, pubkeys: tuple[Path, ...], fmt: str, out: Path | None, fail_on_regression: bool) -> None:
    """Compare two bundles (directories or .tar.gz), each verified first: verdicts, gaps opened and closed,
    public routes added and removed, waivers expired. See docs/diff.md."""
    try:
        result = diff_bundles(old, new, pubkeys)
    except BundlesRejected as exc:
        for path, problems in exc.refused:
            for problem in problems:
                click.echo(f"FAIL: {path}: {problem}", err=True)
        fail("bundles not compared: verification failed")
    except (KeyFileError, DiffError) as exc:
        fail(str(exc))
    text = result.to_json() if fmt == "json" else result.to_markdown()
    if out:
        out.write_text(text)
        err.print(f"diff written to {out}", highlight=False, markup=False)
    else:
        click.echo(text, nl=False)
    if fail_on_regression and result.regressions:
        for regression in result.regressions:
            err.print(f"regression: {regression}", highlight=False, markup=False)
        sys.exit(1)


@main.command()
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


@main.command("kms-pubkey")
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


@main.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("defensible-demo"),
    show_default=True,
    help="Directory for the demo environment, store, keys and bundle.",
)
def demo(out: Path) -> None:
    """Build the embedded demo environment, collect it, check it and write a signed bundle."""
    try:
        summary, public_key = run_demo(out, collect_one)
    except (StoreError, SourceError) as exc:
        fail(str(exc))
    print_verdicts(summary.results)
    print_bundle_summary(summary)
    click.echo(f"report:      {summary.path / 'report.html'}")
    click.echo(f"verify with: defensible verify {summary.path} --pubkey {public_key}")

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
import duckdb
import yaml
from click.shell_completion import get_completion_class
from rich.console import Console
from rich.markup import escape
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
from collector.config import Config, ConfigError, render_template
from collector.config import load_config as read_config
from collector.demo import run_demo
from collector.gateway_attachment import Attachment, analyze_gateways
from collector.inspect import (
    TABLE_ROWS,
    RunSummary,
    Shell,
    execute,
    freshness_limits,
    interactive,
    print_result,
    run_summary,
    status_tables,
    store_status,
    summary_table,
    write_csv,
    write_json,
)
from collector.inventory_objects import InventoryError, current_objects, listing_runs, pick_cluster
from collector.plugins import SourceError, discover_sources, get_source
from collector.progress import Reporter, reporting, step
from collector.reachability import Inventory, ReachabilityError, analyze
from collector.runner import RunResult, run_source
from collector.scope import Scope, ScopeError
from collector.store import DEFAULT_STORE, Store, StoreError
from collector.telemetry import tracer
from collector.waivers import WaiverError, load_waivers
from collector.yaml_lines import TextTimesLoader

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
            with reporting(Reporter(err, enabled=err.is_terminal and not ctx.params.get("quiet"))):
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


def config_option(fn: Callable) -> Callable:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Configuration file (default: ./defensible.yaml if present); see docs/configuration.md.",
    )(fn)


def configured_store(store: Path, config: Config) -> Path:
    """--store (or $DEFENSIBLE_STORE) beats the configuration's `store`, which beats the default."""
    given = click.get_current_context().get_parameter_source("store") != click.core.ParameterSource.DEFAULT
    return store if given or config.store is None else config.store


def quiet_option(fn: Callable) -> Callable:
    return click.option(
        "--quiet",
        "-q",
        is_flag=True,
        help="No progress, summaries or notes: only errors and warnings (and the data asked for).",
    )(fn)


def example(*lines: str) -> str:
    """A command's epilog: example invocations, kept as written by --help."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


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


def read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=TextTimesLoader)


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    sys.exit(code)


@click.group(
    cls=Group,
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


@main.command(epilog=example("defensible sources", "defensible sources --store /srv/evidence/evidence.duckdb"))
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


def load_config(path: Path | None) -> Config:
    """The configuration of --config, else of ./defensible.yaml if present, else the empty one."""
    try:
        return read_config(path if path is not None else DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    except ConfigError as exc:
        fail(str(exc))
        raise  # unreachable: fail exits


def parse_assignments(items: tuple[str, ...], option: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{option} expects KEY=VALUE, got {item!r}")
        parsed[key] = read_yaml(value)
    return parsed


@main.command(
    epilog=example(
        "defensible collect kubernetes --set paths=[manifests/] --set cluster=prod",
        "defensible collect logs --since 2026-11-01T00:00:00Z --format json",
        "defensible collect --config defensible.yaml --quiet",
    )
)
@click.argument("source_names", metavar="[SOURCE]...", nargs=-1)
@config_option
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Config value for the named source.")
@click.option("--since", metavar="TIME", help="Keep records from TIME (ISO 8601, e.g. 2026-11-01T00:00:00Z).")
@click.option("--until", metavar="TIME", help="Keep records before TIME (ISO 8601).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Summary format."
)
@quiet_option
@store_option
def collect(
    source_names: tuple[str, ...],
    config_path: Path | None,
    settings: tuple[str, ...],
    since: str | None,
    until: str | None,
    fmt: str,
    quiet: bool,
    store: Path,
) -> None:
    """Collect evidence from sources into the store.

    Sources and their settings come from --config (default ./defensible.yaml, `sources: {name: {...}}`,
    see `defensible init`)
    and from --set KEY=VALUE for a single named source, e.g.
    `defensible collect kubernetes --set paths=[manifests/] --set cluster=prod`.
    --since/--until set the time window of the sources that read logs, e.g.
    `defensible collect logs --since 2026-11-01T00:00:00Z`.
    """
    config = load_config(config_path)
    store = configured_store(store, config)
    overrides = parse_assignments(settings, "--set")
    if overrides and len(source_names) != 1:
        fail("--set applies to exactly one named source")
    names = list(source_names) or list(config.sources)
    if not names:
        fail("nothing to collect: name a source or configure `sources` in defensible.yaml")
    window = {key: value for key, value in (("since", since), ("until", until)) if value is not None}
    try:
        configs = {name: {**config.sources.get(name, {}), **overrides} for name in names}
        if window:
            windowed = [name for name in names if "since" in get_source(name).config_schema.get("properties", {})]
            if not windowed:
                fail(f"--since/--until apply to sources that read logs; none of {', '.join(names)} does")
            for name in windowed:
                configs[name] |= window
        with Store.open(store) as st:
            summaries = [run_summary(st, collect_one(st, name, configs[name], quiet)) for name in names]
    except (StoreError, SourceError) as exc:
        fail(str(exc))
    print_collected(summaries, "json" if fmt == "json" else "quiet" if quiet else "table")
    if any(s.status == "failed" for s in summaries):
        sys.exit(1)


def print_collected(summaries: list[RunSummary], fmt: str) -> None:
    """The collection summary on stdout: a table, JSON, or nothing (quiet)."""
    if fmt == "json":
        click.echo(json.dumps([s.to_json() for s in summaries], indent=2))
    elif fmt == "table":
        Console().print(summary_table(summaries))


def collect_one(store: Store, name: str, config: dict, quiet: bool = False) -> RunResult:
    """Run one source, saying on stderr how it went (only if it failed when ``quiet``)."""
    source = get_source(name)
    with step(f"{name}: collecting"):
        result = run_source(store, source, config)
    if quiet and result.status != "failed":
        return result
    counts = ", ".join(f"{n} {t}" for t, n in sorted(result.counts.items())) or "no rows"
    style = {"succeeded": "green", "partial": "yellow", "failed": "bold red"}[result.status]
    err.print(f"{name}: [{style}]{result.status}[/] (run {result.run_id}): {counts}", highlight=False)
    if result.error:
        err.print(f"  {result.error}", highlight=False, markup=False)
    if quiet:
        return result
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
    config: Config | None = None,
) -> Judging:
    """Packs and settings from the command line, else the configuration (--param beats its `parameters`)."""
    config = config or Config()
    try:
        waivers_path = waivers_path or config.waivers
        waivers, raw = load_waivers(waivers_path) if waivers_path else ([], None)
        packs = [load_pack(d) for d in ([resolve_pack(ref) for ref in refs] if refs else config.pack_dirs())]
        configured, enabled = config.for_packs(packs, narrowed=bool(refs))
        parameters = configured | parse_assignments(params, "--param")
        settings = Settings(
            parameters, enabled | frozenset(enable), as_of, tuple(waivers), scope, freshness=config.freshness
        )
        settings.validate(packs)
    except (PackError, WaiverError, ConfigError) as exc:
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


@main.command(
    epilog=example(
        "defensible check",
        "defensible check --pack k8s-networking --format json",
        "defensible check --waivers waivers.yaml --quiet || echo 'claims do not hold'",
    )
)
@pack_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@quiet_option
@config_option
@store_option
def check(
    packs: tuple[str, ...],
    params: tuple[str, ...],
    enable: tuple[str, ...],
    as_of: datetime | None,
    waivers_path: Path | None,
    fmt: str,
    quiet: bool,
    config_path: Path | None,
    store: Path,
) -> None:
    """Evaluate claims; exit 1 if any claim is gap, stale, no-evidence or error."""
    config = load_config(config_path)
    store = configured_store(store, config)
    judging = load_packs(packs, params, enable, as_of, waivers_path, config=config)
    try:
        with Store.open(store, read_only=True) as st:
            results = [(p.id, r) for p in judging.packs for r in evaluate_pack(st, p, judging.settings)]
    except StoreError as exc:
        fail(str(exc))
    if fmt == "json" or not quiet:
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


@main.command(
    epilog=example(
        "defensible bundle --out audit-2026-q4 --key defensible-signing.key",
        "defensible bundle --out incident-42 --key signing.key --since 2026-11-20T08:00:00Z "
        "--until 2026-11-20T12:00:00Z --scope namespace=payments",
        "defensible bundle --out bundle --kms-key arn:aws:kms:eu-west-1:123456789012:key/abcd --format json",
    )
)
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
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Summary format."
)
@quiet_option
@config_option
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
    fmt: str,
    quiet: bool,
    config_path: Path | None,
    store: Path,
) -> None:
    """Write a signed, offline-verifiable audit bundle.

    For an incident, --since/--until/--scope export only the evidence of that window and namespace (and
    service), and say so in the report and the signed statement. Without --key/--kms-key, the
    configuration's `signing` keys sign it."""
    config = load_config(config_path)
    store = configured_store(store, config)
    if not (keys or kms_keys):
        keys, kms_keys = config.signing.keys, config.signing.kms_keys
    kms_region = kms_region or config.signing.kms_region
    try:
        incident = Scope.parse(since, until, scope) if (since or until or scope) else None
    except ScopeError as exc:
        fail(str(exc))
    judging = load_packs(packs, params, enable, as_of, waivers_path, incident, config)
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
    if fmt == "json":
        doc = {
            "path": str(summary.path),
            "files": summary.files,
            "verdicts": summary.verdicts,
            "signed_by": summary.signed_by,
            "archive": str(archive) if archive else None,
        }
        click.echo(json.dumps(doc, indent=2))
    print_bundle_summary(summary, quiet=quiet or fmt == "json")
    if archive and not (quiet or fmt == "json"):
        err.print(f"archive written to {archive}", highlight=False)


def print_bundle_summary(summary: BundleSummary, quiet: bool = False) -> None:
    """Where the bundle is and who signed it, on stderr; only the unsigned warning when ``quiet``."""
    verdicts = ", ".join(f"{n} {v}" for v, n in summary.verdicts.items())
    if not quiet:
        err.print(f"bundle written to {summary.path} ({summary.files} files; {verdicts})", highlight=False)
        for key_id in summary.signed_by:
            err.print(f"signed with key {key_id}", highlight=False)
    if not summary.signed_by:
        err.print("[yellow]warning:[/] bundle is unsigned (pass --key or --kms-key to sign it)")


@main.command(
    epilog=example(
        "defensible verify defensible-demo/bundle --pubkey defensible-demo/keys/signing.pub",
        "defensible verify audit-2026-q4.tar.gz --pubkey auditor-copy/signing.pub",
    )
)
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


@main.command(
    "diff",
    epilog=example(
        "defensible diff audit-2026-q3 audit-2026-q4 --pubkey signing.pub",
        "defensible diff old.tar.gz new.tar.gz --pubkey signing.pub --format json --fail-on-regression",
    ),
)
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


@main.command(epilog=example("defensible keygen --out keys/signing"))
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


@main.command(
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


@main.command(
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


@main.command(epilog=example("defensible demo", "defensible demo --out /tmp/defensible-demo"))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("defensible-demo"),
    show_default=True,
    help="Directory for the demo environment, store, keys and bundle.",
)
def demo(out: Path) -> None:
    """Build the embedded demo environment, collect it, check it and write a signed bundle."""
    collected: list[RunSummary] = []

    def collect(store: Store, name: str, config: dict) -> RunResult:
        result = collect_one(store, name, config)
        collected.append(run_summary(store, result))
        return result

    try:
        summary, public_key = run_demo(out, collect)
    except (StoreError, SourceError) as exc:
        fail(str(exc))
    print_collected(collected, "table")
    print_verdicts(summary.results)
    print_bundle_summary(summary)
    click.echo(f"report:      {summary.path / 'report.html'}")
    click.echo(f"verify with: defensible verify {summary.path} --pubkey {public_key}")


@main.command(
    epilog=example(
        "defensible status",
        "defensible status --format json | jq '.sources[] | {source, freshness}'",
    )
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@quiet_option
@config_option
@store_option
def status(fmt: str, quiet: bool, config_path: Path | None, store: Path) -> None:
    """Show what the store holds: per source its last run, rows per table, the time they cover and how fresh
    they are against the packs' freshness."""
    store = configured_store(store, load_config(config_path))
    try:
        limits = freshness_limits(load_pack(path) for path in builtin_pack_dirs().values())
        with Store.open(store, read_only=True) as st:
            statuses = store_status(st, limits)
    except (StoreError, PackError) as exc:
        fail(str(exc))
    now = datetime.now(UTC)
    if fmt == "json":
        doc = {"store": str(store), "as_of": now.isoformat(), "sources": [s.to_json(now) for s in statuses]}
        click.echo(json.dumps(doc, indent=2))
    elif statuses:
        Console().print(*status_tables(statuses, now, store))
    elif not quiet:
        err.print(f"{store} holds no evidence yet: run `defensible collect` (or `defensible demo`)", highlight=False)


@main.command(
    epilog=example(
        'defensible query "SELECT source, status, count(*) AS runs FROM runs GROUP BY ALL"',
        "defensible query \"SELECT * FROM flows WHERE verdict = 'deny'\" --format csv > denied.csv",
        'defensible query "FROM k8s_current SELECT kind, count(*) GROUP BY kind" --format json',
    )
)
@click.argument("sql")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help=f"table shows the first {TABLE_ROWS} rows; csv and json print every row.",
)
@quiet_option
@config_option
@store_option
def query(sql: str, fmt: str, quiet: bool, config_path: Path | None, store: Path) -> None:
    """Run SQL over the store, read-only; on an error print DuckDB's message and exit 2."""
    store = configured_store(store, load_config(config_path))
    out = sys.stdout
    try:
        with Store.open(store, read_only=True) as st:
            result = execute(st.con, sql)
            if not result.columns:
                return
            if fmt == "csv":
                write_csv(result, out)
            elif fmt == "json":
                write_json(result, out)
            elif print_result(Console(), result) and not quiet:
                err.print(f"first {TABLE_ROWS} rows shown; --format csv or json prints every row", highlight=False)
    except StoreError as exc:
        fail(str(exc))
    except duckdb.Error as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)


@main.command(
    epilog=example(
        "defensible shell --store defensible-demo/evidence.duckdb",
        "echo 'SELECT kind, count(*) FROM k8s_current GROUP BY kind;' | defensible shell",
    )
)
@config_option
@store_option
def shell(config_path: Path | None, store: Path) -> None:
    """An interactive read-only SQL prompt over the store. Statements end with ';'; .tables lists the tables,
    .schema TABLE shows one, .quit leaves. Piped input runs as a script (exit 1 if a statement failed)."""
    store = configured_store(store, load_config(config_path))
    try:
        st = Store.open(store, read_only=True)
    except StoreError as exc:
        fail(str(exc))
    with st:
        prompt = Shell(st.con, Console(), err)
        stdin = sys.stdin
        if stdin.isatty():
            interactive(prompt)
        else:
            prompt.run(stdin)
            if prompt.failed:
                sys.exit(1)


@main.command(
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


# analysis of the current inventory ---------------------------------------------------------------------------


def workload_ref(value: str | None, option: str) -> str | None:
    if value is not None and (value.count("/") != 1 or not all(value.split("/"))):
        fail(f"{option} expects NS/WORKLOAD (e.g. shop/web or shop/web[Deployment]), got {value!r}")
    return value


def current_inventory(store: Path, cluster: str | None) -> tuple[str, list[dict], list[str]]:
    """The cluster asked for (or the only one), its current objects and the kinds listed; exits 2 naming what is
    missing."""
    try:
        with Store.open(store, read_only=True) as st:
            cluster = pick_cluster(st, cluster)
            listed = [kind for kind, run in listing_runs(st, cluster).items() if run]
            return cluster, current_objects(st, cluster), listed
    except (StoreError, InventoryError) as exc:
        fail(str(exc))
        raise  # unreachable: fail exits


@main.command(
    epilog=example(
        "defensible reach --to enforcement/enforcement-api",
        "defensible reach --from case-workers/case-worker --cluster casework-prod --format json",
        "defensible reach --from case-workers/case-worker --to enforcement/enforcement-api",
    )
)
@click.option("--to", "to", metavar="NS/WORKLOAD", help="Who can connect to this workload.")
@click.option("--from", "from_", metavar="NS/WORKLOAD", help="What this workload can connect to.")
@click.option("--cluster", help="Cluster of the store (default: the only one).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@config_option
@store_option
def reach(
    to: str | None, from_: str | None, cluster: str | None, fmt: str, config_path: Path | None, store: Path
) -> None:
    """NetworkPolicy reachability of a workload, computed from the store's current inventory: one canonical line
    `SRC => DST : CONN` per source (--to) or destination (--from) with an allowed connection. See docs/analysis.md."""
    if not to and not from_:
        fail("name a workload: --to NS/WORKLOAD, --from NS/WORKLOAD, or both")
    workload_ref(to, "--to")
    workload_ref(from_, "--from")
    cluster, objects, _ = current_inventory(configured_store(store, load_config(config_path)), cluster)
    try:
        inventory = Inventory.from_objects(objects)
        result = analyze(inventory)
    except ReachabilityError as exc:
        fail(f"cluster {cluster}: {exc}")
    ids = {w.id for w in inventory.workloads} | {w.id.split("[", 1)[0] for w in inventory.workloads}
    for name, option in ((to, "--to"), (from_, "--from")):
        if name and name not in ids:
            namespace = name.split("/", 1)[0]
            there = sorted(w.id for w in inventory.workloads if w.namespace == namespace)
            fail(
                f"{option}: no workload {name} in cluster {cluster} ({namespace}: {', '.join(there) or 'no workloads'})"
            )

    def wanted(src: str, dst: str) -> bool:
        return all(not name or ep == name or ep.split("[", 1)[0] == name for name, ep in ((to, dst), (from_, src)))

    if fmt == "json":
        click.echo(json.dumps([line for line in result.to_json() if wanted(line["src"], line["dst"])], indent=2))
        return
    lines = result.ingress_to(to) if to else result.egress_from(from_ or "")
    for line in lines:
        src, _, rest = line.partition(" => ")
        if wanted(src, rest.partition(" : ")[0]):
            click.echo(line)


@main.command(
    epilog=example(
        "defensible routes --gateway gateway-infra/public-gateway",
        "defensible routes --gateway infra/shared --cluster prod-eu --format json",
    )
)
@click.option("--gateway", required=True, metavar="NS/NAME", help="The Gateway.")
@click.option("--cluster", help="Cluster of the store (default: the only one).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@config_option
@store_option
def routes(gateway: str, cluster: str | None, fmt: str, config_path: Path | None, store: Path) -> None:
    """A Gateway's listeners as a Gateway API controller would see them, from the store's current inventory: the
    hostnames, the namespaces that could attach routes, and the routes attached or rejected (with the reason).
    See docs/gateway-attachment.md."""
    if gateway.count("/") != 1 or not all(gateway.split("/")):
        fail(f"--gateway expects NS/NAME (e.g. infra/shared), got {gateway!r}")
    namespace, name = gateway.split("/")
    cluster, objects, listed = current_inventory(configured_store(store, load_config(config_path)), cluster)
    try:
        report = analyze_gateways(objects, collected_kinds=listed)
        exposure = report.exposure(namespace, name)
    except (ValueError, KeyError) as exc:
        fail(f"cluster {cluster}: {exc.args[0] if exc.args else exc}")
    labels = next(
        o["metadata"]["labels"]
        for o in objects
        if o["kind"] == "Gateway" and (o["metadata"]["namespace"], o["metadata"]["name"]) == (namespace, name)
    )
    status = {s.listener: s for s in report.listener_status if (s.gateway_ns, s.gateway) == (namespace, name)}
    attached = [a for a in report.attachments if (a.gateway_ns, a.gateway) == (namespace, name)]
    doc = {
        "cluster": cluster,
        "gateway": gateway,
        "public": labels.get("defensible.io/exposure") != "internal",
        "listeners": [
            {
                "listener": e.listener,
                "protocol": e.protocol,
                "port": e.port,
                "hostname": e.hostname,
                "accepted": status[e.listener].accepted.reason,
                "resolved_refs": status[e.listener].resolved_refs.reason,
                "routes_from": e.from_,
                "selector": e.selector,
                "any_namespace": e.any_namespace,
                "namespaces": list(e.namespaces),
                "routes": [route_json(a) for a in attached if a.listener == e.listener],
            }
            for e in exposure
        ],
        "unmatched": [route_json(a) for a in attached if a.listener is None],
    }
    click.echo(json.dumps(doc, indent=2) if fmt == "json" else routes_text(doc), nl=fmt == "json")


def route_json(a: Attachment) -> dict[str, Any]:
    return {
        "route": f"{a.route_kind} {a.route_ns}/{a.route}",
        "accepted": a.accepted,
        "reason": a.reason,
        "hostnames": list(a.hostnames),
    }


def routes_text(doc: dict[str, Any]) -> str:
    out = [f"Gateway {doc['gateway']} (cluster {doc['cluster']}, {'public' if doc['public'] else 'internal'})"]
    for listener in doc["listeners"]:
        state = "accepted" if listener["accepted"] == "Accepted" else f"not accepted: {listener['accepted']}"
        if listener["resolved_refs"] != "ResolvedRefs":
            state += f", refs not resolved: {listener['resolved_refs']}"
        out.append(
            f"  listener {listener['listener']}: {listener['protocol']} {listener['port']}, "
            f"hostname {listener['hostname'] or '* (any)'}, {state}"
        )
        selector = f" {json.dumps(listener['selector'], sort_keys=True)}" if listener["selector"] else ""
        could = "every namespace, including future ones" if listener["any_namespace"] else None
        out.append(
            f"    namespaces that can attach ({listener['routes_from']}{selector}): "
            f"{could or ', '.join(listener['namespaces']) or 'none'}"
        )
        out += [f"    {route_line(r)}" for r in listener["routes"]] or ["    no routes"]
    out += [f"  not attached to any listener: {route_line(r)}" for r in doc["unmatched"]]
    return "\n".join(out) + "\n"


def route_line(route: dict[str, Any]) -> str:
    if route["accepted"]:
        return f"accepted {route['route']} for {', '.join(route['hostnames']) or 'any host'}"
    return f"rejected {route['route']}: {route['reason']}"

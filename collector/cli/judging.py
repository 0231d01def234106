"""Commands that judge and ship evidence: `check`, `gate`, `bundle`, `verify`, `diff`."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bundles.archive import write_archive
from bundles.build import ENVELOPE, MAX_ARTIFACT_BYTES, OMITTED, STATEMENT, BundleError, BundleSummary, build_bundle
from bundles.diff import BundlesRejected, DiffError, diff_bundles
from bundles.signing import KeyFileError, KmsSigner, Signer, load_signer
from bundles.verify import verify_bundle
from collector.claims import (
    FAILING_VERDICTS,
    ClaimResult,
    evaluate_pack,
)
from collector.cli.common import (
    INSTANT,
    VERDICT_STYLES,
    command,
    config_option,
    configured_store,
    err,
    fail,
    json_text,
    kms_options,
    load_config,
    load_packs,
    pack_options,
    quiet_option,
    store_option,
)
from collector.cli.group import example
from collector.config import DEFAULT_REGULATED
from collector.scope import Scope, ScopeError
from collector.scorecard import scorecard_document
from collector.store import Store, StoreError


@command(
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
    """Evaluate claims; exit 1 if any claim is gap, stale, no-evidence or error. --format json lists each claim's
    gap rows (a waived row names its waiver)."""
    results = evaluate(packs, params, enable, as_of, waivers_path, config_path, store)
    if fmt == "json" or not quiet:
        print_verdicts(results, fmt)
    warn_if_nothing_judged(results)
    if any(r.verdict in FAILING_VERDICTS for _, r in results):
        sys.exit(1)


@command(
    epilog=example(
        "defensible gate",
        "defensible gate --waivers waivers.yaml --format json",
        "defensible gate --as-of 2027-06-01T00:00:00Z || echo 'launch blocked'",
    )
)
@pack_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@config_option
@store_option
def gate(
    packs: tuple[str, ...],
    params: tuple[str, ...],
    enable: tuple[str, ...],
    as_of: datetime | None,
    waivers_path: Path | None,
    fmt: str,
    config_path: Path | None,
    store: Path,
) -> None:
    """Show the launch scorecard and gate; exit 1 unless the gate passed (with waivers, listed, counts as passed).

    See docs/scorecard.md."""
    doc = scorecard_document(evaluate(packs, params, enable, as_of, waivers_path, config_path, store))
    if fmt == "json":
        click.echo(json_text(doc))
    else:
        print_scorecard(doc)
    if not doc["launch_gate"]["passed"]:
        sys.exit(1)


def evaluate(
    packs: tuple[str, ...],
    params: tuple[str, ...],
    enable: tuple[str, ...],
    as_of: datetime | None,
    waivers_path: Path | None,
    config_path: Path | None,
    store: Path,
) -> list[tuple[str, ClaimResult]]:
    """(pack id, result) of every claim the options select, judged over the store."""
    config = load_config(config_path)
    judging = load_packs(packs, params, enable, as_of, waivers_path, config=config)
    try:
        with Store.open(configured_store(store, config), read_only=True, memory=config.memory_limit) as st:
            return [(p.id, r) for p in judging.packs for r in evaluate_pack(st, p, judging.settings)]
    except StoreError as exc:
        fail(str(exc))


def print_scorecard(doc: dict) -> None:
    areas = Table("area", "score", "rating", "claims", title="Scorecard")
    for a in doc["areas"]:
        rating = a["rating"] if a["assessed"] else f"[dim]{a['rating']}[/]"
        areas.add_row(a["area"] + (" (design)" if a["design"] else ""), str(a["score"]), rating, "; ".join(a["claims"]))
    items = Table("gate item", "status", "why", title="Launch gate")
    for i in doc["launch_gate"]["items"]:
        style = "green" if i["status"] == "passed" else "yellow" if i["status"] == "waived" else "red"
        items.add_row(i["title"], f"[{style}]{i['status']}[/]", i["why"])
    console, total, gate = Console(), doc["total"], doc["launch_gate"]
    console.print(areas)
    console.print(f"Total: {total['score']}/{total['max']} ({total['percent']}%): {total['band']}", highlight=False)
    if doc["design_flags"]:
        console.print(f"[red]Design flagged:[/] a 0 in {', '.join(doc['design_flags'])}", highlight=False)
    console.print(items)
    console.print(
        f"Launch gate: {gate['status'].upper()}"
        + (f"; blocked by: {', '.join(gate['blocking'])}" if gate["blocking"] else "")
        + (f"; waived: {', '.join(gate['waived'])}" if gate["waived"] else ""),
        highlight=False,
    )


def waived_by(result: ClaimResult, row: int) -> dict[str, str]:
    return {"waiver": result.waived[row].id} if row in result.waived else {}


def warn_if_nothing_judged(results: list[tuple[str, ClaimResult]]) -> None:
    """When no claim found evidence, say on stderr what to collect and what puts namespaces in scope."""
    if not results or any(r.verdict != "no-evidence" for _, r in results):
        return
    err.print(
        "[yellow]warning:[/] "
        + escape(
            "no claim found evidence: the store holds nothing they judge, or nothing in scope. Collect first (see "
            "`defensible sources`; e.g. `defensible collect kubernetes --set paths=[manifests/]`, or `defensible "
            f"demo`). Claims about regulated namespaces judge only namespaces labelled {DEFAULT_REGULATED} (by "
            "default; set `regulated_namespaces:` in defensible.yaml or --param regulated_label=KEY=VALUE) or listed "
            "in the regulated_namespace_names parameter."
        ),
        highlight=False,
    )


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
                "gaps": [
                    dict(zip(r.gaps.columns, row, strict=True)) | waived_by(r, i)
                    for i, row in enumerate(r.gaps.rows)
                ],
            }
            for pack_id, r in results
        ]
        click.echo(json_text(doc))
        return
    table = Table("pack", "claim", "verdict", "reason")
    for pack_id, r in results:
        table.add_row(pack_id, r.claim.title, f"[{VERDICT_STYLES[r.verdict]}]{r.verdict}[/]", r.reason)
    Console().print(table)


@command(
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
@click.option(
    "--max-artifact-mb",
    type=click.IntRange(min=0),
    default=MAX_ARTIFACT_BYTES // 2**20,
    show_default=True,
    help="Cited raw artifacts larger than this are listed in artifacts/omitted.json, not copied.",
)
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
    max_artifact_mb: int,
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
        with Store.open(store, read_only=True, memory=config.memory_limit) as st:
            summary = build_bundle(
                st,
                judging.packs,
                out,
                signers,
                judging.settings,
                force=force,
                waivers_file=judging.waivers_file,
                pdf=pdf,
                max_artifact_bytes=max_artifact_mb * 2**20,
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
        click.echo(json_text(doc))
    print_bundle_summary(summary, quiet=quiet or fmt == "json")
    warn_if_nothing_judged(summary.results)
    if archive and not (quiet or fmt == "json"):
        err.print(f"archive written to {archive}", highlight=False)


def print_bundle_summary(summary: BundleSummary, quiet: bool = False) -> None:
    """Where the bundle is and who signed it, on stderr; only the warnings (unsigned, artifacts missing) when
    ``quiet``."""
    verdicts = ", ".join(f"{n} {v}" for v, n in summary.verdicts.items())
    if not quiet:
        covered = summary.files - 2  # what `verify` counts: every file but the statement and its signature
        err.print(
            f"bundle written to {summary.path} ({summary.files} files: {covered} listed in the signed statement "
            f"{STATEMENT}, the statement and its signature {ENVELOPE}; {verdicts})",
            highlight=False,
        )
        for key_id in summary.signed_by:
            err.print(f"signed with key {key_id}", highlight=False)
    if summary.missing_artifacts:
        err.print(
            f"[yellow]warning:[/] {summary.missing_artifacts} raw artifact(s) cited by evidence rows are not in the "
            f"store; listed in {OMITTED}",
            highlight=False,
        )
    if not summary.signed_by:
        err.print("[yellow]warning:[/] bundle is unsigned (pass --key or --kms-key to sign it)")


@command(
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
        click.echo(
            f"OK: {bundle_dir}: signature by {result.key_id} valid, {result.files_checked} files verified "
            f"(and the statement {STATEMENT} and its signature {ENVELOPE} that cover them)"
        )
        return
    for problem in result.problems:
        click.echo(f"FAIL: {problem}", err=True)
    sys.exit(1)


@command(
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

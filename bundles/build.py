"""Build the audit bundle: reports, claims, evidence files, packs, cited artifacts and a signed statement.

Everything is derived from the store and the packs, never from the clock, so the same store and key
give byte-identical bundles.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from bundles.browser import ENV_VAR as CHROMIUM_ENV
from bundles.browser import BrowserError, find_chromium, print_pdf
from bundles.files import MissingFile, UnreadableFile, copy_hashed, open_regular
from bundles.junit import junit_xml
from bundles.oscal import oscal_assessment_results
from bundles.reperform import export_parquet, reperform_script
from bundles.report import render_html, render_markdown
from bundles.sarif import sarif_log
from bundles.signing import Signer, envelope
from bundles.statement import ARTIFACTS, statement_bytes
from collector import __version__, progress
from collector.claims import (
    DEFAULT_SETTINGS,
    VERDICTS,
    ClaimResult,
    Pack,
    Settings,
    evaluate_pack,
    evaluation_time,
    run_query,
)
from collector.framework import answer_questions
from collector.query_results import QueryResult, cell, csv_cell
from collector.scorecard import scorecard_document
from collector.store import Store, sha256_hex

STATEMENT = "META/statement.intoto.json"
ENVELOPE = "META/statement.dsse.json"
WAIVERS = "waivers.yaml"
OSCAL = "assessment-results.json"
OMITTED = "artifacts/omitted.json"
MAX_ARTIFACT_BYTES = 256 * 1024 * 1024  # a cited raw log file larger than this is referenced, not copied


class BundleError(Exception):
    """The bundle cannot be written."""


@dataclass
class BundleSummary:
    path: Path
    files: int
    results: list[tuple[str, ClaimResult]]  # (pack id, result) in pack order
    signed_by: list[str]
    missing_artifacts: int = 0  # cited by evidence rows but not in the store (listed in OMITTED)

    @property
    def verdicts(self) -> dict[str, int]:
        return {v: n for v in VERDICTS if (n := sum(r.verdict == v for _, r in self.results))}


def build_bundle(
    store: Store,
    packs: list[Pack],
    out: Path,
    signers: list[Signer],
    settings: Settings = DEFAULT_SETTINGS,
    force: bool = False,
    waivers_file: bytes | None = None,
    pdf: bool = False,
    max_artifact_bytes: int = MAX_ARTIFACT_BYTES,
) -> BundleSummary:
    """Evaluate ``packs`` and write the bundle to ``out``; ``waivers_file`` is the waivers file as read (its
    waivers are in ``settings``), shipped and signed with the bundle. With ``pdf`` the report is also printed
    to ``report.pdf`` by headless Chromium (dated as of the evaluation). A cited artifact larger than
    ``max_artifact_bytes`` is not copied in but listed, with its digest, size and origin, in ``OMITTED``."""
    if out.exists() and any(out.iterdir()) and not force:
        raise BundleError(f"{out} exists and is not empty; choose another --out or pass --force")
    chromium = find_chromium() if pdf else None
    if pdf and not chromium:
        raise BundleError(f"--pdf needs headless Chromium: install chromium or set {CHROMIUM_ENV} to its path")
    at = evaluation_time(store, settings)
    settings = replace(settings, as_of=at)
    results: dict[str, list[ClaimResult]] = {}
    inventories: dict[str, dict[str, QueryResult]] = {}
    with progress.step("bundle: claims", total=sum(len(p.claims) for p in packs), unit="claims") as claims:
        for pack in packs:
            claims.update(detail=pack.id)
            results[pack.id] = evaluate_pack(store, pack, settings)
            inventories[pack.id] = pack_inventories(store, pack, settings)
            claims.advance(len(pack.claims))
    ordered = [(pack.id, r) for pack in packs for r in results[pack.id]]
    runs = [_jsonable_row(r) for r in store.runs()]

    files: dict[str, bytes] = {}  # the small files, written last
    claims_doc = _claims_document(packs, results, settings, at)
    claims_doc["inventories"] = {
        f"{pid}/{name}": f"inventory/{pid}/{name}.json" for pid, named in inventories.items() for name in named
    }
    claims_doc["scorecard"] = scorecard_document(ordered)
    claims_doc["waivers"] = _waivers_document(settings, ordered, at)
    with _staged(out) as staging:
        written = export_parquet(store, settings.scope, staging)  # the large files, written as they are made
        for pack in packs:
            for name, content in pack.files.items():
                files[f"packs/{pack.id}/{name}"] = content
            for result in results[pack.id]:
                base = evidence_dir(pack, result)
                for kind, query in (("evidence", result.evidence), ("gaps", result.gaps)):
                    written[f"{base}/{kind}.csv"] = _write_file(staging, f"{base}/{kind}.csv", to_csv(query))
                    written[f"{base}/{kind}.json"] = _write_file(staging, f"{base}/{kind}.json", to_json(query))
            for name, query in inventories[pack.id].items():
                written[f"inventory/{pack.id}/{name}.json"] = _write_file(
                    staging, f"inventory/{pack.id}/{name}.json", to_json(query)
                )
            files[f"reperform/{pack.id}.sql"] = reperform_script(store, pack, settings.parameters_for(pack), at)
        artifacts, omitted = copy_artifacts(store, _cited_artifacts(results), staging, max_artifact_bytes)
        if omitted:
            files[OMITTED] = _dump(omitted)
        claims_doc["artifacts_omitted"] = len(omitted)
        if waivers_file is not None:
            files[WAIVERS] = waivers_file
        files["claims.json"] = _dump(claims_doc)
        files["runs.json"] = _dump(runs)
        rows = evidence_rows(staging, ordered)
        answers = answer_questions(ordered, rows)
        files["answers.json"] = _dump(answers)
        files["junit.xml"] = junit_xml(claims_doc, rows)
        files["sarif.json"] = sarif_log(claims_doc, rows, repository_roots(store))
        context = {
            "doc": claims_doc,
            "results": results,
            "inventories": inventories,
            "runs": runs,
            "answers": answers,
            "signers": [s.key_id for s in signers],
        }
        files["report.md"] = render_markdown(context).encode()
        files["report.html"] = render_html(context).encode()
        if chromium:
            files["report.pdf"] = report_pdf(files["report.html"], chromium, at)
        digests = {**artifacts, **written, **{name: sha256_hex(content) for name, content in files.items()}}
        # last: its back-matter carries the sha256 of every other file
        files[OSCAL] = oscal_assessment_results(claims_doc, rows, digests)
        digests[OSCAL] = sha256_hex(files[OSCAL])
        predicate = {
            "tool": {"name": "defensible", "version": __version__},
            "as_of": claims_doc["as_of"],
            "scope": claims_doc["scope"],
            "packs": [{"id": p.id, "version": p.version, "digest": p.digest} for p in packs],
            "verdicts": {f"{pid}/{r.claim.id}": r.verdict for pid, r in ordered},
            "launch_gate": claims_doc["scorecard"]["launch_gate"],
            "waivers": {w["id"]: w["status"] for w in claims_doc["waivers"]},
            "runs": [r["run_id"] for r in runs],
        }
        statement = statement_bytes(digests, predicate)
        files[STATEMENT] = statement
        files[ENVELOPE] = _dump(envelope(statement, signers))
        _write_files(staging, files)
    missing = sum(o["size"] is None for o in omitted)
    return BundleSummary(out, len(files) + len(written) + len(artifacts), ordered, [s.key_id for s in signers], missing)


def copy_artifacts(store: Store, cited: list[str], dest: Path, max_bytes: int) -> tuple[dict[str, str], list[dict]]:
    """Copy each cited artifact of the store to ``dest/artifacts/sha256/<digest>``, hashing it as it is copied.

    Return (bundle name -> sha256 of what was copied, the omitted: not in the store or larger than ``max_bytes``).
    Raise StoreError if a cited digest is not a sha256, BundleError naming the artifact if the store holds something
    other than a regular file under its name, or its content does not hash to its name."""
    copied: dict[str, str] = {}
    omitted = []
    with progress.step("bundle: artifacts", total=len(cited), unit="files") as step:
        for digest in cited:
            name = f"{ARTIFACTS}{digest}"
            size = _copy_artifact(store, digest, dest / name, max_bytes)
            if size is not None and size <= max_bytes:
                copied[name] = digest
            else:
                why = "not in the store" if size is None else f"larger than {max_bytes} bytes"
                omitted.append(
                    {"sha256": digest, "size": size, "origin": artifact_origin(store, digest), "reason": why}
                )
            step.advance()
    return copied, omitted


def _copy_artifact(store: Store, digest: str, target: Path, max_bytes: int) -> int | None:
    """Copy the store's artifact ``digest`` to ``target`` unless larger than ``max_bytes``; return its size, None
    if the store lacks it."""
    path = store.artifact_path(digest)

    def refuse(why: str) -> BundleError:
        origin = artifact_origin(store, digest) or "unknown origin"
        return BundleError(f"artifact {digest} (from {origin}): the store's copy {path} {why}; bundle not written")

    try:
        with open_regular(path) as source:
            size = os.fstat(source.fileno()).st_size
            if size > max_bytes:
                return size
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as out:
                actual = copy_hashed(source, out)
    except MissingFile:
        return None
    except UnreadableFile as exc:
        raise refuse(f"is unusable: {exc}") from None
    except OSError as exc:
        raise refuse(f"cannot be copied: {exc.strerror}") from None
    if actual != digest:
        raise refuse(f"hashes to {actual}, not to its name: it was changed after collection")
    return size


def artifact_origin(store: Store, digest: str) -> str | None:
    row = store.con.execute("SELECT min(origin) FROM artifacts WHERE sha256 = ?", [digest]).fetchone()
    return row[0] if row else None


def evidence_rows(root: Path, results: list[tuple[str, ClaimResult]]) -> dict[str, list[dict]]:
    """The evidence files' rows (as written under ``root``) by bundle path, for the machine formats; a waived gap
    row names its waiver."""
    rows = {}
    for pack_id, r in results:
        for kind in ("evidence", "gaps"):
            name = f"evidence/{pack_id}/{r.claim.id}/{kind}.json"
            rows[name] = json.loads((root / name).read_bytes())
        gaps = rows[f"evidence/{pack_id}/{r.claim.id}/gaps.json"]
        for index, waiver in r.waived.items():
            gaps[index] = {**gaps[index], "waiver": waiver.id}
    return rows


def repository_roots(store: Store) -> dict[str, str]:
    """GitOps repositories the store knows (name -> its working tree's named root, ``gitops:``), for SARIF."""
    if not store.has_table("git_repositories_current"):
        return {}
    named = "SELECT DISTINCT repo, path FROM git_repositories_current WHERE ends_with(path, ':') ORDER BY 1"
    return dict(store.con.execute(named).fetchall())  # a store collected before issue 21: absolute, not located


def report_pdf(html: bytes, chromium: str, at: datetime) -> bytes:
    with tempfile.TemporaryDirectory(prefix="defensible-pdf-") as tmp:
        page, pdf = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_bytes(html)
        try:
            print_pdf(page, pdf, chromium, created=at)
        except BrowserError as exc:
            raise BundleError(f"cannot print the report to PDF: {exc}") from None
        return pdf.read_bytes()


def pack_inventories(store: Store, pack: Pack, settings: Settings) -> dict[str, QueryResult]:
    """The pack's inventory queries, run right after its claims (they read the pack's views), in scope."""
    found = {}
    for name, sql in pack.inventories.items():
        try:
            query = run_query(store.con, sql)
        except duckdb.Error:
            continue  # over evidence not collected: the pack's claims say so
        found[name] = settings.scope.select(query) if settings.scope else query
    return found


def evidence_dir(pack: Pack, result: ClaimResult) -> str:
    return f"evidence/{pack.id}/{result.claim.id}"


def _claims_document(
    packs: list[Pack], results: dict[str, list[ClaimResult]], settings: Settings, at: datetime
) -> dict:
    return {
        "as_of": at.isoformat(),
        "scope": settings.scope.describe() if settings.scope else None,
        "tool": {"name": "defensible", "version": __version__},
        "packs": [
            {
                "id": pack.id,
                "title": pack.title,
                "version": pack.version,
                "description": pack.description,
                "digest": pack.digest,
                "parameters": settings.parameters_for(pack),
                "changed_parameters": settings.changed_parameters(pack),
                "freshness": settings.freshness_for(pack),
                "reperform": f"reperform/{pack.id}.sql",
                "claims": [_claim_entry(pack, r) for r in results[pack.id]],
            }
            for pack in packs
        ],
    }


def _claim_entry(pack: Pack, r: ClaimResult) -> dict[str, Any]:
    used: dict[str, dict[str, Any]] = {}
    for waiver in r.waived.values():
        used.setdefault(waiver.id, {**waiver.describe(), "rows": 0})["rows"] += 1
    return {
        "id": r.claim.id,
        "title": r.claim.title,
        "statement": r.claim.statement,
        "frameworks": list(r.claim.frameworks),
        "areas": list(r.claim.areas),
        "verdict": r.verdict,
        "reason": r.reason,
        "evidence_rows": len(r.evidence.rows),
        "gap_rows": len(r.gaps.rows),
        "waived_rows": sorted(r.waived),
        "waived_by": [used[k] for k in sorted(used)],
        "expired_waivers": [w.describe() for w in r.expired_waivers],
        "clusters": {name: {"verdict": v, "reason": why} for name, (v, why) in r.clusters.items()},
        "files": {
            f"{kind}_{ext}": f"{evidence_dir(pack, r)}/{kind}.{ext}"
            for kind in ("evidence", "gaps")
            for ext in ("csv", "json")
        },
        "queries": {
            "evidence": f"packs/{pack.id}/{r.claim.evidence_file}",
            "gaps": f"packs/{pack.id}/{r.claim.gaps_file}",
        },
    }


def _waivers_document(settings: Settings, results: list[tuple[str, ClaimResult]], at: datetime) -> list[dict]:
    """Every waiver with its status: ``applied`` (waived rows), ``expired`` or ``unused`` (matched no gap row)."""
    rows = {w.id: 0 for w in settings.waivers}
    for _, r in results:
        for waiver in r.waived.values():
            rows[waiver.id] += 1
    return [
        {
            **w.describe(),
            "line": w.line,
            "status": "expired" if not w.active(at) else "applied" if rows[w.id] else "unused",
            "rows": rows[w.id],
        }
        for w in settings.waivers
    ]


def _cited_artifacts(results: dict[str, list[ClaimResult]]) -> list[str]:
    cited: set[str] = set()
    for rs in results.values():
        for r in rs:
            for query in (r.evidence, r.gaps):
                if "artifact_sha256" in query.columns:
                    i = query.columns.index("artifact_sha256")
                    cited.update(str(row[i]) for row in query.rows if row[i])
    return sorted(cited)


def _jsonable_row(row: dict) -> dict:
    return {k: cell(v) for k, v in row.items()}


def to_csv(query: QueryResult) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(query.columns)
    for row in query.rows:
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue().encode()


def to_json(query: QueryResult) -> bytes:
    return _dump([dict(zip(query.columns, map(cell, row), strict=True)) for row in query.rows])


def _dump(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


@contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """A new directory beside ``out`` to write the bundle in: it replaces ``out`` when the block succeeds, and is
    removed if it fails."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_files(root: Path, files: dict[str, bytes]) -> None:
    with progress.step("bundle: writing", total=len(files), unit="files") as written:
        for name, content in files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            written.advance()


def _write_file(root: Path, name: str, content: bytes) -> str:
    """Write ``content`` to ``root/name``; return its sha256."""
    target = root / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return sha256_hex(content)

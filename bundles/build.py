"""Build the audit bundle: reports, claims, evidence files, packs, cited artifacts and a signed statement.

Everything is derived from the store and the packs, never from the clock, so the same store and key
give byte-identical bundles.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bundles.report import render_html, render_markdown
from bundles.signing import Signer, envelope
from bundles.statement import statement_bytes
from collector import __version__
from collector.claims import DEFAULT_SETTINGS, VERDICTS, ClaimResult, Pack, QueryResult, Settings, evaluate_pack
from collector.store import Store, sha256_hex

STATEMENT = "META/statement.intoto.json"
ENVELOPE = "META/statement.dsse.json"


class BundleError(Exception):
    """The bundle cannot be written."""


@dataclass
class BundleSummary:
    path: Path
    files: int
    results: list[tuple[str, ClaimResult]]  # (pack id, result) in pack order
    signed_by: list[str]

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
) -> BundleSummary:
    if out.exists() and any(out.iterdir()) and not force:
        raise BundleError(f"{out} exists and is not empty; choose another --out or pass --force")
    results = {pack.id: evaluate_pack(store, pack, settings) for pack in packs}
    runs = [_jsonable_row(r) for r in store.runs()]
    as_of = max((r["finished_at"] for r in runs if r["finished_at"]), default=None)

    files: dict[str, bytes] = {}
    claims_doc = _claims_document(packs, results, settings, as_of)
    for pack in packs:
        for name, content in pack.files.items():
            files[f"packs/{pack.id}/{name}"] = content
        for result in results[pack.id]:
            base = evidence_dir(pack, result)
            for kind, query in (("evidence", result.evidence), ("gaps", result.gaps)):
                files[f"{base}/{kind}.csv"] = to_csv(query)
                files[f"{base}/{kind}.json"] = to_json(query)
    for digest in _cited_artifacts(results):
        path = store.artifact_path(digest)
        if path.is_file():
            files[f"artifacts/sha256/{digest}"] = path.read_bytes()
    files["claims.json"] = _dump(claims_doc)
    files["runs.json"] = _dump(runs)
    context = {"doc": claims_doc, "results": results, "runs": runs, "signers": [s.key_id for s in signers]}
    files["report.md"] = render_markdown(context).encode()
    files["report.html"] = render_html(context).encode()

    digests = {name: sha256_hex(content) for name, content in files.items()}
    predicate = {
        "tool": {"name": "defensible", "version": __version__},
        "as_of": as_of,
        "packs": [{"id": p.id, "version": p.version, "digest": p.digest} for p in packs],
        "verdicts": {f"{pid}/{r.claim.id}": r.verdict for pid, rs in results.items() for r in rs},
        "runs": [r["run_id"] for r in runs],
    }
    statement = statement_bytes(digests, predicate)
    files[STATEMENT] = statement
    files[ENVELOPE] = _dump(envelope(statement, signers))
    _write_atomically(out, files)
    ordered = [(pack.id, r) for pack in packs for r in results[pack.id]]
    return BundleSummary(out, len(files), ordered, [s.key_id for s in signers])


def evidence_dir(pack: Pack, result: ClaimResult) -> str:
    return f"evidence/{pack.id}/{result.claim.id}"


def _claims_document(
    packs: list[Pack], results: dict[str, list[ClaimResult]], settings: Settings, as_of: str | None
) -> dict:
    return {
        "as_of": as_of,
        "tool": {"name": "defensible", "version": __version__},
        "packs": [
            {
                "id": pack.id,
                "title": pack.title,
                "version": pack.version,
                "description": pack.description,
                "digest": pack.digest,
                "parameters": settings.parameters_for(pack),
                "claims": [
                    {
                        "id": r.claim.id,
                        "title": r.claim.title,
                        "statement": r.claim.statement,
                        "frameworks": list(r.claim.frameworks),
                        "verdict": r.verdict,
                        "reason": r.reason,
                        "evidence_rows": len(r.evidence.rows),
                        "gap_rows": len(r.gaps.rows),
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
                    for r in results[pack.id]
                ],
            }
            for pack in packs
        ],
    }


def _cited_artifacts(results: dict[str, list[ClaimResult]]) -> list[str]:
    cited: set[str] = set()
    for rs in results.values():
        for r in rs:
            for query in (r.evidence, r.gaps):
                if "artifact_sha256" in query.columns:
                    i = query.columns.index("artifact_sha256")
                    cited.update(row[i] for row in query.rows if row[i])
    return sorted(cited)


def cell(value: Any) -> Any:
    """A query value as JSON-compatible data, stable across runs and machines."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [cell(v) for v in value]
    if isinstance(value, dict):
        return {str(k): cell(v) for k, v in value.items()}
    return value


def _jsonable_row(row: dict) -> dict:
    return {k: cell(v) for k, v in row.items()}


def to_csv(query: QueryResult) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(query.columns)
    for row in query.rows:
        writer.writerow(["" if v is None else v if isinstance(v, str) else json.dumps(cell(v)) for v in row])
    return buf.getvalue().encode()


def to_json(query: QueryResult) -> bytes:
    return _dump([dict(zip(query.columns, map(cell, row), strict=True)) for row in query.rows])


def _dump(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _write_atomically(out: Path, files: dict[str, bytes]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name, content in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

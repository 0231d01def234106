"""SARIF 2.1.0 log of a bundle's gaps that point into a GitOps repository, for code-scanning views.

One rule per claim; one result per gap row whose ``location`` names a file under a repository's named root
(``gitops:``, see collector.roots), with the file relative to that root (``uriBaseId`` = repository name, its root
left to the consumer: the checkout) and ``startLine`` from the last ``(line N)`` (a ``List`` item's own line). Each
result has a ``partialFingerprints`` entry from its rule, object, cluster and file (not the line), so code-scanning
views match it across bundles.
Gap rows that point nowhere in a repository are counted in ``run.properties``, not reported.
"""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import quote

from bundles.oscal import describe_waivers, iter_claims, waivers_of

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://defensible.dev/"
FINGERPRINT = "defensibleGapRow/v1"
LINE = re.compile(r"\(line (\d+)\)")
PATH_END = re.compile(r"[#()\s]")  # a location's path ends at its document index, a bracket or a space


def sarif_log(claims: dict, rows: dict[str, list[dict]], repo_roots: dict[str, str]) -> bytes:
    """The SARIF log of ``claims`` (parsed claims.json) and their gap rows (``rows``: bundle path → parsed rows),
    locating rows in the repositories of ``repo_roots`` (name → its working tree's named root, ``gitops:``)."""
    roots = sorted(((name, _root(name, path)) for name, path in repo_roots.items()), key=lambda r: -len(r[1]))
    rules, results, unlocated = [], [], {}
    for index, (pack, claim) in enumerate(iter_claims(claims)):
        rule_id = f"{pack['id']}/{claim['id']}"
        rules.append(_rule(rule_id, claim))
        for row in rows.get(claim.get("files", {}).get("gaps_json", ""), []):
            if where := locate(row.get("location"), roots):
                row = {**row, "location": row["location"].replace(dict(roots)[where[0]], "")}
                results.append(_result(rule_id, index, claim, row, *where))
            else:
                unlocated[rule_id] = unlocated.get(rule_id, 0) + 1
    tool = claims.get("tool", {})
    run = {
        "tool": {
            "driver": {
                "name": "defensible",
                "informationUri": INFORMATION_URI,
                "version": str(tool.get("version", "unknown")),
                "rules": rules,
            }
        },
        "originalUriBaseIds": {
            name: {"description": {"text": f"the root of the working tree of repository {name}"}}
            for name, _ in sorted(roots)
        },
        "results": results,
        "properties": {
            "asOf": claims.get("as_of"),
            "unlocatedGapRows": sum(unlocated.values()),
            "unlocatedGapRowsByRule": unlocated,
        },
    }
    log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return (json.dumps(log, indent=2, ensure_ascii=False) + "\n").encode()


def locate(location: object, roots: list[tuple[str, str]]) -> tuple[str, str, int | None] | None:
    """(repository, path relative to its root, line or None) of a row location under one of ``roots``
    ((name, named root) pairs), e.g. ``gitops:k8s/00-namespaces.yaml#5 (line 26)``."""
    if not isinstance(location, str):
        return None
    for name, prefix in roots:
        start = location.find(prefix)
        while start != -1:
            if start == 0 or location[start - 1] in " (":
                rest = location[start + len(prefix) :]
                relative = PATH_END.split(rest, 1)[0]
                if relative and ".." not in relative.split("/"):
                    lines = LINE.findall(rest)  # the last is the innermost: a list item's, not its document's
                    return name, relative, int(lines[-1]) if lines else None
            start = location.find(prefix, start + 1)
    return None


def _rule(rule_id: str, claim: dict) -> dict:
    controls = [f"{f['framework']} {f['control']}" for f in claim.get("frameworks", [])]
    files = claim.get("files", {})
    queries = claim.get("queries", {})
    details = (
        f"Controls: {'; '.join(controls)}" if controls else "",
        f"Gap rows in the bundle: {files['gaps_csv']}" if files.get("gaps_csv") else "",
        f"Queries: {queries['evidence']}, {queries['gaps']}" if queries.get("evidence") else "",
    )
    help_text = "\n".join([claim.get("statement", ""), "", *(d for d in details if d)]).strip()
    return {
        "id": rule_id,
        "shortDescription": {"text": claim.get("title", rule_id)},
        "fullDescription": {"text": claim.get("statement", "")},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["compliance", *controls], "verdict": claim.get("verdict")},
    }


def _result(rule_id: str, index: int, claim: dict, row: dict, repo: str, path: str, line: int | None) -> dict:
    what = row.get("finding") or row.get("reason")
    text = ": ".join(str(x) for x in (row.get("object"), what) if x) or claim.get("title", rule_id)
    physical: dict = {"artifactLocation": {"uri": quote(path), "uriBaseId": repo}}
    if line:
        physical["region"] = {"startLine": line}
    identity = "\0".join(str(x or "") for x in (rule_id, row.get("object"), row.get("cluster"), repo, path, what))
    result: dict = {
        "ruleId": rule_id,
        "ruleIndex": index,
        "level": "error",
        "message": {"text": text},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {FINGERPRINT: hashlib.sha256(identity.encode()).hexdigest()},
        "properties": {k: row[k] for k in ("object", "cluster", "location") if row.get(k) is not None},
    }
    waiver = row.get("waiver") or row.get("waived_by")
    if claim.get("verdict") == "waived" or waiver:
        result["level"] = "note"
        justification = describe_waivers(waivers_of(claim)) or str(waiver or claim.get("reason", ""))
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": justification}]
    return result


def _root(name: str, root: str) -> str:
    if not root.endswith(":") or "/" in root:
        raise ValueError(f"repository {name}: {root!r} is not a named root (NAME:)")
    return root

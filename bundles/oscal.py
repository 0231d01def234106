"""OSCAL Assessment Results (JSON) of a bundle.

One result, with one observation and one finding per claim; back-matter resources, with their SHA-256, for the
bundle's evidence files, cited artifacts, packs, claims.json and runs.json. Every href is a path relative to the
bundle root, so the document belongs at the root. Output is derived from its inputs alone: UUIDs are uuid5 of
stable content, dates come from claims.json ``as_of``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

OSCAL_VERSION = "1.2.1"  # compliance-trestle 5's target; every field used also exists in 1.1
NS = "https://defensible.dev/ns/oscal"  # namespace of defensible's own props
UUID_NAMESPACE = uuid.UUID("dcaf1625-62bb-435d-b0df-fbab5f494133")
MEDIA_TYPES = {".json": "application/json", ".csv": "text/csv", ".sql": "application/sql", ".yaml": "application/yaml"}
TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")  # ASCII subset of the OSCAL token datatype
NIST_CONTROL = re.compile(r"^([A-Za-z]{2})-(\d+)(?:\((\d+)\))?$")  # SC-7, SC-7(5)
GAPS_SHOWN = 5
REQUIRED = frozenset({"id", "title", "statement", "verdict", "files", "queries"})


def oscal_assessment_results(claims: dict, rows: dict[str, list[dict]], digests: dict[str, str]) -> bytes:
    """The OSCAL Assessment Results document of a bundle.

    ``claims`` is the parsed claims.json, ``rows`` maps bundle paths (``evidence/<pack>/<claim>/gaps.json``) to
    their parsed rows, ``digests`` maps every bundle file to its sha256."""
    as_of = _as_of(claims)
    doc_uuid = _uuid("assessment-results", hashlib.sha256(_canonical([claims, digests])).hexdigest())
    resources = _resources(claims, digests)
    subjects: dict[str, dict] = {}
    observations, findings = [], []
    for pack, claim in iter_claims(claims):
        if missing := sorted(REQUIRED - claim.keys()):
            raise ValueError(f"claims.json: claim {pack.get('id')}/{claim.get('id')} lacks {', '.join(missing)}")
        for name in (*claim["files"].values(), *claim["queries"].values()):
            if name not in digests:
                raise ValueError(f"claims.json: claim {pack['id']}/{claim['id']} names {name}, not in the bundle")
        claim_rows = _claim_rows(claim, rows)
        observation = _observation(pack, claim, claim_rows, as_of, subjects, resources)
        observations.append(observation)
        findings.append(_finding(pack, claim, rows.get(claim["files"]["gaps_json"], []), observation["uuid"]))
    result: dict[str, Any] = {
        "uuid": _uuid("result", doc_uuid),
        "title": f"Claims evaluated as of {as_of}",
        "description": _result_description(claims),
        "start": as_of,
        "end": as_of,
    }
    if subjects:
        result["local-definitions"] = {"inventory-items": list(subjects.values())}
    result["reviewed-controls"] = {"control-selections": _control_selections(claims)}
    if observations:
        result["observations"] = observations
        result["findings"] = findings
    if claims.get("scope"):
        result["remarks"] = "Scope: " + json.dumps(claims["scope"], sort_keys=True, ensure_ascii=False)
    tool = claims.get("tool", {})
    doc = {
        "uuid": doc_uuid,
        "metadata": {
            "title": f"defensible assessment results as of {as_of}",
            "last-modified": as_of,
            "version": as_of,
            "oscal-version": OSCAL_VERSION,
            "props": [_prop("tool", f"{tool.get('name', 'defensible')} {tool.get('version', 'unknown')}")],
        },
        "import-ap": {
            "href": f"#{resources['#plan']['uuid']}",
            "remarks": "There is no separate assessment plan: the query packs in the bundle (packs/) are the plan.",
        },
        "results": [result],
        "back-matter": {"resources": list(resources.values())},
    }
    return (json.dumps({"assessment-results": doc}, indent=2, ensure_ascii=False) + "\n").encode()


def iter_claims(claims: dict) -> Iterator[tuple[dict, dict]]:
    """(pack, claim) pairs of claims.json in order."""
    for pack in claims.get("packs", []):
        for claim in pack.get("claims", []):
            yield pack, claim


def waivers_of(claim: dict) -> list[dict]:
    return [w for w in claim.get("waived_by") or [] if isinstance(w, dict)]


def describe_waivers(waivers: list[dict]) -> str:
    """``approver (ticket, until expires): justification`` for each waiver with an approver, ``; ``-separated."""
    parts = []
    for w in waivers:
        if w.get("approver"):
            detail = ", ".join(x for x in (w.get("ticket"), w.get("expires") and f"until {w['expires']}") if x)
            text = f"{w['approver']} ({detail})" if detail else str(w["approver"])
            parts.append(f"{text}: {w['justification']}" if w.get("justification") else text)
    return "; ".join(parts)


def gap_line(row: dict) -> str:
    """One gap row in a line: its object, what is wrong and where."""
    what = row.get("finding") or row.get("reason")
    line = ": ".join(str(x) for x in (row.get("object"), what) if x) or json.dumps(row, sort_keys=True, default=str)
    return f"{line} ({row['location']})" if row.get("location") else line


def status(pack: dict, claim: dict) -> tuple[str, str, str]:
    """(objective state, reason, remarks) of a claim's verdict."""
    verdict, why = claim.get("verdict"), claim.get("reason") or ""
    if verdict == "satisfied":
        return "satisfied", "pass", why
    if verdict == "gap":
        return "not-satisfied", "fail", why
    if verdict in ("no-evidence", "stale", "error"):
        return "not-satisfied", "other", f"{verdict}: {why}"
    if verdict == "waived":
        approved = describe_waivers(waivers_of(claim))
        if approved:
            return "satisfied", "other", f"gaps waived by {approved}"
        return "not-satisfied", "other", f"waived, but claims.json names no approver: {why}"
    raise ValueError(f"claims.json: claim {pack['id']}/{claim['id']} has unknown verdict {verdict!r}")


def control_id(framework: str, control: str) -> str:
    """An OSCAL control-id (token) for a framework's control: NIST SP 800-53 ids as in NIST's OSCAL catalog
    (``SC-7(5)`` → ``sc-7.5``), other ids as they are if they are tokens, else prefixed by the framework."""
    if "800-53" in framework and (m := NIST_CONTROL.match(control)):
        family, number, enhancement = m.groups()
        return f"{family.lower()}-{number}" + (f".{enhancement}" if enhancement else "")
    if TOKEN.match(control):
        return control
    return _token(f"{_slug(framework)}_{_slug(control)}")


def _observation(
    pack: dict, claim: dict, claim_rows: list[dict], as_of: str, subjects: dict[str, dict], resources: dict[str, dict]
) -> dict:
    key = f"{pack['id']}/{claim['id']}"
    files, queries = claim["files"], claim["queries"]
    counts = {"evidence": claim.get("evidence_rows", 0), "gaps": claim.get("gap_rows", 0)}
    evidence = [
        {"href": files[f"{kind}_{ext}"], "description": f"{counts[kind]} {label} row(s) ({ext.upper()})"}
        for kind, label in (("evidence", "supporting"), ("gaps", "gap"))
        for ext in ("json", "csv")
    ]
    evidence += [{"href": queries[kind], "description": f"The {kind} query (SQL)"} for kind in ("evidence", "gaps")]
    for item in evidence:  # the back-matter resource holding the file's hash
        item["links"] = [{"href": f"#{resources[item['href']]['uuid']}", "rel": "reference"}]
    observation: dict[str, Any] = {
        "uuid": _uuid("observation", key),
        "title": _line(claim["title"]),
        "description": claim["statement"],
        "props": [_prop("claim", key), _prop("verdict", claim["verdict"])],
        "methods": ["EXAMINE"],
    }
    refs = [_subject(row, subjects) for row in claim_rows if _text(row.get("object"))]
    if refs:
        observation["subjects"] = list({r["subject-uuid"]: r for r in refs}.values())
    observation["relevant-evidence"] = evidence
    collected = [t for row in claim_rows if (t := _instant(row.get("collected_at")))]
    observation["collected"] = max(collected, key=datetime.fromisoformat, default=as_of)
    return observation


def _finding(pack: dict, claim: dict, gap_rows: list[dict], observation_uuid: str) -> dict:
    key = f"{pack['id']}/{claim['id']}"
    state, reason, remarks = status(pack, claim)
    description = claim.get("reason") or claim["verdict"]
    if gap_rows:
        shown = "\n".join(f"- {gap_line(row)}" for row in gap_rows[:GAPS_SHOWN])
        more = f"\n- … and {len(gap_rows) - GAPS_SHOWN} more" if len(gap_rows) > GAPS_SHOWN else ""
        description += f"\n\n{shown}{more}"
    controls = [
        {**_prop("control-id", control_id(f["framework"], f["control"])), "remarks": f"{f['framework']} {f['control']}"}
        for f in claim.get("frameworks", [])
    ]
    finding: dict[str, Any] = {
        "uuid": _uuid("finding", key),
        "title": _line(claim["title"]),
        "description": description,
        "props": [_prop("claim", key), _prop("verdict", claim["verdict"]), *controls],
        "target": {
            "type": "objective-id",
            "target-id": _token(f"{pack['id']}.{claim['id']}"),
            "status": {"state": state, "reason": reason, **({"remarks": remarks} if remarks else {})},
        },
        "related-observations": [{"observation-uuid": observation_uuid}],
    }
    if claim["verdict"] == "waived":
        finding["remarks"] = remarks
    return finding


def _subject(row: dict, subjects: dict[str, dict]) -> dict:
    """The reference to the inventory item of a row's object, adding the item when first seen."""
    name, cluster = _text(row["object"]), _text(row.get("cluster"))
    item_uuid = _uuid("inventory-item", cluster, name)
    if item_uuid not in subjects:
        props = [_prop(k, v) for k in ("cluster", "source", "location") if (v := _text(row.get(k)))]
        subjects[item_uuid] = {"uuid": item_uuid, "description": name, **({"props": props} if props else {})}
    return {"subject-uuid": item_uuid, "type": "inventory-item", "title": _line(name)}


def _control_selections(claims: dict) -> list[dict]:
    frameworks: dict[str, list[str]] = {}
    for _, claim in iter_claims(claims):
        for f in claim.get("frameworks", []):
            ids = frameworks.setdefault(f["framework"], [])
            if (cid := control_id(f["framework"], f["control"])) not in ids:
                ids.append(cid)
    if not frameworks:
        return [{"description": "No claim maps to a framework control.", "include-all": {}}]
    return [
        {
            "description": framework,
            "props": [_prop("framework", framework)],
            "include-controls": [{"control-id": cid} for cid in ids],
        }
        for framework, ids in frameworks.items()
    ]


def _resources(claims: dict, digests: dict[str, str]) -> dict[str, dict]:
    """Back-matter resources by bundle path, the plan (the packs) under ``#plan``."""
    plan = [name for name in sorted(digests) if name.startswith("packs/")]
    if not plan:
        raise ValueError("the bundle has no packs/ files: no plan for the OSCAL import-ap")
    packs = ", ".join(
        f"{p['id']} version {p.get('version')} (sha256 {p.get('digest')})" for p in claims.get("packs", [])
    )
    resources = {
        "#plan": {
            "uuid": _uuid("resource", "#plan"),
            "title": "Query packs (the assessment plan)",
            "description": f"The query packs evaluated, exactly as evaluated: {packs}",
            "rlinks": [_rlink(name, digests[name]) for name in plan],
        }
    }
    titles = {"claims.json": "Claims and verdicts", "runs.json": "Collection runs"}
    for name in sorted(digests):
        if name in titles or name.startswith(("evidence/", "artifacts/", "packs/")):
            title = titles.get(name) or (
                f"Artifact {name.rsplit('/', 1)[-1]}" if name.startswith("artifacts/") else name
            )
            resources[name] = {"uuid": _uuid("resource", name), "title": title, "rlinks": [_rlink(name, digests[name])]}
    return resources


def _rlink(name: str, digest: str) -> dict:
    suffix = name[name.rfind(".") :] if "." in name.rsplit("/", 1)[-1] else ""
    media = MEDIA_TYPES.get(suffix, "application/octet-stream")
    return {"href": name, "media-type": media, "hashes": [{"algorithm": "SHA-256", "value": digest}]}


def _claim_rows(claim: dict, rows: dict[str, list[dict]]) -> list[dict]:
    return [*rows.get(claim["files"]["gaps_json"], []), *rows.get(claim["files"]["evidence_json"], [])]


def _result_description(claims: dict) -> str:
    verdicts: dict[str, int] = {}
    for _, claim in iter_claims(claims):
        verdicts[claim["verdict"]] = verdicts.get(claim["verdict"], 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in verdicts.items()) or "no claims"
    packs = ", ".join(p["id"] for p in claims.get("packs", [])) or "no packs"
    return f"Claims of the packs {packs}, evaluated against the evidence store: {summary}."


def _as_of(claims: dict) -> str:
    as_of = claims.get("as_of")
    if not as_of:
        raise ValueError("claims.json has no as_of (no collection run finished): the OSCAL results need a date")
    if not _instant(as_of):
        raise ValueError(f"claims.json as_of {as_of!r} is not an ISO 8601 instant with a time zone")
    return as_of


def _instant(value: Any) -> str | None:
    """``value`` if it is an ISO 8601 instant with a time zone."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return value if parsed and parsed.tzinfo else None


def _prop(name: str, value: Any) -> dict:
    return {"name": name, "ns": NS, "value": _text(value) or "none"}


def _text(value: Any) -> str:
    """A value as an OSCAL string: no leading or trailing whitespace."""
    return "" if value is None else str(value).strip()


def _line(value: Any) -> str:
    return " ".join(_text(value).split()) or "untitled"


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9_.]+", "-", value.lower()).strip("-")


def _token(value: str) -> str:
    token = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)
    return token if TOKEN.match(token) else f"_{token}"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, "\x1f".join(parts)))


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

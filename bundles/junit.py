"""JUnit XML of a bundle's claims, for CI systems: one testsuite per pack, one testcase per claim.

satisfied passes; gap, no-evidence and stale fail; error is an error; waived is skipped. The attributes are those
the Jenkins xunit schema allows (``skipped`` only on ``<testsuite>``), which GitLab's and GitHub's reporters read too.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from bundles.oscal import describe_waivers, gap_line, waivers_of

GAPS_SHOWN = 10
COUNTS = ("tests", "failures", "errors", "skipped")
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def junit_xml(claims: dict, rows: dict[str, list[dict]] | None = None) -> bytes:
    """The JUnit XML of ``claims`` (parsed claims.json); ``rows`` (bundle path → parsed rows, as for the OSCAL
    document) adds the first gap rows of each failing claim."""
    rows = rows or {}
    timestamp = _timestamp(claims.get("as_of"))
    root = ET.Element("testsuites", name="defensible")
    totals = dict.fromkeys(COUNTS, 0)
    for pack in claims.get("packs", []):
        suite = ET.SubElement(root, "testsuite", name=pack["id"])
        counts = dict.fromkeys(COUNTS, 0)
        for claim in pack.get("claims", []):
            case = ET.SubElement(suite, "testcase", classname=pack["id"], name=claim["id"], time="0")
            counts["tests"] += 1
            if outcome := _outcome(pack, claim, rows):
                tag, message, text = outcome
                counts[tag if tag == "skipped" else f"{tag}s"] += 1
                element = ET.SubElement(case, tag, message=_clean(message))
                if tag != "skipped":
                    element.set("type", claim["verdict"])
                    element.text = _clean(text)
        for name in COUNTS:
            suite.set(name, str(counts[name]))
            totals[name] += counts[name]
        suite.set("time", "0")
        if timestamp:
            suite.set("timestamp", timestamp)
    for name in COUNTS[:3]:  # the schema has no skipped count on <testsuites>
        root.set(name, str(totals[name]))
    root.set("time", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def _outcome(pack: dict, claim: dict, rows: dict[str, list[dict]]) -> tuple[str, str, str] | None:
    """(element, message, text) for a claim that does not pass, None for one that does."""
    verdict, reason = claim.get("verdict"), claim.get("reason") or ""
    details = f"{claim.get('title', claim['id'])}: {claim.get('statement', '')}"
    if verdict == "satisfied":
        return None
    if verdict == "gap":
        gaps_file = claim.get("files", {}).get("gaps_json", "")
        gap_rows = rows.get(gaps_file, [])
        shown = [f"- {gap_line(row)}" for row in gap_rows[:GAPS_SHOWN]]
        if len(gap_rows) > GAPS_SHOWN:
            shown.append(f"- … and {len(gap_rows) - GAPS_SHOWN} more in {gaps_file}")
        return "failure", reason, "\n".join([details, "", *shown]).rstrip()
    if verdict == "no-evidence":
        return "failure", f"no evidence: {reason}", details
    if verdict == "stale":
        return "failure", f"stale evidence: {reason}", details
    if verdict == "error":
        return "error", reason, details
    if verdict == "waived":
        approved = describe_waivers(waivers_of(claim))
        return "skipped", f"waived by {approved}" if approved else f"waived: {reason}", ""
    raise ValueError(f"claims.json: claim {pack['id']}/{claim['id']} has unknown verdict {verdict!r}")


def _timestamp(as_of: str | None) -> str | None:
    """``as_of`` in UTC, as JUnit's timestamp (no zone, no fraction)."""
    if not as_of:
        return None
    try:
        instant = datetime.fromisoformat(as_of)
    except ValueError:
        raise ValueError(f"claims.json as_of {as_of!r} is not an ISO 8601 instant") from None
    return (instant if instant.tzinfo else instant.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _clean(text: str) -> str:
    return XML_ILLEGAL.sub("\ufffd", text)

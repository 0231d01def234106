"""Machine formats of the audit bundle: OSCAL Assessment Results, JUnit XML and SARIF, on the demo bundle and on
small synthetic claims for the verdicts the demo lacks."""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from lxml import etree
from trestle.common import const
from trestle.core.validator_factory import validator_factory
from trestle.oscal.assessment_results import AssessmentResults

from bundles.junit import junit_xml
from bundles.oscal import control_id, oscal_assessment_results
from bundles.sarif import locate, sarif_log
from bundles.statement import parse_statement

SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif" / "sarif-schema-2.1.0.json"
JUNIT_SCHEMA = Path(__file__).parent / "data" / "junit" / "junit-10.xsd"  # Jenkins xunit's JUnit schema
WAIVER = {
    "id": "W-7",
    "approver": "ciso@example.gov",
    "ticket": "SEC-1234",
    "justification": "legacy SSO decommissioned in Q1",
    "expires": "2027-01-31T23:59:59+00:00",
}


@dataclass
class Bundle:
    root: Path
    claims: dict
    rows: dict[str, list[dict]]
    digests: dict[str, str]


@pytest.fixture(scope="module")
def demo(demo_dir: Path) -> Bundle:
    root = demo_dir / "bundle"
    digests, _ = parse_statement((root / "META" / "statement.intoto.json").read_bytes())
    del digests["assessment-results.json"]  # the OSCAL document lists every other file
    rows = {n: json.loads((root / n).read_text()) for n in digests if n.startswith("evidence/") and n.endswith(".json")}
    return Bundle(root, json.loads((root / "claims.json").read_text()), rows, digests)


def synthetic(verdict: str, gap_rows: list[dict] | None = None, **claim: object) -> Bundle:
    """A bundle of one pack ``p`` with one claim ``c`` of ``verdict``."""
    files = {f"{kind}_{ext}": f"evidence/p/c/{kind}.{ext}" for kind in ("evidence", "gaps") for ext in ("csv", "json")}
    queries = {"evidence": "packs/p/c.evidence.sql", "gaps": "packs/p/c.gaps.sql"}
    claims = {
        "as_of": "2026-11-24T10:00:00+00:00",
        "tool": {"name": "defensible", "version": "0.1.0"},
        "packs": [
            {
                "id": "p",
                "version": 1,
                "digest": "0" * 64,
                "claims": [
                    {
                        "id": "c",
                        "title": "Claim C",
                        "statement": "C holds.",
                        "frameworks": [{"framework": "NIST SP 800-53 Rev. 5", "control": "SC-7(5)"}],
                        "verdict": verdict,
                        "reason": f"why {verdict}",
                        "evidence_rows": 0,
                        "gap_rows": len(gap_rows or []),
                        "files": files,
                        "queries": queries,
                        **claim,
                    }
                ],
            }
        ],
    }
    names = [*files.values(), *queries.values(), "packs/p/pack.yaml", "claims.json"]
    digests = {name: hashlib.sha256(name.encode()).hexdigest() for name in names}
    return Bundle(Path("/nonexistent"), claims, {files["gaps_json"]: gap_rows or []}, digests)


def all_claims(claims: dict) -> dict[str, dict]:
    return {f"{p['id']}/{c['id']}": c for p in claims["packs"] for c in p["claims"]}


def trestle_validated(doc: bytes, tmp_path: Path) -> AssessmentResults:
    """Parse with compliance-trestle (pydantic models, extra fields forbidden) and run all its validators."""
    path = tmp_path / "assessment-results.json"
    path.write_bytes(doc)
    model = AssessmentResults.oscal_read(path)
    assert model is not None
    validator = validator_factory.get(argparse.Namespace(mode=const.VAL_MODE_ALL))
    assert validator.model_is_valid(model, True, None), validator.error_msg()
    return model


def prop(item: dict, name: str) -> list[str]:
    return [p["value"] for p in item.get("props", []) if p["name"] == name]


def oscal_findings(doc: bytes) -> dict[str, dict]:
    [result] = json.loads(doc)["assessment-results"]["results"]
    return {prop(f, "claim")[0]: f for f in result.get("findings", [])}


# OSCAL


def test_oscal_of_demo_bundle_validates_with_trestle_and_maps_each_claim(
    demo: Bundle, demo_dir: Path, tmp_path: Path
) -> None:
    doc = (demo_dir / "bundle" / "assessment-results.json").read_bytes()  # as the bundle ships it
    assert doc == oscal_assessment_results(demo.claims, demo.rows, demo.digests)
    model = trestle_validated(doc, tmp_path)
    claims = all_claims(demo.claims)
    [result] = model.results
    assert len(result.findings) == len(result.observations) == len(claims) == 34
    assert model.metadata.last_modified == result.start == datetime.fromisoformat(demo.claims["as_of"])
    findings = oscal_findings(doc)
    assert set(findings) == set(claims)
    for key, finding in findings.items():
        status = finding["target"]["status"]
        expected = {"satisfied": ("satisfied", "pass"), "no-evidence": ("not-satisfied", "other")}.get(
            claims[key]["verdict"], ("not-satisfied", "fail")
        )
        assert (status["state"], status["reason"]) == expected, key
        assert prop(finding, "verdict") == [claims[key]["verdict"]]
    gap = findings["k8s-networking/access-restricted"]
    assert "Namespace/admin-console: regulated namespace has no default-deny ingress" in gap["description"]
    assert [(p["value"], p["remarks"]) for p in gap["props"] if p["name"] == "control-id"] == [
        ("pci-dss-v4.0_1.2.1", "PCI DSS v4.0 1.2.1"),
        ("A.8.22", "ISO/IEC 27001:2022 A.8.22"),
        ("ac-4", "NIST SP 800-53 Rev. 5 AC-4"),
    ]


def test_oscal_links_resolve_to_bundle_files_with_their_sha256(demo: Bundle) -> None:
    ar = json.loads(oscal_assessment_results(demo.claims, demo.rows, demo.digests))["assessment-results"]
    resources = {r["uuid"]: r for r in ar["back-matter"]["resources"]}
    linked = set()
    for resource in resources.values():
        for rlink in resource["rlinks"]:
            [digest] = rlink["hashes"]
            assert digest["algorithm"] == "SHA-256"
            assert hashlib.sha256((demo.root / rlink["href"]).read_bytes()).hexdigest() == digest["value"]
            linked.add(rlink["href"])
    shipped = {n for n in demo.digests if n.startswith(("evidence/", "artifacts/", "packs/"))}
    assert shipped <= linked and any(n.startswith("artifacts/sha256/") for n in shipped)
    [result] = ar["results"]
    for observation in result["observations"]:
        assert len(observation["relevant-evidence"]) == 6
        for evidence in observation["relevant-evidence"]:
            assert (demo.root / evidence["href"]).is_file()
            [link] = evidence["links"]
            assert resources[link["href"][1:]]["rlinks"][0]["href"] == evidence["href"]
    plan = resources[ar["import-ap"]["href"][1:]]
    assert {r["href"] for r in plan["rlinks"]} == {n for n in demo.digests if n.startswith("packs/")}


def test_oscal_observation_names_the_objects_examined_and_when(demo: Bundle) -> None:
    [result] = json.loads(oscal_assessment_results(demo.claims, demo.rows, demo.digests))["assessment-results"][
        "results"
    ]
    items = {i["uuid"]: i for i in result["local-definitions"]["inventory-items"]}
    [observation] = [o for o in result["observations"] if prop(o, "claim") == ["k8s-networking/access-restricted"]]
    subjects = {items[s["subject-uuid"]]["description"] for s in observation["subjects"]}
    assert "Namespace/admin-console" in subjects
    [gap] = demo.rows["evidence/k8s-networking/access-restricted/gaps.json"]
    evidence = demo.rows["evidence/k8s-networking/access-restricted/evidence.json"]
    assert observation["collected"] == max((r["collected_at"] for r in [gap, *evidence]), key=datetime.fromisoformat)
    controls = {
        s["description"]: [c["control-id"] for c in s["include-controls"]]
        for s in result["reviewed-controls"]["control-selections"]
    }
    assert {"sc-7.5", "cm-3.1", "sc-8"} <= set(controls["NIST SP 800-53 Rev. 5"])
    assert "pci-dss-v4.0_4.2.1.1" in controls["PCI DSS v4.0"] and "A.8.24" in controls["ISO/IEC 27001:2022"]


def test_oscal_is_deterministic_and_its_uuid_follows_the_content(demo: Bundle) -> None:
    first = oscal_assessment_results(demo.claims, demo.rows, demo.digests)
    assert oscal_assessment_results(demo.claims, demo.rows, demo.digests) == first
    changed = {**demo.digests, "runs.json": "f" * 64}
    other = oscal_assessment_results(demo.claims, demo.rows, changed)
    assert json.loads(other)["assessment-results"]["uuid"] != json.loads(first)["assessment-results"]["uuid"]


@pytest.mark.parametrize(
    ("verdict", "claim", "state", "reason", "remark"),
    [
        ("satisfied", {}, "satisfied", "pass", "why satisfied"),
        ("gap", {}, "not-satisfied", "fail", "why gap"),
        ("no-evidence", {}, "not-satisfied", "other", "no-evidence: why no-evidence"),
        ("stale", {}, "not-satisfied", "other", "stale: why stale"),
        ("error", {}, "not-satisfied", "other", "error: why error"),
        ("waived", {"waived_by": [WAIVER]}, "satisfied", "other", "waived by ciso@example.gov (SEC-1234, until 2027"),
        ("waived", {}, "not-satisfied", "other", "waived, but claims.json names no approver"),
    ],
)
def test_oscal_maps_each_verdict(
    verdict: str, claim: dict, state: str, reason: str, remark: str, tmp_path: Path
) -> None:
    bundle = synthetic(verdict, **claim)
    doc = oscal_assessment_results(bundle.claims, bundle.rows, bundle.digests)
    trestle_validated(doc, tmp_path)
    status = oscal_findings(doc)["p/c"]["target"]["status"]
    assert (status["state"], status["reason"]) == (state, reason)
    assert remark in status["remarks"]


def test_oscal_rejects_what_it_cannot_express() -> None:
    bundle = synthetic("maybe")
    with pytest.raises(ValueError, match=r"claim p/c has unknown verdict 'maybe'"):
        oscal_assessment_results(bundle.claims, bundle.rows, bundle.digests)
    bundle = synthetic("gap")
    missing = {k: v for k, v in bundle.digests.items() if k != "evidence/p/c/gaps.json"}
    with pytest.raises(ValueError, match=r"claim p/c names evidence/p/c/gaps\.json, not in the bundle"):
        oscal_assessment_results(bundle.claims, bundle.rows, missing)
    with pytest.raises(ValueError, match=r"claims\.json has no as_of"):
        oscal_assessment_results({**bundle.claims, "as_of": None}, bundle.rows, bundle.digests)


def test_control_ids_are_oscal_tokens() -> None:
    assert control_id("NIST SP 800-53 Rev. 5", "SC-7(5)") == "sc-7.5"
    assert control_id("NIST SP 800-53 Rev. 5", "AU-2") == "au-2"
    assert control_id("ISO/IEC 27001:2022", "A.8.20") == "A.8.20"
    assert control_id("PCI DSS v4.0", "10.2.1") == "pci-dss-v4.0_10.2.1"
    assert control_id("1st Framework", "4 (a)") == "_1st-framework_4-a"


# JUnit


def test_junit_of_demo_bundle_counts_the_verdicts(demo: Bundle) -> None:
    root = ET.fromstring(junit_xml(demo.claims, demo.rows))
    claims = all_claims(demo.claims)
    failing = sum(c["verdict"] in ("gap", "no-evidence", "stale") for c in claims.values())
    as_of = datetime.fromisoformat(demo.claims["as_of"])
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("34", str(failing), "0")
    assert failing == 25  # 19 gaps; out-of-band-changes, logs-retained, the game day, rollback test and the two
    # multi-cluster claims (one cluster) lack evidence
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [p["id"] for p in demo.claims["packs"]]
    for suite in suites:
        cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(cases))
        assert suite.get("failures") == str(sum(c.find("failure") is not None for c in cases))
        assert suite.get("timestamp") == as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        for case in cases:
            assert case.get("classname") == suite.get("name")
            verdict = claims[f"{suite.get('name')}/{case.get('name')}"]["verdict"]
            assert (len(case) == 0) == (verdict == "satisfied")
    [case] = root.findall(".//testcase[@name='access-restricted']")
    failure = case.find("failure")
    assert (
        failure.get("type") == "gap" and failure.get("message") == claims["k8s-networking/access-restricted"]["reason"]
    )
    assert "Namespace/admin-console: regulated namespace has no default-deny ingress NetworkPolicy" in failure.text


@pytest.mark.parametrize(
    ("verdict", "claim", "tag", "message"),
    [
        ("gap", {}, "failure", "why gap"),
        ("no-evidence", {}, "failure", "no evidence: why no-evidence"),
        ("stale", {}, "failure", "stale evidence: why stale"),
        ("error", {}, "error", "why error"),
        ("waived", {"waived_by": [WAIVER]}, "skipped", "waived by ciso@example.gov (SEC-1234, until 2027-01-31"),
        ("waived", {}, "skipped", "waived: why waived"),
    ],
)
def test_junit_maps_each_verdict(verdict: str, claim: dict, tag: str, message: str) -> None:
    bundle = synthetic(verdict, [{"object": "Namespace/x", "finding": "open\x01door"}], **claim)
    document = junit_xml(bundle.claims, bundle.rows)
    junit_schema().assertValid(etree.fromstring(document))
    root = ET.fromstring(document)
    [suite] = root.findall("testsuite")
    counts = {"failure": "failures", "error": "errors", "skipped": "skipped"}
    assert suite.get(counts[tag]) == "1" and root.get(counts[tag]) == ("1" if tag != "skipped" else None)
    assert sum(int(suite.get(n)) for n in counts.values()) == 1
    [outcome] = suite.find("testcase")
    assert outcome.tag == tag and outcome.get("message").startswith(message)
    if verdict == "gap":
        assert "Namespace/x: open\ufffddoor" in outcome.text  # a control character XML cannot carry is replaced


def sarif_validator() -> jsonschema.protocols.Validator:
    """A validator of the vendored OASIS schema, of the JSON Schema draft it declares (draft-04)."""
    schema = json.loads(SARIF_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def junit_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(JUNIT_SCHEMA)))


def test_junit_of_demo_bundle_is_valid_for_jenkins_xunit(demo: Bundle) -> None:
    schema = junit_schema()
    schema.assertValid(etree.fromstring((demo.root / "junit.xml").read_bytes()))
    skipped = etree.fromstring(
        b'<testsuites skipped="1"><testsuite name="p" tests="0" failures="0" errors="0"/></testsuites>'
    )
    assert not schema.validate(skipped)  # the schema refuses what issue 21 found: it can fail


# SARIF


def test_sarif_of_demo_bundle_is_valid_and_points_at_gitops_lines(demo: Bundle, demo_dir: Path) -> None:
    gitops = demo_dir / "environment" / "gitops"
    log = json.loads(sarif_log(demo.claims, demo.rows, {"platform-gitops": "gitops:"}))
    sarif_validator().validate(log)
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "defensible"
    assert [r["id"] for r in rules] == list(all_claims(demo.claims))
    located = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]): r for r in run["results"]
    }
    assert set(located) == {
        ("k8s-networking/access-restricted", "k8s/00-namespaces.yaml"),
        # workloads of regulated namespaces without sidecar injection (mesh enrollment, issue 16)
        ("k8s-networking/traffic-encrypted", "k8s/20-citizen-api.yaml"),
        ("k8s-networking/traffic-encrypted", "k8s/30-enforcement.yaml"),
        ("k8s-networking/traffic-encrypted", "k8s/40-admin-console.yaml"),
        ("k8s-networking/traffic-encrypted", "k8s/50-case-workers.yaml"),
        ("k8s-networking/public-exposure-controlled", "k8s/40-admin-console.yaml"),  # the vendor's load balancer
        # the public route's backend in case-workers, a regulated namespace not opted in to public routes
        ("k8s-networking/public-exposure-controlled", "k8s/20-citizen-api.yaml"),
        ("k8s-networking/backend-reencryption", "k8s/40-admin-console.yaml"),
        ("git-changes/changes-reviewed", "k8s/40-admin-console.yaml"),  # the manifest the unreviewed change touched
        ("git-changes/egress-allowlist-approved", "k8s/70-egress-allowlist.yaml"),  # committed before the window
        ("reachability/lateral-movement-restricted", "k8s/30-enforcement.yaml"),  # the undeclared caller's target
        ("reachability/egress-restricted-by-policy", "k8s/40-admin-console.yaml"),
        # default-deny egress namespaces; the demo inventory holds no cluster DNS Service
        ("reachability/dns-exceptions-modelled", "k8s/20-citizen-api.yaml"),
        ("reachability/dns-exceptions-modelled", "k8s/30-enforcement.yaml"),
        ("reachability/dns-exceptions-modelled", "k8s/50-case-workers.yaml"),
        ("logs/incidents-traceable", "k8s/10-gateways.yaml"),  # the internal gateway wrote no access log
        # the demo approves no GatewayClass, and its Gateways' workloads are not in the inventory (platform pack)
        ("platform/gateway-classes-approved", "k8s/10-gateways.yaml"),
        ("platform/gateway-capacity-bounded", "k8s/10-gateways.yaml"),
        # routes without a request timeout: the admin console's HTTPRoute, the enforcement GRPCRoute
        ("resilience/timeout-ladder", "k8s/30-enforcement.yaml"),
        ("resilience/timeout-ladder", "k8s/40-admin-console.yaml"),
        # regulated Services without outlier detection and connection limits
        ("resilience/circuit-breaking", "k8s/30-enforcement.yaml"),
        ("resilience/circuit-breaking", "k8s/40-admin-console.yaml"),
        ("resilience/circuit-breaking", "k8s/50-case-workers.yaml"),
        # routes Istio retries by default, without a per-try timeout
        ("resilience/retry-budgets", "k8s/30-enforcement.yaml"),
        ("resilience/retry-budgets", "k8s/40-admin-console.yaml"),
    }
    assert "uri" not in run["originalUriBaseIds"]["platform-gitops"]  # the checkout's root: no collecting machine path
    assert run["tool"]["driver"]["informationUri"].startswith("https://")
    fingerprints = [r["partialFingerprints"]["defensibleGapRow/v1"] for r in run["results"]]
    assert len(set(fingerprints)) == len(fingerprints) == len(run["results"])
    assert str(gitops) not in json.dumps(log)
    for result in run["results"]:
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uriBaseId"] == "platform-gitops" and result["level"] == "error"
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        lines = (gitops / physical["artifactLocation"]["uri"]).read_text().splitlines()
        if result["ruleId"] != "git-changes/changes-reviewed":  # a change concerns a file, not a line
            assert 1 <= physical["region"]["startLine"] <= len(lines)
    access = located[("k8s-networking/access-restricted", "k8s/00-namespaces.yaml")]
    assert access["locations"][0]["physicalLocation"]["region"] == {"startLine": 26}
    assert (
        access["message"]["text"]
        == "Namespace/admin-console: regulated namespace has no default-deny ingress NetworkPolicy"
    )
    document = (gitops / "k8s/00-namespaces.yaml").read_text().splitlines()[25:30]
    assert document[:2] == ["apiVersion: v1", "kind: Namespace"] and "  name: admin-console" in document
    # the expiring certificate and the two hand-rotated ones and the route editors' RoleBinding (cluster manifests,
    # not the GitOps repository) and the egress gap (logs)
    assert run["properties"]["unlocatedGapRows"] == 5


def test_sarif_marks_waived_gaps_as_suppressed_notes() -> None:
    row = {"object": "Namespace/x", "finding": "no default deny", "location": "gitops:k8s/ns.yaml#0 (line 3)"}
    bundle = synthetic(
        "waived", [row, {"object": "Namespace/y", "location": "cluster prod, namespaces API"}], waived_by=[WAIVER]
    )
    log = json.loads(sarif_log(bundle.claims, bundle.rows, {"gitops": "gitops:"}))
    sarif_validator().validate(log)
    [run] = log["runs"]
    [result] = run["results"]
    assert result["level"] == "note"
    [suppression] = result["suppressions"]
    assert suppression["kind"] == "external" and suppression["status"] == "accepted" and "state" not in suppression
    draft = json.loads(json.dumps(log).replace('"status": "accepted"', '"state": "accepted"'))
    assert not sarif_validator().is_valid(draft)  # the final schema refuses the draft's name: the test can fail
    assert suppression["justification"].startswith("ciso@example.gov (SEC-1234")
    assert result["properties"]["location"] == "k8s/ns.yaml#0 (line 3)"
    shifted = synthetic("waived", [{**row, "location": "gitops:k8s/ns.yaml#0 (line 9)"}], waived_by=[WAIVER])
    [moved] = json.loads(sarif_log(shifted.claims, shifted.rows, {"gitops": "gitops:"}))["runs"][0]["results"]
    assert moved["partialFingerprints"] == result["partialFingerprints"]  # the same gap after lines moved
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "k8s/ns.yaml", "uriBaseId": "gitops"},
        "region": {"startLine": 3},
    }
    assert run["properties"]["unlocatedGapRowsByRule"] == {"p/c": 1}


def test_locate_finds_a_repository_by_its_named_root_and_only_whole_paths() -> None:
    roots = [("platform-apps", "apps:"), ("platform-gitops", "gitops:")]
    assert locate("apps:a.yaml#1 (line 9)", roots) == ("platform-apps", "a.yaml", 9)
    located = locate("secret ns/s tls.crt (gitops:k8s/tls.yaml#2 (line 11))", roots)
    assert located == ("platform-gitops", "k8s/tls.yaml", 11)
    assert locate("gitops:k8s/flows.json", roots) == ("platform-gitops", "k8s/flows.json", None)
    assert locate("gitops:k8s/l.yaml#2 (line 5) items[1] (line 11)", roots) == ("platform-gitops", "k8s/l.yaml", 11)
    assert locate("old-gitops:k8s/x.yaml#0 (line 1)", roots) is None  # another root whose name ends alike
    assert locate("cluster:gitops:k8s/x.yaml", roots) is None
    assert locate("gitops:../etc/passwd", roots) is None
    assert locate("gitops:", roots) is None  # the root itself is no file
    assert locate(None, roots) is None
    with pytest.raises(ValueError, match="repository r: '/srv/gitops' is not a named root"):
        sarif_log({"packs": []}, {}, {"r": "/srv/gitops"})


def test_evidence_csv_cells_carry_no_json_quotes(demo: Bundle) -> None:
    cells = [
        value
        for name in demo.digests
        if name.startswith("evidence/") and name.endswith(".csv")
        for row in csv.DictReader(io.StringIO((demo.root / name).read_text()))
        for value in row.values()
    ]
    assert not [c for c in cells if c.startswith('"')]  # issue 21: timestamps were written as JSON strings
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", c) for c in cells)

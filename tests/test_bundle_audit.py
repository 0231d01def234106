"""What an auditor does with a bundle: re-perform claims with plain DuckDB, read an incident export, and see
waivers and the scorecard signed with the evidence."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import duckdb
import pytest
from helpers import cli

from bundles.browser import find_chromium
from bundles.build import to_json
from bundles.reperform import REQUIRED_DUCKDB, version_check
from collector import scorecard as scorecard_module
from collector.query_results import QueryResult
from collector.scorecard import GATE_ITEMS

INCIDENT = ("--since", "2026-03-02T09:00:00Z", "--until", "2026-03-02T10:00:00Z")
PACKS_BUT_PLATFORM = ("certificates", "git-changes", "k8s-networking", "logs", "reachability")


def claims_of(bundle: Path) -> list[tuple[dict, dict]]:
    doc = json.loads((bundle / "claims.json").read_text())
    return [(pack, claim) for pack in doc["packs"] for claim in pack["claims"]]


def test_every_claim_re_performed_with_plain_duckdb_gives_the_bundle_rows(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = demo_dir / "bundle"
    monkeypatch.chdir(bundle)  # the scripts read data/*.parquet relative to the bundle's root
    checked = 0
    for pack, claim in claims_of(bundle):
        con = duckdb.connect()  # nothing of defensible: the bundle's files only
        con.execute(Path(pack["reperform"]).read_text())
        for kind in ("evidence", "gaps"):
            sql = Path(claim["queries"][kind]).read_text().strip().rstrip(";")
            cur = con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL")
            rows = QueryResult([d[0] for d in cur.description], cur.fetchall())
            assert to_json(rows) == Path(claim["files"][f"{kind}_json"]).read_bytes(), (claim["id"], kind)
            checked += len(rows.rows)
    assert checked > 40  # the demo's claims have rows to compare, not just empty results


def test_incident_export_keeps_only_the_window_and_namespace(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "incident"
    store = str(demo_dir / "evidence.duckdb")
    result = cli("bundle", "--out", str(out), "--store", store, *INCIDENT, "--scope", "namespace=admin-console")
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "claims.json").read_text())
    scope = {"since": "2026-03-02T09:00:00+00:00", "until": "2026-03-02T10:00:00+00:00", "namespace": "admin-console"}
    assert doc["scope"] == {**scope, "service": None}
    statement = json.loads((out / "META" / "statement.intoto.json").read_text())
    assert statement["predicate"]["scope"] == doc["scope"]
    assert "Incident export." in (out / "report.html").read_text()
    rows = 0
    for _, claim in claims_of(out):
        for kind in ("evidence", "gaps"):
            for row in json.loads((out / claim["files"][f"{kind}_json"]).read_text()):
                namespaces = {row.get(c) for c in ("namespace", "src_namespace", "dst_namespace", "from_namespace")}
                assert "admin-console" in namespaces, (claim["id"], row)
                rows += 1
    assert rows > 0
    answered = 0  # the audit questions are answered for the scope too, from the same rows
    for answer in json.loads((out / "answers.json").read_text()):
        for claim in answer["claims"]:
            for row in claim["evidence"]["rows"] + claim["gaps"]["rows"]:
                namespaces = {row.get(c) for c in ("namespace", "src_namespace", "dst_namespace", "from_namespace")}
                assert "admin-console" in namespaces, (answer["id"], row)
                answered += 1
    assert answered > 0
    verdicts = {c["id"]: c["verdict"] for _, c in claims_of(out)}
    assert verdicts["egress-controlled"] == "gap"  # the paste-site upload happened in the window
    assert verdicts["changes-reviewed"] == "no-evidence"  # git rows name no namespace: not in scope
    assert not (out / "data" / "flows.parquet").exists()  # the view is re-created over its storage tables' files
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{out}'")
    con.execute((out / "reperform" / "logs.sql").read_text())
    flows = con.execute("SELECT min(ts), max(ts), count(*), count(DISTINCT run_id) FROM flows").fetchone()
    assert flows[2] > 0 and flows[3] == 1  # provenance comes back from the loads
    assert flows[0] >= datetime(2026, 3, 2, 9, tzinfo=UTC) and flows[1] < datetime(2026, 3, 2, 10, tzinfo=UTC)


def test_bad_incident_options_are_refused(demo_dir: Path, tmp_path: Path) -> None:
    store = str(demo_dir / "evidence.duckdb")
    result = cli("bundle", "--out", str(tmp_path / "b"), "--store", store, "--scope", "team=a")
    assert result.exit_code == 2 and "expected namespace=X[,service=Y]" in result.output
    result = cli("bundle", "--out", str(tmp_path / "b"), "--store", store, "--since", "yesterday")
    assert result.exit_code == 2 and "'yesterday' is not an ISO 8601 time" in result.output


WAIVERS = """
waivers:
  - id: W-admin
    claim: k8s-networking/access-restricted
    scope: {namespace: admin-console}
    justification: admin console moves behind the staff gateway in January
    approver: ciso@casework.example.gov
    ticket: SEC-412
    expires: 2099-01-31
  - id: W-old
    claim: logs/egress-controlled
    justification: paste site was allowed during the migration
    approver: dpo@casework.example.gov
    ticket: SEC-377
    expires: 2026-01-31
  - id: W-spare
    claim: git-changes/changes-reviewed
    scope: {author: nobody@example.org}
    justification: never used
    approver: ciso@casework.example.gov
    ticket: SEC-1
    expires: 2099-01-31
"""
EGRESS_WAIVER = """\
  - id: W-egress
    claim: logs/egress-controlled
    justification: the allowlist wildcard is removed with the provider's fixed IPs (SEC-500)
    approver: ciso@casework.example.gov
    ticket: SEC-500
    expires: 2099-01-31
"""


def test_waivers_are_applied_reported_and_signed(demo_dir: Path, tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS)
    out = tmp_path / "waived"
    key = str(demo_dir / "keys" / "signing.key")
    args = ("--store", str(demo_dir / "evidence.duckdb"), "--key", key, "--waivers", str(waivers))
    assert cli("bundle", "--out", str(out), *args).exit_code == 0
    assert cli("verify", str(out), "--pubkey", str(demo_dir / "keys" / "signing.pub")).exit_code == 0
    doc = json.loads((out / "claims.json").read_text())
    assert {w["id"]: (w["status"], w["rows"]) for w in doc["waivers"]} == {
        "W-admin": ("applied", 1),
        "W-old": ("expired", 0),
        "W-spare": ("unused", 0),
    }
    claims = {c["id"]: c for _, c in claims_of(out)}
    assert claims["access-restricted"]["verdict"] == "waived"
    assert claims["access-restricted"]["waived_by"][0]["approver"] == "ciso@casework.example.gov"
    assert claims["egress-controlled"]["verdict"] == "gap"
    assert [w["id"] for w in claims["egress-controlled"]["expired_waivers"]] == ["W-old"]
    assert (out / "waivers.yaml").read_text() == WAIVERS
    statement = json.loads((out / "META" / "statement.intoto.json").read_text())
    assert "waivers.yaml" in {s["name"] for s in statement["subject"]}
    assert statement["predicate"]["waivers"] == {"W-admin": "applied", "W-old": "expired", "W-spare": "unused"}
    html = (out / "report.html").read_text()
    assert "Expired waiver W-old" in html and "Waived (1 row(s)) by <strong>ciso@casework.example.gov</strong>" in html
    # a waived row says so in words, not only in colour (WCAG 1.4.1); the page has a main landmark
    assert '<tr class="waived-row"><td class="row-status">waived (W-admin)</td>' in html and "<main>" in html
    assert "| waived (W-admin) |" in (out / "report.md").read_text()


def test_report_reads_as_text_and_states_its_scope(demo_dir: Path) -> None:
    html = (demo_dir / "bundle" / "report.html").read_text()
    assert "<h2>Scope of the evaluation</h2>" in html and "<code>casework-prod/admin-console</code>" in html
    assert "labelled <code>defensible.io/regulated=true</code>" in html
    assert "[&#39;" not in html and "['" not in html  # list cells as text, not Python reprs
    assert not re.search(r"\d\d:\d\d:\d\d\.\d{6}", html)  # instants to the second


def test_scorecard_and_launch_gate_of_the_demo(demo_dir: Path) -> None:
    doc = json.loads((demo_dir / "bundle" / "claims.json").read_text())
    areas = {a["area"]: a for a in doc["scorecard"]["areas"]}
    assert areas["tls-identity"]["score"] == 1  # every TLS claim has gaps (hand-rotated certificates too)
    # observability: incidents-traceable is a gap (the internal gateway wrote no access log), and no retention
    # evidence for the local log files
    assert areas["observability"]["score"] == 2 and areas["egress"]["score"] == 1
    # migration: the rollback test is its evidence, and the demo has no report
    assert (areas["migration"]["score"], areas["migration"]["rating"]) == (0, "absent or unknown")
    # connectivity is scored from CIDR and CNI evidence (platform pack), never from Gateway exposure claims
    assert areas["connectivity"]["claims"] == [
        "platform/cidrs-recorded-disjoint: satisfied",
        "platform/cni-enforces-policy: satisfied",
    ]
    assert areas["gateway-routing"]["claims"] == [
        "k8s-networking/public-exposure-controlled: gap",
        "k8s-networking/route-conflicts-absent: satisfied",
        "k8s-networking/exposure-rights-restricted: gap",  # the case-processing developers may edit their routes
        "platform/gateway-classes-approved: gap",
        "resilience/timeout-ladder: gap",
        "resilience/retry-budgets: gap",
        "resilience/disruption-budgets: satisfied",
    ]
    # resilience: disruption budgets hold; routes without timeouts or with Istio's default retries, backends without
    # circuit breaking; no game-day or rollback report
    assert (areas["resilience"]["score"], areas["resilience"]["rating"]) == (2, "defined, partly automated")
    total = doc["scorecard"]["total"]
    assert total["max"] == 42 and total["score"] == sum(a["score"] for a in areas.values())
    assert total["band"] == "not ready"
    gate = doc["scorecard"]["launch_gate"]
    # the demo's gaps block their items; its ADR is approved in review, no game-day or rollback report exists
    assert gate["status"] == "failed" and not gate["passed"]
    statuses = {i["item"]: i["status"] for i in gate["items"]}
    assert statuses["egress-allowlist-approved"] == "blocked" and statuses["adr-approved"] == "passed"
    deny_logs = next(i for i in gate["items"] if i["item"] == "deny-logs-visible")
    assert "logs/logs-retained: no-evidence" in deny_logs["why"]  # deny logs visible, their retention unknown
    assert {i for i, s in statuses.items() if s == "no-evidence"} == {
        "deny-logs-visible",
        "failover-game-day",
        "emergency-rollback-tested",
    }
    assert set(gate["blocking"]) == {i for i, s in statuses.items() if s not in ("passed", "waived")}
    printed = (demo_dir.parent / "demo-output.txt").read_text()
    assert "launch gate: failed; " in printed and "adr-approved passed" in printed
    assert "failover-game-day no-evidence" in printed
    report = (demo_dir / "bundle" / "report.md").read_text()
    assert f"Total: **{total['score']}/42 ({total['percent']}%): not ready**" in report
    assert "| migration | 0 | absent or unknown | git-changes/emergency-rollback-tested: no-evidence |" in report
    html = (demo_dir / "bundle" / "report.html").read_text()
    assert f"{total['score']}/42 ({total['percent']}%): not ready</strong>" in html


def test_the_gate_command_fails_on_gaps_and_a_year_later(demo_dir: Path) -> None:
    store = str(demo_dir / "evidence.duckdb")
    result = cli("gate", "--store", store, "--format", "json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    assert doc["launch_gate"]["status"] == "failed" and doc["total"]["band"] == "not ready"
    a_year_later = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    later = cli("gate", "--store", store, "--format", "json", "--as-of", a_year_later)
    assert later.exit_code == 1
    gate = json.loads(later.output)["launch_gate"]
    assert gate["status"] == "failed" and gate["blocking"] == [item.id for item in GATE_ITEMS]  # stale, every one
    assert "stale" in {i["why"].rsplit(": ", 1)[1] for i in gate["items"]}
    table = cli("gate", "--store", store)
    assert table.exit_code == 1 and "Launch gate: FAILED; blocked by: public-routes-reviewed" in table.output
    assert "Total: " in table.output and "not assessed" not in table.output  # every area has a claim
    without_platform = cli("gate", "--store", store, *(f"--pack={p}" for p in PACKS_BUT_PLATFORM))
    assert "not assessed" in without_platform.output  # connectivity, multi-cluster, cost-capacity


def test_the_gate_command_passes_with_waivers_listed(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = tuple(i for i in GATE_ITEMS if i.id in ("adr-approved", "egress-allowlist-approved"))
    monkeypatch.setattr(scorecard_module, "GATE_ITEMS", items)  # the two demo items that hold, one by waivers
    waivers = tmp_path / "waivers.yaml"
    allowlist_waiver = EGRESS_WAIVER.replace("W-egress", "W-allowlist").replace(
        "logs/egress-controlled", "git-changes/egress-allowlist-approved"
    )
    waivers.write_text(WAIVERS.split("  - id: W-old")[0] + EGRESS_WAIVER + allowlist_waiver)
    result = cli("gate", "--store", str(demo_dir / "evidence.duckdb"), "--waivers", str(waivers))
    assert result.exit_code == 0, result.output
    assert "Launch gate: PASSED WITH WAIVERS; waived: egress-allowlist-approved" in result.output


def test_pdf_report_is_part_of_the_signed_bundle(demo_dir: Path, tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.skip("no headless Chromium on this machine (install Debian's chromium)")
    out = tmp_path / "with-pdf"
    key, pub = demo_dir / "keys" / "signing.key", demo_dir / "keys" / "signing.pub"
    result = cli("bundle", "--out", str(out), "--store", str(demo_dir / "evidence.duckdb"), "--key", str(key), "--pdf")
    assert result.exit_code == 0, result.output
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"/Type /Page" in pdf
    assert cli("verify", str(out), "--pubkey", str(pub)).exit_code == 0
    statement = json.loads((out / "META" / "statement.intoto.json").read_text())
    assert "report.pdf" in {s["name"] for s in statement["subject"]}


def test_bundle_ships_junit_and_sarif(demo_dir: Path) -> None:
    bundle = demo_dir / "bundle"
    junit = ElementTree.fromstring((bundle / "junit.xml").read_bytes())
    assert sum(int(s.get("tests")) for s in junit.iter("testsuite")) == len(claims_of(bundle))
    sarif = json.loads((bundle / "sarif.json").read_text())
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]}
    assert "k8s/00-namespaces.yaml" in uris


def test_re_performance_runs_through_when_some_evidence_was_never_collected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = tmp_path / "k8s"
    manifests.mkdir()
    (manifests / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {defensible.io/regulated: 'true'}}\n"
    )
    store = str(tmp_path / "e.duckdb")
    assert cli("collect", "kubernetes", "--set", f"paths=[{manifests}]", "--store", store).exit_code == 0
    assert cli("bundle", "--out", str(tmp_path / "b"), "--store", store, "--pack", "k8s-networking").exit_code == 0
    monkeypatch.chdir(tmp_path / "b")
    script = Path("reperform/k8s-networking.sql").read_text()
    assert "-- Requires DuckDB 2.0 or later" in script and version_check(REQUIRED_DUCKDB) in script
    with pytest.raises(duckdb.InvalidInputException, match=r"needs DuckDB 99\.0 or later, not v\d"):
        duckdb.connect().execute(version_check(99))  # the check the script runs first, on a too-old DuckDB
    assert "-- not created, as in the evaluation:" in script  # the analysis views: no analysis was run
    con = duckdb.connect()
    con.execute(script)  # runs through
    for _, claim in claims_of(Path(".")):
        sql = Path(claim["queries"]["gaps"]).read_text().strip().rstrip(";")
        cur = con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL")
        rows = QueryResult([d[0] for d in cur.description], cur.fetchall())
        assert to_json(rows) == Path(claim["files"]["gaps_json"]).read_bytes(), claim["id"]


def test_large_artifacts_are_referenced_not_copied(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "slim"
    key, pub = demo_dir / "keys" / "signing.key", demo_dir / "keys" / "signing.pub"
    args = ("--store", str(demo_dir / "evidence.duckdb"), "--key", str(key), "--max-artifact-mb", "0")
    assert cli("bundle", "--out", str(out), *args).exit_code == 0
    assert not (out / "artifacts" / "sha256").exists()
    omitted = json.loads((out / "artifacts" / "omitted.json").read_text())
    shipped = sorted(p.name for p in (demo_dir / "bundle" / "artifacts" / "sha256").iterdir())
    assert sorted(o["sha256"] for o in omitted) == shipped  # every artifact the full bundle carries
    logs = next(o for o in omitted if (o["origin"] or "").endswith("hubble-flows.json"))
    assert logs["size"] > 0 and logs["reason"] == "larger than 0 bytes"
    assert json.loads((out / "claims.json").read_text())["artifacts_omitted"] == len(omitted)
    assert "too large to ship" in (out / "report.html").read_text()
    assert cli("verify", str(out), "--pubkey", str(pub)).exit_code == 0

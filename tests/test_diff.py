"""`defensible diff`: two demo bundles, one quarter apart: a gap fixed, a waiver expired, a public route added."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from helpers import cli, write

from bundles.archive import write_archive
from bundles.diff import Bundle, ClaimState, compare
from bundles.signing import generate_keypair, key_id, load_public_key
from collector.demo.run import CLUSTER

WAIVERS = """
waivers:
  - id: W-paste
    claim: logs/egress-controlled
    scope: {{namespace: admin-console}}
    justification: paste site allowed while case exports migrate
    approver: dpo@casework.example.gov
    ticket: SEC-377
    expires: {expires}
"""
DEFAULT_DENY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: admin-console
spec:
  podSelector: {}
  policyTypes: [Ingress]
"""
PUBLIC_ROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: citizen-api-v2
  namespace: citizen-api
spec:
  parentRefs:
    - {name: public-gateway, namespace: gateway-infra, sectionName: https-citizen}
  hostnames: [api.casework.example.gov]
  rules:
    - matches:
        - path: {type: PathPrefix, value: /v2/cases}
      backendRefs:
        - {name: citizen-api, port: 8080}
"""
UNCOMMITTED = {
    "cluster": "casework-prod",
    "object": "NetworkPolicy admin-console/default-deny",
    "kind": "NetworkPolicy",
    "namespace": "admin-console",
    "name": "default-deny",
    "repo": None,
    "git_location": None,
    "reason": "no Git origin: no manifest at the head of any collected repository defines NetworkPolicy "
    "admin-console/default-deny",
}
CLOSED_GAP = {
    "cluster": CLUSTER,
    "finding": "regulated namespace has no default-deny ingress NetworkPolicy",
    "namespace": "admin-console",
    "object": "Namespace/admin-console",
}
ADDED_ROUTE = {
    "cluster": CLUSTER,
    "gateway": "public-gateway",
    "gateway_namespace": "gateway-infra",
    "hostname": "api.casework.example.gov",
    "listener": "https-citizen",
    "protocol": "HTTPS",
    "route": "citizen-api-v2",
    "route_kind": "HTTPRoute",
    "route_namespace": "citizen-api",
}


@dataclass(frozen=True)
class Pair:
    old: Path  # as of the demo store's latest run, W-paste in force
    new: Path  # one hour later: W-paste expired, admin-console has a default deny
    routed: Path  # as NEW, plus a public route
    pub: Path
    old_as_of: datetime


@pytest.fixture(scope="module")
def pair(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """OLD, NEW and NEW+route, built from one copy of the demo's store and environment."""
    work = tmp_path_factory.mktemp("diff")
    shutil.copy(demo_dir / "evidence.duckdb", work / "evidence.duckdb")
    for name in ("evidence.duckdb.artifacts", "environment"):
        shutil.copytree(demo_dir / name, work / name)
    store, key = str(work / "evidence.duckdb"), str(demo_dir / "keys" / "signing.key")
    old_as_of = datetime.fromisoformat(json.loads((demo_dir / "bundle" / "claims.json").read_text())["as_of"])
    new_as_of = old_as_of + timedelta(hours=1)
    waivers = write(work / "waivers.yaml", WAIVERS.format(expires=(old_as_of + timedelta(minutes=30)).isoformat()))
    manifests = [str(work / "environment" / "gitops" / "k8s"), str(work / "environment" / "cluster")]

    def bundle(out: Path, as_of: datetime) -> Path:
        args = ("--store", store, "--key", key, "--waivers", str(waivers), "--as-of", as_of.isoformat())
        result = cli("bundle", "--out", str(out), *args)
        assert result.exit_code == 0, result.output
        return out

    def recollect(manifest: str, text: str) -> None:
        write(work / "environment" / "gitops" / "k8s" / manifest, text)
        settings = (f"paths={json.dumps(manifests)}", f"cluster={CLUSTER}", "egress_allowlists=true")
        result = cli("collect", "kubernetes", "--store", store, *(a for s in settings for a in ("--set", s)))
        assert result.exit_code == 0, result.output
        result = cli("collect", "analysis", "--store", store)  # the analysis follows the inventory it reads
        assert result.exit_code == 0, result.output

    old = bundle(work / "old", old_as_of)
    recollect("45-admin-console-default-deny.yaml", DEFAULT_DENY)
    new = bundle(work / "new", new_as_of)
    recollect("25-citizen-api-v2.yaml", PUBLIC_ROUTE)
    routed = bundle(work / "routed", new_as_of)
    return Pair(old, new, routed, demo_dir / "keys" / "signing.pub", old_as_of)


def run_diff(old: Path, new: Path, *keys: Path, fmt: str = "json", extra: tuple[str, ...] = ()):
    return cli("diff", str(old), str(new), *(a for k in keys for a in ("--pubkey", str(k))), "--format", fmt, *extra)


def json_diff(old: Path, new: Path, pub: Path) -> dict:
    result = run_diff(old, new, pub)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def sections(markdown: str) -> dict[str, list[str]]:
    """Markdown body lines under each `## ` heading (blank lines dropped); the header under ``""``."""
    found: dict[str, list[str]] = {"": []}
    current = ""
    for line in markdown.splitlines():
        if line.startswith("## "):
            current = line[3:]
            found[current] = []
        elif line.strip():
            found[current].append(line)
    return found


def test_fixed_gap_and_expired_waiver_are_exactly_what_the_diff_reports(pair: Pair) -> None:
    doc = json_diff(pair.old, pair.new, pair.pub)
    signer = key_id(load_public_key(pair.pub))
    assert doc["old"] == {
        "bundle": str(pair.old),
        "as_of": pair.old_as_of.isoformat(),
        "scope": None,
        "signed_by": [signer],
        "verified_with": signer,
        "verdicts": {"satisfied": 9, "waived": 1, "gap": 18, "no-evidence": 6},
    }
    assert doc["new"]["as_of"] == (pair.old_as_of + timedelta(hours=1)).isoformat()
    assert doc["new"]["verdicts"] == {"satisfied": 9, "gap": 19, "no-evidence": 6}
    assert doc["warnings"] == []
    assert doc["verdict_changes"] == [
        {"claim": "git-changes/live-matches-git", "title": "Live objects match Git", "old": "satisfied", "new": "gap"},
        {"claim": "k8s-networking/access-restricted", "title": "Access restricted", "old": "gap", "new": "satisfied"},
        {"claim": "logs/egress-controlled", "title": "Egress controlled", "old": "waived", "new": "gap"},
    ]
    assert doc["claims_added"] == doc["claims_removed"] == []
    # the paste-site row was a gap before (waived) and still is: not opened, reopened under its waiver
    # the default-deny policy was written into the GitOps checkout, not committed: a live object without Git origin
    assert doc["gaps"] == [
        {"claim": "git-changes/live-matches-git", "opened": [UNCOMMITTED], "closed": []},
        {"claim": "k8s-networking/access-restricted", "opened": [], "closed": [CLOSED_GAP]},
    ]
    assert doc["inventories"] == {
        "k8s-networking/public-routes": {"title": "Public routes", "added": [], "removed": []},
        "k8s-networking/regulated-scope": {"title": "Regulated scope", "added": [], "removed": []},
        "logs/log-retention": {"title": "Log retention", "added": [], "removed": []},
        "platform/cluster-network": {"title": "Cluster network", "added": [], "removed": []},
        "platform/external-dns-dependencies": {"title": "External DNS dependencies", "added": [], "removed": []},
        "platform/multicluster-services": {"title": "Multi-cluster Services", "added": [], "removed": []},
    }
    [waiver] = doc["waivers_expired"]
    reopened = waiver.pop("reopened")
    assert waiver == {
        "id": "W-paste",
        "claim": "logs/egress-controlled",
        "scope": {"namespace": "admin-console"},
        "approver": "dpo@casework.example.gov",
        "ticket": "SEC-377",
        "expires": (pair.old_as_of + timedelta(minutes=30)).isoformat(),
        "old_status": "applied",
    }
    assert [(r["object"], r["destination"], r["port"]) for r in reopened] == [
        ("admin-console", "paste.example.org", 443)
    ]
    assert not {"location", "run_id", "collected_at", "artifact_sha256", "source"} & set(reopened[0])
    assert doc["summary"] == {
        "verdict_changes": 3,
        "claims_added": 0,
        "claims_removed": 0,
        "gaps_opened": 1,
        "gaps_closed": 1,
        "inventory_rows_added": 0,
        "inventory_rows_removed": 0,
        "waivers_expired": 1,
    }
    assert doc["regressions"] == [
        "git-changes/live-matches-git: satisfied → gap",
        "logs/egress-controlled: waived → gap",
        "git-changes/live-matches-git: gap opened: NetworkPolicy admin-console/default-deny",
    ]


def test_markdown_of_the_same_diff(pair: Pair) -> None:
    result = run_diff(pair.old, pair.new, pair.pub, fmt="markdown")
    assert result.exit_code == 0, result.output
    md = sections(result.stdout)
    assert md[""][0] == "# Defensibility diff"
    assert f"| as of | {pair.old_as_of.isoformat()} | {(pair.old_as_of + timedelta(hours=1)).isoformat()} |" in md[""]
    assert "| verdicts | 9 satisfied, 1 waived, 18 gap, 6 no-evidence | 9 satisfied, 19 gap, 6 no-evidence |" in md[""]
    assert md[""][-3:] == [
        "- git-changes/live-matches-git: satisfied → gap",
        "- logs/egress-controlled: waived → gap",
        "- git-changes/live-matches-git: gap opened: NetworkPolicy admin-console/default-deny",
    ]
    assert not any("Warning" in line for line in md[""])
    assert md["Verdicts"][2:] == [
        "| git-changes/live-matches-git | satisfied | gap |",
        "| k8s-networking/access-restricted | gap | satisfied |",
        "| logs/egress-controlled | waived | gap |",
    ]
    assert md["Gaps opened"][2:] == [
        f"| git-changes/live-matches-git | NetworkPolicy admin-console/default-deny | {UNCOMMITTED['reason']} |"
    ]
    assert md["Gaps closed"][2:] == [
        "| k8s-networking/access-restricted | Namespace/admin-console | "
        "regulated namespace has no default-deny ingress NetworkPolicy |"
    ]
    assert md["Public routes"] == md["Regulated scope"] == md["Log retention"] == ["No changes."]
    assert md["Cluster network"] == md["External DNS dependencies"] == md["Multi-cluster Services"] == ["No changes."]
    expires = (pair.old_as_of + timedelta(minutes=30)).isoformat()
    assert md["Waivers expired"][2:] == [
        f"| W-paste | logs/egress-controlled | dpo@casework.example.gov | SEC-377 | {expires} | applied "
        "| admin-console |"
    ]
    assert list(md) == [
        "",
        "Verdicts",
        "Gaps opened",
        "Gaps closed",
        "Public routes",
        "Regulated scope",
        "Log retention",
        "Cluster network",
        "External DNS dependencies",
        "Multi-cluster Services",
        "Waivers expired",
    ]


def test_fail_on_regression_in_both_directions_and_not_for_an_unchanged_bundle(pair: Pair, tmp_path: Path) -> None:
    result = run_diff(pair.old, pair.new, pair.pub, extra=("--fail-on-regression",))
    assert result.exit_code == 1 and "regression: logs/egress-controlled: waived → gap" in result.stderr
    back = run_diff(pair.new, pair.old, pair.pub, extra=("--fail-on-regression",))
    assert back.exit_code == 1
    assert json.loads(back.stdout)["regressions"] == [
        "k8s-networking/access-restricted: satisfied → gap",
        "k8s-networking/access-restricted: gap opened: Namespace/admin-console",
    ]
    assert json.loads(back.stdout)["waivers_expired"] == []  # applied again in the older bundle
    later, earlier = (pair.old_as_of + timedelta(hours=1)).isoformat(), pair.old_as_of.isoformat()
    assert json.loads(back.stdout)["warnings"] == [
        f"NEW is judged earlier ({earlier}) than OLD ({later}): are the bundles swapped?"
    ]
    out = tmp_path / "same.md"
    same = run_diff(pair.new, pair.new, pair.pub, fmt="markdown", extra=("--fail-on-regression", "--out", str(out)))
    assert same.exit_code == 0 and same.stdout == ""
    md = sections(out.read_text())
    assert "**Regressions:** none." in md[""]
    assert all(md[s] == ["No changes."] for s in list(md)[1:])


def test_public_route_added_and_removed(pair: Pair) -> None:
    doc = json_diff(pair.new, pair.routed, pair.pub)
    assert doc["inventories"]["k8s-networking/public-routes"] == {
        "title": "Public routes",
        "added": [ADDED_ROUTE],
        "removed": [],
    }
    # nothing else changed but the route's own gaps: it is not in Git, it sets no request timeout, and Istio retries
    # it by default without a per-try timeout
    assert doc["summary"] == {**dict.fromkeys(doc["summary"], 0), "inventory_rows_added": 1, "gaps_opened": 3}
    back = run_diff(pair.routed, pair.new, pair.pub, fmt="markdown")
    assert back.exit_code == 0, back.output
    routes = sections(back.stdout)["Public routes"]
    assert routes[0] == "| change | " + " | ".join(ADDED_ROUTE) + " |"
    assert routes[2:] == ["| removed | " + " | ".join(ADDED_ROUTE.values()) + " |"]


def test_tampered_or_foreign_bundle_is_refused_before_diffing(pair: Pair, tmp_path: Path) -> None:
    tampered = Path(shutil.copytree(pair.new, tmp_path / "tampered"))
    gaps = tampered / "evidence" / "k8s-networking" / "access-restricted" / "gaps.json"
    gaps.write_text(gaps.read_text().replace("[]", "[{}]"))
    result = run_diff(pair.old, tampered, pair.pub, fmt="markdown")
    assert result.exit_code == 2
    assert result.stdout == ""  # no diff at all
    assert (
        f"FAIL: {tampered}: evidence/k8s-networking/access-restricted/gaps.json: "
        "modified (sha256 differs from the signed statement)"
    ) in result.stderr
    assert str(pair.old) not in result.stderr  # OLD verified: nothing to report about it

    generate_keypair(tmp_path / "other.key", tmp_path / "other.pub")
    foreign = run_diff(pair.old, pair.new, tmp_path / "other.pub")
    assert foreign.exit_code == 2 and foreign.stdout == ""
    other = key_id(load_public_key(tmp_path / "other.pub"))
    for bundle in (pair.old, pair.new):
        assert (
            f"FAIL: {bundle}: META/statement.dsse.json: signature check failed: no signature verifies with key {other}"
            in (foreign.stderr)
        )
    # any of several keys will do
    assert run_diff(pair.old, pair.new, tmp_path / "other.pub", pair.pub).exit_code == 0


def test_archives_are_verified_and_compared_like_directories(pair: Pair, tmp_path: Path) -> None:
    old, new = tmp_path / "old.tar.gz", tmp_path / "new.tar.gz"
    write_archive(pair.old, old)
    write_archive(pair.new, new)
    from_archives, from_dirs = json_diff(old, new, pair.pub), json_diff(pair.old, pair.new, pair.pub)
    assert (from_archives["old"]["bundle"], from_archives["new"]["bundle"]) == (str(old), str(new))
    for doc in (from_archives, from_dirs):
        del doc["old"]["bundle"], doc["new"]["bundle"]
    assert from_archives == from_dirs
    new.write_bytes(new.read_bytes()[:-100])  # truncated
    result = run_diff(old, new, pair.pub)
    assert result.exit_code == 2 and f"FAIL: {new}: {new}: not a valid .tar.gz archive" in result.stderr


def synthetic(claims: dict[str, ClaimState], waivers: dict[str, dict], scope: dict | None = None) -> Bundle:
    packs = {"p": {"version": 1, "digest": "d1"}}
    return Bundle("b", "2026-01-01T00:00:00+00:00", scope, ("k",), "k", packs, claims, {}, waivers)


def gap_row(namespace: str, obj: str, run: str) -> dict:
    return {"namespace": namespace, "object": obj, "finding": "f", "run_id": run, "location": f"/{run}/x.yaml"}


def waiver(claim: str, status: str, namespace: str) -> dict:
    scope = {"namespace": namespace}
    return {"claim": claim, "status": status, "scope": scope, "approver": "a", "ticket": "T", "expires": "e"}


def test_comparison_rules_on_synthetic_bundles() -> None:
    x1, y1, x2 = gap_row("x", "X", "r1"), gap_row("y", "Y", "r1"), gap_row("x", "X2", "r2")
    old = synthetic(
        {
            "p/a": ClaimState("A", "waived", (x1, y1), frozenset({0, 1})),
            "p/gone": ClaimState("Gone", "satisfied", (), frozenset()),
        },
        {
            "W-x": waiver("p/a", "applied", "x"),
            "W-y": waiver("p/a", "applied", "y"),
            "W-old": waiver("p/a", "expired", "*"),
        },
        scope={"namespace": "x", "since": None},
    )
    new = synthetic(
        {  # the same rows collected again (other run, other location), one row twice, one row new
            "p/a": ClaimState("A", "gap", (gap_row("y", "Y", "r2"), x2, gap_row("x", "X", "r2"), x2), frozenset()),
            "p/new": ClaimState("New", "gap", (x2,), frozenset()),
        },
        {
            "W-x": waiver("p/a", "expired", "x"),
            "W-y": waiver("p/a", "expired", "y"),
            "W-old": waiver("p/a", "expired", "*"),  # expired already: not reported again
            "W-late": waiver("p/a", "expired", "*"),  # new in this bundle, never applied: reopens nothing
        },
    )
    diff = compare(old, new)
    assert diff.verdict_changes == [{"claim": "p/a", "title": "A", "old": "waived", "new": "gap"}]
    assert diff.claims_added == [{"claim": "p/new", "title": "New", "verdict": "gap", "gap_rows": 1}]
    assert diff.claims_removed == [{"claim": "p/gone", "title": "Gone", "verdict": "satisfied", "gap_rows": 0}]
    x2_identity = {"namespace": "x", "object": "X2", "finding": "f"}
    assert diff.gaps == [{"claim": "p/a", "opened": [x2_identity, x2_identity], "closed": []}]
    assert {w["id"]: [r["object"] for r in w["reopened"]] for w in diff.waivers_expired} == {
        "W-late": [],
        "W-x": ["X"],
        "W-y": ["Y"],
    }
    assert diff.regressions == ["p/a: waived → gap", "p/a: gap opened: X2", "p/a: gap opened: X2"]
    assert diff.warnings == [
        "scopes differ (OLD: namespace=x; NEW: whole store): rows outside the narrower scope show as changes"
    ]

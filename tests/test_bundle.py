"""Bundles: contents, determinism, tamper detection, no key material, reports."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from helpers import cli

from bundles.build import build_bundle
from bundles.signing import generate_keypair, load_signer
from bundles.verify import verify_bundle
from collector.claims import builtin_pack_dirs, load_pack
from collector.runner import run_source
from collector.store import MEMORY_LIMIT_ENV, Store
from sources.logs.source import LogsSource


@pytest.fixture
def bundle(demo_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the demo bundle, free to tamper with."""
    return Path(shutil.copytree(demo_dir / "bundle", tmp_path / "bundle"))


def problems(bundle: Path, demo_dir: Path) -> list[str]:
    return verify_bundle(bundle, demo_dir / "keys" / "signing.pub").problems


def test_demo_bundle_verifies_and_has_expected_layout(demo_dir: Path) -> None:
    bundle = demo_dir / "bundle"
    result = cli("verify", str(bundle), "--pubkey", str(demo_dir / "keys" / "signing.pub"))
    assert result.exit_code == 0 and result.output.startswith("OK:")
    claims = json.loads((bundle / "claims.json").read_text())
    verdicts = {f"{p['id']}/{c['id']}": c["verdict"] for p in claims["packs"] for c in p["claims"]}
    assert verdicts == {
        "certificates/certificates-valid": "gap",
        "certificates/rotation-works": "gap",  # staff-wildcard-tls is made by hand: no rotation evidence
        "git-changes/changes-reviewed": "gap",
        "git-changes/egress-allowlist-approved": "gap",  # committed by a direct push before the window
        "git-changes/emergency-changes-accounted": "satisfied",
        "git-changes/live-matches-git": "satisfied",
        "git-changes/out-of-band-changes": "no-evidence",  # the demo ships no audit log
        "git-changes/adr-approved": "satisfied",  # ADR-0001, approved by the four roles in review
        "git-changes/failover-game-day-completed": "no-evidence",  # no game-day report in the repository
        "git-changes/emergency-rollback-tested": "no-evidence",
        "k8s-networking/public-exposure-controlled": "gap",
        "k8s-networking/access-restricted": "gap",
        "k8s-networking/traffic-encrypted": "gap",
        "k8s-networking/backend-reencryption": "gap",
        "k8s-networking/route-conflicts-absent": "satisfied",
        "k8s-networking/exposure-rights-restricted": "gap",  # the case-processing developers may edit their routes
        "logs/egress-controlled": "gap",
        "logs/policy-denies-visible": "satisfied",
        "logs/incidents-traceable": "gap",  # the internal gateway wrote no access log
        "logs/logs-retained": "no-evidence",  # local log files: no retention evidence
        "reachability/lateral-movement-restricted": "gap",
        "reachability/egress-restricted-by-policy": "gap",
        "reachability/dns-exceptions-modelled": "gap",  # the demo inventory has no cluster DNS Service
        "platform/cidrs-recorded-disjoint": "satisfied",
        "platform/clusters-cidrs-disjoint": "no-evidence",  # one cluster
        "platform/cni-enforces-policy": "satisfied",
        "platform/cluster-dns-resilient": "satisfied",
        "platform/mesh-trust-roots-consistent": "no-evidence",  # one cluster
        "platform/gateway-classes-approved": "gap",  # the demo approves no GatewayClass (the default)
        "platform/gateway-capacity-bounded": "gap",  # its Gateways' workloads are not in the inventory
        "resilience/timeout-ladder": "gap",  # the admin console's route and the enforcement GRPCRoute have none
        # Istio retries the admin console's route and the enforcement GRPCRoute by default, with no per-try timeout
        "resilience/retry-budgets": "gap",
        "resilience/circuit-breaking": "gap",  # only the citizen API has outlier detection and connection limits
        "resilience/disruption-budgets": "satisfied",
    }
    for c in (c for p in claims["packs"] for c in p["claims"]):
        for rel in [*c["files"].values(), *c["queries"].values()]:
            assert (bundle / rel).is_file(), rel
    statement = json.loads((bundle / "META" / "statement.intoto.json").read_text())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    names = {s["name"] for s in statement["subject"]}
    assert {"report.html", "report.md", "claims.json", "packs/k8s-networking/pack.yaml"} <= names
    gaps = json.loads((bundle / "evidence/k8s-networking/access-restricted/gaps.json").read_text())
    assert gaps[0]["object"] == "Namespace/admin-console" and gaps[0]["location"].endswith(
        "00-namespaces.yaml#5 (line 26)"
    )
    # every cited raw artifact ships with the bundle
    assert all((bundle / "artifacts" / "sha256" / g["artifact_sha256"]).is_file() for g in gaps)


@pytest.mark.parametrize("target", ["report.md", "claims.json", "evidence/k8s-networking/access-restricted/gaps.csv"])
def test_flipping_one_byte_fails_naming_the_file(bundle: Path, demo_dir: Path, target: str) -> None:
    path = bundle / target
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert problems(bundle, demo_dir) == [f"{target}: modified (sha256 differs from the signed statement)"]
    result = cli("verify", str(bundle), "--pubkey", str(demo_dir / "keys" / "signing.pub"))
    assert result.exit_code == 1 and target in result.output


def test_added_and_deleted_files_fail_naming_them(bundle: Path, demo_dir: Path) -> None:
    (bundle / "evidence" / "extra.csv").write_text("a,b\n")
    (bundle / "report.md").unlink()
    assert problems(bundle, demo_dir) == [
        "report.md: missing (listed in the signed statement)",
        "evidence/extra.csv: unexpected file (not in the signed statement)",
    ]


def test_symlink_is_rejected(bundle: Path, demo_dir: Path) -> None:
    (bundle / "link").symlink_to(bundle / "report.md")
    assert problems(bundle, demo_dir) == ["link: symbolic link not allowed in a bundle"]


def test_tampered_statement_or_signature_fails(bundle: Path, demo_dir: Path) -> None:
    statement = bundle / "META" / "statement.intoto.json"
    statement.write_bytes(statement.read_bytes().replace(b'"gap"', b'"satisfied"'))
    assert problems(bundle, demo_dir) == [
        "META/statement.intoto.json: differs from the signed payload in META/statement.dsse.json"
    ]
    envelope_path = bundle / "META" / "statement.dsse.json"
    env = json.loads(envelope_path.read_text())
    env["payload"] = env["payload"][:-8] + "AAAAAAA="
    envelope_path.write_text(json.dumps(env))
    [problem] = problems(bundle, demo_dir)
    assert problem.startswith("META/statement.dsse.json: signature check failed")


def test_wrong_key_and_unsigned_bundle_fail(demo_dir: Path, tmp_path: Path) -> None:
    generate_keypair(tmp_path / "other.key", tmp_path / "other.pub")
    [problem] = verify_bundle(demo_dir / "bundle", tmp_path / "other.pub").problems
    assert "no signature verifies with key" in problem
    unsigned = tmp_path / "unsigned"
    result = cli("bundle", "--out", str(unsigned), "--store", str(demo_dir / "evidence.duckdb"))
    assert result.exit_code == 0 and "unsigned" in result.output
    [problem] = verify_bundle(unsigned, demo_dir / "keys" / "signing.pub").problems
    assert "unsigned" in problem


def test_same_store_and_key_give_byte_identical_bundles(demo_dir: Path, tmp_path: Path) -> None:
    key = demo_dir / "keys" / "signing.key"
    store = str(demo_dir / "evidence.duckdb")
    for name in ("one", "two"):
        assert cli("bundle", "--out", str(tmp_path / name), "--key", str(key), "--store", store).exit_code == 0
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*") if p.is_file()}
    assert one == two
    assert one == {
        p.relative_to(demo_dir / "bundle"): p.read_bytes() for p in (demo_dir / "bundle").rglob("*") if p.is_file()
    }


def test_multiple_signatures(demo_dir: Path, tmp_path: Path) -> None:
    generate_keypair(tmp_path / "second.key", tmp_path / "second.pub")
    signers = [load_signer(demo_dir / "keys" / "signing.key"), load_signer(tmp_path / "second.key")]
    packs = [load_pack(p) for p in builtin_pack_dirs().values()]
    with Store.open(demo_dir / "evidence.duckdb", read_only=True) as store:
        build_bundle(store, packs, tmp_path / "b", signers)
    for pub in (demo_dir / "keys" / "signing.pub", tmp_path / "second.pub"):
        assert verify_bundle(tmp_path / "b", pub).ok


def test_bundle_refuses_non_empty_out_without_force(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = cli("bundle", "--out", str(out), "--store", str(demo_dir / "evidence.duckdb"))
    assert result.exit_code == 2 and "not empty" in result.output
    assert (out / "keep.txt").read_text() == "mine"


def test_no_private_key_material_in_store_or_bundle(demo_dir: Path) -> None:
    secrets = (demo_dir / "environment" / "cluster" / "70-tls-secrets.yaml").read_text()
    key_payloads = re.findall(r"tls\.key: (\S+)", secrets)
    assert len(key_payloads) == 3
    scanned = [p for p in demo_dir.rglob("*") if p.is_file() and "environment" not in p.parts and "keys" not in p.parts]
    assert any(p.name == "evidence.duckdb" for p in scanned)
    assert any("artifacts" in p.parts for p in scanned)
    for path in scanned:
        data = path.read_bytes()
        assert b"PRIVATE KEY" not in data, path
        for payload in key_payloads:
            assert payload.encode() not in data, path
            assert payload[:40].encode() not in data, path


def test_demo_certificates_valid_names_the_expiring_secret_and_its_listener(demo_dir: Path) -> None:
    claim = demo_dir / "bundle" / "evidence" / "certificates" / "certificates-valid"
    (gap,) = json.loads((claim / "gaps.json").read_text())
    assert gap["object"] == "Secret gateway-infra/staff-wildcard-tls"
    assert gap["used_by"] == "Gateway gateway-infra/internal-gateway listener https-staff"
    assert re.fullmatch(r"certificate expires in 1[12] day\(s\), on \d{4}-\d\d-\d\d", gap["finding"])
    held = {(row["object"], row["used_by"]) for row in json.loads((claim / "evidence.json").read_text())}
    assert held == {
        ("Secret gateway-infra/citizen-api-tls", "Gateway gateway-infra/public-gateway listener https-citizen"),
        ("Secret enforcement/enforcement-tls", "Gateway gateway-infra/internal-gateway listener https-staff"),
        ("ConfigMap enforcement/enforcement-ca", "BackendTLSPolicy enforcement/enforcement-api-tls"),
    }
    # the two hand-made Secrets have no rotation evidence; cert-manager renews the third
    rotation = demo_dir / "bundle" / "evidence" / "certificates" / "rotation-works"
    assert {row["object"] for row in json.loads((rotation / "gaps.json").read_text())} == {
        "Secret gateway-infra/staff-wildcard-tls",
        "Secret enforcement/enforcement-tls",
    }
    # the cited artifact is the certificate itself: its sha256 over DER is the fingerprint in the row
    pem = (demo_dir / "bundle" / "artifacts" / "sha256" / gap["artifact_sha256"]).read_bytes()
    assert x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex() == gap["sha256_fingerprint"]


def test_html_report_highlights_gaps_and_links_evidence(demo_dir: Path) -> None:
    html = (demo_dir / "bundle" / "report.html").read_text()
    assert html.count('class="claim c-gap"') == 19 and html.count('class="claim c-satisfied"') == 9
    assert 'class="gap-row"' in html and ".v-gap { background: #c62828" in html
    # at a glance, each gap claim says what is wrong: its first gap row
    assert "Secret gateway-infra/staff-wildcard-tls: certificate expires in 1" in html
    assert "Namespace/admin-console: regulated namespace has no default-deny ingress NetworkPolicy" in html
    assert 'href="evidence/k8s-networking/access-restricted/gaps.csv"' in html
    assert "<script" not in html and "http://" not in html and "https://" not in html.replace("https-", "")


def bundle_files(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_collects_and_bundles_under_a_1gb_memory_limit(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB sorts and exports within the limit (spilling to disk): the bundle is byte-identical to the demo's."""
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1GB")
    with Store.open(tmp_path / "logs.duckdb") as store:
        assert store.con.execute("SELECT current_setting('memory_limit')").fetchone() == ("953.6 MiB",)
        logs = {"format": "hubble", "paths": [str(demo_dir / "environment" / "logs" / "hubble-flows.json")]}
        result = run_source(store, LogsSource(), {"cluster": "casework-prod", "inputs": [logs]})
        assert (result.status, result.counts["flows"]) == ("succeeded", 114)
    key, store_file = str(demo_dir / "keys" / "signing.key"), str(demo_dir / "evidence.duckdb")
    assert cli("bundle", "--out", str(tmp_path / "limited"), "--key", key, "--store", store_file).exit_code == 0
    assert bundle_files(tmp_path / "limited") == bundle_files(demo_dir / "bundle")

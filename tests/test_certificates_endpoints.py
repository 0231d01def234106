"""The certificates source probing live TLS endpoints: real TLS servers on 127.0.0.1, field-level rows."""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from certs import Issued, issue
from helpers import named, table_rows
from tls_server import closed_port, garbage_server, silent_server, tls_server

from collector.plugins import SourceError
from collector.runner import RunResult, run_source
from collector.store import Store
from sources.certificates.endpoints import Endpoint, parse_endpoint
from sources.certificates.source import CertificatesSource
from sources.certificates.x509 import fingerprint

NAME = "api.example.test"
ENDPOINT_COLUMNS = (
    "endpoint", "host", "port", "sni", "status", "error", "tls_version", "cipher", "chain_length", "leaf_sha256",
    "verified", "verify_error", "ca_bundle", "observed_at", "collected_at", "artifact_sha256",
)  # fmt: skip
CERT_COLUMNS = (
    "cluster", "found_in", "location", "namespace", "secret_name", "secret_key", "endpoint", "sni", "acm_arn",
    "chain_position", "subject", "sans", "issuer", "not_after", "sha256_fingerprint", "is_ca", "self_signed",
    "chain_valid", "chain_error", "referenced_by", "details", "observed_at", "collected_at", "artifact_sha256",
)  # fmt: skip


@pytest.fixture(scope="module")
def root() -> Issued:
    return issue("Test Root CA", ca=True, days=(-10, 3650))


@pytest.fixture(scope="module")
def intermediate(root: Issued) -> Issued:
    return issue("Test Intermediate CA", issuer=root, ca=True, days=(-10, 1000))


@pytest.fixture
def bundle(tmp_path: Path, root: Issued) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(root.pem)
    return path


def probe(store: Store, *endpoints: Any, bundle: Path | None = None, timeout: float = 0.5) -> RunResult:
    config = {"endpoints": list(endpoints), "ca_bundle": str(bundle) if bundle else None, "timeout_seconds": timeout}
    return run_source(store, CertificatesSource(), config)


def endpoint_rows(store: Store) -> list[dict[str, Any]]:
    return table_rows(store, table="tls_endpoints", columns=ENDPOINT_COLUMNS, order="endpoint")


def cert_rows(store: Store) -> list[dict[str, Any]]:
    return table_rows(store, table="certificates", columns=CERT_COLUMNS, order="endpoint, chain_position")


def artifact(store: Store, sha256: str) -> tuple[bytes, str, str]:
    """An artifact's content, origin and media type."""
    origin, media_type = store.con.execute(
        "SELECT origin, media_type FROM artifacts WHERE sha256 = ?", [sha256]
    ).fetchone()
    return store.artifact_path(sha256).read_bytes(), origin, media_type


def test_valid_chain_is_verified_and_the_served_chain_recorded(store, root, intermediate, bundle):
    leaf = issue(NAME, issuer=intermediate)
    names: list[str | None] = []
    with tls_server(leaf, intermediate, server_names=names) as port:
        result = probe(store, {"host": "127.0.0.1", "port": port, "sni": NAME}, bundle=bundle)
    assert (result.status, result.partial_reasons) == ("succeeded", [])
    assert names == [NAME]  # one handshake, SNI sent
    [row] = endpoint_rows(store)
    cipher = row.pop("cipher")
    assert cipher in {c["name"] for c in ssl.create_default_context().get_ciphers()}
    assert row == {
        "endpoint": f"127.0.0.1:{port}",
        "host": "127.0.0.1",
        "port": port,
        "sni": NAME,
        "status": "ok",
        "error": None,
        "tls_version": "TLSv1.3",
        "chain_length": 2,
        "leaf_sha256": fingerprint(leaf.cert),
        "verified": True,
        "verify_error": None,
        "ca_bundle": named(bundle),  # by its root, not this machine's path
        "observed_at": row["collected_at"],
        "collected_at": row["collected_at"],
        "artifact_sha256": row["artifact_sha256"],
    }
    content, origin, media_type = artifact(store, row["artifact_sha256"])
    assert content == leaf.pem + intermediate.pem
    assert (origin, media_type) == (f"tls://127.0.0.1:{port} (SNI {NAME})", "application/x-pem-file")

    first, second = cert_rows(store)
    common = {
        "cluster": None,
        "found_in": "endpoint",
        "location": f"endpoint 127.0.0.1:{port} (SNI {NAME})",
        "namespace": None,
        "secret_name": None,
        "secret_key": None,
        "endpoint": f"127.0.0.1:{port}",
        "sni": NAME,
        "acm_arn": None,
        "self_signed": False,
        "referenced_by": [f"endpoint 127.0.0.1:{port}"],
        "observed_at": row["collected_at"],
        "collected_at": row["collected_at"],
        "artifact_sha256": row["artifact_sha256"],
    }
    assert first == {
        **common,
        "chain_position": 0,
        "subject": f"CN={NAME}",
        "sans": [f"DNS:{NAME}"],
        "issuer": "CN=Test Intermediate CA",
        "not_after": leaf.cert.not_valid_after_utc,
        "sha256_fingerprint": fingerprint(leaf.cert),
        "is_ca": False,
        "chain_valid": True,
        "chain_error": None,
        "details": first["details"],
    }
    assert json.loads(first["details"]) == {"tls_version": "TLSv1.3", "cipher": cipher}
    assert second == {
        **common,
        "chain_position": 1,
        "subject": "CN=Test Intermediate CA",
        "sans": [],
        "issuer": "CN=Test Root CA",
        "not_after": intermediate.cert.not_valid_after_utc,
        "sha256_fingerprint": fingerprint(intermediate.cert),
        "is_ca": True,
        "chain_valid": None,
        "chain_error": None,
        "details": first["details"],
    }


def test_ip_endpoint_sends_no_sni_and_verifies_the_ip_san(store, root, bundle):
    leaf = issue("127.0.0.1", issuer=root)
    names: list[str | None] = []
    with tls_server(leaf, server_names=names) as port:
        result = probe(store, f"127.0.0.1:{port}", bundle=bundle)
    assert result.status == "succeeded"
    assert names == [None]
    [row] = endpoint_rows(store)
    assert (row["sni"], row["status"], row["verified"], row["chain_length"]) == (None, "ok", True, 1)
    [cert] = cert_rows(store)
    assert (cert["sni"], cert["location"], cert["sans"]) == (
        None,
        f"endpoint 127.0.0.1:{port} (no SNI)",
        ["IP:127.0.0.1"],
    )
    assert artifact(store, row["artifact_sha256"])[1] == f"tls://127.0.0.1:{port} (no SNI)"


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("expired", "certificate has expired"),
        ("wrong-san", f"Hostname mismatch, certificate is not valid for '{NAME}'"),
        ("self-signed", "self-signed certificate"),
    ],
)
def test_a_chain_that_does_not_verify_is_a_finding(store, root, intermediate, bundle, case, problem):
    leaf = {
        "expired": lambda: issue(NAME, issuer=intermediate, days=(-30, -1)),
        "wrong-san": lambda: issue(NAME, issuer=intermediate, sans=("other.example.test",)),
        "self-signed": lambda: issue(NAME),
    }[case]()
    served = (leaf,) if case == "self-signed" else (leaf, intermediate)
    names: list[str | None] = []
    with tls_server(*served, server_names=names) as port:
        result = probe(store, {"host": "127.0.0.1", "port": port, "sni": NAME}, bundle=bundle)
    assert (result.status, result.partial_reasons) == ("succeeded", [])  # evidence of a problem, none missing
    assert names == [NAME, NAME]  # verifying handshake, then one to read the chain
    [row] = endpoint_rows(store)
    assert row["status"] == "ok"
    assert row["error"] is None
    assert row["verified"] is False
    assert problem in row["verify_error"]
    assert row["tls_version"] == "TLSv1.3"
    assert row["chain_length"] == len(served)
    assert row["leaf_sha256"] == fingerprint(leaf.cert)
    certs = cert_rows(store)
    assert [c["sha256_fingerprint"] for c in certs] == [fingerprint(c.cert) for c in served]
    assert [(c["chain_valid"], c["chain_error"]) for c in certs] == [(False, row["verify_error"])] + [(None, None)] * (
        len(served) - 1
    )
    assert certs[0]["self_signed"] is (case == "self-signed")
    assert artifact(store, row["artifact_sha256"])[0] == b"".join(c.pem for c in served)


def failure_server(kind: str):
    return {"refused": closed_port, "timeout": silent_server, "tls-error": garbage_server}[kind]()


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("refused", "Connection refused"),
        ("timeout", "no TLS handshake within 0.5 s"),
        ("tls-error", "WRONG_VERSION_NUMBER"),
    ],
)
def test_a_failed_probe_is_a_row_and_makes_the_run_partial(store, bundle, kind, error):
    with failure_server(kind) as port:
        started = time.monotonic()
        result = probe(store, {"host": "127.0.0.1", "port": port, "sni": NAME}, bundle=bundle, timeout=0.5)
        elapsed = time.monotonic() - started
    assert_failed_probe(store, result, f"127.0.0.1:{port}", kind, error)
    if kind == "timeout":
        assert 0.45 < elapsed < 5  # the server never answers: only the timeout ends the probe


def test_a_name_that_does_not_resolve_is_a_dns_error(store):
    result = probe(store, "nonexistent.invalid:443")
    assert_failed_probe(store, result, "nonexistent.invalid:443", "dns-error", "cannot resolve nonexistent.invalid")
    [row] = endpoint_rows(store)
    assert (row["host"], row["port"], row["sni"], row["ca_bundle"]) == (
        "nonexistent.invalid",
        443,
        "nonexistent.invalid",
        "system",
    )


def assert_failed_probe(store: Store, result: RunResult, endpoint: str, status: str, error: str) -> None:
    assert result.status == "partial"
    [reason] = result.partial_reasons
    assert reason.startswith(f"certificates: endpoint {endpoint}: {status}: ")
    [row] = endpoint_rows(store)
    assert (row["endpoint"], row["status"]) == (endpoint, status)
    assert error in row["error"]
    assert reason.endswith(row["error"])
    assert [row[c] for c in ("tls_version", "cipher", "chain_length", "leaf_sha256", "verified", "verify_error")] == [
        None
    ] * 6
    assert cert_rows(store) == []
    content, origin, media_type = artifact(store, row["artifact_sha256"])
    attempt = json.loads(content)
    assert attempt.pop("attempted_at")
    assert attempt == {"endpoint": endpoint, "sni": row["sni"], "status": status, "error": row["error"]}
    assert (origin, media_type) == (f"tls://{endpoint} (SNI {row['sni']})", "application/json")


def test_a_failed_endpoint_does_not_lose_the_others(store, root, bundle):
    leaf = issue("127.0.0.1", issuer=root)
    with tls_server(leaf) as good, closed_port() as bad:
        result = probe(store, f"127.0.0.1:{bad}", f"127.0.0.1:{good}", bundle=bundle)
    assert result.status == "partial"
    assert [r.split(": ")[1:3] for r in result.partial_reasons] == [[f"endpoint 127.0.0.1:{bad}", "refused"]]
    statuses = {r["endpoint"]: r["status"] for r in endpoint_rows(store)}
    assert statuses == {f"127.0.0.1:{bad}": "refused", f"127.0.0.1:{good}": "ok"}
    assert [c["endpoint"] for c in cert_rows(store)] == [f"127.0.0.1:{good}"]


@pytest.mark.parametrize(
    "item",
    [
        "api.example.test",  # no port
        "api.example.test:0",
        "api.example.test:65536",
        "::1:443",  # IPv6 needs brackets
        443,
        {"port": 443},
        {"host": "api.example.test", "port": "443"},
        {"host": "api.example.test", "server_name": "x"},
    ],
)
def test_a_bad_endpoint_item_is_rejected_naming_endpoints(store, item):
    with pytest.raises(SourceError, match=r"endpoints/0: .* is not valid under any of the given schemas"):
        probe(store, item)


def test_an_unreadable_ca_bundle_fails_the_run_naming_it(store, tmp_path):
    result = probe(store, "127.0.0.1:1", bundle=tmp_path / "missing.pem")
    assert result.status == "failed"
    assert result.error.startswith(f"certificates: ca_bundle {tmp_path / 'missing.pem'}: cannot load trust anchors")
    assert store.con.execute("SELECT count(*) FROM tls_endpoints").fetchone() == (0,)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("api.example.test:8443", Endpoint("api.example.test", 8443, "api.example.test")),
        ("10.0.0.1:443", Endpoint("10.0.0.1", 443, None)),
        ("[::1]:443", Endpoint("::1", 443, None)),
        ({"host": "api.example.test"}, Endpoint("api.example.test", 443, "api.example.test")),
        ({"host": "10.0.0.1", "port": 8443, "sni": NAME}, Endpoint("10.0.0.1", 8443, NAME)),
        ({"host": "[2001:db8::1]"}, Endpoint("2001:db8::1", 443, None)),
    ],
)
def test_endpoint_items_default_port_and_sni(item, expected):
    assert parse_endpoint(item) == expected


def test_ipv6_endpoint_name_is_bracketed():
    endpoint = Endpoint("2001:db8::1", 443, None)
    assert (endpoint.name, endpoint.label) == ("[2001:db8::1]:443", "[2001:db8::1]:443 (no SNI)")

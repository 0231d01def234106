"""The certificates source on TLS Secrets, cert-manager Certificates and Gateway listeners (manifests and live)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml
from certs import Issued, issue
from kube_api import FakeKubeAPI

from collector.runner import RunResult, run_source
from collector.store import Store
from sources.certificates.cluster import issuer_reference
from sources.certificates.source import CertificatesSource
from sources.certificates.x509 import fingerprint

SECRETS = "/api/v1/secrets"
CERTIFICATES = "/apis/cert-manager.io/v1/certificates"
GATEWAYS = "/apis/gateway.networking.k8s.io/v1/gateways"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tls_secret(ns: str, name: str, crt: bytes, key: bytes, ca: bytes | None = None) -> dict[str, Any]:
    data = {"tls.crt": b64(crt), "tls.key": b64(key)} | ({"ca.crt": b64(ca)} if ca is not None else {})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": ns},
        "data": data,
    }


def gateway(*refs: dict[str, str], ns: str = "infra") -> dict[str, Any]:
    listener = {"name": "https", "hostname": "shop.example", "port": 443, "protocol": "HTTPS"}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": ns},
        "spec": {"listeners": [{**listener, "tls": {"mode": "Terminate", "certificateRefs": list(refs)}}]},
    }


def cert_manager_certificate(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "shop", "namespace": "infra"},
        "spec": {
            "secretName": "shop-tls",
            "dnsNames": ["shop.example"],
            "issuerRef": {"name": "ca", "kind": "ClusterIssuer"},
        },
        "status": status,
    }


def write_manifests(path: Path, *objects: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def collect(store: Store, *paths: Path, **config: Any) -> RunResult:
    return run_source(store, CertificatesSource(), {"paths": [str(p) for p in paths], "cluster": "c1", **config})


def rows(store: Store, sql: str) -> list[dict[str, Any]]:
    cur = store.con.execute(sql)
    return [dict(zip([d[0] for d in cur.description], r, strict=True)) for r in cur.fetchall()]


def chain() -> tuple[Issued, Issued, Issued]:
    root = issue("Test Root", ca=True, days=(-10, 3650))
    intermediate = issue("Test Intermediate", issuer=root, ca=True, days=(-10, 1000))
    return root, intermediate, issue("shop.example", issuer=intermediate, sans=("shop.example", "www.shop.example"))


def scan_for_key(store_dir: Path, key: Issued) -> list[Path]:
    """Files under ``store_dir`` holding private key material (PEM marker, the key's base64, or a slice of it)."""
    pem_body = "".join(key.key_pem.decode().splitlines()[1:-1])
    needles = [b"PRIVATE KEY", pem_body[20:80].encode(), b64(key.key_pem)[20:80].encode()]
    return [p for p in store_dir.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


def test_secret_chain_with_garbage_and_duplicates_is_described_with_its_users(store: Store, tmp_path: Path) -> None:
    root, intermediate, leaf = chain()
    crt = b"# bundle written by hand\n" + leaf.pem + b"junk between blocks\n" + intermediate.pem + leaf.pem
    manifest = write_manifests(
        tmp_path / "env" / "tls.yaml",
        tls_secret("infra", "shop-tls", crt, leaf.key_pem, root.pem),
        gateway({"name": "shop-tls"}, {"name": "gone-tls"}),
        cert_manager_certificate(),
    )
    result = collect(store, manifest)
    assert result.status == "succeeded", result.partial_reasons
    certs = rows(store, "SELECT * FROM certificates ORDER BY secret_key DESC, chain_position")
    assert [(c["secret_key"], c["chain_position"], c["common_name"]) for c in certs] == [
        ("tls.crt", 0, "shop.example"),
        ("tls.crt", 1, "Test Intermediate"),
        ("ca.crt", 0, "Test Root"),
    ]
    top = certs[0]
    assert top["sha256_fingerprint"] == fingerprint(leaf.cert)
    assert top["sans"] == ["DNS:shop.example", "DNS:www.shop.example"]
    assert top["issuer"] == "CN=Test Intermediate" and top["serial"] == format(leaf.cert.serial_number, "x")
    assert top["not_after"] == leaf.cert.not_valid_after_utc
    assert (top["key_type"], top["key_size"], top["signature_algorithm"]) == ("EC secp256r1", 256, "ecdsa-with-SHA256")
    assert (top["chain_valid"], top["chain_error"]) == (True, None)
    assert (top["found_in"], top["cluster"], top["namespace"], top["secret_name"]) == (
        "secret",
        "c1",
        "infra",
        "shop-tls",
    )
    assert top["managed_by"] == "infra/shop" and top["referenced_by"] == ["Gateway infra/edge listener https"]
    assert certs[1]["chain_valid"] is None and certs[1]["referenced_by"] == [] and certs[2]["is_ca"]
    # each row's artifact is that certificate's PEM
    assert store.artifact_path(top["artifact_sha256"]).read_bytes() == leaf.pem
    refs = rows(store, "SELECT secret_name, found, listener, hostname, port FROM certificate_references ORDER BY 1")
    assert refs == [
        {"secret_name": "gone-tls", "found": False, "listener": "https", "hostname": "shop.example", "port": 443},
        {"secret_name": "shop-tls", "found": True, "listener": "https", "hostname": "shop.example", "port": 443},
    ]
    assert scan_for_key(tmp_path / "evidence.duckdb.artifacts", leaf) == []
    assert scan_for_key(tmp_path, leaf) == [manifest]  # only the input holds the key


def test_cert_manager_status_is_recorded(store: Store, tmp_path: Path) -> None:
    status = {
        "conditions": [{"type": "Ready", "status": "False", "reason": "Failed", "message": "ACME order failed"}],
        "notBefore": "2026-09-01T00:00:00Z",
        "notAfter": "2026-11-30T00:00:00Z",
        "renewalTime": "2026-10-31T00:00:00Z",
        "revision": 4,
        "lastFailureTime": "2026-11-20T08:00:00Z",
    }
    collect(store, write_manifests(tmp_path / "c.yaml", cert_manager_certificate(**status)))
    (row,) = rows(
        store,
        "SELECT * EXCLUDE (conditions, source, run_id, artifact_sha256, collected_at, location, "
        "not_before, not_after, renewal_time, last_failure_time), "
        "strftime(renewal_time AT TIME ZONE 'UTC', '%Y-%m-%d') AS renewal, "
        "strftime(last_failure_time AT TIME ZONE 'UTC', '%Y-%m-%d %H') AS failed "
        "FROM cert_manager_certificates",
    )
    assert row == {
        "cluster": "c1", "namespace": "infra", "name": "shop", "secret_name": "shop-tls",
        "dns_names": ["shop.example"], "issuer_ref": "ClusterIssuer/ca", "ready": "False", "ready_reason": "Failed",
        "ready_message": "ACME order failed", "revision": 4, "renewal": "2026-10-31", "failed": "2026-11-20 08",
    }  # fmt: skip


def test_issuer_reference_defaults_and_external_groups() -> None:
    """cert-manager's defaults: kind Issuer, group cert-manager.io; another group is an external issuer."""
    assert issuer_reference({"name": "ca"}) == "Issuer/ca"
    assert issuer_reference({"name": "ca", "kind": "", "group": ""}) == "Issuer/ca"
    assert issuer_reference({"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}) == "ClusterIssuer/ca"
    assert issuer_reference({"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.k8s.io"}) == (
        "ClusterIssuer.cert-manager.k8s.io/ca"
    )
    assert issuer_reference({"kind": "Issuer"}) is None


def test_expired_and_self_signed_leaves_fail_their_chain_check(store: Store, tmp_path: Path) -> None:
    root, intermediate, _ = chain()
    expired = issue("old.example", issuer=intermediate, days=(-100, -2))
    selfsigned = issue("self.example")
    manifest = write_manifests(
        tmp_path / "tls.yaml",
        tls_secret("a", "old-tls", expired.pem + intermediate.pem, expired.key_pem, root.pem),
        tls_secret("a", "self-tls", selfsigned.pem, selfsigned.key_pem),
        tls_secret("a", "plain-tls", issue("x.example", issuer=intermediate).pem + intermediate.pem, b"k"),
    )
    assert collect(store, manifest).status == "succeeded"
    found = {
        r["secret_name"]: (r["chain_valid"], r["chain_error"], r["self_signed"])
        for r in rows(store, "SELECT * FROM certificates WHERE chain_position = 0 AND secret_key = 'tls.crt'")
    }
    assert found == {
        "old-tls": (False, "certificate expired or not yet valid", False),
        "self-tls": (False, "self-signed certificate, not among the trust anchors", True),
        "plain-tls": (None, "no trust anchor (configure ca_bundle or ship ca.crt)", False),
    }
    # a configured CA bundle is a trust anchor for every Secret
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(root.pem)
    assert collect(store, manifest, ca_bundle=str(bundle)).status == "succeeded"
    latest = rows(
        store, "SELECT chain_valid FROM certificates_current WHERE secret_name = 'plain-tls' AND chain_position = 0"
    )
    assert latest == [{"chain_valid": True}]


def test_unreadable_values_make_the_run_partial_and_keep_the_rest(store: Store, tmp_path: Path) -> None:
    _, intermediate, leaf = chain()
    broken = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    bad_base64 = tls_secret("a", "bad-b64", b"", b"")
    bad_base64["data"]["tls.crt"] = "%%% not base64"
    manifest = write_manifests(
        tmp_path / "tls.yaml",
        tls_secret("a", "half", broken + leaf.pem, leaf.key_pem),
        bad_base64,
        tls_secret("a", "empty", b"nothing here\n", b""),
        tls_secret("a", "good", intermediate.pem, b""),
    )
    result = collect(store, manifest)
    assert result.status == "partial"
    assert sorted(result.partial_reasons) == [
        "certificates: secret a/bad-b64 tls.crt: not valid base64",
        "certificates: secret a/empty tls.crt: no PEM certificate in it",
        "certificates: secret a/half tls.crt: 1 CERTIFICATE block(s) could not be decoded",
    ]
    kept = rows(store, "SELECT secret_name, common_name FROM certificates ORDER BY 1")
    assert kept == [
        {"secret_name": "good", "common_name": "Test Intermediate"},
        {"secret_name": "half", "common_name": "shop.example"},
    ]


def test_bad_manifest_and_missing_ca_bundle_fail_naming_the_file(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Secret\nmetadata: [\n")
    result = collect(store, bad)
    assert result.status == "failed" and str(bad) in result.error and "line" in result.error
    good = write_manifests(tmp_path / "ok" / "g.yaml", gateway())
    result = collect(store, good, ca_bundle=str(tmp_path / "nope.pem"))
    assert result.status == "failed" and "ca_bundle" in result.error and "nope.pem" in result.error


def test_live_lists_only_tls_secrets_and_keeps_no_key(store: Store, tmp_path: Path) -> None:
    root, intermediate, leaf = chain()
    secret = tls_secret("infra", "shop-tls", leaf.pem + intermediate.pem, leaf.key_pem, root.pem)
    objects = {
        SECRETS: [{k: v for k, v in secret.items() if k not in ("apiVersion", "kind")}],
        GATEWAYS: [gateway({"name": "shop-tls"})],
    }
    with FakeKubeAPI(objects) as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig", "prod")
        result = run_source(store, CertificatesSource(), {"contexts": ["prod"], "kubeconfig": str(kubeconfig)})
        (listing,) = api.requests_for(SECRETS)
    assert result.status == "succeeded", result.error
    assert listing.query["fieldSelector"] == "type=kubernetes.io/tls"
    assert any("serves no Certificate" in n for n in result.notes)  # cert-manager absent: noted, not failed
    (top,) = rows(store, "SELECT * FROM certificates WHERE chain_position = 0 AND secret_key = 'tls.crt'")
    assert (top["cluster"], top["chain_valid"], top["referenced_by"]) == (
        "prod",
        True,
        ["Gateway infra/edge listener https"],
    )
    assert scan_for_key(tmp_path / "evidence.duckdb.artifacts", leaf) == []
    assert scan_for_key(tmp_path, leaf) == []


def test_nothing_configured_is_a_clear_error(store: Store) -> None:
    result = run_source(store, CertificatesSource(), {})
    assert result.status == "failed" and "configure `paths`, `contexts`, `endpoints` or `acm`" in result.error


def test_every_tls_consumer_is_recorded_and_the_mesh_ca_key_is_never_kept(store: Store, tmp_path: Path) -> None:
    root, intermediate, leaf = chain()
    cacerts = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "cacerts", "namespace": "istio-system"},
        "data": {
            "ca-cert.pem": b64(intermediate.pem),
            "ca-key.pem": b64(intermediate.key_pem),
            "cert-chain.pem": b64(intermediate.pem + root.pem),
            "root-cert.pem": b64(root.pem),
        },
    }
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "site", "namespace": "infra"},
        "spec": {"tls": [{"hosts": ["shop.example"], "secretName": "shop-tls"}, {"hosts": ["default.example"]}]},
    }
    istio = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "legacy", "namespace": "infra"},
        "spec": {
            "servers": [
                {"port": {"number": 443, "name": "https"}, "hosts": ["ns/shop.example"],
                 "tls": {"mode": "SIMPLE", "credentialName": "shop-tls"}},
                {"port": {"number": 80, "name": "http"}, "hosts": ["*"], "tls": {"httpsRedirect": True}},
            ]
        },
    }  # fmt: skip
    policy = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "BackendTLSPolicy",
        "metadata": {"name": "api", "namespace": "infra"},
        "spec": {"validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "api-ca"}]}},
    }
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "api-ca", "namespace": "infra"},
        "data": {"ca.crt": root.pem.decode()},
    }
    secret = tls_secret("infra", "shop-tls", leaf.pem, leaf.key_pem)
    manifest = write_manifests(tmp_path / "m" / "all.yaml", cacerts, ingress, istio, policy, configmap, secret)
    assert collect(store, manifest).status == "succeeded"
    sql = "SELECT consumer, role, hostnames, object_kind, name, found FROM tls_consumers ORDER BY 1, 3"
    consumers = rows(store, sql)
    assert [tuple(r.values()) for r in consumers] == [
        ("BackendTLSPolicy infra/api", "trust-anchor", [], "ConfigMap", "api-ca", True),
        ("Ingress infra/site", "serving", ["default.example"], None, None, False),
        ("Ingress infra/site", "serving", ["shop.example"], "Secret", "shop-tls", True),
        ("Istio Gateway infra/legacy server https", "serving", ["shop.example"], "Secret", "shop-tls", True),
        ("mesh CA (istiod, Secret istio-system/cacerts)", "mesh-ca", [], "Secret", "cacerts", True),
    ]
    keys = rows(store, "SELECT found_in, secret_name, secret_key, chain_position FROM certificates ORDER BY ALL")
    assert [tuple(r.values()) for r in keys] == [
        ("configmap", "api-ca", "ca.crt", 0),
        ("secret", "cacerts", "ca-cert.pem", 0),
        ("secret", "cacerts", "cert-chain.pem", 0),
        ("secret", "cacerts", "cert-chain.pem", 1),
        ("secret", "cacerts", "root-cert.pem", 0),
        ("secret", "shop-tls", "tls.crt", 0),
    ]
    store.con.execute("CHECKPOINT")
    kept = [p for k in (intermediate, leaf) for p in scan_for_key(tmp_path, k) if p.parent.name != "m"]
    assert kept == []  # only the manifest itself holds the keys

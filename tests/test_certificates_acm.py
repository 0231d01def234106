"""The ``certificates`` source's AWS Certificate Manager part, against moto's ACM.

moto differs from ACM in ways these tests work around, each said where it matters: ListCertificates lists
every key type by default (ACM: RSA only; emulated here), GetCertificate appends moto's own root CA to every
chain and answers for certificates still pending validation (ACM raises RequestInProgressException; emulated
here), serials are decimal, and a classic ELB is recorded in InUseBy by its DNS name (ACM: the consumer's ARN).
ACM's behaviour and its refusals are emulated with botocore's public event hooks on the source's clients, never
by patching moto's internals; a certificate moto issues at once comes from a ``moto_server`` started with its
documented ``MOTO_ACM_VALIDATION_WAIT`` setting.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.awsrequest import AWSResponse
from certs import Issued, issue
from cryptography import x509
from moto import mock_aws

import sources.certificates.acm
from collector.plugins import SourceError
from collector.runner import RunResult, run_source
from collector.store import Store
from sources.certificates.acm import described_only, key_kind
from sources.certificates.source import CertificatesSource
from sources.certificates.x509 import fingerprint

REGION = "eu-west-1"
Hook = Callable[..., Any]


def refusal(code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    """What a ``before-call`` hook returns to make botocore raise ACM's error ``code``."""
    parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    return AWSResponse("https://acm.invalid/", 400, {}, None), parsed


def hook_clients(monkeypatch: pytest.MonkeyPatch, hooks: dict[str, Hook]) -> None:
    """Register botocore event ``hooks`` (event name -> handler) on every client the source creates."""
    real_client = sources.certificates.acm.aws_client

    def client(service: str, cfg: Any) -> Any:
        made = real_client(service, cfg)
        for event, handler in hooks.items():
            made.meta.events.register(event, handler)
        return made

    monkeypatch.setattr(sources.certificates.acm, "aws_client", client)


def rsa_only_by_default(params: dict[str, Any], **_: Any) -> None:
    """ACM's ListCertificates lists RSA_1024 and RSA_2048 keys unless told otherwise; moto lists every type."""
    params["Includes"] = {"keyTypes": ["RSA_1024", "RSA_2048"], **params.get("Includes", {})}


def refuse_pending(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    """ACM refuses GetCertificate for a certificate pending validation; moto answers."""
    arn = json.loads(params["body"])["CertificateArn"]
    acm = boto3.client("acm", region_name=arn.split(":")[3], endpoint_url=params["url"])
    if acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "PENDING_VALIDATION":
        return refusal("RequestInProgressException", "Certificate is pending validation")
    return None


def fake_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, credentials: bool = True) -> None:
    """Never the environment's AWS settings; fake credentials or none at all."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    if credentials:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.setenv(name, "testing")


ACM_LIKE: dict[str, Hook] = {
    "before-parameter-build.acm.ListCertificates": rsa_only_by_default,
    "before-call.acm.GetCertificate": refuse_pending,
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """moto in place of AWS, made to behave like ACM where it does not: ListCertificates lists only RSA_1024 and
    RSA_2048 keys unless told otherwise, GetCertificate refuses a certificate pending validation (moto keeps a
    requested certificate pending for its default validation wait of 60 s)."""
    fake_env(monkeypatch, tmp_path)
    hook_clients(monkeypatch, ACM_LIKE)
    with mock_aws():
        yield


@pytest.fixture
def moto_server_issuing_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A ``moto_server`` on 127.0.0.1 that issues requested certificates at once; yields its endpoint URL."""
    fake_env(monkeypatch, tmp_path)
    hook_clients(monkeypatch, ACM_LIKE)
    port = closed_port()
    env = {**os.environ, "MOTO_ACM_VALIDATION_WAIT": "-1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)


def run(store: Store, **acm: Any) -> RunResult:
    return run_source(store, CertificatesSource(), {"acm": {"regions": [REGION], **acm}})


def import_cert(region: str, leaf: Issued, chain: bytes | None = None, endpoint_url: str | None = None) -> str:
    extra = {"CertificateChain": chain} if chain else {}
    acm = boto3.client("acm", region_name=region, endpoint_url=endpoint_url)
    return acm.import_certificate(Certificate=leaf.pem, PrivateKey=leaf.key_pem, **extra)["CertificateArn"]


def rows(store: Store) -> dict[tuple[str, int], dict[str, Any]]:
    cur = store.con.execute("SELECT * FROM certificates ORDER BY acm_arn, chain_position")
    names = [d[0] for d in cur.description]
    found = {}
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        row["details"] = json.loads(row["details"])
        found[(row["acm_arn"], row["chain_position"])] = row
    return found


def positions(found: dict[tuple[str, int], dict[str, Any]], arn: str) -> list[int]:
    return sorted(p for a, p in found if a == arn)


def test_imported_and_pending_certificates(aws: None, store: Store, tmp_path: Path) -> None:
    root = issue("Test Root", ca=True)
    intermediate = issue("Test Intermediate", issuer=root, ca=True)
    rsa_leaf = issue("api.example.test", issuer=intermediate, sans=("api.example.test", "www.example.test"), key="rsa")
    ec_leaf = issue("ec.example.test", days=(-2, 30))
    ec_arn = import_cert(REGION, ec_leaf)
    rsa_arn = import_cert(REGION, rsa_leaf, intermediate.pem)
    acm = boto3.client("acm", region_name=REGION)
    pending_arn = acm.request_certificate(
        DomainName="new.example.test", SubjectAlternativeNames=["new.example.test"], ValidationMethod="DNS"
    )["CertificateArn"]
    pending = acm.describe_certificate(CertificateArn=pending_arn)["Certificate"]
    elb = boto3.client("elb", region_name=REGION).create_load_balancer(
        LoadBalancerName="web",
        Listeners=[
            {
                "Protocol": "HTTPS",
                "LoadBalancerPort": 443,
                "InstanceProtocol": "HTTP",
                "InstancePort": 80,
                "SSLCertificateId": rsa_arn,
            }
        ],
        AvailabilityZones=[f"{REGION}a"],
    )
    consumer = elb["DNSName"]  # moto records the ELB's DNS name in InUseBy; ACM gives the consumer's ARN

    result = run(store)

    assert (result.status, result.error, result.partial_reasons) == ("succeeded", None, [])
    found = rows(store)
    started = store.con.execute("SELECT started_at FROM runs WHERE run_id = ?", [result.run_id]).fetchone()[0]

    # RSA leaf, its intermediate, then moto's root CA (moto appends it to every chain).
    assert positions(found, rsa_arn) == [0, 1, 2]
    leaf = found[(rsa_arn, 0)]
    assert leaf["sha256_fingerprint"] == fingerprint(rsa_leaf.cert)
    assert (leaf["found_in"], leaf["location"], leaf["cluster"]) == ("acm", rsa_arn, None)
    assert (leaf["subject"], leaf["common_name"]) == ("CN=api.example.test", "api.example.test")
    assert leaf["sans"] == ["DNS:api.example.test", "DNS:www.example.test"]
    assert leaf["issuer"] == "CN=Test Intermediate"
    assert leaf["serial"] == format(rsa_leaf.cert.serial_number, "x")
    assert leaf["not_before"] == rsa_leaf.cert.not_valid_before_utc
    assert leaf["not_after"] == rsa_leaf.cert.not_valid_after_utc
    assert (leaf["key_type"], leaf["key_size"]) == ("RSA", 2048)
    assert leaf["signature_algorithm"] == "ecdsa-with-SHA256"  # signed by the EC intermediate
    assert (leaf["is_ca"], leaf["self_signed"]) == (False, False)
    assert (leaf["chain_valid"], leaf["chain_error"]) == (None, None)
    assert leaf["referenced_by"] == [consumer]
    assert leaf["details"] == {
        "status": "ISSUED",
        "type": "IMPORTED",
        "renewal_eligibility": "INELIGIBLE",
        "region": REGION,
        "in_use_by": [consumer],
    }
    assert leaf["observed_at"] == started
    chain = found[(rsa_arn, 1)]
    assert chain["sha256_fingerprint"] == fingerprint(intermediate.cert)
    assert (chain["common_name"], chain["is_ca"], chain["referenced_by"]) == ("Test Intermediate", True, None)
    assert chain["details"] == leaf["details"]
    moto_root = found[(rsa_arn, 2)]
    assert moto_root["is_ca"] is True
    assert moto_root["sha256_fingerprint"] not in {fingerprint(c.cert) for c in (root, intermediate, rsa_leaf)}

    assert positions(found, ec_arn) == [0, 1]
    ec = found[(ec_arn, 0)]
    assert ec["sha256_fingerprint"] == fingerprint(ec_leaf.cert)
    assert (ec["key_type"], ec["key_size"], ec["self_signed"]) == ("EC secp256r1", 256, True)
    assert ec["sans"] == ["DNS:ec.example.test"]
    assert ec["not_after"] == ec_leaf.cert.not_valid_after_utc
    assert ec["referenced_by"] == []
    assert found[(ec_arn, 1)]["sha256_fingerprint"] == moto_root["sha256_fingerprint"]

    # Pending validation: no body, so one row from DescribeCertificate and no fingerprint.
    assert positions(found, pending_arn) == [0]
    row = found[(pending_arn, 0)]
    assert row["sha256_fingerprint"] is None
    assert (row["subject"], row["common_name"], row["sans"]) == (
        "CN=new.example.test",
        "new.example.test",
        ["DNS:new.example.test"],
    )
    assert (row["key_type"], row["key_size"], row["is_ca"]) == ("RSA", 2048, None)
    assert (row["issuer"], row["serial"]) == (pending["Issuer"], pending["Serial"])  # moto: decimal serial
    assert row["not_after"] == pending["NotAfter"]
    assert row["details"]["status"] == "PENDING_VALIDATION"
    assert row["details"]["type"] == "AMAZON_ISSUED"

    # The artifact: DescribeCertificate's response and the PEM, from which the fingerprints recompute.
    document = json.loads(store.artifact_path(leaf["artifact_sha256"]).read_bytes())
    assert document["describe"]["Certificate"]["CertificateArn"] == rsa_arn
    assert "ResponseMetadata" not in document["describe"]
    pem_certs = x509.load_pem_x509_certificates(document["certificate_pem"].encode())
    assert [fingerprint(c) for c in pem_certs] == [found[(rsa_arn, p)]["sha256_fingerprint"] for p in (0, 1, 2)]
    pending_doc = json.loads(store.artifact_path(row["artifact_sha256"]).read_bytes())
    assert (pending_doc["certificate_pem"], pending_doc["describe"]["Certificate"]["Status"]) == (
        None,
        "PENDING_VALIDATION",
    )
    origins = store.con.execute("SELECT origin FROM artifacts WHERE run_id = ? ORDER BY 1", [result.run_id]).fetchall()
    assert [o for (o,) in origins] == sorted([ec_arn, rsa_arn, pending_arn])

    # No private key material anywhere: not in the DuckDB file, not among the artifacts.
    store.con.execute("CHECKPOINT")
    blobs = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert any(fingerprint(rsa_leaf.cert) in b.decode("latin-1") for b in blobs.values())  # the scan sees data
    cert_line = rsa_leaf.pem.splitlines()[3]
    assert any(cert_line in b for b in blobs.values())
    for key in (rsa_leaf, ec_leaf):
        key_line = key.key_pem.splitlines()[2]
        for path, blob in blobs.items():
            assert b"PRIVATE KEY" not in blob, path
            assert key_line not in blob, path


def test_amazon_issued_certificate_in_two_regions(moto_server_issuing_at_once: str, store: Store) -> None:
    endpoint = moto_server_issuing_at_once
    acm = boto3.client("acm", region_name=REGION, endpoint_url=endpoint)
    issued_arn = acm.request_certificate(DomainName="shop.example.test", ValidationMethod="DNS")["CertificateArn"]
    body = x509.load_pem_x509_certificate(acm.get_certificate(CertificateArn=issued_arn)["Certificate"].encode())
    ec_leaf = issue("east.example.test")
    east_arn = import_cert("us-east-1", ec_leaf, endpoint_url=endpoint)

    result = run(store, regions=[REGION, "us-east-1"], endpoint_url=endpoint)

    assert (result.status, result.error) == ("succeeded", None)
    found = rows(store)
    issued = found[(issued_arn, 0)]
    assert issued["sha256_fingerprint"] == fingerprint(body)
    assert issued["sans"] == ["DNS:shop.example.test"]
    assert "CN=Amazon" in issued["issuer"]
    assert (issued["key_type"], issued["key_size"]) == ("RSA", 2048)
    assert issued["details"]["status"] == "ISSUED"
    assert (issued["details"]["type"], issued["details"]["region"]) == ("AMAZON_ISSUED", REGION)
    east = found[(east_arn, 0)]
    assert ":us-east-1:" in east_arn
    assert east["sha256_fingerprint"] == fingerprint(ec_leaf.cert)
    assert (east["details"]["region"], east["details"]["type"]) == ("us-east-1", "IMPORTED")
    assert {arn for arn, _ in found} == {issued_arn, east_arn}


def test_certificate_failing_describe_makes_run_partial(
    aws: None, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept_arn = import_cert(REGION, issue("kept.example.test"))
    denied_arn = import_cert(REGION, issue("denied.example.test"))

    def deny_one(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if json.loads(params["body"])["CertificateArn"] == denied_arn:
            return refusal("AccessDeniedException", "not allowed to describe this one")
        return None

    hook_clients(monkeypatch, {**ACM_LIKE, "before-call.acm.DescribeCertificate": deny_one})

    result = run(store)

    assert result.status == "partial"
    assert result.partial_reasons == [
        f"certificates: ACM {denied_arn}: DescribeCertificate failed: AccessDeniedException: "
        "not allowed to describe this one"
    ]
    assert {arn for arn, _ in rows(store)} == {kept_arn}


def test_listing_denied_fails_the_run(aws: None, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import_cert(REGION, issue("any.example.test"))

    def deny(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return refusal("AccessDeniedException", "User is not authorized to perform: acm:ListCertificates")

    hook_clients(monkeypatch, {**ACM_LIKE, "before-call.acm.ListCertificates": deny})

    result = run(store)

    assert result.status == "failed"
    assert result.error == (
        "certificates: ACM eu-west-1: ListCertificates failed: AccessDeniedException: "
        "User is not authorized to perform: acm:ListCertificates"
    )
    assert store.con.execute("SELECT count(*) FROM certificates").fetchone() == (0,)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("acm", "credentials", "expected"),
    [
        ({}, False, "certificates: ACM eu-west-1: ListCertificates failed: NoCredentialsError: Unable to locate"),
        ({"profile": "absent"}, True, "certificates: ACM eu-west-1: ListCertificates failed: ProfileNotFound: "),
        ({"regions": ["xx-nowhere-1"]}, True, "certificates: ACM region 'xx-nowhere-1': unknown AWS region"),
        (
            {"endpoint_url": "http://127.0.0.1:{port}"},
            True,
            "certificates: ACM eu-west-1: ListCertificates failed: EndpointConnectionError: Could not connect",
        ),
    ],
    ids=["no-credentials", "unknown-profile", "unknown-region", "unreachable-endpoint"],
)
def test_aws_errors_fail_the_run(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    acm: dict[str, Any],
    credentials: bool,
    expected: str,
) -> None:
    fake_env(monkeypatch, tmp_path, credentials)  # no moto: nothing leaves 127.0.0.1
    if "endpoint_url" in acm:
        acm = {"endpoint_url": acm["endpoint_url"].format(port=closed_port())}

    result = run(store, **acm)

    assert result.status == "failed"
    assert str(result.error).startswith(expected), result.error
    assert "Traceback" not in str(result.error)


@pytest.mark.parametrize("acm", [{"regions": []}, {"regions": [REGION], "bucket": "x"}, {"profile": "p"}])
def test_bad_acm_config_is_refused(store: Store, acm: dict[str, Any]) -> None:
    with pytest.raises(SourceError, match="invalid config for source 'certificates'"):
        run_source(store, CertificatesSource(), {"acm": acm})


def test_description_alone_in_the_words_of_parsed_certificates() -> None:
    """ACM's own spellings (colon hex serial, KeyAlgorithm names), which moto does not produce."""
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    info = {
        "DomainName": "pay.example.test",
        "SubjectAlternativeNames": ["pay.example.test", "*.pay.example.test"],
        "Serial": "0a:1b:00:ff",
        "KeyAlgorithm": "EC_secp384r1",
        "NotAfter": when,
        "SignatureAlgorithm": "SHA384WITHECDSA",
    }
    row = described_only(info)
    assert (row["subject"], row["common_name"]) == ("CN=pay.example.test", "pay.example.test")
    assert row["sans"] == ["DNS:pay.example.test", "DNS:*.pay.example.test"]
    assert (row["serial"], row["not_after"], row["not_before"]) == ("a1b00ff", when.isoformat(), None)
    assert (row["key_type"], row["key_size"], row["signature_algorithm"]) == ("EC secp384r1", 384, "SHA384WITHECDSA")
    assert (row["issuer"], row["sha256_fingerprint"]) == (None, None)
    assert key_kind("RSA_4096") == ("RSA", 4096)
    assert key_kind("EC_prime256v1") == ("EC secp256r1", 256)

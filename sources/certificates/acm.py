"""Certificates kept in AWS Certificate Manager, region by region (boto3).

Every certificate is listed (all statuses, all key types), described, and its body and chain read with
GetCertificate; one ``certificates`` row per certificate of body + chain. A certificate not issued yet has no
body and gets one row from DescribeCertificate alone, with no fingerprint. Private keys are never requested
(ExportCertificate is not called).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from collector.plugins import CollectContext, SourceError
from sources.certificates.x509 import describe, read_pem_bundle, to_pem
from sources.logs.fetch import AWS_PROPERTIES, aws_client

ACM_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "required": ["regions"],
    "properties": {
        "regions": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "profile": AWS_PROPERTIES["profile"],
        "endpoint_url": AWS_PROPERTIES["endpoint_url"],
    },
    "description": "AWS Certificate Manager regions to list certificates from",
}
NOT_ISSUED = {"PENDING_VALIDATION", "VALIDATION_TIMED_OUT", "FAILED"}  # no certificate body exists
EC_CURVES = {
    "EC_prime256v1": ("EC secp256r1", 256),
    "EC_secp384r1": ("EC secp384r1", 384),
    "EC_secp521r1": ("EC secp521r1", 521),
}
COLON_HEX = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*")


def collect_acm(ctx: CollectContext) -> None:
    cfg = ctx.config["acm"]
    for region in cfg["regions"]:
        if "endpoint_url" not in cfg:
            check_region(region)
        collect_region(ctx, cfg, region)


def check_region(region: str) -> None:
    """Refuse a region botocore does not know, rather than fail later on a DNS lookup."""
    if region not in known_regions():
        raise SourceError(
            f"certificates: ACM region {region!r}: unknown AWS region (not in botocore's endpoint data; "
            "set acm.endpoint_url to reach it anyway)"
        )


@cache
def known_regions() -> frozenset[str]:
    session = botocore.session.get_session()
    return frozenset(r for p in session.get_available_partitions() for r in session.get_available_regions("acm", p))


def collect_region(ctx: CollectContext, cfg: Mapping[str, Any], region: str) -> None:
    try:
        acm = aws_client("acm", {**cfg, "region": region})
        arns = list_arns(acm)
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"certificates: ACM {region}: ListCertificates failed: {aws_problem(exc)}") from None
    for arn in arns:
        try:
            described = acm.describe_certificate(CertificateArn=arn)
        except ClientError as exc:
            ctx.partial(f"certificates: ACM {arn}: DescribeCertificate failed: {aws_problem(exc)}")
            continue
        except BotoCoreError as exc:
            raise SourceError(f"certificates: ACM {region}: DescribeCertificate failed: {aws_problem(exc)}") from None
        emit_certificate(ctx, acm, region, described)


def list_arns(acm: Any) -> list[str]:
    """Every certificate ARN of the region. ListCertificates filters by default (RSA_1024/RSA_2048 keys only,
    no ACME key pairs, no N2 root hierarchies), so every value botocore knows is asked for; N2 certificates
    are only listed when asked for alone, hence a second listing."""
    members = acm.meta.service_model.operation_model("ListCertificates").input_shape.members
    query: dict[str, Any] = {
        name: members[name].member.enum
        for name in ("CertificateStatuses", "CertificateKeyPairOrigins")
        if name in members
    }
    query["Includes"] = {"keyTypes": members["Includes"].members["keyTypes"].member.enum}
    queries = [query]
    if "RootHierarchyTypes" in members:
        queries.append({**query, "RootHierarchyTypes": members["RootHierarchyTypes"].member.enum})
    arns: set[str] = set()
    for q in queries:
        for page in acm.get_paginator("list_certificates").paginate(**q):
            arns.update(s["CertificateArn"] for s in page.get("CertificateSummaryList", []))
    return sorted(arns)


def emit_certificate(ctx: CollectContext, acm: Any, region: str, described: Mapping[str, Any]) -> None:
    """The rows of one ACM certificate and its artifact: the DescribeCertificate response and the PEM."""
    info = described["Certificate"]
    arn = info["CertificateArn"]
    body = certificate_pem(ctx, acm, arn, info.get("Status"))
    bundle = read_pem_bundle(body.encode() if body else b"")
    certificates = bundle.certificates
    if body is not None and (bundle.unreadable or not certificates):
        ctx.partial(
            f"certificates: ACM {arn}: GetCertificate: {len(certificates)} certificate(s) read, "
            f"{bundle.unreadable} CERTIFICATE block(s) could not be decoded"
        )
    response = {k: v for k, v in described.items() if k != "ResponseMetadata"}
    # Only the CERTIFICATE blocks are kept, re-encoded from their DER: the fingerprints recompute from them.
    pem = "".join(to_pem(c).decode() for c in certificates) or None
    document = {"describe": response, "certificate_pem": pem}
    artifact = ctx.add_artifact(
        json.dumps(document, default=str, sort_keys=True, indent=1).encode(), arn, "application/json"
    )
    in_use_by = list(info.get("InUseBy", []))
    common = {
        "cluster": None,
        "found_in": "acm",
        "location": arn,
        "acm_arn": arn,
        # ACM checked the chain when the certificate was imported or issued; with no trust anchors of our own
        # to verify against, nothing is claimed here.
        "chain_valid": None,
        "chain_error": None,
        "details": {
            "status": info.get("Status"),
            "type": info.get("Type"),
            "renewal_eligibility": info.get("RenewalEligibility"),
            "region": region,
            "in_use_by": in_use_by,
        },
        "observed_at": ctx.collected_at,
    }
    if not certificates:
        ctx.emit(
            "certificates",
            {**common, **described_only(info), "chain_position": 0, "referenced_by": in_use_by},
            artifact,
        )
    for position, cert in enumerate(certificates):
        row = {
            **common,
            **describe(cert),
            "chain_position": position,
            "referenced_by": in_use_by if position == 0 else None,
        }
        ctx.emit("certificates", row, artifact)


def certificate_pem(ctx: CollectContext, acm: Any, arn: str, status: str | None) -> str | None:
    """Body and chain as PEM; None when the certificate has no body (not issued yet)."""
    try:
        got = acm.get_certificate(CertificateArn=arn)
    except ClientError as exc:
        if status not in NOT_ISSUED and exc.response.get("Error", {}).get("Code") != "RequestInProgressException":
            ctx.partial(f"certificates: ACM {arn}: GetCertificate failed: {aws_problem(exc)}")
        return None
    except BotoCoreError as exc:
        raise SourceError(f"certificates: ACM {arn}: GetCertificate failed: {aws_problem(exc)}") from None
    return got.get("Certificate", "") + "\n" + got.get("CertificateChain", "")


def described_only(info: Mapping[str, Any]) -> dict[str, Any]:
    """The ``certificates`` columns DescribeCertificate gives for a certificate without a body."""
    domain = info.get("DomainName")
    key_type, key_size = key_kind(info.get("KeyAlgorithm"))
    return {
        "subject": info.get("Subject") or (f"CN={domain}" if domain else None),
        "common_name": domain,
        "sans": [f"DNS:{name}" for name in info.get("SubjectAlternativeNames", [])],
        "issuer": info.get("Issuer"),
        "serial": serial_hex(info.get("Serial")),
        "not_before": iso(info.get("NotBefore")),
        "not_after": iso(info.get("NotAfter")),
        "key_type": key_type,
        "key_size": key_size,
        "signature_algorithm": info.get("SignatureAlgorithm"),
        "sha256_fingerprint": None,
        "is_ca": None,
        "self_signed": None,
    }


def key_kind(algorithm: str | None) -> tuple[str | None, int | None]:
    """ACM's KeyAlgorithm (``RSA_2048``, ``EC_prime256v1``) in the words of ``sources.certificates.x509.describe``."""
    if algorithm in EC_CURVES:
        return EC_CURVES[algorithm]
    if algorithm and algorithm.startswith("RSA_") and algorithm[4:].isdigit():
        return "RSA", int(algorithm[4:])
    return algorithm, None


def serial_hex(serial: str | None) -> str | None:
    """ACM's ``0a:1b:…`` as ``describe`` writes serials (hex, no leading zeros); anything else as given."""
    if serial and COLON_HEX.fullmatch(serial):
        return format(int(serial.replace(":", ""), 16), "x")
    return serial


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def aws_problem(exc: ClientError | BotoCoreError) -> str:
    """The AWS error code and message, or botocore's reason (no credentials, endpoint unreachable)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"

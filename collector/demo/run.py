"""The embedded demo: Casework, a regulated case-management platform, collected, checked and bundled.

Some claims hold, some have deliberate gaps (a regulated namespace without default deny, a workload
whose mTLS is PERMISSIVE, a self-approved change to the admin console route, the admin console posting to
a paste site not on the egress allowlist, the admin console's backend not re-encrypted, the staff
wildcard certificate expiring in 12 days, the case worker able to reach the enforcement API without being one of
its declared callers, the admin console's NetworkPolicies letting it connect to any address). TLS Secrets are
generated fresh, so real key material passes through the collector and must be kept out of the store and the
bundle. The cluster's logs (Hubble flows, Istio access logs) are fixed files with fixed timestamps.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bundles.build import BundleSummary, build_bundle
from bundles.signing import generate_keypair, load_signer
from collector.claims import builtin_pack_dirs, load_pack
from collector.demo.gitops import PROJECT, build_gitops_repo
from collector.demo.recorded_api import RecordedAPI
from collector.plugins import SourceError
from collector.runner import RunResult
from collector.store import Store

MARKER = ".defensible-demo"
CLUSTER = "casework-prod"
LOG_INPUTS = (  # format, files in env/logs, settings: the public gateway's log is named after it
    ("hubble", "hubble-*.json", {}),
    ("envoy", "istio-public-gateway.log", {"gateway": "gateway-infra/public-gateway"}),
    ("envoy", "istio-admin-console-sidecar.log", {}),
)
# namespace, name, host, days the certificate stays valid: the staff wildcard is about to expire
TLS_SECRETS = (
    ("gateway-infra", "citizen-api-tls", "api.casework.example.gov", 90),
    ("gateway-infra", "staff-wildcard-tls", "*.staff.casework.internal", 12),
    ("enforcement", "enforcement-tls", "enforcement.staff.casework.internal", 90),
)
CERT_MANAGED = "citizen-api-tls"  # renewed by cert-manager; the other two are rotated by hand


def run_demo(
    out: Path, collect: Callable[[Store, str, dict], RunResult], engine: str = "duckdb"
) -> tuple[BundleSummary, Path]:
    """Build the environment under ``out``, collect it and bundle it; return the summary and public key. With
    ``engine="spark"`` the logs are parsed and judged on a local Spark (``local[2]``, Parquet under ``out/lake``).

    The manifests live in a GitOps repository (``environment/gitops``) whose pull requests are served by
    a recorded GitHub API on 127.0.0.1; the TLS Secrets come from the cluster (``environment/cluster``),
    and so do its logs (``environment/logs``)."""
    prepare_directory(out)
    environment = out / "environment"
    gitops = environment / "gitops"
    prs, window_start = build_gitops_repo(
        gitops, Path(str(files("collector.demo") / "env" / "k8s")), datetime.now(UTC) - timedelta(days=30)
    )
    secrets = environment / "cluster" / "70-tls-secrets.yaml"
    secrets.parent.mkdir(parents=True)
    issued_at = datetime.now(UTC)  # one instant: cert-manager's status matches the certificate in its Secret
    secrets.write_text(tls_secrets_manifest(issued_at))
    (secrets.parent / "75-cert-manager.yaml").write_text(cert_manager_manifest(issued_at))
    for name in ("80-platform.yaml", "85-rbac.yaml"):
        shutil.copy(Path(str(files("collector.demo") / "env" / "cluster" / name)), secrets.parent)
    logs = environment / "logs"
    shutil.copytree(Path(str(files("collector.demo") / "env" / "logs")), logs)
    key, pub = out / "keys" / "signing.key", out / "keys" / "signing.pub"
    generate_keypair(key, pub)
    packs = [load_pack(path) for path in builtin_pack_dirs().values()]
    inputs = [{"format": f, "paths": [str(logs / glob)], **more} for f, glob, more in LOG_INPUTS]
    logs_config: dict = {"cluster": CLUSTER, "inputs": inputs}
    if engine == "spark":
        logs_config["engine"] = {"name": "spark", "master": "local[2]", "output": str(out / "lake")}
    with Store.open(out / "evidence.duckdb") as store, RecordedAPI(prs.routes) as github:
        review = {"platform": "github", "project": PROJECT, "api_url": github.url, "token_env": "DEFENSIBLE_DEMO_TOKEN"}
        for source, config in (
            (
                "kubernetes",
                {"paths": [str(gitops / "k8s"), str(secrets.parent)], "cluster": CLUSTER, "egress_allowlists": True},
            ),
            ("analysis", {}),
            (
                "git",
                {
                    "repositories": [
                        {"path": str(gitops), "name": "platform-gitops", "since": window_start, "review": review}
                    ]
                },
            ),
            ("certificates", {"paths": [str(gitops / "k8s"), str(secrets.parent)], "cluster": CLUSTER}),
            ("logs", logs_config),
        ):
            result = collect(store, source, config)
            if result.status == "failed":
                raise SourceError(f"demo collection failed: {result.error}")
    with Store.open(out / "evidence.duckdb", read_only=True) as store:  # as `defensible bundle` reads it
        summary = build_bundle(store, packs, out / "bundle", [load_signer(key)])
    return summary, pub


def prepare_directory(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise SourceError(f"{out} exists and is not a demo directory; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("created by `defensible demo`; safe to delete\n")


def tls_secrets_manifest(now: datetime) -> str:
    """The TLS Secrets, and the CA ConfigMap the enforcement BackendTLSPolicy validates its backend with."""
    ca_pem, _ = self_signed("Casework Enforcement CA", 365, now)
    docs: list[dict] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "enforcement-ca", "namespace": "enforcement"},
            "data": {"ca.crt": ca_pem.decode()},
        }
    ]
    for namespace, name, host, days in TLS_SECRETS:
        cert_pem, key_pem = self_signed(host, days, now)
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/tls",
                "metadata": {"name": name, "namespace": namespace},
                "data": {
                    "tls.crt": base64.b64encode(cert_pem).decode(),
                    "tls.key": base64.b64encode(key_pem).decode(),
                },
            }
        )
    return yaml.safe_dump_all(docs, sort_keys=False)


def cert_manager_manifest(now: datetime) -> str:
    """cert-manager's view of the certificate it renews (Ready, renewing 30 days before it expires), and its Ready
    ClusterIssuer."""
    namespace, name, host, days = next(s for s in TLS_SECRETS if s[1] == CERT_MANAGED)
    issued = now - timedelta(days=1)
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "citizen-api", "namespace": namespace},
        "spec": {"secretName": name, "dnsNames": [host], "issuerRef": {"kind": "ClusterIssuer", "name": "casework-ca"}},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date"}
            ],
            "notBefore": issued.isoformat(),
            "notAfter": (issued + timedelta(days=days + 1)).isoformat(),
            "renewalTime": (issued + timedelta(days=days + 1 - 30)).isoformat(),
            "revision": 3,
        },
    }
    issuer = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": "casework-ca"},
        "spec": {"ca": {"secretName": "casework-ca"}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KeyPairVerified"}]},
    }
    return yaml.safe_dump_all([certificate, issuer], sort_keys=False)


def self_signed(host: str, days: int, now: datetime) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem

"""Certificate telemetry: TLS Secrets, cert-manager Certificates, live TLS endpoints and AWS ACM.

Every certificate found is described the same way (``sources.certificates.x509``) in table ``certificates``, with
where it was found, who references it (Gateway listeners, endpoints, ACM consumers) and whether its chain
verifies. Each certificate's PEM is kept as the row's artifact, so an auditor can recompute its fingerprint.
Private keys are never decoded: a Secret's ``tls.key`` is dropped as soon as the Secret is read.
"""

from __future__ import annotations

from collector.plugins import CollectContext, SourceError
from collector.store import PROVENANCE_COLUMNS
from sources.certificates.acm import ACM_SCHEMA, collect_acm
from sources.certificates.cluster import collect_live, collect_manifests
from sources.certificates.endpoints import ENDPOINT_SCHEMA, collect_endpoints
from sources.kubernetes.manifests import PATHS_SCHEMA, STDIN_SCHEMA

MIGRATIONS = (
    f"""
    CREATE TABLE certificates (
        cluster VARCHAR,                  -- for certificates found in a cluster
        found_in VARCHAR NOT NULL,        -- secret | endpoint | acm
        location VARCHAR NOT NULL,        -- e.g. secret ns/name tls.crt, endpoint host:443 (SNI x), ACM ARN
        namespace VARCHAR, secret_name VARCHAR, secret_key VARCHAR,  -- tls.crt | ca.crt
        endpoint VARCHAR, sni VARCHAR,
        acm_arn VARCHAR,
        chain_position INTEGER NOT NULL,  -- 0 = the leaf (first certificate), then as served or stored
        subject VARCHAR, common_name VARCHAR, sans VARCHAR[],
        issuer VARCHAR, serial VARCHAR,
        not_before TIMESTAMPTZ, not_after TIMESTAMPTZ,
        key_type VARCHAR, key_size INTEGER, signature_algorithm VARCHAR,
        sha256_fingerprint VARCHAR,       -- sha256 of the DER certificate
        is_ca BOOLEAN, self_signed BOOLEAN,
        chain_valid BOOLEAN,              -- the leaf chains to a trust anchor; NULL when none is known
        chain_error VARCHAR,
        managed_by VARCHAR,               -- cert-manager Certificate ns/name that writes the Secret
        referenced_by VARCHAR[],          -- e.g. Gateway ns/name listener L, endpoint host:port, ACM consumer ARN
        details JSON,                     -- facts only one place gives (ACM status, renewal eligibility)
        observed_at TIMESTAMPTZ NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE certificate_references (
        cluster VARCHAR NOT NULL,
        gateway_namespace VARCHAR NOT NULL, gateway VARCHAR NOT NULL,
        listener VARCHAR NOT NULL, hostname VARCHAR, port INTEGER, protocol VARCHAR,
        secret_namespace VARCHAR NOT NULL, secret_name VARCHAR NOT NULL,
        found BOOLEAN NOT NULL,           -- the Secret was read in this run
        location VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE cert_manager_certificates (
        cluster VARCHAR NOT NULL,
        namespace VARCHAR NOT NULL, name VARCHAR NOT NULL,
        secret_name VARCHAR, dns_names VARCHAR[], issuer_ref VARCHAR,
        ready VARCHAR,                    -- status of the Ready condition: True | False | Unknown
        ready_reason VARCHAR, ready_message VARCHAR,
        not_before TIMESTAMPTZ, not_after TIMESTAMPTZ, renewal_time TIMESTAMPTZ,
        revision INTEGER, last_failure_time TIMESTAMPTZ,
        conditions JSON,
        location VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE tls_endpoints (
        endpoint VARCHAR NOT NULL,        -- host:port as configured
        host VARCHAR NOT NULL, port INTEGER NOT NULL, sni VARCHAR,
        status VARCHAR NOT NULL,          -- ok | timeout | refused | unreachable | dns-error | tls-error
        error VARCHAR,
        tls_version VARCHAR, cipher VARCHAR,
        chain_length INTEGER, leaf_sha256 VARCHAR,
        verified BOOLEAN,                 -- chain and name verified against the CA bundle
        verify_error VARCHAR,
        ca_bundle VARCHAR,                -- the CA bundle file used, or 'system'
        observed_at TIMESTAMPTZ NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    -- Each table's rows of the latest succeeded or partial run that filled it (certificates: per kind of place).
    CREATE VIEW certificates_current AS
        SELECT c.* FROM certificates c JOIN runs r USING (run_id)
        WHERE r.status IN ('succeeded', 'partial')
        QUALIFY dense_rank() OVER (PARTITION BY c.found_in ORDER BY r.started_at DESC, r.run_id DESC) = 1;
    CREATE VIEW certificate_references_current AS
        SELECT c.* FROM certificate_references c JOIN runs r USING (run_id)
        WHERE r.status IN ('succeeded', 'partial')
        QUALIFY dense_rank() OVER (ORDER BY r.started_at DESC, r.run_id DESC) = 1;
    CREATE VIEW cert_manager_certificates_current AS
        SELECT c.* FROM cert_manager_certificates c JOIN runs r USING (run_id)
        WHERE r.status IN ('succeeded', 'partial')
        QUALIFY dense_rank() OVER (ORDER BY r.started_at DESC, r.run_id DESC) = 1;
    CREATE VIEW tls_endpoints_current AS
        SELECT c.* FROM tls_endpoints c JOIN runs r USING (run_id)
        WHERE r.status IN ('succeeded', 'partial')
        QUALIFY dense_rank() OVER (ORDER BY r.started_at DESC, r.run_id DESC) = 1;
    """,
    f"""
    -- Every TLS consumer's use of a Secret or ConfigMap (sources.certificates.consumers), and cert-manager issuers.
    CREATE TABLE tls_consumers (
        cluster VARCHAR NOT NULL,
        consumer VARCHAR NOT NULL,        -- e.g. Gateway ns/name listener L, Ingress ns/name, mesh CA (istiod)
        consumer_kind VARCHAR NOT NULL,   -- Gateway, IstioGateway, Ingress, BackendTLSPolicy, DestinationRule, MeshCA
        role VARCHAR NOT NULL,            -- serving | client | trust-anchor | mesh-ca
        hostnames VARCHAR[],              -- the names clients ask for (listener hostname, Ingress and Istio hosts)
        object_kind VARCHAR,              -- Secret | ConfigMap; NULL: certificates the collector cannot see
        namespace VARCHAR, name VARCHAR,
        found BOOLEAN NOT NULL,           -- the object was read in this run
        note VARCHAR,                     -- why the certificates cannot be seen (object_kind NULL)
        location VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE cert_manager_issuers (
        cluster VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,            -- Issuer | ClusterIssuer
        namespace VARCHAR,                -- NULL for a ClusterIssuer
        name VARCHAR NOT NULL,
        ready VARCHAR, ready_reason VARCHAR, ready_message VARCHAR,
        conditions JSON,
        location VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    -- A run that read a cluster: the consumers and issuers of the latest such run are current (a run that reads no
    -- cluster, e.g. endpoints only, leaves them current; one that reads an empty cluster does not).
    CREATE TABLE certificate_scans (
        cluster VARCHAR NOT NULL,
        location VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    CREATE VIEW certificate_scans_current AS
        SELECT c.* FROM certificate_scans c JOIN runs r USING (run_id)
        WHERE r.status IN ('succeeded', 'partial')
        QUALIFY dense_rank() OVER (ORDER BY r.started_at DESC, r.run_id DESC) = 1;
    CREATE VIEW tls_consumers_current AS
        SELECT c.* FROM tls_consumers c WHERE run_id IN (SELECT run_id FROM certificate_scans_current);
    CREATE VIEW cert_manager_issuers_current AS
        SELECT c.* FROM cert_manager_issuers c WHERE run_id IN (SELECT run_id FROM certificate_scans_current);
    """,
)


class CertificatesSource:
    name = "certificates"
    description = "Certificates of TLS Secrets, cert-manager Certificates, live TLS endpoints and AWS ACM"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "paths": PATHS_SCHEMA,
            "stdin": STDIN_SCHEMA,
            "cluster": {"type": "string", "default": "default", "description": "cluster name for `paths`"},
            "contexts": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "kubeconfig contexts to list TLS Secrets, Certificates and Gateways from",
            },
            "kubeconfig": {"type": ["string", "null"], "default": None},
            "endpoints": {"type": "array", "items": ENDPOINT_SCHEMA, "default": []},
            "ca_bundle": {
                "type": ["string", "null"],
                "default": None,
                "description": "PEM file of trust anchors for chains (endpoints default to the system store)",
            },
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 5},
            "acm": {**ACM_SCHEMA, "default": None},
        },
    }

    migrations = MIGRATIONS

    def collect(self, ctx: CollectContext) -> None:
        cfg = ctx.config
        if not (cfg["paths"] or cfg["stdin"] or cfg["contexts"] or cfg["endpoints"] or cfg["acm"]):
            raise SourceError("certificates: configure `paths`, `contexts`, `endpoints` or `acm`, or read --stdin")
        if cfg["paths"] or cfg["stdin"]:
            collect_manifests(ctx)
        for context in cfg["contexts"]:
            collect_live(ctx, context)
        if cfg["endpoints"]:
            collect_endpoints(ctx)
        if cfg["acm"]:
            collect_acm(ctx)

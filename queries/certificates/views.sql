-- Helper views of the certificates pack. Parameters are DuckDB variables set from pack.yaml (getvariable).
CREATE VIEW cert_as_of AS
SELECT CAST(getvariable('as_of') AS TIMESTAMPTZ) AS at,  -- the instant judged, set by the engine
       CAST(getvariable('expiry_warning_days') AS INTEGER) AS warning_days;

-- Does a certificate name (a DNS subjectAltName, without "DNS:") cover the host name a client asks for? RFC 9525
-- section 6.3: case-insensitive, a wildcard only as the whole left-most label, matching exactly one label. A
-- wildcard host (a listener for *.example.com) is covered only by the same wildcard.
CREATE OR REPLACE TEMP MACRO cert_name_covers(san, host) AS
    lower(san) = lower(host)
    OR (starts_with(san, '*.') AND NOT starts_with(host, '*')
        AND lower(host) LIKE '%' || lower(substr(san, 2))
        AND length(lower(host)) > length(san) - 1
        AND strpos(left(lower(host), length(host) - length(san) + 1), '.') = 0);

-- The keys of a Secret a role uses: the served chain for serving and client certificates (tls.crt, or Istio's
-- generic `cert`), every key for the mesh CA (signing certificate, chain and root), the CA keys for a trust anchor.
CREATE OR REPLACE TEMP MACRO cert_key_used(role, object_kind, secret_key) AS
    CASE role WHEN 'mesh-ca' THEN true
              WHEN 'trust-anchor' THEN object_kind = 'ConfigMap' OR secret_key IN ('ca.crt', 'cacert')
              ELSE secret_key IN ('tls.crt', 'cert') END;

-- Certificates in use, one row per consumer and certificate: every certificate of the chain a consumer relies on,
-- each judged at the evaluation instant. Cluster objects (Secrets, CA ConfigMaps) are joined to the consumers of
-- the same collection run; endpoint and ACM chains to their leaf's users.
CREATE VIEW certificates_in_use AS
WITH cluster_uses AS (
    SELECT u.cluster, c.found_in, u.object_kind || ' ' || u.namespace || '/' || u.name AS object,
           u.consumer AS used_by, u.role, u.hostnames,
           c.secret_key, c.chain_position,
           (c.secret_key IN ('tls.crt', 'cert', 'ca-cert.pem') AND c.chain_position = 0) AS is_leaf,
           c.subject, c.common_name, c.sans, c.not_before, c.not_after, c.is_ca, c.managed_by,
           c.issuer, c.key_type, c.key_size, c.signature_algorithm, c.self_signed,
           c.chain_valid, c.chain_error, c.sha256_fingerprint,
           c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
    FROM tls_consumers_current u
    JOIN certificates c
      ON c.run_id = u.run_id AND c.cluster = u.cluster AND c.found_in = lower(u.object_kind)
     AND c.namespace = u.namespace AND c.secret_name = u.name
     AND cert_key_used(u.role, u.object_kind, c.secret_key)
),
outside_leaves AS (
    SELECT * FROM certificates_current
    WHERE chain_position = 0 AND (found_in = 'endpoint' OR (found_in = 'acm' AND cardinality(referenced_by) > 0))
),
outside_uses AS (
    SELECT l.cluster, l.found_in,
           CASE l.found_in WHEN 'endpoint' THEN 'endpoint ' || l.endpoint || coalesce(' (SNI ' || l.sni || ')', '')
                           ELSE 'ACM ' || l.acm_arn END AS object,
           u.used_by, 'serving' AS role, CAST([] AS VARCHAR[]) AS hostnames,
           c.secret_key, c.chain_position, c.chain_position = 0 AS is_leaf,
           c.subject, c.common_name, c.sans, c.not_before, c.not_after, c.is_ca, c.managed_by,
           c.issuer, c.key_type, c.key_size, c.signature_algorithm, c.self_signed,
           l.chain_valid, l.chain_error, c.sha256_fingerprint,
           c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
    FROM outside_leaves l,
         unnest(CASE WHEN cardinality(l.referenced_by) > 0 THEN l.referenced_by ELSE [NULL] END) AS u(used_by)
    JOIN certificates_current c
      ON c.run_id = l.run_id AND c.found_in = l.found_in AND c.location = l.location
)
SELECT t.*,
       CASE WHEN t.is_leaf THEN 'certificate'
            ELSE coalesce(t.secret_key || ' ', 'chain ') || 'certificate ' || t.chain_position
                 || ' (' || coalesce(t.common_name, t.subject) || ')' END AS which,
       CAST(floor((epoch(t.not_after) - epoch(a.at)) / 86400) AS INTEGER) AS days_left,  -- whole days
       t.not_after <= a.at AS expired,
       t.not_after <= a.at + to_days(a.warning_days) AS expiring,
       t.not_before > a.at AS not_yet_valid,
       -- a key or signature that clients and CAs refuse (CA/Browser Forum BR 6.1.5, NIST SP 800-131A): DSA, RSA under
       -- 2048 bits, EC under 256 bits; an MD2, MD5 or SHA-1 signature (a self-signed certificate's own signature is
       -- not relied on)
       coalesce(t.key_type = 'DSA' OR (t.key_type = 'RSA' AND t.key_size < 2048)
                OR (starts_with(t.key_type, 'EC') AND t.key_size < 256), false) AS weak_key,
       coalesce(NOT coalesce(t.self_signed, false)
                AND regexp_matches(lower(t.signature_algorithm), 'md2|md5|sha1'), false) AS weak_signature
FROM (SELECT * FROM cluster_uses UNION ALL BY NAME SELECT * FROM outside_uses) t, cert_as_of a;

-- Every consumer of a cluster object, with whether the object holds a certificate in the keys the consumer uses.
CREATE VIEW cert_consumers_resolved AS
SELECT u.*, u.object_kind || ' ' || u.namespace || '/' || u.name AS object,
       (SELECT count(*) FROM certificates_in_use c
        WHERE c.run_id = u.run_id AND c.cluster = u.cluster AND c.used_by = u.consumer
          AND c.object = u.object_kind || ' ' || u.namespace || '/' || u.name) AS certificates
FROM tls_consumers_current u;

-- What renews each certificate in use that needs rotation (trust anchors do not): the cert-manager Certificate
-- that writes the Secret, ACM's managed renewal, or a re-issue observed across collections (an earlier run saw a
-- different certificate in the same place, which the current one replaced while it was still valid).
CREATE VIEW cert_rotation AS
WITH leaves AS (
    SELECT * FROM certificates_in_use WHERE is_leaf AND role IN ('serving', 'client', 'mesh-ca')
),
reissues AS (
    SELECT l.cluster, l.object, l.used_by, count(DISTINCT p.sha256_fingerprint) AS replaced,
           max(p.not_after) AS previous_not_after
    FROM leaves l
    JOIN certificates p
      ON p.found_in = l.found_in AND p.cluster IS NOT DISTINCT FROM l.cluster
     AND p.secret_key IS NOT DISTINCT FROM l.secret_key AND p.chain_position = 0
     AND p.sha256_fingerprint <> l.sha256_fingerprint
     AND p.collected_at < l.collected_at AND p.not_after < l.not_after
     AND l.not_before <= p.not_after        -- issued while the previous certificate was valid
     AND CASE l.found_in WHEN 'secret' THEN l.object = 'Secret ' || p.namespace || '/' || p.secret_name
                         WHEN 'endpoint' THEN l.object = 'endpoint ' || p.endpoint || coalesce(' (SNI ' || p.sni || ')', '')
                         ELSE l.object = 'ACM ' || p.acm_arn END
    GROUP BY ALL
)
SELECT l.*, m.namespace || '/' || m.name AS certificate,
       a.details ->> 'type' AS acm_type, a.details ->> 'renewal_eligibility' AS acm_renewal,
       r.replaced, r.previous_not_after,
       (SELECT count(DISTINCT run_id) FROM certificates e WHERE e.found_in = l.found_in AND e.run_id <> l.run_id
          AND e.collected_at < l.collected_at) AS earlier_runs
FROM leaves l
LEFT JOIN cert_manager_certificates_current m
  ON l.found_in = 'secret' AND m.cluster = l.cluster AND l.object = 'Secret ' || m.namespace || '/' || m.secret_name
LEFT JOIN certificates_current a
  ON l.found_in = 'acm' AND a.found_in = 'acm' AND a.chain_position = 0 AND l.object = 'ACM ' || a.acm_arn
LEFT JOIN reissues r
  ON r.cluster IS NOT DISTINCT FROM l.cluster AND r.object = l.object AND r.used_by IS NOT DISTINCT FROM l.used_by;

-- cert-manager Certificates with their issuer (Issuer in the Certificate's namespace, or ClusterIssuer) and the
-- leaf their Secret actually holds (same collection run).
CREATE VIEW cert_manager_judged AS
SELECT c.*, i.kind AS issuer_kind, i.name AS issuer_name, i.ready AS issuer_ready,
       i.ready_reason AS issuer_reason, i.ready_message AS issuer_message,
       s.not_after AS secret_not_after, s.sha256_fingerprint AS secret_fingerprint
FROM cert_manager_certificates_current c
LEFT JOIN cert_manager_issuers_current i
  ON i.cluster = c.cluster AND i.kind || '/' || i.name = c.issuer_ref
 AND (i.kind = 'ClusterIssuer' OR i.namespace = c.namespace)
LEFT JOIN certificates s
  ON s.run_id = c.run_id AND s.cluster = c.cluster AND s.found_in = 'secret' AND s.namespace = c.namespace
 AND s.secret_name = c.secret_name AND s.secret_key IN ('tls.crt', 'cert') AND s.chain_position = 0;

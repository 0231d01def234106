-- Helper views shared by the claims of this pack. They read the latest listing of each kind
-- (k8s_current) and keep the provenance columns of the object they come from.
-- Note: DuckDB's -> and ->> bind looser than comparisons; parenthesise them in predicates.

CREATE VIEW gateway_listeners AS
SELECT g.cluster, g.namespace, g.name AS gateway,
       coalesce(g.labels->>'defensible.io/exposure', 'public') <> 'internal' AS public,
       l.value->>'name' AS listener,
       l.value->>'protocol' AS protocol,
       l.value->>'hostname' AS hostname,
       coalesce(l.value->'allowedRoutes'->'namespaces'->>'from', 'Same') AS routes_from,
       coalesce(l.value->'tls'->>'mode', 'Terminate') AS tls_mode,
       coalesce(json_array_length(l.value->'tls'->'certificateRefs'), 0) AS certificate_refs,
       g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM k8s_current g, json_each(g.spec->'listeners') l
WHERE g.kind = 'Gateway';

-- Route backendRefs and listener certificateRefs that point into another namespace.
CREATE VIEW cross_namespace_refs AS
SELECT r.cluster, r.kind AS from_kind, r.namespace AS from_namespace, r.name AS from_name,
       coalesce(b.value->>'group', '') AS to_group, coalesce(b.value->>'kind', 'Service') AS to_kind,
       b.value->>'namespace' AS to_namespace, b.value->>'name' AS to_name, 'backendRef' AS ref,
       r.location, r.source, r.run_id, r.artifact_sha256, r.collected_at
FROM k8s_current r, json_each(r.spec->'rules') rule, json_each(rule.value->'backendRefs') b
WHERE r.kind IN ('HTTPRoute', 'GRPCRoute', 'TLSRoute')
  AND (b.value->>'namespace') IS NOT NULL AND (b.value->>'namespace') <> r.namespace
UNION ALL
SELECT g.cluster, 'Gateway', g.namespace, g.name,
       coalesce(c.value->>'group', ''), coalesce(c.value->>'kind', 'Secret'),
       c.value->>'namespace', c.value->>'name', 'certificateRef',
       g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM k8s_current g, json_each(g.spec->'listeners') l, json_each(l.value->'tls'->'certificateRefs') c
WHERE g.kind = 'Gateway'
  AND (c.value->>'namespace') IS NOT NULL AND (c.value->>'namespace') <> g.namespace;

CREATE VIEW reference_grants AS
SELECT g.cluster, g.namespace, g.name AS grant_name,
       f.value->>'group' AS from_group, f.value->>'kind' AS from_kind, f.value->>'namespace' AS from_namespace,
       coalesce(t.value->>'group', '') AS to_group, t.value->>'kind' AS to_kind, t.value->>'name' AS to_name
FROM k8s_current g, json_each(g.spec->'from') f, json_each(g.spec->'to') t
WHERE g.kind = 'ReferenceGrant';

CREATE VIEW cross_namespace_refs_granted AS
SELECT r.*, (SELECT min(g.grant_name) FROM reference_grants g
             WHERE g.cluster = r.cluster AND g.namespace = r.to_namespace
               AND g.from_group = 'gateway.networking.k8s.io' AND g.from_kind = r.from_kind
               AND g.from_namespace = r.from_namespace
               AND g.to_group = r.to_group AND g.to_kind = r.to_kind
               AND (g.to_name IS NULL OR g.to_name = r.to_name)) AS granted_by
FROM cross_namespace_refs r;

CREATE VIEW regulated_namespaces AS
SELECT cluster, name AS namespace, location, source, run_id, artifact_sha256, collected_at
FROM k8s_current
WHERE kind = 'Namespace' AND (labels->>'defensible.io/regulated') = 'true';

-- NetworkPolicies that select every pod of their namespace and allow no ingress (or egress).
CREATE VIEW default_deny_policies AS
SELECT cluster, namespace, name AS policy,
       ((spec->'policyTypes') IS NULL OR list_contains(CAST(spec->'policyTypes' AS VARCHAR[]), 'Ingress'))
         AND coalesce(json_array_length(spec->'ingress'), 0) = 0 AS denies_ingress,
       coalesce(list_contains(CAST(spec->'policyTypes' AS VARCHAR[]), 'Egress'), false)
         AND coalesce(json_array_length(spec->'egress'), 0) = 0 AS denies_egress,
       location, source, run_id, artifact_sha256, collected_at
FROM k8s_current
WHERE kind = 'NetworkPolicy'
  AND coalesce(len(json_keys(spec->'podSelector'->'matchLabels')), 0) = 0
  AND coalesce(json_array_length(spec->'podSelector'->'matchExpressions'), 0) = 0;

-- Istio PeerAuthentication: mesh-wide policy lives in the root namespace (istio-system) without selector.
CREATE VIEW peer_authentications AS
SELECT cluster, namespace, name,
       (spec->'selector') IS NOT NULL AND coalesce(len(json_keys(spec->'selector'->'matchLabels')), 0) > 0
         AS workload_scoped,
       coalesce(spec->'mtls'->>'mode', 'UNSET') AS mode,
       spec->'portLevelMtls' AS port_level,
       location, source, run_id, artifact_sha256, collected_at
FROM k8s_current
WHERE kind = 'PeerAuthentication';

CREATE VIEW namespace_mtls AS
SELECT n.cluster, n.namespace,
       coalesce(ns.mode, mesh.mode, 'PERMISSIVE') AS effective_mode,
       CASE WHEN ns.mode IS NOT NULL THEN 'PeerAuthentication ' || n.namespace || '/' || ns.name
            WHEN mesh.mode IS NOT NULL THEN 'mesh-wide PeerAuthentication istio-system/' || mesh.name
            ELSE 'Istio default (PERMISSIVE)' END AS decided_by,
       coalesce(ns.location, mesh.location, n.location) AS location,
       coalesce(ns.source, mesh.source, n.source) AS source,
       coalesce(ns.run_id, mesh.run_id, n.run_id) AS run_id,
       coalesce(ns.artifact_sha256, mesh.artifact_sha256, n.artifact_sha256) AS artifact_sha256,
       coalesce(ns.collected_at, mesh.collected_at, n.collected_at) AS collected_at
FROM regulated_namespaces n
LEFT JOIN peer_authentications ns
  ON ns.cluster = n.cluster AND ns.namespace = n.namespace AND NOT ns.workload_scoped AND ns.mode <> 'UNSET'
LEFT JOIN peer_authentications mesh
  ON mesh.cluster = n.cluster AND mesh.namespace = 'istio-system' AND NOT mesh.workload_scoped
     AND mesh.mode <> 'UNSET';

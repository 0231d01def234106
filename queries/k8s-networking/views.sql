-- Helper views shared by the claims of this pack. They read the latest listing of each kind
-- (k8s_current) and keep the provenance columns of the object they come from.
-- Note: DuckDB's -> and ->> bind looser than comparisons; parenthesise them in predicates.

CREATE VIEW gateway_listeners AS
SELECT g.cluster, g.namespace, g.name AS gateway,
       l.value->>'name' AS listener,
       l.value->>'protocol' AS protocol,
       TRY_CAST(l.value->>'port' AS INTEGER) AS port,
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
WHERE kind = 'Namespace'
  AND ((labels->>split_part(getvariable('regulated_label'), '=', 1)) = split_part(getvariable('regulated_label'), '=', 2)
       OR list_contains(CAST(getvariable('regulated_namespace_names') AS VARCHAR[]), name));

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

-- Hops ---------------------------------------------------------------------------------------------------
-- Whether matchLabels (a JSON object) select an object with these labels (JSON): every key has that value.
CREATE OR REPLACE TEMP MACRO k8s_selects(match_labels, labels) AS
    list_bool_and(list_transform(json_keys(match_labels),
                                 lambda k: (labels->>k) IS NOT DISTINCT FROM (match_labels->>k)));

-- Routes of every kind; `forwards`: a rule has a backendRef or a RequestMirror filter (a pure redirect forwards
-- nothing).
CREATE VIEW routes AS
SELECT cluster, kind, namespace, name, spec,
       coalesce(len(json_extract(spec, '$.rules[*].backendRefs[*]')), 0) > 0
         OR coalesce(len(json_extract(spec, '$.rules[*].filters[*].requestMirror')), 0) > 0 AS forwards,
       location, source, run_id, artifact_sha256, collected_at
FROM k8s_current
WHERE kind IN ('HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute');

-- The Gateway listeners each route attaches to: parentRef name and namespace (default: the route's), and
-- sectionName and port when given. Route status and the listener's allowedRoutes are not consulted.
CREATE VIEW route_attachments AS
SELECT r.cluster, r.kind AS route_kind, r.namespace AS route_namespace, r.name AS route, r.forwards,
       l.namespace AS gateway_namespace, l.gateway, l.listener, l.protocol, l.tls_mode
FROM routes r
CROSS JOIN json_each(r.spec->'parentRefs') p
JOIN gateway_listeners l
  ON l.cluster = r.cluster AND l.gateway = (p.value->>'name')
     AND l.namespace = coalesce(p.value->>'namespace', r.namespace)
     AND ((p.value->>'sectionName') IS NULL OR l.listener = (p.value->>'sectionName'))
     AND ((p.value->>'port') IS NULL OR l.port = TRY_CAST(p.value->>'port' AS INTEGER))
WHERE coalesce(p.value->>'group', 'gateway.networking.k8s.io') = 'gateway.networking.k8s.io'
  AND coalesce(p.value->>'kind', 'Gateway') = 'Gateway';

-- Gateway API attachment analysis --------------------------------------------------------------------------
-- The `analysis` source's analysis of a cluster (docs/analysis.md) counts when it is the cluster's latest and read
-- the listings that are current now; public-exposure-controlled and public-routes use it for those clusters and
-- the views above for the others. Each view is followed by an empty stand-in, created only when the view could not
-- be (the analysis tables do not exist until the source has run once).
CREATE VIEW analysed_clusters AS
SELECT cluster, run_id
FROM (SELECT i.cluster, i.run_id,
             bool_and(i.input_run_id IS NOT DISTINCT FROM k.run_id AND i.reach_classes IS NOT NULL) AS up_to_date
      FROM analysis_inputs i
      JOIN runs r USING (run_id)
      LEFT JOIN k8s_inventory_current k ON k.cluster = i.cluster AND k.kind = i.kind AND k.status = 'collected'
      WHERE r.status IN ('succeeded', 'partial')
      GROUP BY i.cluster, i.run_id, r.started_at
      QUALIFY row_number() OVER (PARTITION BY i.cluster ORDER BY r.started_at DESC, i.run_id DESC) = 1)
WHERE up_to_date;
CREATE TEMP VIEW IF NOT EXISTS analysed_clusters AS SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS run_id WHERE false;

-- Objects the analysis of an analysed cluster left out because they are malformed (analysis: reachability, gateway
-- or mesh; no object: that analysis is missing): each claim that uses the analysis is a gap for each of them.
CREATE VIEW analysis_errors_current AS
SELECT e.cluster, e.analysis, e.namespace, coalesce(e.kind || '/' || e.name, 'analysis/' || e.analysis) AS object,
       CASE WHEN e.name IS NULL THEN 'the ' || e.analysis || ' analysis of cluster ' || e.cluster
                 || ' is missing (nothing of it can be judged): '
            ELSE 'left out of the ' || e.analysis || ' analysis of cluster ' || e.cluster
                 || ' as malformed (what it would change is not judged): ' END || e.error AS finding,
       o.location, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM analysis_errors e
JOIN analysed_clusters USING (cluster, run_id)
LEFT JOIN k8s_current o
  ON o.cluster = e.cluster AND o.kind = e.kind AND o.namespace IS NOT DISTINCT FROM e.namespace AND o.name = e.name;
CREATE TEMP VIEW IF NOT EXISTS analysis_errors_current AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS analysis, NULL::VARCHAR AS namespace, NULL::VARCHAR AS object,
       NULL::VARCHAR AS finding, NULL::VARCHAR AS location, NULL::VARCHAR AS source, NULL::VARCHAR AS run_id,
       NULL::VARCHAR AS artifact_sha256, NULL::TIMESTAMPTZ AS collected_at
WHERE false;

-- Listeners of analysed clusters and who could attach (whether public: gateway_public).
CREATE VIEW analysed_exposure AS
SELECT e.cluster, e.gateway_namespace, e.gateway, e.listener, e.hostname, e.protocol, e.routes_from,
       e.any_namespace, array_to_string(e.namespaces, ', ') AS namespaces, s.resolved_refs_reason,
       s.resolved_refs_message, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM gateway_exposure e
JOIN analysed_clusters USING (cluster, run_id)
LEFT JOIN gateway_listener_status s USING (cluster, run_id, gateway_namespace, gateway, listener);
CREATE TEMP VIEW IF NOT EXISTS analysed_exposure AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS gateway_namespace, NULL::VARCHAR AS gateway, NULL::VARCHAR AS listener,
       NULL::VARCHAR AS hostname, NULL::VARCHAR AS protocol, NULL::VARCHAR AS routes_from,
       NULL::BOOLEAN AS any_namespace, NULL::VARCHAR AS namespaces, NULL::VARCHAR AS resolved_refs_reason,
       NULL::VARCHAR AS resolved_refs_message, NULL::VARCHAR AS source, NULL::VARCHAR AS run_id,
       NULL::VARCHAR AS artifact_sha256, NULL::TIMESTAMPTZ AS collected_at
WHERE false;

-- Route parentRef x listener rows of analysed clusters (rejected ones included).
CREATE VIEW analysed_attachments AS
SELECT a.cluster, a.route_kind, a.route_namespace, a.route, a.gateway_namespace, a.gateway, a.listener, a.accepted,
       a.reason, array_to_string(a.hostnames, ', ') AS hostnames, a.resolved_refs_reason, a.resolved_refs_message,
       a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM gateway_attachments a
JOIN analysed_clusters USING (cluster, run_id);
CREATE TEMP VIEW IF NOT EXISTS analysed_attachments AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS route_kind, NULL::VARCHAR AS route_namespace, NULL::VARCHAR AS route,
       NULL::VARCHAR AS gateway_namespace, NULL::VARCHAR AS gateway, NULL::VARCHAR AS listener, NULL::BOOLEAN AS accepted,
       NULL::VARCHAR AS reason, NULL::VARCHAR AS hostnames, NULL::VARCHAR AS resolved_refs_reason,
       NULL::VARCHAR AS resolved_refs_message, NULL::VARCHAR AS source, NULL::VARCHAR AS run_id,
       NULL::VARCHAR AS artifact_sha256, NULL::TIMESTAMPTZ AS collected_at
WHERE false;

-- issue 16: traffic-encrypted and backend-reencryption ------------------------------------------------------
-- Every route kind and its mirrors are hops; mesh encryption and DestinationRules come from the `analysis`
-- source's mesh analysis (collector/analysis/mesh: enrollment per workload port, istiod's DestinationRule lookup
-- per Gateway), used only for clusters whose analysis read the current inventory (analysed_clusters).
CREATE VIEW mesh_ports AS
SELECT m.* FROM mesh_workload_ports m JOIN analysed_clusters USING (cluster, run_id);
CREATE TEMP VIEW IF NOT EXISTS mesh_ports AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS namespace, NULL::VARCHAR AS kind, NULL::VARCHAR AS workload,
       NULL::VARCHAR AS direction, NULL::INTEGER AS port, NULL::VARCHAR AS dataplane, NULL::VARCHAR AS revision,
       NULL::BOOLEAN AS captured, NULL::VARCHAR AS mode, NULL::BOOLEAN AS encrypted, NULL::VARCHAR AS decided_by,
       NULL::VARCHAR AS policy, NULL::VARCHAR AS source, NULL::VARCHAR AS run_id, NULL::VARCHAR AS artifact_sha256,
       NULL::TIMESTAMPTZ AS collected_at
WHERE false;

CREATE VIEW mesh_services AS
SELECT m.* FROM mesh_service_ports m JOIN analysed_clusters USING (cluster, run_id);
CREATE TEMP VIEW IF NOT EXISTS mesh_services AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS namespace, NULL::VARCHAR AS service, NULL::INTEGER AS port,
       NULL::VARCHAR AS port_name, NULL::INTEGER AS workloads, NULL::BOOLEAN AS encrypted, NULL::VARCHAR AS decided_by,
       NULL::VARCHAR AS source, NULL::VARCHAR AS run_id, NULL::VARCHAR AS artifact_sha256,
       NULL::TIMESTAMPTZ AS collected_at
WHERE false;

CREATE VIEW mesh_gateway_tls AS
SELECT m.* FROM mesh_client_tls m JOIN analysed_clusters USING (cluster, run_id);
CREATE TEMP VIEW IF NOT EXISTS mesh_gateway_tls AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS client_namespace, NULL::VARCHAR AS client,
       NULL::VARCHAR AS namespace, NULL::VARCHAR AS service, NULL::INTEGER AS port, NULL::VARCHAR AS port_name,
       NULL::BOOLEAN AS originates_tls, NULL::VARCHAR AS tls_mode, NULL::VARCHAR AS destination_rules,
       NULL::VARCHAR AS finding, NULL::VARCHAR AS source, NULL::VARCHAR AS run_id, NULL::VARCHAR AS artifact_sha256,
       NULL::TIMESTAMPTZ AS collected_at
WHERE false;

-- Clusters with a Kubernetes inventory that the analysis source has not analysed as it is now.
CREATE VIEW mesh_unanalysed_clusters AS
SELECT i.cluster, min(i.location) AS location, min(i.source) AS source, min(i.run_id) AS run_id,
       min(i.artifact_sha256) AS artifact_sha256, min(i.collected_at) AS collected_at
FROM k8s_inventory_current i
WHERE i.status = 'collected' AND i.cluster NOT IN (SELECT cluster FROM analysed_clusters)
GROUP BY i.cluster;

-- Hop client->gateway: listeners that a forwarding route of any kind attaches to.
CREATE VIEW hop_client_gateway AS
SELECT l.cluster, l.namespace, l.gateway, l.listener, l.protocol, l.tls_mode, l.certificate_refs,
       l.protocol IN ('HTTPS', 'TLS') AND (l.tls_mode = 'Passthrough' OR l.certificate_refs > 0) AS encrypted,
       string_agg(DISTINCT a.route_kind || ' ' || a.route_namespace || '/' || a.route, ', '
                  ORDER BY a.route_kind || ' ' || a.route_namespace || '/' || a.route) AS routes,
       l.location, l.source, l.run_id, l.artifact_sha256, l.collected_at
FROM gateway_listeners l
JOIN route_attachments a
  ON a.cluster = l.cluster AND a.gateway_namespace = l.namespace AND a.gateway = l.gateway AND a.listener = l.listener
WHERE a.forwards
GROUP BY ALL;

-- Hop client->ingress: each host of an Ingress that forwards, and the spec.tls entry serving it (a tls entry
-- without hosts serves every host; `*.example.com` serves one label below example.com).
CREATE VIEW hop_ingress_hosts AS
WITH hosts AS (
    SELECT i.cluster, i.namespace, i.name, coalesce(r.value->>'host', '*') AS host, i.spec,
           i.location, i.source, i.run_id, i.artifact_sha256, i.collected_at
    FROM k8s_current i, json_each(coalesce(i.spec->'rules', '[]')) r
    WHERE i.kind = 'Ingress' AND (r.value->'http') IS NOT NULL
    UNION
    SELECT i.cluster, i.namespace, i.name, '*', i.spec, i.location, i.source, i.run_id, i.artifact_sha256,
           i.collected_at
    FROM k8s_current i
    WHERE i.kind = 'Ingress' AND (i.spec->'defaultBackend') IS NOT NULL
)
SELECT h.cluster, h.namespace, h.name AS ingress, h.host,
       (SELECT min(coalesce(t.value->>'secretName', '(controller default certificate)'))
        FROM json_each(coalesce(h.spec->'tls', '[]')) t
        WHERE coalesce(json_array_length(t.value->'hosts'), 0) = 0
           OR list_contains(CAST(t.value->'hosts' AS VARCHAR[]), h.host)
           OR list_bool_or(list_transform(CAST(t.value->'hosts' AS VARCHAR[]),
                lambda x: starts_with(x, '*.') AND h.host <> '*'
                          AND substr(h.host, strpos(h.host, '.')) = substr(x, 2)))) AS tls_secret,
       h.location, h.source, h.run_id, h.artifact_sha256, h.collected_at
FROM hosts h;

-- Hop gateway->backend: one row per attached route, Gateway, backend and port. Backends are the rules'
-- backendRefs and the backendRefs of RequestMirror filters (rule filters and backendRef filters); a backend of
-- another kind than Service has service NULL and `backend` naming it. `passthrough`: a TLSRoute on a TLS
-- Passthrough listener.
CREATE VIEW hop_backends AS
WITH refs AS (
    SELECT r.cluster, r.kind, r.namespace, r.name, b.value AS ref, 'backendRef' AS via
    FROM routes r, json_each(r.spec->'rules') rule, json_each(rule.value->'backendRefs') b
    UNION ALL
    SELECT r.cluster, r.kind, r.namespace, r.name, f.value->'requestMirror'->'backendRef', 'RequestMirror'
    FROM routes r, json_each(r.spec->'rules') rule, json_each(rule.value->'filters') f
    WHERE (f.value->>'type') = 'RequestMirror'
    UNION ALL
    SELECT r.cluster, r.kind, r.namespace, r.name, f.value->'requestMirror'->'backendRef', 'RequestMirror'
    FROM routes r, json_each(r.spec->'rules') rule, json_each(rule.value->'backendRefs') b,
         json_each(b.value->'filters') f
    WHERE (f.value->>'type') = 'RequestMirror'
),
attached AS (
    SELECT DISTINCT cluster, route_kind AS kind, route_namespace AS namespace, route AS name, gateway_namespace,
           gateway, route_kind = 'TLSRoute' AND protocol = 'TLS' AND tls_mode = 'Passthrough' AS passthrough
    FROM route_attachments
)
SELECT DISTINCT r.cluster, r.kind || ' ' || r.namespace || '/' || r.name AS route_ref, a.gateway_namespace, a.gateway,
       a.passthrough, x.via,
       coalesce(x.ref->>'namespace', r.namespace) AS namespace,
       CASE WHEN coalesce(x.ref->>'group', '') = '' AND coalesce(x.ref->>'kind', 'Service') = 'Service'
            THEN x.ref->>'name' END AS service,
       coalesce(x.ref->>'kind', 'Service') || ' ' || coalesce(x.ref->>'namespace', r.namespace) || '/'
         || (x.ref->>'name') AS backend,
       TRY_CAST(x.ref->>'port' AS INTEGER) AS port,
       r.location, r.source, r.run_id, r.artifact_sha256, r.collected_at
FROM routes r
JOIN attached a USING (cluster, kind, namespace, name)
JOIN refs x USING (cluster, kind, namespace, name);

-- Service ports by number, with their name (a BackendTLSPolicy sectionName names a Service port).
CREATE VIEW service_port_names AS
SELECT s.cluster, s.namespace, s.name AS service, TRY_CAST(p.value->>'port' AS INTEGER) AS port,
       p.value->>'name' AS port_name
FROM k8s_current s, json_each(coalesce(s.spec->'ports', '[]')) p
WHERE s.kind = 'Service';

-- BackendTLSPolicy targets, with the Service port they name (sectionName; NULL: every port).
CREATE VIEW backend_tls_targets AS
SELECT p.cluster, p.namespace, t.value->>'name' AS service, t.value->>'sectionName' AS section, p.name AS policy,
       p.location, p.source, p.run_id, p.artifact_sha256, p.collected_at
FROM k8s_current p, json_each(coalesce(p.spec->'targetRefs', json_array(p.spec->'targetRef'))) t
WHERE p.kind = 'BackendTLSPolicy'
  AND coalesce(t.value->>'group', '') = '' AND (t.value->>'kind') = 'Service';

-- BackendTLSPolicies that a controller reports not accepted (status.ancestors[].conditions Accepted False), for
-- some ancestor: the controller's own word overrides what the spec suggests.
CREATE VIEW backend_tls_refused AS
SELECT p.cluster, p.namespace, p.name AS policy, min(coalesce(c.value->>'reason', 'NotAccepted')) AS reason,
       string_agg(coalesce(a.value->>'controllerName', 'the controller') || ' reports Accepted False ('
                  || coalesce(c.value->>'reason', 'NotAccepted') || ') for '
                  || coalesce(a.value->'ancestorRef'->>'kind', 'Gateway') || ' '
                  || coalesce(a.value->'ancestorRef'->>'namespace', p.namespace) || '/'
                  || coalesce(a.value->'ancestorRef'->>'name', '?') || coalesce(': ' || (c.value->>'message'), ''),
                  '; ') AS message
FROM k8s_current p, json_each(coalesce(p.status->'ancestors', '[]')) a,
     json_each(coalesce(a.value->'conditions', '[]')) c
WHERE p.kind = 'BackendTLSPolicy' AND (c.value->>'type') = 'Accepted' AND (c.value->>'status') = 'False'
GROUP BY p.cluster, p.namespace, p.name;

-- The BackendTLSPolicy that applies to each Service port of analysed clusters (collector/analysis/gateway/
-- backend_tls.py: a policy naming the port before one for the whole Service, the oldest on one target, its CA
-- references resolved); `encrypts`: it is accepted (and no controller reports otherwise), so the gateway originates
-- validated TLS. Port NULL: the Service, or the port a sectionName names, is not in the inventory.
CREATE VIEW backend_tls_analysed AS
SELECT t.cluster, t.namespace, t.service, t.port, t.policy, t.section,
       CASE WHEN r.policy IS NOT NULL AND t.accepted_reason = 'Accepted' THEN r.reason ELSE t.accepted_reason END
         AS accepted_reason,
       CASE WHEN r.policy IS NOT NULL AND t.accepted_reason = 'Accepted' THEN r.message ELSE t.message END AS message,
       t.encrypts AND r.policy IS NULL AS encrypts
FROM gateway_backend_tls t
JOIN analysed_clusters USING (cluster, run_id)
LEFT JOIN backend_tls_refused r USING (cluster, namespace, policy)
WHERE t.accepted_reason <> 'Conflicted';
CREATE TEMP VIEW IF NOT EXISTS backend_tls_analysed AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS namespace, NULL::VARCHAR AS service, NULL::INTEGER AS port,
       NULL::VARCHAR AS policy, NULL::VARCHAR AS section, NULL::VARCHAR AS accepted_reason, NULL::VARCHAR AS message,
       NULL::BOOLEAN AS encrypts
WHERE false;

-- BackendTLSPolicies none of whose CA references the latest certificates collection found (tls_consumers): no valid
-- CA certificate (NoValidCACertificate), so the gateway fails the connections instead of re-encrypting them.
CREATE VIEW backend_tls_cas_missing AS
SELECT t.cluster, split_part(split_part(t.consumer, ' ', 2), '/', 1) AS namespace,
       split_part(split_part(t.consumer, ' ', 2), '/', 2) AS policy,
       string_agg(coalesce(t.object_kind, 'object') || ' ' || t.namespace || '/' || t.name, ', ' ORDER BY t.name)
         AS missing
FROM tls_consumers_current t
WHERE t.consumer_kind = 'BackendTLSPolicy' AND t.role = 'trust-anchor'
GROUP BY t.cluster, t.consumer
HAVING NOT bool_or(t.found);
CREATE TEMP VIEW IF NOT EXISTS backend_tls_cas_missing AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS namespace, NULL::VARCHAR AS policy, NULL::VARCHAR AS missing
WHERE false;

-- Each backend hop with what re-encrypts it (covered_by; NULL: nothing), and if not, why: the BackendTLSPolicy that
-- applies but does not encrypt (analysed clusters), the BackendTLSPolicies of the Service that name another port,
-- and the gateway's DestinationRule lookup (or that it was not analysed). Without an analysis, any BackendTLSPolicy
-- targeting the port counts.
CREATE VIEW hop_backend_tls AS
SELECT b.*,
       coalesce(
         (SELECT min('BackendTLSPolicy ' || a.namespace || '/' || a.policy
                     || coalesce(' (sectionName ' || a.section || ')', ''))
          FROM backend_tls_analysed a
          LEFT JOIN backend_tls_cas_missing m USING (cluster, namespace, policy)
          WHERE a.cluster = b.cluster AND a.namespace = b.namespace AND a.service = b.service AND m.policy IS NULL
            AND (a.port = b.port AND a.encrypts
                 -- a Service outside the inventory: a policy for the whole Service, when none names a port of it
                 OR (a.port IS NULL AND a.section IS NULL AND a.accepted_reason = 'Accepted' AND NOT EXISTS (
                       SELECT 1 FROM backend_tls_analysed x
                       WHERE x.cluster = a.cluster AND x.namespace = a.namespace AND x.service = a.service
                         AND x.section IS NOT NULL)))),
         (SELECT min('BackendTLSPolicy ' || t.namespace || '/' || t.policy
                     || coalesce(' (sectionName ' || t.section || ')', ''))
          FROM backend_tls_targets t
          LEFT JOIN service_port_names n ON n.cluster = t.cluster AND n.namespace = t.namespace
               AND n.service = t.service AND n.port = b.port
          WHERE t.cluster = b.cluster AND t.namespace = b.namespace AND t.service = b.service
            AND (t.section IS NULL OR t.section = n.port_name)
            AND t.cluster NOT IN (SELECT cluster FROM analysed_clusters)
            AND NOT EXISTS (SELECT 1 FROM backend_tls_refused r
                            WHERE r.cluster = t.cluster AND r.namespace = t.namespace AND r.policy = t.policy)),
         CASE WHEN b.passthrough THEN 'TLS passthrough (the gateway does not terminate TLS)' END,
         CASE WHEN g.originates_tls THEN 'DestinationRule ' || g.destination_rules || ' applied by the '
              || b.gateway_namespace || '/' || b.gateway || ' proxy (tls.mode ' || g.tls_mode || ')' END
       ) AS covered_by,
       concat_ws('; ',
         (SELECT string_agg('BackendTLSPolicy ' || a.namespace || '/' || a.policy || ' applies but is not accepted ('
                            || a.accepted_reason || coalesce(': ' || a.message, '') || ')', '; ')
          FROM backend_tls_analysed a
          WHERE a.cluster = b.cluster AND a.namespace = b.namespace AND a.service = b.service AND a.port = b.port
            AND NOT a.encrypts),
         (SELECT string_agg('BackendTLSPolicy ' || a.namespace || '/' || a.policy || ' applies but has no valid CA '
                            || 'certificate (NoValidCACertificate): the certificates collection did not find '
                            || m.missing, '; ')
          FROM backend_tls_analysed a
          JOIN backend_tls_cas_missing m USING (cluster, namespace, policy)
          WHERE a.cluster = b.cluster AND a.namespace = b.namespace AND a.service = b.service AND a.port = b.port
            AND a.encrypts),
         (SELECT string_agg('BackendTLSPolicy ' || t.namespace || '/' || t.policy || ' applies only to port '
                            || t.section, '; ')
          FROM backend_tls_targets t
          WHERE t.cluster = b.cluster AND t.namespace = b.namespace AND t.service = b.service
            AND t.section IS NOT NULL),
         CASE WHEN b.port IS NULL THEN 'the backendRef gives no port'
              WHEN b.cluster IN (SELECT cluster FROM analysed_clusters) THEN coalesce(g.finding,
                'no DestinationRule lookup for this Service port (the Service is not in the inventory)')
              ELSE 'the DestinationRules the gateway applies were not analysed: run `defensible collect analysis`'
         END) AS why_not
FROM hop_backends b
LEFT JOIN mesh_gateway_tls g
  ON g.cluster = b.cluster AND g.client_namespace = b.gateway_namespace AND g.client = b.gateway
     AND g.namespace = b.namespace AND g.service = b.service AND g.port = b.port;

-- Hop ingress->backend: Service backends of Ingress rules and defaultBackend.
CREATE VIEW hop_ingress_backends AS
WITH refs AS (
    SELECT i.cluster, i.namespace, i.name, p.value->'backend' AS backend, i.location, i.source, i.run_id,
           i.artifact_sha256, i.collected_at
    FROM k8s_current i, json_each(coalesce(i.spec->'rules', '[]')) r, json_each(coalesce(r.value->'http'->'paths', '[]')) p
    WHERE i.kind = 'Ingress'
    UNION ALL
    SELECT i.cluster, i.namespace, i.name, i.spec->'defaultBackend', i.location, i.source, i.run_id,
           i.artifact_sha256, i.collected_at
    FROM k8s_current i
    WHERE i.kind = 'Ingress' AND (i.spec->'defaultBackend') IS NOT NULL
)
SELECT DISTINCT cluster, 'Ingress ' || namespace || '/' || name AS route_ref, name AS ingress, namespace,
       backend->'service'->>'name' AS service,
       TRY_CAST(backend->'service'->'port'->>'number' AS INTEGER) AS port,
       backend->'service'->'port'->>'name' AS port_name,
       CASE WHEN (backend->'service') IS NULL THEN 'resource backend ' || coalesce(backend->'resource'->>'kind', '?')
              || ' ' || namespace || '/' || coalesce(backend->'resource'->>'name', '?') END AS other_backend,
       location, source, run_id, artifact_sha256, collected_at
FROM refs;

-- access-restricted (issue 16) -----------------------------------------------------------------------------------
-- Scope is evidence: the regulated namespaces (label or the regulated_namespace_names parameter), the namespaces
-- that an earlier kubernetes collection of the store shows regulated (by the label) and that are not now
-- (descoped), and the names the parameter lists that no cluster holds.
CREATE OR REPLACE TEMP MACRO access_labelled(labels) AS
    (labels->>split_part(getvariable('regulated_label'), '=', 1)) = split_part(getvariable('regulated_label'), '=', 2);

-- Namespaces that a manifest in the collected Git history labelled regulated (any repository, any version): the
-- latest path@commit that carried the label and the first later change of that path that dropped it (label removed
-- or changed, file deleted), NULL while the head still carries it. Without a git collection the first statement
-- stands: the second reads the git tables and fails alone.
CREATE VIEW git_regulated_namespaces AS
SELECT NULL::VARCHAR AS repo, NULL::VARCHAR AS namespace, NULL::VARCHAR AS regulated_in,
       NULL::TIMESTAMPTZ AS regulated_at, NULL::VARCHAR AS removed_by
WHERE false;

CREATE VIEW git_regulated_namespaces AS
WITH labelled AS (
    SELECT DISTINCT repo, blob, name AS namespace FROM git_manifest_objects_known
    WHERE kind = 'Namespace' AND desired_sha256 IS NOT NULL AND access_labelled(labels)
), touched AS (
    SELECT f.repo, l.namespace, f.path, f.sha, l.blob, l.blob = f.new_blob AS written, c.committed_at
    FROM git_commit_files_current f
    JOIN labelled l ON l.repo = f.repo AND l.blob IN (f.new_blob, f.old_blob)
    JOIN git_commits_current c ON c.run_id = f.run_id AND c.repo = f.repo AND c.sha = f.sha
), history AS (  -- a labelled version written by a commit, or else replaced by one (its parent carried it)
    SELECT repo, namespace, path, path || '@' || left(sha, 12) || CASE WHEN written THEN '' ELSE '^' END AS place,
           committed_at - CASE WHEN written THEN INTERVAL 0 SECOND ELSE INTERVAL 1 SECOND END AS seen_at
    FROM touched t
    WHERE written OR NOT EXISTS (SELECT 1 FROM touched w WHERE w.written AND w.repo = t.repo AND w.path = t.path
                                                           AND w.blob = t.blob)
), latest AS (
    SELECT repo, namespace, arg_max(path, seen_at) AS path, arg_max(place, seen_at) AS place,
           max(seen_at) AS regulated_at
    FROM history GROUP BY ALL
), head AS (  -- labelled at the head of the branch
    SELECT t.repo, l.namespace, min(t.path) || '@' || left(any_value(g.head_sha), 12) AS place
    FROM git_tree_files_current t
    JOIN labelled l ON l.repo = t.repo AND l.blob = t.blob
    JOIN git_repositories_current g ON g.run_id = t.run_id AND g.repo = t.repo
    GROUP BY ALL
), removals AS (  -- the first later change of that path without the label
    SELECT l.repo, l.namespace,
           arg_min(left(f.sha, 12) || CASE WHEN f.change_type = 'D' THEN ' deleted ' ELSE ' changed ' END || f.path
                   || ' (' || c.author_email || ', ' || strftime(c.committed_at, '%Y-%m-%dT%H:%M:%SZ') || ': '
                   || c.subject || ')', c.committed_at) AS removed_by
    FROM latest l
    JOIN git_commit_files_current f ON f.repo = l.repo AND f.path = l.path
    JOIN git_commits_current c ON c.run_id = f.run_id AND c.repo = f.repo AND c.sha = f.sha
    WHERE c.committed_at > l.regulated_at
      AND f.new_blob NOT IN (SELECT blob FROM labelled x WHERE x.repo = l.repo AND x.namespace = l.namespace)
    GROUP BY ALL
)
SELECT repo, namespace, coalesce(h.place, l.place) AS regulated_in,
       CASE WHEN h.place IS NULL THEN l.regulated_at END AS regulated_at,
       CASE WHEN h.place IS NULL THEN coalesce(r.removed_by, 'a change outside the collected history') END
           AS removed_by
FROM latest l
FULL JOIN head h USING (repo, namespace)
LEFT JOIN removals r USING (repo, namespace);

CREATE VIEW descoped_namespaces AS
SELECT c.cluster, c.name AS namespace,
       arg_max(o.run_id, r.started_at) AS regulated_run, max(o.collected_at) AS regulated_at,
       coalesce(c.labels->>split_part(getvariable('regulated_label'), '=', 1), '(absent)') AS label_now,
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM k8s_current c
JOIN k8s_objects o ON o.cluster = c.cluster AND o.kind = 'Namespace' AND o.name = c.name AND access_labelled(o.labels)
JOIN runs r ON r.run_id = o.run_id AND r.status IN ('succeeded', 'partial')
WHERE c.kind = 'Namespace'
  AND NOT EXISTS (SELECT 1 FROM regulated_namespaces n WHERE n.cluster = c.cluster AND n.namespace = c.name)
GROUP BY ALL;

CREATE VIEW regulated_scope AS
SELECT n.cluster, n.namespace, 'regulated' AS status,
       concat_ws(' and ',
                 CASE WHEN access_labelled(c.labels) THEN 'label ' || getvariable('regulated_label') END,
                 CASE WHEN list_contains(CAST(getvariable('regulated_namespace_names') AS VARCHAR[]), n.namespace)
                      THEN 'parameter regulated_namespace_names' END) AS regulated_by,
       n.location, n.source, n.run_id, n.artifact_sha256, n.collected_at
FROM regulated_namespaces n
JOIN k8s_current c ON c.cluster = n.cluster AND c.kind = 'Namespace' AND c.name = n.namespace
UNION ALL
SELECT cluster, namespace, 'descoped',
       'label ' || getvariable('regulated_label') || ' in kubernetes run ' || regulated_run || ' (collected '
         || strftime(regulated_at, '%Y-%m-%dT%H:%M:%SZ') || '); label now ' || label_now,
       location, source, run_id, artifact_sha256, collected_at
FROM descoped_namespaces
UNION ALL
SELECT c.cluster, c.name, 'descoped',
       'label ' || getvariable('regulated_label') || ' in Git ' || g.repo || ' ' || g.regulated_in
         || coalesce(' (committed ' || strftime(g.regulated_at, '%Y-%m-%dT%H:%M:%SZ') || ')', '')
         || coalesce('; removed by ' || g.removed_by, '; still labelled at the head')
         || '; label now ' || coalesce(c.labels->>split_part(getvariable('regulated_label'), '=', 1), '(absent)'),
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM git_regulated_namespaces g
JOIN k8s_current c ON c.kind = 'Namespace' AND c.name = g.namespace
WHERE NOT EXISTS (SELECT 1 FROM regulated_namespaces n WHERE n.cluster = c.cluster AND n.namespace = c.name)
UNION ALL
SELECT NULL, name, 'absent', 'parameter regulated_namespace_names (no cluster of the inventory has the namespace)',
       NULL, NULL, NULL, NULL, NULL
FROM unnest(CAST(getvariable('regulated_namespace_names') AS VARCHAR[])) AS t(name)
WHERE name NOT IN (SELECT name FROM k8s_current WHERE kind = 'Namespace');

-- The workloads of regulated namespaces in the cluster's current analysis (analysed_clusters), with the
-- declared callers of each: defensible.io/allowed-callers of its object (top owner), or else of its Namespace.
CREATE VIEW access_workloads AS
SELECT w.cluster, w.namespace, w.name AS workload, w.kind, w.namespace || '/' || w.name || '[' || w.kind || ']' || coalesce('{' || w.label_group || '}', '') AS id,
       coalesce(w.host_network, false) AS host_network, w.host_ports,
       coalesce(o.annotations->>'defensible.io/allowed-callers', ns.annotations->>'defensible.io/allowed-callers')
         AS declared,
       CASE WHEN (o.annotations->>'defensible.io/allowed-callers') IS NOT NULL THEN w.kind || ' ' || w.namespace || '/' || w.name
            WHEN (ns.annotations->>'defensible.io/allowed-callers') IS NOT NULL THEN 'Namespace ' || w.namespace END
         AS declared_in,
       coalesce(o.location, ns.location) AS location, w.reach_class, w.source, w.run_id, w.artifact_sha256,
       w.collected_at
FROM analysis_workloads w
JOIN analysed_clusters USING (cluster, run_id)
JOIN regulated_namespaces n ON n.cluster = w.cluster AND n.namespace = w.namespace
JOIN k8s_current ns ON ns.cluster = w.cluster AND ns.kind = 'Namespace' AND ns.name = w.namespace
LEFT JOIN k8s_current o ON o.cluster = w.cluster AND o.kind = w.kind AND o.namespace = w.namespace AND o.name = w.name;
CREATE TEMP VIEW IF NOT EXISTS access_workloads AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS namespace, NULL::VARCHAR AS workload, NULL::VARCHAR AS kind,
       NULL::VARCHAR AS id, NULL::BOOLEAN AS host_network, NULL::VARCHAR AS host_ports, NULL::VARCHAR AS declared,
       NULL::VARCHAR AS declared_in, NULL::VARCHAR AS location, NULL::INTEGER AS reach_class, NULL::VARCHAR AS source,
       NULL::VARCHAR AS run_id, NULL::VARCHAR AS artifact_sha256, NULL::TIMESTAMPTZ AS collected_at
WHERE false;

-- IPv4 text to integer, and the first and last address of a CIDR (a bare address is a /32) or of an interval
-- `first-last` of the analysis (NULL for IPv6), as in the reachability pack.
CREATE OR REPLACE TEMP MACRO access_ipv4_int(address) AS
    TRY_CAST(split_part(address, '.', 1) AS BIGINT) * 16777216 + TRY_CAST(split_part(address, '.', 2) AS BIGINT) * 65536
    + TRY_CAST(split_part(address, '.', 3) AS BIGINT) * 256 + TRY_CAST(split_part(address, '.', 4) AS BIGINT);
CREATE OR REPLACE TEMP MACRO access_is_cidr(text) AS
    regexp_full_match(text, '((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}'
                            || '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/(3[0-2]|[12]?[0-9]))?');
CREATE OR REPLACE TEMP MACRO access_cidr_size(text) AS
    CAST(1 AS BIGINT) << (32 - coalesce(TRY_CAST(nullif(split_part(text, '/', 2), '') AS INTEGER), 32));
CREATE OR REPLACE TEMP MACRO access_cidr_first(text) AS
    access_ipv4_int(split_part(text, '/', 1)) - access_ipv4_int(split_part(text, '/', 1)) % access_cidr_size(text);

-- One row per comma-separated pattern of each declaration: 'workload' (ns/name or ns/*), 'cidr' (IPv4), 'invalid'.
CREATE VIEW access_caller_patterns AS
WITH patterns AS (
    SELECT w.cluster, w.id, trim(p) AS pattern
    FROM access_workloads w, unnest(string_split(w.declared, ',')) AS t(p)
)
SELECT cluster, id, pattern,
       CASE WHEN access_is_cidr(pattern) THEN 'cidr'
            WHEN regexp_full_match(pattern, '[a-z0-9]([-a-z0-9]*[a-z0-9])?/(\*|[a-z0-9]([-.a-z0-9]*[a-z0-9])?)')
                 THEN 'workload'
            ELSE 'invalid' END AS pattern_kind,
       split_part(pattern, '/', 1) AS pattern_namespace, split_part(pattern, '/', 2) AS pattern_name,
       CASE WHEN access_is_cidr(pattern) THEN access_cidr_first(pattern) END AS first_int,
       CASE WHEN access_is_cidr(pattern) THEN access_cidr_first(pattern) + access_cidr_size(pattern) - 1 END AS last_int
FROM patterns
WHERE pattern <> '';

-- Declared CIDRs of each workload merged into disjoint ranges (overlapping and adjacent ones joined).
CREATE VIEW access_caller_ranges AS
WITH ordered AS (
    SELECT *, max(last_int) OVER (PARTITION BY cluster, id ORDER BY first_int, last_int, pattern
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS covered_to
    FROM access_caller_patterns WHERE pattern_kind = 'cidr'
), numbered AS (
    SELECT *, sum(CASE WHEN covered_to IS NULL OR first_int > covered_to + 1 THEN 1 ELSE 0 END)
                  OVER (PARTITION BY cluster, id ORDER BY first_int, last_int, pattern ROWS UNBOUNDED PRECEDING)
                  AS range_no
    FROM ordered
)
SELECT cluster, id, min(first_int) AS first_int, max(last_int) AS last_int,
       string_agg(DISTINCT pattern, ', ' ORDER BY pattern) AS entries
FROM numbered
GROUP BY cluster, id, range_no;

-- Every connection the current analysis allows into a workload of a regulated namespace, and why it is allowed
-- (allowed_by NULL: it is not): its source is a workload of a regulated namespace of the cluster, or one of the
-- destination's declared callers. admitted_by: the objects that open it (the analysis's attribution).
CREATE VIEW access_ingress AS
WITH lines AS (  -- one line per source workload or external interval, expanded from the class-level connections
    SELECT c.cluster, coalesce(s.namespace || '/' || s.name || '[' || s.kind || ']' || coalesce('{' || s.label_group || '}', ''),
                               c.external) AS src,
           s.namespace AS src_namespace, s.name AS src_workload, c.dst_class, c.external, c.conn, c.admitted_by,
           c.source, c.run_id, c.artifact_sha256, c.collected_at
    FROM reach_class_conns c
    JOIN analysed_clusters USING (cluster, run_id)
    LEFT JOIN analysis_workloads s ON s.cluster = c.cluster AND s.run_id = c.run_id AND s.reach_class = c.src_class
    WHERE c.dst_class IN (SELECT reach_class FROM access_workloads a WHERE a.cluster = c.cluster AND a.run_id = c.run_id)
)
SELECT l.cluster, l.src, w.id AS dst, l.src_namespace, w.namespace AS dst_namespace, w.workload AS dst_workload,
       w.kind AS dst_kind, l.external, l.conn, l.admitted_by, w.declared, w.declared_in,
       coalesce(
           CASE WHEN l.src_namespace IN (SELECT namespace FROM regulated_namespaces r WHERE r.cluster = l.cluster)
                THEN 'a workload of the regulated namespace ' || l.src_namespace END,
           (SELECT 'declared caller "' || min(p.pattern) || '" in defensible.io/allowed-callers of ' || w.declared_in
            FROM access_caller_patterns p
            WHERE p.cluster = l.cluster AND p.id = w.id AND p.pattern_kind = 'workload'
              AND p.pattern_namespace = l.src_namespace AND (p.pattern_name = '*' OR p.pattern_name = l.src_workload)
            HAVING count(*) > 0),
           (SELECT 'declared caller(s) ' || min(r.entries) || ' in defensible.io/allowed-callers of ' || w.declared_in
            FROM access_caller_ranges r
            WHERE r.cluster = l.cluster AND r.id = w.id AND NOT contains(l.src, ':')
              AND access_ipv4_int(split_part(l.src, '-', 1)) >= r.first_int
              AND access_ipv4_int(split_part(l.src, '-', 2)) <= r.last_int
            HAVING count(*) > 0)
       ) AS allowed_by,
       w.location, l.source, l.run_id, l.artifact_sha256, l.collected_at
FROM lines l
JOIN access_workloads w ON w.cluster = l.cluster AND w.run_id = l.run_id AND w.reach_class = l.dst_class
WHERE l.src IS DISTINCT FROM w.id;
CREATE TEMP VIEW IF NOT EXISTS access_ingress AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS src, NULL::VARCHAR AS dst, NULL::VARCHAR AS src_namespace,
       NULL::VARCHAR AS dst_namespace, NULL::VARCHAR AS dst_workload, NULL::VARCHAR AS dst_kind,
       NULL::VARCHAR AS external, NULL::VARCHAR AS conn, NULL::VARCHAR AS admitted_by, NULL::VARCHAR AS declared,
       NULL::VARCHAR AS declared_in, NULL::VARCHAR AS allowed_by, NULL::VARCHAR AS location, NULL::VARCHAR AS source,
       NULL::VARCHAR AS run_id, NULL::VARCHAR AS artifact_sha256, NULL::TIMESTAMPTZ AS collected_at
WHERE false;

-- What the current analysis does not model (parts of Cilium and Calico policies: L7 rules, DNS names, ...) on pairs
-- into workloads of regulated namespaces (dst NULL: every destination; src NULL: every source).
CREATE VIEW access_unmodelled AS
SELECT w.cluster, w.namespace, w.kind, w.workload, w.id, u.src, u.policy_kind, u.policy_name,
       u.policy_kind || ' ' || coalesce(u.policy_namespace || '/', '') || u.policy_name AS policy, u.why,
       w.location, u.source, u.run_id, u.artifact_sha256, u.collected_at
FROM reachability_unmodelled u
JOIN analysed_clusters USING (cluster, run_id)
JOIN access_workloads w ON w.cluster = u.cluster AND (u.dst = w.id OR u.dst IS NULL);
CREATE TEMP VIEW IF NOT EXISTS access_unmodelled AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS namespace, NULL::VARCHAR AS kind, NULL::VARCHAR AS workload,
       NULL::VARCHAR AS id, NULL::VARCHAR AS src, NULL::VARCHAR AS policy_kind, NULL::VARCHAR AS policy_name,
       NULL::VARCHAR AS policy, NULL::VARCHAR AS why, NULL::VARCHAR AS location, NULL::VARCHAR AS source,
       NULL::VARCHAR AS run_id, NULL::VARCHAR AS artifact_sha256, NULL::TIMESTAMPTZ AS collected_at
WHERE false;

-- Regulated namespaces whose cluster has no reachability analysis of its current inventory; those of an analysed
-- cluster whose admin policy kinds were not all listed (forbidden or never listed; a kind whose CRD is absent has no
-- objects), since such a policy may open connections before any NetworkPolicy applies; each ClusterNetworkPolicy
-- (the admin policies' successor, which the analysis does not evaluate) beside each regulated namespace of its
-- cluster; and the objects the analysis left out.
CREATE VIEW access_unanalysed AS
SELECT n.cluster, n.namespace, 'Namespace/' || n.namespace AS object,
       'no reachability analysis of the current Kubernetes inventory of cluster ' || n.cluster
         || ': run `defensible collect analysis`' AS finding,
       n.location, n.source, n.run_id, n.artifact_sha256, n.collected_at
FROM regulated_namespaces n
WHERE n.cluster NOT IN (SELECT cluster FROM analysed_clusters)
UNION ALL
SELECT n.cluster, n.namespace, 'Namespace/' || n.namespace,
       'the ' || k.kind || ' objects of cluster ' || n.cluster
         || CASE WHEN i.kind IS NULL THEN ' were never listed' ELSE ' could not be listed (' || i.reason || ')' END
         || ': the reachability analysis may miss policies that open connections; list them with `defensible collect '
         || 'kubernetes` (the kind served and readable) and run `defensible collect analysis`',
       n.location, n.source, n.run_id, n.artifact_sha256, n.collected_at
FROM regulated_namespaces n
JOIN analysed_clusters USING (cluster)
CROSS JOIN (VALUES ('AdminNetworkPolicy'), ('BaselineAdminNetworkPolicy'), ('ClusterNetworkPolicy')) AS k(kind)
LEFT JOIN k8s_inventory_current i ON i.cluster = n.cluster AND i.kind = k.kind
WHERE i.kind IS NULL OR (i.status <> 'collected' AND i.reason IS DISTINCT FROM 'crd-absent')
UNION ALL
SELECT n.cluster, n.namespace, 'ClusterNetworkPolicy/' || p.name,
       'ClusterNetworkPolicy ' || p.name || ' (tier ' || coalesce(p.spec->>'tier', '?') || ') is not analysed: its '
         || 'Accept, Deny and Pass rules decide before (Admin tier) or after (Baseline tier) the NetworkPolicies, so '
         || 'the connections into namespace ' || n.namespace || ' are neither proven allowed nor denied',
       p.location, p.source, p.run_id, p.artifact_sha256, p.collected_at
FROM regulated_namespaces n
JOIN analysed_clusters USING (cluster)
JOIN k8s_current p ON p.cluster = n.cluster AND p.kind = 'ClusterNetworkPolicy'
UNION ALL
SELECT cluster, namespace, object, finding, location, source, run_id, artifact_sha256, collected_at
FROM analysis_errors_current
WHERE analysis = 'reachability';

-- public-exposure-controlled: every entry point, and whether it is public ------------------------------------------
-- Entry points (docs/k8s-networking-pack.md, "Entry points"): Services of type LoadBalancer, the node ports of NodePort
-- Services and of LoadBalancer Services that allocate them, Service externalIPs, Gateway API Gateways, Ingresses,
-- Istio's own Gateways (kind key Gateway.networking.istio.io) and the workloads that publish hostPorts or run in the
-- host network. "Public" is decided from evidence (entry_evidence): an entry point is public when some evidence says
-- so, or when none says it is internal; evidence of both is a contradiction, itself a gap.

-- Whether an address is private: RFC 1918, RFC 6598 (shared), loopback, link-local, IPv6 ULA (fc00::/7), IPv6
-- link-local and loopback; a load-balancer hostname is private when it starts with "internal-" (AWS names internal
-- ELBs so). NULL: a hostname that says neither.
CREATE OR REPLACE TEMP MACRO address_private(a) AS
    CASE WHEN regexp_full_match(a, '[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}') THEN
              split_part(a, '.', 1) IN ('10', '127')
              OR (split_part(a, '.', 1) = '172' AND TRY_CAST(split_part(a, '.', 2) AS INTEGER) BETWEEN 16 AND 31)
              OR (split_part(a, '.', 1) = '192' AND split_part(a, '.', 2) = '168')
              OR (split_part(a, '.', 1) = '100' AND TRY_CAST(split_part(a, '.', 2) AS INTEGER) BETWEEN 64 AND 127)
              OR (split_part(a, '.', 1) = '169' AND split_part(a, '.', 2) = '254')
         WHEN contains(a, ':') THEN regexp_matches(lower(a), '^(f[cd][0-9a-f]{2}:|fe[89ab][0-9a-f]:|::1$)')
         WHEN starts_with(lower(a), 'internal-') THEN true
    END;

-- The scheme a load balancer's annotations ask of the major clouds' controllers: 'internet-facing', 'internal' or
-- NULL (none: the provider's default, internet-facing on AWS, GCP and Azure). An internet-facing marker wins.
CREATE OR REPLACE TEMP MACRO lb_scheme(ann) AS
    CASE WHEN lower(ann->>'service.beta.kubernetes.io/aws-load-balancer-scheme') = 'internet-facing'
              OR lower(ann->>'alb.ingress.kubernetes.io/scheme') = 'internet-facing'
              OR lower(ann->>'service.kubernetes.io/ibm-load-balancer-cloud-provider-ip-type') = 'public'
              OR lower(ann->>'service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type') = 'internet'
              THEN 'internet-facing'
         WHEN lower(ann->>'service.beta.kubernetes.io/aws-load-balancer-scheme') = 'internal'
              OR coalesce(lower(ann->>'service.beta.kubernetes.io/aws-load-balancer-internal'), 'false')
                 NOT IN ('false', '')
              OR lower(ann->>'alb.ingress.kubernetes.io/scheme') = 'internal'
              OR lower(ann->>'networking.gke.io/load-balancer-type') = 'internal'
              OR lower(ann->>'cloud.google.com/load-balancer-type') = 'internal'
              OR lower(ann->>'service.beta.kubernetes.io/azure-load-balancer-internal') = 'true'
              OR lower(ann->>'appgw.ingress.kubernetes.io/use-private-ip') = 'true'
              OR lower(ann->>'service.beta.kubernetes.io/oci-load-balancer-internal') = 'true'
              OR lower(ann->>'oci-network-load-balancer.oraclecloud.com/internal') = 'true'
              OR lower(ann->>'service.beta.kubernetes.io/openstack-internal-load-balancer') = 'true'
              OR lower(ann->>'service.kubernetes.io/ibm-load-balancer-cloud-provider-ip-type') = 'private'
              OR lower(ann->>'service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type') = 'intranet'
              THEN 'internal'
    END;

-- Whether a label selector (JSON with matchLabels) selects these labels; an empty or absent selector selects nothing.
CREATE OR REPLACE TEMP MACRO selects_some(match_labels, labels) AS
    coalesce(len(json_keys(match_labels)), 0) > 0 AND coalesce(k8s_selects(match_labels, labels), false);

-- The objects of the inventory one of whose ownerReferences names a workload controller of their namespace in the
-- inventory, found by equality: a join, not a scan of the namespace per object. An owner of another kind (a Gateway
-- that owns the Deployment generated for it, an operator's custom resource) has no pod template: what it owns is
-- the top workload.
CREATE VIEW k8s_owned AS
SELECT DISTINCT w.cluster, w.namespace, w.kind, w.name
FROM (SELECT cluster, namespace, kind, name, unnest(CAST(owner_references AS JSON[])) AS ref
      FROM k8s_current WHERE owner_references IS NOT NULL) w
JOIN k8s_current o
  ON o.cluster = w.cluster AND o.namespace = w.namespace AND o.kind = w.ref->>'kind' AND o.name = w.ref->>'name'
WHERE o.kind IN ('Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'CronJob',
                 'Rollout');

-- The pod templates of the inventory's top workloads (Pods without an owner in the inventory, controllers, Argo
-- Rollouts: spec.template as a Deployment's).
CREATE VIEW pod_templates AS
SELECT w.cluster, w.namespace, w.kind, w.name,
       CASE w.kind WHEN 'Pod' THEN w.labels
                   WHEN 'CronJob' THEN w.spec->'jobTemplate'->'spec'->'template'->'metadata'->'labels'
                   ELSE w.spec->'template'->'metadata'->'labels' END AS pod_labels,
       CASE w.kind WHEN 'Pod' THEN w.spec
                   WHEN 'CronJob' THEN w.spec->'jobTemplate'->'spec'->'template'->'spec'
                   ELSE w.spec->'template'->'spec' END AS pod_spec,
       w.location, w.source, w.run_id, w.artifact_sha256, w.collected_at
FROM k8s_current w
WHERE w.kind IN ('Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job',
                 'CronJob', 'Rollout')
  AND NOT EXISTS (SELECT 1 FROM k8s_owned o  -- an owner of the same namespace is in the inventory
                  WHERE o.cluster = w.cluster AND o.namespace = w.namespace AND o.kind = w.kind AND o.name = w.name);

-- Service entry points: the load balancer, the node ports, the externalIPs of each Service that has them.
CREATE VIEW service_entries AS
SELECT s.cluster, s.namespace, s.name, e.entry, s.spec->>'type' AS type, s.annotations, s.labels, s.spec, s.status,
       array_to_string(list_transform(CAST(coalesce(s.spec->'ports', '[]') AS JSON[]),
                                      lambda p: coalesce(p->>'protocol', 'TCP') || ' ' || coalesce(p->>'port', '?')
                                                || CASE WHEN e.entry = 'NodePort' THEN
                                                   ' (node port ' || coalesce(p->>'nodePort', 'allocated') || ')'
                                                   ELSE '' END), ', ') AS ports,
       s.location, s.source, s.run_id, s.artifact_sha256, s.collected_at
FROM k8s_current s, (VALUES ('LoadBalancer'), ('NodePort'), ('externalIPs')) e(entry)
WHERE s.kind = 'Service'
  AND ((e.entry = 'LoadBalancer' AND (s.spec->>'type') = 'LoadBalancer')
       OR (e.entry = 'NodePort' AND ((s.spec->>'type') = 'NodePort'
                                     OR ((s.spec->>'type') = 'LoadBalancer'
                                         AND coalesce(s.spec->>'allocateLoadBalancerNodePorts', 'true') <> 'false')))
       OR (e.entry = 'externalIPs' AND coalesce(json_array_length(s.spec->'externalIPs'), 0) > 0));

-- The Gateways a Service is the entry point of: a Gateway API Gateway of its namespace that owns it or that it is
-- labelled for (gateway.networking.k8s.io/gateway-name, istio.io/gateway-name), unless it selects a pod template
-- that is not that Gateway's (not labelled with its name): then its traffic goes elsewhere, whatever its labels
-- say; or an Istio Gateway whose selector selects a pod template the Service selects.
CREATE VIEW service_fronts AS
SELECT s.cluster, s.namespace, s.name AS service, 'Gateway' AS front_kind, g.namespace AS front_namespace,
       g.name AS front_name
FROM k8s_current s
JOIN k8s_current g ON g.cluster = s.cluster AND g.kind = 'Gateway' AND g.namespace = s.namespace
WHERE s.kind = 'Service'
  AND ((s.labels->>'gateway.networking.k8s.io/gateway-name') = g.name OR (s.labels->>'istio.io/gateway-name') = g.name
       OR list_contains(list_transform(CAST(coalesce(s.owner_references, '[]') AS JSON[]),
                                       lambda r: split_part(r->>'apiVersion', '/', 1) || ' ' || (r->>'kind') || ' '
                                                 || (r->>'name')),
                        'gateway.networking.k8s.io Gateway ' || g.name))
  AND NOT EXISTS (SELECT 1 FROM pod_templates t
                  WHERE t.cluster = s.cluster AND t.namespace = s.namespace
                    AND selects_some(s.spec->'selector', t.pod_labels)
                    AND coalesce(t.pod_labels->>'gateway.networking.k8s.io/gateway-name',
                                 t.pod_labels->>'istio.io/gateway-name', '') <> g.name)
UNION
SELECT s.cluster, s.namespace, s.name, 'Gateway.networking.istio.io', g.namespace, g.name
FROM k8s_current s
JOIN pod_templates t ON t.cluster = s.cluster AND t.namespace = s.namespace
JOIN k8s_current g ON g.cluster = s.cluster AND g.kind = 'Gateway.networking.istio.io'
WHERE s.kind = 'Service' AND selects_some(s.spec->'selector', t.pod_labels)
  AND selects_some(g.spec->'selector', t.pod_labels);

-- Workloads that publish ports on their node's addresses: hostPort, or the host network (hostNetwork: true).
CREATE VIEW host_entries AS
SELECT cluster, namespace, kind, name,
       coalesce((pod_spec->>'hostNetwork') = 'true', false) AS host_network,
       array_to_string(list_transform(list_filter(
           CAST(coalesce(json_extract(pod_spec, '$.containers[*].ports[*]'), '[]') AS JSON[])
             || CAST(coalesce(json_extract(pod_spec, '$.initContainers[*].ports[*]'), '[]') AS JSON[]),
           lambda p: (p->>'hostPort') IS NOT NULL
                     OR coalesce((pod_spec->>'hostNetwork') = 'true', false)),
           lambda p: coalesce(p->>'protocol', 'TCP') || ' ' || coalesce(p->>'hostPort', p->>'containerPort')), ', ')
         AS ports,
       len(json_extract(pod_spec, '$.containers[*].ports[*].hostPort'))
         + len(json_extract(pod_spec, '$.initContainers[*].ports[*].hostPort')) > 0 AS host_port,
       location, source, run_id, artifact_sha256, collected_at
FROM pod_templates
WHERE (pod_spec->>'hostNetwork') = 'true'
   OR len(json_extract(pod_spec, '$.containers[*].ports[*].hostPort'))
      + len(json_extract(pod_spec, '$.initContainers[*].ports[*].hostPort')) > 0;

-- The IngressClasses of each Ingress: spec.ingressClassName, else the kubernetes.io/ingress.class annotation, else
-- every IngressClass annotated ingressclass.kubernetes.io/is-default-class=true (the class Kubernetes defaults to).
CREATE VIEW ingress_classes AS
SELECT cluster, namespace, name AS ingress,
       coalesce(spec->>'ingressClassName', annotations->>'kubernetes.io/ingress.class') AS class
FROM k8s_current
WHERE kind = 'Ingress' AND coalesce(spec->>'ingressClassName', annotations->>'kubernetes.io/ingress.class') IS NOT NULL
UNION ALL
SELECT i.cluster, i.namespace, i.name, c.name
FROM k8s_current i
JOIN k8s_current c
  ON c.cluster = i.cluster AND c.kind = 'IngressClass'
     AND (c.annotations->>'ingressclass.kubernetes.io/is-default-class') = 'true'
WHERE i.kind = 'Ingress'
  AND coalesce(i.spec->>'ingressClassName', i.annotations->>'kubernetes.io/ingress.class') IS NULL;

-- Ingresses whose controller also serves their TLS hosts over plaintext HTTP, by its documented default or as the
-- Ingress asks (`plaintext`: why): ingress-nginx redirects HTTP to HTTPS for TLS hosts unless the Ingress sets
-- nginx.ingress.kubernetes.io/ssl-redirect "false" (and not force-ssl-redirect "true"); the AWS Load Balancer
-- Controller serves an HTTP listener of alb.ingress.kubernetes.io/listen-ports unless alb.ingress.kubernetes.io/
-- ssl-redirect redirects it; the GKE Ingress controller (class gce, gce-internal) serves HTTP unless
-- kubernetes.io/ingress.allow-http is "false". Other controllers' defaults are not modelled.
CREATE VIEW ingress_plaintext_http AS
SELECT i.cluster, i.namespace, i.name AS ingress,
       string_agg(DISTINCT CASE
         WHEN c.spec->>'controller' = 'k8s.io/ingress-nginx'
              AND lower(i.annotations->>'nginx.ingress.kubernetes.io/ssl-redirect') = 'false'
              AND coalesce(lower(i.annotations->>'nginx.ingress.kubernetes.io/force-ssl-redirect'), '') <> 'true'
           THEN 'annotation nginx.ingress.kubernetes.io/ssl-redirect=false: ingress-nginx (IngressClass ' || k.class
                || ') serves it on HTTP too, without redirecting to HTTPS'
         WHEN c.spec->>'controller' = 'ingress.k8s.aws/alb'
              AND contains(coalesce(i.annotations->>'alb.ingress.kubernetes.io/listen-ports', ''), '"HTTP"')
              AND (i.annotations->>'alb.ingress.kubernetes.io/ssl-redirect') IS NULL
           THEN 'annotation alb.ingress.kubernetes.io/listen-ports opens an HTTP listener and no '
                || 'alb.ingress.kubernetes.io/ssl-redirect redirects it (IngressClass ' || k.class || ')'
         WHEN (c.spec->>'controller' = 'k8s.io/ingress-gce' OR k.class IN ('gce', 'gce-internal'))
              AND coalesce(lower(i.annotations->>'kubernetes.io/ingress.allow-http'), 'true') <> 'false'
           THEN 'the GKE Ingress controller (class ' || k.class || ') serves HTTP too unless annotation '
                || 'kubernetes.io/ingress.allow-http is "false"'
       END, '; ') AS plaintext
FROM k8s_current i
JOIN ingress_classes k ON k.cluster = i.cluster AND k.namespace = i.namespace AND k.ingress = i.name
LEFT JOIN k8s_current c ON c.cluster = i.cluster AND c.kind = 'IngressClass' AND c.name = k.class
WHERE i.kind = 'Ingress'
GROUP BY i.cluster, i.namespace, i.name;

-- The pod templates that serve each Ingress, as ingress controllers are configured: for each class of the Ingress, a
-- template with a container argument whose value is the class's spec.controller (ingress-nginx
-- --controller-class=k8s.io/ingress-nginx) or an ingress-class option naming the class (--ingress-class=nginx,
-- --ingress.class, --ingress-class-name, Traefik --providers.kubernetesingress.ingressclass); for an Ingress without
-- any class, a template started with --watch-ingress-without-class=true. The store keeps only these arguments of a
-- container (collector/redaction.py, KEPT_ARGUMENT); `settings` holds those of every container of the template.
CREATE VIEW ingress_controllers AS
WITH templates AS (
    SELECT cluster, namespace, kind, name, pod_labels,
           json_extract_string(pod_spec, '$.containers[*].args[*]') AS settings
    FROM pod_templates
    WHERE len(json_extract_string(pod_spec, '$.containers[*].args[*]')) > 0
)
SELECT i.cluster, i.namespace, i.ingress, t.namespace AS controller_namespace, t.kind, t.name, t.pod_labels,
       t.settings, 'the controller of IngressClass ' || i.class AS role
FROM ingress_classes i
JOIN k8s_current c ON c.cluster = i.cluster AND c.kind = 'IngressClass' AND c.name = i.class
JOIN templates t ON t.cluster = c.cluster
WHERE list_bool_or(list_transform(t.settings,
        lambda a: regexp_extract(a, '^--([^=]*)=(.*)$', 2) = (c.spec->>'controller')
                  OR (regexp_matches(lower(regexp_extract(a, '^--([^=]*)=', 1)), 'ingress[-._]?class')
                      AND regexp_extract(a, '^--([^=]*)=(.*)$', 2) = c.name)))
UNION ALL
SELECT i.cluster, i.namespace, i.name, t.namespace, t.kind, t.name, t.pod_labels, t.settings,
       'a controller of the Ingresses without a class (--watch-ingress-without-class=true)'
FROM k8s_current i
JOIN templates t ON t.cluster = i.cluster AND list_contains(t.settings, '--watch-ingress-without-class=true')
WHERE i.kind = 'Ingress'
  AND NOT EXISTS (SELECT 1 FROM ingress_classes c
                  WHERE c.cluster = i.cluster AND c.namespace = i.namespace AND c.ingress = i.name);

-- The ingress controllers' Services in front of each Ingress, linked from evidence as the controllers link them: the
-- Ingress's status shows the Service's load-balancer address (ingress-nginx --publish-service, AWS Load Balancer
-- Controller), or the Service runs a controller serving the Ingress: it selects the controller's pod template
-- (same namespace) or the controller publishes it (--publish-service=namespace/name).
CREATE VIEW ingress_services AS
WITH service_addresses AS (
    SELECT s.cluster, s.namespace, s.name, coalesce(a.value->>'ip', a.value->>'hostname') AS address
    FROM k8s_current s, json_each(coalesce(s.status->'loadBalancer'->'ingress', '[]')) a
    WHERE s.kind = 'Service' AND (s.spec->>'type') = 'LoadBalancer'
),
ingress_addresses AS (
    SELECT i.cluster, i.namespace, i.name, coalesce(a.value->>'ip', a.value->>'hostname') AS address
    FROM k8s_current i, json_each(coalesce(i.status->'loadBalancer'->'ingress', '[]')) a
    WHERE i.kind = 'Ingress'
)
SELECT s.cluster, s.namespace, s.name AS service, i.namespace AS ingress_namespace, i.name AS ingress,
       'its load-balancer address ' || s.address || ' is the Ingress''s status address' AS link
FROM service_addresses s
JOIN ingress_addresses i ON i.cluster = s.cluster AND i.address = s.address
UNION
SELECT s.cluster, s.namespace, s.name, t.namespace, t.ingress,
       CASE WHEN selects_some(s.spec->'selector', t.pod_labels) THEN 'it selects ' ELSE 'it is published by ' END
         || t.kind || ' ' || t.controller_namespace || '/' || t.name || ', ' || t.role
FROM ingress_controllers t
JOIN k8s_current s ON s.cluster = t.cluster AND s.kind = 'Service'
WHERE (s.namespace = t.controller_namespace AND selects_some(s.spec->'selector', t.pod_labels))
   OR list_contains(list_transform(t.settings, lambda a: regexp_extract(a, '^--publish-service=(.*)$', 1)),
                    s.namespace || '/' || s.name);

-- Ingresses that share a load balancer with an Ingress carrying a scheme annotation (its `scheme`): the same status
-- address, or the same AWS Load Balancer Controller group (alb.ingress.kubernetes.io/group.name: one ALB for the
-- group, whose scheme any member's annotation sets).
CREATE VIEW ingress_peers AS
WITH shares AS (
    SELECT i.cluster, i.namespace, i.name, i.annotations,
           'status address ' || coalesce(a.value->>'ip', a.value->>'hostname') AS shared
    FROM k8s_current i, json_each(coalesce(i.status->'loadBalancer'->'ingress', '[]')) a
    WHERE i.kind = 'Ingress'
    UNION
    SELECT cluster, namespace, name, annotations, 'ALB group ' || (annotations->>'alb.ingress.kubernetes.io/group.name')
    FROM k8s_current
    WHERE kind = 'Ingress' AND (annotations->>'alb.ingress.kubernetes.io/group.name') IS NOT NULL
)
SELECT a.cluster, a.namespace, a.name, b.namespace AS peer_namespace, b.name AS peer, a.shared,
       lb_scheme(b.annotations) AS scheme
FROM shares a
JOIN shares b
  ON b.cluster = a.cluster AND b.shared = a.shared AND (b.namespace, b.name) <> (a.namespace, a.name)
     AND lb_scheme(b.annotations) IS NOT NULL;

-- What says an entry point is public or internal: one row per piece of evidence.
CREATE VIEW entry_evidence AS
WITH addresses AS (
    SELECT cluster, 'Service' AS kind, namespace, name, 'LoadBalancer' AS entry, 'status address ' AS what,
           coalesce(i.value->>'ip', i.value->>'hostname') AS address
    FROM service_entries, json_each(coalesce(status->'loadBalancer'->'ingress', '[]')) i
    WHERE entry = 'LoadBalancer'
    UNION ALL
    SELECT cluster, 'Service', namespace, name, 'externalIPs', 'external IP ', x.value->>'$'
    FROM service_entries, json_each(spec->'externalIPs') x
    WHERE entry = 'externalIPs'
    UNION ALL
    SELECT cluster, kind, namespace, name, 'Gateway', 'status address ', a.value->>'value'
    FROM k8s_current, json_each(coalesce(status->'addresses', '[]')) a
    WHERE kind = 'Gateway'
    UNION ALL
    SELECT cluster, kind, namespace, name, 'Gateway', 'requested address ', a.value->>'value'
    FROM k8s_current, json_each(coalesce(spec->'addresses', '[]')) a
    WHERE kind = 'Gateway'
    UNION ALL
    SELECT cluster, kind, namespace, name, 'Ingress', 'status address ',
           coalesce(i.value->>'ip', i.value->>'hostname')
    FROM k8s_current, json_each(coalesce(status->'loadBalancer'->'ingress', '[]')) i
    WHERE kind = 'Ingress'
),
own AS (
    SELECT cluster, kind, namespace, name, entry,
           CASE WHEN address_private(address) THEN 'internal' ELSE 'public' END AS says,
           what || address || CASE WHEN address_private(address) THEN ' is private' ELSE ' is public' END AS why
    FROM addresses
    WHERE address_private(address) IS NOT NULL
    UNION ALL
    SELECT cluster, 'Service', namespace, name, entry,
           CASE lb_scheme(annotations) WHEN 'internal' THEN 'internal' ELSE 'public' END,
           lb_scheme(annotations) || ' load-balancer annotation'
    FROM service_entries
    WHERE entry = 'LoadBalancer' AND lb_scheme(annotations) IS NOT NULL
    UNION ALL
    SELECT cluster, 'Service', namespace, name, entry, 'public',
           'node ports open on every node (no evidence that the nodes are unreachable from outside)'
    FROM service_entries
    WHERE entry = 'NodePort'
    UNION ALL
    SELECT cluster, kind, namespace, name, CASE kind WHEN 'Gateway' THEN 'Gateway' ELSE 'Istio Gateway' END,
           'internal', 'labelled defensible.io/exposure=internal'
    FROM k8s_current
    WHERE kind IN ('Gateway', 'Gateway.networking.istio.io') AND (labels->>'defensible.io/exposure') = 'internal'
    UNION ALL
    SELECT cluster, kind, namespace, name, 'Gateway',
           CASE lb_scheme(spec->'infrastructure'->'annotations') WHEN 'internal' THEN 'internal' ELSE 'public' END,
           lb_scheme(spec->'infrastructure'->'annotations') || ' load-balancer annotation in spec.infrastructure'
    FROM k8s_current
    WHERE kind = 'Gateway' AND lb_scheme(spec->'infrastructure'->'annotations') IS NOT NULL
    UNION ALL
    SELECT i.cluster, 'Ingress', i.namespace, i.name, 'Ingress',
           CASE lb_scheme(i.annotations) WHEN 'internal' THEN 'internal' ELSE 'public' END,
           lb_scheme(i.annotations) || ' load-balancer annotation'
    FROM k8s_current i
    WHERE i.kind = 'Ingress' AND lb_scheme(i.annotations) IS NOT NULL
    UNION ALL
    SELECT cluster, 'Ingress', namespace, name, 'Ingress',
           CASE scheme WHEN 'internal' THEN 'internal' ELSE 'public' END,
           scheme || ' load-balancer annotation of Ingress ' || peer_namespace || '/' || peer
             || ', which shares its load balancer (' || shared || ')'
    FROM ingress_peers
    UNION ALL
    SELECT i.cluster, 'Ingress', i.namespace, i.name, 'Ingress', 'internal',
           CASE WHEN (i.labels->>'defensible.io/exposure') = 'internal' THEN 'labelled defensible.io/exposure=internal'
                ELSE 'ingress class gce-internal' END
    FROM k8s_current i
    WHERE i.kind = 'Ingress'
      AND ((i.labels->>'defensible.io/exposure') = 'internal'
           OR coalesce(i.spec->>'ingressClassName', i.annotations->>'kubernetes.io/ingress.class') = 'gce-internal')
    UNION ALL
    SELECT i.cluster, 'Ingress', i.namespace, i.ingress, 'Ingress', 'internal',
           'IngressClass ' || c.name || ' labelled defensible.io/exposure=internal'
    FROM ingress_classes i
    JOIN k8s_current c ON c.cluster = i.cluster AND c.kind = 'IngressClass' AND c.name = i.class
    WHERE (c.labels->>'defensible.io/exposure') = 'internal'
    UNION ALL
    -- an ingress controller that publishes hostPorts or runs in the host network serves on every node's address
    SELECT t.cluster, 'Ingress', t.namespace, t.ingress, 'Ingress', 'public',
           h.kind || ' ' || h.namespace || '/' || h.name || ', ' || t.role || ', '
             || CASE WHEN h.host_port THEN 'publishes hostPort(s) ' || h.ports ELSE 'runs in the host network' END
             || ' on its nodes (no evidence that the nodes are unreachable from outside)'
    FROM ingress_controllers t
    JOIN host_entries h
      ON h.cluster = t.cluster AND h.namespace = t.controller_namespace AND h.kind = t.kind AND h.name = t.name
    UNION ALL
    -- so does a Gateway whose proxies do: the pod templates labelled with its name in its namespace (Gateway API), or
    -- those its selector selects in any namespace (Istio Gateway)
    SELECT g.cluster, g.kind, g.namespace, g.name, CASE g.kind WHEN 'Gateway' THEN 'Gateway' ELSE 'Istio Gateway' END,
           'public',
           h.kind || ' ' || h.namespace || '/' || h.name || ', its proxies, '
             || CASE WHEN h.host_port THEN 'publishes hostPort(s) ' || h.ports ELSE 'runs in the host network' END
             || ' on its nodes (no evidence that the nodes are unreachable from outside)'
    FROM k8s_current g
    JOIN pod_templates t ON t.cluster = g.cluster
    JOIN host_entries h ON h.cluster = t.cluster AND h.namespace = t.namespace AND h.kind = t.kind AND h.name = t.name
    WHERE (g.kind = 'Gateway.networking.istio.io' AND selects_some(g.spec->'selector', t.pod_labels))
       OR (g.kind = 'Gateway' AND t.namespace = g.namespace
           AND coalesce(t.pod_labels->>'gateway.networking.k8s.io/gateway-name',
                        t.pod_labels->>'istio.io/gateway-name') = g.name)
)
SELECT * FROM own
UNION ALL
-- A Gateway is as public as the Services that are its entry points, an Ingress as its controller's Services: their
-- evidence, and for a load balancer that no evidence decides, the default scheme (internet-facing).
SELECT f.cluster, f.front_kind, f.front_namespace, f.front_name,
       CASE f.front_kind WHEN 'Gateway' THEN 'Gateway' WHEN 'Ingress' THEN 'Ingress' ELSE 'Istio Gateway' END,
       coalesce(o.says, 'public'),
       'Service ' || f.namespace || '/' || f.service || ' (' || e.entry || coalesce('; ' || f.link, '') || '): '
         || coalesce(o.why, 'no evidence of an internal load balancer (the default scheme is internet-facing)')
FROM (SELECT cluster, namespace, service, front_kind, front_namespace, front_name, NULL AS link FROM service_fronts
      UNION ALL
      SELECT cluster, namespace, service, 'Ingress', ingress_namespace, ingress, link FROM ingress_services) f
JOIN service_entries e ON e.cluster = f.cluster AND e.namespace = f.namespace AND e.name = f.service
LEFT JOIN own o
  ON o.cluster = f.cluster AND o.kind = 'Service' AND o.namespace = f.namespace AND o.name = f.service
     AND o.entry = e.entry
WHERE o.says IS NOT NULL
   OR (e.entry = 'LoadBalancer'
       AND NOT EXISTS (SELECT 1 FROM own x
                       WHERE x.cluster = e.cluster AND x.kind = 'Service' AND x.namespace = e.namespace
                         AND x.name = e.name AND x.entry = 'LoadBalancer'));

-- Every entry point with its decision: public (some evidence says so, or none says internal), contradicted (evidence
-- both ways), what says public and internal, and, for a Service, the Gateways it is the entry point of and the
-- Ingresses it is the ingress controller's entry point for.
CREATE VIEW entry_points AS
WITH objects AS (
    SELECT cluster, 'Service' AS kind, namespace, name, entry, ports AS detail,
           location, source, run_id, artifact_sha256, collected_at
    FROM service_entries
    UNION ALL
    SELECT cluster, kind, namespace, name, 'Gateway',
           array_to_string(list_transform(CAST(coalesce(spec->'listeners', '[]') AS JSON[]),
                                          lambda l: (l->>'name') || ' ' || coalesce(l->>'protocol', '?') || ' '
                                                    || coalesce(l->>'port', '?')), ', '),
           location, source, run_id, artifact_sha256, collected_at
    FROM k8s_current WHERE kind = 'Gateway'
    UNION ALL
    SELECT cluster, kind, namespace, name, 'Istio Gateway',
           array_to_string(list_transform(CAST(coalesce(spec->'servers', '[]') AS JSON[]),
                                          lambda s: coalesce(s->'port'->>'protocol', '?') || ' '
                                                    || coalesce(s->'port'->>'number', '?') || ' for '
                                                    || array_to_string(CAST(coalesce(s->'hosts', '[]') AS VARCHAR[]),
                                                                       ' ')), ', '),
           location, source, run_id, artifact_sha256, collected_at
    FROM k8s_current WHERE kind = 'Gateway.networking.istio.io'
    UNION ALL
    SELECT i.cluster, 'Ingress', i.namespace, i.name, 'Ingress',
           'class ' || coalesce(i.spec->>'ingressClassName', i.annotations->>'kubernetes.io/ingress.class',
                                (SELECT min(c.name) FROM k8s_current c
                                 WHERE c.cluster = i.cluster AND c.kind = 'IngressClass'
                                   AND (c.annotations->>'ingressclass.kubernetes.io/is-default-class') = 'true'),
                                'none (the controller''s default)'),
           i.location, i.source, i.run_id, i.artifact_sha256, i.collected_at
    FROM k8s_current i WHERE i.kind = 'Ingress'
),
decided AS (
    SELECT cluster, kind, namespace, name, entry,
           string_agg(DISTINCT why, '; ' ORDER BY why) FILTER (WHERE says = 'public') AS public_by,
           string_agg(DISTINCT why, '; ' ORDER BY why) FILTER (WHERE says = 'internal') AS internal_by
    FROM entry_evidence
    GROUP BY ALL
),
fronts AS (
    SELECT cluster, namespace, service AS name,
           string_agg(front_kind || ' ' || front_namespace || '/' || front_name, ', '
                      ORDER BY front_kind, front_namespace, front_name) AS fronts
    FROM service_fronts
    GROUP BY ALL
),
ingresses AS (
    SELECT cluster, namespace, service AS name,
           string_agg(DISTINCT 'Ingress ' || ingress_namespace || '/' || ingress, ', '
                      ORDER BY 'Ingress ' || ingress_namespace || '/' || ingress) AS ingresses
    FROM ingress_services
    GROUP BY ALL
)
SELECT o.cluster, o.kind, o.namespace, o.name, o.entry, o.detail,
       d.public_by IS NOT NULL OR d.internal_by IS NULL AS public,
       d.public_by IS NOT NULL AND d.internal_by IS NOT NULL AS contradicted,
       coalesce(d.public_by, CASE WHEN d.internal_by IS NULL THEN
                CASE o.entry WHEN 'LoadBalancer' THEN 'no evidence of an internal load balancer (the default scheme '
                                                      || 'is internet-facing)'
                             ELSE 'no evidence that it is internal' END END) AS public_by,
       d.internal_by, CASE WHEN o.kind = 'Service' THEN f.fronts END AS fronts,
       CASE WHEN o.kind = 'Service' THEN g.ingresses END AS ingresses,
       o.location, o.source, o.run_id, o.artifact_sha256, o.collected_at
FROM objects o
LEFT JOIN decided d USING (cluster, kind, namespace, name, entry)
LEFT JOIN fronts f ON o.kind = 'Service' AND f.cluster = o.cluster AND f.namespace = o.namespace AND f.name = o.name
LEFT JOIN ingresses g ON o.kind = 'Service' AND g.cluster = o.cluster AND g.namespace = o.namespace AND g.name = o.name;

-- Whether each Gateway API Gateway is public, by the evidence above (not by its label alone).
CREATE VIEW gateway_public AS
SELECT cluster, namespace AS gateway_namespace, name AS gateway, public, contradicted, public_by, internal_by
FROM entry_points
WHERE kind = 'Gateway';

-- Istio Gateway servers, one row per host "namespace/dnsName": the namespace whose VirtualServices may bind to it
-- (`admits`; "*" or no prefix: every namespace, ".": the Gateway's own, "~": none) and the DNS name they must match.
CREATE VIEW istio_gateway_servers AS
SELECT g.cluster, g.namespace, g.name AS gateway, coalesce(s.value->'port'->>'name', 'port '
         || coalesce(s.value->'port'->>'number', '?')) AS server,
       s.value->'port'->>'protocol' AS protocol, TRY_CAST(s.value->'port'->>'number' AS INTEGER) AS port,
       h.value->>'$' AS host,
       CASE WHEN NOT contains(h.value->>'$', '/') OR starts_with(h.value->>'$', '*/') THEN '*'
            WHEN starts_with(h.value->>'$', './') THEN g.namespace
            ELSE split_part(h.value->>'$', '/', 1) END AS admits,
       lower(CASE WHEN contains(h.value->>'$', '/') THEN split_part(h.value->>'$', '/', 2) ELSE h.value->>'$' END)
         AS dns_name,
       (s.value->'tls') IS NOT NULL AS tls,
       g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM k8s_current g, json_each(coalesce(g.spec->'servers', '[]')) s, json_each(coalesce(s.value->'hosts', '[]')) h
WHERE g.kind = 'Gateway.networking.istio.io';

-- Whether two Istio hostnames match (istio pkg/config/host Name.Matches): equal, or a wildcard "*.x" / "*" whose
-- suffix ends the other; two wildcards match when one's suffix ends the other's.
CREATE OR REPLACE TEMP MACRO istio_hosts_match(a, b) AS
    CASE WHEN starts_with(a, '*') AND starts_with(b, '*') THEN suffix(substr(a, 2), substr(b, 2))
                                                               OR suffix(substr(b, 2), substr(a, 2))
         WHEN starts_with(a, '*') THEN suffix(b, substr(a, 2))
         WHEN starts_with(b, '*') THEN suffix(a, substr(b, 2))
         ELSE a = b END;

-- A VirtualService host or destination host as Istio resolves it: a short name (no dot, not a wildcard) is a Service
-- of the VirtualService's namespace (cluster domain cluster.local).
CREATE OR REPLACE TEMP MACRO istio_fqdn(host, namespace) AS
    CASE WHEN contains(host, '.') OR starts_with(host, '*') THEN lower(host)
         ELSE lower(host) || '.' || namespace || '.svc.cluster.local' END;

-- VirtualServices bound to Istio Gateway servers, as istiod binds them: spec.gateways names the Gateway ("ns/name",
-- or "name" in the VirtualService's namespace; "mesh" is the sidecars, not an entry point), the server admits the
-- VirtualService's namespace, one of its hosts matches the server's DNS name, and its exportTo (unset or "*":
-- everywhere, ".": its own namespace, namespace names) makes it visible to the gateway's proxies: to the Gateway's
-- namespace or to a namespace of a pod template its selector selects (either counts).
CREATE VIEW istio_gateway_bindings AS
WITH gateway_proxies AS (
    SELECT g.cluster, g.namespace, g.name, g.namespace AS proxy_namespace
    FROM k8s_current g WHERE g.kind = 'Gateway.networking.istio.io'
    UNION
    SELECT g.cluster, g.namespace, g.name, t.namespace
    FROM k8s_current g
    JOIN pod_templates t ON t.cluster = g.cluster AND selects_some(g.spec->'selector', t.pod_labels)
    WHERE g.kind = 'Gateway.networking.istio.io'
),
refs AS (
    SELECT v.cluster, v.namespace, v.name, v.spec,
           CASE WHEN contains(r.value->>'$', '/') THEN split_part(r.value->>'$', '/', 1) ELSE v.namespace END
             AS gateway_namespace,
           CASE WHEN contains(r.value->>'$', '/') THEN split_part(r.value->>'$', '/', 2) ELSE r.value->>'$' END
             AS gateway,
           v.location, v.source, v.run_id, v.artifact_sha256, v.collected_at
    FROM k8s_current v, json_each(coalesce(v.spec->'gateways', '[]')) r
    WHERE v.kind = 'VirtualService' AND (r.value->>'$') <> 'mesh'
)
SELECT DISTINCT v.cluster, v.namespace, v.name AS virtual_service, s.namespace AS gateway_namespace, s.gateway,
       s.server, s.protocol, array_to_string(CAST(coalesce(v.spec->'hosts', '[]') AS VARCHAR[]), ', ') AS hosts,
       v.spec, v.location, v.source, v.run_id, v.artifact_sha256, v.collected_at
FROM refs v
JOIN istio_gateway_servers s
  ON s.cluster = v.cluster AND s.namespace = v.gateway_namespace AND s.gateway = v.gateway
     AND s.admits IN ('*', v.namespace)
WHERE list_bool_or(list_transform(CAST(coalesce(v.spec->'hosts', '[]') AS VARCHAR[]),
                                  lambda h: istio_hosts_match(istio_fqdn(h, v.namespace), s.dns_name)))
  AND EXISTS (SELECT 1 FROM gateway_proxies p
              WHERE p.cluster = s.cluster AND p.namespace = s.namespace AND p.name = s.gateway
                AND ((v.spec->'exportTo') IS NULL
                     OR list_has_any(CAST(v.spec->'exportTo' AS VARCHAR[]), ['*', p.proxy_namespace])
                     OR (list_contains(CAST(v.spec->'exportTo' AS VARCHAR[]), '.')
                         AND p.proxy_namespace = v.namespace)));

-- The Services each Istio Gateway binding sends traffic to: the destination hosts of its http, tls and tcp routes
-- and of its http mirrors, resolved as Istio does (short names in the VirtualService's namespace; "svc.ns",
-- "svc.ns.svc" and "svc.ns.svc.cluster.local" name Service svc of namespace ns). Other hosts are not Services.
CREATE VIEW istio_gateway_destinations AS
WITH hosts AS (
    SELECT b.*, unnest(coalesce(json_extract_string(b.spec, '$.http[*].route[*].destination.host'), [])
                       || coalesce(json_extract_string(b.spec, '$.tls[*].route[*].destination.host'), [])
                       || coalesce(json_extract_string(b.spec, '$.tcp[*].route[*].destination.host'), [])
                       || coalesce(json_extract_string(b.spec, '$.http[*].mirror.host'), [])
                       || coalesce(json_extract_string(b.spec, '$.http[*].mirrors[*].destination.host'), []))
             AS destination
    FROM istio_gateway_bindings b
)
SELECT DISTINCT cluster, namespace, virtual_service, gateway_namespace, gateway, server, destination,
       split_part(istio_fqdn(destination, namespace), '.', 2) AS service_namespace,
       split_part(istio_fqdn(destination, namespace), '.', 1) AS service,
       location, source, run_id, artifact_sha256, collected_at
FROM hosts
WHERE regexp_full_match(istio_fqdn(destination, namespace), '[^.]+\.[^.]+(\.svc(\.cluster\.local)?)?');

-- The Services each Service sends traffic to: itself, and for an ExternalName Service whose externalName is a
-- Service's cluster DNS name ("svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local", any case, a trailing dot), the
-- Service it is an alias of, followed through chains of aliases (CVE-2021-25740: an alias in one namespace reaches
-- a Service of another without its consent). `via`: the aliases followed, NULL for the Service itself.
CREATE VIEW service_targets AS
WITH RECURSIVE aliases AS (
    SELECT cluster, namespace, name,
           regexp_extract(rtrim(lower(spec->>'externalName'), '.'),
                          '^([^.]+)\.([^.]+)(\.svc(\.cluster\.local)?)?$', ['service', 'namespace']) AS target
    FROM k8s_current
    WHERE kind = 'Service' AND (spec->>'type') = 'ExternalName'
),
targets AS (
    SELECT cluster, namespace, name, namespace AS target_namespace, name AS target, NULL::VARCHAR AS via, 0 AS depth
    FROM k8s_current WHERE kind = 'Service'
    UNION ALL
    SELECT t.cluster, t.namespace, t.name, a.target.namespace, a.target.service,
           coalesce(t.via || ' -> ', '') || 'ExternalName Service ' || a.namespace || '/' || a.name, t.depth + 1
    FROM targets t
    JOIN aliases a ON a.cluster = t.cluster AND a.namespace = t.target_namespace AND a.name = t.target
    WHERE a.target.service <> '' AND t.depth < 8
)
SELECT DISTINCT cluster, namespace, name AS service, target_namespace, target AS target_service, via FROM targets;

-- Services whose destination the inventory does not show, per Service that names them (itself or an ExternalName
-- alias, service_targets): a Service without a selector, other than an ExternalName one, whose endpoints are
-- managed by hand (EndpointSlices, not inventoried, may list any address).
CREATE VIEW service_blind AS
SELECT t.cluster, t.namespace AS backend_namespace, t.service AS backend, s.namespace, s.name AS service, t.via,
       'has no selector (its endpoints are managed by hand and not in the inventory)' AS why
FROM service_targets t
JOIN k8s_current s
  ON s.cluster = t.cluster AND s.kind = 'Service' AND s.namespace = t.target_namespace AND s.name = t.target_service
WHERE coalesce(s.spec->>'type', 'ClusterIP') <> 'ExternalName'
  AND coalesce(len(json_keys(s.spec->'selector')), 0) = 0;

-- Whether a namespace carries the public_access_label.
CREATE VIEW public_access_namespaces AS
SELECT cluster, name AS namespace
FROM k8s_current
WHERE kind = 'Namespace'
  AND (labels->>split_part(getvariable('public_access_label'), '=', 1))
      = split_part(getvariable('public_access_label'), '=', 2);

-- route-conflicts-absent ---------------------------------------------------------------------------------------
-- Listener and route conflicts of analysed clusters (collector/analysis/gateway/conflicts.py), each on the object
-- the spec's precedence does not serve: the route that loses, else the second (the Gateway for listeners).
CREATE VIEW gateway_conflicts_current AS
SELECT c.cluster, c.gateway_namespace, c.gateway, c.listener, c.port, c.reason, c.first, c.second, c.winner,
       c.detail,
       CASE WHEN c.first LIKE 'listener %' THEN 'Gateway ' || c.gateway_namespace || '/' || c.gateway
            WHEN c.winner = c.second THEN c.first ELSE c.second END AS loser,
       c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM gateway_conflicts c
JOIN analysed_clusters USING (cluster, run_id);
CREATE TEMP VIEW IF NOT EXISTS gateway_conflicts_current AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS gateway_namespace, NULL::VARCHAR AS gateway,
       NULL::VARCHAR AS listener, NULL::INTEGER AS port, NULL::VARCHAR AS reason, NULL::VARCHAR AS first,
       NULL::VARCHAR AS second, NULL::VARCHAR AS winner, NULL::VARCHAR AS detail, NULL::VARCHAR AS loser,
       NULL::VARCHAR AS source, NULL::VARCHAR AS run_id, NULL::VARCHAR AS artifact_sha256,
       NULL::TIMESTAMPTZ AS collected_at
WHERE false;

-- Listeners of analysed clusters with the routes accepted on each.
CREATE VIEW listener_routes AS
SELECT s.cluster, s.gateway_namespace, s.gateway, s.listener, s.protocol, s.port, s.hostname, s.attached_routes,
       s.conflicted, s.source, s.run_id, s.artifact_sha256, s.collected_at
FROM gateway_listener_status s
JOIN analysed_clusters USING (cluster, run_id);
CREATE TEMP VIEW IF NOT EXISTS listener_routes AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS gateway_namespace, NULL::VARCHAR AS gateway,
       NULL::VARCHAR AS listener, NULL::VARCHAR AS protocol, NULL::INTEGER AS port, NULL::VARCHAR AS hostname,
       NULL::INTEGER AS attached_routes, NULL::BOOLEAN AS conflicted, NULL::VARCHAR AS source,
       NULL::VARCHAR AS run_id, NULL::VARCHAR AS artifact_sha256, NULL::TIMESTAMPTZ AS collected_at
WHERE false;

-- backend-reencryption of Ingress backends (issue 16) ----------------------------------------------------------
-- The annotation with which each ingress controller is asked to speak TLS to its backends (`controller`: a LIKE
-- pattern of IngressClass spec.controller), on the Ingress and/or the backend Service (whose value wins), and the
-- values that mean TLS: ingress-nginx backend-protocol, AWS Load Balancer Controller backend-protocol, Azure
-- Application Gateway backend-protocol, Traefik service.serversscheme.
CREATE VIEW ingress_backend_protocols AS
SELECT * FROM (VALUES
    ('%ingress-nginx%', 'nginx.ingress.kubernetes.io/backend-protocol', true, false, ['HTTPS', 'GRPCS']),
    ('ingress.k8s.aws/alb', 'alb.ingress.kubernetes.io/backend-protocol', true, true, ['HTTPS']),
    ('azure/application-gateway', 'appgw.ingress.kubernetes.io/backend-protocol', true, false, ['HTTPS']),
    ('traefik.io/ingress-controller', 'traefik.ingress.kubernetes.io/service.serversscheme', false, true, ['HTTPS'])
) AS t(controller, annotation, on_ingress, on_service, tls_values);

-- Each Ingress backend per IngressClass of the Ingress, with what makes its controller re-encrypt it (covered_by;
-- NULL: nothing) and, if nothing, why: the Ingress has no class, the class or its controller's annotation is
-- unknown, or the annotation does not ask for TLS. An annotation of another controller than the class's proves
-- nothing.
CREATE VIEW hop_ingress_backend_tls AS
WITH judged AS (
    SELECT b.*, c.class, k.spec->>'controller' AS controller, p.annotation,
           CASE WHEN p.on_service AND (s.annotations->>p.annotation) IS NOT NULL THEN 'Service'
                WHEN p.on_ingress AND (i.annotations->>p.annotation) IS NOT NULL THEN 'Ingress' END AS annotated_on,
           coalesce(CASE WHEN p.on_service THEN s.annotations->>p.annotation END,
                    CASE WHEN p.on_ingress THEN i.annotations->>p.annotation END) AS protocol,
           p.tls_values
    FROM hop_ingress_backends b
    JOIN k8s_current i
      ON i.cluster = b.cluster AND i.kind = 'Ingress' AND i.namespace = b.namespace AND i.name = b.ingress
    LEFT JOIN ingress_classes c ON c.cluster = b.cluster AND c.namespace = b.namespace AND c.ingress = b.ingress
    LEFT JOIN k8s_current k ON k.cluster = c.cluster AND k.kind = 'IngressClass' AND k.name = c.class
    LEFT JOIN ingress_backend_protocols p ON (k.spec->>'controller') LIKE p.controller
    LEFT JOIN k8s_current s
      ON s.cluster = b.cluster AND s.kind = 'Service' AND s.namespace = b.namespace AND s.name = b.service
)
SELECT *,
       CASE WHEN service IS NOT NULL AND list_contains(tls_values, upper(protocol)) THEN
            annotation || ': ' || protocol || ' on the ' || annotated_on || ', honoured by the controller '
            || controller
            || ' of IngressClass ' || class END AS covered_by,
       CASE WHEN service IS NULL THEN other_backend || ' is not a Service: its re-encryption cannot be judged'
            WHEN class IS NULL THEN 'the Ingress has no class (no ingressClassName, kubernetes.io/ingress.class or '
                                    || 'default IngressClass): which controller serves it, and how, is unknown'
            WHEN controller IS NULL THEN 'IngressClass ' || class
                                         || ' is not in the inventory: its controller is unknown'
            WHEN annotation IS NULL THEN 'no annotation of the controller ' || controller || ' (IngressClass ' || class
                                         || ') that asks for upstream TLS is known'
            ELSE annotation || ' is ' || coalesce(protocol || ' on the ' || annotated_on, 'unset (plaintext HTTP)')
                 || ' (controller ' || controller || ' of IngressClass ' || class || ')' END
         || '; a DestinationRule applied by a sidecar of the controller is not judged' AS why_not
FROM judged;

-- Who can change an entry point (exposure-rights-restricted) -----------------------------------------------
-- Clusters whose RBAC is in the inventory: Roles, ClusterRoles and their bindings listed, with ClusterRoles and
-- ClusterRoleBindings (every cluster has the bootstrap ones: none is manifests collected without their RBAC).
CREATE VIEW rbac_clusters AS
SELECT cluster FROM k8s_inventory_current
WHERE status = 'collected' AND kind IN ('Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding')
GROUP BY cluster
HAVING count(*) = 4 AND min(object_count) FILTER (WHERE kind IN ('ClusterRole', 'ClusterRoleBinding')) > 0;

-- The RBAC exposure rights of analysed clusters (rbac_exposure_rights, collector/analysis/rbac.py), one row per
-- subject and path (binding, role, rule, escalation), its exposure resources listed; `platform`: the subject is one
-- of exposure_identities. The binding is the object each row names (its file and line); the superuser group has none.
-- Followed by an empty stand-in, created only when the analysis table does not exist.
CREATE VIEW exposure_rights AS
SELECT r.cluster, r.subject, r.namespace AS scope, r.verbs, r.binding, r.role, r.rule_role, r.rule_index, r.indirect,
       r.via, r.resource_names,
       list_contains(CAST(getvariable('exposure_identities') AS VARCHAR[]), r.subject) AS platform,
       string_agg(r.resource || CASE WHEN r.api_group = '' THEN '' ELSE '.' || r.api_group END, ', '
                  ORDER BY r.resource, r.api_group) AS resources,
       split_part(r.binding, ' ', 1) AS binding_kind,
       CASE WHEN contains(split_part(r.binding, ' ', 2), '/') THEN split_part(split_part(r.binding, ' ', 2), '/', 1)
            END AS binding_namespace,
       CASE WHEN contains(split_part(r.binding, ' ', 2), '/') THEN split_part(split_part(r.binding, ' ', 2), '/', 2)
            ELSE split_part(r.binding, ' ', 2) END AS binding_name,
       r.source, r.run_id, r.artifact_sha256, r.collected_at
FROM rbac_exposure_rights r
JOIN analysed_clusters USING (cluster, run_id)
WHERE r.cluster IN (SELECT cluster FROM rbac_clusters)
GROUP BY ALL;
CREATE TEMP VIEW IF NOT EXISTS exposure_rights AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS subject, NULL::VARCHAR AS scope, NULL::VARCHAR[] AS verbs,
       NULL::VARCHAR AS binding, NULL::VARCHAR AS role, NULL::VARCHAR AS rule_role, NULL::INTEGER AS rule_index,
       NULL::VARCHAR AS indirect, NULL::VARCHAR AS via, NULL::VARCHAR[] AS resource_names, NULL::BOOLEAN AS platform,
       NULL::VARCHAR AS resources, NULL::VARCHAR AS binding_kind, NULL::VARCHAR AS binding_namespace,
       NULL::VARCHAR AS binding_name, NULL::VARCHAR AS source, NULL::VARCHAR AS run_id,
       NULL::VARCHAR AS artifact_sha256, NULL::TIMESTAMPTZ AS collected_at
WHERE false;

CREATE VIEW exposure_right_findings AS
SELECT e.cluster, e.binding_namespace AS namespace,
       coalesce(e.binding_kind || '/' || e.binding_name, replace(e.subject, ':', '/')) AS object, e.subject,
       e.scope, e.resources, e.indirect, e.platform,
       e.subject || ' can ' || array_to_string(e.verbs, ', ') || ' ' || e.resources
         || CASE WHEN len(e.resource_names) > 0 THEN ' named ' || array_to_string(e.resource_names, ', ') ELSE '' END
         || CASE WHEN e.scope = '*' THEN ' in every namespace' ELSE ' in namespace ' || e.scope END
         || CASE WHEN e.binding IS NULL THEN ' (superuser group: RBAC is not consulted)'
                 ELSE ' via ' || e.binding || ' -> ' || e.role
                      || CASE WHEN e.rule_role <> e.role THEN ' (aggregating ' || e.rule_role || ')' ELSE '' END
                      || ' rule ' || e.rule_index END
         || CASE e.indirect WHEN 'rbac-write' THEN ' (indirect: write access to RBAC objects)'
                 WHEN 'escalate' THEN ' (indirect: escalate on roles)'
                 WHEN 'bind' THEN ' (indirect: bind on roles)'
                 WHEN 'impersonate' THEN ' (indirect: impersonation' || coalesce(' of ' || e.via, '') || ')'
                 WHEN 'serviceaccount' THEN ' (indirect: acts as ' || e.via || ')'
                 WHEN 'gitops' THEN ' (indirect: has GitOps controller ' || e.via || ' apply manifests)'
                 WHEN 'webhook' THEN ' (indirect: writes mutating admission webhooks or policies)'
                 WHEN 'certificate' THEN ' (indirect: approves client certificates for any user and group)'
                 ELSE '' END AS finding,
       b.location, e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM exposure_rights e
LEFT JOIN k8s_current b
  ON b.cluster = e.cluster AND b.kind = e.binding_kind AND b.namespace IS NOT DISTINCT FROM e.binding_namespace
     AND b.name = e.binding_name;

-- Clusters whose exposure rights are not judged: no RBAC analysis of the current inventory (never run, older than
-- the listing, or made before RBAC was analysed); and, when some cluster's RBAC is in the inventory, every cluster
-- whose RBAC is not (as no cluster's is, the claim has no evidence).
CREATE VIEW exposure_rights_unjudged AS
WITH clusters AS (SELECT DISTINCT cluster FROM k8s_inventory_current WHERE status = 'collected')
SELECT c.cluster, 'analysis/rbac' AS object,
       'cluster ' || c.cluster || ' has no RBAC analysis of its current inventory: run `defensible collect analysis`'
         AS finding
FROM rbac_clusters c
WHERE NOT EXISTS (SELECT 1 FROM exposure_rights r WHERE r.cluster = c.cluster)
UNION ALL
SELECT c.cluster, 'k8s_inventory',
       'the RBAC of cluster ' || c.cluster || ' is not in its inventory (Roles, ClusterRoles and their bindings not '
         || 'listed, or no ClusterRole or ClusterRoleBinding): who can change its entry points is not judged'
FROM clusters c
WHERE c.cluster NOT IN (SELECT cluster FROM rbac_clusters)
  AND EXISTS (SELECT 1 FROM rbac_clusters);

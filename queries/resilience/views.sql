-- Helper views of the resilience pack (docs/resilience-pack.md). They read the latest listing of each kind
-- (k8s_current) and keep the provenance columns of the object they come from. Names start with res_ so that they
-- never replace another pack's views in a session.
-- Note: DuckDB's -> and ->> bind looser than comparisons; parenthesise them in predicates.

-- Scope ---------------------------------------------------------------------------------------------------------
-- Regulated namespaces, as in the k8s-networking pack: the regulated_label or the regulated_namespace_names.
CREATE VIEW res_regulated_namespaces AS
SELECT cluster, name AS namespace
FROM k8s_current
WHERE kind = 'Namespace'
  AND ((labels->>split_part(getvariable('regulated_label'), '=', 1)) = split_part(getvariable('regulated_label'), '=', 2)
       OR list_contains(CAST(getvariable('regulated_namespace_names') AS VARCHAR[]), name));

-- Whether a label selector requirement (matchExpressions item) holds for these labels (JSON object).
CREATE OR REPLACE TEMP MACRO res_requirement(e, labels) AS
    CASE e->>'operator'
         WHEN 'In' THEN coalesce(list_contains(CAST(e->'values' AS VARCHAR[]), labels->>(e->>'key')), false)
         WHEN 'NotIn' THEN NOT coalesce(list_contains(CAST(e->'values' AS VARCHAR[]), labels->>(e->>'key')), false)
         WHEN 'Exists' THEN (labels->(e->>'key')) IS NOT NULL
         WHEN 'DoesNotExist' THEN (labels->(e->>'key')) IS NULL
         ELSE false END;
-- Whether a LabelSelector (matchLabels and matchExpressions, ANDed) selects these labels. An empty selector ({})
-- selects everything, an absent (NULL) one nothing: policy/v1 PodDisruptionBudget semantics.
CREATE OR REPLACE TEMP MACRO res_selects(selector, labels) AS
    selector IS NOT NULL AND json_type(selector) = 'OBJECT'
    AND coalesce(list_bool_and(list_transform(json_keys(coalesce(selector->'matchLabels', '{}')),
                 lambda k: (labels->>k) IS NOT DISTINCT FROM (selector->'matchLabels'->>k))), true)
    AND coalesce(list_bool_and(list_transform(CAST(coalesce(selector->'matchExpressions', '[]') AS JSON[]),
                 lambda e: res_requirement(e, labels))), true);

-- A duration in milliseconds: Gateway API durations (GEP-2257: 1h, 30m, 10s, 500ms, combined) and the Go/protobuf
-- durations Istio reads (1.5s, 250ms, 2m). NULL: absent or not a duration.
CREATE OR REPLACE TEMP MACRO res_duration_ms(d) AS
    CASE WHEN regexp_full_match(trim(d), '([0-9]+(\.[0-9]+)?(ms|us|µs|ns|h|m|s))+') THEN
         list_sum(list_transform(regexp_extract_all(trim(d), '[0-9]+(?:\.[0-9]+)?(?:ms|us|µs|ns|h|m|s)'),
             lambda t: CAST(regexp_extract(t, '^[0-9.]+') AS DOUBLE)
                       * CASE regexp_extract(t, '[a-zµ]+$') WHEN 'h' THEN 3600000 WHEN 'm' THEN 60000
                              WHEN 's' THEN 1000 WHEN 'ms' THEN 1 WHEN 'ns' THEN 0.000001 ELSE 0.001 END)) END;

-- A Gateway API Duration in milliseconds (GEP-2257: ^([0-9]{1,5}(h|m|s|ms)){1,4}$, which the API server enforces:
-- no fractions, no other units). NULL: absent or not such a duration.
CREATE OR REPLACE TEMP MACRO res_gateway_duration_ms(d) AS
    CASE WHEN regexp_full_match(d, '([0-9]{1,5}(h|m|s|ms)){1,4}') THEN res_duration_ms(d) END;

-- An Istio host as istiod resolves it in a namespace: a short name is a Service of that namespace, "svc.ns" and
-- "svc.ns.svc" name Service svc of namespace ns (cluster domain cluster.local); other names stay as written.
CREATE OR REPLACE TEMP MACRO res_fqdn(host, namespace) AS
    CASE WHEN starts_with(host, '*') THEN lower(host)
         WHEN NOT contains(host, '.') THEN lower(host) || '.' || namespace || '.svc.cluster.local'
         WHEN regexp_full_match(lower(host), '[^.]+\.[^.]+') THEN lower(host) || '.svc.cluster.local'
         WHEN regexp_full_match(lower(host), '[^.]+\.[^.]+\.svc') THEN lower(host) || '.cluster.local'
         ELSE lower(rtrim(host, '.')) END;

-- How specifically an Istio host (resolved) matches a Service FQDN: exact first, then the longest wildcard; NULL:
-- no match (istio pkg/config/host).
CREATE OR REPLACE TEMP MACRO res_host_specificity(rule_host, service_fqdn) AS
    CASE WHEN rule_host = service_fqdn THEN 10000
         WHEN rule_host = '*' THEN 0
         WHEN starts_with(rule_host, '*.') AND suffix(service_fqdn, substr(rule_host, 2)) THEN length(rule_host) END;

-- Whether an Istio exportTo list (JSON, NULL: everywhere) makes an object of namespace ns visible in namespace
-- client ("*" every namespace, "." its own, a namespace name, "~" none).
CREATE OR REPLACE TEMP MACRO res_exported(export_to, ns, client) AS
    export_to IS NULL OR json_array_length(export_to) = 0
    OR list_contains(CAST(export_to AS VARCHAR[]), '*')
    OR list_contains(CAST(export_to AS VARCHAR[]), client)
    OR (list_contains(CAST(export_to AS VARCHAR[]), '.') AND ns = client);

-- The kinds a claim reads beyond its `requires` that a cluster's current inventory does not show: refused (403) or
-- never listed. A kind whose CRD is absent (404) holds nothing; one that could not be listed may hold what the claim
-- is about, so each is a gap of the claims that read it.
CREATE VIEW res_unlisted AS
WITH reads(kind, claims) AS (VALUES
    ('VirtualService', ['timeout-ladder', 'retry-budgets']),
    ('GRPCRoute', ['timeout-ladder', 'retry-budgets']),
    ('BackendTrafficPolicy', ['timeout-ladder', 'retry-budgets']),
    ('Gateway', ['circuit-breaking', 'disruption-budgets']),
    ('Gateway.networking.istio.io', ['circuit-breaking', 'disruption-budgets']),
    ('IngressClass', ['disruption-budgets']),
    ('Pod', ['circuit-breaking', 'disruption-budgets']),
    ('ReplicaSet', ['circuit-breaking', 'disruption-budgets']),
    ('DaemonSet', ['circuit-breaking', 'disruption-budgets', 'rollout-abort']),
    ('StatefulSet', ['circuit-breaking', 'rollout-abort']),
    ('Deployment', ['circuit-breaking']),
    ('Node', ['disruption-budgets']),
    ('Rollout', ['circuit-breaking', 'disruption-budgets', 'rollout-abort']),
    ('Canary', ['disruption-budgets', 'rollout-abort']),
    ('AnalysisTemplate', ['rollout-abort']),
    ('ClusterAnalysisTemplate', ['rollout-abort'])
),
clusters AS (
    SELECT cluster, min(location) AS location, min(source) AS source, min(run_id) AS run_id,
           min(artifact_sha256) AS artifact_sha256, min(collected_at) AS collected_at
    FROM k8s_inventory_current
    WHERE status = 'collected'
    GROUP BY cluster
)
SELECT c.cluster, r.kind, r.claims,
       'Kind ' || r.kind || ' of cluster ' || c.cluster || ' '
         || CASE WHEN i.kind IS NULL THEN 'was not listed'
                 ELSE 'could not be listed (' || coalesce(i.reason, i.status) || coalesce(', HTTP ' || i.http_status, '')
                      || ')' END
         || ': what it holds is not judged' AS finding,
       coalesce(i.location, c.location) AS location, coalesce(i.source, c.source) AS source,
       coalesce(i.run_id, c.run_id) AS run_id, coalesce(i.artifact_sha256, c.artifact_sha256) AS artifact_sha256,
       coalesce(i.collected_at, c.collected_at) AS collected_at
FROM clusters c
CROSS JOIN reads r
LEFT JOIN k8s_inventory_current i ON i.cluster = c.cluster AND i.kind = r.kind
WHERE i.kind IS NULL OR (i.status <> 'collected' AND coalesce(i.reason, '') <> 'crd-absent');

-- Workloads ------------------------------------------------------------------------------------------------------
-- The top workloads of the inventory (no owner in the inventory; a Flagger Canary owning its primary Deployment
-- does not count as a workload, so the primary is one), with their pod labels, declared replicas (default 1; an
-- Argo Rollout with a workloadRef takes the referenced Deployment's pod labels) and the floor an autoscaler keeps:
-- the smallest minReplicas (default 1) of the HorizontalPodAutoscalers that target them (scaleTargetRef kind, name
-- and API group), else the declared replicas.
CREATE VIEW res_workloads AS
-- owned: the objects an ownerReference of which names an object of their namespace in the inventory (by equality)
WITH owned AS (
    SELECT DISTINCT w.cluster, w.namespace, w.kind, w.name
    FROM (SELECT cluster, namespace, kind, name, unnest(CAST(owner_references AS JSON[])) AS ref
          FROM k8s_current WHERE owner_references IS NOT NULL) w
    JOIN k8s_current o
      ON o.cluster = w.cluster AND o.namespace = w.namespace AND o.kind = w.ref->>'kind' AND o.name = w.ref->>'name'
    WHERE o.kind NOT IN ('Namespace', 'Canary')
),
top AS (
    SELECT w.*
    FROM k8s_current w
    WHERE w.kind IN ('Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job',
                     'CronJob', 'Rollout')
      AND NOT EXISTS (SELECT 1 FROM owned o
                      WHERE o.cluster = w.cluster AND o.namespace = w.namespace AND o.kind = w.kind AND o.name = w.name)
),
autoscalers AS (
    SELECT cluster, namespace, spec->'scaleTargetRef'->>'kind' AS kind, spec->'scaleTargetRef'->>'name' AS name,
           CASE WHEN contains(spec->'scaleTargetRef'->>'apiVersion', '/')
                THEN split_part(spec->'scaleTargetRef'->>'apiVersion', '/', 1) ELSE '' END AS target_group,
           min(coalesce(TRY_CAST(spec->>'minReplicas' AS BIGINT), 1)) AS min_replicas,
           string_agg(name, ', ' ORDER BY name) AS autoscalers
    FROM k8s_current
    WHERE kind = 'HorizontalPodAutoscaler'
    GROUP BY ALL
)
SELECT w.cluster, w.namespace, w.kind, w.name,
       CASE w.kind WHEN 'Pod' THEN w.labels
                   WHEN 'CronJob' THEN w.spec->'jobTemplate'->'spec'->'template'->'metadata'->'labels'
                   WHEN 'Rollout' THEN coalesce(w.spec->'template'->'metadata'->'labels',
                                                d.spec->'template'->'metadata'->'labels')
                   ELSE w.spec->'template'->'metadata'->'labels' END AS pod_labels,
       CASE WHEN w.kind = 'Pod' THEN 1
            WHEN w.kind IN ('Deployment', 'StatefulSet', 'ReplicaSet', 'ReplicationController', 'Rollout')
            THEN coalesce(TRY_CAST(w.spec->>'replicas' AS BIGINT), 1) END AS replicas,
       a.min_replicas AS autoscaler_min, a.autoscalers,
       w.spec, w.location, w.source, w.run_id, w.artifact_sha256, w.collected_at
FROM top w
LEFT JOIN k8s_current d
  ON w.kind = 'Rollout' AND d.cluster = w.cluster AND d.namespace = w.namespace AND d.kind = 'Deployment'
     AND d.name = (w.spec->'workloadRef'->>'name')
LEFT JOIN autoscalers a
  ON a.cluster = w.cluster AND a.namespace = w.namespace AND a.kind = w.kind AND a.name = w.name
     AND a.target_group = CASE w.kind WHEN 'Pod' THEN '' WHEN 'ReplicationController' THEN ''
                                      WHEN 'Rollout' THEN 'argoproj.io' ELSE 'apps' END;

-- The gateway workloads: the pods behind a Gateway API Gateway (templates labelled with its name as Istio and the
-- Gateway API label them, gateway.networking.k8s.io/gateway-name or istio.io/gateway-name, in its namespace, or
-- selected by a Service of its namespace that it owns or that is labelled for it), behind an Istio Gateway (its
-- spec.selector, in any namespace) and the ingress controllers of the IngressClasses (a container argument naming
-- the class's spec.controller or the class, as the k8s-networking pack links them, or
-- --watch-ingress-without-class=true).
CREATE VIEW res_gateway_workloads AS
WITH args AS (
    SELECT cluster, namespace, kind, name, json_extract_string(spec, '$.template.spec.containers[*].args[*]') AS settings
    FROM res_workloads
),
fronts AS (
    SELECT s.cluster, s.namespace, s.spec->'selector' AS selector, g.name AS gateway
    FROM k8s_current s
    JOIN k8s_current g ON g.cluster = s.cluster AND g.kind = 'Gateway' AND g.namespace = s.namespace
    WHERE s.kind = 'Service'
      AND ((s.labels->>'gateway.networking.k8s.io/gateway-name') = g.name OR (s.labels->>'istio.io/gateway-name') = g.name
           OR list_contains(list_transform(CAST(coalesce(s.owner_references, '[]') AS JSON[]),
                                           lambda r: (r->>'kind') || '/' || (r->>'name')), 'Gateway/' || g.name))
)
SELECT w.cluster, w.namespace, w.kind, w.name, 'Gateway ' || g.namespace || '/' || g.name AS role
FROM res_workloads w
JOIN k8s_current g ON g.cluster = w.cluster AND g.kind = 'Gateway' AND g.namespace = w.namespace
WHERE (w.pod_labels->>'gateway.networking.k8s.io/gateway-name') = g.name
   OR (w.pod_labels->>'istio.io/gateway-name') = g.name
UNION
SELECT w.cluster, w.namespace, w.kind, w.name, 'Gateway ' || f.namespace || '/' || f.gateway
FROM res_workloads w
JOIN fronts f ON f.cluster = w.cluster AND f.namespace = w.namespace
WHERE coalesce(len(json_keys(f.selector)), 0) > 0
  AND coalesce(list_bool_and(list_transform(json_keys(f.selector),
                                            lambda k: (w.pod_labels->>k) IS NOT DISTINCT FROM (f.selector->>k))), false)
UNION  -- Envoy Gateway runs a Gateway's proxies in its own namespace, labelled with the Gateway they serve
SELECT w.cluster, w.namespace, w.kind, w.name, 'Gateway ' || g.namespace || '/' || g.name
FROM res_workloads w
JOIN k8s_current g ON g.cluster = w.cluster AND g.kind = 'Gateway'
WHERE (w.pod_labels->>'gateway.envoyproxy.io/owning-gateway-name') = g.name
  AND (w.pod_labels->>'gateway.envoyproxy.io/owning-gateway-namespace') = g.namespace
UNION
SELECT w.cluster, w.namespace, w.kind, w.name, 'Istio Gateway ' || g.namespace || '/' || g.name
FROM res_workloads w
JOIN k8s_current g ON g.cluster = w.cluster AND g.kind = 'Gateway.networking.istio.io'
WHERE coalesce(len(json_keys(g.spec->'selector')), 0) > 0
  AND coalesce(list_bool_and(list_transform(json_keys(g.spec->'selector'),
                                            lambda k: (w.pod_labels->>k) IS NOT DISTINCT FROM (g.spec->'selector'->>k))),
               false)
UNION
SELECT a.cluster, a.namespace, a.kind, a.name, 'ingress controller of IngressClass ' || c.name
FROM args a
JOIN k8s_current c ON c.cluster = a.cluster AND c.kind = 'IngressClass'
WHERE list_bool_or(list_transform(a.settings,
        lambda x: regexp_extract(x, '^--([^=]*)=(.*)$', 2) = (c.spec->>'controller')
                  OR (regexp_matches(lower(regexp_extract(x, '^--([^=]*)=', 1)), 'ingress[-._]?class')
                      AND regexp_extract(x, '^--([^=]*)=(.*)$', 2) = c.name)))
UNION
SELECT cluster, namespace, kind, name, 'ingress controller of the Ingresses without a class'
FROM args
WHERE list_contains(settings, '--watch-ingress-without-class=true');

-- Routes to regulated backends -----------------------------------------------------------------------------------
-- The Gateway API Gateways that Istio implements: their GatewayClass's controllerName is Istio's (istio.io/...),
-- or, the GatewayClass not being in the inventory, their class is one Istio installs (istio, istio-waypoint,
-- istio-remote, istio-east-west).
CREATE VIEW res_istio_gateways AS
SELECT g.cluster, g.namespace, g.name
FROM k8s_current g
LEFT JOIN k8s_current c ON c.cluster = g.cluster AND c.kind = 'GatewayClass' AND c.name = (g.spec->>'gatewayClassName')
WHERE g.kind = 'Gateway'
  AND (starts_with(c.spec->>'controllerName', 'istio.io/')
       OR (c.name IS NULL AND (g.spec->>'gatewayClassName') IN ('istio', 'istio-waypoint', 'istio-remote',
                                                                 'istio-east-west')));

-- Envoy Gateway BackendTrafficPolicies (gateway.envoyproxy.io) that set a retry, with each Gateway or route they
-- target (targetRef, targetRefs: of their namespace, group gateway.networking.k8s.io).
CREATE VIEW res_eg_retry_policies AS
SELECT p.cluster, p.namespace, p.name, t.value->>'kind' AS target_kind, t.value->>'name' AS target,
       p.spec->'retry' AS retry
FROM k8s_current p,
     unnest(CAST(coalesce(p.spec->'targetRefs', '[]') AS JSON[])
            || CASE WHEN (p.spec->'targetRef') IS NULL THEN [] ELSE [p.spec->'targetRef'] END) t(value)
WHERE p.kind = 'BackendTrafficPolicy' AND (p.spec->'retry') IS NOT NULL
  AND coalesce(t.value->>'group', 'gateway.networking.k8s.io') = 'gateway.networking.k8s.io';

-- One row per route rule that sends traffic to a Service of a regulated namespace: Gateway API HTTPRoute and
-- GRPCRoute rules (backendRefs, default kind Service and the route's namespace), and Istio VirtualService http
-- routes (route and mirror destinations, short hosts resolved in the VirtualService's namespace), whatever they
-- are bound to. `gateway_route`: an HTTPRoute with a Gateway parent, or a VirtualService bound to a Gateway other
-- than "mesh" (a GAMMA HTTPRoute, whose parent is a Service, is a mesh route). `request_ms`: the rule's request
-- timeout (HTTPRoute timeouts.request, VirtualService timeout; 0: disabled, NULL: unset or not a duration);
-- `effective_ms`: the timeout the proxy applies to the route (Istio makes an HTTPRoute's backendRequest the route
-- timeout of a rule without retry);
-- `backend_request_ms`: HTTPRoute timeouts.backendRequest; `per_try_ms`: the timeout of each try of a declared
-- retry (retries.perTryTimeout; HTTPRoute timeouts.backendRequest, GEP-1731); `backoff_ms`: the least wait between
-- tries (HTTPRoute retry.backoff, GEP-1731). `attempts`, `retry_on`: the retries
-- declared, else Istio's default policy where Istio serves the rule (a VirtualService http route without
-- `retries`; an HTTPRoute or GRPCRoute rule without `retry` attached to a Gateway Istio implements: Istio converts
-- it to a VirtualService route without retries): 2 attempts, no per-try timeout, retryOn
-- connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes (503); else none (NULL). Istio adds
-- connect-failure,refused-stream,unavailable,cancelled to the codes of an HTTPRoute retry. A rule without `retry`
-- of a route Istio does not serve takes the retry of an Envoy Gateway BackendTrafficPolicy targeting the route, else
-- one of a parent Gateway (the first by namespace and name at each level; the rule's own `retry` takes precedence):
-- numRetries (default 2), perRetry.timeout, retryOn triggers and httpStatusCodes (unset: Envoy Gateway's
-- conditions, judged unsafe). `retry_origin`: where retries not declared on the rule come from (Istio's default
-- policy, the BackendTrafficPolicy). `any_method`: whether
-- the rule may carry a method other than GET, HEAD, OPTIONS or TRACE (a match without a method matches every one).
CREATE VIEW res_route_rules AS
WITH gateway_api AS (
    SELECT r.cluster, r.kind AS route_kind, r.namespace, r.name AS route, rule.key AS rule_index,
           rule.value AS rule, r.spec,
           EXISTS (SELECT 1 FROM res_istio_gateways i, json_each(coalesce(r.spec->'parentRefs', '[]')) p
                   WHERE i.cluster = r.cluster AND i.name = (p.value->>'name')
                     AND i.namespace = coalesce(p.value->>'namespace', r.namespace)
                     AND coalesce(p.value->>'group', 'gateway.networking.k8s.io') = 'gateway.networking.k8s.io'
                     AND coalesce(p.value->>'kind', 'Gateway') = 'Gateway') AS istio_served,
           r.location, r.source, r.run_id, r.artifact_sha256, r.collected_at
    FROM k8s_current r, json_each(coalesce(r.spec->'rules', '[]')) rule
    WHERE r.kind IN ('HTTPRoute', 'GRPCRoute')
),
gateway_api_backends AS (  -- backendRefs, and the backends their RequestMirror filters (the rule's or a
                           -- backendRef's) copy every request to
    SELECT g.cluster, g.route_kind, g.namespace, g.route, g.rule_index,
           list(DISTINCT coalesce(b.value->>'namespace', g.namespace) || '/' || (b.value->>'name')
                ORDER BY coalesce(b.value->>'namespace', g.namespace) || '/' || (b.value->>'name')) AS services
    FROM gateway_api g,
         unnest(CAST(coalesce(g.rule->'backendRefs', '[]') AS JSON[])
                || json_extract(g.rule, '$.filters[*].requestMirror.backendRef')
                || json_extract(g.rule, '$.backendRefs[*].filters[*].requestMirror.backendRef')) b(value)
    JOIN res_regulated_namespaces n
      ON n.cluster = g.cluster AND n.namespace = coalesce(b.value->>'namespace', g.namespace)
    WHERE coalesce(b.value->>'group', '') = '' AND coalesce(b.value->>'kind', 'Service') = 'Service'
    GROUP BY ALL
),
eg AS (
    SELECT g.cluster, g.route_kind, g.namespace, g.route,
           'BackendTrafficPolicy ' || e.namespace || '/' || e.name AS eg_policy, e.retry AS eg_retry
    FROM (SELECT DISTINCT cluster, route_kind, namespace, route, spec FROM gateway_api WHERE NOT istio_served) g
    JOIN res_eg_retry_policies e
      ON e.cluster = g.cluster
         AND ((e.target_kind = g.route_kind AND e.target = g.route AND e.namespace = g.namespace)
              OR (e.target_kind = 'Gateway'
                  AND EXISTS (SELECT 1 FROM json_each(coalesce(g.spec->'parentRefs', '[]')) p
                              WHERE coalesce(p.value->>'kind', 'Gateway') = 'Gateway' AND (p.value->>'name') = e.target
                                AND coalesce(p.value->>'namespace', g.namespace) = e.namespace)))
    QUALIFY row_number() OVER (PARTITION BY g.cluster, g.route_kind, g.namespace, g.route
                               ORDER BY e.target_kind = 'Gateway', e.namespace, e.name) = 1
),
istio AS (
    SELECT v.cluster, v.namespace, v.name AS route, h.key AS rule_index, h.value AS rule, v.spec,
           v.location, v.source, v.run_id, v.artifact_sha256, v.collected_at
    FROM k8s_current v, json_each(coalesce(v.spec->'http', '[]')) h
    WHERE v.kind = 'VirtualService'
),
istio_backends AS (
    SELECT i.cluster, i.namespace, i.route, i.rule_index,
           list(DISTINCT split_part(res_fqdn(d.host, i.namespace), '.', 2) || '/'
                         || split_part(res_fqdn(d.host, i.namespace), '.', 1)
                ORDER BY split_part(res_fqdn(d.host, i.namespace), '.', 2) || '/'
                         || split_part(res_fqdn(d.host, i.namespace), '.', 1)) AS services
    FROM istio i,
         unnest(coalesce(json_extract_string(i.rule, '$.route[*].destination.host'), [])
                || coalesce(json_extract_string(i.rule, '$.mirrors[*].destination.host'), [])
                || CASE WHEN (i.rule->'mirror'->>'host') IS NULL THEN [] ELSE [i.rule->'mirror'->>'host'] END) d(host)
    JOIN res_regulated_namespaces n
      ON n.cluster = i.cluster AND n.namespace = split_part(res_fqdn(d.host, i.namespace), '.', 2)
    WHERE regexp_full_match(res_fqdn(d.host, i.namespace), '[^.]+\.[^.]+\.svc\.cluster\.local')
    GROUP BY ALL
)
SELECT g.cluster, g.route_kind, g.namespace, g.route, g.rule_index,
       g.route_kind || ' ' || g.namespace || '/' || g.route || ' rule ' || g.rule_index
         || coalesce(' (' || (g.rule->>'name') || ')', '') AS rule_ref,
       b.services,
       g.route_kind = 'HTTPRoute'
         AND coalesce(list_bool_or(list_transform(CAST(coalesce(g.spec->'parentRefs', '[]') AS JSON[]),
                                                  lambda p: coalesce(p->>'kind', 'Gateway') = 'Gateway')), false)
         AS gateway_route,
       g.rule->'timeouts'->>'request' AS request,
       res_gateway_duration_ms(g.rule->'timeouts'->>'request') AS request_ms,
       CASE WHEN g.istio_served AND (g.rule->'retry') IS NULL
                 AND res_gateway_duration_ms(g.rule->'timeouts'->>'backendRequest') > 0
            THEN g.rule->'timeouts'->>'backendRequest' ELSE g.rule->'timeouts'->>'request' END AS effective,
       CASE WHEN g.istio_served AND (g.rule->'retry') IS NULL
                 AND res_gateway_duration_ms(g.rule->'timeouts'->>'backendRequest') > 0
            THEN res_gateway_duration_ms(g.rule->'timeouts'->>'backendRequest')
            ELSE res_gateway_duration_ms(g.rule->'timeouts'->>'request') END AS effective_ms,
       g.rule->'timeouts'->>'backendRequest' AS backend_request,
       res_gateway_duration_ms(g.rule->'timeouts'->>'backendRequest') AS backend_request_ms,
       CASE WHEN (g.rule->'retry') IS NOT NULL THEN g.rule->'timeouts'->>'backendRequest'
            ELSE e.eg_retry->'perRetry'->>'timeout' END AS per_try,
       CASE WHEN (g.rule->'retry') IS NOT NULL THEN res_gateway_duration_ms(g.rule->'timeouts'->>'backendRequest')
            ELSE res_gateway_duration_ms(e.eg_retry->'perRetry'->>'timeout') END AS per_try_ms,
       g.rule->'retry'->>'backoff' AS backoff, res_gateway_duration_ms(g.rule->'retry'->>'backoff') AS backoff_ms,
       (g.rule->'retry') IS NOT NULL OR e.eg_retry IS NOT NULL AS retries_declared,
       CASE WHEN (g.rule->'retry') IS NULL
            THEN coalesce(e.eg_policy, CASE WHEN g.istio_served THEN 'Istio''s default policy' END) END AS retry_origin,
       CASE WHEN (g.rule->'retry') IS NOT NULL THEN TRY_CAST(g.rule->'retry'->>'attempts' AS BIGINT)
            WHEN e.eg_retry IS NOT NULL THEN coalesce(TRY_CAST(e.eg_retry->>'numRetries' AS BIGINT), 2)
            WHEN g.istio_served THEN 2 END AS attempts,
       CASE WHEN (g.rule->'retry') IS NULL AND e.eg_retry IS NOT NULL
            THEN CASE WHEN (e.eg_retry->'retryOn') IS NULL THEN ['Envoy Gateway''s conditions (retryOn unset)']
                      ELSE list_transform(coalesce(CAST(e.eg_retry->'retryOn'->'triggers' AS VARCHAR[]), []),
                                          lambda x: lower(trim(x)))
                           || list_transform(
                                  coalesce(CAST(e.eg_retry->'retryOn'->'httpStatusCodes' AS VARCHAR[]), []),
                                  lambda c: 'status ' || c) END
            WHEN (g.rule->'retry') IS NULL AND g.istio_served
            THEN ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes']
            WHEN (g.rule->'retry') IS NOT NULL
            THEN CASE WHEN g.istio_served THEN ['connect-failure', 'refused-stream', 'unavailable', 'cancelled']
                      ELSE [] END
                 || CASE WHEN coalesce(json_array_length(g.rule->'retry'->'codes'), 0) > 0
                         THEN list_transform(CAST(g.rule->'retry'->'codes' AS VARCHAR[]), lambda c: 'status ' || c)
                         WHEN NOT g.istio_served THEN ['the implementation''s conditions (no codes)']
                         ELSE [] END END AS retry_on,
       g.route_kind = 'GRPCRoute'
         OR coalesce(json_array_length(g.rule->'matches'), 0) = 0
         OR list_bool_or(list_transform(CAST(g.rule->'matches' AS JSON[]),
                         lambda m: coalesce(upper(m->>'method'), 'ANY') NOT IN ('GET', 'HEAD', 'OPTIONS', 'TRACE')))
         AS any_method,
       g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM gateway_api g
JOIN gateway_api_backends b USING (cluster, route_kind, namespace, route, rule_index)
LEFT JOIN eg e USING (cluster, route_kind, namespace, route)
UNION ALL
SELECT i.cluster, 'VirtualService', i.namespace, i.route, i.rule_index,
       'VirtualService ' || i.namespace || '/' || i.route || ' http[' || i.rule_index || ']'
         || coalesce(' (' || (i.rule->>'name') || ')', ''),
       b.services,
       (i.spec->'gateways') IS NOT NULL
         AND list_bool_or(list_transform(CAST(i.spec->'gateways' AS VARCHAR[]), lambda x: x <> 'mesh')),
       i.rule->>'timeout', res_duration_ms(i.rule->>'timeout'), i.rule->>'timeout', res_duration_ms(i.rule->>'timeout'),
       NULL, NULL,
       i.rule->'retries'->>'perTryTimeout', res_duration_ms(i.rule->'retries'->>'perTryTimeout'), NULL, NULL,
       (i.rule->'retries') IS NOT NULL,
       CASE WHEN (i.rule->'retries') IS NULL THEN 'Istio''s default policy' END,
       CASE WHEN (i.rule->'retries') IS NULL THEN 2 ELSE coalesce(TRY_CAST(i.rule->'retries'->>'attempts' AS BIGINT), 0) END,
       CASE WHEN trim(coalesce(i.rule->'retries'->>'retryOn', '')) = ''
            THEN ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes']
            ELSE list_filter(list_transform(string_split(coalesce(i.rule->'retries'->>'retryOn', ''), ','),
                                            lambda x: lower(trim(x))), lambda x: x <> '') END,
       coalesce(json_array_length(i.rule->'match'), 0) = 0
         OR list_bool_or(list_transform(CAST(i.rule->'match' AS JSON[]),
                         lambda m: coalesce(upper(m->'method'->>'exact'), 'ANY') NOT IN ('GET', 'HEAD', 'OPTIONS', 'TRACE'))),
       i.location, i.source, i.run_id, i.artifact_sha256, i.collected_at
FROM istio i
JOIN istio_backends b USING (cluster, namespace, route, rule_index);

-- The mesh routes to each Service, with their timeout (NULL: none declared): the http routes of VirtualServices not
-- bound to a Gateway, or bound to "mesh" too, whose hosts include the Service, and the rules of GAMMA HTTPRoutes
-- (GEP-1426: a parentRef of group "" and kind Service routes the mesh traffic addressed to that Service; their
-- timeouts.request).
CREATE VIEW res_mesh_timeouts AS
SELECT DISTINCT r.cluster, coalesce(p.value->>'namespace', r.namespace) || '/' || (p.value->>'name') AS service,
       r.namespace, 'HTTPRoute' AS route_kind, r.name AS route_name,
       res_gateway_duration_ms(x.value->'timeouts'->>'request') AS timeout_ms,
       'HTTPRoute ' || r.namespace || '/' || r.name || ' rule ' || x.key || ' timeouts.request '
         || coalesce(x.value->'timeouts'->>'request', 'unset') AS route
FROM k8s_current r, json_each(coalesce(r.spec->'parentRefs', '[]')) p, json_each(coalesce(r.spec->'rules', '[]')) x
WHERE r.kind = 'HTTPRoute' AND coalesce(p.value->>'group', '') IN ('', 'core') AND (p.value->>'kind') = 'Service'
UNION
SELECT DISTINCT v.cluster, split_part(res_fqdn(h.host, v.namespace), '.', 2) || '/'
         || split_part(res_fqdn(h.host, v.namespace), '.', 1) AS service,
       v.namespace, 'VirtualService', v.name, res_duration_ms(r.value->>'timeout') AS timeout_ms,
       'VirtualService ' || v.namespace || '/' || v.name || ' http[' || r.key || '] timeout '
         || coalesce(r.value->>'timeout', 'unset') AS route
FROM k8s_current v, unnest(CAST(coalesce(v.spec->'hosts', '[]') AS VARCHAR[])) h(host),
     json_each(coalesce(v.spec->'http', '[]')) r
WHERE v.kind = 'VirtualService'
  AND ((v.spec->'gateways') IS NULL OR list_contains(CAST(v.spec->'gateways' AS VARCHAR[]), 'mesh'))
  AND regexp_full_match(res_fqdn(h.host, v.namespace), '[^.]+\.[^.]+\.svc\.cluster\.local');

-- Circuit breaking ----------------------------------------------------------------------------------------------
-- Every port of every Service of a regulated namespace, for every namespace its clients may run in (a namespace
-- holding a workload or a Gateway of the cluster, and its own), with the DestinationRules that the client proxies
-- of that namespace apply as istiod looks them up (collector/analysis/mesh/destination_rules.py): those of the
-- client's namespace, else of the Service's namespace exported to the client, else of istio-system exported to it;
-- at each step the most specific matching host (not exported: the step yields nothing); a rule with a
-- workloadSelector applies only to workloads of its own namespace, and when every rule of the client's namespace
-- has one, the other workloads there fall through to the next steps, which count too.
CREATE VIEW res_dr_candidates AS
WITH services AS (
    SELECT s.cluster, s.namespace, s.name AS service, s.name || '.' || s.namespace || '.svc.cluster.local' AS fqdn,
           TRY_CAST(p.value->>'port' AS INTEGER) AS port, s.location, s.source, s.run_id, s.artifact_sha256,
           s.collected_at
    FROM k8s_current s
    JOIN res_regulated_namespaces USING (cluster, namespace)
    CROSS JOIN json_each(CASE WHEN json_array_length(s.spec->'ports') > 0 THEN s.spec->'ports' ELSE '[{}]' END) p
    WHERE s.kind = 'Service'  -- a Service without ports (ExternalName) is judged once, port NULL
),
clients AS (
    SELECT DISTINCT cluster, namespace AS client FROM res_workloads
    UNION SELECT DISTINCT cluster, namespace FROM k8s_current WHERE kind IN ('Gateway', 'Gateway.networking.istio.io')
    UNION SELECT DISTINCT cluster, namespace FROM services
),
rules AS (
    SELECT s.cluster, s.namespace, s.service, s.port, c.client, d.namespace AS rule_namespace, d.name AS rule,
           d.spec, (d.spec->'workloadSelector') IS NOT NULL AS selective,
           res_exported(d.spec->'exportTo', d.namespace, c.client) AS exported,
           res_host_specificity(res_fqdn(d.spec->>'host', d.namespace), s.fqdn) AS specificity,
           CASE WHEN d.namespace = c.client THEN 1 WHEN d.namespace = s.namespace THEN 2 ELSE 3 END AS step
    FROM services s
    JOIN clients c ON c.cluster = s.cluster
    JOIN k8s_current d
      ON d.cluster = s.cluster AND d.kind = 'DestinationRule'
         AND d.namespace IN (c.client, s.namespace, 'istio-system')
    WHERE res_host_specificity(res_fqdn(d.spec->>'host', d.namespace), s.fqdn) IS NOT NULL
      AND (d.namespace = c.client OR (d.spec->'workloadSelector') IS NULL)
),
best AS (  -- each step's most specific rules, exported to the client (own namespace: always)
    SELECT * FROM rules
    QUALIFY specificity = max(specificity) OVER (PARTITION BY cluster, namespace, service, port, client, step)
),
steps AS (
    SELECT cluster, namespace, service, port, client, step,
           bool_or(step = 1 OR exported) AS applies, bool_or(step = 1 AND NOT selective) AS covers_all
    FROM best
    GROUP BY ALL
),
deciding AS (  -- the first step that applies, and the later ones when only selective rules decided before
    SELECT s.*,
           coalesce(sum(CASE WHEN s.applies AND (s.step > 1 OR s.covers_all) THEN 1 ELSE 0 END) OVER (
               PARTITION BY s.cluster, s.namespace, s.service, s.port, s.client ORDER BY s.step
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) = 0 AS reached
    FROM steps s
)
SELECT v.cluster, v.namespace, v.service, v.port, c.client, v.fqdn, b.rule_namespace, b.rule, b.spec,
       v.location, v.source, v.run_id, v.artifact_sha256, v.collected_at
FROM services v
JOIN (SELECT DISTINCT cluster, client FROM clients) c ON c.cluster = v.cluster
LEFT JOIN (SELECT b.* FROM best b
           JOIN deciding d USING (cluster, namespace, service, port, client, step)
           WHERE d.reached AND d.applies AND (b.step = 1 OR b.exported)) b
  ON b.cluster = v.cluster AND b.namespace = v.namespace AND b.service = v.service
     AND b.port IS NOT DISTINCT FROM v.port AND b.client = c.client;

-- The circuit-breaking settings each applicable rule gives a Service port, for the destination and for each of its
-- subsets, as istiod merges them (MergeTrafficPolicy): a portLevelSettings entry for the port replaces the policy
-- (nothing of it inherited); a subset's outlierDetection or connectionPool replaces the destination's (resolved at
-- the port), and the subset's own portLevelSettings entry for the port replaces both.
CREATE VIEW res_circuit_policies AS
WITH destination AS (
    SELECT c.*, 'destination' AS level,
           (SELECT min(p.value) FROM json_each(coalesce(c.spec->'trafficPolicy'->'portLevelSettings', '[]')) p
            WHERE TRY_CAST(p.value->'port'->>'number' AS INTEGER) = c.port) AS port_policy
    FROM res_dr_candidates c
    WHERE c.rule IS NOT NULL
),
resolved AS (
    SELECT d.*,
           CASE WHEN port_policy IS NOT NULL THEN 'portLevelSettings port ' || port ELSE 'trafficPolicy' END AS decided_by,
           CASE WHEN port_policy IS NOT NULL THEN port_policy->'outlierDetection'
                ELSE spec->'trafficPolicy'->'outlierDetection' END AS outlier,
           CASE WHEN port_policy IS NOT NULL THEN port_policy->'connectionPool'
                ELSE spec->'trafficPolicy'->'connectionPool' END AS pool
    FROM destination d
),
subsets AS (
    SELECT r.*, s.value->>'name' AS subset, s.value->'trafficPolicy' AS policy,
           (SELECT min(p.value) FROM json_each(coalesce(s.value->'trafficPolicy'->'portLevelSettings', '[]')) p
            WHERE TRY_CAST(p.value->'port'->>'number' AS INTEGER) = r.port) AS subset_port_policy
    FROM resolved r, json_each(coalesce(r.spec->'subsets', '[]')) s
    WHERE (s.value->'trafficPolicy') IS NOT NULL
)
SELECT cluster, namespace, service, port, client, rule_namespace, rule, level, decided_by, outlier, pool,
       location, source, run_id, artifact_sha256, collected_at
FROM resolved
UNION ALL
SELECT cluster, namespace, service, port, client, rule_namespace, rule, 'subset ' || subset,
       CASE WHEN subset_port_policy IS NOT NULL THEN 'subset portLevelSettings port ' || port
            ELSE 'subset trafficPolicy over ' || decided_by END,
       CASE WHEN subset_port_policy IS NOT NULL THEN subset_port_policy->'outlierDetection'
            ELSE coalesce(policy->'outlierDetection', outlier) END,
       CASE WHEN subset_port_policy IS NOT NULL THEN subset_port_policy->'connectionPool'
            ELSE coalesce(policy->'connectionPool', pool) END,
       location, source, run_id, artifact_sha256, collected_at
FROM subsets;

-- Whether outlier detection ejects anything (Istio defaults: consecutive5xxErrors 5, maxEjectionPercent 10; 0
-- errors of every kind disables it, consecutiveLocalOriginFailures counting only with splitExternalLocalOriginErrors
-- true (default 5 then); maxEjectionPercent 0 ejects nothing; minHealthPercent 100 turns it off, every host load
-- balanced again, as soon as one is ejected), and the finite connection-pool limits (Istio's defaults, 0 or unset,
-- are 2^32-1: unlimited). On an HTTP/2 port (Istio's protocol selection: appProtocol grpc, grpc-web, http2 or
-- kubernetes.io/h2c, else a port name <protocol>[-<suffix>] of grpc, grpc-web or http2), and under a connectionPool
-- with http.h2UpgradePolicy UPGRADE (HTTP/1.1 connections upgraded to HTTP/2), only http.http2MaxRequests
-- bounds the requests: Envoy multiplexes them over one connection per host, so tcp.maxConnections and
-- http.http1MaxPendingRequests (hit only while no connection is established) limit nothing there.
CREATE VIEW res_circuit_judged AS
WITH http2_ports AS (
    SELECT s.cluster, s.namespace, s.name AS service, TRY_CAST(p.value->>'port' AS INTEGER) AS port
    FROM k8s_current s, json_each(coalesce(s.spec->'ports', '[]')) p
    WHERE s.kind = 'Service'
      AND (lower(p.value->>'appProtocol') IN ('grpc', 'grpc-web', 'http2', 'kubernetes.io/h2c')
           OR ((p.value->>'appProtocol') IS NULL
               AND split_part(lower(coalesce(p.value->>'name', '')), '-', 1) IN ('grpc', 'grpc-web', 'http2')))
)
SELECT p.*, h.port IS NOT NULL OR (p.pool->'http'->>'h2UpgradePolicy') IS NOT DISTINCT FROM 'UPGRADE' AS http2,
       CASE WHEN outlier IS NULL THEN 'no outlierDetection'
            WHEN coalesce(TRY_CAST(outlier->>'consecutive5xxErrors' AS BIGINT), 5) = 0
                 AND coalesce(TRY_CAST(outlier->>'consecutiveGatewayErrors' AS BIGINT), 0) = 0
                 AND coalesce(TRY_CAST(outlier->>'consecutiveErrors' AS BIGINT), 0) = 0
                 AND (NOT coalesce(TRY_CAST(outlier->>'splitExternalLocalOriginErrors' AS BOOLEAN), false)
                      OR coalesce(TRY_CAST(outlier->>'consecutiveLocalOriginFailures' AS BIGINT), 5) = 0)
            THEN 'outlierDetection ejects on no error (consecutive5xxErrors and consecutiveGatewayErrors 0'
                 || CASE WHEN (outlier->>'consecutiveLocalOriginFailures') IS NOT NULL
                         THEN '; consecutiveLocalOriginFailures counts only with splitExternalLocalOriginErrors true'
                         ELSE '' END || ')'
            WHEN TRY_CAST(outlier->>'maxEjectionPercent' AS BIGINT) = 0
            THEN 'outlierDetection maxEjectionPercent 0 ejects no host'
            WHEN TRY_CAST(outlier->>'minHealthPercent' AS BIGINT) >= 100
            THEN 'outlierDetection minHealthPercent ' || (outlier->>'minHealthPercent')
                 || ' turns ejection off as soon as one host is ejected' END AS outlier_missing,
       array_to_string(list_filter(
           [CASE WHEN TRY_CAST(pool->'tcp'->>'maxConnections' AS BIGINT) BETWEEN 1 AND 4294967294
                      AND NOT http2
                 THEN 'tcp.maxConnections ' || (pool->'tcp'->>'maxConnections') END,
            CASE WHEN TRY_CAST(pool->'http'->>'http1MaxPendingRequests' AS BIGINT) BETWEEN 1 AND 4294967294
                      AND NOT http2
                 THEN 'http.http1MaxPendingRequests ' || (pool->'http'->>'http1MaxPendingRequests') END,
            CASE WHEN TRY_CAST(pool->'http'->>'http2MaxRequests' AS BIGINT) BETWEEN 1 AND 4294967294
                 THEN 'http.http2MaxRequests ' || (pool->'http'->>'http2MaxRequests') END],
           lambda x: x IS NOT NULL), ', ') AS pool_limits
FROM res_circuit_policies p
LEFT JOIN (SELECT DISTINCT * FROM http2_ports) h
  ON h.cluster = p.cluster AND h.namespace = p.namespace AND h.service = p.service AND h.port = p.port;

-- Disruption budgets --------------------------------------------------------------------------------------------
-- The workloads that must survive a voluntary disruption: the gateway workloads and those of regulated namespaces
-- that keep pods running (not Jobs or CronJobs), less the Deployments an Argo Rollout takes over (workloadRef) and
-- those a Flagger Canary targets while its <name>-primary Deployment exists (Flagger scales the target to zero and
-- serves from the primary). `floor`: the
-- fewest pods it runs (the autoscaler's minReplicas, else its replicas; replicas 0 deactivates the autoscaler, which
-- then leaves the workload at 0; a DaemonSet: one per Node collected).
CREATE VIEW res_budget_workloads AS
WITH scoped AS (
    SELECT w.cluster, w.namespace, w.kind, w.name, string_agg(g.role, ', ' ORDER BY g.role) AS role
    FROM res_workloads w
    JOIN res_gateway_workloads g USING (cluster, namespace, kind, name)
    GROUP BY ALL
    UNION ALL
    SELECT w.cluster, w.namespace, w.kind, w.name, 'regulated namespace'
    FROM res_workloads w
    JOIN res_regulated_namespaces USING (cluster, namespace)
    WHERE w.kind NOT IN ('Job', 'CronJob')
      AND NOT EXISTS (SELECT 1 FROM res_gateway_workloads g
                      WHERE g.cluster = w.cluster AND g.namespace = w.namespace AND g.kind = w.kind AND g.name = w.name)
)
SELECT w.*, s.role,
       CASE WHEN w.kind = 'DaemonSet' THEN (SELECT count(*) FROM k8s_current n WHERE n.cluster = w.cluster AND n.kind = 'Node')
            WHEN w.replicas = 0 THEN 0
            ELSE coalesce(w.autoscaler_min, w.replicas) END AS floor
FROM res_workloads w
JOIN scoped s USING (cluster, namespace, kind, name)
WHERE NOT (w.kind = 'Deployment'  -- taken over by an Argo Rollout (workloadRef): the Rollout is judged
           AND EXISTS (SELECT 1 FROM k8s_current r
                       WHERE r.cluster = w.cluster AND r.namespace = w.namespace AND r.kind = 'Rollout'
                         AND (r.spec->'workloadRef'->>'name') = w.name))
  AND NOT (w.kind = 'Deployment'
           AND EXISTS (SELECT 1 FROM k8s_current c
                       WHERE c.cluster = w.cluster AND c.namespace = w.namespace AND c.kind = 'Canary'
                         AND coalesce(c.spec->'targetRef'->>'kind', 'Deployment') = 'Deployment'
                         AND (c.spec->'targetRef'->>'name') = w.name)
           AND EXISTS (SELECT 1 FROM k8s_current p
                       WHERE p.cluster = w.cluster AND p.namespace = w.namespace AND p.kind = 'Deployment'
                         AND p.name = w.name || '-primary'));

-- PodDisruptionBudgets (policy/v1) and the pod templates of their namespace they select.
CREATE VIEW res_budgets AS
SELECT b.cluster, b.namespace, b.name AS budget, b.spec->'selector' AS selector,
       b.spec->>'minAvailable' AS min_available, b.spec->>'maxUnavailable' AS max_unavailable,
       b.location, b.source, b.run_id, b.artifact_sha256, b.collected_at
FROM k8s_current b
WHERE b.kind = 'PodDisruptionBudget';

CREATE VIEW res_budget_matches AS
SELECT w.cluster, w.namespace, w.kind, w.name, b.budget, b.min_available, b.max_unavailable
FROM res_workloads w
JOIN res_budgets b ON b.cluster = w.cluster AND b.namespace = w.namespace
WHERE res_selects(b.selector, w.pod_labels);

-- How many pods a budget value (an integer, or a percentage of `n` rounded up, as the disruption controller scales
-- it) stands for; NULL: unset or malformed.
CREATE OR REPLACE TEMP MACRO res_budget_pods(v, n) AS
    CASE WHEN regexp_full_match(v, '[0-9]+') THEN CAST(v AS BIGINT)
         WHEN regexp_full_match(v, '[0-9]+%') THEN CAST(ceil(CAST(rtrim(v, '%') AS DOUBLE) * n / 100) AS BIGINT) END;

-- Rollout abort --------------------------------------------------------------------------------------------------
-- Whether an Argo Rollouts dryRun list (JSON, NULL: none) names a metric: each metricName is a regular expression
-- found anywhere in the name (GetDryRunMetrics: regexp.MatchString); "*", not a valid one, counts as every metric.
CREATE OR REPLACE TEMP MACRO res_dry_run(dry_run, metric) AS
    coalesce(list_bool_or(list_transform(CAST(coalesce(dry_run, '[]') AS JSON[]),
        lambda d: (d->>'metricName') = '*' OR coalesce(TRY(regexp_matches(metric, d->>'metricName')), false))), false);

-- Argo Rollouts analysis templates and the metrics of each that can fail (`failable`, names): not in the template's
-- dryRun, with a failureCondition that is not the constant false, or else a successCondition that is not the constant
-- true (EvaluateResult: a measurement fails when its failureCondition holds, or without one when its
-- successCondition does not; with neither it is always Successful), or a job provider (the Job failing fails it),
-- and able to take more failed measurements than its failureLimit (default 0): a metric whose count (1 when neither
-- count nor interval is set) is at most its failureLimit never fails.
CREATE VIEW res_analysis_templates AS
SELECT t.cluster, t.namespace, t.kind, t.name,
       list_transform(list_filter(CAST(coalesce(t.spec->'metrics', '[]') AS JSON[]),
           lambda m: (lower(trim(coalesce(m->>'failureCondition', ''))) NOT IN ('', 'false')
                      OR ((m->>'failureCondition') IS NULL
                          AND lower(trim(coalesce(m->>'successCondition', ''))) NOT IN ('', 'true'))
                      OR (m->'provider'->'job') IS NOT NULL)
                     AND NOT res_dry_run(t.spec->'dryRun', m->>'name')
                     AND NOT coalesce(
                         coalesce(nullif(TRY_CAST(m->>'count' AS BIGINT), 0),
                                  CASE WHEN (m->>'interval') IS NULL AND coalesce(m->>'count', '0') = '0' THEN 1 END)
                         <= coalesce(TRY_CAST(m->>'failureLimit' AS BIGINT), 0), false)),
           lambda m: m->>'name') AS failable
FROM k8s_current t
WHERE t.kind IN ('AnalysisTemplate', 'ClusterAnalysisTemplate');

-- The analyses of each Argo Rollout that can abort it: canary steps[].analysis and the background canary.analysis,
-- blueGreen prePromotionAnalysis and postPromotionAnalysis. Each names its templates (templateName, ClusterAnalysis
-- Template when clusterScope: true); a reference whose template is missing, or whose metrics all are in the
-- Rollout's dryRun or cannot fail, aborts nothing.
CREATE VIEW res_rollout_analyses AS
WITH analyses AS (
    SELECT r.cluster, r.namespace, r.name, 'canary.steps[' || s.key || '].analysis' AS step, s.value->'analysis' AS analysis
    FROM k8s_current r, json_each(coalesce(r.spec->'strategy'->'canary'->'steps', '[]')) s
    WHERE r.kind = 'Rollout' AND (s.value->'analysis') IS NOT NULL
    UNION ALL
    SELECT r.cluster, r.namespace, r.name, x.step, r.spec->'strategy'->x.strategy->x.field
    FROM k8s_current r,
         (VALUES ('canary', 'analysis', 'canary.analysis'),
                 ('blueGreen', 'prePromotionAnalysis', 'blueGreen.prePromotionAnalysis'),
                 ('blueGreen', 'postPromotionAnalysis', 'blueGreen.postPromotionAnalysis')) x(strategy, field, step)
    WHERE r.kind = 'Rollout' AND (r.spec->'strategy'->x.strategy->x.field) IS NOT NULL
)
SELECT a.cluster, a.namespace, a.name, a.step, t.value->>'templateName' AS template,
       CASE WHEN (t.value->>'clusterScope') = 'true' THEN 'ClusterAnalysisTemplate' ELSE 'AnalysisTemplate' END
         AS template_kind,
       coalesce(len(list_filter(m.failable, lambda x: NOT res_dry_run(a.analysis->'dryRun', x))) > 0, false)
         AS can_abort,
       CASE WHEN m.name IS NULL THEN 'template not found'
            WHEN len(m.failable) = 0
            THEN 'no metric can fail (no failureCondition, successCondition or job, a constant condition, dryRun, '
                 || 'or count within failureLimit)'
            ELSE 'the Rollout''s dryRun covers every metric that can fail' END AS why_not
FROM analyses a, json_each(coalesce(a.analysis->'templates', '[]')) t
LEFT JOIN res_analysis_templates m
  ON m.cluster = a.cluster AND m.name = (t.value->>'templateName')
     AND m.kind = CASE WHEN (t.value->>'clusterScope') = 'true' THEN 'ClusterAnalysisTemplate' ELSE 'AnalysisTemplate' END
     AND (m.kind = 'ClusterAnalysisTemplate' OR m.namespace = a.namespace);

-- Claims' judgements ---------------------------------------------------------------------------------------------
-- timeout-ladder: each route rule to a regulated backend, and why its timeouts do not nest (NULL: they do). The
-- mesh routes compared are those of the backend whose timeout is the longest.
CREATE VIEW res_timeout_ladder AS
WITH mesh AS (  -- the longest timeout of the mesh routes to the rule's backends (a VirtualService bound to both a
                -- Gateway and the mesh is not compared with itself)
    SELECT r.cluster, r.rule_ref, max(m.timeout_ms) AS timeout_ms,
           arg_max(m.route, m.timeout_ms) AS routes, arg_max(m.service, m.timeout_ms) AS service
    FROM res_route_rules r, unnest(r.services) s(service)
    JOIN res_mesh_timeouts m ON m.cluster = r.cluster AND m.service = s.service
    WHERE m.timeout_ms IS NOT NULL
      AND NOT (m.route_kind = r.route_kind AND m.namespace = r.namespace AND m.route_name = r.route)
    GROUP BY ALL
)
SELECT r.*,
       CASE WHEN r.route_kind = 'GRPCRoute'
            THEN 'a GRPCRoute declares no timeouts (GEP-1742 covers HTTPRoute only): its request timeout is the '
                 || 'implementation''s'
            WHEN r.request_ms IS NULL
            THEN 'no request timeout (' || CASE r.route_kind WHEN 'HTTPRoute' THEN 'timeouts.request' ELSE 'timeout' END
                 || coalesce(' ' || r.request || ' is not a duration', ' unset') || ')'
            WHEN r.request_ms = 0
            THEN 'request timeout ' || r.request || ' disables the timeout'
            WHEN r.backend_request_ms >= r.request_ms
            THEN 'timeouts.backendRequest ' || r.backend_request || ' is not shorter than timeouts.request ' || r.request
            WHEN r.attempts > 0 AND r.per_try_ms > 0
                 AND (r.attempts + 1) * r.per_try_ms + r.attempts * coalesce(r.backoff_ms, 0) > r.request_ms
            THEN (r.attempts + 1) || ' tries (' || r.attempts || ' retries) of ' || r.per_try
                 || ' each do not fit in the request timeout ' || r.request
                 || coalesce(' (with retry.backoff ' || r.backoff || ' between tries)', '')
            WHEN r.gateway_route AND m.timeout_ms >= r.effective_ms
            THEN 'the Gateway''s route gives up (' || r.effective
                 || CASE WHEN r.effective <> r.request THEN ': Istio makes timeouts.backendRequest the route timeout '
                                                            || 'of a rule without retry' ELSE '' END
                 || ') before the mesh route to ' || m.service || ' does (' || m.routes || ')' END AS finding,
       'request timeout ' || r.request || coalesce(', backendRequest ' || r.backend_request, '')
         || coalesce(', perTryTimeout ' || CASE WHEN r.route_kind = 'VirtualService' THEN r.per_try END, '')
         || CASE WHEN r.attempts > 0 THEN ', ' || r.attempts || ' retries' ELSE '' END
         || coalesce('; longest mesh route to ' || m.service || ': ' || m.routes, '') AS detail
FROM res_route_rules r
LEFT JOIN mesh m USING (cluster, rule_ref);

-- retry-budgets: each route rule to a regulated backend, and why its retries are unbounded or unsafe (NULL: fine).
CREATE VIEW res_retry_budgets AS
SELECT r.*,
       list_filter(r.retry_on, lambda c: c NOT IN ('connect-failure', 'refused-stream', 'unavailable',
                                                   'reset-before-request', 'envoy-ratelimited')) AS unsafe_on,
       CASE WHEN r.retries_declared AND r.attempts IS NULL
            THEN 'retry without attempts: the implementation decides how many'
            WHEN r.attempts > getvariable('max_retry_attempts')
            THEN r.attempts || ' retries' || coalesce(' (' || r.retry_origin || ')', '')
                 || ', more than max_retry_attempts ' || getvariable('max_retry_attempts')
            WHEN r.attempts > 0 AND coalesce(r.per_try_ms, 0) = 0
            THEN r.attempts || ' retries' || coalesce(' (' || r.retry_origin || ')', '')
                 || ' without a per-try timeout ('
                 || CASE WHEN NOT r.retries_declared THEN 'Istio applies its default to a rule that declares no retries'
                         WHEN r.route_kind = 'VirtualService' THEN 'retries.perTryTimeout unset'
                         WHEN r.retry_origin IS NOT NULL THEN 'retry.perRetry.timeout unset'
                         ELSE 'timeouts.backendRequest unset' END || ')'
            WHEN r.any_method AND r.attempts > 0 AND len(unsafe_on) > 0
            THEN 'retries ' || coalesce('(' || r.retry_origin || ') ', '') || 'on '
                 || array_to_string(unsafe_on, ', ') || ', which may repeat a request the backend processed, on a '
                 || CASE WHEN r.route_kind = 'GRPCRoute' THEN 'gRPC route (every call is a POST)'
                         ELSE 'rule that matches methods other than GET, HEAD, OPTIONS and TRACE' END END AS finding,
       CASE WHEN coalesce(r.attempts, 0) = 0 THEN 'no retries'
            ELSE r.attempts || ' retries' || coalesce(' (' || r.retry_origin || ')', '')
                 || ', per try ' || coalesce(r.per_try, '?') || ', on ' || array_to_string(r.retry_on, ', ')
                 || CASE WHEN r.any_method THEN '' ELSE ' (safe methods only)' END END AS detail
FROM res_route_rules r;

-- circuit-breaking: per Service port, applicable rule (NULL: none) and level, the client namespaces concerned and
-- what is missing (NULL: nothing).
CREATE VIEW res_circuit_breaking AS
SELECT c.cluster, c.namespace, c.service, c.port, NULL AS rule, NULL AS level,
       string_agg(DISTINCT c.client, ', ' ORDER BY c.client) AS clients,
       'no DestinationRule applies to ' || c.fqdn || ' for clients in these namespaces' AS finding, NULL AS detail,
       c.location, c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM res_dr_candidates c
WHERE c.rule IS NULL
GROUP BY ALL
UNION ALL
SELECT j.cluster, j.namespace, j.service, j.port, j.rule_namespace || '/' || j.rule, j.level,
       string_agg(DISTINCT j.client, ', ' ORDER BY j.client),
       CASE WHEN j.outlier_missing IS NOT NULL OR j.pool_limits = '' THEN
            'DestinationRule ' || j.rule_namespace || '/' || j.rule || ' (' || j.level || ', ' || j.decided_by || '): '
            || array_to_string(list_filter([j.outlier_missing, CASE WHEN j.pool_limits = '' AND j.http2 THEN
                   'no connectionPool limit for HTTP/2 (an HTTP/2 port or h2UpgradePolicy UPGRADE: '
                   || 'http.http2MaxRequests; tcp.maxConnections and http.http1MaxPendingRequests do not bound '
                   || 'multiplexed requests)'
                   WHEN j.pool_limits = '' THEN
                   'no connectionPool limit (tcp.maxConnections, http.http1MaxPendingRequests, http.http2MaxRequests)'
                   END], lambda x: x IS NOT NULL), '; ') END,
       'DestinationRule ' || j.rule_namespace || '/' || j.rule || ' (' || j.level || ', ' || j.decided_by
         || '): outlierDetection, ' || j.pool_limits,
       d.location, d.source, d.run_id, d.artifact_sha256, d.collected_at
FROM res_circuit_judged j
JOIN k8s_current d
  ON d.cluster = j.cluster AND d.kind = 'DestinationRule' AND d.namespace = j.rule_namespace AND d.name = j.rule
GROUP BY ALL;

-- disruption-budgets: Gateways (Gateway API, Istio) no workload of the inventory is found serving, whose pods'
-- disruption budget therefore cannot be judged (a managed or external gateway among them: a blind spot, not a pass).
CREATE VIEW res_unserved_gateways AS
SELECT g.cluster, g.namespace, g.kind, g.name, g.spec->>'gatewayClassName' AS class,
       g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM k8s_current g
WHERE g.kind IN ('Gateway', 'Gateway.networking.istio.io')
  AND NOT EXISTS (SELECT 1 FROM res_gateway_workloads w
                  WHERE w.cluster = g.cluster
                    AND w.role = CASE g.kind WHEN 'Gateway' THEN 'Gateway ' ELSE 'Istio Gateway ' END
                                 || g.namespace || '/' || g.name);

-- disruption-budgets: each workload in scope, the budgets selecting it, and why it may not survive a voluntary
-- disruption (NULL: it does).
CREATE VIEW res_disruption_budgets AS
WITH matched AS (
    SELECT w.cluster, w.namespace, w.kind, w.name, count(m.budget) AS budgets,
           string_agg(m.budget, ', ' ORDER BY m.budget) AS budget_names,
           min(m.min_available) AS min_available, min(m.max_unavailable) AS max_unavailable
    FROM res_budget_workloads w
    LEFT JOIN res_budget_matches m USING (cluster, namespace, kind, name)
    GROUP BY ALL
)
SELECT w.cluster, w.namespace, w.kind, w.name, w.role, w.floor, m.budgets, m.budget_names,
       array_to_string(list_filter([
           CASE WHEN w.floor IS NULL OR w.floor < 2 THEN
                'runs ' || coalesce(w.floor, 0) || ' pod(s) at least ('
                || CASE WHEN w.kind = 'DaemonSet' THEN 'one per Node collected'
                        WHEN w.replicas = 0 AND w.autoscalers IS NOT NULL
                        THEN 'replicas 0, which deactivates HorizontalPodAutoscaler ' || w.autoscalers
                        WHEN w.autoscalers IS NOT NULL THEN 'minReplicas of HorizontalPodAutoscaler ' || w.autoscalers
                        WHEN w.kind = 'Pod' THEN 'a bare Pod' ELSE 'replicas' END || '), fewer than 2' END,
           CASE WHEN w.kind = 'DaemonSet' THEN NULL
                WHEN m.budgets = 0 THEN 'no PodDisruptionBudget selects its pods'
                WHEN m.budgets > 1 THEN 'selected by ' || m.budgets || ' PodDisruptionBudgets (' || m.budget_names
                     || '): the Eviction API refuses to evict a pod that more than one budget selects'
                WHEN m.min_available IS NULL AND m.max_unavailable IS NULL
                THEN 'PodDisruptionBudget ' || m.budget_names || ' sets neither minAvailable nor maxUnavailable'
                WHEN m.min_available IS NOT NULL AND res_budget_pods(m.min_available, w.floor) IS NULL
                THEN 'PodDisruptionBudget ' || m.budget_names || ' minAvailable ' || m.min_available || ' is malformed'
                WHEN m.max_unavailable IS NOT NULL AND res_budget_pods(m.max_unavailable, w.floor) IS NULL
                THEN 'PodDisruptionBudget ' || m.budget_names || ' maxUnavailable ' || m.max_unavailable || ' is malformed'
                WHEN res_budget_pods(m.min_available, w.floor) < 1
                THEN 'PodDisruptionBudget ' || m.budget_names || ' minAvailable ' || m.min_available
                     || ' keeps no pod available'
                WHEN res_budget_pods(m.max_unavailable, w.floor) >= w.floor
                THEN 'PodDisruptionBudget ' || m.budget_names || ' maxUnavailable ' || m.max_unavailable || ' lets all '
                     || w.floor || ' pods be evicted at once'
                WHEN res_budget_pods(m.min_available, w.floor) >= w.floor
                     OR res_budget_pods(m.max_unavailable, w.floor) = 0
                THEN 'PodDisruptionBudget ' || m.budget_names || ' ' || coalesce('minAvailable ' || m.min_available,
                     'maxUnavailable ' || m.max_unavailable) || ' allows no eviction of its ' || w.floor
                     || ' pods (node drains block)' END
       ], lambda x: x IS NOT NULL), '; ') AS finding,
       w.location, w.source, w.run_id, w.artifact_sha256, w.collected_at
FROM res_budget_workloads w
JOIN matched m USING (cluster, namespace, kind, name);

-- PodDisruptionBudgets of regulated namespaces and of the gateway workloads' namespaces that select no pod template.
CREATE VIEW res_idle_budgets AS
SELECT b.*
FROM res_budgets b
WHERE (b.cluster, b.namespace) IN (SELECT (cluster, namespace) FROM res_regulated_namespaces
                                   UNION SELECT (cluster, namespace) FROM res_gateway_workloads)
  AND NOT EXISTS (SELECT 1 FROM res_budget_matches m
                  WHERE m.cluster = b.cluster AND m.namespace = b.namespace AND m.budget = b.budget);

-- rollout-abort: each regulated workload that keeps pods running (Deployment, StatefulSet, DaemonSet, Rollout), what
-- delivers it and whether that can abort a release (finding NULL: it can).
CREATE VIEW res_rollout_abort AS
WITH scoped AS (
    SELECT w.*, (SELECT min(r.value->>'name') FROM json_each(coalesce(w_obj.owner_references, '[]')) r
                 WHERE (r.value->>'kind') = 'Canary') AS owning_canary
    FROM res_workloads w
    JOIN res_regulated_namespaces USING (cluster, namespace)
    JOIN k8s_current w_obj
      ON w_obj.cluster = w.cluster AND w_obj.namespace = w.namespace AND w_obj.kind = w.kind AND w_obj.name = w.name
    WHERE w.kind IN ('Deployment', 'StatefulSet', 'DaemonSet', 'Rollout')
),
canaries AS (
    SELECT c.cluster, c.namespace, c.name, coalesce(c.spec->'targetRef'->>'kind', 'Deployment') AS target_kind,
           c.spec->'targetRef'->>'name' AS target,
           CASE WHEN (c.spec->>'skipAnalysis') = 'true' THEN 'skipAnalysis: true promotes without analysis'
                WHEN coalesce(TRY_CAST(coalesce(c.spec->'analysis', c.spec->'canaryAnalysis')->>'threshold' AS BIGINT), 0) < 1
                THEN 'analysis.threshold unset: no number of failed checks rolls it back'
                WHEN NOT coalesce(list_bool_or(list_transform(
                         CAST(coalesce(coalesce(c.spec->'analysis', c.spec->'canaryAnalysis')->'metrics', '[]') AS JSON[]),
                         lambda m: (m->'thresholdRange'->>'min') IS NOT NULL OR (m->'thresholdRange'->>'max') IS NOT NULL)),
                         false)
                     AND NOT coalesce(list_bool_or(list_transform(
                         CAST(coalesce(coalesce(c.spec->'analysis', c.spec->'canaryAnalysis')->'webhooks', '[]') AS JSON[]),
                         lambda h: coalesce(h->>'type', 'rollout') IN ('rollout', 'pre-rollout'))), false)
                THEN 'no metric with a thresholdRange and no rollout or pre-rollout webhook can fail its analysis' END
             AS why_not
    FROM k8s_current c
    WHERE c.kind = 'Canary'
),
rollouts AS (
    SELECT r.cluster, r.namespace, r.name, r.spec->'workloadRef'->>'name' AS workload_ref,
           bool_or(a.can_abort) AS can_abort,
           string_agg(a.step || ' ' || a.template_kind || ' ' || a.template
                      || CASE WHEN a.can_abort THEN '' ELSE ' (' || a.why_not || ')' END, ', ' ORDER BY a.step, a.template)
             AS analyses
    FROM k8s_current r
    LEFT JOIN res_rollout_analyses a USING (cluster, namespace, name)
    WHERE r.kind = 'Rollout'
    GROUP BY ALL
)
SELECT s.cluster, s.namespace, s.kind, s.name,
       coalesce('Flagger Canary ' || c.name, 'Argo Rollout ' || r.name,
                CASE WHEN s.kind = 'Deployment' AND getvariable('accept_progress_deadline')
                          AND (s.spec->>'progressDeadlineSeconds') IS NOT NULL
                     THEN 'progressDeadlineSeconds ' || (s.spec->>'progressDeadlineSeconds') END) AS delivered_by,
       CASE WHEN c.name IS NOT NULL THEN CASE WHEN c.why_not IS NOT NULL THEN 'Flagger Canary ' || c.name || ': ' || c.why_not END
            WHEN r.name IS NOT NULL THEN CASE WHEN NOT coalesce(r.can_abort, false) THEN
                 'Argo Rollout ' || r.name || ': ' || coalesce('no analysis can abort it: ' || r.analyses,
                                                               'no analysis (steps[].analysis, canary.analysis, '
                                                               || 'prePromotionAnalysis, postPromotionAnalysis)') END
            WHEN s.kind = 'Deployment' AND getvariable('accept_progress_deadline')
                 AND (s.spec->>'progressDeadlineSeconds') IS NOT NULL THEN NULL
            ELSE 'no progressive delivery abort condition (no Argo Rollout or Flagger Canary delivers it'
                 || CASE WHEN s.kind = 'Deployment' AND getvariable('accept_progress_deadline')
                         THEN ', and it sets no progressDeadlineSeconds' ELSE '' END || ')' END AS finding,
       coalesce(CASE WHEN c.name IS NOT NULL THEN 'Flagger Canary ' || c.name END,
                CASE WHEN r.name IS NOT NULL THEN 'Argo Rollout ' || r.name || ': ' || r.analyses END,
                'progressDeadlineSeconds ' || (s.spec->>'progressDeadlineSeconds')) AS detail,
       s.location, s.source, s.run_id, s.artifact_sha256, s.collected_at
FROM scoped s
LEFT JOIN canaries c
  ON c.cluster = s.cluster AND c.namespace = s.namespace
     AND ((c.target_kind = s.kind AND c.target = s.name) OR c.name = s.owning_canary)
LEFT JOIN rollouts r
  ON r.cluster = s.cluster AND r.namespace = s.namespace
     AND ((s.kind = 'Rollout' AND r.name = s.name) OR (s.kind = 'Deployment' AND r.workload_ref = s.name));

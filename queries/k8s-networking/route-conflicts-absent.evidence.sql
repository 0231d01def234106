-- Listeners of analysed clusters that no listener and no pair of routes attached to them conflicts on.
SELECT l.cluster, l.gateway_namespace AS namespace, 'Gateway/' || l.gateway AS object, l.listener,
       'listener ' || l.listener || ' (' || l.protocol || ' ' || l.port || ' ' || coalesce(l.hostname, '*')
         || ') of Gateway ' || l.gateway_namespace || '/' || l.gateway || ': no conflicting listener, '
         || l.attached_routes || ' route(s) attached without conflict' AS detail,
       g.location, l.source, l.run_id, l.artifact_sha256, l.collected_at
FROM listener_routes l
LEFT JOIN k8s_current g
  ON g.cluster = l.cluster AND g.kind = 'Gateway' AND g.namespace = l.gateway_namespace AND g.name = l.gateway
WHERE NOT l.conflicted
  AND NOT EXISTS (SELECT 1 FROM gateway_conflicts_current c
                  WHERE c.cluster = l.cluster AND c.gateway_namespace = l.gateway_namespace AND c.gateway = l.gateway
                    AND c.listener = l.listener)

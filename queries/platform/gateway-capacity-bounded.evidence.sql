-- Gateway workloads whose every container requests CPU and memory and limits memory, and whose replicas a
-- HorizontalPodAutoscaler bounds (a DaemonSet: one pod per Node).
SELECT w.cluster, w.namespace, w.kind || '/' || w.name AS object,
       'serves Gateway ' || w.gateway_namespace || '/' || w.gateway || ': '
         || coalesce((SELECT 'HorizontalPodAutoscaler ' || h.name || ' ' || coalesce(h.spec->>'minReplicas', '1')
                             || '-' || (h.spec->>'maxReplicas') || ' replicas'
                      FROM k8s_current h
                      WHERE h.cluster = w.cluster AND h.kind = 'HorizontalPodAutoscaler' AND h.namespace = w.namespace
                        AND (h.spec->'scaleTargetRef'->>'kind') = w.kind
                        AND (h.spec->'scaleTargetRef'->>'name') = w.name
                      ORDER BY h.name LIMIT 1),
                     'one pod per Node')
         || ', every container with CPU and memory requests and a memory limit' AS detail,
       w.location, w.source, w.run_id, w.artifact_sha256, w.collected_at
FROM platform_gateway_workloads w
WHERE NOT EXISTS (SELECT 1 FROM platform_gateway_capacity_gaps p
                  WHERE p.cluster = w.cluster AND p.namespace = w.namespace AND p.object = w.kind || '/' || w.name)

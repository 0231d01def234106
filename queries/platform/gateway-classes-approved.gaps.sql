-- Gateways whose GatewayClass is not collected, not approved, or implemented by a controller not approved.
SELECT g.cluster, g.namespace, 'Gateway/' || g.name AS object,
       CASE WHEN c.name IS NULL
            THEN 'GatewayClass ' || coalesce(g.spec->>'gatewayClassName', '(none)') || ' not found in the cluster'
            ELSE concat_ws('; ',
                CASE WHEN NOT list_contains(CAST(getvariable('approved_gateway_classes') AS VARCHAR[]), c.name)
                     THEN 'GatewayClass ' || c.name || ' is not in approved_gateway_classes' END,
                CASE WHEN NOT coalesce(list_contains(CAST(getvariable('approved_gateway_controllers') AS VARCHAR[]),
                                                     c.spec->>'controllerName'), false)
                     THEN 'its controller ' || coalesce(c.spec->>'controllerName', '(none)')
                          || ' is not in approved_gateway_controllers' END) END AS finding,
       coalesce(g.location, c.location) AS location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM k8s_current g
LEFT JOIN k8s_current c
  ON c.cluster = g.cluster AND c.kind = 'GatewayClass' AND c.name = (g.spec->>'gatewayClassName')
WHERE g.kind = 'Gateway'
  AND (c.name IS NULL
       OR NOT list_contains(CAST(getvariable('approved_gateway_classes') AS VARCHAR[]), c.name)
       OR NOT coalesce(list_contains(CAST(getvariable('approved_gateway_controllers') AS VARCHAR[]),
                                     c.spec->>'controllerName'), false))

-- Gateways whose GatewayClass and its controller are both approved.
SELECT g.cluster, g.namespace, 'Gateway/' || g.name AS object,
       'GatewayClass ' || c.name || ' (controller ' || (c.spec->>'controllerName') || ') approved' AS detail,
       g.location, g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM k8s_current g
JOIN k8s_current c ON c.cluster = g.cluster AND c.kind = 'GatewayClass' AND c.name = (g.spec->>'gatewayClassName')
WHERE g.kind = 'Gateway'
  AND list_contains(CAST(getvariable('approved_gateway_classes') AS VARCHAR[]), c.name)
  AND list_contains(CAST(getvariable('approved_gateway_controllers') AS VARCHAR[]), c.spec->>'controllerName')

-- Service ports of regulated namespaces and the DestinationRules that give them circuit breaking, per client
-- namespaces (view res_circuit_breaking).
SELECT cluster, namespace, 'Service/' || service AS object, port, clients, detail,
       location, source, run_id, artifact_sha256, collected_at
FROM res_circuit_breaking
WHERE finding IS NULL

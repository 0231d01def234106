-- Service ports of regulated namespaces without circuit breaking for some client namespaces: no DestinationRule
-- applies, or the one that applies lacks outlier detection or a connection limit (view res_circuit_breaking).
SELECT cluster, namespace, 'Service/' || service AS object, port, clients,
       'Service ' || namespace || '/' || service || ' port ' || coalesce(CAST(port AS VARCHAR), '?')
         || ' (clients in ' || clients || '): ' || finding AS finding,
       location, source, run_id, artifact_sha256, collected_at
FROM res_circuit_breaking
WHERE finding IS NOT NULL
UNION ALL
-- kinds the claim reads that could not be listed (view res_unlisted)
SELECT cluster, NULL, 'Kind/' || kind, NULL, NULL, finding, location, source, run_id, artifact_sha256, collected_at
FROM res_unlisted
WHERE list_contains(claims, 'circuit-breaking')

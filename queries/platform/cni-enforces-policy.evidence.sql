-- CNI DaemonSets that enforce NetworkPolicy and run ready on every Node.
SELECT cluster, namespace, 'DaemonSet/' || name AS object,
       cni || ' enforces NetworkPolicy (' || basis || '), ready on ' || ready || ' of ' || desired
         || ' scheduled pods, ' || nodes || ' Node(s)' AS detail,
       location, source, run_id, artifact_sha256, collected_at
FROM platform_cni_running
WHERE enforces AND running

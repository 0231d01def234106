SELECT p.cluster, p.namespace, 'NetworkPolicy/' || p.policy AS object,
       'default deny of ingress' || CASE WHEN p.denies_egress THEN ' and egress' ELSE '' END
         || ' for all pods of regulated namespace ' || p.namespace AS detail,
       p.location, p.source, p.run_id, p.artifact_sha256, p.collected_at
FROM default_deny_policies p
JOIN regulated_namespaces n USING (cluster, namespace)
WHERE p.denies_ingress

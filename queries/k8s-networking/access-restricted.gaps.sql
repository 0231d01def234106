SELECT n.cluster, n.namespace, 'Namespace/' || n.namespace AS object,
       'regulated namespace has no default-deny ingress NetworkPolicy' AS finding,
       n.location, n.source, n.run_id, n.artifact_sha256, n.collected_at
FROM regulated_namespaces n
WHERE NOT EXISTS (
    SELECT 1 FROM default_deny_policies p
    WHERE p.cluster = n.cluster AND p.namespace = n.namespace AND p.denies_ingress)

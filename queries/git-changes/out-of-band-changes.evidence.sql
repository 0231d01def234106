-- Out-of-band changes accounted for by an emergency change in Git or the break-glass annotation, and for each
-- cluster whose audit log was collected, what it covers.
SELECT cluster, kind || ' ' || coalesce(namespace || '/', '') || coalesce(name, '*') AS object, kind, namespace, name,
       verb, "user", ts, audit_id,
       CASE WHEN emergency_change IS NOT NULL THEN 'emergency change ' || emergency_change
            ELSE 'annotation ' || getvariable('break_glass_annotation') || ': ' || break_glass_ticket END AS status,
       source, run_id, artifact_sha256, collected_at
FROM audit_out_of_band_changes
WHERE emergency_change IS NOT NULL OR break_glass_ticket IS NOT NULL
UNION ALL
SELECT f.cluster, NULL, NULL, NULL, NULL, NULL, NULL, max(f.window_until), NULL,
       'audit log ' || count(*) || ' file(s), window ' || coalesce(strftime(min(f.window_since), '%Y-%m-%dT%H:%M:%SZ'), '-')
         || ' to ' || coalesce(strftime(max(f.window_until), '%Y-%m-%dT%H:%M:%SZ'), '-') || ': '
         || (SELECT count(*) FROM audit_governed_changes a WHERE a.cluster = f.cluster AND a.by_gitops)
         || ' change(s) to governed kinds by the GitOps controllers',
       any_value(f.source), any_value(f.run_id), any_value(f.artifact_sha256), max(f.collected_at)
FROM log_artifacts_ingested f
WHERE f.log_format = 'k8s-audit'
GROUP BY f.cluster

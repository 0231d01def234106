-- Live objects of a governed kind that differ from the manifest at a head closest to them, or that no manifest
-- at the head of any collected repository defines; governed kinds the kubernetes source was refused.
SELECT cluster, kind || ' ' || coalesce(namespace || '/', '') || name AS object, kind, namespace, name, repo,
       git_location,
       CASE WHEN git_location IS NULL
                THEN 'no Git origin: no manifest at the head of any collected repository defines '
                     || kind || ' ' || coalesce(namespace || '/', '') || name
            ELSE 'differs from ' || git_location || ': '
                 || array_to_string(differences[:5], '; ')
                 || CASE WHEN len(differences) > 5 THEN '; and ' || (len(differences) - 5) || ' more' ELSE '' END
       END AS reason,
       source, run_id, artifact_sha256, collected_at
FROM live_vs_git
WHERE git_location IS NULL OR len(differences) > 0
UNION ALL
SELECT cluster, kind, kind, NULL, NULL, NULL, NULL,
       'live ' || kind || ' objects not listed (' || coalesce(reason, status) || ', HTTP ' || coalesce(http_status, 0)
         || '): they cannot be compared with Git',
       source, run_id, artifact_sha256, collected_at
FROM k8s_inventory_current
WHERE status = 'not-collectible' AND reason = 'forbidden'
  AND list_contains(getvariable('governed_kinds'), split_part(kind, '.', 1))

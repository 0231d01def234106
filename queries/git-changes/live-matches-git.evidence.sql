-- Live objects of a governed kind that match the manifest defining them at the head of a collected repository.
SELECT cluster, kind || ' ' || coalesce(namespace || '/', '') || name AS object, kind, namespace, name, repo,
       git_location, git_desired_sha256, 'matches ' || git_location AS status,
       source, run_id, artifact_sha256, collected_at
FROM live_vs_git
WHERE git_location IS NOT NULL AND len(differences) = 0
UNION ALL
-- and the head each collected repository was compared at (its age makes the claim stale)
SELECT NULL, 'repository ' || repo, NULL, NULL, NULL, repo, branch || '@' || left(head_sha, 12), NULL,
       'head ' || left(head_sha, 12) || ' of ' || branch,
       source, run_id, artifact_sha256, collected_at
FROM git_repositories_current

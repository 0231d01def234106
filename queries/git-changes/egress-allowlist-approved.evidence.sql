-- Egress allowlist ConfigMaps whose last change in git defines them as they are and was approved: by enough independent
-- reviewers before the merge, or, for an emergency change, by someone else after it within the window.
SELECT cluster, namespace, 'ConfigMap/' || name AS object, repo, left(sha, 12) AS commit, committed_at, path,
       change_type, pr_number, author, approvers,
       CASE WHEN approvals >= getvariable('min_approvals') THEN 'reviewed' ELSE 'emergency change retro-approved'
       END AS status,
       location, source, run_id, artifact_sha256, collected_at
FROM git_egress_allowlists
WHERE defines AND same_data AND len(binary_keys) = 0
  AND (approvals >= getvariable('min_approvals') OR emergency = 'retro-approved')

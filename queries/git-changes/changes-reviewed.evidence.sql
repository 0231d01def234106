-- Governed changes with enough independent approvals, and emergency changes (judged by their own claim).
SELECT g.repo, left(g.sha, 12) AS commit, g.committed_at, g.changed, g.change_type, g.pr_number,
       coalesce(g.pr_author, g.author_email) AS author, r.approvers, r.approvals,
       CASE WHEN e.sha IS NULL THEN 'reviewed' ELSE 'emergency change (' || e.accounted || ')' END AS status,
       g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM git_governed_changes g
JOIN git_change_reviews r USING (repo, sha)
LEFT JOIN git_emergency_changes e USING (repo, sha)
WHERE r.approvals >= getvariable('min_approvals') OR e.sha IS NOT NULL

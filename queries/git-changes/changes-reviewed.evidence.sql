-- Governed changes with enough independent approvals, and emergency changes and their reverts (judged by
-- the emergency-changes claim).
SELECT g.repo, left(g.sha, 12) AS commit, g.committed_at, g.changed, g.change_type, g.pr_number,
       coalesce(g.pr_author, g.author_email) AS author, r.approvers, r.approvals,
       CASE WHEN e.sha IS NOT NULL THEN 'emergency change (' || e.accounted || ')'
            WHEN undo.sha IS NOT NULL THEN 'revert of emergency change ' || left(undo.sha, 12)
            ELSE 'reviewed' END AS status,
       g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM git_governed_changes g
JOIN git_change_reviews r USING (repo, sha)
LEFT JOIN git_emergency_changes e USING (repo, sha)
LEFT JOIN git_emergency_changes undo ON undo.repo = g.repo AND undo.reverted_by = g.sha
WHERE r.approvals >= getvariable('min_approvals') OR e.sha IS NOT NULL OR undo.sha IS NOT NULL

-- Governed changes (not emergency changes nor their reverts) without enough independent approvals, and why.
SELECT g.repo, left(g.sha, 12) AS commit, g.committed_at, g.changed, g.change_type, g.pr_number,
       coalesce(g.pr_author, g.author_email) AS author, r.approvers, r.approvals,
       CASE
           WHEN g.pr_number IS NULL AND r.approvals = 0
               THEN 'direct push to ' || g.protected_branch || ' without a pull request'
           WHEN g.pr_number IS NOT NULL AND g.fetch_status IS NULL
               THEN 'reviews of #' || g.pr_number || ' not collected (no review API configured for ' || g.repo || ')'
           WHEN g.fetch_status = 'not-found'
               THEN '#' || g.pr_number || ' not found on ' || g.platform
           WHEN g.fetch_status = 'error'
               THEN 'reviews of #' || g.pr_number || ' not collected: ' || g.fetch_error
           WHEN g.pr_problem IS NOT NULL THEN g.pr_problem || ': its reviews do not count for this change'
           ELSE r.approvals || ' of ' || getvariable('min_approvals') || ' required independent approval(s)'
                || CASE WHEN len(r.self_approvers) > 0
                        THEN '; self-approved by ' || array_to_string(r.self_approvers, ', ') ELSE '' END
                || CASE WHEN len(r.bot_approvers) > 0
                        THEN '; approved by automation ' || array_to_string(r.bot_approvers, ', ') ELSE '' END
                || CASE WHEN len(r.stale_approvals) > 0
                        THEN '; stale approval by ' || array_to_string(r.stale_approvals, ', ')
                             || ', merged head ' || left(g.merged_head, 12) ELSE '' END
       END AS reason,
       -- the repository's named root (``gitops:``); a store collected before issue 21 holds its absolute path
       (SELECT max(CASE WHEN ends_with(path, ':') THEN path ELSE path || '/' END) FROM git_repositories_current gr
        WHERE gr.repo = g.repo) || g.first_path AS location,
       g.source, g.run_id, g.artifact_sha256, g.collected_at
FROM git_governed_changes g
JOIN git_change_reviews r USING (repo, sha)
LEFT JOIN git_emergency_changes e USING (repo, sha)
LEFT JOIN git_emergency_changes undo ON undo.repo = g.repo AND undo.reverted_by = g.sha
WHERE e.sha IS NULL AND undo.sha IS NULL AND r.approvals < getvariable('min_approvals')

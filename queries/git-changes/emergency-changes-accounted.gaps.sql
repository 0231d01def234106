-- Emergency changes neither reverted nor approved after the fact within the window.
SELECT repo, left(sha, 12) AS commit, committed_at, markers, coalesce(pr_author, author_email) AS author,
       'not reverted or retro-approved within ' || getvariable('emergency_window_hours') || 'h (window ended '
           || strftime(window_ends, '%Y-%m-%d %H:%M:%SZ') || ')' AS reason,
       source, run_id, artifact_sha256, collected_at
FROM git_emergency_changes WHERE accounted = 'unaccounted'

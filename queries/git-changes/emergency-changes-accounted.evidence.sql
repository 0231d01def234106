-- Emergency changes reverted or retro-approved in time (or whose window is still open), and for each
-- repository without any emergency change, how many changes were examined.
SELECT repo, left(sha, 12) AS commit, committed_at, markers, coalesce(pr_author, author_email) AS author,
       accounted, left(reverted_by, 12) AS reverted_by, retro_approved_by, window_ends,
       source, run_id, artifact_sha256, collected_at
FROM git_emergency_changes WHERE accounted <> 'unaccounted'
UNION ALL
SELECT repo, NULL, max(committed_at), [], NULL, 'no emergency changes among ' || count(*) || ' change(s)',
       NULL, NULL, NULL, any_value(source), any_value(run_id), any_value(artifact_sha256), any_value(collected_at)
FROM git_changes WHERE repo NOT IN (SELECT repo FROM git_emergency_changes)
GROUP BY repo

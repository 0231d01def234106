-- Commits of the branch (its first-parent changes and the commits they merged in) signed with an accepted status.
SELECT c.repo, left(c.sha, 12) AS commit, c.committed_at, c.author_email, c.signature_status, c.signature_key,
       c.signer, CASE WHEN c.first_parent THEN 'change' ELSE 'merged in' END AS landed,
       c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM git_commits_current c
WHERE list_contains(getvariable('accepted_signature_statuses'), c.signature_status)

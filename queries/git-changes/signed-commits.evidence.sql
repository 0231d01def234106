SELECT repo, left(sha, 12) AS commit, committed_at, author_email, signature_status, signature_key, signer,
       source, run_id, artifact_sha256, collected_at
FROM git_changes WHERE list_contains(getvariable('accepted_signature_statuses'), signature_status)

-- Commits of the branch (its first-parent changes and the commits they merged in: a signed merge does not sign
-- them) whose signature status is not accepted, and why.
SELECT c.repo, left(c.sha, 12) AS commit, c.committed_at, c.author_email, c.signature_status, c.signature_key,
       CASE WHEN c.first_parent THEN 'change' ELSE 'merged in' END AS landed,
       CASE c.signature_status WHEN 'N' THEN 'unsigned' WHEN 'B' THEN 'bad signature'
            WHEN 'U' THEN 'good signature, signer not trusted' WHEN 'X' THEN 'signature expired'
            WHEN 'Y' THEN 'signing key expired' WHEN 'R' THEN 'signing key revoked'
            WHEN 'E' THEN 'signature not verifiable (key not in the keyring or allowed signers)'
            ELSE 'signature status ' || c.signature_status END
           || CASE WHEN c.first_parent THEN '' ELSE ' (a commit merged in, not the merge)' END AS reason,
       c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM git_commits_current c
WHERE NOT list_contains(getvariable('accepted_signature_statuses'), c.signature_status)

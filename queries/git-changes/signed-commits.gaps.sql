SELECT repo, left(sha, 12) AS commit, committed_at, author_email, signature_status, signature_key,
       CASE signature_status WHEN 'N' THEN 'unsigned' WHEN 'B' THEN 'bad signature'
            WHEN 'U' THEN 'good signature, signer not trusted' WHEN 'X' THEN 'signature expired'
            WHEN 'Y' THEN 'signing key expired' WHEN 'R' THEN 'signing key revoked'
            WHEN 'E' THEN 'signature not verifiable (key not in the keyring or allowed signers)'
            ELSE 'signature status ' || signature_status END AS reason,
       source, run_id, artifact_sha256, collected_at
FROM git_changes WHERE NOT list_contains(getvariable('accepted_signature_statuses'), signature_status)

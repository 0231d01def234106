-- Egress allowlist ConfigMaps with no change in the collected git history, whose last change removed them from
-- git, whose data is not what that change committed, or whose last change lacks the required independent
-- approvals, and why.
SELECT cluster, namespace, 'ConfigMap/' || name AS object, repo, left(sha, 12) AS commit, committed_at, path,
       change_type, pr_number, author, approvers,
       'egress allowlist ConfigMap ' || namespace || '/' || name || ': ' || CASE
           WHEN sha IS NULL THEN 'no change in the collected git history defines it (no reviewed origin)'
           WHEN NOT defines THEN 'its last change in git (' || left(sha, 12) || ') removed it, yet it is live'
           WHEN len(binary_keys) > 0
               THEN 'it holds binaryData (' || array_to_string(binary_keys, ', ')
                    || '), whose content is not collected and cannot be compared with git'
           WHEN NOT same_data
               THEN 'its data differs from what its last change in git (' || left(sha, 12) || ') committed'
                    || ' (changed outside git, or not labelled there)'
           WHEN emergency IS NOT NULL
               THEN 'its last change ' || left(sha, 12) || ' is an emergency change (' || emergency
                    || '), not approved after the fact'
           WHEN pr_number IS NULL
               THEN 'its last change ' || left(sha, 12) || ' is a direct push to ' || protected_branch
                    || ' without a pull request'
           WHEN fetch_status IS DISTINCT FROM 'fetched'
               THEN 'reviews of #' || pr_number || ' (its last change) not collected'
                    || coalesce(': ' || fetch_error, '')
           WHEN pr_problem IS NOT NULL
               THEN 'its last change ' || left(sha, 12) || ' names ' || pr_problem
           ELSE 'its last change ' || left(sha, 12) || ' (#' || pr_number || ') has ' || approvals || ' of '
                || getvariable('min_approvals') || ' required independent approval(s)'
                || CASE WHEN len(self_approvers) > 0
                        THEN '; self-approved by ' || array_to_string(self_approvers, ', ') ELSE '' END
                || CASE WHEN len(bot_approvers) > 0
                        THEN '; approved by automation ' || array_to_string(bot_approvers, ', ') ELSE '' END
                || CASE WHEN len(stale_approvals) > 0
                        THEN '; stale approval by ' || array_to_string(stale_approvals, ', ')
                             || ', merged head ' || left(merged_head, 12) ELSE '' END
       END AS reason,
       location, source, run_id, artifact_sha256, collected_at
FROM git_egress_allowlists
WHERE sha IS NULL OR NOT defines OR NOT same_data OR len(binary_keys) > 0
   OR (approvals < getvariable('min_approvals') AND emergency IS DISTINCT FROM 'retro-approved')

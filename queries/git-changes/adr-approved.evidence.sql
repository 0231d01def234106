-- Accepted ADRs whose merging change every named role's approver approved in review.
SELECT repo, location, id, title, status, date, approvers, change, pr_number, review_approvers,
       source, run_id, artifact_sha256, collected_at
FROM git_adr_checks
WHERE problem IS NULL

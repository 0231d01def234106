-- Accepted ADRs a named role's approver did not approve in review, malformed ADRs, and, while no ADR is accepted,
-- each ADR with its status.
SELECT repo, location, id, title, status, date, approvers, change, pr_number, review_approvers,
       problem AS reason, source, run_id, artifact_sha256, collected_at
FROM git_adr_checks
WHERE problem IS NOT NULL

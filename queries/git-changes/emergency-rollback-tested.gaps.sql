-- Collected clusters whose latest rollback-test report failed, is old, is not approved in review, or that no report
-- names; and malformed rollback-test reports.
SELECT repo, cluster, location, id, date, result, services, follow_ups, change, pr_number, review_approvers,
       problem AS reason, source, run_id, artifact_sha256, collected_at
FROM git_report_checks
WHERE type = 'rollback-test' AND problem IS NOT NULL

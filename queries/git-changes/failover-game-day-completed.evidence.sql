-- Each collected cluster's latest game-day report: passed, recent, approved in review.
SELECT repo, cluster, location, id, date, result, services, follow_ups, change, pr_number, review_approvers,
       source, run_id, artifact_sha256, collected_at
FROM git_report_checks
WHERE type = 'game-day' AND problem IS NULL

-- Derived approval evidence over the git source's tables (latest run per repository).
-- Parameters are DuckDB variables set from pack.yaml (getvariable('name')).

-- Changes that landed on the protected branch: one per first-parent commit, with its pull request.
CREATE VIEW git_changes AS
SELECT c.repo, c.sha, c.committed_at, c.author_name, c.author_email, c.subject, c.trailers,
       c.signature_status, c.signature_key, c.signer, c.pr_number,
       pr.platform, pr.fetch_status, pr.fetch_error, pr.author AS pr_author, pr.labels, pr.merged_at,
       coalesce(pr.head_ref, c.pr_branch) AS branch,
       coalesce(pr.head_sha, CASE WHEN len(c.parents) > 1 THEN c.parents[2] END) AS merged_head,
       CASE WHEN c.pr_number IS NULL THEN 'direct push' ELSE 'pull request' END AS change_type,
       g.branch AS protected_branch, g.review_platform, g.collected_at AS as_of,
       c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM git_commits_current c
JOIN git_repositories_current g USING (run_id, repo)
LEFT JOIN git_pull_requests_current pr ON pr.repo = c.repo AND pr.number = c.pr_number
WHERE c.first_parent;

-- Files each change touched (merges: against the first parent) and the Kubernetes objects in them,
-- before or after the change.
CREATE VIEW git_change_objects AS
SELECT DISTINCT f.repo, f.sha, f.path, f.change_type AS file_change, o.kind, o.namespace, o.name
FROM git_commit_files_current f
LEFT JOIN git_manifest_objects_known o
       ON o.repo = f.repo AND o.blob IN (f.old_blob, f.new_blob) AND o.error IS NULL;

-- Changes to routes, network/mesh policy or the egress allowlist, with what they changed.
CREATE VIEW git_governed_changes AS
WITH governed AS (
    SELECT repo, sha, list(DISTINCT label ORDER BY label) AS changed, min(path) AS first_path
    FROM (SELECT repo, sha, path, CASE WHEN kind IS NULL THEN path
                                 ELSE kind || ' ' || coalesce(namespace || '/', '') || name || ' (' || path || ')'
                            END AS label
          FROM git_change_objects
          WHERE list_contains(getvariable('governed_kinds'), kind)
             OR len([p FOR p IN getvariable('governed_paths') IF path GLOB p]) > 0)
    GROUP BY repo, sha
)
SELECT ch.*, governed.changed, governed.first_path FROM git_changes ch JOIN governed USING (repo, sha);

-- Each reviewer's standing review of a change at merge time (latest approving, rejecting or dismissed
-- review submitted before the merge) and approvals given in commit trailers, if those are trusted.
CREATE VIEW git_change_approvals AS
SELECT ch.repo, ch.sha, r.reviewer, r.state, r.submitted_at, r.commit_id, 'review' AS via,
       r.reviewer = ch.pr_author AS self_approval,
       coalesce(r.commit_id <> ch.merged_head, false) AS stale
FROM git_changes ch
JOIN git_reviews_current r ON r.repo = ch.repo AND r.number = ch.pr_number
WHERE r.state IN ('APPROVED', 'CHANGES_REQUESTED', 'DISMISSED')
  AND (ch.merged_at IS NULL OR r.submitted_at IS NULL OR r.submitted_at <= ch.merged_at)
QUALIFY row_number() OVER (PARTITION BY ch.repo, ch.sha, r.reviewer ORDER BY r.submitted_at DESC NULLS LAST) = 1
UNION ALL
SELECT ch.repo, ch.sha, t.value, 'APPROVED', ch.committed_at, NULL, 'trailer ' || t.key,
       t.value ILIKE '%<' || ch.author_email || '>%', false
FROM git_changes ch, unnest(ch.trailers) AS u(t)
WHERE getvariable('trust_trailer_approvals') AND lower(t.key) IN ('reviewed-by', 'approved-by');

CREATE VIEW git_change_reviews AS
SELECT ch.repo, ch.sha,
       coalesce(list(DISTINCT a.reviewer ORDER BY a.reviewer)
                FILTER (WHERE a.state = 'APPROVED' AND NOT a.self_approval AND NOT a.stale), []) AS approvers,
       count(DISTINCT a.reviewer) FILTER (WHERE a.state = 'APPROVED' AND NOT a.self_approval AND NOT a.stale)
           AS approvals,
       coalesce(list(DISTINCT a.reviewer ORDER BY a.reviewer)
                FILTER (WHERE a.state = 'APPROVED' AND a.self_approval), []) AS self_approvers,
       coalesce(list(DISTINCT a.reviewer || ' (on ' || left(a.commit_id, 12) || ')'
                     ORDER BY a.reviewer || ' (on ' || left(a.commit_id, 12) || ')')
                FILTER (WHERE a.state = 'APPROVED' AND a.stale AND NOT a.self_approval), []) AS stale_approvals
FROM git_changes ch LEFT JOIN git_change_approvals a USING (repo, sha)
GROUP BY ch.repo, ch.sha;

-- Emergency (break-glass) changes, found by trailer, label or branch name, and how each was accounted for:
-- reverted, or approved after the merge by someone other than its author, within the window.
CREATE VIEW git_emergency_changes AS
WITH marked AS (
    SELECT ch.*,
           list_concat(
               [t.key || ': ' || t.value FOR t IN ch.trailers
                IF list_contains(getvariable('emergency_trailers'), lower(t.key))],
               ['label ' || l FOR l IN coalesce(ch.labels, [])
                IF list_contains(getvariable('emergency_labels'), lower(l))],
               CASE WHEN regexp_matches(coalesce(ch.branch, ''), getvariable('emergency_branch_pattern'))
                    THEN ['branch ' || ch.branch] ELSE [] END) AS markers,
           ch.committed_at + to_hours(getvariable('emergency_window_hours')) AS window_ends
    FROM git_changes ch
), reverts AS (
    SELECT repo, reverts AS sha, arg_min(sha, committed_at) AS reverted_by, min(committed_at) AS reverted_at
    FROM git_commits_current WHERE reverts IS NOT NULL GROUP BY ALL
), retro AS (
    SELECT m.repo, m.sha, arg_min(r.reviewer, r.submitted_at) AS retro_approved_by,
           min(r.submitted_at) AS retro_approved_at
    FROM marked m JOIN git_reviews_current r ON r.repo = m.repo AND r.number = m.pr_number
    WHERE r.state = 'APPROVED' AND r.reviewer IS DISTINCT FROM m.pr_author AND r.submitted_at > m.merged_at
    GROUP BY ALL
)
SELECT m.* EXCLUDE (markers, window_ends), m.markers, m.window_ends,
       rv.reverted_by, rv.reverted_at, rt.retro_approved_by, rt.retro_approved_at,
       CASE WHEN rv.reverted_at <= m.window_ends THEN 'reverted'
            WHEN rt.retro_approved_at <= m.window_ends THEN 'retro-approved'
            WHEN m.as_of < m.window_ends THEN 'pending'
            ELSE 'unaccounted' END AS accounted
FROM marked m
LEFT JOIN reverts rv USING (repo, sha)
LEFT JOIN retro rt USING (repo, sha)
WHERE len(m.markers) > 0;

-- For every live object, the last change in git that touched it and who approved that change.
CREATE VIEW live_object_last_change AS
SELECT k.cluster, k.kind, k.namespace, k.name, ch.repo, ch.sha AS last_commit, ch.committed_at, ch.change_type,
       ch.pr_number, coalesce(ch.pr_author, ch.author_email) AS author, r.approvers,
       k.source, k.run_id, k.artifact_sha256, k.collected_at
FROM k8s_current k
JOIN git_change_objects o
  ON o.kind = k.kind AND o.name = k.name AND (o.namespace IS NULL OR o.namespace = k.namespace)
JOIN git_changes ch ON ch.repo = o.repo AND ch.sha = o.sha
JOIN git_change_reviews r ON r.repo = ch.repo AND r.sha = ch.sha
QUALIFY row_number() OVER (PARTITION BY k.cluster, k.kind, k.namespace, k.name ORDER BY ch.committed_at DESC) = 1;

-- Attestations at the head of the protected branch, each with the change that brought its current content there
-- (the latest landed change writing that blob at that path), that change's independent approvals, and why its
-- review cannot count (NULL: it can).
CREATE VIEW git_attestation_changes AS
SELECT a.repo, a.path, a.type, a.id, a.title, a.status, a.date, a.approvers, a.clusters, a.services, a.result,
       a.follow_ups, a.error, a.error_line,
       left(ch.sha, 12) AS change, ch.pr_number, coalesce(r.approvers, []) AS review_approvers,
       coalesce(r.approvals, 0) AS approvals,
       CASE WHEN ch.sha IS NULL THEN 'the change that merged it is not in the collected history'
            WHEN ch.pr_number IS NULL THEN 'pushed to ' || ch.protected_branch || ' without a pull request'
            WHEN ch.fetch_status IS NULL
                THEN 'reviews of #' || ch.pr_number || ' not collected (no review API configured for ' || a.repo || ')'
            WHEN ch.fetch_status = 'not-found' THEN '#' || ch.pr_number || ' not found on ' || ch.platform
            WHEN ch.fetch_status = 'error' THEN 'reviews of #' || ch.pr_number || ' not collected: ' || ch.fetch_error
       END AS review_problem,
       (SELECT max(path) FROM git_repositories_current g WHERE g.repo = a.repo) || '/' || a.path
           || CASE WHEN a.error_line IS NOT NULL THEN ' (line ' || a.error_line || ')' ELSE '' END AS location,
       a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM git_attestations_current a
LEFT JOIN git_commit_files_current f ON f.repo = a.repo AND f.path = a.path AND f.new_blob = a.blob
LEFT JOIN git_changes ch ON ch.repo = f.repo AND ch.sha = f.sha
LEFT JOIN git_change_reviews r ON r.repo = ch.repo AND r.sha = ch.sha
QUALIFY row_number() OVER (PARTITION BY a.repo, a.path ORDER BY ch.committed_at DESC NULLS LAST) = 1;

-- ADRs (and documents whose type cannot be read), with the roles whose named approver did not approve the
-- merging change in review, and why the ADR does not count (NULL: it does): each role needs its own approver.
CREATE VIEW git_adr_checks AS
WITH adrs AS (
    SELECT a.*,
           [x.role || ' (' || x.login || ')' FOR x IN coalesce(a.approvers, [])
            IF NOT list_contains([lower(r) FOR r IN a.review_approvers], lower(x.login))] AS unapproved_roles
    FROM git_attestation_changes a WHERE a.type = 'adr' OR a.type IS NULL
)
SELECT a.*,
       CASE WHEN a.error IS NOT NULL THEN a.error
            WHEN a.status <> 'accepted' THEN 'status ' || a.status || ', and no ADR of ' || a.repo || ' is accepted'
            WHEN len(list_distinct([lower(x.login) FOR x IN a.approvers])) < len(a.approvers)
                THEN 'one approver named for several roles: '
                     || array_to_string([x.role || ' (' || x.login || ')' FOR x IN a.approvers], ', ')
            WHEN a.review_problem IS NOT NULL THEN a.review_problem
            WHEN len(a.unapproved_roles) > 0
                THEN 'not approved in the review of #' || a.pr_number || ' by '
                     || array_to_string(a.unapproved_roles, ', ') || '; approved by: '
                     || coalesce(nullif(array_to_string(a.review_approvers, ', '), ''), 'nobody')
       END AS problem
FROM adrs a
-- an ADR not accepted is a gap only while its repository accepts none: proposals and superseded records stand
-- beside accepted ones
WHERE a.error IS NOT NULL OR a.status = 'accepted'
   OR NOT EXISTS (SELECT 1 FROM adrs b WHERE b.repo = a.repo AND b.error IS NULL AND b.status = 'accepted');

-- Game-day and rollback-test reports: for every collected cluster, the latest report of each type naming it, and
-- why it does not count (NULL: it does). A cluster no report names is a gap once any report of the type exists.
CREATE VIEW git_report_checks AS
WITH reports AS (
    SELECT * FROM git_attestation_changes WHERE type IN ('game-day', 'rollback-test') AND error IS NULL
), clusters AS (
    SELECT cluster, arg_max(source, collected_at) AS source, arg_max(run_id, collected_at) AS run_id,
           arg_max(artifact_sha256, collected_at) AS artifact_sha256, max(collected_at) AS collected_at
    FROM k8s_inventory_current WHERE status = 'collected' GROUP BY cluster
), latest AS (
    SELECT k.type, c.cluster, r.* EXCLUDE (type, source, run_id, artifact_sha256, collected_at),
           coalesce(r.source, c.source) AS source, coalesce(r.run_id, c.run_id) AS run_id,
           coalesce(r.artifact_sha256, c.artifact_sha256) AS artifact_sha256,
           coalesce(r.collected_at, c.collected_at) AS collected_at
    FROM (SELECT DISTINCT type FROM reports) k CROSS JOIN clusters c
    LEFT JOIN reports r ON r.type = k.type AND list_contains(r.clusters, c.cluster)
    QUALIFY row_number() OVER (PARTITION BY k.type, c.cluster ORDER BY r.date DESC NULLS LAST, r.path) = 1
)
SELECT l.*,
       CASE WHEN l.path IS NULL
                THEN 'no ' || l.type || ' report names cluster ' || l.cluster || ' (reports: '
                     || (SELECT string_agg(r.path || ' for ' || array_to_string(r.clusters, ', '), '; ' ORDER BY r.path)
                         FROM reports r WHERE r.type = l.type) || ')'
            WHEN l.result <> 'pass' THEN 'result ' || l.result || ' on ' || l.date
            WHEN l.date > CAST(getvariable('as_of') AS DATE) THEN 'dated ' || l.date || ', after the instant judged'
            WHEN l.date < CAST(getvariable('as_of') AS DATE) - to_days(getvariable('attestation_max_age_days'))
                THEN 'dated ' || l.date || ', older than ' || getvariable('attestation_max_age_days') || ' days'
            WHEN l.review_problem IS NOT NULL THEN l.review_problem
            WHEN l.approvals < getvariable('min_approvals')
                THEN l.approvals || ' of ' || getvariable('min_approvals')
                     || ' required independent approval(s) in the review of #' || l.pr_number
       END AS problem
FROM latest l
UNION ALL BY NAME
SELECT t.type, NULL AS cluster, a.* EXCLUDE (type), a.error AS problem
FROM git_attestation_changes a, (VALUES ('game-day'), ('rollback-test')) t(type)
WHERE a.error IS NOT NULL AND (a.type IS NULL OR a.type = t.type);

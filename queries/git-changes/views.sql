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
SELECT DISTINCT f.repo, f.sha, f.path, f.change_type AS file_change, o.api_version, o.kind, o.namespace, o.name
FROM git_commit_files_current f
LEFT JOIN git_manifest_objects_known o
       ON o.repo = f.repo AND o.blob IN (f.old_blob, f.new_blob) AND o.error IS NULL;

-- Why each path in the history is governed whatever it holds: a `governed_paths` glob, or (with the
-- `deployed` entry) a deployed file or directory of git_deployed_paths holding it, matched on the path and
-- each of its parent directories ('' is the repository root).
CREATE VIEW git_governed_paths AS
WITH paths AS (
    SELECT DISTINCT repo, path FROM git_commit_files_current
), prefixes AS (
    SELECT repo, path, unnest([array_to_string(parts[1:i], '/') FOR i IN range(len(parts) + 1)]) AS prefix
    FROM (SELECT repo, path, string_split(path, '/') AS parts FROM paths)
), reasons AS (
    SELECT p.repo, p.path, 'path ' || g AS reason
    FROM paths p, unnest(getvariable('governed_paths')) AS t(g)
    WHERE g <> 'deployed' AND p.path GLOB g
    UNION ALL
    SELECT p.repo, p.path, d.reason
    FROM prefixes p JOIN git_deployed_paths_current d ON d.repo = p.repo AND d.path = p.prefix
    WHERE list_contains(getvariable('governed_paths'), 'deployed')
)
SELECT repo, path, list(DISTINCT reason ORDER BY reason) AS reasons FROM reasons GROUP BY ALL;

-- Changes to what the repository deploys, with what they changed: each object of a governed file or of a
-- governed kind (`Kind` or `group/Kind`; with `deployed`, every object is), and each governed file that holds
-- no object or a version that cannot be parsed (which might define anything), with why it is governed.
CREATE VIEW git_governed_changes AS
WITH objects AS (
    SELECT o.repo, o.sha, o.path,
           o.kind || ' ' || coalesce(o.namespace || '/', '') || o.name || ' (' || o.path || ')' AS label
    FROM git_change_objects o LEFT JOIN git_governed_paths gp USING (repo, path)
    WHERE o.kind IS NOT NULL
      AND (gp.path IS NOT NULL OR list_contains(getvariable('governed_paths'), 'deployed')
           OR list_contains(getvariable('governed_kinds'), o.kind)
           OR list_contains(getvariable('governed_kinds'), split_part(o.api_version, '/', 1) || '/' || o.kind))
), files AS (
    SELECT f.repo, f.sha, f.path,
           list_concat(CASE WHEN bool_or(o.error IS NOT NULL) THEN ['unparseable manifest'] ELSE [] END,
                       coalesce(any_value(gp.reasons), [])) AS reasons,
           bool_or(o.error IS NOT NULL) AS unparseable
    FROM git_commit_files_current f
    LEFT JOIN git_governed_paths gp USING (repo, path)
    LEFT JOIN git_manifest_objects_known o
           ON o.repo = f.repo AND o.blob IN (f.old_blob, f.new_blob) AND o.error IS NOT NULL
    GROUP BY ALL
), labels AS (
    SELECT repo, sha, path, label FROM objects
    UNION ALL
    SELECT f.repo, f.sha, f.path, f.path || ' (' || array_to_string(f.reasons, '; ') || ')'
    FROM files f
    WHERE f.unparseable
       OR (len(f.reasons) > 0
           AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.repo = f.repo AND o.sha = f.sha AND o.path = f.path))
), governed AS (
    SELECT repo, sha, list(DISTINCT label ORDER BY label) AS changed, min(path) AS first_path
    FROM labels GROUP BY repo, sha
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

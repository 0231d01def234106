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

-- A JSON object's members sorted by key, to compare two objects whatever their key order.
CREATE OR REPLACE TEMP MACRO git_sorted_members(j) AS (SELECT list([key, value::VARCHAR] ORDER BY key) FROM json_each(j));

-- egress-allowlist-approved: each egress allowlist ConfigMap of the Kubernetes inventory (labelled
-- defensible.io/egress-allowlist=true) and the last change in git whose files define it before or after
-- (`defines` = some file of that change still defines it after the change), with that change's review and
-- whether the inventory's data is the data that change committed (`same_data`).
-- A manifest without a namespace matches the ConfigMap in any namespace (kustomize or Argo CD set it).
CREATE VIEW git_egress_allowlists AS
WITH allowlists AS (
    SELECT * FROM k8s_current
    WHERE kind = 'ConfigMap' AND (labels->>'defensible.io/egress-allowlist') = 'true'
), touches AS (
    SELECT a.cluster, a.namespace, a.name, ch.repo, ch.sha, ch.committed_at,
           bool_or(o.blob = f.new_blob) AS defines, min(f.path) AS path,
           any_value(o.data) FILTER (WHERE o.blob = f.new_blob) AS git_data
    FROM allowlists a
    JOIN git_manifest_objects_known o
      ON o.kind = 'ConfigMap' AND o.name = a.name AND coalesce(o.namespace, a.namespace) = a.namespace
         AND o.error IS NULL
    JOIN git_commit_files_current f ON f.repo = o.repo AND o.blob IN (f.old_blob, f.new_blob)
    JOIN git_changes ch ON ch.repo = f.repo AND ch.sha = f.sha
    GROUP BY ALL
), last AS (
    SELECT * FROM touches
    QUALIFY row_number() OVER (PARTITION BY cluster, namespace, name ORDER BY committed_at DESC, sha) = 1
)
SELECT a.cluster, a.namespace, a.name, l.repo, l.sha, l.committed_at, l.defines, l.path,
       git_sorted_members(a.data) IS NOT DISTINCT FROM git_sorted_members(l.git_data) AS same_data,
       ch.change_type, ch.pr_number, ch.fetch_status, ch.fetch_error, ch.platform, ch.protected_branch,
       ch.merged_head, coalesce(ch.pr_author, ch.author_email) AS author,
       r.approvers, r.approvals, r.self_approvers, r.stale_approvals, e.accounted AS emergency,
       a.location, a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM allowlists a
LEFT JOIN last l USING (cluster, namespace, name)
LEFT JOIN git_changes ch ON ch.repo = l.repo AND ch.sha = l.sha
LEFT JOIN git_change_reviews r ON r.repo = l.repo AND r.sha = l.sha
LEFT JOIN git_emergency_changes e ON e.repo = l.repo AND e.sha = l.sha;

-- Derived approval evidence over the git source's tables (latest run per repository).
-- Parameters are DuckDB variables set from pack.yaml (getvariable('name')).

-- Changes that landed on the protected branch: one per first-parent commit, with the pull request its message
-- names. A message proves nothing: the request counts (its reviews, labels and branch) only if its platform
-- merged it as this very commit (merge_commit_sha: the merge, squash or last rebased commit); else `pr_problem`.
CREATE VIEW git_changes AS
WITH changes AS (
    SELECT c.*, pr.platform, pr.fetch_status, pr.fetch_error, pr.author AS pr_author, pr.labels, pr.merged_at,
           pr.head_ref, pr.head_sha,
           CASE WHEN pr.fetch_status <> 'fetched' THEN NULL
                WHEN pr.merged_at IS NULL THEN '#' || c.pr_number || ' was not merged on ' || pr.platform
                WHEN pr.merge_commit_sha IS DISTINCT FROM c.sha
                    THEN '#' || c.pr_number || ' was merged on ' || pr.platform || ' as '
                         || coalesce(left(pr.merge_commit_sha, 12), 'an unrecorded commit') || ', not as this commit'
           END AS pr_problem
    FROM git_commits_current c
    LEFT JOIN git_pull_requests_current pr ON pr.repo = c.repo AND pr.number = c.pr_number
    WHERE c.first_parent
)
SELECT c.repo, c.sha, c.committed_at, c.author_name, c.author_email, c.subject, c.trailers,
       c.signature_status, c.signature_key, c.signer, c.pr_number,
       c.platform, c.fetch_status, c.fetch_error, c.pr_author, c.pr_problem,
       CASE WHEN c.pr_problem IS NULL THEN c.labels END AS labels, c.merged_at,
       CASE WHEN c.pr_problem IS NULL THEN coalesce(c.head_ref, c.pr_branch) END AS branch,
       coalesce(c.head_sha, CASE WHEN len(c.parents) > 1 THEN c.parents[2] END) AS merged_head,
       CASE WHEN c.pr_number IS NULL THEN 'direct push' ELSE 'pull request' END AS change_type,
       g.branch AS protected_branch, g.review_platform, g.collected_at AS as_of,
       c.source, c.run_id, c.artifact_sha256, c.collected_at
FROM changes c
JOIN git_repositories_current g USING (run_id, repo);

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

-- Whether a reviewer login is an automation account (bot_reviewer_pattern), not an independent reviewer.
CREATE OR REPLACE TEMP MACRO bot_reviewer(login) AS regexp_matches(login, getvariable('bot_reviewer_pattern'));

-- The authors of each pull request: who opened it, and who wrote or pushed its commits (GitHub logins).
CREATE VIEW git_pull_request_authors AS
SELECT pr.repo, pr.number,
       list_distinct(list_concat([pr.author], coalesce(any_value(c.logins), []))) AS logins
FROM git_pull_requests_current pr
LEFT JOIN (SELECT repo, number, list(DISTINCT login) FILTER (WHERE login IS NOT NULL) AS logins
           FROM git_pull_request_commits_current, unnest([author_login, committer_login]) AS t(login)
           GROUP BY repo, number) c USING (repo, number)
GROUP BY pr.repo, pr.number, pr.author;

-- Each reviewer's standing review of a change at merge time (latest approving, rejecting or dismissed
-- review submitted before the merge) of a request merged as that change, and approvals given in commit
-- trailers, if those are trusted. A review by an author of the request (see above) is a self-approval.
CREATE VIEW git_change_approvals AS
SELECT ch.repo, ch.sha, r.reviewer, r.state, r.submitted_at, r.commit_id, 'review' AS via,
       r.reviewer = ch.pr_author OR list_contains(coalesce(au.logins, []), r.reviewer) AS self_approval,
       bot_reviewer(r.reviewer) AS bot, coalesce(r.commit_id <> ch.merged_head, false) AS stale
FROM git_changes ch
JOIN git_reviews_current r ON r.repo = ch.repo AND r.number = ch.pr_number
LEFT JOIN git_pull_request_authors au ON au.repo = ch.repo AND au.number = ch.pr_number
WHERE r.state IN ('APPROVED', 'CHANGES_REQUESTED', 'DISMISSED') AND ch.pr_problem IS NULL
  AND (ch.merged_at IS NULL OR r.submitted_at IS NULL OR r.submitted_at <= ch.merged_at)
QUALIFY row_number() OVER (PARTITION BY ch.repo, ch.sha, r.reviewer ORDER BY r.submitted_at DESC NULLS LAST) = 1
UNION ALL
SELECT ch.repo, ch.sha, t.value, 'APPROVED', ch.committed_at, NULL, 'trailer ' || t.key,
       t.value ILIKE '%<' || ch.author_email || '>%', false, false
FROM git_changes ch, unnest(ch.trailers) AS u(t)
WHERE getvariable('trust_trailer_approvals') AND lower(t.key) IN ('reviewed-by', 'approved-by');

CREATE VIEW git_change_reviews AS
SELECT ch.repo, ch.sha,
       coalesce(list(DISTINCT a.reviewer ORDER BY a.reviewer)
                FILTER (WHERE a.state = 'APPROVED' AND NOT a.self_approval AND NOT a.bot AND NOT a.stale), [])
           AS approvers,
       count(DISTINCT a.reviewer)
           FILTER (WHERE a.state = 'APPROVED' AND NOT a.self_approval AND NOT a.bot AND NOT a.stale) AS approvals,
       coalesce(list(DISTINCT a.reviewer ORDER BY a.reviewer)
                FILTER (WHERE a.state = 'APPROVED' AND a.self_approval), []) AS self_approvers,
       coalesce(list(DISTINCT a.reviewer ORDER BY a.reviewer)
                FILTER (WHERE a.state = 'APPROVED' AND a.bot AND NOT a.self_approval), []) AS bot_approvers,
       coalesce(list(DISTINCT a.reviewer || ' (on ' || left(a.commit_id, 12) || ')'
                     ORDER BY a.reviewer || ' (on ' || left(a.commit_id, 12) || ')')
                FILTER (WHERE a.state = 'APPROVED' AND a.stale AND NOT a.self_approval AND NOT a.bot), [])
           AS stale_approvals
FROM git_changes ch LEFT JOIN git_change_approvals a USING (repo, sha)
GROUP BY ch.repo, ch.sha;

-- Emergency (break-glass) changes, found by trailer, label or branch name, and how each was accounted for:
-- reverted (a later change on the branch sets exactly the files it touched back to their versions before it,
-- whatever its message says), or approved after the merge by someone other than its author (not a bot) whose
-- latest review still approves, within the window.
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
), files AS (
    SELECT repo, sha, list(path || ' ' || old_blob ORDER BY path) AS before,
           list(path || ' ' || new_blob ORDER BY path) AS after
    FROM git_commit_files_current GROUP BY repo, sha
), reverts AS (
    SELECT m.repo, m.sha, arg_min(r.sha, r.committed_at) AS reverted_by, min(r.committed_at) AS reverted_at
    FROM marked m
    JOIN files e ON e.repo = m.repo AND e.sha = m.sha
    JOIN files u ON u.repo = m.repo AND u.after = e.before
    JOIN git_changes r ON r.repo = u.repo AND r.sha = u.sha AND r.sha <> m.sha AND r.committed_at >= m.committed_at
    WHERE len(m.markers) > 0
    GROUP BY m.repo, m.sha
), standing AS (  -- each reviewer's latest approving, rejecting or dismissed review after the merge
    SELECT m.repo, m.sha, r.reviewer, r.state, r.submitted_at
    FROM marked m JOIN git_reviews_current r ON r.repo = m.repo AND r.number = m.pr_number
    LEFT JOIN git_pull_request_authors au ON au.repo = m.repo AND au.number = m.pr_number
    WHERE r.state IN ('APPROVED', 'CHANGES_REQUESTED', 'DISMISSED') AND r.reviewer IS DISTINCT FROM m.pr_author
      AND NOT list_contains(coalesce(au.logins, []), r.reviewer)
      AND NOT bot_reviewer(r.reviewer) AND m.pr_problem IS NULL AND r.submitted_at > m.merged_at
    QUALIFY row_number() OVER (PARTITION BY m.repo, m.sha, r.reviewer ORDER BY r.submitted_at DESC) = 1
), retro AS (
    SELECT repo, sha, arg_min(reviewer, submitted_at) AS retro_approved_by, min(submitted_at) AS retro_approved_at
    FROM standing WHERE state = 'APPROVED'
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

-- live-matches-git -------------------------------------------------------------------------------------------
-- The API group of an apiVersion ('' for the core group, v1).
CREATE OR REPLACE TEMP MACRO api_group(api_version) AS
    CASE WHEN contains(api_version, '/') THEN split_part(api_version, '/', 1) ELSE '' END;

-- Whether a label or annotation key is controller-managed metadata (the ignored_metadata globs).
CREATE OR REPLACE TEMP MACRO ignored_metadata(k) AS
    len([g FOR g IN getvariable('ignored_metadata') IF k GLOB g]) > 0;

-- Every manifest object at the head of each collected repository.
CREATE VIEW git_head_objects AS
SELECT t.repo, t.path, g.head_sha, api_group(o.api_version) AS api_group, o.kind, o.namespace, o.name,
       o.labels, o.annotations, o.body, o.desired_sha256,
       t.source, t.run_id, t.artifact_sha256, t.collected_at
FROM git_tree_files_current t
JOIN git_repositories_current g ON g.run_id = t.run_id AND g.repo = t.repo
JOIN git_manifest_objects_known o ON o.repo = t.repo AND o.blob = t.blob
WHERE o.error IS NULL AND o.desired_sha256 IS NOT NULL AND o.kind IS NOT NULL AND o.name IS NOT NULL;

-- Live objects of a governed kind (the kind without the group qualification the store adds, e.g. Istio's
-- Gateway.networking.istio.io), each paired with every manifest at a head that could define it: same API group,
-- kind and name, and same namespace (a manifest without one takes the namespace it is applied to).
CREATE VIEW live_git_pairs AS
SELECT row_number() OVER (ORDER BY l.cluster, l.kind, l.namespace, l.name, h.repo, h.path) AS pair,
       l.cluster, l.kind, l.namespace, l.name, l.labels AS live_labels, l.annotations AS live_annotations,
       json_object('spec', l.spec, 'data', l.data) AS live_body,
       h.repo, h.path || '@' || left(h.head_sha, 12) AS git_location,
       h.labels AS git_labels, h.annotations AS git_annotations, h.body AS git_body,
       h.desired_sha256 AS git_desired_sha256, l.source, l.run_id, l.artifact_sha256, l.collected_at
FROM k8s_current l
JOIN git_head_objects h
  ON h.kind = split_part(l.kind, '.', 1) AND h.api_group = api_group(l.api_version) AND h.name = l.name
 AND (h.namespace IS NOT DISTINCT FROM l.namespace OR (h.namespace IS NULL AND l.namespace IS NOT NULL))
WHERE list_contains(getvariable('governed_kinds'), split_part(l.kind, '.', 1));

-- How each live object differs from a manifest. Labels and annotations must be equal, controller-managed keys
-- aside. The body is compared from the manifest's side: each field it sets must have that value live, each list it
-- sets the same length; fields only the live object has are taken for API-server defaults. An empty list or map,
-- false, 0 or "" in the manifest also matches an absent live field (the API omits empty values). Only spec and data
-- are collected live: any other body field is a difference that cannot be judged. A difference inside a field that
-- already differs is not repeated.
CREATE VIEW live_git_differences AS
WITH nodes AS (
    SELECT p.pair, n.parent, n.fullkey, n.type, n.value, json_extract(p.live_body, n.fullkey) AS live
    FROM live_git_pairs p, json_tree(p.git_body) n
    WHERE n.fullkey <> '$'
), body AS (
    SELECT pair, fullkey,
           CASE WHEN parent = 0 AND fullkey NOT IN ('$.spec', '$.data')
                    THEN 'declares ' || substr(fullkey, 3) || ', which the kubernetes source does not collect'
                WHEN live IS NULL OR json_type(live) = 'NULL'
                    THEN CASE WHEN NOT (type = 'OBJECT' AND value = '{}' OR type = 'ARRAY' AND value = '[]'
                                        OR value IN ('false', '0', '""', 'null'))
                              THEN substr(fullkey, 3) || ': absent live (git ' || left(value, 80) || ')' END
                WHEN type = 'OBJECT'
                    THEN CASE WHEN json_type(live) <> 'OBJECT' THEN substr(fullkey, 3) || ': not a map live' END
                WHEN type = 'ARRAY'
                    THEN CASE WHEN json_type(live) <> 'ARRAY' OR json_array_length(live) <> json_array_length(value)
                              THEN substr(fullkey, 3) || ': ' || json_array_length(value) || ' item(s) in git, '
                                   || coalesce(json_array_length(live), 0) || ' live' END
                WHEN live::VARCHAR <> value::VARCHAR
                    THEN substr(fullkey, 3) || ': git ' || left(value, 80) || ', live ' || left(live, 80)
           END AS difference
    FROM nodes
), body_differences AS (
    SELECT d.pair, d.difference FROM body d
    WHERE d.difference IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM body p WHERE p.pair = d.pair AND p.difference IS NOT NULL
                                             AND (starts_with(d.fullkey, p.fullkey || '.')
                                                  OR starts_with(d.fullkey, p.fullkey || '[')))
), metadata AS (
    SELECT pair, 'label' AS field, git_labels AS git, live_labels AS live FROM live_git_pairs
    UNION ALL
    SELECT pair, 'annotation', git_annotations, live_annotations FROM live_git_pairs
), metadata_differences AS (
    SELECT m.pair, m.field || ' ' || e.key || ': git ' || (e.value->>'$') || ', live '
                   || coalesce(m.live->>e.key, '(absent)') AS difference
    FROM metadata m, json_each(m.git) e
    WHERE NOT ignored_metadata(e.key) AND (m.live->>e.key) IS DISTINCT FROM (e.value->>'$')
    UNION ALL
    SELECT m.pair, m.field || ' ' || e.key || '=' || (e.value->>'$') || ' live, not in git'
    FROM metadata m, json_each(m.live) e
    WHERE NOT ignored_metadata(e.key) AND (m.git->e.key) IS NULL
)
SELECT p.pair, coalesce(list(d.difference ORDER BY d.difference) FILTER (WHERE d.difference IS NOT NULL), [])
           AS differences
FROM live_git_pairs p
LEFT JOIN (SELECT * FROM body_differences UNION ALL SELECT * FROM metadata_differences) d USING (pair)
GROUP BY p.pair;

-- Each live object of a governed kind against the manifest at a head closest to it (fewest differences), or none.
CREATE VIEW live_vs_git AS
WITH best AS (
    SELECT p.*, d.differences FROM live_git_pairs p JOIN live_git_differences d USING (pair)
    QUALIFY row_number() OVER (PARTITION BY p.cluster, p.kind, p.namespace, p.name
                               ORDER BY len(d.differences), p.repo, p.git_location) = 1
)
SELECT l.cluster, l.kind, l.namespace, l.name, b.repo, b.git_location, b.git_desired_sha256, b.differences,
       l.source, l.run_id, l.artifact_sha256, l.collected_at
FROM k8s_current l
LEFT JOIN best b
       ON b.cluster = l.cluster AND b.kind = l.kind AND b.name = l.name
      AND b.namespace IS NOT DISTINCT FROM l.namespace  -- cluster-scoped objects have none
WHERE list_contains(getvariable('governed_kinds'), split_part(l.kind, '.', 1));

-- out-of-band-changes ----------------------------------------------------------------------------------------
-- The API resource of a kind, as Kubernetes and CRD generators pluralise it (NetworkPolicy: networkpolicies).
CREATE OR REPLACE TEMP MACRO kind_resource(kind) AS
    CASE WHEN regexp_matches(lower(kind), '[^aeiou]y$') THEN regexp_replace(lower(kind), 'y$', 'ies')
         WHEN regexp_matches(lower(kind), '(s|x|z|ch|sh)$') THEN lower(kind) || 'es'
         ELSE lower(kind) || 's' END;

-- Requests that changed an object of a governed kind (create, update, patch, delete, deletecollection; not its
-- status), one per audit ID at its last logged stage, from landed log runs. Dry runs and requests that failed
-- (response code >= 400, or a panic) changed nothing; a request whose response is not logged may have.
CREATE VIEW audit_governed_changes AS
SELECT e.cluster, e.audit_id, e.ts, e.stage, e.verb, e."user", e.impersonated_user, e.user_agent, e.source_ips,
       e.api_group, e.resource, k.kind, e.namespace, e.name, e.code,
       len([g FOR g IN getvariable('gitops_identities') IF e."user" GLOB g]) > 0 AS by_gitops,
       e.source, e.run_id, e.artifact_sha256, e.collected_at
FROM audit_events e
JOIN runs r ON r.run_id = e.run_id AND r.status IN ('succeeded', 'partial')
JOIN (SELECT unnest(getvariable('governed_kinds')) AS kind) k ON kind_resource(k.kind) = e.resource
WHERE e.verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
  AND coalesce(e.subresource, '') <> 'status'
  AND NOT regexp_matches(coalesce(e.request_uri, ''), '[?&]dryRun=')
QUALIFY row_number() OVER (PARTITION BY e.cluster, e.audit_id
                           ORDER BY CASE e.stage WHEN 'ResponseComplete' THEN 0 WHEN 'Panic' THEN 1
                                                 WHEN 'ResponseStarted' THEN 2 ELSE 3 END, e.ts DESC) = 1
   AND e.stage <> 'Panic' AND coalesce(e.code, 0) < 400;

-- Live objects that carry the break-glass annotation (its value: the emergency ticket). Without a kubernetes
-- collection the first statement stands: the second reads k8s_current and fails alone.
CREATE VIEW live_break_glass AS
SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS api_group, NULL::VARCHAR AS kind, NULL::VARCHAR AS namespace,
       NULL::VARCHAR AS name, NULL::VARCHAR AS ticket
WHERE false;

CREATE VIEW live_break_glass AS
SELECT cluster, api_group(api_version) AS api_group, split_part(kind, '.', 1) AS kind, namespace, name,
       annotations->>getvariable('break_glass_annotation') AS ticket
FROM k8s_current
WHERE nullif(trim(annotations->>getvariable('break_glass_annotation')), '') IS NOT NULL;

-- Changes by identities other than the GitOps controllers, and what accounts for each: an emergency change in Git
-- that touched the object (same API group, kind, namespace and name) within emergency_window_hours of the request
-- (before or after it), or the break-glass annotation on the live object.
CREATE VIEW audit_out_of_band_changes AS
WITH emergency AS (
    SELECT a.cluster, a.audit_id,
           arg_min(left(e.sha, 12) || ' (' || array_to_string(e.markers, ', ') || ')',
                   abs(epoch(e.committed_at) - epoch(a.ts))) AS emergency_change
    FROM audit_governed_changes a
    JOIN git_change_objects o
      ON o.kind = a.kind AND api_group(o.api_version) = coalesce(a.api_group, '') AND o.name = a.name
     AND (o.namespace IS NULL OR o.namespace = a.namespace)
    JOIN git_emergency_changes e ON e.repo = o.repo AND e.sha = o.sha
    WHERE NOT a.by_gitops
      AND abs(epoch(e.committed_at) - epoch(a.ts)) <= getvariable('emergency_window_hours') * 3600
    GROUP BY ALL
)
SELECT a.*, em.emergency_change, bg.ticket AS break_glass_ticket
FROM audit_governed_changes a
LEFT JOIN emergency em USING (cluster, audit_id)
LEFT JOIN live_break_glass bg
       ON bg.cluster = a.cluster AND bg.api_group = coalesce(a.api_group, '') AND bg.kind = a.kind AND bg.name = a.name
      AND bg.namespace IS NOT DISTINCT FROM a.namespace
WHERE NOT a.by_gitops;

-- A JSON object's members sorted by key, to compare two objects whatever their key order.
CREATE OR REPLACE TEMP MACRO git_sorted_members(j) AS (SELECT list([key, value::VARCHAR] ORDER BY key) FROM json_each(j));

-- egress-allowlist-approved: each egress allowlist ConfigMap of the Kubernetes inventory (labelled
-- defensible.io/egress-allowlist=true) and the last change in git whose files define it before or after
-- (`defines` = some file of that change still defines it after the change), with that change's review and
-- whether the inventory's data is the data that change committed (`same_data`), and the keys of its binaryData
-- (collected redacted, so never comparable with git: `binary_keys`).
-- A manifest without a namespace matches the ConfigMap in any namespace (kustomize or Argo CD set it).
CREATE VIEW git_egress_allowlists AS
WITH allowlists AS (
    SELECT * FROM k8s_current
    WHERE kind = 'ConfigMap' AND (labels->>'defensible.io/egress-allowlist') = 'true'
), touches AS (
    SELECT a.cluster, a.namespace, a.name, ch.repo, ch.sha, ch.committed_at,
           bool_or(o.blob = f.new_blob) AS defines, min(f.path) AS path,
           any_value(o.body->'data') FILTER (WHERE o.blob = f.new_blob) AS git_data
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
       coalesce(json_keys(a.spec->'binaryData'), []) AS binary_keys,
       ch.change_type, ch.pr_number, ch.fetch_status, ch.fetch_error, ch.pr_problem, ch.platform, ch.protected_branch,
       ch.merged_head, coalesce(ch.pr_author, ch.author_email) AS author,
       r.approvers, r.approvals, r.self_approvers, r.bot_approvers, r.stale_approvals, e.accounted AS emergency,
       a.location, a.source, a.run_id, a.artifact_sha256, a.collected_at
FROM allowlists a
LEFT JOIN last l USING (cluster, namespace, name)
LEFT JOIN git_changes ch ON ch.repo = l.repo AND ch.sha = l.sha
LEFT JOIN git_change_reviews r ON r.repo = l.repo AND r.sha = l.sha
LEFT JOIN git_emergency_changes e ON e.repo = l.repo AND e.sha = l.sha;

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
            WHEN ch.pr_problem IS NOT NULL THEN ch.pr_problem
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

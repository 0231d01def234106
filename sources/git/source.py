"""Git approval history: who changed each route, policy and egress rule, and who approved it.

For each configured GitOps repository the source runs ``git log`` a few times over the protected branch
(commits with signature status and trailers, files changed with blob ids, the first-parent chain),
keeps each output as a raw artifact and parses it with DuckDB in bulk. Manifest blobs are parsed once
per blob to map files to the Kubernetes objects they define; Helm charts, kustomizations and Flux/Argo CD
objects are read to record the paths the repository deploys (``sources.git.deployed``). Pull-request
reviews (GitHub) and merge-request approvals (GitLab) are fetched through their REST APIs
(``sources.git.code_review``).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from collector.plugins import CollectContext, SourceError
from collector.redaction import LAST_APPLIED, redact_object
from collector.roots import Roots
from collector.store import PROVENANCE_COLUMNS
from sources.git.attestations import DEFAULT_GLOBS, attestation_row, listed_blobs
from sources.git.code_review import fetch_reviews
from sources.git.deployed import (
    DECLARER_API_GROUPS,
    DECLARER_KINDS,
    DECLARER_PATHS,
    deployed_paths,
    is_controller,
    resolved,
)
from sources.kubernetes.manifests import MANIFEST_SUFFIXES, expand_lists, read_documents

RS, US, GS, FS = "\x1e", "\x1f", "\x1d", "\x1c"  # record, unit, trailer and key/value separators
COMMIT_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%G?", "%GK", "%GS", "%s", "%B")
COMMIT_FORMAT = (
    "%x1e" + "%x1f".join(COMMIT_FIELDS) + "%x1f%(trailers:only,unfold,separator=%x1d,key_value_separator=%x1c)"
)
NULL_BLOB = "0" * 40

MANIFEST_PATHS = r"\.(" + "|".join(s.lstrip(".") for s in MANIFEST_SUFFIXES) + ")$"

MIGRATIONS = (
    f"""
    CREATE TABLE git_repositories (
        repo VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        branch VARCHAR NOT NULL,
        head_sha VARCHAR NOT NULL,
        since VARCHAR,
        until VARCHAR,
        review_platform VARCHAR,
        review_project VARCHAR,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE git_commits (
        repo VARCHAR NOT NULL,
        sha VARCHAR NOT NULL,
        parents VARCHAR[] NOT NULL,
        first_parent BOOLEAN NOT NULL,  -- on the first-parent chain of the branch: a change that landed
        author_name VARCHAR, author_email VARCHAR, authored_at TIMESTAMPTZ,
        committer_name VARCHAR, committer_email VARCHAR, committed_at TIMESTAMPTZ,
        -- git %G?: G good, U good/unknown trust, B bad, X/Y expired, R revoked, E unverifiable, N none
        signature_status VARCHAR,
        signature_key VARCHAR,
        signer VARCHAR,
        subject VARCHAR,
        message VARCHAR,
        trailers STRUCT(key VARCHAR, value VARCHAR)[],
        pr_number INTEGER,   -- parsed from GitHub/GitLab merge or squash messages
        pr_branch VARCHAR,   -- source branch named in a merge message
        reverts VARCHAR,     -- sha named by "This reverts commit <sha>."
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE git_commit_files (
        repo VARCHAR NOT NULL,
        sha VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        change_type VARCHAR NOT NULL,  -- A M D T (merges: against the first parent)
        old_blob VARCHAR NOT NULL,
        new_blob VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE git_manifest_objects (
        repo VARCHAR NOT NULL,
        blob VARCHAR NOT NULL,
        location VARCHAR NOT NULL,  -- path@commit#document where the blob was first seen
        api_version VARCHAR, kind VARCHAR, namespace VARCHAR, name VARCHAR,
        error VARCHAR,              -- set when the blob is not valid YAML/Kubernetes; kind etc. are NULL
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE git_pull_requests (
        repo VARCHAR NOT NULL,
        platform VARCHAR NOT NULL,  -- github | gitlab
        number INTEGER NOT NULL,
        title VARCHAR,
        author VARCHAR,
        head_ref VARCHAR,
        head_sha VARCHAR,
        labels VARCHAR[],
        merged_at TIMESTAMPTZ,
        merge_commit_sha VARCHAR,
        fetch_status VARCHAR NOT NULL,  -- fetched | not-found | error
        fetch_error VARCHAR,
        {PROVENANCE_COLUMNS}
    );
    CREATE TABLE git_reviews (
        repo VARCHAR NOT NULL,
        platform VARCHAR NOT NULL,
        number INTEGER NOT NULL,
        reviewer VARCHAR NOT NULL,
        state VARCHAR NOT NULL,  -- APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED (GitLab approvals: APPROVED)
        commit_id VARCHAR,       -- head the review was made on (GitHub); NULL for GitLab approvals
        submitted_at TIMESTAMPTZ,
        {PROVENANCE_COLUMNS}
    );
    CREATE VIEW git_repositories_current AS
        SELECT g.* FROM git_repositories g JOIN runs r USING (run_id)
        WHERE r.status IN ('succeeded', 'partial')
        QUALIFY row_number() OVER (PARTITION BY g.repo ORDER BY r.started_at DESC, r.run_id DESC) = 1;
    CREATE VIEW git_commits_current AS
        SELECT t.* FROM git_commits t JOIN git_repositories_current USING (run_id, repo);
    CREATE VIEW git_commit_files_current AS
        SELECT t.* FROM git_commit_files t JOIN git_repositories_current USING (run_id, repo);
    CREATE VIEW git_pull_requests_current AS
        SELECT t.* FROM git_pull_requests t JOIN git_repositories_current USING (run_id, repo);
    CREATE VIEW git_reviews_current AS
        SELECT t.* FROM git_reviews t JOIN git_repositories_current USING (run_id, repo);
    -- blobs are immutable: objects parsed by any successful run hold for every later one
    CREATE VIEW git_manifest_objects_known AS
        SELECT o.* FROM git_manifest_objects o JOIN runs r USING (run_id)
        WHERE r.status IN ('succeeded', 'partial');
    """,
    # Each manifest object's content (redacted) and the digest of its desired state; the manifest files at the
    # branch head, so that a file unchanged since before the window still has its objects parsed.
    f"""
    ALTER TABLE git_manifest_objects ADD COLUMN labels JSON;
    ALTER TABLE git_manifest_objects ADD COLUMN annotations JSON;
    ALTER TABLE git_manifest_objects ADD COLUMN body JSON;  -- top-level fields but apiVersion, kind, metadata, status
    ALTER TABLE git_manifest_objects ADD COLUMN desired_sha256 VARCHAR;  -- see desired_state()
    CREATE TABLE git_tree_files (
        repo VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        blob VARCHAR NOT NULL,
        {PROVENANCE_COLUMNS}
    );
    CREATE VIEW git_tree_files_current AS
        SELECT t.* FROM git_tree_files t JOIN git_repositories_current USING (run_id, repo);
    """,
    # the paths the repository deploys (sources.git.deployed)
    f"""
    CREATE TABLE git_deployed_paths (
        repo VARCHAR NOT NULL,
        path VARCHAR NOT NULL,         -- a file or directory the repository deploys ('' = all of it)
        reason VARCHAR NOT NULL,       -- e.g. "Helm chart charts/web", "resources of overlays/prod/kustomization.yaml"
        declared_in VARCHAR NOT NULL,  -- path@commit of the file that declares it, first seen
        {PROVENANCE_COLUMNS}
    );
    CREATE VIEW git_deployed_paths_current AS
        SELECT t.* FROM git_deployed_paths t JOIN git_repositories_current USING (run_id, repo);
    """,
    # Attestations (ADRs, game-day and rollback-test reports) at the head of the protected branch.
    f"""
    CREATE TABLE git_attestations (
        repo VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        blob VARCHAR NOT NULL,
        head_sha VARCHAR NOT NULL,
        type VARCHAR,              -- adr | game-day | rollback-test; NULL when it cannot be read
        id VARCHAR,
        title VARCHAR,
        status VARCHAR,            -- ADR: proposed | accepted | rejected | deprecated | superseded
        date DATE,                 -- ADR: the decision's; report: the exercise's
        approvers STRUCT(role VARCHAR, login VARCHAR)[],  -- ADR: the approver named for each role
        clusters VARCHAR[],        -- report scope
        services VARCHAR[],
        result VARCHAR,            -- report: pass | fail
        follow_ups VARCHAR[],
        error VARCHAR,             -- set when the document is malformed: file, line and problem
        error_line INTEGER,
        {PROVENANCE_COLUMNS}
    );
    CREATE VIEW git_attestations_current AS
        SELECT t.* FROM git_attestations t JOIN git_repositories_current USING (run_id, repo);
    """,
    # the mode of each file version, so that symbolic links (120000) are known
    """
    ALTER TABLE git_commit_files ADD COLUMN new_mode VARCHAR;  -- git mode after the change (120000: a symlink)
    """,
    # who wrote and pushed the commits of each pull request (GitHub), so that they cannot approve it
    f"""
    CREATE TABLE git_pull_request_commits (
        repo VARCHAR NOT NULL,
        platform VARCHAR NOT NULL,
        number INTEGER NOT NULL,
        sha VARCHAR NOT NULL,
        author_login VARCHAR,     -- NULL when the platform links the commit's email to no account
        committer_login VARCHAR,
        {PROVENANCE_COLUMNS}
    );
    CREATE VIEW git_pull_request_commits_current AS
        SELECT t.* FROM git_pull_request_commits t JOIN git_repositories_current USING (run_id, repo);
    """,
)

INSERT_COMMITS = """
INSERT INTO git_commits BY NAME
WITH recs AS (
    SELECT string_split(rtrim(rec, chr(10)), chr(31)) AS f
    FROM (SELECT unnest(string_split(content, chr(30))) AS rec FROM read_text($log))
    WHERE rec <> ''
), first_parent AS (
    SELECT unnest(string_split(trim(content), chr(10))) AS sha FROM read_text($first_parent)
), parsed AS (
    SELECT f[1] AS sha, f[2] AS parents, f[3] AS author_name, f[4] AS author_email,
           CAST(f[5] AS TIMESTAMPTZ) AS authored_at, f[6] AS committer_name, f[7] AS committer_email,
           CAST(f[8] AS TIMESTAMPTZ) AS committed_at, f[9] AS signature_status,
           nullif(f[10], '') AS signature_key, nullif(f[11], '') AS signer, f[12] AS subject,
           rtrim(f[13], chr(10)) AS message, f[14] AS trailers
    FROM recs WHERE len(f) = 14
)
SELECT $repo AS repo, sha,
       CASE WHEN parents = '' THEN []::VARCHAR[] ELSE string_split(parents, ' ') END AS parents,
       sha IN (SELECT sha FROM first_parent) AS first_parent,
       author_name, author_email, authored_at, committer_name, committer_email, committed_at,
       signature_status, signature_key, signer, subject, message,
       [{'key': split_part(t, chr(28), 1), 'value': substr(t, strpos(t, chr(28)) + 1)}
        FOR t IN string_split(trailers, chr(29)) IF t <> ''] AS trailers,
       TRY_CAST(coalesce(
           nullif(regexp_extract(subject, '^Merge pull request #([0-9]+) from ', 1), ''),
           nullif(regexp_extract(message, 'See merge request [^ !]*!([0-9]+)', 1), ''),
           nullif(regexp_extract(subject, '\\(#([0-9]+)\\)$', 1), '')) AS INTEGER) AS pr_number,
       coalesce(nullif(regexp_extract(subject, '^Merge pull request #[0-9]+ from [^/ ]+/(\\S+)', 1), ''),
                nullif(regexp_extract(subject, '^Merge branch ''([^'']+)'' into ', 1), '')) AS pr_branch,
       nullif(regexp_extract(message, 'This reverts commit ([0-9a-f]{40})', 1), '') AS reverts,
       $source AS source, $run_id AS run_id, $artifact AS artifact_sha256, $collected_at AS collected_at
FROM parsed
"""

INSERT_FILES = """
INSERT INTO git_commit_files BY NAME
WITH recs AS (
    SELECT string_split(rec, chr(10)) AS lines
    FROM (SELECT unnest(string_split(content, chr(30))) AS rec FROM read_text($raw))
    WHERE rec <> ''
), lines AS (
    SELECT lines[1] AS sha, unnest(lines[2:]) AS line FROM recs
), entries AS (
    SELECT sha, regexp_extract(line, '^:[0-7]+ ([0-7]+) ([0-9a-f]+) ([0-9a-f]+) ([A-Z])[0-9]*\t(.*)$',
                               ['new_mode', 'old_blob', 'new_blob', 'change_type', 'path']) AS e
    FROM lines WHERE line LIKE ':%'
)
SELECT $repo AS repo, sha, e.path, e.change_type, e.old_blob, e.new_blob, e.new_mode,
       $source AS source, $run_id AS run_id, $artifact AS artifact_sha256, $collected_at AS collected_at
FROM entries WHERE e.path <> ''
"""

MALFORMED_COMMITS = """
SELECT count(*), any_value(left(rec, 120)) FROM (SELECT unnest(string_split(content, chr(30))) AS rec FROM read_text(?))
WHERE rec <> '' AND len(string_split(rtrim(rec, chr(10)), chr(31))) <> 14
"""

INSERT_TREE = """
INSERT INTO git_tree_files BY NAME
WITH entries AS (
    SELECT regexp_extract(entry, '^[0-7]+ blob ([0-9a-f]+)\t(.*)$', ['blob', 'path']) AS e
    FROM (SELECT unnest(string_split(content, chr(10))) AS entry FROM read_text($raw))
)
SELECT $repo AS repo, e.path, e.blob,
       $source AS source, $run_id AS run_id, $artifact AS artifact_sha256, $collected_at AS collected_at
FROM entries WHERE e.path <> '' AND regexp_matches(e.path, $suffixes)
"""

# Manifest blobs this run must parse (in history or at the head), with the first place each was seen: not parsed
# by an earlier run, or parsed by one that predates the content columns.
NEW_MANIFEST_BLOBS = """
WITH seen AS (
    SELECT b.blob, f.path || '@' || left(f.sha, 12) AS location, c.committed_at AS seen_at
    FROM git_commit_files f
    JOIN git_commits c USING (run_id, repo, sha),
         unnest([f.new_blob, f.old_blob]) AS b(blob)
    WHERE f.run_id = $run_id AND f.repo = $repo AND b.blob <> $null_blob AND regexp_matches(f.path, $suffixes)
    UNION ALL
    SELECT blob, path || '@' || left($head, 12), 'infinity'::TIMESTAMPTZ
    FROM git_tree_files WHERE run_id = $run_id AND repo = $repo
)
SELECT blob, arg_min(location, seen_at) AS location FROM seen
WHERE blob NOT IN (SELECT blob FROM git_manifest_objects_known
                   WHERE repo = $repo AND (error IS NOT NULL OR desired_sha256 IS NOT NULL))
GROUP BY blob ORDER BY blob
"""

# Annotations that are not desired state: kubectl's copy of the last applied manifest.
VOLATILE_ANNOTATIONS = frozenset({LAST_APPLIED})

# Files of this run's history that declare deployed paths (sources.git.deployed): Helm charts and
# kustomizations by name, and manifests holding Flux or Argo CD objects (parsed by an earlier run, or this
# run's $parsed); each version, first seen.
DECLARERS = """
SELECT f.path, b.blob, arg_min(f.path || '@' || left(f.sha, 12), c.committed_at) AS declared_in
FROM git_commit_files f
JOIN git_commits c USING (run_id, repo, sha),
     unnest([f.new_blob, f.old_blob]) AS b(blob)
WHERE f.run_id = $run_id AND f.repo = $repo AND b.blob <> $null_blob
  AND (regexp_matches(f.path, $declarer_paths) OR list_contains($parsed, b.blob)
       OR b.blob IN (SELECT blob FROM git_manifest_objects_known
                     WHERE repo = $repo AND regexp_matches(api_version, $api_groups) AND list_contains($kinds, kind)))
GROUP BY ALL ORDER BY ALL
"""

# Symbolic links of this run's history (git mode 120000), each version, first seen.
SYMLINKS = """
SELECT f.path, f.new_blob, arg_min(f.path || '@' || left(f.sha, 12), c.committed_at) AS declared_in
FROM git_commit_files f JOIN git_commits c USING (run_id, repo, sha)
WHERE f.run_id = $run_id AND f.repo = $repo AND f.new_mode = $mode
GROUP BY ALL ORDER BY ALL
"""
SYMLINK_MODE = "120000"

REPOSITORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": {"type": "string", "description": "local clone of the GitOps repository"},
        "name": {"type": "string", "description": "name recorded for the repository (default: directory name)"},
        "branch": {"type": "string", "description": "protected branch (default: the checked-out branch)"},
        "since": {"type": "string", "description": "only commits after this date (git --since)"},
        "until": {"type": "string", "description": "only commits before this date (git --until)"},
        "allowed_signers": {"type": "string", "description": "SSH allowed-signers file for signed commits"},
        "gnupg_home": {"type": "string", "description": "GnuPG home holding the keyring for signed commits"},
        "attestations": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": list(DEFAULT_GLOBS),
            "description": "globs (git pathspec, ** for any depth) of the attestation documents at the head "
            "(see docs/attestations.md)",
        },
        "review": {
            "type": "object",
            "additionalProperties": False,
            "required": ["platform", "project"],
            "properties": {
                "platform": {"enum": ["github", "gitlab"]},
                "project": {"type": "string", "description": "owner/name (GitHub) or group/project (GitLab)"},
                "api_url": {"type": "string", "description": "REST API base URL (default: the public service)"},
                "token_env": {"type": "string", "description": "environment variable holding the API token"},
            },
        },
    },
}


class GitSource:
    name = "git"
    description = "Git approval history: commits, trailers, signatures, PR reviews and MR approvals"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["repositories"],
        "properties": {"repositories": {"type": "array", "minItems": 1, "items": REPOSITORY_SCHEMA}},
    }
    migrations = MIGRATIONS

    def collect(self, ctx: CollectContext) -> None:
        repositories = ctx.config["repositories"]
        roots = Roots(ctx.source, [r["path"] for r in repositories])  # working trees named apart, or refused
        with ctx.progress("repositories", total=len(repositories), unit="repositories") as progress:
            for repo_config in repositories:
                progress.update(detail=repo_config.get("name") or repo_config["path"])
                collect_repository(ctx, repo_config, roots)
                progress.advance()


class Git:
    """``git`` in one repository, with the signature-verification settings of the config."""

    def __init__(self, path: Path, allowed_signers: str | None, gnupg_home: str | None):
        self.path = path
        self.options = ["-c", "core.quotePath=false", "-c", "log.showSignature=false"]
        if allowed_signers:
            self.options += ["-c", f"gpg.ssh.allowedSignersFile={Path(allowed_signers).resolve()}"]
        self.env = {**os.environ, "LC_ALL": "C"}
        if gnupg_home:
            self.env["GNUPGHOME"] = str(Path(gnupg_home).resolve())

    def run(self, *args: str, stdin: bytes | None = None) -> bytes:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.path), *self.options, *args],
                input=stdin,
                capture_output=True,
                env=self.env,
                check=False,
            )
        except FileNotFoundError:
            raise SourceError("git: the git command is not installed") from None
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise SourceError(f"git: {self.path}: `git {args[0]}` failed: {message[0] if message else done.returncode}")
        return done.stdout


def collect_repository(ctx: CollectContext, cfg: dict[str, Any], roots: Roots) -> None:
    path = Path(cfg["path"])
    if not (path / ".git").exists() and not (path / "HEAD").is_file():
        raise SourceError(f"git: {path} is not a git repository")
    git = Git(path, cfg.get("allowed_signers"), cfg.get("gnupg_home"))
    repo = cfg.get("name") or path.resolve().name
    try:
        branch = cfg.get("branch") or git.run("symbolic-ref", "--short", "HEAD").decode().strip()
    except SourceError:
        raise SourceError(f"git: {path}: HEAD is detached; set `branch` to the protected branch") from None
    try:
        head = git.run("rev-parse", "--verify", "--end-of-options", f"{branch}^{{commit}}").decode().strip()
    except SourceError:
        raise SourceError(f"git: {path}: branch {branch!r} not found") from None
    window = [f"--{bound}={cfg[bound]}" for bound in ("since", "until") if bound in cfg]

    log = git.run("log", f"--format={COMMIT_FORMAT}", *window, head, "--")
    files = git.run(
        "log", "--format=%x1e%H", "--diff-merges=first-parent", "--raw", "--no-abbrev", "--no-renames",
        *window, head, "--",
    )  # fmt: skip
    first_parent = git.run("rev-list", "--first-parent", *window, head, "--")
    params = {"repo": repo, "source": ctx.source, "run_id": ctx.run_id, "collected_at": ctx.collected_at}
    origin = f"git:{repo}@{head[:12]}"
    log_sha = ctx.add_artifact(log, f"{origin} git log (commits)", "text/plain")
    files_sha = ctx.add_artifact(files, f"{origin} git log --raw (files)", "text/plain")
    fp_sha = ctx.add_artifact(first_parent, f"{origin} git rev-list --first-parent", "text/plain")
    store = ctx.store
    log_path = str(store.artifact_path(log_sha))
    ctx.insert(
        "git_commits",
        INSERT_COMMITS,
        {**params, "log": log_path, "first_parent": str(store.artifact_path(fp_sha)), "artifact": log_sha},
    )
    malformed, sample = store.con.execute(MALFORMED_COMMITS, [log_path]).fetchone() or (0, None)
    if malformed:
        ctx.partial(f"git: {repo}: {malformed} unparseable commit record(s), e.g. {sample!r}")
    files_path = str(store.artifact_path(files_sha))
    ctx.insert("git_commit_files", INSERT_FILES, {**params, "raw": files_path, "artifact": files_sha})
    tree = git.run("ls-tree", "-r", "--full-tree", head)
    tree_sha = ctx.add_artifact(tree, f"{origin} git ls-tree -r (files at the head)", "text/plain")
    tree_params = {"raw": str(store.artifact_path(tree_sha)), "artifact": tree_sha, "suffixes": MANIFEST_PATHS}
    ctx.insert("git_tree_files", INSERT_TREE, {**params, **tree_params})
    controllers = collect_manifest_objects(ctx, git, repo, head)
    at_start = window_start_declarers(git, head, cfg["since"]) if "since" in cfg else []
    collect_deployed_paths(ctx, git, repo, controllers, at_start)
    collect_attestations(ctx, git, repo, head, cfg.get("attestations", DEFAULT_GLOBS))
    ctx.emit(
        "git_repositories",
        {
            "repo": repo,
            "path": roots.label(path),  # the working tree as a named root (``gitops:``), not this machine's path
            "branch": branch,
            "head_sha": head,
            "since": cfg.get("since"),
            "until": cfg.get("until"),
            "review_platform": cfg.get("review", {}).get("platform"),
            "review_project": cfg.get("review", {}).get("project"),
        },
        fp_sha,
    )
    if "review" in cfg:
        fetch_reviews(ctx, repo, cfg["review"], log_sha)


def collect_manifest_objects(ctx: CollectContext, git: Git, repo: str, head: str) -> list[str]:
    """Parse each manifest blob not seen before and record the objects it defines, with their redacted content
    and desired-state digest (or why the blob is invalid); return the blobs holding Flux or Argo CD objects (they
    declare deployed paths)."""
    blobs = ctx.store.con.execute(
        NEW_MANIFEST_BLOBS,
        {"run_id": ctx.run_id, "repo": repo, "head": head, "null_blob": NULL_BLOB, "suffixes": MANIFEST_PATHS},
    ).fetchall()
    if not blobs:
        return []
    parsed, artifact = read_blobs(ctx, git, dict(blobs), f"git:{repo} manifest blobs (git cat-file --batch)")
    invalid, controllers = [], []
    for blob, location in blobs:
        documents, error = parsed[blob]
        rows = [(location, None)] if error else list(manifest_objects(documents, location))
        for where, obj in rows:
            meta = (obj or {}).get("metadata") or {}
            clean = redact_object(obj or {})
            content = clean.get("metadata") or {}
            ctx.emit(
                "git_manifest_objects",
                {
                    "repo": repo,
                    "blob": blob,
                    "location": where,
                    "api_version": (obj or {}).get("apiVersion"),
                    "kind": (obj or {}).get("kind"),
                    "namespace": meta.get("namespace"),
                    "name": meta.get("name"),
                    "error": error,
                    "labels": None if error else content.get("labels") or {},
                    "annotations": None if error else content.get("annotations") or {},
                    "body": None if error else body(clean),
                    "desired_sha256": None if error else desired_digest(clean),
                },
                artifact,
            )
        if error:
            invalid.append(error)
        elif any(is_controller(obj) for _, obj in rows):
            controllers.append(blob)
    if invalid:
        ctx.partial(f"git: {repo}: {len(invalid)} manifest(s) in history could not be parsed, e.g. {invalid[0]}")
    return controllers


def window_start_declarers(git: Git, head: str, since: str) -> list[tuple[str, str, str, str]]:
    """(mode, path, blob, path@commit) of the charts, kustomizations and symbolic links in the tree at the start of
    the window: they deploy the paths changed in it even when they are not changed themselves."""
    base = git.run("rev-list", "-1", "--first-parent", f"--before={since}", head, "--").decode().strip()
    if not base:
        return []
    tree = git.run("ls-tree", "-r", "-z", "--full-tree", base).decode("utf-8", "replace")
    entries = [entry.split("\t", 1) for entry in tree.split("\0") if "\t" in entry]
    return [
        (mode, path, blob, f"{path}@{base[:12]}")
        for (mode, kind, blob), path in ((meta.split(), path) for meta, path in entries)
        if kind == "blob" and (mode == SYMLINK_MODE or re.search(DECLARER_PATHS, path))
    ]


def collect_deployed_paths(
    ctx: CollectContext, git: Git, repo: str, parsed_controllers: list[str], at_start: list[tuple[str, str, str, str]]
) -> None:
    """Record the paths that the charts, kustomizations and Flux/Argo CD objects of this history (and the charts
    and kustomizations at the start of its window, ``at_start``) deploy, then the targets of the symbolic links
    inside those paths (Helm, kustomize and Argo CD read a file through a link to it)."""
    query = {"run_id": ctx.run_id, "repo": repo}
    changed = ctx.store.con.execute(
        DECLARERS,
        {**query, "null_blob": NULL_BLOB, "declarer_paths": DECLARER_PATHS, "api_groups": DECLARER_API_GROUPS,
         "kinds": list(DECLARER_KINDS), "parsed": parsed_controllers},
    ).fetchall()  # fmt: skip
    declarers = [entry[1:] for entry in at_start if entry[0] != SYMLINK_MODE] + changed
    links = [entry[1:] for entry in at_start if entry[0] == SYMLINK_MODE]
    links += ctx.store.con.execute(SYMLINKS, {**query, "mode": SYMLINK_MODE}).fetchall()
    seen: set[tuple[str, str]] = set()  # an unparseable declarer still deploys its own directory
    if declarers:
        blobs = dict(sorted({blob: declared_in for _, blob, declared_in in declarers}.items()))
        origin = f"git:{repo} files declaring deployed paths (git cat-file --batch)"
        parsed, artifact = read_blobs(ctx, git, blobs, origin)
        for path, blob, declared_in in declarers:
            for declared in deployed_paths(path, [d for *_, d in parsed[blob][0]]):
                if declared not in seen:
                    seen.add(declared)
                    emit_deployed(ctx, repo, declared, declared_in, artifact)
    if links:
        batch = git.run("cat-file", "--batch", stdin="".join(f"{blob}\n" for _, blob, _ in links).encode())
        targets = {blob: content.decode("utf-8", "replace") for blob, content in read_batch(batch)}
        artifact = ctx.add_artifact(batch, f"git:{repo} symbolic links (git cat-file --batch)", "text/plain")
        deployed = {path for path, _ in seen}
        for link, blob, declared_in in links:
            target = targets[blob]
            if not target.startswith("/") and any(p == "" or link == p or link.startswith(p + "/") for p in deployed):
                for declared in resolved(posixpath.dirname(link), target, f"target of symbolic link {link}"):
                    if declared not in seen:
                        seen.add(declared)
                        emit_deployed(ctx, repo, declared, declared_in, artifact)


def emit_deployed(ctx: CollectContext, repo: str, declared: tuple[str, str], declared_in: str, artifact: str) -> None:
    """One ``git_deployed_paths`` row: ``declared`` (path, why), declared in ``declared_in``, citing ``artifact``."""
    row = {"repo": repo, "path": declared[0], "reason": declared[1], "declared_in": declared_in}
    ctx.emit("git_deployed_paths", row, artifact)


def read_blobs(
    ctx: CollectContext, git: Git, blobs: dict[str, str], origin: str
) -> tuple[dict[str, tuple[list[tuple[int, int, Any]], str | None]], str]:
    """Read ``blobs`` (blob id -> location naming it in errors) with one ``git cat-file --batch``, decode their
    documents and keep the batch as an artifact (redacted if needed); return the documents or error of each
    blob and the artifact."""
    batch = git.run("cat-file", "--batch", stdin="".join(f"{b}\n" for b in blobs).encode())
    contents = dict(read_batch(batch))
    parsed = {blob: manifest_documents(contents[blob], location) for blob, location in blobs.items()}
    decoded = {blob: {"error": error} if error else [d for *_, d in docs] for blob, (docs, error) in parsed.items()}
    complete = all(error is None for _, error in parsed.values())  # an undecodable blob cannot be vetted
    return parsed, ctx.add_document_artifact(batch, decoded, origin, "text/plain", complete=complete)


def body(obj: dict) -> dict:
    """What an object declares besides its identity and metadata: spec, data, rules, … (never status)."""
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}


def desired_state(obj: dict) -> dict:
    """The state a GitOps controller applies for a (redacted) object: its API group (not version: the API server
    serves an object at every version of its group), kind, namespace, name, labels, annotations but the volatile
    ones, and its body. Server-managed metadata (uid, resourceVersion, managedFields, …) and status are not in it."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return {
        "group": str(obj.get("apiVersion") or "").rpartition("/")[0],
        "kind": obj.get("kind"),
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "labels": meta.get("labels") or {},
        "annotations": {k: v for k, v in annotations.items() if k not in VOLATILE_ANNOTATIONS},
        "body": body(obj),
    }


def desired_digest(obj: dict) -> str:
    """SHA-256 of the desired state as canonical JSON (keys sorted, no spaces, UTF-8)."""
    canonical = json.dumps(desired_state(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def collect_attestations(ctx: CollectContext, git: Git, repo: str, head: str, globs: list[str]) -> None:
    """Parse the attestation documents at ``head`` matching ``globs``; a malformed one is an error row naming
    its file and line (and the run is partial)."""
    if not globs:
        return
    empty_tree = git.run("hash-object", "-t", "tree", "--stdin", stdin=b"").decode().strip()
    # a diff from the empty tree lists the head's files; unlike ls-tree it takes glob pathspecs (** any depth)
    listed = git.run("diff-tree", "-r", "-z", "--no-renames", empty_tree, head, "--", *(f":(glob){g}" for g in globs))
    found = dict(listed_blobs(listed))
    if not found:
        return
    batch = dict(read_batch(git.run("cat-file", "--batch", stdin="".join(f"{b}\n" for b in found.values()).encode())))
    errors = []
    for path, blob in sorted(found.items()):
        text = batch[blob].decode("utf-8", "replace")  # kept as written unless it holds key material or credentials
        origin = f"git:{repo}@{head[:12]}:{path}"
        artifact = ctx.add_document_artifact(batch[blob], text, origin, "text/markdown", complete="\ufffd" not in text)
        row = attestation_row(path, batch[blob])
        ctx.emit("git_attestations", {"repo": repo, "path": path, "blob": blob, "head_sha": head, **row}, artifact)
        if row["error"]:
            errors.append(row["error"])
    if errors:
        ctx.partial(f"git: {repo}: {len(errors)} malformed attestation(s), e.g. {errors[0]}")


def read_batch(batch: bytes) -> Iterator[tuple[str, bytes]]:
    """Split ``git cat-file --batch`` output into (blob id, content)."""
    pos = 0
    while pos < len(batch):
        end = batch.index(b"\n", pos)
        blob, _type, size = batch[pos:end].decode().split(" ")
        start = end + 1
        yield blob, batch[start : start + int(size)]
        pos = start + int(size) + 1


def manifest_documents(content: bytes, location: str) -> tuple[list[tuple[int, int, Any]], str | None]:
    """The decoded documents of a manifest blob (index, first line, document), or why it cannot be decoded."""
    try:
        return list(read_documents(Path(location), content.decode("utf-8"))), None
    except (UnicodeDecodeError, SourceError) as exc:
        return [], str(exc)


def manifest_objects(documents: list[tuple[int, int, Any]], location: str) -> Iterator[tuple[str, dict]]:
    """(location, object) for each Kubernetes object the documents define. Documents that are not Kubernetes
    objects (kustomization, Helm values) are skipped."""
    for index, line, doc in documents:
        try:
            yield from list(expand_lists(doc, f"{location}#{index} (line {line})"))
        except SourceError:
            continue

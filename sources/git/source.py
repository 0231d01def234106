"""Git approval history: who changed each route, policy and egress rule, and who approved it.

For each configured GitOps repository the source runs ``git log`` a few times over the protected branch
(commits with signature status and trailers, files changed with blob ids, the first-parent chain),
keeps each output as a raw artifact and parses it with DuckDB in bulk. Manifest blobs are parsed once
per blob to map files to the Kubernetes objects they define. Pull-request reviews (GitHub) and
merge-request approvals (GitLab) are fetched through their REST APIs (``sources.git.code_review``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from collector.plugins import CollectContext, SourceError
from collector.store import PROVENANCE_COLUMNS
from sources.git.code_review import fetch_reviews
from sources.kubernetes.manifests import MANIFEST_SUFFIXES, expand_lists, read_documents

RS, US, GS, FS = "\x1e", "\x1f", "\x1d", "\x1c"  # record, unit, trailer and key/value separators
COMMIT_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%G?", "%GK", "%GS", "%s", "%B")
COMMIT_FORMAT = (
    "%x1e" + "%x1f".join(COMMIT_FIELDS) + "%x1f%(trailers:only,unfold,separator=%x1d,key_value_separator=%x1c)"
)
NULL_BLOB = "0" * 40

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
    SELECT sha, regexp_extract(line, '^:[0-7]+ [0-7]+ ([0-9a-f]+) ([0-9a-f]+) ([A-Z])[0-9]*\t(.*)$',
                               ['old_blob', 'new_blob', 'change_type', 'path']) AS e
    FROM lines WHERE line LIKE ':%'
)
SELECT $repo AS repo, sha, e.path, e.change_type, e.old_blob, e.new_blob,
       $source AS source, $run_id AS run_id, $artifact AS artifact_sha256, $collected_at AS collected_at
FROM entries WHERE e.path <> ''
"""

MALFORMED_COMMITS = """
SELECT count(*), any_value(left(rec, 120)) FROM (SELECT unnest(string_split(content, chr(30))) AS rec FROM read_text(?))
WHERE rec <> '' AND len(string_split(rtrim(rec, chr(10)), chr(31))) <> 14
"""

# Manifest blobs this run must parse: not parsed by an earlier run, with the first place each was seen.
NEW_MANIFEST_BLOBS = """
SELECT b.blob, arg_min(f.path || '@' || left(f.sha, 12), c.committed_at) AS location
FROM git_commit_files f
JOIN git_commits c USING (run_id, repo, sha),
     unnest([f.new_blob, f.old_blob]) AS b(blob)
WHERE f.run_id = $run_id AND f.repo = $repo
  AND b.blob <> $null_blob AND regexp_matches(f.path, $suffixes)
  AND b.blob NOT IN (SELECT blob FROM git_manifest_objects_known WHERE repo = $repo)
GROUP BY b.blob ORDER BY b.blob
"""

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
        with ctx.progress("repositories", total=len(repositories), unit="repositories") as progress:
            for repo_config in repositories:
                progress.update(detail=repo_config.get("name") or repo_config["path"])
                collect_repository(ctx, repo_config)
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


def collect_repository(ctx: CollectContext, cfg: dict[str, Any]) -> None:
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
    collect_manifest_objects(ctx, git, repo)
    ctx.emit(
        "git_repositories",
        {
            "repo": repo,
            "path": str(path.resolve()),
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


def collect_manifest_objects(ctx: CollectContext, git: Git, repo: str) -> None:
    """Parse each manifest blob not seen before and record the objects it defines (or why it is invalid)."""
    suffixes = r"\.(" + "|".join(s.lstrip(".") for s in MANIFEST_SUFFIXES) + ")$"
    blobs = ctx.store.con.execute(
        NEW_MANIFEST_BLOBS,
        {"run_id": ctx.run_id, "repo": repo, "null_blob": NULL_BLOB, "suffixes": suffixes},
    ).fetchall()
    if not blobs:
        return
    batch = git.run("cat-file", "--batch", stdin="".join(f"{b}\n" for b, _ in blobs).encode())
    contents = dict(read_batch(batch))
    parsed = {blob: manifest_documents(contents[blob], location) for blob, location in blobs}
    decoded = {blob: {"error": error} if error else [d for *_, d in docs] for blob, (docs, error) in parsed.items()}
    origin = f"git:{repo} manifest blobs (git cat-file --batch)"
    complete = all(error is None for _, error in parsed.values())  # an undecodable blob cannot be vetted
    artifact = ctx.add_document_artifact(batch, decoded, origin, "text/plain", complete=complete)
    invalid = []
    for blob, location in blobs:
        documents, error = parsed[blob]
        rows = [(location, None)] if error else list(manifest_objects(documents, location))
        for where, obj in rows:
            meta = (obj or {}).get("metadata") or {}
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
                },
                artifact,
            )
        if error:
            invalid.append(error)
    if invalid:
        ctx.partial(f"git: {repo}: {len(invalid)} manifest(s) in history could not be parsed, e.g. {invalid[0]}")


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

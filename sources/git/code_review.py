"""Pull-request reviews and commits (GitHub) and merge-request approvals (GitLab) for the changes a git run found.

Every API response is kept as a raw artifact; rows cite the page they came from. A missing pull request
is recorded as ``not-found``. Bad credentials, rate limiting or an unreachable API stop the fetch: the
pull requests not fetched are recorded with ``fetch_status = 'error'`` and the reason, and the run is
marked partial, so the commits already collected are kept. Tokens are sent in headers only and are
scrubbed from every message.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from collector.plugins import CollectContext

DEFAULT_API_URL = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
DEFAULT_TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}
TIMEOUT_SECONDS = 30

PULL_REQUESTS_TO_FETCH = """
SELECT DISTINCT pr_number FROM git_commits
WHERE run_id = ? AND repo = ? AND first_parent AND pr_number IS NOT NULL ORDER BY pr_number
"""


class ReviewAPIError(Exception):
    """The API cannot be used any further in this run (credentials, rate limit, unreachable)."""


class NotFound(Exception):
    """The pull/merge request does not exist (or is not visible to the token)."""


class Client:
    """GET JSON from a review API, following ``Link: rel=next`` pagination; keeps each page as an artifact."""

    def __init__(self, ctx: CollectContext, platform: str, api_url: str, token_env: str):
        self.ctx = ctx
        self.platform = platform
        self.api_url = api_url.rstrip("/")
        self.token_env = token_env
        self.token = os.environ.get(token_env) or None
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "defensible"
        if platform == "github":
            self.session.headers["Accept"] = "application/vnd.github+json"
            self.session.headers["X-GitHub-Api-Version"] = "2022-11-28"
            if self.token:
                self.session.headers["Authorization"] = f"Bearer {self.token}"
        elif self.token:
            self.session.headers["PRIVATE-TOKEN"] = self.token

    def get(self, path: str, params: dict[str, Any] | None = None) -> list[tuple[Any, str]]:
        """Every page of ``path`` as (decoded JSON, artifact sha256)."""
        pages = []
        url: str | None = f"{self.api_url}{path}"
        while url:
            response = self._request(url, params)
            try:
                body = response.json()
            except ValueError:
                raise ReviewAPIError(f"{self.platform} API returned non-JSON for {path}") from None
            digest = self.ctx.add_artifact(response.content, f"{self.platform}:{response.url}", "application/json")
            pages.append((body, digest))
            url, params = response.links.get("next", {}).get("url"), None
        return pages

    def _request(self, url: str, params: dict[str, Any] | None) -> requests.Response:
        try:
            response = self.session.get(url, params=params, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise ReviewAPIError(self.scrub(f"{self.platform} API {self.api_url} unreachable: {exc}")) from None
        if response.status_code < 400:
            return response
        if response.status_code == 404:
            raise NotFound(url)
        raise ReviewAPIError(self.scrub(self._explain(response)))

    def _explain(self, response: requests.Response) -> str:
        status, headers, api = response.status_code, response.headers, f"{self.platform} API"
        if status == 401:
            if not self.token:
                return f"{api} requires a token: set ${self.token_env} (401 Unauthorized)"
            return f"{api} rejected the token in ${self.token_env} (401 Unauthorized)"
        remaining = headers.get("x-ratelimit-remaining", headers.get("ratelimit-remaining"))
        if status == 429 or (status == 403 and remaining == "0"):
            reset = headers.get("x-ratelimit-reset", headers.get("ratelimit-reset"))
            when = (
                f"resets at {datetime.fromtimestamp(int(reset), UTC):%Y-%m-%d %H:%M:%SZ}"
                if reset and reset.isdigit()
                else f"retry after {headers.get('retry-after', 'a while')}s"
            )
            return f"{api} rate limit exceeded ({status}); {when}"
        try:
            message = str(response.json().get("message", ""))[:200]
        except (ValueError, AttributeError):
            message = ""
        return f"{api} returned HTTP {status} for {response.url}" + (f": {message}" if message else "")

    def scrub(self, text: str) -> str:
        return text.replace(self.token, "[token]") if self.token else text


def fetch_reviews(ctx: CollectContext, repo: str, cfg: dict[str, Any], log_sha: str) -> None:
    """Fetch the pull/merge request and its reviews for every change of ``repo`` that names one; requests
    that cannot be fetched are recorded citing ``log_sha``, the commit log that named them."""
    platform = cfg["platform"]
    client = Client(
        ctx,
        platform,
        cfg.get("api_url") or DEFAULT_API_URL[platform],
        cfg.get("token_env") or DEFAULT_TOKEN_ENV[platform],
    )
    numbers = [n for (n,) in ctx.store.con.execute(PULL_REQUESTS_TO_FETCH, [ctx.run_id, repo]).fetchall()]
    fetch_one = fetch_github if platform == "github" else fetch_gitlab
    with ctx.progress(f"reviews of {repo}", total=len(numbers), unit="requests") as progress:
        for i, number in enumerate(numbers):
            try:
                fetch_one(ctx, client, repo, cfg["project"], number)
            except NotFound:
                reason = f"{platform} has no request #{number}"
                emit_unfetched(ctx, repo, platform, [number], log_sha, "not-found", reason)
            except ReviewAPIError as exc:
                emit_unfetched(ctx, repo, platform, numbers[i:], log_sha, "error", str(exc))
                ctx.partial(f"git: {repo}: reviews of {len(numbers) - i} request(s) not collected: {exc}")
                return
            progress.advance()


def fetch_github(ctx: CollectContext, client: Client, repo: str, project: str, number: int) -> None:
    [(pr, pr_sha)] = client.get(f"/repos/{project}/pulls/{number}")
    emit_request(
        ctx,
        repo,
        "github",
        number,
        pr_sha,
        title=pr.get("title"),
        author=(pr.get("user") or {}).get("login"),
        head_ref=pr["head"]["ref"],
        head_sha=pr["head"]["sha"],
        labels=[label["name"] for label in pr.get("labels", [])],
        merged_at=pr.get("merged_at"),
        merge_commit_sha=pr.get("merge_commit_sha"),
    )
    for reviews, digest in client.get(f"/repos/{project}/pulls/{number}/reviews", {"per_page": 100}):
        for review in reviews:
            emit_review(
                ctx,
                repo,
                "github",
                number,
                digest,
                reviewer=(review.get("user") or {}).get("login") or "ghost",
                state=review["state"],
                commit_id=review.get("commit_id"),
                submitted_at=review.get("submitted_at"),
            )
    for commits, digest in client.get(f"/repos/{project}/pulls/{number}/commits", {"per_page": 100}):
        for commit in commits:
            row = {"repo": repo, "platform": "github", "number": number, "sha": commit["sha"],
                   "author_login": (commit.get("author") or {}).get("login"),
                   "committer_login": (commit.get("committer") or {}).get("login")}  # fmt: skip
            ctx.emit("git_pull_request_commits", row, digest)


def fetch_gitlab(ctx: CollectContext, client: Client, repo: str, project: str, number: int) -> None:
    base = f"/projects/{quote(project, safe='')}/merge_requests/{number}"
    [(mr, mr_sha)] = client.get(base)
    emit_request(
        ctx,
        repo,
        "gitlab",
        number,
        mr_sha,
        title=mr.get("title"),
        author=(mr.get("author") or {}).get("username"),
        head_ref=mr.get("source_branch"),
        head_sha=mr.get("sha"),
        labels=[label if isinstance(label, str) else label["name"] for label in mr.get("labels", [])],
        merged_at=mr.get("merged_at"),
        merge_commit_sha=mr.get("merge_commit_sha") or mr.get("squash_commit_sha"),
    )
    [(approvals, digest)] = client.get(f"{base}/approvals")
    for approval in approvals.get("approved_by", []):
        emit_review(
            ctx,
            repo,
            "gitlab",
            number,
            digest,
            reviewer=approval["user"]["username"],
            state="APPROVED",
            commit_id=None,
            submitted_at=approval.get("approved_at"),
        )


def emit_request(ctx: CollectContext, repo: str, platform: str, number: int, digest: str, **fields: Any) -> None:
    row = {"repo": repo, "platform": platform, "number": number, "fetch_status": "fetched", "fetch_error": None}
    ctx.emit("git_pull_requests", {**row, **fields}, digest)


def emit_review(ctx: CollectContext, repo: str, platform: str, number: int, digest: str, **fields: Any) -> None:
    ctx.emit("git_reviews", {"repo": repo, "platform": platform, "number": number, **fields}, digest)


def emit_unfetched(
    ctx: CollectContext, repo: str, platform: str, numbers: list[int], log_sha: str, status: str, reason: str
) -> None:
    """Record requests whose reviews are unknown; they cite the commit log that named them."""
    for number in numbers:
        row = {"repo": repo, "platform": platform, "number": number, "fetch_status": status, "fetch_error": reason}
        ctx.emit("git_pull_requests", row, log_sha)

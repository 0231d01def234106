"""A fake Kubernetes API server for tests: the list API over HTTP, with pagination, auth and refusals.

``FakeKubeAPI(objects, forbidden=..., failing=..., token=...)`` serves ``GET <list path>`` from ``objects``
(list path -> items), honouring ``limit`` and opaque ``continue`` tokens; it answers a Kubernetes
``Status`` with 401 (missing or wrong bearer token), 403 (``forbidden`` paths), 500 (``failing`` paths)
or 404 (anything else); ``raw_bodies`` replaces a path's 200 body verbatim. Every request is recorded
in ``requests``. Use it as a context manager; ``write_kubeconfig`` writes a kubeconfig the real
``kubernetes`` client can load.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 500: "InternalError"}


@dataclass(frozen=True)
class Request:
    """One request the server answered, and the continue token its response handed out (if any)."""

    path: str
    query: dict[str, str]
    status: int
    next_token: str | None


def status(code: int, message: str) -> tuple[int, dict[str, Any]]:
    """A Kubernetes ``Status`` failure body, as the API server sends with an error code."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return code, {**body, "message": message, "reason": REASONS[code], "code": code}


class FakeKubeAPI:
    def __init__(
        self,
        objects: Mapping[str, list[dict[str, Any]]] | None = None,
        *,
        forbidden: Iterable[str] = (),
        failing: Iterable[str] = (),
        token: str = "fake-token-0123456789",
        resource_version: str = "4242",
        max_requests: int = 200,
    ) -> None:
        self.objects = {path: list(items) for path, items in (objects or {}).items()}
        self.forbidden = set(forbidden)
        self.failing = set(failing)
        self.token = token
        self.resource_version = resource_version
        self.max_requests = max_requests  # then 500: a client that loops on `continue` fails instead of hanging
        self.requests: list[Request] = []
        self.raw_bodies: dict[str, bytes] = {}  # list path -> body sent verbatim with 200 (e.g. a proxy's HTML)
        self._continues: dict[str, tuple[str, int]] = {}  # token -> (list path, offset of the next page)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-kube-api", daemon=True
        )  # a short poll interval so that shutdown() returns at once

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeKubeAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def kubeconfig(self, path: Path, *contexts: str, token: str | None = None) -> Path:
        """Write a kubeconfig with ``contexts`` (default ``ctx``) all pointing at this server."""
        server = (self.url, self.token if token is None else token)
        return write_kubeconfig(path, dict.fromkeys(contexts or ("ctx",), server))

    def respond(self, target: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        """Answer ``GET target`` and record it."""
        split = urlsplit(target)
        path, query = split.path, dict(parse_qsl(split.query))
        code, body = self._answer(path, query, authorization)
        with self._lock:
            self.requests.append(Request(path, query, code, body.get("metadata", {}).get("continue")))
        return code, body

    def _answer(self, path: str, query: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        if len(self.requests) >= self.max_requests:
            return status(500, f"fake API: more than {self.max_requests} requests")
        if authorization != f"Bearer {self.token}":
            return status(401, "Unauthorized")
        resource = path.rsplit("/", 1)[-1]
        if path in self.forbidden:
            return status(403, f'{resource} is forbidden: User "tester" cannot list resource "{resource}"')
        if path in self.failing:
            return status(500, f"etcdserver: request timed out listing {resource}")
        if path not in self.objects:
            return status(404, "the server could not find the requested resource")
        items, start = self.objects[path], 0
        if token := query.get("continue"):
            with self._lock:
                issued = self._continues.get(token)
            if issued is None or issued[0] != path:
                return status(400, "continue key is not valid for this list")
            start = issued[1]
        end = start + (int(query.get("limit") or 0) or len(items))
        metadata: dict[str, Any] = {"resourceVersion": self.resource_version}
        if end < len(items):
            metadata["continue"] = next_token = secrets.token_urlsafe(16)
            metadata["remainingItemCount"] = len(items) - end
            with self._lock:
                self._continues[next_token] = (path, end)
        kind = next((item["kind"] for item in items if "kind" in item), "")
        prefix = path.rsplit("/", 1)[0]
        api_version = prefix.removeprefix("/apis/").removeprefix("/api/")
        return 200, {"kind": f"{kind}List", "apiVersion": api_version, "metadata": metadata, "items": items[start:end]}


def _handler(api: FakeKubeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def do_GET(self) -> None:
            code, body = api.respond(self.path, self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            if code == 200 and urlsplit(self.path).path in api.raw_bodies:
                data = api.raw_bodies[urlsplit(self.path).path]
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


def write_kubeconfig(path: Path, contexts: Mapping[str, tuple[str, str]]) -> Path:
    """Write a kubeconfig with one cluster and token user per context: ``{context: (server url, token)}``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": next(iter(contexts)),
        "clusters": [{"name": name, "cluster": {"server": server}} for name, (server, _) in contexts.items()],
        "users": [{"name": name, "user": {"token": token}} for name, (_, token) in contexts.items()],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}} for name in contexts],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path

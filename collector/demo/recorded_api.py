"""Serve recorded JSON API responses on 127.0.0.1: the demo's code-review API, and the tests'.

``RecordedAPI(routes, token=...)`` answers ``GET path`` from ``routes``: a list of pages (served as
``?page=N`` with a ``Link: rel="next"`` header, as GitHub and GitLab paginate) or a single
:class:`Reply` (any status, body and headers, e.g. a rate-limit refusal). With ``token`` set, requests
without ``Authorization: Bearer <token>`` or ``PRIVATE-TOKEN: <token>`` get 401. Requests are recorded.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class RecordedAPI:
    def __init__(self, routes: dict[str, list[Any] | Reply], token: str | None = None) -> None:
        self.routes = routes
        self.token = token
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path with query, headers)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RecordedAPI:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply(self, target: str, headers: dict[str, str]) -> Reply:
        self.requests.append((target, headers))
        url = urlsplit(target)
        if self.token and self.token not in (headers.get("authorization", "").removeprefix("Bearer "),
                                             headers.get("private-token")):  # fmt: skip
            return Reply(401, {"message": "Bad credentials"})
        route = self.routes.get(url.path)
        if route is None:
            return Reply(404, {"message": "Not Found"})
        if isinstance(route, Reply):
            return route
        page = int(dict(parse_qsl(url.query)).get("page", "1"))
        if not 1 <= page <= len(route):
            return Reply(200, [])
        link = {"Link": f'<{self.url}{url.path}?page={page + 1}>; rel="next"'} if page < len(route) else {}
        return Reply(200, route[page - 1], link)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                reply = api.reply(self.path, {k.lower(): v for k, v in self.headers.items()})
                body = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

"""A small fake GitHub REST server (a real local HTTP server) serving pull requests, their diffs
and repo files, for tests that drive tierbot's real HTTP client through a process setting."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest


@dataclass
class FakeGitHub:
    """Pull requests by (owner, repo, number): their JSON and diff; files by (owner, repo, path)."""

    pulls: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)
    diffs: dict[tuple[str, str, int], str] = field(default_factory=dict)
    files: dict[tuple[str, str, str], str] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_pull(self, owner: str, repo: str, number: int, diff: str, **fields: Any) -> None:
        self.pulls[(owner, repo, number)] = {
            "number": number,
            "title": fields.get("title", "A change"),
            "body": fields.get("body", ""),
            "head": {"sha": "1" * 40},
            "base": {"sha": "2" * 40, "repo": {"default_branch": "main"}},
            "user": {"login": "mona"},
            "author_association": "CONTRIBUTOR",
            "draft": False,
            "state": "open",
            "changed_files": 1,
        }
        self.diffs[(owner, repo, number)] = diff

    def start(self) -> FakeGitHub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake.requests.append(("GET", self.path, headers))
            parts = url.path.strip("/").split("/")
            if len(parts) == 5 and parts[0] == "repos" and parts[3] == "pulls":
                key = (parts[1], parts[2], int(parts[4]))
                if key not in fake.pulls:
                    return self._send(404, {"message": "Not Found"})
                if "diff" in headers.get("accept", ""):
                    return self._send(200, fake.diffs[key], "text/plain")
                return self._send(200, fake.pulls[key])
            if len(parts) >= 5 and parts[0] == "repos" and parts[3] == "contents":
                path = "/".join(parts[4:])
                text = fake.files.get((parts[1], parts[2], path))
                ref = parse_qs(url.query).get("ref", [""])[0]
                if text is None or ref != "main":
                    return self._send(404, {"message": "Not Found"})
                return self._send(200, text, "text/plain")
            return self._send(404, {"message": "Not Found"})

        def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture(name="fake_github")
def fake_github_fixture() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.close()

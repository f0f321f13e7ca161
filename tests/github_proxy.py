"""GitHub's REST API for end-to-end tests: a local HTTP server in front of Prism.

The bot (in process, or `tierbot serve` in a subprocess) is pointed at this proxy by its API URL.
Each request is forwarded to Prism (tests/prism.py), which checks it against GitHub's OpenAPI
description, with `application/json` added to its Accept header (Prism refuses GitHub's own
media type alone; GitHub accepts both). The proxy itself answers what the description cannot:

- a pull request's diff (`Accept: application/vnd.github.diff` on the pull endpoint), with the
  text in `diffs` (by owner, repo and number), 404 when none is set;
- a repo file read raw (`/repos/{owner}/{repo}/contents/{path}`), with the text in `files` (by
  owner, repo and path), 404 when none is set, as for a repo without `.github/tierbot.yml`.

A folder listed by the Git trees API (`/repos/{owner}/{repo}/git/trees/{branch or id}`) still
goes to Prism and is checked there, but for a repo with `files` its answer lists them (the
default branch's top folder by its name, a folder in it by the id that listing gave it), so a
settings file set here is found as GitHub would find it.

`permissions` (login → role) stands in for state Prism lacks: the permission request still goes
to Prism and is checked there, but its answer says this role (Prism's example says `admin`).

Every exchange is recorded, in order: what the bot sent (method, path, query, headers, body)
and what it got back (status, body), and who answered (`prism` or `proxy`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from tests.fake_github_api import tree_listing, tree_listing_named
from tests.prism import Prism

DIFF = "application/vnd.github.diff"
_PULL = re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls/(?P<number>[0-9]+)")
_CONTENTS = re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/contents/(?P<path>.+)")
_PERMISSION = re.compile(r"/repos/[^/]+/[^/]+/collaborators/(?P<login>[^/]+)/permission")
_TREE = re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/git/trees/(?P<tree>[^/]+)")
# Not forwarded either way: they describe one hop, and Prism should send plain text back.
_HOP_HEADERS = frozenset(
    {"host", "connection", "keep-alive", "content-length", "transfer-encoding", "accept-encoding"}
)


@dataclass(frozen=True)
class Exchange:
    """One request the bot made and the answer it got. Header names are lower-case; `body` is
    the request's decoded JSON (None when empty or not JSON); `answer` the response's bytes."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    status: int
    answer: bytes
    by: str  # "prism" or "proxy"

    def answer_json(self) -> Any:
        return json.loads(self.answer)


@dataclass
class GitHubProxy:
    """The server; thread-safe. Set `diffs`, `files` and `permissions` before the bot asks."""

    upstream: str
    diffs: dict[tuple[str, str, int], str] = field(default_factory=dict)
    files: dict[tuple[str, str, str], str] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=self.upstream, timeout=30.0)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="github-proxy",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def exchanges(self, since: int = 0) -> list[Exchange]:
        """Every exchange so far (after the first `since`), in the order they were answered."""
        with self._lock:
            return self._exchanges[since:]

    def mark(self) -> int:
        """How many exchanges there are now: pass it as `since` to look at later ones only."""
        with self._lock:
            return len(self._exchanges)

    def find(self, method: str, path: str, since: int = 0) -> list[Exchange]:
        """The exchanges with this method whose path matches `path` (a regular expression)."""
        pattern = re.compile(path)
        return [
            e
            for e in self.exchanges(since)
            if e.method == method and pattern.fullmatch(e.path) is not None
        ]

    def start(self) -> GitHubProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._http.close()

    def __enter__(self) -> GitHubProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _answer(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes, str]:
        """The status, headers and body to send back, and who answered."""
        path = urlsplit(target).path
        accept = headers.get("accept", "")
        pull = _PULL.fullmatch(path)
        if method == "GET" and pull is not None and DIFF in accept:
            key = (pull["owner"], pull["repo"], int(pull["number"]))
            return _own(self.diffs.get(key), "text/plain; charset=utf-8")
        contents = _CONTENTS.fullmatch(path)
        if method == "GET" and contents is not None:
            key3 = (contents["owner"], contents["repo"], contents["path"])
            return _own(self.files.get(key3), "application/vnd.github.raw; charset=utf-8")

        sent = {k: v for k, v in headers.items() if k not in _HOP_HEADERS}
        if "application/json" not in accept:
            sent["accept"] = f"{accept}, application/json" if accept else "application/json"
        response = self._http.request(method, target, headers=sent, content=raw)
        body = response.content
        tree = _TREE.fullmatch(path)
        if tree is not None and response.status_code == 200:
            listing = self._listing(tree["owner"], tree["repo"], unquote(tree["tree"]))
            body = body if listing is None else json.dumps(listing).encode()
        permission = _PERMISSION.fullmatch(path)
        if permission is not None and response.status_code == 200:
            role = self.permissions.get(permission["login"])
            if role is not None:
                data = response.json()
                data["permission"] = "read" if role == "triage" else role
                data["role_name"] = role
                body = json.dumps(data).encode()
        kept = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in _HOP_HEADERS | {"content-encoding", "date", "server"}
        }
        return response.status_code, kept, body, "prism"

    def _listing(self, owner: str, repo: str, name: str) -> dict[str, Any] | None:
        """The listing of folder `name` of the repo's `files` (a folder by the id a listing gave
        it, else a branch: its top folder); None when the repo has no `files` set."""
        files = {path: text for (o, r, path), text in self.files.items() if (o, r) == (owner, repo)}
        if not files:
            return None
        found = tree_listing_named(name, "", files)
        return found if found is not None else tree_listing("", "", files)

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self._exchanges.append(exchange)


def _own(text: str | None, content_type: str) -> tuple[int, dict[str, str], bytes, str]:
    if text is None:
        body = json.dumps({"message": "Not Found", "status": "404"}).encode()
        return 404, {"content-type": "application/json; charset=utf-8"}, body, "proxy"
    return 200, {"content-type": content_type}, text.encode("utf-8"), "proxy"


def _handler_for(proxy: GitHubProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read the recorded exchanges instead."""

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                status, answer_headers, answer, by = proxy._answer(
                    self.command, self.path, headers, raw
                )
            except httpx.HTTPError as exc:  # Prism gone: say so, as a gateway would
                status, answer_headers, by = 502, {"content-type": "text/plain"}, "proxy"
                answer = f"github proxy: {exc}".encode()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            parts = urlsplit(self.path)
            proxy._record(
                Exchange(self.command, parts.path, parts.query, headers, body, status, answer, by)
            )
            self.send_response(status)
            for name, value in answer_headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    return Handler


@pytest.fixture(name="github_proxy")
def github_proxy_fixture(prism: Prism) -> Iterator[GitHubProxy]:
    """A running proxy in front of the session's Prism, closed after the test. Import it with
    `prism_fixture` into the test module (the fixture needs `prism`)."""
    with GitHubProxy(prism.url) as proxy:
        yield proxy

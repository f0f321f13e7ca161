"""A stateful fake of the GitHub REST endpoints the pipeline uses, as an httpx transport.

It keeps one pull request's head, its diffs (whole and compared), issue comments, review
comments and reviews, so pipeline tests can assert on what the bot posted and on what it does
the second time round. `POST /graphql` answers with the review threads, one per review comment
that is not a reply, resolved where that comment's id is in `resolved`. GitHub's schema itself
is checked by the Prism contract tests.

Files: `files` are the default branch's (`main`; `settings_file` is its `.github/tierbot.yml`)
and `head_files` the pull request head's, served by the contents API at that ref and listed by
the Git trees API (the branch name or head SHA for the top folder, a made-up SHA for a folder in
it, as an earlier listing gives it).

`FakeGitHubHost` is a repository with many such pull requests, as GitHub serves it to a GitHub
App (`/app`, installation tokens) and to a workflow's token (the repository's comments, a
workflow's runs), for tests that open a hundred pull requests.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

BOT = "tierbot[bot]"


@functools.cache
def private_key() -> rsa.RSAPrivateKey:
    """One RSA key per test run for a fake GitHub App (2048 bits, as GitHub issues)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem() -> str:
    return (
        private_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


@contextmanager
def serve(
    handle: Callable[[httpx.Request], httpx.Response],
    connections: list[str] | None = None,
    closed: list[str] | None = None,
) -> Iterator[str]:
    """`handle` (an httpx request in, a response out) on a real local HTTP/1.1 server that keeps
    connections open between requests, as GitHub does, one thread per connection; yields its
    URL. Each connection opened is appended to `connections`, and each one the client closed to
    `closed` (its client's address)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
        # client's delayed ACK of the headers (40 ms on Linux) on every kept-alive connection.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            if connections is not None:
                connections.append("{}:{}".format(*self.client_address))

        def finish(self) -> None:
            super().finish()
            if closed is not None:
                closed.append("{}:{}".format(*self.client_address))

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = httpx.Request(
                self.command,
                f"http://fake{self.path}",
                headers=dict(self.headers.items()),
                content=self.rfile.read(length),
            )
            response = handle(request)
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("content-type", "text/plain"))
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        do_GET = do_POST = do_PATCH = do_DELETE = _any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class FakeGitHubAPI:
    owner: str = "octo"
    repo: str = "app"
    number: int = 7
    head: str = "a" * 40
    diff: str = ""
    compared: dict[tuple[str, str], str] = field(default_factory=dict)
    settings_file: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    head_files: dict[str, str] = field(default_factory=dict)
    state: str = "open"
    author: str = "mona"
    author_association: str = "MEMBER"
    head_repo: str | None = None  # owner/name of a fork the pull request comes from
    permissions: dict[str, str] = field(default_factory=dict)
    issue_comments: list[dict[str, Any]] = field(default_factory=list)
    review_comments: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    reactions: list[tuple[int, str]] = field(default_factory=list)
    resolved: set[int] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)
    first_id: int = 1000

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    @contextmanager
    def served(self, connections: list[str] | None = None) -> Iterator[str]:
        """The same fake on a real local HTTP server, for code that makes its own client (the
        CLI reads TIERBOT_GITHUB_API_URL); yields the API URL (see `serve`)."""
        with serve(self._handle, connections) as url:
            yield url

    def bodies(self) -> list[str]:
        return [c["body"] for c in self.issue_comments]

    def summary(self) -> str:
        found = [c["body"] for c in self.issue_comments if "tierbot:summary" in c["body"]]
        assert len(found) == 1, f"expected one summary comment, found {len(found)}"
        return str(found[0])

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        method = request.method
        self.calls.append(
            (method, path + (f"?{request.url.query.decode()}" if request.url.query else ""))
        )
        base = f"/repos/{self.owner}/{self.repo}"
        body: Any = json.loads(request.content) if request.content else {}
        if path == "/graphql" and method == "POST":
            return httpx.Response(200, json=self._threads(body.get("variables") or {}))
        if path == f"{base}/pulls/{self.number}" and method == "GET":
            if "diff" in request.headers.get("accept", ""):
                return httpx.Response(200, text=self.diff)
            return httpx.Response(200, json=self._pull())
        compare = re.fullmatch(rf"{base}/compare/(\w+)\.\.\.(\w+)", path)
        if compare and method == "GET":
            text = self.compared.get((compare[1], compare[2]))
            if text is None:
                return httpx.Response(404, json={"message": "Not Found"})
            return httpx.Response(200, text=text)
        if path.startswith(f"{base}/contents/") and method == "GET":
            files = self._files(request.url.params.get("ref", "main"))
            text = files.get(unquote(path.removeprefix(f"{base}/contents/")))
            if text is None:
                return httpx.Response(404, json={"message": "Not Found"})
            return httpx.Response(200, text=text)
        tree = re.fullmatch(rf"{base}/git/trees/([^/]+)", path)
        if tree and method == "GET":
            return self._tree(unquote(tree[1]))
        if path == f"{base}/issues/{self.number}/comments":
            if method == "GET":
                return httpx.Response(200, json=self._page(request, self.issue_comments))
            comment = self._comment(body["body"])
            self.issue_comments.append(comment)
            return httpx.Response(201, json=comment)
        edit = re.fullmatch(rf"{base}/issues/comments/(\d+)", path)
        if edit and method == "PATCH":
            for comment in self.issue_comments:
                if comment["id"] == int(edit[1]):
                    comment["body"] = body["body"]
                    return httpx.Response(200, json=comment)
            return httpx.Response(404, json={"message": "Not Found"})
        react = re.fullmatch(rf"{base}/issues/comments/(\d+)/reactions", path)
        if react:
            self.reactions.append((int(react[1]), body["content"]))
            return httpx.Response(201, json={"id": 1, "content": body["content"]})
        if path == f"{base}/pulls/{self.number}/comments" and method == "GET":
            return httpx.Response(200, json=self._page(request, self.review_comments))
        if path == f"{base}/pulls/{self.number}/reviews" and method == "POST":
            review = {"id": 100 + len(self.reviews), "html_url": "https://github.test/r", **body}
            self.reviews.append(review)
            for item in body.get("comments", []):
                self.review_comments.append({**self._comment(item["body"]), **item})
            return httpx.Response(200, json=review)
        single = re.fullmatch(rf"{base}/pulls/comments/(\d+)", path)
        if single and method == "GET":
            for comment in self.review_comments:
                if comment["id"] == int(single[1]):
                    return httpx.Response(200, json=comment)
            return httpx.Response(404, json={"message": "Not Found"})
        thread = re.fullmatch(rf"{base}/pulls/{self.number}/comments/(\d+)/replies", path)
        if thread and method == "POST":
            reply = {**self._comment(body["body"]), "in_reply_to_id": int(thread[1])}
            self.review_comments.append(reply)
            return httpx.Response(201, json=reply)
        permission = re.fullmatch(rf"{base}/collaborators/([^/]+)/permission", path)
        if permission:
            level = self.permissions.get(permission[1], "read")
            return httpx.Response(200, json={"permission": level, "role_name": level})
        return httpx.Response(404, json={"message": f"fake has no {method} {path}"})

    def _files(self, ref: str) -> dict[str, str]:
        """The files at a ref: the default branch's (with the settings file), or the head's."""
        if ref == "main":
            settings = (
                {} if self.settings_file is None else {".github/tierbot.yml": self.settings_file}
            )
            return {**self.files, **settings}
        return dict(self.head_files) if ref == self.head else {}

    def _tree(self, name: str) -> httpx.Response:
        """A folder as the Git trees API lists it: a ref's top folder, or a folder by the SHA
        its parent's listing gave it."""
        for ref in ("main", self.head):
            files = self._files(ref)
            found = tree_listing_named(name, ref, files)
            if found is not None:
                return httpx.Response(200, json=found)
        return httpx.Response(404, json={"message": "Not Found"})

    def _pull(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": "Cache lookups",
            "body": "Adds a cache.",
            "head": {
                "sha": self.head,
                "repo": {"full_name": self.head_repo or f"{self.owner}/{self.repo}"},
            },
            "base": {"sha": "b" * 40, "repo": {"default_branch": "main"}},
            "user": {"login": self.author},
            "author_association": self.author_association,
            "draft": False,
            "state": self.state,
            "changed_files": 1,
        }

    def _threads(self, variables: dict[str, Any]) -> dict[str, Any]:
        """`reviewThreads` in pages of 100 (the cursor is the next index); GraphQL names a bot
        by its login without `[bot]`."""
        if (variables.get("owner"), variables.get("name"), variables.get("number")) != (
            self.owner,
            self.repo,
            self.number,
        ):
            return {"data": {"repository": None}, "errors": [{"message": "not found"}]}
        roots = [c for c in self.review_comments if "in_reply_to_id" not in c]
        start = int(variables.get("cursor") or 0)
        page = roots[start : start + 100]
        nodes = [
            {
                "isResolved": c["id"] in self.resolved,
                "comments": {
                    "nodes": [
                        {
                            "body": c["body"],
                            "author": {"login": c["user"]["login"].removesuffix("[bot]")},
                        }
                    ]
                },
            }
            for c in page
        ]
        more = start + 100 < len(roots)
        info = {"hasNextPage": more, "endCursor": str(start + 100) if more else None}
        threads = {"pageInfo": info, "nodes": nodes}
        return {"data": {"repository": {"pullRequest": {"reviewThreads": threads}}}}

    def _comment(self, text: str) -> dict[str, Any]:
        ident = self.first_id + len(self.issue_comments) + len(self.review_comments)
        return {"id": ident, "body": text, "user": {"login": BOT, "type": "Bot"}}

    @staticmethod
    def _page(request: httpx.Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        page = int(request.url.params.get("page", "1"))
        size = int(request.url.params.get("per_page", "30"))
        return items[(page - 1) * size : page * size]


def object_sha(text: str) -> str:
    """A made-up Git object id for `text` (a file's content, or `REF:FOLDER` for a folder)."""
    return hashlib.sha1(text.encode()).hexdigest()


def tree_listing_named(name: str, ref: str, files: dict[str, str]) -> dict[str, Any] | None:
    """The listing the Git trees API gives for `name` among `files` (path to text) at `ref`:
    the top folder for the ref's own name, a folder for the id its parent's listing gave it;
    None when `name` is neither."""
    folders = {p.rsplit("/", n)[0] for p in files for n in range(1, p.count("/") + 1)}
    for folder in ("", *sorted(folders)):
        if name == (ref if folder == "" else object_sha(f"{ref}:{folder}")):
            return tree_listing(ref, folder, files)
    return None


def tree_listing(ref: str, folder: str, files: dict[str, str]) -> dict[str, Any]:
    """GitHub's tree object for one folder of `files` (path to text), not recursive."""
    prefix = f"{folder}/" if folder else ""
    entries: dict[str, dict[str, Any]] = {}
    for path, text in files.items():
        if not path.startswith(prefix):
            continue
        name, _, rest = path.removeprefix(prefix).partition("/")
        if rest:
            sha = object_sha(f"{ref}:{prefix}{name}")
            entries[name] = {"path": name, "mode": "040000", "type": "tree", "sha": sha}
        else:
            size = len(text.encode())
            blob = {"path": name, "mode": "100644", "type": "blob", "sha": object_sha(text)}
            entries[name] = {**blob, "size": size}
    listed = list(entries.values())
    return {"sha": object_sha(f"{ref}:{folder}"), "tree": listed, "truncated": False}


_IDS_PER_PULL = 100_000


@dataclass
class FakeGitHubHost:
    """One repository with any number of pull requests, each a `FakeGitHubAPI` made on first use
    (with `diff`, `settings_file`, `files`, `author` and `author_association`; comment ids
    apart), and
    the endpoints that are not a pull request's: `GET /app` (the App's `slug`), installation
    tokens, the permission API (`permissions`, shared by every pull request), reactions to
    comments, the repository's issue comments, and a workflow's runs (`runs`, oldest first, as
    GitHub's run objects: `id`, `created_at`, `actor`, `conclusion`; listed newest first)."""

    owner: str = "octo"
    repo: str = "app"
    slug: str = "tierbot"
    diff: str = ""
    settings_file: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    author: str = "mona"
    author_association: str = "MEMBER"
    head_repo: str | None = None
    permissions: dict[str, str] = field(default_factory=dict)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pulls: dict[int, FakeGitHubAPI] = field(default_factory=dict)
    reactions: list[tuple[int, str]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def pull(self, number: int) -> FakeGitHubAPI:
        """The fake of pull request `number`, made now if it is new."""
        with self._lock:
            found = self.pulls.get(number)
            if found is None:
                found = self._made(number)
                self.pulls[number] = found
            return found

    def _made(self, number: int) -> FakeGitHubAPI:
        return FakeGitHubAPI(
            owner=self.owner,
            repo=self.repo,
            number=number,
            head=f"{number:040x}",
            diff=self.diff,
            settings_file=self.settings_file,
            files=self.files,
            author=self.author,
            author_association=self.author_association,
            head_repo=self.head_repo,
            permissions=self.permissions,
            first_id=number * _IDS_PER_PULL,
        )

    def comments(self) -> list[tuple[int, str]]:
        """Every issue comment on the repository's pull requests, as (number, body)."""
        return [(n, c["body"]) for n, p in sorted(self.pulls.items()) for c in p.issue_comments]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    @contextmanager
    def served(
        self, connections: list[str] | None = None, closed: list[str] | None = None
    ) -> Iterator[str]:
        """The host on a real local HTTP server (see `serve`); yields the API URL."""
        with serve(self._handle, connections, closed) as url:
            yield url

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        with self._lock:
            self.calls.append((method, path))
        base = f"/repos/{self.owner}/{self.repo}"
        if path == "/app" and method == "GET":
            return httpx.Response(200, json={"id": 4242, "slug": self.slug})
        if re.fullmatch(r"/app/installations/\d+/access_tokens", path) and method == "POST":
            token = {"token": "ghs_fakeinstallation", "expires_at": "2099-01-01T00:00:00Z"}
            return httpx.Response(201, json=token)
        if path == "/graphql":
            number = (json.loads(request.content).get("variables") or {}).get("number", 0)
            return self.pull(int(number))._handle(request)
        numbered = re.match(rf"{base}/(?:pulls|issues)/(\d+)(?:/|$)", path)
        if numbered:
            return self.pull(int(numbered[1]))._handle(request)
        react = re.fullmatch(rf"{base}/issues/comments/(\d+)/reactions", path)
        if react:
            body = json.loads(request.content)
            with self._lock:
                self.reactions.append((int(react[1]), body["content"]))
            return httpx.Response(201, json={"id": 1, "content": body["content"]})
        by_id = re.fullmatch(rf"{base}/(?:issues|pulls)/comments/(\d+)", path)
        if by_id:
            return self.pull(int(by_id[1]) // _IDS_PER_PULL)._handle(request)
        if path == f"{base}/issues/comments" and method == "GET":
            found = [c for _, p in sorted(self.pulls.items()) for c in p.issue_comments]
            return httpx.Response(200, json=FakeGitHubAPI._page(request, found))
        runs = re.fullmatch(rf"{base}/actions/workflows/([^/]+)/runs", path)
        if runs and method == "GET":
            newest = list(reversed(self.runs.get(runs[1], [])))
            page = FakeGitHubAPI._page(request, newest)
            return httpx.Response(200, json={"total_count": len(newest), "workflow_runs": page})
        return self._made(0)._handle(request)  # the repository's own: contents, permissions

"""GitHub's REST API with memory, for end-to-end tests of what the bot believes: the proxy of
tests/github_proxy.py (every request still checked by Prism against GitHub's description) with
the state Prism lacks kept here, per pull request:

- the pull request itself: its head commit, title, body, author and state, put into Prism's
  answer to `GET /repos/{owner}/{repo}/pulls/{number}`;
- its issue comments and review comments: created by the bot's requests (authored by `bot`),
  or seeded by a test as another user's; listed, edited and fetched one by one from here;
- the diff between two commits (`compare`), served like the pull request's own diff;
- GraphQL's review threads (not in the REST description Prism serves): one per review
  comment that is not a reply, none resolved.

Everything else is Prism's answer, as in the plain proxy.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.github_proxy import DIFF, GitHubProxy
from tests.prism import Prism

_PULL = re.compile(r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/pulls/(?P<n>[0-9]+)")
_ISSUE_COMMENTS = re.compile(r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/issues/(?P<n>[0-9]+)/comments")
_ISSUE_COMMENT = re.compile(r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/issues/comments/(?P<id>[0-9]+)")
_REVIEW_COMMENTS = re.compile(r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/pulls/(?P<n>[0-9]+)/comments")
_REVIEW_COMMENT = re.compile(r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/pulls/comments/(?P<id>[0-9]+)")
_REVIEWS = re.compile(r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/pulls/(?P<n>[0-9]+)/reviews")
_REPLIES = re.compile(
    r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/pulls/(?P<n>[0-9]+)/comments/(?P<id>[0-9]+)/replies"
)
_COMPARE = re.compile(r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/compare/(?P<base>\w+)\.\.\.(?P<head>\w+)")


@dataclass
class Pull:
    """One pull request's state."""

    head: str
    title: str = ""
    body: str = ""
    author: str = "mallory"
    state: str = "open"
    issue_comments: list[dict[str, Any]] = field(default_factory=list)
    review_comments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class GitHubState(GitHubProxy):
    """The proxy, with pull requests kept by (owner, repo, number) in `pulls`."""

    bot: str = "octoapp[bot]"  # Prism's example App is `octoapp`
    pulls: dict[tuple[str, str, int], Pull] = field(default_factory=dict)
    compared: dict[tuple[str, str, str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._ids = itertools.count(1000)

    def comment(self, key: tuple[str, str, int], body: str, login: str) -> dict[str, Any]:
        """Seed an issue comment by `login`, as if they had posted it."""
        made = _made(next(self._ids), body, login)
        self.pulls[key].issue_comments.append(made)
        return made

    def _answer(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes, str]:
        parts = urlsplit(target)
        path = parts.path
        compare = _COMPARE.fullmatch(path)
        if method == "GET" and compare is not None and DIFF in headers.get("accept", ""):
            text = self.compared.get((compare["o"], compare["r"], compare["base"], compare["head"]))
            if text is None:
                return (
                    404,
                    {"content-type": "application/json"},
                    b'{"message":"Not Found"}',
                    "proxy",
                )
            return 200, {"content-type": "text/plain"}, text.encode(), "proxy"
        if method == "POST" and path == "/graphql":
            threads = self._threads(json.loads(raw).get("variables") or {})
            return 200, {"content-type": "application/json"}, json.dumps(threads).encode(), "proxy"
        status, answer_headers, answer, by = super()._answer(method, target, headers, raw)
        if by != "prism" or status >= 300:
            return status, answer_headers, answer, by
        sent = json.loads(raw) if raw else {}
        kept = self._kept(method, path, parse_qs(parts.query), sent, json.loads(answer))
        if kept is None:
            return status, answer_headers, answer, by
        return status, answer_headers, json.dumps(kept).encode(), by

    def _kept(
        self, method: str, path: str, query: dict[str, list[str]], sent: Any, answer: Any
    ) -> Any:
        """The answer from the kept state, or None to pass Prism's on."""
        if (found := _PULL.fullmatch(path)) and method == "GET":
            pull = self._pull(found)
            if pull is None:
                return None
            answer["head"]["sha"] = pull.head
            answer["user"]["login"] = pull.author
            return answer | {"title": pull.title, "body": pull.body, "state": pull.state}
        if (found := _ISSUE_COMMENTS.fullmatch(path)) and (pull := self._pull(found)):
            if method == "GET":
                return _page(pull.issue_comments, query)
            made = _made(next(self._ids), sent["body"], self.bot)
            pull.issue_comments.append(made)
            return answer | made
        if (found := _ISSUE_COMMENT.fullmatch(path)) and method == "PATCH":
            for pull in self.pulls.values():
                for comment in pull.issue_comments:
                    if comment["id"] == int(found["id"]):
                        comment["body"] = sent["body"]
                        return answer | comment
            return None
        if (found := _REVIEW_COMMENTS.fullmatch(path)) and method == "GET":
            pull = self._pull(found)
            return None if pull is None else _page(pull.review_comments, query)
        if (found := _REVIEWS.fullmatch(path)) and method == "POST" and "event" in sent:
            if (pull := self._pull(found)) is not None:
                for item in sent.get("comments", []):
                    made = _made(next(self._ids), item["body"], self.bot)
                    pull.review_comments.append(made | item)
            return None
        if (found := _REPLIES.fullmatch(path)) and (pull := self._pull(found)):
            made = _made(next(self._ids), sent["body"], self.bot)
            made["in_reply_to_id"] = int(found["id"])
            pull.review_comments.append(made)
            return answer | made
        if (found := _REVIEW_COMMENT.fullmatch(path)) and method == "GET":
            for pull in self.pulls.values():
                for comment in pull.review_comments:
                    if comment["id"] == int(found["id"]):
                        return answer | comment
        return None

    def _threads(self, variables: dict[str, Any]) -> dict[str, Any]:
        key = (str(variables.get("owner")), str(variables.get("name")), variables.get("number"))
        pull = self.pulls.get(key)  # type: ignore[arg-type]
        roots = [c for c in pull.review_comments if "in_reply_to_id" not in c] if pull else []
        nodes = [
            {
                "isResolved": False,
                "comments": {
                    "nodes": [
                        {"body": c["body"], "author": {"login": self.bot.removesuffix("[bot]")}}
                    ]
                },
            }
            for c in roots
        ]
        threads = {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": nodes}
        return {"data": {"repository": {"pullRequest": {"reviewThreads": threads}}}}

    def _pull(self, found: re.Match[str]) -> Pull | None:
        return self.pulls.get((found["o"], found["r"], int(found["n"])))


def _made(ident: int, body: str, login: str) -> dict[str, Any]:
    kind = "Bot" if login.endswith("[bot]") else "User"
    return {"id": ident, "body": body, "user": {"login": login, "type": kind}}


def _page(items: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
    size = int(query.get("per_page", ["30"])[0])
    page = int(query.get("page", ["1"])[0])
    return items[(page - 1) * size : page * size]


@pytest.fixture(name="github_state")
def github_state_fixture(prism: Prism) -> Iterator[GitHubState]:
    """A running stateful proxy in front of the session's Prism; import it with
    `prism_fixture` into the test module."""
    state = GitHubState(prism.url)
    state.start()
    try:
        yield state
    finally:
        state.close()

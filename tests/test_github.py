"""The GitHub client against a fake GitHub at the HTTP transport: pull requests, diffs (and the
file-list fallback for diffs GitHub refuses as too large), files, and every failure made clear;
reviews (comments GitHub cannot place found and dropped, one review posted), the summary edited in
place, reactions, replies, permissions, earlier fingerprints; App tokens cached until near expiry;
writes spaced a second apart; rate limits waited out only within the cap."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest

from bot.adapters.github import GitHub, GitHubApp, GitHubError, PullRef, UnsafeBody, parse_pull_url
from bot.core.anchor import Comment
from bot.core.answer_schema import Severity
from bot.core.diff import Side, Status, parse
from bot.core.markers import SUMMARY_MARKER, Markers, SummaryState, comment_marker, marker_key
from tests.fake_github_api import private_key, private_pem

REF = PullRef("octo", "app", 7)
KEY = marker_key("It's a Secret to Everybody")
MARKERS = Markers(KEY, "octo/app", 7)
PULL = {
    "number": 7,
    "title": "Add retries",
    "body": "Retries the upload.",
    "head": {"sha": "a" * 40},
    "base": {"sha": "b" * 40},
    "user": {"login": "mona"},
    "author_association": "CONTRIBUTOR",
    "draft": False,
    "state": "open",
    "changed_files": 2,
}
DIFF = (
    "diff --git a/app/up.py b/app/up.py\n--- a/app/up.py\n+++ b/app/up.py\n"
    "@@ -1,2 +1,3 @@\n import os\n+import time\n x = 1\n"
)


async def no_sleep(seconds: float) -> None:
    return None


def client(handler: Callable[[httpx.Request], httpx.Response], token: str | None = None) -> GitHub:
    return GitHub(
        token, "https://ghe.example/api/v3", transport=httpx.MockTransport(handler), sleep=no_sleep
    )


def test_pull_request_urls_are_parsed() -> None:
    assert parse_pull_url("https://github.com/octo/app/pull/7") == REF
    assert parse_pull_url("https://ghe.example/octo/app/pull/7/files#diff") == REF
    with pytest.raises(GitHubError, match="not a pull request URL"):
        parse_pull_url("https://github.com/octo/app/issues/7")


def test_a_pull_request_and_its_diff_are_fetched_with_the_right_requests() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers["accept"] == "application/vnd.github.diff":
            return httpx.Response(200, text=DIFF)
        return httpx.Response(200, json=PULL)

    github = client(handler, token="ghs_test")
    pull = asyncio.run(github.pull(REF))
    diff = asyncio.run(github.pull_diff(REF))
    assert pull.title == "Add retries"
    assert pull.head_sha == "a" * 40
    assert pull.author_association == "CONTRIBUTOR"
    assert diff == DIFF.encode()
    assert [r.url.path for r in seen] == ["/api/v3/repos/octo/app/pulls/7"] * 2
    assert seen[0].headers["authorization"] in ("token ghs_test", "Bearer ghs_test")


def test_a_diff_too_large_for_github_is_rebuilt_from_the_paged_file_list() -> None:
    files = [
        {
            "filename": f"src/m{i}.py",
            "status": "modified",
            "changes": 1,
            "patch": f"@@ -1 +1 @@\n-a{i}\n+b{i}",
        }
        for i in range(100)
    ]
    page2 = [
        {"filename": "logo.png", "status": "added", "changes": 0},
        {
            "filename": "new/name.py",
            "previous_filename": "old/name.py",
            "status": "renamed",
            "changes": 0,
        },
        {"filename": "gone.py", "status": "removed", "changes": 1, "patch": "@@ -1 +0,0 @@\n-x"},
    ]
    pages: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/files"):
            page = request.url.params["page"]
            pages.append(page)
            return httpx.Response(200, json=files if page == "1" else page2)
        return httpx.Response(
            406, json={"message": "Sorry, the diff exceeded the maximum number of files (300)."}
        )

    changes = parse(asyncio.run(client(handler).pull_diff(REF)))
    assert pages == ["1", "2"]
    assert len(changes.files) == 103
    by_path = {f.path: f for f in changes.files}
    assert by_path["src/m3.py"].added == 1
    assert by_path["logo.png"].binary
    assert by_path["new/name.py"].status is Status.RENAMED
    assert by_path["new/name.py"].old_path == "old/name.py"
    assert by_path["gone.py"].status is Status.DELETED


@pytest.mark.parametrize(
    ("status", "body", "headers", "token", "message"),
    [
        (404, {"message": "Not Found"}, {}, None, "private? set GITHUB_TOKEN"),
        (
            403,
            {"message": "API rate limit exceeded"},
            {"x-ratelimit-reset": "1700000000", "x-ratelimit-remaining": "0"},
            None,
            "rate limit reached (resets at epoch 1700000000)",
        ),
        (401, {"message": "Bad credentials"}, {}, "ghs_bad", "refused"),
        (502, {"message": "Server Error"}, {}, "ghs_x", "answered 502"),
    ],
)
def test_failures_are_clear_errors_not_crashes(
    status: int, body: dict[str, str], headers: dict[str, str], token: str | None, message: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body), headers=headers)

    with pytest.raises(GitHubError, match=re.escape(message)) as caught:
        asyncio.run(client(handler, token).pull(REF))
    assert "ghs_" not in str(caught.value)


def test_an_unreachable_github_is_a_clear_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(GitHubError, match="could not reach GitHub"):
        asyncio.run(client(handler).pull_diff(REF))


def test_a_missing_settings_file_is_none_and_a_present_one_is_text() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("tierbot.yml"):
            assert request.url.params["ref"] == "main"
            return httpx.Response(200, text="routing:\n  threshold: 60\n")
        return httpx.Response(404, json={"message": "Not Found"})

    github = client(handler)
    assert asyncio.run(github.file_text("octo", "app", ".github/tierbot.yml", "main")) == (
        "routing:\n  threshold: 60\n"
    )
    assert asyncio.run(github.file_text("octo", "app", ".github/other.yml", "main")) is None


def test_a_folder_is_listed_by_branch_or_sha_and_a_missing_one_is_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode().removeprefix("/api/v3")
        if path == "/repos/octo/app/git/trees/main":
            entries = [
                {
                    "path": "AGENTS.md",
                    "mode": "100644",
                    "type": "blob",
                    "sha": "1" * 40,
                    "size": 12,
                },
                {"path": ".github", "mode": "040000", "type": "tree", "sha": "2" * 40},
                {"path": "vendor", "mode": "160000", "type": "commit", "sha": "3" * 40},
            ]
            return httpx.Response(200, json={"sha": "0" * 40, "tree": entries, "truncated": True})
        if path == "/repos/octo/app/git/trees/release%2F2":
            return httpx.Response(404, json={"message": "Not Found"})
        if path == "/repos/empty/app/git/trees/main":
            return httpx.Response(409, json={"message": "Git Repository is empty."})
        return httpx.Response(403, json={"message": "Resource not accessible by integration"})

    github = client(handler)
    tree = asyncio.run(github.tree("octo", "app", "main"))
    assert tree is not None
    assert tree.truncated
    agents, folder, submodule = (tree.entries[n] for n in ("AGENTS.md", ".github", "vendor"))
    assert (agents.file, agents.size, agents.sha) == (True, 12, "1" * 40)
    assert (folder.folder, folder.file, folder.size) == (True, False, None)
    assert (submodule.file, submodule.folder) == (False, False)
    assert asyncio.run(github.tree("octo", "app", "release/2")) is None
    assert asyncio.run(github.tree("empty", "app", "main")) is None
    with pytest.raises(GitHubError, match="403"):
        asyncio.run(github.tree("octo", "app", "2" * 40))


# Posting, comments and App authentication.

API = "/api/v3"
NOW = 1_700_000_000.0


class FakeTime:
    """A clock that only moves when the client sleeps; every sleep is recorded."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def timed_client(
    handler: Callable[[httpx.Request], httpx.Response], time: FakeTime, **options: Any
) -> GitHub:
    return GitHub(
        "ghs_test",
        "https://ghe.example/api/v3",
        transport=httpx.MockTransport(handler),
        clock=time.clock,
        sleep=time.sleep,
        **({"marker_key": KEY} | options),
    )


def inline(line: int, *, start: int | None = None) -> Comment:
    return Comment(
        path="app/up.py",
        line=line,
        side=Side.RIGHT,
        severity=Severity.MINOR,
        category="bug",
        body=f"Remark on line {line}.",
        start_line=start,
        fingerprint=f"{line:016x}",
    )


class ReviewServer:
    """Reviews on one PR: 422 for any review holding a comment on an unplaceable line (like
    GitHub, without saying which), pending reviews deletable, submitted ones recorded."""

    def __init__(self, bad_lines: set[int]) -> None:
        self.bad_lines = bad_lines
        self.submitted: list[dict[str, Any]] = []
        self.pending: dict[int, dict[str, Any]] = {}
        self.probes = 0
        self._ids = iter(range(100, 10_000))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(API)
        if request.method == "DELETE":
            review_id = int(path.rsplit("/", 1)[1])
            self.pending.pop(review_id)
            return httpx.Response(200, json={"id": review_id, "state": "PENDING"})
        assert (request.method, path) == ("POST", "/repos/octo/app/pulls/7/reviews")
        review = json.loads(request.content)
        if "event" not in review:
            self.probes += 1
            assert not self.pending, "GitHub allows one pending review per user and PR"
        if any(c["line"] in self.bad_lines for c in review["comments"]):
            return httpx.Response(
                422,
                json={"message": "Unprocessable Entity", "errors": ["Line could not be resolved"]},
            )
        if len(review.get("body", "")) > 65_536:
            return httpx.Response(
                422, json={"message": "Validation Failed", "errors": [{"code": "too_long"}]}
            )
        review_id = next(self._ids)
        if "event" in review:
            self.submitted.append(review)
        else:
            self.pending[review_id] = review
        return httpx.Response(
            200, json={"id": review_id, "html_url": f"https://ghe.example/r/{review_id}"}
        )


def test_a_review_is_one_post_with_every_inline_comment_in_githubs_terms() -> None:
    server = ReviewServer(bad_lines=set())
    github = timed_client(server, FakeTime())
    comments = [inline(3), inline(9, start=5)]
    posted = asyncio.run(github.post_review(REF, "a" * 40, "Summary", comments))
    assert posted.review_id == 100
    assert posted.url == "https://ghe.example/r/100"
    assert posted.posted == tuple(comments)
    assert posted.dropped == ()
    [review] = server.submitted
    assert review["event"] == "COMMENT"
    assert review["commit_id"] == "a" * 40
    assert review["body"] == "Summary"
    assert review["comments"] == [
        {
            "path": "app/up.py",
            "line": 3,
            "side": "RIGHT",
            "body": f"Remark on line 3.\n\n{MARKERS.comment_trailer('0000000000000003')}",
        },
        {
            "path": "app/up.py",
            "line": 9,
            "side": "RIGHT",
            "start_line": 5,
            "start_side": "RIGHT",
            "body": f"Remark on line 9.\n\n{MARKERS.comment_trailer('0000000000000009')}",
        },
    ]
    assert server.probes == 0


@pytest.mark.parametrize(
    ("count", "bad_lines", "max_probes"),
    [
        (8, {6}, 1 + 3),  # one probe without comments, then log2(8) halvings
        (8, {1, 8}, 1 + 3 + 3),  # the second search skips the comments known to be placeable
        (8, set(range(1, 9)), 14),
        (1, {1}, 1),  # a lone comment is dropped without a probe of its own
    ],
)
def test_comments_github_cannot_place_are_found_by_halving_and_the_rest_posted_once(
    count: int, bad_lines: set[int], max_probes: int
) -> None:
    server = ReviewServer(bad_lines)
    comments = [inline(n) for n in range(1, count + 1)]
    github = timed_client(server, FakeTime())
    posted = asyncio.run(github.post_review(REF, "a" * 40, "S", comments))
    good = [n for n in range(1, count + 1) if n not in bad_lines]
    [review] = server.submitted
    assert [c["line"] for c in review["comments"]] == good
    assert [c.line for c in posted.posted] == good
    assert sorted(d.comment.line for d in posted.dropped) == sorted(bad_lines)
    assert {d.reason for d in posted.dropped} == {
        "Unprocessable Entity; Line could not be resolved"
    }
    assert server.probes == max_probes
    assert not server.pending, "every probe's pending review is deleted"


def test_the_search_for_bad_comments_is_bounded_and_what_it_did_not_check_is_dropped() -> None:
    server = ReviewServer(bad_lines=set(range(1, 41)))
    comments = [inline(n) for n in range(1, 51)]
    posted = asyncio.run(timed_client(server, FakeTime()).post_review(REF, "a" * 40, "S", comments))
    assert server.probes == 20
    [review] = server.submitted
    assert review["comments"] == []
    assert len(posted.dropped) == 50
    assert posted.dropped[-1].reason == (
        "not checked (Unprocessable Entity; Line could not be resolved): probe budget spent"
    )


def test_a_refusal_the_comments_do_not_cause_is_an_error_and_nothing_is_left_behind() -> None:
    server = ReviewServer(bad_lines=set())
    github = timed_client(server, FakeTime())
    with pytest.raises(GitHubError, match=r"refused the review on octo/app#7: 422 .*too_long"):
        asyncio.run(github.post_review(REF, "a" * 40, "x" * 70_000, [inline(1), inline(2)]))
    assert server.submitted == []
    assert server.probes == 1
    assert not server.pending


def test_a_review_can_only_be_a_comment_review() -> None:
    server = ReviewServer(bad_lines=set())
    github = timed_client(server, FakeTime())
    with pytest.raises(TypeError):
        asyncio.run(github.post_review(REF, "a" * 40, "Looks good", [], event="APPROVE"))  # type: ignore[call-arg]
    asyncio.run(github.post_review(REF, "a" * 40, "Looks good", []))
    assert [review["event"] for review in server.submitted] == ["COMMENT"]


@pytest.mark.parametrize(
    "body",
    [
        "cc @octocat",
        "ping @org/team",
        "![pixel](https://evil.example/p.png)",
        "<img src=x>",
        "hidden <!-- note --> text",
        "closes #12",
        "see https://github.com/octo/app/issues/3",
        "quoting <!-- tierbot:paused -->",
        "a `tierbot:fp=0000000000000000` code span",
    ],
)
def test_a_body_that_would_render_unsafely_is_never_sent(body: str) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json={"id": 1, "html_url": "https://ghe.example/r/1"})

    github = timed_client(handler, FakeTime(), bot_login="tierbot[bot]")

    async def attempts() -> None:
        with pytest.raises(UnsafeBody):
            await github.reply(REF, body)
        with pytest.raises(UnsafeBody):
            await github.reply_in_thread(REF, 12, body)
        with pytest.raises(UnsafeBody):
            await github.upsert_comment(REF, SUMMARY_MARKER, body, known=(5, "old"))
        with pytest.raises(UnsafeBody):
            await github.post_review(REF, "a" * 40, body, [])
        with pytest.raises(UnsafeBody):
            await github.post_review(REF, "a" * 40, "ok", [replace(inline(3), body=body)])

    asyncio.run(attempts())
    assert sent == []


def test_the_bots_own_markers_and_small_print_may_be_posted() -> None:
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(201, json={"id": 1})

    github = timed_client(handler, FakeTime(), bot_login="tierbot[bot]")
    body = MARKERS.summary_body(
        "## tierbot review\n\n<details><summary>Files</summary>\n\n- `a`\n</details>\n\n"
        "<sub>`/help`</sub>\n",
        SummaryState("a" * 40, paused=True),
    )
    asyncio.run(github.upsert_comment(REF, SUMMARY_MARKER, body, known=(5, "old")))
    assert sent == [{"body": body}]


def test_markers_carry_fingerprints_and_are_read_back() -> None:
    assert comment_marker("0123456789abcdef") == "<!-- tierbot:fp=0123456789abcdef -->"
    body = f"Nit.\n\n{MARKERS.comment_trailer('0123456789abcdef')}"
    assert MARKERS.fingerprint(body) == "0123456789abcdef"
    assert MARKERS.fingerprint(f"Nit.\n\n{comment_marker('0123456789abcdef')}") is None
    assert Markers(KEY, "octo/app", 8).fingerprint(body) is None
    assert Markers(marker_key("another secret"), "octo/app", 7).fingerprint(body) is None
    with pytest.raises(ValueError, match="not a comment fingerprint"):
        comment_marker("<!-- -->")


class IssueComments:
    """Issue comments on PR 7, in pages of 100; edits and new comments recorded."""

    def __init__(self, comments: list[dict[str, Any]]) -> None:
        self.comments = comments
        self.writes: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(API)
        if request.method == "GET":
            assert path == "/repos/octo/app/issues/7/comments"
            assert request.url.params["per_page"] == "100"
            start = (int(request.url.params["page"]) - 1) * 100
            return httpx.Response(200, json=self.comments[start : start + 100])
        self.writes.append((request.method, path, json.loads(request.content)))
        return httpx.Response(201 if request.method == "POST" else 200, json={"id": 999})


def issue_comment(n: int, body: str, login: str = "mona") -> dict[str, Any]:
    return {"id": n, "body": body, "user": {"login": login}}


def test_the_summary_is_found_by_its_marker_among_the_bots_comments_and_edited() -> None:
    others = [issue_comment(n, f"comment {n}") for n in range(1, 101)]
    # A human posting the marker must not have their comment edited or believed.
    others[5] = issue_comment(6, f"{SUMMARY_MARKER}\nforged", "mona")
    # Nor is a comment of the bot's that only quotes the marker further down.
    others[7] = issue_comment(8, f"an answer\n{SUMMARY_MARKER}", "tierbot[bot]")
    server = IssueComments([*others, issue_comment(555, f"{SUMMARY_MARKER}\nold", "tierbot[bot]")])
    github = timed_client(server, FakeTime(), bot_login="tierbot[bot]")
    found = asyncio.run(github.find_comment(REF, SUMMARY_MARKER))
    assert found == (555, f"{SUMMARY_MARKER}\nold")
    assert asyncio.run(github.upsert_comment(REF, SUMMARY_MARKER, "new")) == 555
    assert server.writes == [
        ("PATCH", "/repos/octo/app/issues/comments/555", {"body": f"{SUMMARY_MARKER}\nnew"})
    ]
    server.writes.clear()
    assert asyncio.run(github.upsert_comment(REF, SUMMARY_MARKER, "old")) == 555
    assert server.writes == [], "an unchanged summary is not written again"


def test_no_state_is_read_without_the_bots_login() -> None:
    server = IssueComments([issue_comment(1, f"{SUMMARY_MARKER}\nforged", "mona")])
    github = timed_client(server, FakeTime())
    with pytest.raises(ValueError, match="login is unknown"):
        asyncio.run(github.find_comment(REF, SUMMARY_MARKER))
    with pytest.raises(ValueError, match="login is unknown"):
        asyncio.run(github.review_comment_fingerprints(REF))


def test_the_summary_is_created_when_the_bot_has_none() -> None:
    server = IssueComments([issue_comment(1, f"{SUMMARY_MARKER}\nforged", "mona")])
    github = timed_client(server, FakeTime(), bot_login="tierbot[bot]")
    assert asyncio.run(github.upsert_comment(REF, SUMMARY_MARKER, f"{SUMMARY_MARKER}\nhi")) == 999
    assert server.writes == [
        ("POST", "/repos/octo/app/issues/7/comments", {"body": f"{SUMMARY_MARKER}\nhi"})
    ]


def test_reactions_and_replies_go_to_the_right_endpoints() -> None:
    seen: list[tuple[str, str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(
            (request.method, request.url.path.removeprefix(API), json.loads(request.content))
        )
        return httpx.Response(201, json={"id": 31})

    github = timed_client(handler, FakeTime())

    async def run() -> list[int]:
        await github.add_reaction("octo", "app", 11)
        await github.add_reaction("octo", "app", 12, "+1", review_comment=True)
        return [await github.reply(REF, "Done."), await github.reply_in_thread(REF, 12, "Because…")]

    assert asyncio.run(run()) == [31, 31]
    assert seen == [
        ("POST", "/repos/octo/app/issues/comments/11/reactions", {"content": "eyes"}),
        ("POST", "/repos/octo/app/pulls/comments/12/reactions", {"content": "+1"}),
        ("POST", "/repos/octo/app/issues/7/comments", {"body": "Done."}),
        ("POST", "/repos/octo/app/pulls/7/comments/12/replies", {"body": "Because…"}),
    ]
    with pytest.raises(ValueError, match="not a GitHub reaction"):
        asyncio.run(github.add_reaction("octo", "app", 11, "thumbsup"))


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"permission": "admin", "role_name": "admin"}, "admin"),
        ({"permission": "write", "role_name": "maintain"}, "maintain"),
        ({"permission": "write", "role_name": "write"}, "write"),
        ({"permission": "read", "role_name": "triage"}, "triage"),
        ({"permission": "read", "role_name": "read"}, "read"),
        ({"permission": "write", "role_name": "security-reviewer"}, "write"),
        ({"permission": "none", "role_name": ""}, "none"),
        (None, "none"),
    ],
)
def test_permissions_keep_githubs_five_roles_and_a_stranger_has_none(
    answer: dict[str, str] | None, expected: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"{API}/repos/octo/app/collaborators/bob/permission"
        if answer is None:
            return httpx.Response(404, json={"message": "Not Found"})
        return httpx.Response(200, json=answer)

    assert (
        asyncio.run(timed_client(handler, FakeTime()).permission("octo", "app", "bob")) == expected
    )


def test_fingerprints_of_the_bots_earlier_inline_comments_are_read_from_every_page() -> None:
    bot = {"login": "tierbot[bot]"}
    page1 = [
        {"id": n, "body": f"x\n\n{MARKERS.comment_trailer(f'{n:016x}')}", "user": bot}
        for n in range(100)
    ]
    page2 = [
        {"id": 500, "body": f"y\n{MARKERS.comment_trailer('f' * 16)}", "user": bot},
        {"id": 501, "body": f"z\n{MARKERS.comment_trailer('e' * 16)}", "user": {"login": "mona"}},
        {"id": 502, "body": "no marker", "user": bot},
        {"id": 503, "body": f"unsigned\n{comment_marker('d' * 16)}", "user": bot},
        {"id": 504, "body": f"{MARKERS.comment_trailer('c' * 16)}\nthen text", "user": bot},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"{API}/repos/octo/app/pulls/7/comments"
        return httpx.Response(200, json=page1 if request.url.params["page"] == "1" else page2)

    github = timed_client(handler, FakeTime(), bot_login="tierbot[bot]")
    found = asyncio.run(github.review_comment_fingerprints(REF))
    assert found == {f"{n:016x}" for n in range(100)} | {"f" * 16}


def test_an_incremental_diff_comes_from_compare_and_json_accept_is_configurable() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return (
            httpx.Response(200, text=DIFF)
            if "compare" in request.url.path
            else (httpx.Response(200, json=PULL))
        )

    github = timed_client(handler, FakeTime(), accept_json=True)
    assert asyncio.run(github.compare("octo", "app", "b" * 40, "a" * 40)) == DIFF.encode()
    asyncio.run(github.pull(REF))
    assert seen[0].url.path == f"{API}/repos/octo/app/compare/{'b' * 40}...{'a' * 40}"
    assert seen[0].headers["accept"] == "application/vnd.github.diff"
    assert seen[1].headers["accept"] == "application/vnd.github+json, application/json"


def test_writes_to_one_installation_are_a_second_apart_and_reads_are_not_held() -> None:
    time = FakeTime()
    at: list[tuple[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        at.append((request.method, time.now))
        return httpx.Response(200, json=PULL if request.method == "GET" else {"id": 1})

    github = timed_client(handler, time)

    async def run() -> None:
        await asyncio.gather(*(github.reply(REF, f"r{n}") for n in range(3)))
        await github.pull(REF)
        time.now += 5
        await github.reply(REF, "later")

    asyncio.run(run())
    writes = [t for method, t in at if method == "POST"]
    assert [b - a for a, b in itertools.pairwise(writes)] == [1.0, 1.0, 5.0]
    assert time.sleeps == [1.0, 1.0]


def test_a_secondary_rate_limit_is_waited_out_as_github_says() -> None:
    time = FakeTime()
    answers = iter(
        [
            httpx.Response(
                403, json={"message": "secondary rate limit"}, headers={"retry-after": "7"}
            ),
            httpx.Response(200, json={"id": 5}),
        ]
    )
    github = timed_client(lambda request: next(answers), time)
    assert asyncio.run(github.reply(REF, "hi")) == 5
    assert time.sleeps == [7.0]


@pytest.mark.parametrize(
    ("headers", "retry_in", "sleeps"),
    [
        ({"retry-after": "120"}, 120, []),
        (
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 3600)},
            3600,
            [],
        ),
        ({"retry-after": "40"}, 40, [40.0]),  # the second wait would pass the 60 s cap
    ],
)
def test_a_rate_limit_longer_than_the_cap_is_an_error_saying_when_to_retry(
    headers: dict[str, str], retry_in: int, sleeps: list[float]
) -> None:
    time = FakeTime()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(403, json={"message": "API rate limit exceeded"}, headers=headers)

    with pytest.raises(GitHubError, match="rate limit reached") as caught:
        asyncio.run(timed_client(handler, time).pull(REF))
    assert caught.value.retry_at == time.now + retry_in
    assert time.sleeps == sleeps
    assert calls == len(sleeps) + 1


def test_server_errors_are_retried_briefly_but_never_a_post_that_may_have_landed() -> None:
    time = FakeTime()
    answers = iter([httpx.Response(502), httpx.Response(503), httpx.Response(200, json=PULL)])
    github = timed_client(lambda request: next(answers), time)
    assert asyncio.run(github.pull(REF)).title == "Add retries"
    assert time.sleeps == [0.5, 1.0]

    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        posts += 1
        return httpx.Response(502, json={"message": "Server Error"})

    with pytest.raises(GitHubError, match="answered 502"):
        asyncio.run(timed_client(handler, FakeTime()).reply(REF, "once"))
    assert posts == 1


def test_an_installation_token_is_fetched_once_and_renewed_near_expiry() -> None:
    time = FakeTime()
    tokens: list[str] = []
    auth: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(API)
        scheme, credential = request.headers["authorization"].split(" ", 1)
        assert scheme == "Bearer"
        if path.startswith("/app"):
            claims = jwt.decode(
                credential,
                private_key().public_key(),
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False},
            )
            assert claims == {"iss": "1234", "iat": int(time.now) - 60, "exp": int(time.now) + 540}
        if path == "/app":
            return httpx.Response(200, json={"id": 1234, "slug": "tierbot"})
        if path == "/app/installations/42/access_tokens":
            tokens.append(f"ghs_{len(tokens) + 1}")
            expires = datetime.fromtimestamp(time.now + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return httpx.Response(201, json={"token": tokens[-1], "expires_at": expires})
        auth.append((path, credential))
        return httpx.Response(200, json=PULL)

    app = GitHubApp(
        1234,
        private_pem(),
        "https://ghe.example/api/v3",
        marker_key=KEY,
        transport=httpx.MockTransport(handler),
        clock=time.clock,
        sleep=time.sleep,
    )

    async def run() -> None:
        github = await app.installation(42)
        assert github.bot_login == "tierbot[bot]"
        assert await app.installation(42) is github
        await github.pull(REF)
        await github.pull(REF)
        time.now += 3600 - 300 - 1
        await github.pull(REF)
        assert tokens == ["ghs_1"]
        time.now += 2  # now within five minutes of expiry
        await github.pull(REF)

    asyncio.run(run())
    assert tokens == ["ghs_1", "ghs_2"]
    assert [credential for _, credential in auth] == ["ghs_1", "ghs_1", "ghs_1", "ghs_2"]


def test_a_gone_installation_and_an_unusable_key_are_clear_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"message": "Not Found"})

    app = GitHubApp(
        1,
        private_pem().replace("\n", "\\n"),
        marker_key=KEY,
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(
        GitHubError, match="not found on GitHub: /app/installations/9/access_tokens"
    ):
        asyncio.run(app.installation(9))
    with pytest.raises(GitHubError, match="not a usable PEM key"):
        GitHubApp(
            1,
            "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n",
            marker_key=KEY,
        )

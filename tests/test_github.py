"""The GitHub client against a fake GitHub at the HTTP transport: pull requests, diffs (and the
file-list fallback for diffs GitHub refuses as too large), files, and every failure made clear."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable

import httpx
import pytest

from bot.diff import Status, parse
from bot.github import GitHub, GitHubError, PullRef, parse_pull_url

REF = PullRef("octo", "app", 7)
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


def client(handler: Callable[[httpx.Request], httpx.Response], token: str | None = None) -> GitHub:
    return GitHub(token, "https://ghe.example/api/v3", transport=httpx.MockTransport(handler))


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

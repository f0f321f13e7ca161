"""The GitHub client's requests against GitHub's REST contract: the real client talks to Prism
serving GitHub's OpenAPI description, and Prism's log shows no request that breaks the schema.

Only request-side problems count; Prism's answers are GitHub's examples, some of which break
GitHub's own schemas. Diffs are not covered: the description has no diff response for pulls or
compare (those requests are tested against a fake at the transport in test_github.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from bot.adapters.github import GitHub, GitHubApp, PullRef
from bot.core.anchor import Comment
from bot.core.answer_schema import Severity
from bot.core.diff import Side
from bot.core.markers import SUMMARY_MARKER, marker_key
from bot.pipeline.repo_files import read_default_files
from tests.fake_github_api import private_pem
from tests.prism import Prism, prism_fixture  # noqa: F401 (fixture)

REF = PullRef("octo", "app", 7)
HEAD = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
REVIEWS = "/repos/octo/app/pulls/7/reviews"
Edit = Callable[[httpx.Request], httpx.Request]
Answer = Callable[[httpx.Request, httpx.Response], httpx.Response]
Serve = Callable[[httpx.Request], httpx.Response | None]


class Tamper(httpx.AsyncBaseTransport):
    """Sends each request to Prism, after `edit` (to force an answer with Prism's `Prefer`
    header) and with its answer passed through `answer` (to stand in for state Prism lacks);
    what `serve` answers (what the description cannot: diffs) never reaches Prism."""

    def __init__(
        self, edit: Edit | None = None, answer: Answer | None = None, serve: Serve | None = None
    ) -> None:
        self._edit = edit
        self._answer = answer
        self._serve = serve

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._serve is not None and (served := self._serve(request)) is not None:
            return served
        if self._edit is not None:
            request = self._edit(request)
        async with httpx.AsyncHTTPTransport() as transport:
            response = await transport.handle_async_request(request)
            content = await response.aread()
        response = httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )
        return response if self._answer is None else self._answer(request, response)


def client(prism: Prism, transport: httpx.AsyncBaseTransport | None = None) -> GitHub:
    # Spacing writes is tested at the transport; here it would only make the tests slow.
    return GitHub(
        "ghs_contract",
        prism.url,
        transport=transport,
        accept_json=True,
        bot_login="tierbot[bot]",
        marker_key=marker_key("contract"),
        write_spacing=0.0,
    )


def inline(line: int, start: int | None = None) -> Comment:
    return Comment(
        path="file1.txt",
        line=line,
        side=Side.RIGHT,
        severity=Severity.MAJOR,
        category="bug",
        body=f"Check line {line}.",
        start_line=start,
        fingerprint=f"{line:016x}",
    )


def test_reading_a_pull_request_keeps_to_the_contract(prism: Prism) -> None:
    since = prism.mark()
    pull = asyncio.run(client(prism).pull(REF))
    assert pull.head_sha == HEAD
    assert prism.calls(since) == [("GET", "/repos/octo/app/pulls/7")]
    assert prism.problems(since) == []


def test_a_diff_too_large_is_rebuilt_from_the_file_list_within_the_contract(prism: Prism) -> None:
    def diff_too_large(request: httpx.Request) -> httpx.Response | None:
        if request.headers["accept"] != "application/vnd.github.diff":
            return None
        message = "Sorry, the diff exceeded the maximum number of files (300)."
        return httpx.Response(406, json={"message": message}, request=request)

    since = prism.mark()
    diff = asyncio.run(client(prism, Tamper(serve=diff_too_large)).pull_diff(REF))
    assert diff.startswith(b"diff --git a/file1.txt b/file1.txt\nnew file mode")  # Prism's example
    assert prism.calls(since) == [("GET", "/repos/octo/app/pulls/7/files")]
    assert prism.problems(since) == []


def test_reading_only_the_default_branchs_files_that_exist_keeps_to_the_contract(
    prism: Prism,
) -> None:
    """The top folder by branch name, a folder in it by the SHA that listing gave (Prism's
    example lists `file.rb`, `subdir` and `exec_file` in both), then only the wanted file that
    is listed, at the branch. The contents API's raw media type gets `application/json` too, as
    the proxy of the end-to-end tests adds it: Prism refuses GitHub's media types alone."""

    def with_json(request: httpx.Request) -> httpx.Request:
        request.headers["accept"] = f"{request.headers['accept']}, application/json"
        return request

    since = prism.mark()
    github = client(prism, Tamper(edit=with_json))
    wanted = ("file.rb", "AGENTS.md", "subdir/AGENTS.md", ".github/copilot-instructions.md")
    read = asyncio.run(read_default_files(github, "octo", "app", "main", wanted))
    assert set(read.texts) == {"file.rb"}
    subdir = "f484d249c660418515fb01c2b9662073663c242e"  # its SHA in Prism's example listing
    assert prism.calls(since) == [
        ("GET", "/repos/octo/app/git/trees/main"),
        ("GET", f"/repos/octo/app/git/trees/{subdir}"),
        ("GET", "/repos/octo/app/contents/file.rb"),  # Prism logs no query
    ]
    assert prism.problems(since) == []


def test_a_review_with_single_line_and_range_comments_keeps_to_the_contract(prism: Prism) -> None:
    since = prism.mark()
    posted = asyncio.run(
        client(prism).post_review(REF, HEAD, "Summary", [inline(3), inline(9, start=5)])
    )
    assert len(posted.posted) == 2
    assert prism.calls(since) == [("POST", REVIEWS)]
    assert prism.problems(since) == []


def test_the_search_for_comments_github_cannot_place_keeps_to_the_contract(prism: Prism) -> None:
    """The first review is refused (Prism made to answer 422); the probes as pending reviews,
    their deletion and the final review are all valid requests."""
    refused: list[bool] = []

    def refuse_first_review(request: httpx.Request) -> httpx.Request:
        if request.method == "POST" and request.url.path == REVIEWS and not refused:
            refused.append(True)
            request.headers["Prefer"] = "code=422"
        return request

    since = prism.mark()
    github = client(prism, Tamper(edit=refuse_first_review))
    posted = asyncio.run(github.post_review(REF, HEAD, "Summary", [inline(3), inline(4)]))
    assert [d.comment.line for d in posted.dropped] == [4]
    # Prism's example review has id 80.
    assert prism.calls(since) == [
        ("POST", REVIEWS),
        ("POST", REVIEWS),
        ("DELETE", f"{REVIEWS}/80"),
        ("POST", REVIEWS),
        ("DELETE", f"{REVIEWS}/80"),
        ("POST", REVIEWS),
    ]
    assert prism.problems(since) == []


def test_the_summary_is_created_and_edited_within_the_contract(prism: Prism) -> None:
    def our_summary(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.method == "GET":  # Prism's example comment is not ours: make it ours
            body = [{"id": 42, "body": f"{SUMMARY_MARKER}\nold", "user": {"login": "tierbot[bot]"}}]
            return httpx.Response(200, json=body, request=request)
        return response

    since = prism.mark()
    assert asyncio.run(client(prism).upsert_comment(REF, SUMMARY_MARKER, "Cost: $0.01")) == 1
    github = client(prism, Tamper(answer=our_summary))
    assert asyncio.run(github.upsert_comment(REF, SUMMARY_MARKER, "Cost: $0.02")) == 42
    assert prism.calls(since) == [
        ("GET", "/repos/octo/app/issues/7/comments"),
        ("POST", "/repos/octo/app/issues/7/comments"),
        ("GET", "/repos/octo/app/issues/7/comments"),
        ("PATCH", "/repos/octo/app/issues/comments/42"),
    ]
    assert prism.problems(since) == []


def test_reactions_replies_permissions_and_fingerprints_keep_to_the_contract(
    prism: Prism,
) -> None:
    github = client(prism)

    async def run() -> tuple[str, set[str]]:
        await github.add_reaction("octo", "app", 11)
        await github.add_reaction("octo", "app", 12, "rocket", review_comment=True)
        await github.reply(REF, "Done.")
        await github.reply_in_thread(REF, 12, "Because.")
        return await github.permission("octo", "app", "mona"), (
            await github.review_comment_fingerprints(REF)
        )

    since = prism.mark()
    permission, fingerprints = asyncio.run(run())
    assert permission == "admin"  # Prism's example
    assert fingerprints == set()  # Prism's example comments are not the bot's
    assert prism.calls(since) == [
        ("POST", "/repos/octo/app/issues/comments/11/reactions"),
        ("POST", "/repos/octo/app/pulls/comments/12/reactions"),
        ("POST", "/repos/octo/app/issues/7/comments"),
        ("POST", "/repos/octo/app/pulls/7/comments/12/replies"),
        ("GET", "/repos/octo/app/collaborators/mona/permission"),
        ("GET", "/repos/octo/app/pulls/7/comments"),
    ]
    assert prism.problems(since) == []


def test_app_authentication_keeps_to_the_contract(prism: Prism) -> None:
    app = GitHubApp(1234, private_pem(), prism.url, marker_key=marker_key("x"), accept_json=True)

    async def run() -> str:
        github = await app.installation(99)
        await github.pull(REF)
        return await app.slug()

    since = prism.mark()
    assert asyncio.run(run()) == "octoapp"  # Prism's example App
    # Prism's example token expired in 2016, so each use asks for a new one.
    assert prism.calls(since) == [
        ("POST", "/app/installations/99/access_tokens"),
        ("GET", "/app"),
        ("POST", "/app/installations/99/access_tokens"),
        ("GET", "/repos/octo/app/pulls/7"),
    ]
    assert prism.problems(since) == []


def test_a_request_that_breaks_the_contract_is_caught(prism: Prism) -> None:
    """The check itself: a review event GitHub does not know is a violation in Prism's log."""

    async def post() -> int:
        async with httpx.AsyncClient(base_url=prism.url) as http:
            answer = await http.post(
                REVIEWS, json={"event": "DISMISS"}, headers={"Accept": "application/json"}
            )
            return answer.status_code

    since = prism.mark()
    assert asyncio.run(post()) == 422
    problems = prism.problems(since)
    assert len(problems) == 1
    assert problems[0].startswith(f"POST {REVIEWS}: body.event: ")


def test_prism_needs_application_json_in_the_accept_header(prism: Prism) -> None:
    """Why the client sends `accept_json` in these tests: Prism refuses GitHub's media type."""

    async def get() -> int:
        async with httpx.AsyncClient(base_url=prism.url) as http:
            headers = {"Accept": "application/vnd.github+json"}
            return (await http.get("/repos/octo/app/pulls/7", headers=headers)).status_code

    since = prism.mark()
    assert asyncio.run(get()) == 406
    assert any("NOT_ACCEPTABLE" in p for p in prism.problems(since))

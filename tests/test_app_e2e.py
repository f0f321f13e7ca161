"""The GitHub App end to end, in process: the real Starlette app from `bot.faces.app.server.build`,
real
deliveries (`@octokit/webhooks-examples`, signed by `@octokit/webhooks-methods`) posted to
/webhook, jobs persisted in the SQLite queue and run by the App's own workers; GitHub's API served
by Prism through tests/github_proxy.py, so every request the bot makes is checked against GitHub's
OpenAPI description; the diff served by the proxy; the frontier model by the fake Messages API.

Everything runs on one event loop (the backends belong to the loop they were first used on): the
app is called through an ASGI client, and jobs are run one at a time with `workers.run_once()`
instead of by the lifespan's worker tasks, so each test knows exactly which job ran. The lifespan
still runs, with no worker tasks, to close what the App opened.

Bad input at the door (signatures, sizes, malformed bodies, unknown events) is tested in
tests/test_web.py against the same app.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bot.adapters.queue import JobQueue, QueuedJob
from bot.adapters.settings import Settings
from bot.core.anchor import fingerprint
from bot.core.markdown.safe import safe_markdown
from bot.core.markers import SUMMARY_MARKER, Markers, head_marker, marker_key
from bot.faces.app.server import Server, build
from tests.builders import Edit, git_diff
from tests.fake_anthropic import FakeAnthropic, fake_anthropic_fixture, message  # noqa: F401
from tests.fake_github_api import private_pem
from tests.github_proxy import GitHubProxy, github_proxy_fixture  # noqa: F401
from tests.prism import Prism, prism_fixture  # noqa: F401
from tests.webhooks import SECRET, encode, headers, need_real_deliveries, payload, pr_comment

T = TypeVar("T")
OWNER, REPO = "Codertocat", "Hello-World"  # the examples' repository
INSTALLATION = 1  # the examples' installation
PATH = "app/stats.py"
CODE = "    return sum(values) / len(values)"
DIFF = git_diff(Edit(PATH, context=["def mean(values):"], added=[CODE], start=10))
LINE = 11  # CODE's line on the new side: the hunk starts at 10 with one line of context
# Model text is untrusted: the mention must not notify and the forged marker must not count.
REMARK = "Divides by zero when `values` is empty; cc @octocat <!-- tierbot:fp=0000000000000000 -->"
ANSWER = {
    "summary": "Adds a mean.",
    "comments": [
        {
            "path": PATH,
            "line": LINE,
            "side": "RIGHT",
            "code": CODE.strip(),
            "severity": "major",
            "category": "bug",
            "body": REMARK,
        }
    ],
}
# 1,000 tokens in at $2 and 200 out at $10 per million (bot/prices.toml): $0.002 + $0.002;
# a frontier review costs what the frontier model alone would have charged.
COST_LINE = (
    "**Cost:** $0.0040 for 1,000 tokens in and 200 out; the frontier model alone would have "
    "charged $0.0040, saving $0.00 (0%)."
)


def answer() -> Any:
    return message(json.dumps(ANSWER), input_tokens=1000, output_tokens=200)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def reviews_path(number: int) -> str:
    return f"/repos/{OWNER}/{REPO}/pulls/{number}/reviews"


def comments_path(number: int) -> str:
    return f"/repos/{OWNER}/{REPO}/issues/{number}/comments"


@dataclass
class App:
    """The App under test, with what its workers reported."""

    server: Server
    client: httpx.AsyncClient
    database: Path
    outcomes: list[tuple[str, str]] = field(default_factory=list)

    async def deliver(
        self, event: str, data: dict[str, Any], delivery: str | None = None
    ) -> httpx.Response:
        body = encode(data)
        return await self.client.post(
            "/webhook", content=body, headers=headers(event, body, delivery=delivery)
        )

    async def run_jobs(self) -> int:
        """Run the waiting jobs one by one, as a worker would; how many ran."""
        ran = 0
        while await self.server.workers.run_once("e2e"):
            ran += 1
        return ran

    def job(self, job_id: int) -> QueuedJob:
        """The job as stored in the database file, read through a queue of its own."""
        with JobQueue(self.database) as queue:
            job = queue.get(job_id)
        assert job is not None
        return job


@asynccontextmanager
async def app(tmp_path: Path, proxy: GitHubProxy, anthropic: FakeAnthropic) -> AsyncIterator[App]:
    database = tmp_path / "tierbot.db"
    settings = Settings(
        github_app_id=4242,
        github_private_key=private_pem(),
        webhook_secret=SECRET,
        github_api_url=proxy.url,
        database_url=f"sqlite:///{database}",
        anthropic_api_key="sk-ant-e2e",
        anthropic_base_url=anthropic.base_url,
    )
    server = await build(settings)
    server.workers.concurrency = 0  # the test runs the jobs itself
    made = App(server, httpx.AsyncClient(), database)
    server.workers.on_outcome = lambda _kind, state, detail: made.outcomes.append((state, detail))
    transport = httpx.ASGITransport(app=server.app)
    async with (
        server.app.router.lifespan_context(server.app),
        httpx.AsyncClient(transport=transport, base_url="http://tierbot.test") as client,
    ):
        made.client = client
        yield made


def opened(number: int) -> dict[str, Any]:
    """A real `pull_request.opened` delivery for PR `number` of the examples' repository."""
    data = payload("pull_request", "opened")
    data["number"] = data["pull_request"]["number"] = number
    assert data["installation"]["id"] == INSTALLATION
    assert (data["repository"]["owner"]["login"], data["repository"]["name"]) == (OWNER, REPO)
    return data


def test_an_opened_pull_request_is_reviewed_and_summarised_once(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries()
    github_proxy.diffs[(OWNER, REPO, 2)] = DIFF
    fake_anthropic.reply(answer())
    since = prism.mark()
    delivery = opened(2)

    async def scenario() -> tuple[httpx.Response, httpx.Response, App, int]:
        async with app(tmp_path, github_proxy, fake_anthropic) as bot:
            accepted = await bot.deliver("pull_request", delivery, delivery="e2e-opened")
            assert accepted.status_code == 202, accepted.text
            job_id = accepted.json()["jobs"][0]
            assert bot.job(job_id).state == "waiting"  # persisted before the answer
            assert await bot.run_jobs() == 1
            again = await bot.deliver("pull_request", delivery, delivery="e2e-opened")
            assert await bot.run_jobs() == 0
            return accepted, again, bot, job_id

    accepted, again, bot, job_id = run(scenario())
    assert accepted.json()["ack"].startswith(f"queued: review of {OWNER}/{REPO}#2")
    # The redelivery is acknowledged and not acted on: no second job, nothing more sent.
    assert (again.status_code, again.json()) == (200, {"delivery": "e2e-opened", "duplicate": True})
    job = bot.job(job_id)
    assert (job.state, job.attempts) == ("done", 1)
    assert job.outcome == "reviewed by frontier: 1 comment (pull_request.opened)"
    assert bot.outcomes == [("done", job.outcome)]

    # The head commit the bot reviews is the one GitHub (Prism) says the PR has.
    (pull,) = [e for e in github_proxy.find("GET", r".*/pulls/2") if e.by == "prism"]
    head = pull.answer_json()["head"]["sha"]
    (diff,) = [e for e in github_proxy.find("GET", r".*/pulls/2") if e.by == "proxy"]
    assert diff.headers["accept"] == "application/vnd.github.diff"

    # The model saw the diff.
    (asked,) = fake_anthropic.requests
    assert CODE.strip() in json.dumps(asked.body)

    (review,) = github_proxy.find("POST", reviews_path(2))
    assert review.status == 200
    assert review.body["event"] == "COMMENT"
    assert review.body["commit_id"] == head
    (inline,) = review.body["comments"]
    assert (inline["path"], inline["line"], inline["side"]) == (PATH, LINE, "RIGHT")
    markers = Markers(marker_key(SECRET), f"{OWNER}/{REPO}", 2)
    mark = markers.comment_trailer(fingerprint(PATH, CODE.strip(), REMARK))
    assert inline["body"] == f"{safe_markdown(REMARK)}\n\n{mark}"
    assert "@\u200doctocat" in inline["body"]
    assert markers.fingerprint(inline["body"]) == fingerprint(PATH, CODE.strip(), REMARK)

    written = github_proxy.find("POST", comments_path(2)) + github_proxy.find(
        "PATCH", r"/repos/[^/]+/[^/]+/issues/comments/[0-9]+"
    )
    (summary,) = written
    text = summary.body["body"]
    assert text.startswith(SUMMARY_MARKER)
    assert head_marker(head) in text
    assert f"Reviewed at {head[:7]} by the **frontier** model `claude-sonnet-5-5`" in text
    assert "**Why frontier:**" in text
    assert COST_LINE in text

    # Every request but the diff went to Prism, and none broke GitHub's schema.
    forwarded = [e for e in github_proxy.exchanges() if e.by == "prism"]
    assert len(prism.requests(since)) == len(forwarded)
    assert prism.problems(since) == []


def test_a_diff_that_will_not_parse_is_summarised_as_not_reviewed(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries()
    # A hunk that promises more lines than it has, as a truncated download would.
    github_proxy.diffs[(OWNER, REPO, 3)] = DIFF.rsplit("\n", 2)[0] + "\n"
    since = prism.mark()

    async def scenario() -> App:
        async with app(tmp_path, github_proxy, fake_anthropic) as bot:
            accepted = await bot.deliver("pull_request", opened(3))
            assert accepted.status_code == 202, accepted.text
            assert await bot.run_jobs() == 1
            return bot

    bot = run(scenario())
    assert bot.outcomes == [("done", "failed: unreadable diff")]
    assert fake_anthropic.requests == []
    assert github_proxy.find("POST", reviews_path(3)) == []
    (pull,) = [e for e in github_proxy.find("GET", r".*/pulls/3") if e.by == "prism"]
    head = pull.answer_json()["head"]["sha"]
    (summary,) = github_proxy.find("POST", comments_path(3))
    text = summary.body["body"]
    assert text.startswith(SUMMARY_MARKER)
    assert head_marker(head) in text
    assert "**This pull request was not reviewed:** the diff could not be read" in text
    assert "Hunk is shorter than expected" in text
    assert prism.problems(since) == []


def test_a_frontier_review_asked_by_a_user_without_write_access_is_refused(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries()
    github_proxy.permissions["mallory"] = "read"
    data = pr_comment("/review --frontier", association="NONE", login="mallory")
    number, comment_id = data["issue"]["number"], data["comment"]["id"]
    since = prism.mark()

    async def scenario() -> tuple[httpx.Response, App]:
        async with app(tmp_path, github_proxy, fake_anthropic) as bot:
            accepted = await bot.deliver("issue_comment", data)
            assert await bot.run_jobs() == 1
            return accepted, bot

    accepted, bot = run(scenario())
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["ack"].endswith("(permission to be checked)")
    assert bot.outcomes == [("done", "refused: no write access")]

    (eyes,) = github_proxy.find("POST", rf"/repos/{OWNER}/{REPO}/issues/comments/{comment_id}/.*")
    assert eyes.path.endswith("/reactions")
    assert eyes.body == {"content": "eyes"}
    (asked,) = github_proxy.find("GET", r".*/permission")
    assert asked.path == f"/repos/{OWNER}/{REPO}/collaborators/mallory/permission"
    assert (asked.by, asked.answer_json()["role_name"]) == ("prism", "read")
    (refusal,) = github_proxy.find("POST", comments_path(number))
    assert refusal.body["body"].startswith("Sorry @\u200dmallory, `/review --frontier` ")
    assert "needs write access" in refusal.body["body"]
    # Nothing was reviewed: no PR read, no model asked, no review.
    assert github_proxy.find("GET", r".*/pulls/[0-9]+") == []
    assert github_proxy.find("POST", r".*/reviews") == []
    assert fake_anthropic.requests == []
    assert prism.problems(since) == []


def test_a_review_asked_for_before_a_push_is_not_done_on_the_pushed_commits(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic
) -> None:
    """The queue's workers tell the pipeline when a command was queued; a push delivered after
    it means the asker did not see what the job would review."""
    need_real_deliveries()
    asked = pr_comment("/review", association="MEMBER", login="maint")
    number = asked["issue"]["number"]
    github_proxy.diffs[(OWNER, REPO, number)] = DIFF
    pushed = opened(number)
    pushed["action"] = "synchronize"
    fake_anthropic.reply(answer())
    since = prism.mark()

    async def scenario() -> App:
        async with app(tmp_path, github_proxy, fake_anthropic) as bot:
            assert (await bot.deliver("issue_comment", asked)).status_code == 202
            assert (await bot.deliver("pull_request", pushed)).status_code == 202
            assert await bot.run_jobs() == 2
            return bot

    bot = run(scenario())
    command, review = bot.outcomes
    assert command == ("done", "skipped: pushed to after the command")
    assert review[0] == "done"
    assert review[1].endswith("(pull_request.synchronize)")
    replies = [e.body["body"] for e in github_proxy.find("POST", comments_path(number))]
    assert any("was pushed to after @\u200dmaint asked for a review" in r for r in replies)
    assert prism.problems(since) == []

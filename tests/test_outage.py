"""Outages: GitHub or the model unreachable for minutes, the App built and serving all along.

The App is the real one from `bot.faces.app.server.build`, with its lifespan, its two worker tasks
and
its SQLite queue; GitHub is tests/fake_github_api.py served over a real local HTTP server (one
fake pull request per repository, and the App's own endpoints: `GET /app`, installation
tokens), answering 503 to everything, the installation token included, while the outage lasts;
the model is the fake Messages API over HTTP. Deliveries are real example payloads signed by
Octokit, posted to /webhook.

Time runs SCALE times faster than the wall clock: the queue, the workers, the GitHub clients,
the login's retries and the fake's outage all read one `FastClock` and sleep through it, so two
minutes of outage and its backoffs pass in a second, through the same code paths and waits
as in production (nothing is skipped; every wait is only shorter).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.queue import JobQueue, QueuedJob
from bot.adapters.settings import Settings
from bot.faces.app.server import Server, build
from tests.fake_anthropic import FakeAnthropic, Reply, fake_anthropic_fixture  # noqa: F401
from tests.fake_github_api import FakeGitHubAPI, private_pem, serve
from tests.test_app_e2e import DIFF, answer
from tests.webhooks import SECRET, encode, headers, need_real_deliveries, payload, pr_comment

SCALE = 120.0  # one wall-clock second is two minutes
INSTALLATION = 1
PULLS = 4


class FastClock:
    """Epoch seconds that run SCALE times faster than the wall clock, and a sleep to match."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self.start = 1_800_000_000.0

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self._wall) * SCALE

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / SCALE)


@dataclass
class GitHubDown:
    """GitHub for the App: the App's endpoints, one fake pull request per repository, and an
    outage (503 to every request) until `until` on the fast clock."""

    clock: FastClock
    until: float
    pulls: dict[str, FakeGitHubAPI] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.clock() < self.until:
            with self.lock:
                self.refused.append(f"{request.method} {path}")
            return httpx.Response(503, json={"message": "Service Unavailable"})
        if path == "/app":
            return httpx.Response(200, json={"id": 4242, "slug": "tierbot"})
        if re.fullmatch(r"/app/installations/\d+/access_tokens", path):
            expires = datetime.fromtimestamp(self.clock() + 3600, UTC).isoformat()
            return httpx.Response(201, json={"token": "ghs_fake", "expires_at": expires})
        repo = re.match(r"/repos/[^/]+/([^/]+)/", path)
        if repo and repo[1] in self.pulls:
            return self.pulls[repo[1]]._handle(request)
        return httpx.Response(404, json={"message": f"no {request.method} {path}"})

    def add(self, name: str) -> FakeGitHubAPI:
        pull = FakeGitHubAPI(owner="octo", repo=name, diff=DIFF, head=f"{len(self.pulls):x}" * 40)
        pull.permissions["mona"] = "write"  # the author may have the review, whatever the tier
        self.pulls[name] = pull
        return pull


@contextmanager
def github_down_for(seconds: float, clock: FastClock) -> Iterator[tuple[GitHubDown, str]]:
    github = GitHubDown(clock, until=clock() + seconds)
    with serve(github.handle) as url:
        yield github, url


def opened(pull: FakeGitHubAPI) -> dict[str, Any]:
    """A real `pull_request.opened` delivery, made about the fake's pull request."""
    data = payload("pull_request", "opened")
    data["repository"]["name"] = pull.repo
    data["repository"]["owner"]["login"] = pull.owner
    data["number"] = data["pull_request"]["number"] = pull.number
    data["pull_request"]["head"]["sha"] = pull.head
    data["installation"]["id"] = INSTALLATION
    return data


def mention(pull: FakeGitHubAPI, body: str) -> dict[str, Any]:
    """A real `issue_comment.created` delivery on the fake's pull request."""
    data = pr_comment(body)
    data["repository"]["name"] = pull.repo
    data["repository"]["owner"]["login"] = pull.owner
    data["issue"]["number"] = pull.number
    data["installation"] = {"id": INSTALLATION}
    return data


def settings_for(tmp_path: Path, api_url: str, anthropic: FakeAnthropic, **more: Any) -> Settings:
    return Settings(
        github_app_id=4242,
        github_private_key=private_pem(),
        webhook_secret=SECRET,
        github_api_url=api_url,
        database_url=f"sqlite:///{tmp_path / 'tierbot.db'}",
        anthropic_api_key="sk-ant-outage",
        anthropic_base_url=anthropic.base_url,
        lease_seconds=600,
        **more,
    )


async def deliver(client: httpx.AsyncClient, event: str, data: dict[str, Any]) -> httpx.Response:
    body = encode(data)
    return await client.post("/webhook", content=body, headers=headers(event, body))


def jobs(database: Path) -> list[QueuedJob]:
    with JobQueue(database) as queue:
        found = [queue.get(job_id) for job_id in range(1, 50)]
    return [job for job in found if job is not None]


async def until_settled(database: Path, count: int, wall_seconds: float) -> list[QueuedJob]:
    """The jobs once `count` of them are done or failed; fails after `wall_seconds`."""
    deadline = time.monotonic() + wall_seconds
    while True:
        found = await asyncio.to_thread(jobs, database)
        settled = [job for job in found if job.state in ("done", "failed")]
        if len(settled) >= count:
            return found
        if time.monotonic() > deadline:
            states = [(job.id, job.state, job.attempts, job.error) for job in found]
            pytest.fail(f"jobs not settled within {wall_seconds} s: {states}")
        await asyncio.sleep(0.05)


async def until(what: str, check: Any, wall_seconds: float = 20) -> None:
    deadline = time.monotonic() + wall_seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {wall_seconds} s")
        await asyncio.sleep(0.05)


async def serving(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.app), base_url="http://tierbot.test"
    )


def test_a_two_minute_github_outage_loses_no_review_and_posts_each_once(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries()
    clock = FastClock()
    fake_anthropic.reply(*[answer() for _ in range(PULLS)])

    with github_down_for(10**9, clock) as (github, url):
        pulls = [github.add(f"repo{i}") for i in range(PULLS)]
        settings = settings_for(tmp_path, url, fake_anthropic)

        async def scenario() -> tuple[
            list[httpx.Response], dict[str, Any], dict[str, Any], list[QueuedJob]
        ]:
            server = await build(settings, clock=clock, sleep=clock.sleep)
            assert server.bot_login is None  # GitHub did not say the slug: served anyway
            async with (
                server.app.router.lifespan_context(server.app),
                await serving(server) as client,
            ):
                answers = [await deliver(client, "pull_request", opened(p)) for p in pulls]
                answers.append(
                    await deliver(client, "issue_comment", mention(pulls[0], "@tierbot help"))
                )
                github.until = clock() + 120  # two minutes from the last delivery queued
                during = (await client.get("/healthz")).json()
                settled = await until_settled(tmp_path / "tierbot.db", PULLS + 1, 60)
                after = (await client.get("/healthz")).json()
            return answers, during, after, settled

        answers, during, after, settled = asyncio.run(scenario())

    assert [a.status_code for a in answers] == [202] * (PULLS + 1)
    assert answers[-1].json()["held"] is True  # the @mention waits for the slug
    assert (during["github"]["state"], during["bot"]) == ("unreachable", None)
    assert (after["github"]["state"], after["bot"]) == ("reachable", "tierbot[bot]")
    assert after["held"] == 0

    # Every job ended done; those that ran during the outage (two workers: not all of them)
    # failed on the installation token and were tried again.
    assert [(job.kind, job.state) for job in settled] == [("review", "done")] * PULLS + [
        ("command", "done")
    ]
    assert any(job.attempts >= 2 for job in settled if job.kind == "review")
    assert "POST /app/installations/1/access_tokens" in github.refused
    # Each pull request got one review and one summary; the model was asked once for each.
    for pull in pulls:
        assert len(pull.reviews) == 1, pull.repo
        assert "tierbot:summary" in pull.summary()
    assert len(fake_anthropic.requests) == PULLS
    # The held @mention was routed once the slug was known, and answered once.
    help_replies = [b for b in pulls[0].bodies() if "/review" in b and "summary" not in b]
    assert len(help_replies) == 1


def test_a_model_outage_past_the_give_up_time_says_so_on_the_pull_request(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries()
    clock = FastClock()
    # Every model request fails with a 503 (the SDK's own retries wait 1 ms).
    fake_anthropic.reply(*[Reply(503, {"type": "error"}, {"retry-after-ms": "1"})] * 90)

    with github_down_for(0, clock) as (github, url):
        pull = github.add("repo0")
        settings = settings_for(tmp_path, url, fake_anthropic, job_give_up_seconds=240)

        async def scenario() -> list[QueuedJob]:
            server = await build(settings, clock=clock, sleep=clock.sleep)
            async with (
                server.app.router.lifespan_context(server.app),
                await serving(server) as client,
            ):
                assert (await deliver(client, "pull_request", opened(pull))).status_code == 202
                settled = await until_settled(tmp_path / "tierbot.db", 1, 60)
                await until("the failure reported", lambda: pull.issue_comments)
                return settled

        [job] = asyncio.run(scenario())

    assert job.state == "failed"
    assert job.attempts >= 3
    assert job.error is not None
    assert re.search(r"gave up after \d+ attempts over [45] min", job.error)
    assert pull.reviews == []
    summary = pull.summary()
    assert "**This pull request was not reviewed:**" in summary
    assert "gave up after" in summary


def test_a_job_given_up_while_github_is_still_down_is_logged_as_an_error(
    tmp_path: Path, fake_anthropic: FakeAnthropic, capsys: pytest.CaptureFixture[str]
) -> None:
    need_real_deliveries()
    clock = FastClock()

    with github_down_for(10**9, clock) as (github, url):
        pull = github.add("repo0")
        settings = settings_for(tmp_path, url, fake_anthropic, job_give_up_seconds=180)

        async def scenario() -> list[QueuedJob]:
            server = await build(settings, clock=clock, sleep=clock.sleep)
            async with (
                server.app.router.lifespan_context(server.app),
                await serving(server) as client,
            ):
                assert (await deliver(client, "pull_request", opened(pull))).status_code == 202
                settled = await until_settled(tmp_path / "tierbot.db", 1, 60)
                await until("the report tried", lambda: "could not be told" in capsys_text())
                return settled

        out: list[str] = []

        def capsys_text() -> str:
            out.append(capsys.readouterr().out)
            return "".join(out)

        [job] = asyncio.run(scenario())

    assert job.state == "failed"
    assert job.error is not None
    assert "GitHub answered 503" in job.error
    assert "gave up after" in job.error
    [line] = [x for x in capsys_text().splitlines() if "the pull request could not be told" in x]
    assert "octo/repo0#7" in line
    assert "gave up after" in line
    assert pull.issue_comments == []
    assert json.dumps(fake_anthropic.requests, default=str) == "[]"

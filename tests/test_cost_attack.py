"""Cost attacks on the GitHub App, end to end: one account without write access opens 100 pull
requests and posts 500 `/ask` comments; the caps hold and the refusals show.

Real deliveries (`@octokit/webhooks-examples`, signed by `@octokit/webhooks-methods`) go through
the App that `bot.faces.app.server.build` makes (the Starlette app, the SQLite queue, the workers);
GitHub is the fake repository of tests/fake_github_api.py served over HTTP (a hundred pull
requests are more than Prism's examples can be), the frontier model the fake Messages API. The
repo's settings let authors without write access have the frontier model
(`review.untrusted_authors: auto`), so every review or answer the caps let through costs real
(fake) money, and the count of model requests is the count the caps allowed. The caps are set
low through their environment variables (3 reviews and 5 commands per author and hour), so the
few jobs they let through run in seconds; their defaults are tested on the queue
(tests/test_caps.py).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from bot.adapters.metrics import CAPPED, WEBHOOKS
from bot.adapters.settings import Settings
from bot.faces.app.server import build
from tests.fake_anthropic import FakeAnthropic, fake_anthropic_fixture, message  # noqa: F401
from tests.fake_github_api import FakeGitHubHost, private_pem
from tests.test_app_e2e import DIFF, OWNER, REPO, answer
from tests.webhooks import SECRET, encode, headers, need_real_deliveries, payload, pr_comment

ATTACKER = "mallory"
PULLS = 100
QUESTIONS = 500
REVIEWS, COMMANDS = 3, 5  # the caps per author and hour
REVIEW_CAP = "ignored: review cap for `mallory` on Codertocat/Hello-World (3 per hour)"
COMMAND_CAP = "ignored: command cap for `mallory` on Codertocat/Hello-World (5 per hour)"


def opened_by(login: str, number: int) -> dict[str, Any]:
    """A real `pull_request.opened` delivery for PR `number`, opened by `login`, who has no
    association with the repository."""
    data = payload("pull_request", "opened")
    data["number"] = number
    pull = data["pull_request"]
    pull["number"] = number
    pull["user"]["login"] = data["sender"]["login"] = login
    pull["author_association"] = "NONE"
    pull["head"]["sha"] = f"{number:040x}"
    return data


def asked_by(login: str, number: int, index: int) -> dict[str, Any]:
    """A real `issue_comment.created` delivery: `/ask` on PR `number` by `login`."""
    data = pr_comment(f"/ask is this safe? ({index})", association="NONE", login=login)
    data["issue"]["number"] = number
    data["comment"]["id"] = 900_000 + index
    return data


async def _no_wait(_seconds: float) -> None:
    """The GitHub clients' pause between writes: none in a test."""


def test_100_prs_and_500_asks_from_one_account_without_write_access_stay_within_the_caps(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries()
    host = FakeGitHubHost(
        owner=OWNER,
        repo=REPO,
        diff=DIFF,
        author=ATTACKER,
        author_association="NONE",
        settings_file="review:\n  untrusted_authors: auto\n",
    )
    # More answers than the caps allow: a cap that leaks shows as more requests, not as 418s.
    fake_anthropic.reply(*[answer() for _ in range(PULLS)])
    fake_anthropic.reply(*[message(json.dumps({"answer": "Yes."})) for _ in range(QUESTIONS)])
    prs: list[httpx.Response] = []
    asks: list[httpx.Response] = []
    outcomes: list[tuple[str, str, str]] = []

    async def scenario() -> Any:
        with host.served() as url:
            settings = Settings.from_env(
                {
                    "TIERBOT_GITHUB_APP_ID": "4242",
                    "TIERBOT_GITHUB_PRIVATE_KEY": private_pem(),
                    "TIERBOT_WEBHOOK_SECRET": SECRET,
                    "TIERBOT_GITHUB_API_URL": url,
                    "TIERBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'tierbot.db'}",
                    "ANTHROPIC_API_KEY": "sk-ant-attack",
                    "ANTHROPIC_BASE_URL": fake_anthropic.base_url,
                    "TIERBOT_REVIEWS_PER_AUTHOR_HOUR": str(REVIEWS),
                    "TIERBOT_COMMANDS_PER_AUTHOR_HOUR": str(COMMANDS),
                }
            )
            server = await build(settings, sleep=_no_wait)
            server.workers.concurrency = 0  # the test runs the jobs, to know each outcome
            server.workers.on_outcome = lambda *outcome: outcomes.append(outcome)
            transport = httpx.ASGITransport(app=server.app)
            async with (
                server.app.router.lifespan_context(server.app),
                httpx.AsyncClient(transport=transport, base_url="http://tierbot.test") as client,
            ):

                async def deliver(event: str, data: dict[str, Any]) -> httpx.Response:
                    body = encode(data)
                    return await client.post("/webhook", content=body, headers=headers(event, body))

                for number in range(1, PULLS + 1):
                    prs.append(await deliver("pull_request", opened_by(ATTACKER, number)))
                for index in range(QUESTIONS):  # five on each pull request, in turn
                    number = index % PULLS + 1
                    asks.append(await deliver("issue_comment", asked_by(ATTACKER, number, index)))
                while await server.workers.run_once("attack"):
                    pass
            return server.app.state.metrics

    metrics = asyncio.run(scenario())

    # At the door: 3 reviews and 5 questions queued; the first refusal of each also queues
    # the notice that tells the pull request (202), the rest are acknowledged and dropped (200).
    assert [r.status_code for r in prs] == [202] * (REVIEWS + 1) + [200] * (PULLS - REVIEWS - 1)
    assert all(r.json()["ack"].startswith("queued: review") for r in prs[:REVIEWS])
    assert {r.json()["ack"] for r in prs[REVIEWS:]} == {REVIEW_CAP}
    assert [r.status_code for r in asks] == (
        [202] * (COMMANDS + 1) + [200] * (QUESTIONS - COMMANDS - 1)
    )
    assert all(r.json()["ack"].startswith("queued: /ask") for r in asks[:COMMANDS])
    assert {r.json()["ack"] for r in asks[COMMANDS:]} == {COMMAND_CAP}
    limited = {"result": "rate_limited"}
    assert metrics.value(WEBHOOKS, {"event": "pull_request", **limited}) == PULLS - REVIEWS
    assert metrics.value(WEBHOOKS, {"event": "issue_comment", **limited}) == QUESTIONS - COMMANDS
    assert metrics.value(CAPPED, {"work": "review", "scope": "author"}) == PULLS - REVIEWS
    assert metrics.value(CAPPED, {"work": "command", "scope": "author"}) == QUESTIONS - COMMANDS

    # The workers ran 3 reviews, 5 answers and 2 notices, and nothing else.
    kinds = [kind for kind, state, _ in outcomes if state == "done"]
    assert len(outcomes) == REVIEWS + COMMANDS + 2
    assert (kinds.count("review"), kinds.count("command"), kinds.count("notice")) == (
        REVIEWS,
        COMMANDS,
        2,
    )

    # The model was asked exactly what the caps allowed: 3 reviews and 5 answers.
    asked = [json.dumps(r.body) for r in fake_anthropic.requests]
    assert len(asked) == REVIEWS + COMMANDS
    assert sum("is this safe?" in text for text in asked) == COMMANDS

    # On GitHub: the first 3 pull requests reviewed and the 4th told why it was not; the first
    # 5 questions (on PRs 1 to 5) answered, and one reply (on PR 6) about all the others.
    reviewed = sorted(n for n, pull in host.pulls.items() if pull.reviews)
    assert reviewed == [1, 2, 3]
    assert "This pull request was not reviewed" not in host.pull(3).summary()
    notice = host.pull(4).summary()
    assert "**This pull request was not reviewed:** `mallory` has reached the cap of 3 " in notice
    assert "someone with write access can comment `/review`" in notice
    answers = [(n, b) for n, b in host.comments() if b.startswith("> is this safe?")]
    assert [n for n, _ in answers] == [1, 2, 3, 4, 5]
    (capped,) = [(n, b) for n, b in host.comments() if "reached the cap of 5 commands" in b]
    assert capped[0] == 6
    assert capped[1].startswith("Not carried out: `mallory` has reached the cap of 5 commands")
    assert all(not host.pull(n).issue_comments for n in range(7, PULLS + 1))
    assert len(host.reactions) == COMMANDS  # 👀 on each question carried out, none on the others
    # Nothing the bot wrote mentions anyone.
    assert not any("@mallory" in body for _, body in host.comments())

"""Answering a question about a change: local first, the frontier model when the local answer
is unusable or unsure, and a failure that says so."""

from __future__ import annotations

import asyncio
import json
from collections import deque

from bot.adapters.models.anthropic import FrontierBackend
from bot.core.complexity import score
from bot.core.diff import parse
from bot.core.repo_settings import RepoSettings
from bot.core.routing import Models, Task, Tier, decide
from bot.core.types import Backend
from bot.pipeline.question import Answer, answer_question
from tests.builders import Edit, git_diff
from tests.fake_anthropic import (
    FakeAnthropic,
    fake_anthropic_fixture,  # noqa: F401 (the fake_anthropic fixture)
    message,
)
from tests.fakes import ScriptedLocalModel
from tests.prompts import sections

CHANGES = parse(git_diff(Edit("app/cache.py", added=["    return store[key]"], start=3)))
MODELS = Models(local="qwen", frontier="claude-sonnet-5-5", local_window=8192)


def ask(
    backends: dict[Tier, Backend],
    question: str = "Can this fail?",
    repo: RepoSettings | None = None,
) -> Answer:
    decision = decide(score(CHANGES), MODELS, task=Task.ASK)
    assert decision.tier is Tier.LOCAL

    async def go() -> Answer:
        try:
            return await answer_question(CHANGES, question, decision, backends, repo)
        finally:
            for backend in backends.values():
                if isinstance(backend, FrontierBackend):
                    await backend.aclose()

    return asyncio.run(go())


def frontier(fake: FakeAnthropic) -> FrontierBackend:
    return FrontierBackend(
        "claude-sonnet-5-5", api_key="sk-ant-test-0123", base_url=fake.base_url, max_retries=0
    )


def test_a_confident_local_answer_stands(fake_anthropic: FakeAnthropic) -> None:
    local = ScriptedLocalModel(answers=deque([{"answer": "Only on a missing key."}]))
    answer = ask({Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)})
    assert answer.text == "Only on a missing key."
    assert answer.tier is Tier.LOCAL
    assert answer.failed is None
    assert fake_anthropic.requests == []
    assert sections(local.requests[0].prompt).one("question") == "Can this fail?"


def test_an_unusable_local_answer_is_asked_of_the_frontier_model(
    fake_anthropic: FakeAnthropic,
) -> None:
    local = ScriptedLocalModel(answers=deque(["I think maybe"]))
    fake_anthropic.reply(message(json.dumps({"answer": "It raises KeyError."})))
    answer = ask({Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)})
    assert answer.tier is Tier.FRONTIER
    assert answer.text == "It raises KeyError."
    assert answer.escalation == ("the answer was not the JSON asked for",)
    assert [a.tier for a in answer.attempts] == [Tier.LOCAL, Tier.FRONTIER]


def test_an_unsure_local_answer_is_escalated(fake_anthropic: FakeAnthropic) -> None:
    local = ScriptedLocalModel(answers=deque([{"answer": "Probably not."}]), entropy=2.0)
    fake_anthropic.reply(message(json.dumps({"answer": "Yes, on a miss."})))
    answer = ask({Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)})
    assert answer.text == "Yes, on a miss."
    assert "unsure" in answer.escalation[0]


def test_an_answer_is_escalated_at_the_review_limit_not_a_looser_one(
    fake_anthropic: FakeAnthropic,
) -> None:
    """Mean entropy 1.1 is over the review limit (1.0): the answer is asked again too."""
    local = ScriptedLocalModel(answers=deque([{"answer": "Probably not."}]), entropy=1.1)
    fake_anthropic.reply(message(json.dumps({"answer": "Yes, on a miss."})))
    answer = ask({Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)})
    assert answer.tier is Tier.FRONTIER
    assert answer.escalation == ("the model was unsure: mean token entropy 1.10 nats (limit 1.00)",)


def test_the_repos_escalation_settings_apply_to_answers(fake_anthropic: FakeAnthropic) -> None:
    repo = RepoSettings.from_yaml("escalation: {mean_entropy: 2.5}")
    local = ScriptedLocalModel(answers=deque([{"answer": "Probably not."}]), entropy=2.0)
    answer = ask({Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)}, repo=repo)
    assert answer.tier is Tier.LOCAL
    assert answer.text == "Probably not."
    assert answer.escalation == ()
    assert fake_anthropic.requests == []


def test_no_usable_answer_is_a_failure_not_an_empty_reply(fake_anthropic: FakeAnthropic) -> None:
    local = ScriptedLocalModel(answers=deque(["not json"]))
    answer = ask({Tier.LOCAL: local, Tier.FRONTIER: frontier_without_key(fake_anthropic)})
    assert answer.text == ""
    assert answer.failed == "the answer was not the JSON asked for"


def frontier_without_key(fake: FakeAnthropic) -> FrontierBackend:
    return FrontierBackend("claude-sonnet-5-5", api_key=None, base_url=fake.base_url)


REDIS_PASSWORD = "pbNf2MnLib3AGx" + "pwu5lg16H4"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
LEAKY = parse(
    git_diff(Edit(".env", added=[f"REDIS_URL=redis://default:{REDIS_PASSWORD}@cache:6379/0"]))
)


def ask_leaky(backends: dict[Tier, Backend], repo: RepoSettings | None = None) -> Answer:
    decision = decide(score(LEAKY), MODELS, task=Task.ASK)
    question = f"Is it fine that the bot token {SLACK} is in CI?"
    thread = f"The bot's comment on .env:1:\nThe URL carries {REDIS_PASSWORD}."

    async def go() -> Answer:
        try:
            return await answer_question(LEAKY, question, decision, backends, repo, thread)
        finally:
            for backend in backends.values():
                if isinstance(backend, FrontierBackend):
                    await backend.aclose()

    return asyncio.run(go())


def test_a_secret_in_a_question_its_thread_or_the_diff_never_reaches_a_model(
    fake_anthropic: FakeAnthropic,
) -> None:
    local = ScriptedLocalModel(answers=deque(["not json"]))  # unusable: asked again of frontier
    fake_anthropic.reply(message(json.dumps({"answer": "Rotate both."})))
    answer = ask_leaky({Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)})
    assert answer.text == "Rotate both."
    (seen,) = local.requests
    (sent,) = fake_anthropic.requests
    for text in (seen.prompt, json.dumps(sent.body)):
        assert SLACK not in text
        assert REDIS_PASSWORD not in text
        assert "the bot token <redacted:slack-token> is in CI" in text
        assert "redis://default:<redacted:url-password>@cache" in text


def test_a_repo_that_shows_secrets_to_its_local_model_still_hides_them_from_the_frontier(
    fake_anthropic: FakeAnthropic,
) -> None:
    repo = RepoSettings.from_yaml("privacy: {redact_local: false}")
    local = ScriptedLocalModel(answers=deque(["not json"]))
    fake_anthropic.reply(message(json.dumps({"answer": "Rotate both."})))
    ask_leaky({Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)}, repo)
    assert SLACK in local.requests[0].prompt
    assert REDIS_PASSWORD in local.requests[0].prompt
    sent = json.dumps(fake_anthropic.requests[0].body)
    assert SLACK not in sent
    assert REDIS_PASSWORD not in sent

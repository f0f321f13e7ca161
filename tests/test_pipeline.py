"""The review of a pull request and the commands, end to end over a fake GitHub (at the HTTP
transport) and the fake Messages API: what is posted, and what happens the second time."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from bot.adapters.github import GitHub, PullRef
from bot.adapters.models.anthropic import FrontierBackend
from bot.adapters.prices import PriceTable
from bot.adapters.settings import Settings
from bot.core.job import Job
from bot.core.markdown.rendered import github_html
from bot.core.markers import Markers, marker_key
from bot.core.routing import Models, Tier
from bot.core.types import Backend
from bot.pipeline.commands import run
from bot.pipeline.feedback import collect_feedback
from bot.pipeline.services import GitHubClient, Retry, Services
from tests.builders import Edit, git_diff
from tests.fake_anthropic import (
    FakeAnthropic,
    error,
    fake_anthropic_fixture,  # noqa: F401 (the fake_anthropic fixture)
    message,
)
from tests.fake_github_api import BOT, FakeGitHubAPI
from tests.prompts import sections

KEY = marker_key("webhook secret")
MARKERS = Markers(KEY, "octo/app", 7)
FIRST = git_diff(
    Edit(
        "app/cache.py", context=["def get(key):"], added=["    return store[key].decode()"], start=3
    )
)


def answer(line: int, code: str, body: str) -> str:
    return json.dumps(
        {
            "summary": "Cache helpers.",
            "comments": [
                {
                    "path": "app/cache.py",
                    "line": line,
                    "side": "RIGHT",
                    "code": code,
                    "severity": "major",
                    "category": "bug",
                    "body": body,
                }
            ],
        }
    )


FIRST_ANSWER = answer(4, "    return store[key].decode()", "A missing key raises KeyError.")


@pytest.fixture
def github() -> FakeGitHubAPI:
    return FakeGitHubAPI(diff=FIRST)


@pytest.fixture
def services(fake_anthropic: FakeAnthropic, github: FakeGitHubAPI) -> Services:
    frontier = FrontierBackend(
        "claude-sonnet-5-5",
        api_key="sk-ant-test-0123456789",
        base_url=fake_anthropic.base_url,
        max_retries=0,
    )
    client = GitHub(
        "ghs_test",
        "https://api.github.test",
        transport=github.transport(),
        bot_login=BOT,
        marker_key=KEY,
        write_spacing=0.0,
    )

    async def github_for(installation_id: int | None) -> GitHubClient:
        return client

    backends: dict[Tier, Backend] = {Tier.FRONTIER: frontier}
    models = Models(
        local="qwen", frontier="claude-sonnet-5-5", local_window=8192, local_unavailable="no GPU"
    )
    return Services(Settings(), PriceTable.load(), backends, models, github_for)


def job(kind: str = "review", **payload: Any) -> Job:
    return Job(kind, "octo", "app", 7, 1, trigger=str(payload.get("trigger", "")), payload=payload)


# A backend's HTTP client belongs to one event loop, as in the server: one loop per test.
_LOOP: list[asyncio.AbstractEventLoop] = []


@pytest.fixture(autouse=True)
def loop() -> Iterator[None]:
    _LOOP.append(asyncio.new_event_loop())
    try:
        yield
    finally:
        _LOOP.pop().close()


def go(spec: Job, services: Services) -> str:
    """Run a job as the worker does; a `queued_at` in its payload is when the queue took it."""
    queued_at = spec.payload.get("queued_at")
    return str(_LOOP[-1].run_until_complete(run(spec, services, queued_at=queued_at)))


def test_a_review_posts_one_review_and_a_summary(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.reply(message(FIRST_ANSWER, input_tokens=2000, output_tokens=300))
    outcome = go(job(), services)
    assert outcome.startswith("reviewed by frontier: 1 comment (")
    (review,) = github.reviews
    assert review["event"] == "COMMENT"
    assert review["commit_id"] == github.head
    (comment,) = review["comments"]
    assert (comment["path"], comment["line"], comment["side"]) == ("app/cache.py", 4, "RIGHT")
    assert "KeyError" in comment["body"]
    assert "<!-- tierbot:fp=" in comment["body"]
    summary = github.summary()
    assert f"<!-- tierbot:head={github.head} -->" in summary
    assert "by the **frontier** model" in summary
    assert "**Cost:** $0.0070 for 2,000 tokens in and 300 out" in summary


def test_the_same_commit_is_not_reviewed_twice(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.reply(message(FIRST_ANSWER))
    go(job(), services)
    assert go(job(), services) == "skipped: this commit was already reviewed"
    assert len(github.reviews) == 1
    assert len(fake_anthropic.requests) == 1


def test_a_push_is_reviewed_from_the_last_reviewed_commit_without_repeating_comments(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.reply(message(FIRST_ANSWER))
    go(job(), services)
    first_head = github.head
    github.head = "c" * 40
    # The push touched the same lines again; the model repeats its remark.
    github.compared[(first_head, github.head)] = FIRST
    fake_anthropic.reply(message(FIRST_ANSWER))
    outcome = go(job(), services)
    assert outcome.startswith("reviewed by frontier: 0 comments")
    assert ("GET", f"/repos/octo/app/compare/{first_head}...{github.head}") in github.calls
    assert len(github.reviews) == 1, "the same remark is not posted again"
    summary = github.summary()
    assert f"(changes since {first_head[:7]})" in summary
    assert "1 already made on an earlier commit" in summary


def test_a_force_push_falls_back_to_the_whole_pull_request(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.reply(message(FIRST_ANSWER))
    go(job(), services)
    github.head = "d" * 40
    fake_anthropic.reply(message(json.dumps({"summary": "ok", "comments": []})))
    go(job(), services)
    assert "changes since" not in github.summary()


def test_an_unreadable_diff_is_reported_on_the_pull_request(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    github.diff = "this is not a diff\n"
    assert go(job(), services) == "failed: unreadable diff"
    assert github.reviews == []
    assert "**This pull request was not reviewed:** the diff could not be read" in github.summary()
    assert fake_anthropic.requests == []


def test_a_model_outage_is_retried_not_reported_as_a_review(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.reply(error(529, "overloaded_error"))
    with pytest.raises(Retry, match="overloaded"):
        go(job(), services)
    assert github.reviews == []
    assert github.issue_comments == []


def test_pause_stops_automatic_reviews_and_resume_restarts_them(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    github.permissions["maintainer"] = "write"
    pause = job(
        "command",
        command="pause",
        args=[],
        user="maintainer",
        comment_id=55,
        needs_permission_check=True,
    )
    assert go(pause, services) == "paused"
    assert (55, "eyes") in github.reactions
    assert go(job(), services) == "skipped: paused"
    assert "Automatic reviews on this pull request are paused." in github.bodies()[-1]
    resume = job(
        "command",
        command="resume",
        args=[],
        user="maintainer",
        comment_id=56,
        needs_permission_check=True,
    )
    assert go(resume, services) == "resumed"
    fake_anthropic.reply(message(FIRST_ANSWER))
    assert go(job(), services).startswith("reviewed by frontier")


def test_a_frontier_review_asked_for_without_write_access_is_refused(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    github.permissions["drive-by"] = "read"
    spec = job(
        "command",
        command="review",
        args=["--frontier"],
        user="drive-by",
        comment_id=9,
        needs_permission_check=True,
    )
    assert go(spec, services) == "refused: no write access"
    assert "needs write access" in github.bodies()[-1]
    assert github.reviews == []
    assert fake_anthropic.requests == []


def test_route_explains_the_decision_without_reviewing(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    spec = job("command", command="route", args=[], user="mona", comment_id=3)
    assert go(spec, services).startswith("replied: route")
    assert "would be reviewed by the **" in github.bodies()[-1]
    assert github.reviews == []
    assert fake_anthropic.requests == []


def test_help_lists_the_commands(services: Services, github: FakeGitHubAPI) -> None:
    assert go(job("command", command="help", args=[], user="mona"), services) == "replied: help"
    assert "`/review full`" in github.bodies()[-1]


def test_a_closed_pull_request_is_not_reviewed(services: Services, github: FakeGitHubAPI) -> None:
    github.state = "closed"
    assert go(job(), services) == "skipped: the pull request is closed"


def test_a_review_is_counted_in_the_metrics(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    from dataclasses import replace

    from bot.adapters.metrics import DOLLARS, REVIEWS, TOKENS, Metrics

    metrics = Metrics()
    fake_anthropic.reply(message(FIRST_ANSWER, input_tokens=2000, output_tokens=300))
    go(job(), replace(services, metrics=metrics))
    assert metrics.value(REVIEWS, {"tier": "frontier"}) == 1
    assert metrics.value(TOKENS, {"tier": "frontier", "kind": "input"}) == 2000
    assert metrics.value(DOLLARS, {"tier": "frontier"}) == pytest.approx(0.007)


ANSWER = json.dumps({"answer": "Yes: `app/cache.py:4` raises KeyError on a miss. Ping @octocat"})


def test_ask_answers_in_a_reply_with_the_model_and_cost(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.reply(message(ANSWER, input_tokens=1000, output_tokens=50))
    spec = job(
        "command",
        command="ask",
        args=["Can get() fail?"],
        user="mona",
        author_association="MEMBER",
        comment_id=4,
    )
    assert go(spec, services) == "replied: /ask"
    reply = github.bodies()[-1]
    assert reply.startswith("> Can get() fail?")
    assert "raises KeyError on a miss" in reply
    assert "@octocat" not in reply
    assert "Answered by the frontier model `claude-sonnet-5-5` for $0.0025." in reply
    sent = fake_anthropic.requests[0].body
    assert sections(sent["messages"][0]["content"]).one("question") == "Can get() fail?"
    assert sent["output_config"]["format"]["schema"]["required"] == ["answer"]


def test_a_reply_in_the_bots_thread_is_answered_there_and_others_are_left_alone(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.reply(message(FIRST_ANSWER))
    go(job(), services)
    root = github.review_comments[0]["id"]
    github.review_comments.append({"id": 999, "body": "human note", "user": {"login": "mona"}})
    fake_anthropic.reply(message(ANSWER))
    spec = job(
        "reply",
        comment_id=5000,
        in_reply_to_id=root,
        user="mona",
        author_association="MEMBER",
        question="Why?",
    )
    assert go(spec, services) == f"replied: in thread {root} to 5000"
    assert github.review_comments[-1]["in_reply_to_id"] == root
    other = job("reply", comment_id=5001, in_reply_to_id=999, user="mona", question="Hm?")
    assert go(other, services) == "ignored: a thread the bot did not start"
    assert len(fake_anthropic.requests) == 2


# --- the ledger: costs recorded, the month in the summary, /cost, budgets ----------------------


@pytest.fixture
def ledger(tmp_path: Any) -> Iterator[Any]:
    from bot.adapters.ledger import Ledger

    book = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    book.migrate()
    try:
        yield book
    finally:
        book.close()


def test_a_review_is_recorded_and_the_summary_shows_the_month(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic, ledger: Any
) -> None:
    from dataclasses import replace

    fake_anthropic.reply(message(FIRST_ANSWER, input_tokens=1_000_000, output_tokens=0))
    go(job(), replace(services, ledger=ledger))
    report = ledger.report(repo="octo/app")
    assert report.reviews == 1
    assert str(report.spend_usd) == "2.000000000"
    assert "This repo this month: 1 review, $2.00 spent" in github.summary()


def test_cost_replies_with_the_month_by_tier(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic, ledger: Any
) -> None:
    from dataclasses import replace

    with_ledger = replace(services, ledger=ledger)
    fake_anthropic.reply(message(FIRST_ANSWER, input_tokens=1_000_000, output_tokens=0))
    go(job(), with_ledger)
    assert go(job("command", command="cost", args=[], user="mona"), with_ledger) == "replied: /cost"
    reply = github.bodies()[-1]
    assert "**octo/app this month**" in reply
    assert "| frontier | 1 | 1 | 1,000,000 / 0 | $2.00 |" in reply


def test_a_spent_budget_sends_the_review_to_the_local_model_and_refuses_frontier(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic, ledger: Any
) -> None:
    from collections import deque
    from dataclasses import replace
    from decimal import Decimal

    from bot.adapters.settings import Settings
    from tests.fakes import ScriptedLocalModel

    fake_anthropic.reply(message(FIRST_ANSWER, input_tokens=1_000_000, output_tokens=0))
    budgeted = replace(
        services, ledger=ledger, settings=Settings(frontier_budget_usd=Decimal("1.50"))
    )
    go(job(), budgeted)  # $2.00 of frontier spend: over the $1.50 budget now
    local = ScriptedLocalModel(answers=deque([json.loads(FIRST_ANSWER)]))
    models = replace(services.models, local_unavailable=None)
    with_local = replace(budgeted, backends={**services.backends, Tier.LOCAL: local}, models=models)
    github.head = "e" * 40
    github.settings_file = "routing:\n  threshold: 0\n"  # every change prefers frontier now
    outcome = go(job(), with_local)
    assert outcome.startswith("reviewed by local")
    assert "frontier budget is spent ($2.00 of $1.50 spent by this installation)" in (
        github.summary()
    )
    github.permissions["maintainer"] = "write"
    forced = job(
        "command",
        command="review",
        args=["--frontier"],
        user="maintainer",
        needs_permission_check=True,
    )
    go(forced, with_local)
    assert "the frontier model was asked for but the month's frontier budget is spent" in (
        github.summary()
    )
    assert len(fake_anthropic.requests) == 1


# --- feedback on the bot's inline comments, read on the next review ----------------------------

NO_COMMENTS = json.dumps({"summary": "Fine.", "comments": []})
SUGGESTED = '    return store.get(key, b"").decode()'


def feedback_rows(ledger: Any) -> list[tuple[str, str, str]]:
    import sqlalchemy as sa

    from bot.adapters.ledger.schema import feedback

    query = sa.select(feedback.c.fingerprint, feedback.c.kind, feedback.c.actor)
    with ledger.engine.connect() as conn:
        return sorted((fp, kind, actor) for fp, kind, actor in conn.execute(query))


def push(github: FakeGitHubAPI, head: str, diff: str) -> None:
    github.compared[(github.head, head)] = diff
    github.head = head


def listings(github: FakeGitHubAPI) -> int:
    return sum(
        1
        for m, p in github.calls
        if m == "GET" and p.startswith("/repos/octo/app/pulls/7/comments")
    )


def test_a_thumbs_up_is_recorded_on_the_next_review_and_only_once(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic, ledger: Any
) -> None:
    from dataclasses import replace
    from decimal import Decimal

    with_ledger = replace(services, ledger=ledger)
    fake_anthropic.reply(message(FIRST_ANSWER))
    go(job(), with_ledger)
    assert ledger.report(repo="octo/app").tier("frontier").positive_comments == 0
    comment = github.review_comments[0]
    (fingerprint,) = re.findall(r"tierbot:fp=([0-9a-f]{16})", comment["body"])
    comment["reactions"] = {"+1": 2, "-1": 0, "eyes": 1}
    github.review_comments.append(  # a human's 👎 on their own comment is not the bot's
        {"id": 998, "body": "x", "user": {"login": "mona"}, "reactions": {"-1": 1}}
    )
    push(github, "c" * 40, FIRST)
    fake_anthropic.reply(message(NO_COMMENTS))
    before = listings(github)
    go(job(), with_ledger)
    assert listings(github) - before == 1, "the review comments are listed once per review"
    assert feedback_rows(ledger) == [(fingerprint, "thumbs_up", "")]
    frontier = ledger.report(repo="octo/app").tier("frontier")
    assert frontier.positive_comments == 1
    assert frontier.positive_share_pct == Decimal("100.0")
    push(github, "d" * 40, FIRST)
    fake_anthropic.reply(message(FIRST_ANSWER))
    assert go(job(), with_ledger).startswith("reviewed by frontier: 0 comments")
    assert feedback_rows(ledger) == [(fingerprint, "thumbs_up", "")]
    assert ledger.report(repo="octo/app").tier("frontier").positive_comments == 1


def test_a_committed_suggestion_is_recorded_once(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic, ledger: Any
) -> None:
    from dataclasses import replace

    with_ledger = replace(services, ledger=ledger)
    suggesting = json.loads(FIRST_ANSWER)
    suggesting["comments"][0]["suggestion"] = SUGGESTED
    fake_anthropic.reply(message(json.dumps(suggesting)))
    go(job(), with_ledger)
    body = github.review_comments[0]["body"]
    assert f"```suggestion\n{SUGGESTED}\n```" in body
    (fingerprint,) = re.findall(r"tierbot:fp=([0-9a-f]{16})", body)
    elsewhere = git_diff(Edit("app/other.py", added=[SUGGESTED]))
    push(github, "c" * 40, elsewhere)  # the same line, but in another file
    fake_anthropic.reply(message(NO_COMMENTS))
    go(job(), with_ledger)
    assert feedback_rows(ledger) == []
    committed = git_diff(
        Edit(
            "app/cache.py",
            context=["def get(key):"],
            removed=["    return store[key].decode()"],
            added=[SUGGESTED.strip()],  # re-indented: lines are compared stripped
            start=3,
        )
    )
    push(github, "d" * 40, committed)
    fake_anthropic.reply(message(NO_COMMENTS))
    go(job(), with_ledger)
    assert feedback_rows(ledger) == [(fingerprint, "suggestion_committed", "")]
    assert ledger.report(repo="octo/app").tier("frontier").positive_comments == 1
    push(github, "e" * 40, committed)
    fake_anthropic.reply(message(NO_COMMENTS))
    go(job(), with_ledger)
    assert feedback_rows(ledger) == [(fingerprint, "suggestion_committed", "")]


# --- resolved threads, and feedback collected without a review ---------------------------------


def fingerprint_of(comment: dict[str, Any]) -> str:
    (found,) = re.findall(r"tierbot:fp=([0-9a-f]{16})", comment["body"])
    return str(found)


def writes(github: FakeGitHubAPI) -> list[tuple[str, str]]:
    """Every call that could change something on GitHub (a GraphQL query changes nothing)."""
    return [(m, p) for m, p in github.calls if m != "GET" and p != "/graphql"]


def test_a_resolved_bot_thread_is_recorded_on_the_next_review(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic, ledger: Any
) -> None:
    from dataclasses import replace

    with_ledger = replace(services, ledger=ledger)
    fake_anthropic.reply(message(FIRST_ANSWER))
    go(job(), with_ledger)
    comment = github.review_comments[0]
    fingerprint = fingerprint_of(comment)
    forged = {  # a human's resolved thread quoting the bot's marker is not the bot's
        "id": 997,
        "body": MARKERS.comment_trailer("0123456789abcdef"),
        "user": {"login": "mona"},
    }
    github.review_comments.append(forged)
    github.resolved |= {comment["id"], 997}
    client = _LOOP[-1].run_until_complete(services.github_for(1))
    assert isinstance(client, GitHub)
    ref = PullRef("octo", "app", 7)
    assert _LOOP[-1].run_until_complete(client.resolved_fingerprints(ref)) == {fingerprint}
    push(github, "c" * 40, FIRST)
    fake_anthropic.reply(message(NO_COMMENTS))
    go(job(), with_ledger)
    assert feedback_rows(ledger) == [(fingerprint, "resolved", "")]
    assert ledger.report(repo="octo/app").tier("frontier").positive_comments == 1


def test_resolved_threads_are_read_page_by_page(github: FakeGitHubAPI) -> None:
    client = GitHub(
        "ghs_test",
        "https://api.github.test",
        transport=github.transport(),
        bot_login=BOT,
        marker_key=KEY,
    )
    for index in range(150):
        marker = MARKERS.comment_trailer(f"{index:016x}")
        github.review_comments.append({"id": index, "body": marker, "user": {"login": BOT}})
    github.resolved = {3, 120}
    ref = PullRef("octo", "app", 7)
    found = _LOOP[-1].run_until_complete(client.resolved_fingerprints(ref))
    assert found == {f"{3:016x}", f"{120:016x}"}
    assert github.calls.count(("POST", "/graphql")) == 2


def test_collect_feedback_records_reactions_and_resolutions_and_posts_nothing(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic, ledger: Any
) -> None:
    from dataclasses import replace

    with_ledger = replace(services, ledger=ledger)
    two = json.loads(FIRST_ANSWER)
    two["comments"].append({**two["comments"][0], "body": "And the cache never expires."})
    fake_anthropic.reply(message(json.dumps(two)))
    go(job(), with_ledger)
    liked, resolved = github.review_comments[:2]
    liked["reactions"] = {"+1": 1, "-1": 1}
    github.resolved.add(resolved["id"])
    before = len(writes(github))
    client = _LOOP[-1].run_until_complete(services.github_for(1))
    ref = PullRef("octo", "app", 7)
    assert _LOOP[-1].run_until_complete(collect_feedback(client, ref, with_ledger, 1)) == 3
    assert writes(github)[before:] == []
    assert feedback_rows(ledger) == sorted(
        [
            (fingerprint_of(liked), "thumbs_up", ""),
            (fingerprint_of(liked), "thumbs_down", ""),
            (fingerprint_of(resolved), "resolved", ""),
        ]
    )
    assert _LOOP[-1].run_until_complete(collect_feedback(client, ref, with_ledger, 1)) == 0
    assert _LOOP[-1].run_until_complete(collect_feedback(client, ref, services, 1)) == 0
    assert len(fake_anthropic.requests) == 1


def test_the_periodic_pass_visits_the_recently_reviewed_pulls_and_survives_failures(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic, ledger: Any
) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from bot.faces.app.parts import collect_recent_feedback, feedback_loop
    from tests.test_ledger import attempt, record, review

    now = datetime.now(UTC)
    recent = now - timedelta(days=1)
    abc = {"repo": "octo/abc", "number": 9, "installation_id": 2, "at": recent}
    record(ledger, review(attempt(Tier.FRONTIER)), **abc)
    old = now - timedelta(days=20)
    record(ledger, review(attempt(Tier.FRONTIER)), repo="octo/old", number=3, at=old)
    asked: list[int | None] = []

    async def github_for(installation_id: int | None) -> GitHubClient:
        asked.append(installation_id)
        return await services.github_for(installation_id)

    with_ledger = replace(services, ledger=ledger, github_for=github_for)
    fake_anthropic.reply(message(FIRST_ANSWER))
    go(job(), with_ledger)  # octo/app#7, by installation 1
    asked.clear()
    github.review_comments[0]["reactions"] = {"+1": 1}
    github.resolved.add(github.review_comments[0]["id"])
    before = len(writes(github))
    # octo/abc#9 fails (the fake has no such repo), and octo/app#7 is still collected.
    new = _LOOP[-1].run_until_complete(collect_recent_feedback(with_ledger, now=now))
    assert new == 2
    assert asked == [2, 1]
    fingerprint = fingerprint_of(github.review_comments[0])
    assert feedback_rows(ledger) == [(fingerprint, "resolved", ""), (fingerprint, "thumbs_up", "")]
    assert writes(github)[before:] == []

    async def briefly() -> None:  # the loop keeps going after failing passes until cancelled
        task = asyncio.create_task(feedback_loop(with_ledger, 0.01))
        await asyncio.sleep(0.1)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asked.clear()
    _LOOP[-1].run_until_complete(briefly())
    assert asked[:2] == [2, 1]
    assert len(asked) >= 4


def test_an_answer_is_counted_in_the_metrics(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    from dataclasses import replace

    from bot.adapters.metrics import DOLLARS, TOKENS, Metrics

    metrics = Metrics()
    fake_anthropic.reply(message(ANSWER, input_tokens=1000, output_tokens=50))
    spec = job(
        "command",
        command="ask",
        args=["Can get() fail?"],
        user="mona",
        author_association="MEMBER",
        comment_id=4,
    )
    go(spec, replace(services, metrics=metrics))
    assert metrics.value(TOKENS, {"tier": "frontier", "kind": "input"}) == 1000
    assert metrics.value(DOLLARS, {"tier": "frontier"}) == pytest.approx(0.0025)


# --- secrets: never sent, never posted, and each committed one commented on once --------------

AWS_SECRET = "3qAAEW8+HZqJLGgm" + "nvmdCUpbWYiuk/xaP+PWtlhG"
LEAKY = git_diff(
    Edit(
        "config/.env",
        context=["LOG_LEVEL=info"],
        added=[f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", "PORT=8000"],
        start=1,
    )
)


def posted_text(github: FakeGitHubAPI) -> str:
    return json.dumps([github.issue_comments, github.review_comments, github.reviews])


def test_a_committed_secret_is_commented_when_the_model_fails_and_never_again(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    github.diff = LEAKY
    fake_anthropic.reply(message("not json"))
    assert go(job(), services).startswith("failed: no part of the review could be done")
    (review,) = github.reviews
    (comment,) = review["comments"]
    assert (comment["path"], comment["line"], comment["side"]) == ("config/.env", 2, "RIGHT")
    assert comment["body"].startswith(
        "**Committed secret:** this line adds an AWS secret access key."
    )
    assert review["body"].startswith("tierbot found 1 line in this change that adds a secret")
    summary = github.summary()
    assert "**This pull request was not reviewed" in summary
    assert "**Committed secrets:** 1 line of this change adds a credential or key" in summary
    assert "Comments: 1 critical" in summary
    assert AWS_SECRET not in posted_text(github)
    assert AWS_SECRET not in json.dumps(fake_anthropic.requests[0].body)

    fake_anthropic.reply(message(json.dumps({"summary": "ok", "comments": []})))
    spec = job("command", command="review", args=["full"], user="mona", author_association="MEMBER")
    assert go(spec, services).startswith("reviewed by frontier: 0 comments")
    assert len(github.reviews) == 1, "the secret's comment is not posted again"
    assert "1 already made on an earlier commit" in github.summary()


def test_a_secret_is_commented_before_a_review_waits_out_a_model_outage(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    github.diff = LEAKY
    fake_anthropic.reply(error(529, "overloaded_error"))
    with pytest.raises(Retry, match="overloaded"):
        go(job(), services)
    (review,) = github.reviews
    assert [(c["path"], c["line"]) for c in review["comments"]] == [("config/.env", 2)]
    fake_anthropic.reply(message(json.dumps({"summary": "ok", "comments": []})))
    assert go(job(), services).startswith("reviewed by frontier: 0 comments")
    assert len(github.reviews) == 1
    assert AWS_SECRET not in posted_text(github)


def test_ask_with_a_secret_in_the_question_neither_sends_nor_quotes_it(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    url = "amqp://billing:" + "Gu3st-pw$x9Lq" + "@rabbit.internal:5672/"
    github.permissions["mona"] = "write"  # so the frontier model may answer her
    fake_anthropic.reply(message(ANSWER))
    spec = job("command", command="ask", args=[f"Can {url} leak?"], user="mona", comment_id=4)
    assert go(spec, services) == "replied: /ask"
    reply = github.bodies()[-1]
    assert reply.startswith("> Can amqp://billing:&lt;redacted:url-password&gt;@")
    sent = json.dumps(fake_anthropic.requests[0].body)
    assert "Gu3st-pw$x9Lq" not in sent
    assert "Gu3st-pw$x9Lq" not in posted_text(github)
    assert "<redacted:url-password>" in sent


def test_ask_quotes_a_question_that_hides_an_image_behind_a_www_address_as_text(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    """GitHub autolinks `www.` addresses up to the next `<`, backslash included: the quoted
    question and the answer must not lose the escape before `<img>` to such a link."""
    pixel = "<img src=//evil.example/pixel.png>"
    github.permissions["mona"] = "write"
    fake_anthropic.reply(message(json.dumps({"answer": f"See www.example.com{pixel} there."})))
    question = f"why www.example.com{pixel} ?"
    spec = job("command", command="ask", args=[question], user="mona", comment_id=4)
    assert go(spec, services) == "replied: /ask"
    rendered = github_html(github.bodies()[-1])
    assert "<img" not in rendered
    assert rendered.count("&lt;img src=//evil.example/pixel.png&gt;") == 2


def test_a_model_that_repeats_a_secret_it_was_shown_is_not_posted(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    """The last check on the way out: whatever a model writes, GitHub gets no secret."""
    token = "ghp_" + "Zr8Kq2Lm5Nx7Vb3Cd9Fg1Hj4Tw6Ys0Pa2Qe"
    fake_anthropic.reply(
        message(answer(4, "    return store[key].decode()", f"Use the CI token {token} here."))
    )
    go(job(), services)
    (comment,) = github.reviews[0]["comments"]
    assert "Use the CI token &lt;redacted:github-token&gt; here." in comment["body"]
    assert "tierbot:fp=" in comment["body"], "the hidden marker is kept"
    assert token not in posted_text(github)


def test_a_review_the_local_gpu_would_cost_more_for_goes_frontier_and_the_summary_says_so(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    """A simple change with a local model at hand: on an H100 rented at $2.50 an hour and busy 5%
    of the time, the local estimate is above the frontier one, so the frontier model reviews."""
    from collections import deque
    from dataclasses import replace
    from decimal import Decimal

    from bot.adapters.settings import Settings
    from bot.core.economics import GpuBilling
    from tests.fakes import ScriptedLocalModel

    fake_anthropic.reply(message(FIRST_ANSWER, input_tokens=2000, output_tokens=300))
    local = ScriptedLocalModel(answers=deque([json.loads(FIRST_ANSWER)]))
    rented = Settings(
        gpu_billing=GpuBilling.RENTED, gpu_hour_usd=Decimal("2.50"), gpu_utilisation=Decimal("0.05")
    )
    dear = replace(
        services,
        settings=rented,
        backends={**services.backends, Tier.LOCAL: local},
        models=replace(services.models, local_unavailable=None),
    )
    assert go(job(), dear).startswith("reviewed by frontier")
    summary = github.summary()
    assert "**Why frontier:** complexity " in summary
    assert "the local GPU would cost \\~$0.2" in summary
    assert "more than the frontier model's \\~$0.0" in summary
    assert not local.requests  # the local model was never asked

"""Shadow reviews through the pipeline: which reviews get one (bot.core.shadow.chosen and the
rules of bot.pipeline.shadow), that nothing of it is posted, what the summary says, and what
the ledger holds: both reviews' findings matched, and the shadow's request as its own charge.

Over the fake GitHub of tests/test_pipeline.py (at the HTTP transport), the fake Messages API
for the frontier model, and the CPU stand-in of tests/fakes.py for the local model.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from bot.adapters.github import PullRef
from bot.adapters.settings import Settings
from bot.core.repo_settings import DEFAULT_SHADOW_SHARE, RepoSettings
from bot.core.routing import Tier
from bot.core.shadow import chosen
from bot.pipeline.posting import review_pull
from bot.pipeline.request import Request, Status
from bot.pipeline.services import Services
from tests.fake_anthropic import FakeAnthropic, error, fake_anthropic_fixture, message  # noqa: F401
from tests.fake_github_api import FakeGitHubAPI
from tests.fakes import ScriptedLocalModel
from tests.test_pipeline import (  # noqa: F401
    _LOOP,
    FIRST_ANSWER,
    github,
    go,
    job,
    ledger,
    loop,
    services,
)

SHADOW_ALL = "shadow:\n  share: 1\n"
# The frontier model's review of the same change: the local model's finding in other words, and
# one the local model did not make (a critical security remark on the same line).
FRONTIER_ANSWER = json.dumps(
    {
        "summary": "Reads the cache.",
        "comments": [
            {
                "path": "app/cache.py",
                "line": 4,
                "side": "RIGHT",
                "code": "    return store[key].decode()",
                "severity": "critical",
                "category": "error-handling",
                "body": "`store[key]` throws when the key is absent; use `store.get`.",
            },
            {
                "path": "app/cache.py",
                "line": 4,
                "side": "RIGHT",
                "code": "    return store[key].decode()",
                "severity": "critical",
                "category": "security",
                "body": "Decoding untrusted bytes without an encoding check.",
            },
        ],
    }
)
# 1,000 tokens in at $2 and 200 out at $10 per million: $0.004.
SHADOW_LINE = (
    "**Shadow review:** the frontier model `claude-sonnet-5-5` also reviewed this change, "
    "without posting, to measure what the local model misses: both found 1, only the frontier "
    "model 1, only the local model 0; it cost $0.0040, which the month's spend includes."
)


def with_local(services: Services, local: ScriptedLocalModel, ledger: Any) -> Services:  # noqa: F811
    return replace(
        services,
        backends={**services.backends, Tier.LOCAL: local},
        models=replace(services.models, local_unavailable=None),
        ledger=ledger,
    )


def table(book: Any, sql: str) -> list[dict[str, Any]]:
    with book.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.text(sql))]


def test_the_choice_is_a_hash_that_retries_agree_on_at_about_the_share() -> None:
    picks = [chosen("octo/app", n, "a" * 40, Decimal("0.1")) for n in range(20_000)]
    assert picks == [chosen("octo/app", n, "a" * 40, Decimal("0.1")) for n in range(20_000)]
    assert 0.09 < sum(picks) / len(picks) < 0.11
    assert chosen("Octo/App", 5, "b" * 40, Decimal("0.5")) == chosen(
        "octo/app", 5, "b" * 40, Decimal("0.5")
    )
    # A larger share keeps every commit a smaller one chose; 0 chooses none and 1 all.
    for n in range(2_000):
        if chosen("octo/app", n, "c" * 40, Decimal("0.05")):
            assert chosen("octo/app", n, "c" * 40, Decimal("0.2"))
        assert not chosen("octo/app", n, "c" * 40, Decimal(0))
        assert chosen("octo/app", n, "c" * 40, Decimal(1))
    # Another commit of the same pull request is chosen afresh.
    heads = {chosen("octo/app", 7, f"{i:040x}", Decimal("0.5")) for i in range(50)}
    assert heads == {True, False}


@pytest.mark.parametrize(
    ("text", "share", "problem"),
    [
        ("", DEFAULT_SHADOW_SHARE, None),
        ("shadow:\n  share: 0.25\n", Decimal("0.25"), None),
        ("shadow:\n  share: 0\n", Decimal(0), None),
        ("shadow:\n  share: 1.5\n", DEFAULT_SHADOW_SHARE, "`shadow.share` must be a number"),
        ("shadow:\n  share: yes\n", DEFAULT_SHADOW_SHARE, "`shadow.share` must be a number"),
        ("shadow:\n  rate: 0.2\n", DEFAULT_SHADOW_SHARE, "unknown key `shadow.rate` ignored"),
    ],
)
def test_the_share_is_a_repo_setting(text: str, share: Decimal, problem: str | None) -> None:
    settings = RepoSettings.from_yaml(text)
    assert settings.shadow_share == share
    assert (problem is None) == (not settings.problems)
    if problem is not None:
        assert settings.problems[0].startswith(problem)


def test_a_shadowed_review_posts_the_local_review_alone_and_records_both(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
    ledger: Any,  # noqa: F811
) -> None:
    github.settings_file = SHADOW_ALL
    local = ScriptedLocalModel(answers=deque([json.loads(FIRST_ANSWER)]))
    fake_anthropic.reply(message(FRONTIER_ANSWER, input_tokens=1000, output_tokens=200))
    outcome = go(job(), with_local(services, local, ledger))
    assert outcome.startswith("reviewed by local: 1 comment")
    # The frontier model saw the same change, and nothing it said was posted.
    (asked,) = fake_anthropic.requests
    assert "return store[key].decode()" in json.dumps(asked.body)
    (review,) = github.reviews
    (posted,) = review["comments"]
    assert "KeyError" in posted["body"]
    assert not any("Decoding untrusted bytes" in body for body in github.bodies())
    summary = github.summary()
    assert "by the **local** model" in summary
    assert SHADOW_LINE in summary

    (shadow,) = table(ledger, "SELECT * FROM ledger_shadows")
    (reviewed,) = table(ledger, "SELECT * FROM ledger_reviews")
    assert (shadow["state"], shadow["review_id"], shadow["failure"]) == (
        "done",
        reviewed["id"],
        None,
    )
    assert shadow["local_mean_entropy"] == pytest.approx(0.1)  # the stand-in's entropy
    assert shadow["local_hedges"] == 0
    findings = table(
        ledger,
        "SELECT found_by, severity, category, local_severity, frontier_severity "
        "FROM ledger_shadow_findings ORDER BY found_by",
    )
    assert findings == [
        {
            "found_by": "both",
            "severity": "critical",
            "category": "error-handling",
            "local_severity": "major",
            "frontier_severity": "critical",
        },
        {
            "found_by": "frontier",
            "severity": "critical",
            "category": "security",
            "local_severity": None,
            "frontier_severity": "critical",
        },
    ]
    # Its request is a charge of its own: frontier, task shadow, no baseline.
    requests = table(
        ledger,
        "SELECT task, tier, usd, baseline_usd, input_tokens, output_tokens, "
        "review_id, id FROM ledger_requests ORDER BY id",
    )
    # The local review's comment was checked on the local model before posting (review.verify).
    assert [(r["task"], r["tier"]) for r in requests] == [
        ("review", "local"),
        ("verify", "local"),
        ("shadow", "frontier"),
    ]
    charge = requests[2]
    assert (charge["usd"], charge["baseline_usd"]) == (4_000_000, 0)  # nano-dollars on SQLite
    assert (charge["input_tokens"], charge["output_tokens"]) == (1000, 200)
    assert (charge["review_id"], charge["id"]) == (reviewed["id"], shadow["request_id"])
    trade_off = ledger.trade_off(repo="octo/app")
    assert trade_off.shadow_findings == {
        "both": {"critical": 1},
        "frontier": {"critical": 1},
        "local": {},
    }
    assert trade_off.shadow_usd == Decimal("0.004")
    report = ledger.report(repo="octo/app")
    assert report.spend_usd == Decimal("0.004") + Decimal(reviewed["spent_usd"]) / 10**9


def test_no_shadow_at_a_share_of_zero_without_a_ledger_or_on_a_dry_run(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
    ledger: Any,  # noqa: F811
) -> None:
    github.settings_file = "shadow:\n  share: 0\n"
    local = ScriptedLocalModel(answers=deque([json.loads(FIRST_ANSWER)] * 3))
    assert go(job(), with_local(services, local, ledger)).startswith("reviewed by local")
    github.settings_file = SHADOW_ALL
    github.head = "e" * 40
    assert go(job(), with_local(services, local, None)).startswith("reviewed by local")
    github.head = "f" * 40
    shadowed = with_local(services, local, ledger)
    client = _LOOP[-1].run_until_complete(shadowed.github_for(1))
    dry = Request(PullRef("octo", "app", 7), dry_run=True, installation_id=1)
    outcome = _LOOP[-1].run_until_complete(review_pull(client, dry, shadowed))
    assert outcome.status is Status.REVIEWED
    assert outcome.summary is not None
    assert "Shadow review" not in outcome.summary
    assert fake_anthropic.requests == []
    assert "Shadow review" not in github.summary()
    assert table(ledger, "SELECT * FROM ledger_shadows") == []


def test_an_escalated_review_gets_no_shadow_the_frontier_model_already_did_it(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
    ledger: Any,  # noqa: F811
) -> None:
    github.settings_file = SHADOW_ALL
    unsure = ScriptedLocalModel(answers=deque([json.loads(FIRST_ANSWER)]), entropy=5.0)
    fake_anthropic.reply(message(FRONTIER_ANSWER, input_tokens=1000, output_tokens=200))
    outcome = go(job(), with_local(services, unsure, ledger))
    assert outcome.startswith("reviewed by frontier")
    assert len(fake_anthropic.requests) == 1
    assert table(ledger, "SELECT * FROM ledger_shadows") == []


def test_a_shadow_runs_only_within_the_frontier_budget(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
    ledger: Any,  # noqa: F811
) -> None:
    # The repo's month allows $0.0001 of frontier work: less than a review is estimated at.
    github.settings_file = SHADOW_ALL + "budget:\n  frontier_usd_month: 0.0001\n"
    local = ScriptedLocalModel(answers=deque([json.loads(FIRST_ANSWER)]))
    assert go(job(), with_local(services, local, ledger)).startswith("reviewed by local")
    assert fake_anthropic.requests == []
    assert table(ledger, "SELECT * FROM ledger_shadows") == []
    assert table(ledger, "SELECT * FROM ledger_charges") == []


def test_a_strangers_pull_request_is_never_shadowed(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
    ledger: Any,  # noqa: F811
) -> None:
    github.author, github.author_association = "mallory", "NONE"
    github.permissions["mallory"] = "read"
    github.settings_file = SHADOW_ALL
    local = ScriptedLocalModel(answers=deque([json.loads(FIRST_ANSWER)]))
    assert go(job(), with_local(services, local, ledger)).startswith("reviewed by local")
    assert fake_anthropic.requests == []  # work without write access never reaches frontier


def test_a_shadow_that_fails_is_said_and_recorded_and_the_review_stands(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
    ledger: Any,  # noqa: F811
) -> None:
    github.settings_file = SHADOW_ALL
    local = ScriptedLocalModel(answers=deque([json.loads(FIRST_ANSWER)]))
    fake_anthropic.reply(error(529, "overloaded_error"))
    outcome = go(job(), with_local(services, local, ledger))
    assert outcome.startswith("reviewed by local: 1 comment")  # no retry for a shadow
    assert len(github.reviews) == 1
    summary = github.summary()
    assert (
        "**Shadow review:** the frontier model `claude-sonnet-5-5` was asked to review" in summary
    )
    assert "and could not (no part of the review could be done: " in summary
    (shadow,) = table(ledger, "SELECT state, failure FROM ledger_shadows")
    assert shadow["state"] == "failed"
    assert "overloaded" in shadow["failure"]
    assert ledger.trade_off().shadows == ()  # a failed shadow measures nothing


def test_a_budgeted_shadow_is_held_against_the_budget_like_any_frontier_request(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
    ledger: Any,  # noqa: F811
) -> None:
    github.settings_file = SHADOW_ALL
    local = ScriptedLocalModel(answers=deque([json.loads(FIRST_ANSWER)]))
    fake_anthropic.reply(message(FRONTIER_ANSWER, input_tokens=1000, output_tokens=200))
    budgeted = replace(
        with_local(services, local, ledger), settings=Settings(frontier_budget_usd=Decimal(5))
    )
    assert go(job(), budgeted).startswith("reviewed by local")
    (charge,) = table(ledger, "SELECT usd, settled FROM ledger_charges")
    assert (charge["usd"], bool(charge["settled"])) == (4_000_000, True)


def test_a_shadow_whose_answer_breaks_the_schema_in_part_is_recorded_as_partial(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
    ledger: Any,  # noqa: F811
) -> None:
    github.settings_file = SHADOW_ALL
    local = ScriptedLocalModel(answers=deque([json.loads(FIRST_ANSWER)]))
    broken = json.loads(FRONTIER_ANSWER)
    del broken["comments"][1]["path"]
    fake_anthropic.reply(message(json.dumps(broken), input_tokens=1000, output_tokens=200))
    assert go(job(), with_local(services, local, ledger)).startswith("reviewed by local")
    assert (
        "also reviewed this change (in part: comment 2: no path), without posting, to measure "
        "what the local model misses: both found 1, only the frontier model 0"
    ) in github.summary()
    (shadow,) = table(ledger, "SELECT state, failure FROM ledger_shadows")
    assert (shadow["state"], shadow["failure"]) == ("partial", "comment 2: no path")
    # Its findings are kept, but a partial shadow is no fair measure: calibration leaves it out.
    assert len(table(ledger, "SELECT * FROM ledger_shadow_findings")) == 1
    assert ledger.trade_off().shadows == ()

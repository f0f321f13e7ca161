"""Who may spend: pull requests and questions from accounts without write access get the local
model only, or nothing (`review.untrusted_authors`), unless someone with write access asks.

Through the pipeline, over the fake GitHub of tests/test_pipeline.py (at the HTTP transport)
and the fake Messages API; the local model is the CPU stand-in of tests/fakes.py.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import replace
from pathlib import Path

import pytest

from bot.adapters.queue import JobQueue
from bot.adapters.settings import Settings, SettingsError
from bot.core.job import Job
from bot.core.prompt import SYSTEM
from bot.core.repo_settings import RepoSettings
from bot.core.routing import Tier
from bot.core.trust import Untrusted
from bot.core.verification import VERIFY_SYSTEM
from bot.faces.action.dispatch import dispatch_for
from bot.faces.action.step_report import Dispatch
from bot.pipeline.services import Services
from tests.fake_anthropic import FakeAnthropic, fake_anthropic_fixture, message  # noqa: F401
from tests.fake_github_api import FakeGitHubAPI
from tests.fakes import ScriptedLocalModel
from tests.test_pipeline import (  # noqa: F401
    _LOOP,
    FIRST_ANSWER,
    MARKERS,
    github,
    go,
    job,
    loop,
    services,
)
from tests.test_queue import FakeClock

ANSWER = json.dumps({"answer": "It can raise KeyError."})


@pytest.fixture
def stranger(github: FakeGitHubAPI) -> FakeGitHubAPI:  # noqa: F811
    """The pull request is by an account with no association and read access only."""
    github.author, github.author_association = "mallory", "NONE"
    github.permissions["mallory"] = "read"
    return github


def with_local(services: Services, local: ScriptedLocalModel) -> Services:  # noqa: F811
    return replace(
        services,
        backends={**services.backends, Tier.LOCAL: local},
        models=replace(services.models, local_unavailable=None),
    )


def unsure_of_its_summary() -> ScriptedLocalModel:
    """A local model whose review would be escalated (it was unsure writing the summary), whose
    comment stands on its own confidence."""
    return ScriptedLocalModel(
        answers=deque([json.loads(FIRST_ANSWER)]), doubt=("Cache helpers.",), doubt_entropy=5.0
    )


def test_a_strangers_pull_request_is_reviewed_by_the_local_model_and_never_escalated(
    services: Services,  # noqa: F811
    stranger: FakeGitHubAPI,
    fake_anthropic: FakeAnthropic,
) -> None:
    # An unsure local answer would be redone by the frontier model for anyone else.
    local = unsure_of_its_summary()
    stranger.settings_file = "routing:\n  threshold: 0\n"  # the change would go frontier
    outcome = go(job(), with_local(services, local))
    assert outcome.startswith("reviewed by local: 1 comment")
    assert fake_anthropic.requests == []
    assert [r.system for r in local.requests] == [SYSTEM, VERIFY_SYSTEM], "its check local too"
    summary = stranger.summary()
    assert "work for accounts without write access is not sent to the frontier model" in summary
    assert ("GET", "/repos/octo/app/collaborators/mallory/permission") in stranger.calls


def test_without_a_local_model_a_strangers_pull_request_says_why_and_how_to_ask(
    services: Services,  # noqa: F811
    stranger: FakeGitHubAPI,
    fake_anthropic: FakeAnthropic,
) -> None:
    outcome = go(job(), services)
    assert outcome == "skipped: the author has no write access and there is no local model"
    assert fake_anthropic.requests == []
    assert stranger.reviews == []
    summary = stranger.summary()
    assert "**This pull request was not reviewed:** `mallory` has no write access" in summary
    assert "never sent to the frontier model" in summary
    assert "someone with write access can comment `/review` to have it reviewed" in summary
    state, _ = MARKERS.read_summary(summary)
    assert state.head is None  # a later review still covers every change


def test_a_maintainers_review_command_reviews_a_strangers_pull_request_as_theirs(
    services: Services,  # noqa: F811
    stranger: FakeGitHubAPI,
    fake_anthropic: FakeAnthropic,
) -> None:
    go(job(), services)  # not reviewed: no local model
    fake_anthropic.reply(message(FIRST_ANSWER))
    asked = job("command", command="review", args=[], user="maint", author_association="MEMBER")
    assert go(asked, services).startswith("reviewed by frontier: 1 comment (/review)")
    assert len(fake_anthropic.requests) == 1
    # The same command from another stranger is not enough; it is told so, in a reply.
    stranger.head = "c" * 40
    stranger.permissions["eve"] = "triage"
    summary = stranger.summary()
    other = job("command", command="review", args=[], user="eve", author_association="NONE")
    assert go(other, services).startswith("skipped: the asker has no write access")
    assert len(fake_anthropic.requests) == 1
    assert "**Not reviewed:** `eve` has no write access" in stranger.bodies()[-1]
    assert stranger.summary() == summary


def test_a_review_command_without_write_access_does_not_override_a_pause(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
) -> None:
    pause = job("command", command="pause", args=[], user="maint", author_association="MEMBER")
    assert go(pause, services) == "paused"
    github.permissions["eve"] = "triage"
    for args in ([], ["--local"]):
        asked = job("command", command="review", args=args, user="eve", comment_id=8)
        assert go(asked, services) == "skipped: paused"
        assert "Reviews on this pull request are paused" in github.bodies()[-1]
        assert "only someone with write access" in github.bodies()[-1]
    assert fake_anthropic.requests == []
    assert github.reviews == []
    # Write access, by association or through the permission API, overrides it.
    github.permissions["lead"] = "maintain"
    fake_anthropic.reply(message(FIRST_ANSWER))
    asked = job("command", command="review", args=[], user="lead", author_association="NONE")
    assert go(asked, services).startswith("reviewed by frontier: 1 comment (/review)")
    assert MARKERS.read_summary(github.summary())[0].paused, "still paused for pushes"


def test_a_strangers_review_command_on_a_maintainers_pull_request_gets_what_strangers_get(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
) -> None:
    """The pull request is by a MEMBER, but the one who asks is the one who spends."""
    github.permissions["eve"] = "read"
    asked = job("command", command="review", args=[], user="eve", comment_id=8)
    outcome = go(asked, services)
    assert outcome == "skipped: the asker has no write access and there is no local model"
    assert fake_anthropic.requests == []
    assert "**Not reviewed:** `eve` has no write access" in github.bodies()[-1]
    assert not [c for c in github.issue_comments if "tierbot:summary" in c["body"]]
    # With a local model, that model alone, never escalated however unsure it is.
    local = unsure_of_its_summary()
    github.settings_file = "routing:\n  threshold: 0\n"  # the change would go frontier
    assert go(asked, with_local(services, local)).startswith("reviewed by local: 1 comment")
    assert fake_anthropic.requests == []
    assert [r.system for r in local.requests] == [SYSTEM, VERIFY_SYSTEM], "its check local too"


def test_the_actions_plan_follows_the_same_rules_for_a_strangers_review_command(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
) -> None:
    """The Action decides the runner before it runs the pipeline: a stranger's `/review` on a
    maintainer's pull request needs the local tier only, and none at all while paused."""
    github.permissions["eve"] = "read"
    client = _LOOP[-1].run_until_complete(services.github_for(1))
    asked = Job("command", "octo", "app", 7, payload={"command": "review", "user": "eve"})

    def plan() -> Dispatch:
        made = dispatch_for(client, asked, services)
        return _LOOP[-1].run_until_complete(made)

    github.settings_file = "routing:\n  threshold: 0\n"  # the change would go frontier
    assert plan().tier is None  # no local model here, and never the frontier one
    assert any("not sent to the frontier model" in why for why in plan().reasons)
    pause = job("command", command="pause", args=[], user="maint", author_association="MEMBER")
    assert go(pause, services) == "paused"
    paused = plan()
    assert (paused.tier, paused.work) == (None, True)  # a runner only to say it is paused
    assert any("paused" in why for why in paused.reasons)


def test_a_maintainers_review_covers_the_pull_request_as_it_was_when_asked(
    services: Services,  # noqa: F811
    stranger: FakeGitHubAPI,
    fake_anthropic: FakeAnthropic,
    tmp_path: Path,
) -> None:
    """The author pushes between a maintainer's `/review` and the job: the new commits are not
    reviewed as the maintainer's (on the frontier model); a new `/review` is needed."""
    clock = FakeClock()
    queue = JobQueue(tmp_path / "queue.sqlite3", clock=clock)
    with_queue = replace(services, pushes=queue)
    pull = ("octo", "app", 7)
    queue.accept("d-1", "pull_request", "opened", [Job("review", *pull, head_sha="a" * 40)])
    clock.advance(60)
    asked = job(
        "command", command="review", args=[], user="maint", author_association="MEMBER",
        comment_id=8, queued_at=clock(),
    )  # fmt: skip
    clock.advance(2)
    stranger.head = "b" * 40
    queue.accept("d-2", "pull_request", "synchronize", [Job("review", *pull, head_sha="b" * 40)])
    assert go(asked, with_queue) == "skipped: pushed to after the command"
    assert fake_anthropic.requests == []
    assert "pushed to after @\u200dmaint asked for a review" in stranger.bodies()[-1]
    assert "Comment `/review` again" in stranger.bodies()[-1]
    # Asked again after the push, the review is the maintainer's.
    fake_anthropic.reply(message(FIRST_ANSWER))
    again = replace(asked, payload={**asked.payload, "queued_at": clock() + 1})
    assert go(again, with_queue).startswith("reviewed by frontier: 1 comment (/review)")
    queue.close()


def test_write_access_through_a_team_counts_when_the_association_does_not_say_so(
    services: Services,  # noqa: F811
    stranger: FakeGitHubAPI,
    fake_anthropic: FakeAnthropic,
) -> None:
    stranger.author_association = "CONTRIBUTOR"
    stranger.permissions["mallory"] = "maintain"
    fake_anthropic.reply(message(FIRST_ANSWER))
    assert go(job(), services).startswith("reviewed by frontier")


def test_untrusted_authors_none_leaves_the_pull_request_to_a_maintainer(
    services: Services,  # noqa: F811
    stranger: FakeGitHubAPI,
    fake_anthropic: FakeAnthropic,
) -> None:
    stranger.settings_file = "review:\n  untrusted_authors: none\n"
    local = ScriptedLocalModel()
    assert go(job(), with_local(services, local)) == "skipped: the author has no write access"
    assert local.requests == []
    assert "`review.untrusted_authors: none`" in stranger.summary()


def test_untrusted_authors_auto_routes_a_stranger_like_anyone_unless_the_operator_says_less(
    services: Services,  # noqa: F811
    stranger: FakeGitHubAPI,
    fake_anthropic: FakeAnthropic,
) -> None:
    stranger.settings_file = "review:\n  untrusted_authors: auto\n"
    fake_anthropic.reply(message(FIRST_ANSWER))
    assert go(job(), services).startswith("reviewed by frontier")
    # The operator's TIERBOT_UNTRUSTED_AUTHORS is the most any repo may allow.
    capped = replace(services, settings=Settings.from_env({"TIERBOT_UNTRUSTED_AUTHORS": "local"}))
    stranger.head = "d" * 40
    assert go(job(), capped).startswith("skipped: the author has no write access")
    assert len(fake_anthropic.requests) == 1


def test_a_strangers_question_gets_the_local_model_only(
    services: Services,  # noqa: F811
    github: FakeGitHubAPI,  # noqa: F811
    fake_anthropic: FakeAnthropic,
) -> None:
    github.permissions["mallory"] = "read"
    question = job(
        "command", command="ask", args=["Can get() fail?"], user="mallory",
        author_association="NONE", comment_id=4,
    )  # fmt: skip
    assert go(question, services) == "replied: /ask"
    assert fake_anthropic.requests == []
    reply = github.bodies()[-1]
    assert "I could not answer" in reply
    assert "not sent to the frontier model" in reply
    local = ScriptedLocalModel(answers=deque([json.loads(ANSWER)]))
    assert go(question, with_local(services, local)) == "replied: /ask"
    assert "It can raise KeyError." in github.bodies()[-1]
    assert fake_anthropic.requests == []
    github.settings_file = "review:\n  untrusted_authors: none\n"
    go(question, with_local(services, local))
    assert "answered for people with write access only" in github.bodies()[-1]


# --- the settings --------------------------------------------------------------------------------


def test_the_repo_setting_defaults_to_local_and_reports_bad_values() -> None:
    assert RepoSettings().untrusted_authors is Untrusted.LOCAL
    assert RepoSettings.from_yaml("review:\n  untrusted_authors: none\n").untrusted_authors == (
        Untrusted.NONE
    )
    bad = RepoSettings.from_yaml("review:\n  untrusted_authors: frontier\n")
    assert bad.untrusted_authors is Untrusted.LOCAL
    assert bad.problems == (
        "`review.untrusted_authors` must be none, local or auto, not 'frontier'; local used",
    )


def test_the_operator_setting_is_the_most_a_repo_may_allow() -> None:
    assert Settings.from_env({}).untrusted_authors is Untrusted.AUTO
    assert Settings.from_env({"TIERBOT_UNTRUSTED_AUTHORS": "None"}).untrusted_authors is (
        Untrusted.NONE
    )
    with pytest.raises(SettingsError, match="TIERBOT_UNTRUSTED_AUTHORS"):
        Settings.from_env({"TIERBOT_UNTRUSTED_AUTHORS": "frontier"})
    assert Untrusted.AUTO.at_most(Untrusted.LOCAL) is Untrusted.LOCAL
    assert Untrusted.NONE.at_most(Untrusted.AUTO) is Untrusted.NONE
    assert Untrusted.LOCAL.at_most(Untrusted.LOCAL) is Untrusted.LOCAL

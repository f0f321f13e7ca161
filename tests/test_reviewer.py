"""The review of one change, end to end: the real frontier backend against a fake Messages API,
the local model's stand-in, escalation, and failures that say so instead of "no issues"."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

from bot.adapters.models.anthropic import FrontierBackend
from bot.core.complexity import score
from bot.core.diff import ChangeSet, Side, parse
from bot.core.result import ReviewResult
from bot.core.routing import Decision, Models, Tier, decide
from bot.core.types import Backend, ErrorKind, ModelError
from bot.pipeline.review import review_change
from tests.builders import Edit, git_diff
from tests.fake_anthropic import (
    FakeAnthropic,
    error,
    fake_anthropic_fixture,  # noqa: F401 (the fake_anthropic fixture)
    message,
)
from tests.fakes import ScriptedLocalModel

KEY = "sk-ant-test-0123456789abcdef"
CHANGE = git_diff(
    Edit(
        "app/cache.py",
        context=["def get(key):"],
        added=["    value = store.get(key)", "    return value.decode()"],
        start=3,
    )
)
GOOD: dict[str, Any] = {
    "summary": "Reads from the store and decodes.",
    "comments": [
        {
            "path": "app/cache.py",
            "line": 5,
            "side": "RIGHT",
            "code": "    return value.decode()",
            "severity": "major",
            "category": "bug",
            "body": "`value` is None on a miss: this raises AttributeError.",
        },
        {
            "path": "app/cache.py",
            "line": 400,
            "side": "RIGHT",
            "code": "nothing that matches",
            "severity": "nit",
            "category": "readability",
            "body": "Stray.",
        },
    ],
}


def changes() -> ChangeSet:
    return parse(CHANGE)


def decision_for(tier: Tier) -> Decision:
    models = Models(local="qwen", frontier="claude-sonnet-5-5", local_window=8192)
    return decide(score(changes()), models, override=tier)


def frontier(fake: FakeAnthropic, key: str | None = KEY) -> FrontierBackend:
    return FrontierBackend("claude-sonnet-5-5", api_key=key, base_url=fake.base_url, max_retries=0)


def run(decision: Decision, backends: dict[Tier, Backend]) -> ReviewResult:
    async def go() -> ReviewResult:
        try:
            return await review_change(changes(), decision, backends)
        finally:
            for backend in backends.values():
                if isinstance(backend, FrontierBackend):
                    await backend.aclose()

    return asyncio.run(go())


def test_a_frontier_review_is_parsed_anchored_and_accounted(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply(message(json.dumps(GOOD), input_tokens=900, output_tokens=120))
    result = run(decision_for(Tier.FRONTIER), {Tier.FRONTIER: frontier(fake_anthropic)})
    assert result.failed is None
    assert result.tier is Tier.FRONTIER
    assert [(c.path, c.line, c.side) for c in result.comments] == [("app/cache.py", 5, Side.RIGHT)]
    assert result.anchored.dropped == {"cites a line the diff does not show": 1}
    assert result.summary == "Reads from the store and decodes."
    assert [c.state for c in result.coverage] == ["reviewed"]
    (attempt,) = result.attempts
    assert attempt.usage.input_tokens == 900
    assert attempt.usage.output_tokens == 120
    sent = fake_anthropic.requests[0].body
    assert "app/cache.py" in sent["messages"][0]["content"]
    assert sent["output_config"]["format"]["type"] == "json_schema"


def test_a_confident_local_review_stands_and_costs_no_frontier_request(
    fake_anthropic: FakeAnthropic,
) -> None:
    local = ScriptedLocalModel(answers=deque([GOOD | {"comments": GOOD["comments"][:1]}]))
    result = run(
        decision_for(Tier.LOCAL), {Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)}
    )
    assert result.tier is Tier.LOCAL
    assert result.escalation == ()
    assert len(result.comments) == 1
    assert fake_anthropic.requests == []
    assert result.attempts[0].verdict is not None
    assert not result.attempts[0].verdict.escalate


def test_an_unsure_local_review_escalates_and_the_frontier_review_replaces_it(
    fake_anthropic: FakeAnthropic,
) -> None:
    local_answer: dict[str, Any] = {
        "summary": "Maybe fine.",
        "comments": [GOOD["comments"][0] | {"body": "Might be a problem."}],
    }
    local = ScriptedLocalModel(answers=deque([local_answer]), entropy=2.5)
    fake_anthropic.reply(message(json.dumps(GOOD)))
    result = run(
        decision_for(Tier.LOCAL), {Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)}
    )
    assert result.tier is Tier.FRONTIER
    assert [a.tier for a in result.attempts] == [Tier.LOCAL, Tier.FRONTIER]
    assert any("mean token entropy 2.50" in reason for reason in result.escalation)
    assert result.comments[0].body.startswith("`value` is None")
    assert result.summary == "Reads from the store and decodes."
    assert len(fake_anthropic.requests) == 1


def test_local_garbage_escalates(fake_anthropic: FakeAnthropic) -> None:
    """A local answer that is not the JSON asked for is redone by the frontier model."""
    local = ScriptedLocalModel(answers=deque(["Sure! Here is my review: looks good"]))
    fake_anthropic.reply(message(json.dumps(GOOD)))
    result = run(
        decision_for(Tier.LOCAL), {Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)}
    )
    assert result.tier is Tier.FRONTIER
    assert any("not usable" in reason for reason in result.escalation)


def test_local_garbage_without_a_frontier_model_is_a_failed_review_not_no_issues(
    fake_anthropic: FakeAnthropic,
) -> None:
    local = ScriptedLocalModel(answers=deque(["no json here"]))
    result = run(
        decision_for(Tier.LOCAL),
        {Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic, key=None)},
    )
    assert result.failed is not None
    assert "not usable" in result.failed
    assert any("not escalated: no frontier model" in r for r in result.escalation)
    assert [c.state for c in result.coverage] == ["skipped"]


def test_a_local_request_error_escalates(fake_anthropic: FakeAnthropic) -> None:
    local = ScriptedLocalModel(
        answers=deque([ModelError(ErrorKind.TOO_LARGE, "prompt exceeds the window")])
    )
    fake_anthropic.reply(message(json.dumps(GOOD)))
    result = run(
        decision_for(Tier.LOCAL), {Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)}
    )
    assert result.tier is Tier.FRONTIER
    assert any("a request failed" in r and "too-large" in r for r in result.escalation)
    assert result.failed is None


def test_a_frontier_outage_fails_the_review_with_the_reason(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply(error(529, "overloaded_error"))
    result = run(decision_for(Tier.FRONTIER), {Tier.FRONTIER: frontier(fake_anthropic)})
    assert result.failed is not None
    assert "overloaded" in result.failed
    assert result.comments == ()
    assert all(c.state == "skipped" and "overloaded" in c.reason for c in result.coverage)


def test_a_decision_that_cannot_run_fails_before_any_request(
    fake_anthropic: FakeAnthropic,
) -> None:
    models = Models(
        local="q", frontier="claude-sonnet-5-5", local_window=8192, local_unavailable="no GPU"
    )
    decision = decide(score(changes()), models, override=Tier.LOCAL)
    result = run(decision, {Tier.FRONTIER: frontier(fake_anthropic)})
    assert result.failed is not None
    assert "no GPU" in result.failed
    assert fake_anthropic.requests == []


def test_repo_escalation_thresholds_decide_when_a_local_review_is_redone(
    fake_anthropic: FakeAnthropic,
) -> None:
    from bot.core.repo_settings import RepoSettings

    strict = RepoSettings.from_yaml("escalation:\n  mean_entropy: 0.05\n")
    local = ScriptedLocalModel(answers=deque([GOOD]), entropy=0.2)
    fake_anthropic.reply(message(json.dumps(GOOD)))

    async def go() -> ReviewResult:
        backend = frontier(fake_anthropic)
        try:
            return await review_change(
                changes(),
                decision_for(Tier.LOCAL),
                {Tier.LOCAL: local, Tier.FRONTIER: backend},
                repo=strict,
            )
        finally:
            await backend.aclose()

    result = asyncio.run(go())
    assert result.tier is Tier.FRONTIER
    assert any("limit 0.05" in reason for reason in result.escalation)


def test_an_outage_is_transient_but_garbage_is_not(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply(error(529, "overloaded_error"))
    outage = run(decision_for(Tier.FRONTIER), {Tier.FRONTIER: frontier(fake_anthropic)})
    assert outage.transient
    fake_anthropic.reply(message("not json"))
    garbage = run(decision_for(Tier.FRONTIER), {Tier.FRONTIER: frontier(fake_anthropic)})
    assert garbage.failed is not None
    assert not garbage.transient


# --- secrets: what each tier sees, and the bot's own comments on them ---------------------------

AWS_SECRET = "3qAAEW8+HZqJLGgm" + "nvmdCUpbWYiuk/xaP+PWtlhG"
PR_TOKEN = "ghp_" + "Zr8Kq2Lm5Nx7Vb3Cd9Fg1Hj4Tw6Ys0Pa2Qe"
LEAKY = git_diff(
    Edit(
        "app/cache.py",
        context=["def get(key):"],
        added=[f'    AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"', "    return value.decode()"],
        start=3,
    )
)
LEAKY_CONTEXT = f"Cache lookups\n\nDeploy with GITHUB_TOKEN={PR_TOKEN} if CI is down."


def review_leaky(
    backends: dict[Tier, Backend], repo: Any = None, tier: Tier = Tier.LOCAL
) -> ReviewResult:
    models = Models(local="qwen", frontier="claude-sonnet-5-5", local_window=8192)
    change = parse(LEAKY)

    async def go() -> ReviewResult:
        try:
            return await review_change(
                change,
                decide(score(change), models, override=tier),
                backends,
                repo=repo,
                context=LEAKY_CONTEXT,
            )
        finally:
            for backend in backends.values():
                if isinstance(backend, FrontierBackend):
                    await backend.aclose()

    return asyncio.run(go())


def sent_text(request: Any) -> str:
    return json.dumps(request.body)


def test_the_local_model_sees_secrets_redacted_by_default(fake_anthropic: FakeAnthropic) -> None:
    local = ScriptedLocalModel(answers=deque([{"summary": "", "comments": []}]))
    result = review_leaky({Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)})
    assert result.tier is Tier.LOCAL
    (request,) = local.requests
    assert AWS_SECRET not in request.prompt
    assert PR_TOKEN not in request.prompt
    assert '4 +    AWS_SECRET_ACCESS_KEY = "<redacted:aws-secret-key>"' in request.prompt
    assert "<redacted:github-token>" in request.prompt
    assert result.redactions == 2


def test_a_repo_may_show_secrets_to_its_local_model_but_never_to_the_frontier_model(
    fake_anthropic: FakeAnthropic,
) -> None:
    from bot.core.repo_settings import RepoSettings

    repo = RepoSettings.from_yaml("privacy:\n  redact_local: false\n")
    local = ScriptedLocalModel(answers=deque(["not json"]))  # unusable: escalates
    fake_anthropic.reply(message(json.dumps({"summary": "", "comments": []})))
    result = review_leaky({Tier.LOCAL: local, Tier.FRONTIER: frontier(fake_anthropic)}, repo)
    assert [a.tier for a in result.attempts] == [Tier.LOCAL, Tier.FRONTIER]
    (shown,) = local.requests
    assert AWS_SECRET in shown.prompt
    assert PR_TOKEN in shown.prompt
    (sent,) = fake_anthropic.requests
    assert AWS_SECRET not in sent_text(sent)
    assert PR_TOKEN not in sent_text(sent)
    assert "<redacted:aws-secret-key>" in sent_text(sent)


def test_a_committed_secret_is_a_comment_even_when_the_model_review_fails(
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.reply(message("not json"))
    result = review_leaky({Tier.FRONTIER: frontier(fake_anthropic)}, tier=Tier.FRONTIER)
    assert result.failed is not None
    (comment,) = result.secrets
    assert (comment.path, comment.line, comment.severity.value, comment.category) == (
        "app/cache.py",
        4,
        "critical",
        "security",
    )
    assert "an AWS secret access key" in comment.body
    assert AWS_SECRET not in comment.body


def test_the_models_own_remark_on_a_secret_line_gives_way_to_the_bots_comment(
    fake_anthropic: FakeAnthropic,
) -> None:
    remark = {
        "path": "app/cache.py",
        "line": 4,
        "side": "RIGHT",
        "code": 'AWS_SECRET_ACCESS_KEY = "<redacted:aws-secret-key>"',
        "severity": "critical",
        "category": "security",
        "body": "A hard-coded AWS secret key is committed here.",
    }
    fake_anthropic.reply(message(json.dumps({"summary": "", "comments": [remark]})))
    result = review_leaky({Tier.FRONTIER: frontier(fake_anthropic)}, tier=Tier.FRONTIER)
    assert result.comments == ()
    assert result.anchored.merged == 1
    assert [(c.path, c.line) for c in result.secrets] == [("app/cache.py", 4)]

"""A shadowed pull request through the GitHub App, end to end: the real App of
tests/test_app_e2e.py (signed deliveries, the SQLite queue and its workers, GitHub's API served by
Prism through the proxy), the frontier model on the fake Messages API, and the local model as
the CPU stand-in of tests/fakes.py (the real one needs a CUDA GPU), put in the workers' services.
The repo's settings shadow every local review; the local review is posted, the frontier one is
not, the summary says the shadow ran and what it cost, and the ledger holds both reviews and
their match."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.adapters.ledger import Ledger
from bot.core.repo_settings import REPO_SETTINGS_PATH
from bot.core.routing import Tier
from tests.fake_anthropic import FakeAnthropic, fake_anthropic_fixture, message  # noqa: F401
from tests.fakes import ScriptedLocalModel
from tests.github_proxy import GitHubProxy, github_proxy_fixture  # noqa: F401
from tests.prism import Prism, prism_fixture  # noqa: F401
from tests.test_app_e2e import (
    ANSWER,
    CODE,
    DIFF,
    LINE,
    OWNER,
    PATH,
    REPO,
    App,
    app,
    comments_path,
    opened,
    reviews_path,
    run,
)
from tests.webhooks import need_real_deliveries

NUMBER = 5
# The frontier model finds what the local model found, in other words and a line higher, and
# a second problem the local model missed.
FRONTIER_ANSWER = {
    "summary": "Adds a mean.",
    "comments": [
        {
            "path": PATH,
            "line": LINE - 1,
            "side": "RIGHT",
            "code": "def mean(values):",
            "severity": "critical",
            "category": "bug",
            "body": "An empty list makes `len(values)` zero: ZeroDivisionError.",
        },
        {
            "path": PATH,
            "line": LINE,
            "side": "RIGHT",
            "code": CODE.strip(),
            "severity": "major",
            "category": "performance",
            "body": "Sums a generator twice when called in a loop.",
        },
    ],
}


def rows(database: Path, sql: str) -> list[dict[str, Any]]:
    ledger = Ledger(f"sqlite:///{database}")
    try:
        with ledger.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(sql))]
    finally:
        ledger.close()


def test_a_shadowed_pull_request_posts_the_local_review_and_the_ledger_holds_both(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries()
    github_proxy.diffs[(OWNER, REPO, NUMBER)] = DIFF
    github_proxy.files[(OWNER, REPO, REPO_SETTINGS_PATH)] = "shadow:\n  share: 1\n"
    fake_anthropic.reply(message(json.dumps(FRONTIER_ANSWER), input_tokens=1000, output_tokens=200))
    local = ScriptedLocalModel(answers=deque([ANSWER]))
    since = prism.mark()

    async def scenario() -> App:
        async with app(tmp_path, github_proxy, fake_anthropic) as bot:
            services = bot.server.workers.services
            bot.server.workers.services = replace(
                services,
                backends={**services.backends, Tier.LOCAL: local},
                models=replace(services.models, local_unavailable=None),
            )
            accepted = await bot.deliver("pull_request", opened(NUMBER))
            assert accepted.status_code == 202, accepted.text
            assert await bot.run_jobs() == 1
            return bot

    bot = run(scenario())
    assert bot.outcomes == [("done", "reviewed by local: 1 comment (pull_request.opened)")]
    # Both models saw the change.
    # The local model reviewed, then checked its comment before posting (review.verify).
    local_asked, _checked = local.requests
    assert CODE.strip() in local_asked.prompt
    (frontier_asked,) = fake_anthropic.requests
    assert CODE.strip() in json.dumps(frontier_asked.body)

    # Only the local review is posted; the frontier model's words appear nowhere on GitHub.
    (review,) = github_proxy.find("POST", reviews_path(NUMBER))
    (inline,) = review.body["comments"]
    assert (inline["path"], inline["line"]) == (PATH, LINE)
    assert "Divides by zero" in inline["body"]
    written = json.dumps([e.body for e in github_proxy.exchanges() if e.method != "GET"])
    assert "ZeroDivisionError" not in written
    assert "generator twice" not in written
    (summary,) = github_proxy.find("POST", comments_path(NUMBER))
    text = summary.body["body"]
    assert "by the **local** model `qwen2.5-coder-14b-exl2`" in text
    # 1,000 tokens in at $2 and 200 out at $10 per million.
    assert (
        "**Shadow review:** the frontier model `claude-sonnet-5-5` also reviewed this change, "
        "without posting, to measure what the local model misses: both found 1, only the "
        "frontier model 1, only the local model 0; it cost $0.0040, which the month's spend "
        "includes."
    ) in text
    assert prism.problems(since) == []

    # The ledger: the local review, the shadow beside it, the match, and the shadow's charge.
    (reviewed,) = rows(bot.database, "SELECT id, tier, comments_posted FROM ledger_reviews")
    assert (reviewed["tier"], reviewed["comments_posted"]) == ("local", 1)
    (shadow,) = rows(bot.database, "SELECT * FROM ledger_shadows")
    assert (shadow["review_id"], shadow["state"], shadow["model"]) == (
        reviewed["id"],
        "done",
        "claude-sonnet-5-5",
    )
    assert (shadow["repo"], shadow["number"], shadow["installation_id"]) == (
        f"{OWNER}/{REPO}",
        NUMBER,
        1,
    )
    findings = rows(
        bot.database,
        "SELECT found_by, line, severity, local_severity, frontier_severity, category "
        "FROM ledger_shadow_findings ORDER BY found_by",
    )
    assert findings == [
        {
            "found_by": "both",
            "line": LINE - 1,
            "severity": "critical",
            "local_severity": "major",
            "frontier_severity": "critical",
            "category": "bug",
        },
        {
            "found_by": "frontier",
            "line": LINE,
            "severity": "major",
            "local_severity": None,
            "frontier_severity": "major",
            "category": "performance",
        },
    ]
    requests = rows(
        bot.database, "SELECT id, task, tier, usd, review_id FROM ledger_requests ORDER BY id"
    )
    assert [(r["task"], r["tier"]) for r in requests] == [
        ("review", "local"),
        ("verify", "local"),
        ("shadow", "frontier"),
    ]
    assert requests[2]["usd"] == 4_000_000  # $0.004 in nano-dollars
    assert (requests[2]["id"], requests[2]["review_id"]) == (shadow["request_id"], reviewed["id"])

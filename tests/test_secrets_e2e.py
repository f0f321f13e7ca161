"""No secret leaves, end to end through the GitHub App: the project's corpus of pull requests
with planted fake secrets (tests/corpus/secrets) delivered as real signed webhooks, GitHub served
by Prism behind tests/github_proxy.py, the frontier model by the fake Messages API, the ledger
and queue in their SQLite file, logs through the process's own configuration (bot.adapters.logs).

No planted value may reach the model's requests, the logs, the SQLite file or anything sent to
GitHub; every secret an added line commits gets one comment on that line; and the comments go
out even when the model review fails. An `/ask` carrying secrets, a key pasted and passwords
written in sentences, is answered without them.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from bot.adapters import logs
from bot.core.secrets.redaction import describe
from tests.fake_anthropic import FakeAnthropic, error, fake_anthropic_fixture, message  # noqa: F401
from tests.github_proxy import GitHubProxy, github_proxy_fixture  # noqa: F401
from tests.prism import Prism, prism_fixture  # noqa: F401
from tests.secret_corpus import diff_text, leaked, planted
from tests.test_app_e2e import OWNER, REPO, App, app, comments_path, opened, reviews_path, run
from tests.webhooks import need_real_deliveries, pr_comment

CONFIG_PR, KEYS_PR, OPS_PR = 21, 22, 23
CONFIG, KEYS, OPS = "service-config.diff", "keys-and-clients.diff", "ops-and-docs.diff"
# Passwords an `/ask` writes in sentences (fake, never valid).
SAID = ("Xq7" + "vTn2pLw9Rk", "Gd4" + "mQz8sHy1Jc")
# The model points out a real problem on a line without a secret, and one with a placeholder.
ANSWER = {
    "summary": "Adds production settings.",
    "comments": [
        {
            "path": "config/settings.py",
            "line": 8,
            "side": "RIGHT",
            "code": 'DATABASE_PASSWORD = os.environ["DATABASE_PASSWORD"]',
            "severity": "minor",
            "category": "error-handling",
            "body": "A missing variable raises KeyError at import; say which one is missing.",
        }
    ],
}


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The process's logs, configured as `tierbot serve` configures them, into a buffer."""
    buffer = io.StringIO()
    logs.configure(buffer)
    try:
        yield buffer
    finally:
        structlog.reset_defaults()


def database_text(path: Path) -> str:
    """Every row of every table in the SQLite file (ledger and queue), as text."""
    with sqlite3.connect(path) as connection:
        return "\n".join(connection.iterdump())


def sent_to_github(proxy: GitHubProxy) -> str:
    return "\n".join(
        f"{e.method} {e.path}?{e.query}\n{json.dumps(e.body)}" for e in proxy.exchanges()
    )


def inline_comments(proxy: GitHubProxy, number: int) -> list[dict[str, object]]:
    return [c for e in proxy.find("POST", reviews_path(number)) for c in e.body["comments"]]


def test_no_planted_secret_leaves_and_each_committed_one_gets_its_comment(
    tmp_path: Path,
    prism: Prism,
    github_proxy: GitHubProxy,
    fake_anthropic: FakeAnthropic,
    log_output: io.StringIO,
) -> None:
    need_real_deliveries()
    github_proxy.diffs[(OWNER, REPO, CONFIG_PR)] = diff_text(CONFIG)
    github_proxy.diffs[(OWNER, REPO, KEYS_PR)] = diff_text(KEYS)
    github_proxy.diffs[(OWNER, REPO, OPS_PR)] = diff_text(OPS)
    stripe = next(p.value for p in planted(CONFIG) if p.kind == "stripe-key")
    ask = pr_comment(
        f"/ask Is {stripe} a live key, and should it be here? The staging password is "
        f"{SAID[0]} and the admin creds: admin / {SAID[1]}"
    )
    github_proxy.diffs[(OWNER, REPO, ask["issue"]["number"])] = diff_text(CONFIG)
    fake_anthropic.reply(
        message(json.dumps(ANSWER), input_tokens=3000, output_tokens=200),
        # The second pull request's review fails for good: its secrets are still commented on.
        error(400, "invalid_request_error", "prompt is malformed"),
        message(json.dumps(ANSWER), input_tokens=3000, output_tokens=200),
        message(json.dumps({"answer": "It is a live Stripe key; rotate it."})),
    )
    since = prism.mark()

    async def scenario() -> App:
        async with app(tmp_path, github_proxy, fake_anthropic) as bot:
            for number in (CONFIG_PR, KEYS_PR, OPS_PR):
                accepted = await bot.deliver("pull_request", opened(number))
                assert accepted.status_code == 202, accepted.text
            accepted = await bot.deliver("issue_comment", ask)
            assert accepted.status_code == 202, accepted.text
            assert await bot.run_jobs() == 4
            return bot

    bot = run(scenario())
    outcomes = [detail for _, detail in bot.outcomes]
    assert outcomes[0].startswith("reviewed by frontier: "), outcomes
    assert outcomes[1].startswith("failed: "), outcomes
    assert outcomes[2].startswith("reviewed by frontier: "), outcomes
    assert outcomes[3] == "replied: /ask"
    assert len(fake_anthropic.requests) == 4

    # Nothing planted reached the model, the logs, the database file or GitHub.
    def said(text: str) -> list[str]:
        return [value for value in SAID if value in text]

    for request in fake_anthropic.requests:
        assert leaked(request.raw.decode()) == []
        assert said(request.raw.decode()) == []
    assert leaked(log_output.getvalue()) == []
    assert "job done" in log_output.getvalue()  # the logs were really captured
    assert leaked(database_text(bot.database)) == []
    assert leaked(sent_to_github(github_proxy)) == []
    for text in (log_output.getvalue(), database_text(bot.database), sent_to_github(github_proxy)):
        assert said(text) == []
    assert stripe not in database_text(bot.database)  # the question is queued redacted too

    # The model saw where the secrets were, by kind, in the files it was shown (a minified
    # bundle is not shown, only listed as skipped).
    for index, name in ((0, CONFIG), (2, OPS)):
        shown = fake_anthropic.requests[index].raw.decode()
        for secret in planted(name):
            if f"### {secret.path} (" in shown:
                assert f"<redacted:{secret.kind}>" in shown, secret
    shown = fake_anthropic.requests[2].raw.decode()
    assert "### dist/app.min.js (" not in shown
    assert all(f"### {path} (" in shown for path in ("deploy/signing.py", "docs/operations.md"))
    assert "<redacted:password>" in fake_anthropic.requests[3].raw.decode()

    # One comment of the bot's own on each line that commits a secret, on every pull request.
    for number, name in ((CONFIG_PR, CONFIG), (KEYS_PR, KEYS), (OPS_PR, OPS)):
        comments = inline_comments(github_proxy, number)
        secret_comments = [c for c in comments if str(c["body"]).startswith("**Committed secret")]
        where = sorted((str(c["path"]), int(str(c["line"]))) for c in secret_comments)
        wanted = sorted({(p.path, p.line) for p in planted(name) if p.commented})
        assert where == wanted, name
        assert all(c["side"] == "RIGHT" for c in secret_comments)
        for secret in planted(name):
            if secret.commented:
                (comment,) = [
                    c
                    for c in secret_comments
                    if (c["path"], c["line"]) == (secret.path, secret.line)
                ]
                assert describe(secret.kind) in str(comment["body"]), secret
    # The model's own remark was posted beside them.
    assert any(
        c["path"] == "config/settings.py" and c["line"] == 8
        for c in inline_comments(github_proxy, CONFIG_PR)
    )

    # The summaries count the secrets; the failed review says it was not reviewed.
    summaries = {
        number: [e.body["body"] for e in github_proxy.find("POST", comments_path(number))]
        for number in (CONFIG_PR, KEYS_PR, OPS_PR)
    }
    commented = {
        name: len({(p.path, p.line) for p in planted(name) if p.commented})
        for name in (CONFIG, KEYS, OPS)
    }
    (config_summary,) = summaries[CONFIG_PR]
    assert f"**Committed secrets:** {commented[CONFIG]} lines of this change add" in config_summary
    (keys_summary,) = summaries[KEYS_PR]
    assert "**This pull request was not reviewed" in keys_summary
    assert f"**Committed secrets:** {commented[KEYS]} lines of this change add" in keys_summary
    (ops_summary,) = summaries[OPS_PR]
    assert f"**Committed secrets:** {commented[OPS]} lines of this change add" in ops_summary

    # The /ask reply quotes the question without the key.
    (reply,) = [
        e.body["body"]
        for e in github_proxy.find("POST", comments_path(ask["issue"]["number"]))
        if "Answered by" in e.body["body"]
    ]
    assert "It is a live Stripe key; rotate it." in reply
    assert "redacted:stripe-key" in reply
    assert prism.problems(since) == []


def test_the_actions_log_step_summary_and_outputs_carry_no_secret(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic
) -> None:
    """The Action, as a runner starts it, on the keys pull request, with a provider error that
    echoes a planted key back: the error is reported everywhere, the key nowhere."""
    from tests.test_action import opened as action_event
    from tests.test_action import run_action

    need_real_deliveries(signing=False)
    github_proxy.diffs[(OWNER, REPO, KEYS_PR)] = diff_text(KEYS)
    echoed = next(p.value for p in planted(KEYS) if p.kind == "sendgrid-key")
    fake_anthropic.reply(
        error(400, "invalid_request_error", f"cannot read the prompt near {echoed}")
    )

    step = run_action(
        tmp_path,
        "pull_request",
        action_event(KEYS_PR),
        proxy=github_proxy,
        anthropic=fake_anthropic,
        mode="review",
    )

    assert "cannot read the prompt near <redacted:sendgrid-key>" in step.summary
    for text in (step.log, step.summary, step.raw_outputs, sent_to_github(github_proxy)):
        assert leaked(text) == []
    where = sorted(
        (str(c["path"]), int(str(c["line"])))
        for c in inline_comments(github_proxy, KEYS_PR)
        if str(c["body"]).startswith("**Committed secret")
    )
    assert where == sorted({(p.path, p.line) for p in planted(KEYS) if p.commented})

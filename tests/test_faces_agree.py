"""Every face gets the same answer for the same pull request: the App (a webhook's event routed,
queued and run by a worker), the Action (its route step, then its review step) and
`tierbot review PR_URL` make the same decision, send the model the same prompt and produce the
same comments, with the same settings file, the same fake GitHub (tests/fake_github_api.py,
served over HTTP) and the same fake Messages API (tests/fake_anthropic.py). A deletion-only pull
request is "nothing to review" on every face, and no model is asked.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.github import GitHub
from bot.adapters.ledger import Ledger
from bot.adapters.models.backends import backends_for, close_backends
from bot.adapters.prices import PriceTable
from bot.adapters.queue import JobQueue
from bot.adapters.settings import Settings
from bot.faces.action.modes import act
from bot.faces.app.events import EventSettings, route
from bot.faces.app.worker import Workers
from bot.faces.cli.main import main
from bot.pipeline.services import GitHubClient, Services
from tests.builders import Edit, code_lines, git_diff
from tests.fake_anthropic import (
    FakeAnthropic,
    Received,
    fake_anthropic_fixture,  # noqa: F401 (the fake_anthropic fixture)
    message,
)
from tests.fake_github_api import FakeGitHubAPI
from tests.test_action import parse_outputs

OWNER, REPO, NUMBER = "octo", "app", 7
APP_LOGIN = "tierbot[bot]"
SETTINGS_FILE = (
    "routing:\n  frontier_paths: ['net/**']\n"
    "review:\n  instructions: Check the retry bounds.\n"
    "exclude: ['vendor/']\n"
)
DIFF = git_diff(
    Edit("net/retry.py", added=code_lines(8, "attempt"), start=10),
    Edit("vendor/lib.js", added=["x = 1"]),
)
ANSWER = {
    "summary": "Adds a retry loop.",
    "comments": [
        {
            "path": "net/retry.py",
            "line": 11,
            "side": "RIGHT",
            "code": "    if attempt_1 and check_1(attempt):",
            "severity": "major",
            "category": "bug",
            "body": "The loop never ends when check_1 keeps failing.",
        }
    ],
}
BOUNDARY = re.compile(r"\b[0-9a-f]{16}\b")  # each request draws its own data-boundary token


def fake_github(diff: str = DIFF) -> FakeGitHubAPI:
    github = FakeGitHubAPI(owner=OWNER, repo=REPO, number=NUMBER, diff=diff)
    github.settings_file = SETTINGS_FILE
    return github


def event() -> dict[str, Any]:
    """A `pull_request.opened` delivery as GitHub sends it, with the fields routing reads."""
    return {
        "action": "opened",
        "number": NUMBER,
        "pull_request": {
            "number": NUMBER,
            "draft": False,
            "head": {"sha": "a" * 40, "repo": {"full_name": f"{OWNER}/{REPO}"}},
            "user": {"login": "mona", "type": "User"},
            "author_association": "MEMBER",
        },
        "repository": {"name": REPO, "full_name": f"{OWNER}/{REPO}", "owner": {"login": OWNER}},
        "installation": {"id": 1},
        "sender": {"login": "mona", "type": "User"},
    }


def prompt(request: Received) -> str:
    """What the model was sent (system and messages), its data-boundary token set aside."""
    body = request.body
    return BOUNDARY.sub("TOKEN", json.dumps([body["system"], body["messages"]], sort_keys=True))


def comments(github: FakeGitHubAPI) -> list[tuple[str, int, str, str]]:
    """The inline comments of the review posted on the fake, without their signed trailers."""
    (review,) = github.reviews
    return [(c["path"], c["line"], c["side"], _text(c["body"])) for c in review["comments"]]


def _text(body: str) -> str:
    """A comment's text without the fingerprint trailer the posted comment ends in."""
    text, _, last = body.rpartition("\n\n")
    return text if text and last.startswith("<!--") else body


def run_app(tmp_path: Path, github: FakeGitHubAPI, settings: Settings) -> str:
    """The App: the delivery routed to jobs, stored in the queue, run by a worker."""

    async def go() -> str:
        with github.served() as url:
            client = GitHub("ghs_installation", url, bot_login=APP_LOGIN, marker_key=b"k" * 32)

            async def github_for(_installation: int | None) -> GitHubClient:
                return client

            backends, models = backends_for(settings)
            ledger = Ledger(f"sqlite:///{tmp_path / 'app.sqlite3'}")
            ledger.migrate()
            queue = JobQueue(tmp_path / "queue.sqlite3")
            outcomes: list[str] = []
            services = Services(
                settings, PriceTable.load(), backends, models, github_for, ledger=ledger
            )
            workers = Workers(
                queue, services, on_outcome=lambda _k, _s, detail: outcomes.append(detail)
            )
            routed = route("pull_request", event(), bot_login=APP_LOGIN, settings=EventSettings())
            queue.accept("delivery-1", "pull_request", "opened", routed.jobs)
            try:
                assert await workers.run_once("test")
            finally:
                queue.close()
                ledger.close()
                await close_backends(backends)
            (outcome,) = outcomes
            return outcome

    return asyncio.run(go())


def run_action(
    tmp_path: Path, github: FakeGitHubAPI, settings: Settings, mode: str
) -> tuple[int, dict[str, str], str]:
    """The Action in one mode, in this process: its exit code, outputs and step log."""
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event()), encoding="utf-8")
    output = tmp_path / f"output-{mode}"
    output.write_text("", encoding="utf-8")
    log = io.StringIO()
    with github.served() as url:
        env = {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event_file),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(tmp_path / f"summary-{mode}"),
            "GITHUB_TOKEN": "ghs_workflowtoken",
            "GITHUB_API_URL": url,
            "GITHUB_REPOSITORY": f"{OWNER}/{REPO}",
            "RUNNER_ENVIRONMENT": "github-hosted",
            "INPUT_MODE": mode,
        }
        code = act(env, settings, log)
    return code, parse_outputs(output.read_text(encoding="utf-8")), log.getvalue()


def run_cli(
    capsys: pytest.CaptureFixture[str], github: FakeGitHubAPI, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """`tierbot review PR_URL --json` through the real entry point; what it printed."""
    capsys.readouterr()  # what the other faces logged before
    with github.served() as url:
        monkeypatch.setenv("TIERBOT_GITHUB_API_URL", url)
        code = main(["review", f"https://github.com/{OWNER}/{REPO}/pull/{NUMBER}", "--json"])
    return code, capsys.readouterr().out


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_anthropic: FakeAnthropic) -> Settings:
    """One set of process settings for every face: the frontier model behind the fake, no
    local model; the CLI reads the same from its environment."""
    for name in ("GITHUB_TOKEN", "TIERBOT_LOCAL_MODEL_DIR", "TIERBOT_GITHUB_APP_SLUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.base_url)
    monkeypatch.setenv("TIERBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    return Settings(
        anthropic_api_key="sk-ant-test-0123456789", anthropic_base_url=fake_anthropic.base_url
    )


def test_the_app_the_action_and_the_cli_decide_prompt_and_comment_alike(
    tmp_path: Path,
    env: Settings,
    fake_anthropic: FakeAnthropic,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reply = message(json.dumps(ANSWER), input_tokens=2_000, output_tokens=300)
    fake_anthropic.reply(reply, reply, reply)

    app = fake_github()
    app_outcome = run_app(tmp_path, app, env)
    assert app_outcome == "reviewed by frontier: 1 comment (pull_request.opened)"

    routed = fake_github()
    code, route_out, log = run_action(tmp_path, routed, env, "route")
    assert code == 0, log
    assert [m for m, _ in routed.calls if m != "GET"] == []  # the route step posts nothing
    assert len(fake_anthropic.requests) == 1  # nor asks a model

    action = fake_github()
    code, review_out, log = run_action(tmp_path, action, env, "review")
    assert code == 0, log

    cli = fake_github()
    code, printed = run_cli(capsys, cli, monkeypatch)
    assert code == 0, printed
    out = json.loads(printed)
    assert cli.reviews == []  # a dry run posts nothing
    assert cli.issue_comments == []

    # The same decision.
    app_reasons = [line for line in app.summary().split("\n") if line.startswith("**Why")]
    assert app_reasons == [
        line for line in action.summary().split("\n") if line.startswith("**Why")
    ]
    assert route_out["tier"] == review_out["tier"] == out["decision"]["tier"] == "frontier"
    assert route_out["score"] == review_out["score"] == str(out["decision"]["score"])
    assert route_out["reasons"] == review_out["reasons"] == "\n".join(out["decision"]["reasons"])
    assert "repo settings send net/retry.py to the frontier model" in out["decision"]["reasons"]
    assert out["excluded"] == ["vendor/lib.js"]

    # The same prompt: the App's, the Action's review step's and the CLI's requests.
    assert len(fake_anthropic.requests) == 3
    prompts = [prompt(r) for r in fake_anthropic.requests]
    assert prompts[0] == prompts[1] == prompts[2]
    assert "Cache lookups" in prompts[0]  # the pull request's title and body, on every face
    assert "Adds a cache." in prompts[0]
    assert "Check the retry bounds." in prompts[0]  # the settings file from the default branch
    assert "vendor/lib.js" not in prompts[0]

    # The same comments.
    posted = comments(app)
    assert posted == comments(action)
    assert posted == [(c["path"], c["line"], c["side"], c["body"]) for c in out["comments"]]
    assert [c["severity"] for c in out["comments"]] == ["major"]
    ((path, line, side, text),) = posted
    assert (path, line, side) == ("net/retry.py", 11, "RIGHT")
    assert "The loop never ends when check_1 keeps failing." in text
    assert review_out["comments"] == "1"


def test_a_deletion_only_pull_request_is_nothing_to_review_on_every_face(
    tmp_path: Path,
    env: Settings,
    fake_anthropic: FakeAnthropic,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deleted = git_diff(Edit("net/old.py", removed=code_lines(6, "gone"), status="deleted"))

    app = fake_github(deleted)
    assert run_app(tmp_path, app, env).startswith("nothing to review: no changed file has lines")
    assert "**Nothing to review:**" in app.summary()
    assert app.reviews == []

    routed = fake_github(deleted)
    code, route_out, log = run_action(tmp_path, routed, env, "route")
    assert code == 0, log
    assert route_out["tier"] == "none"  # no model is needed
    assert "no changed file has lines a model could review" in route_out["reasons"]

    action = fake_github(deleted)
    code, review_out, log = run_action(tmp_path, action, env, "review")
    assert code == 0, log
    assert "tierbot: nothing to review: no changed file has lines" in log
    assert "**Nothing to review:**" in action.summary()
    assert (review_out["tier"], review_out["comments"]) == ("none", "0")

    code, printed = run_cli(capsys, fake_github(deleted), monkeypatch)
    assert code == 0
    nothing = json.loads(printed)["nothing_to_review"]
    assert nothing.startswith("no changed file has lines a model could review")
    assert "net/old.py (deleted file (6 lines))" in nothing

    diff_file = tmp_path / "deleted.diff"
    diff_file.write_text(deleted, encoding="utf-8")
    assert main(["review", "--json", "--diff", str(diff_file)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nothing_to_review"].startswith("no changed file has lines a model could review")
    assert out["reviewed"] is False
    assert out["comments"] == []
    assert fake_anthropic.requests == []


def test_the_actions_auto_mode_reads_the_pull_request_once(
    tmp_path: Path, env: Settings, fake_anthropic: FakeAnthropic
) -> None:
    """Auto mode routes and reviews on one preparation: the pull request and its diff are read
    once each (they were read three times), the settings file once, and the review is posted."""
    fake_anthropic.reply(message(json.dumps(ANSWER), input_tokens=2_000, output_tokens=300))
    github = fake_github()
    code, out, log = run_action(tmp_path, github, env, "auto")
    assert code == 0, log
    assert out["tier"] == "frontier"
    reads = [path for method, path in github.calls if method == "GET"]
    assert reads.count(f"/repos/{OWNER}/{REPO}/pulls/{NUMBER}") == 2  # the pull request, its diff
    assert sum(path.startswith(f"/repos/{OWNER}/{REPO}/contents/") for path in reads) == 1
    assert len(github.reviews) == 1
    assert len(fake_anthropic.requests) == 1

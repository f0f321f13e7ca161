"""The Action's gate (bot.faces.action.gate): the hourly caps counted from the workflows' runs, and
a fork's
pull request kept off self-hosted runners.

GitHub is the fake repository of tests/fake_github_api.py; each event gets a workflow run in its
list of runs first, as GitHub starts one. At scale (100 fork pull requests and 500 `/ask`
comments from one account) the gate's decision runs for every event with the default caps, as
`tierbot action` calls it; `tierbot action` itself (`bot.faces.action.modes.act`, as
`python -m bot action` calls it, in this process) runs whole workflows, route job then the job
it names, on fewer events with caps set low by their environment variables, against the fake
served over HTTP and the fake Messages API. The repo lets authors without write access have the
frontier model (`review.untrusted_authors: auto`), so the model requests are what the caps let
through.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.adapters.github import GitHub, PullRef
from bot.adapters.settings import Settings
from bot.core.caps import Caps
from bot.core.markers import marker_key
from bot.faces.action.gate import Workflow, capped, notice_due
from bot.faces.action.modes import act
from bot.faces.app import events
from bot.pipeline.commands import post_notice
from tests.fake_anthropic import FakeAnthropic, fake_anthropic_fixture, message  # noqa: F401
from tests.fake_github_api import BOT, FakeGitHubHost
from tests.test_action import parse_outputs
from tests.test_app_e2e import DIFF, OWNER, REPO, answer
from tests.test_cost_attack import ATTACKER, asked_by, opened_by
from tests.webhooks import need_real_deliveries

FORKS = "review-fork.yml"
COMMENTS = "commands.yml"
AUTO = "review:\n  untrusted_authors: auto\n"


def fork_pull_request(number: int, author: str = ATTACKER) -> dict[str, Any]:
    """A real `pull_request.opened` event for a pull request from `author`'s fork."""
    data = opened_by(author, number)
    data["pull_request"]["head"]["repo"]["full_name"] = f"{author}/{REPO}"
    return data


class Runs:
    """The workflows' runs on one fake repository, started as GitHub starts them."""

    def __init__(self, host: FakeGitHubHost) -> None:
        self.host = host
        self.last = 5000

    def start(self, workflow: str, actor: str) -> Workflow:
        self.last += 1
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        run = {"id": self.last, "created_at": stamp, "actor": {"login": actor}, "conclusion": None}
        self.host.runs.setdefault(workflow, []).append(run)
        return Workflow(workflow, self.last, self_hosted=False)


def test_the_gate_holds_100_fork_prs_and_500_asks_from_one_account_to_the_default_caps() -> None:
    need_real_deliveries(signing=False)
    host = FakeGitHubHost(owner=OWNER, repo=REPO, author=ATTACKER, author_association="NONE")
    runs = Runs(host)
    caps = Caps()  # 10 reviews and 20 commands per author and hour

    async def flood() -> tuple[list[str], list[str]]:
        github = GitHub("ghs_token", "https://api.github.test", transport=host.transport(),
                        bot_login=BOT, write_spacing=0.0,
                        marker_key=marker_key(None))  # fmt: skip
        reviews: list[str] = []
        asks: list[str] = []
        deliveries = [(FORKS, "pull_request", fork_pull_request(n)) for n in range(1, 101)]
        deliveries += [
            (COMMENTS, "issue_comment", asked_by(ATTACKER, i % 100 + 1, i)) for i in range(500)
        ]
        for workflow, event, data in deliveries:
            (job,) = events.route(event, data, bot_login=BOT, settings=events.EventSettings()).jobs
            run = runs.start(workflow, ATTACKER)
            now = datetime.now(UTC)
            refusal = await capped(github, job, run, caps, now)
            seen = reviews if workflow == FORKS else asks
            if refusal is None:
                seen.append("allowed")
            elif await notice_due(github, job, refusal, caps, now):
                payload = {"work": refusal.work, "reason": refusal.text(), "user": ATTACKER}
                await post_notice(github, PullRef(OWNER, REPO, job.number), payload)
                seen.append("told")
            else:
                seen.append("refused")
        return reviews, asks

    reviews, asks = asyncio.run(flood())
    assert reviews == ["allowed"] * 10 + ["told"] + ["refused"] * 89
    assert asks == ["allowed"] * 20 + ["told"] + ["refused"] * 479
    told = [(n, b) for n, b in host.comments() if "has reached the cap" in b]
    assert [n for n, _ in told] == [11, 21]  # the PR of the 11th review, of the 21st question
    # The runs of the workflow were listed, never a filter GitHub's description does not allow.
    listed = [path for method, path in host.calls if path.endswith("/runs")]
    assert len(listed) >= 600


class Workflows:
    """Whole runs of the example workflows: the route job, then the job it names (if any)."""

    def __init__(self, tmp_path: Path, host: FakeGitHubHost, url: str, env: dict[str, str]):
        self.tmp_path = tmp_path
        self.url = url
        self.runs = Runs(host)
        self.log = io.StringIO()
        self.settings = Settings.from_env(env)

    def start(
        self, workflow: str, event: str, data: dict[str, Any], *, runner: str = "github-hosted"
    ) -> tuple[list[dict[str, str]], list[int]]:
        """Each job's outputs and exit code."""
        actor = data["comment"]["user"] if event == "issue_comment" else data["sender"]
        run = self.runs.start(workflow, actor["login"])
        event_file = self.tmp_path / f"event-{run.run_id}.json"
        event_file.write_text(json.dumps(data), encoding="utf-8")
        outputs, codes = [], []
        for mode in ("route", "review"):
            output = self.tmp_path / f"output-{run.run_id}-{mode}"
            env = {
                "GITHUB_EVENT_NAME": event,
                "GITHUB_EVENT_PATH": str(event_file),
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(self.tmp_path / f"summary-{run.run_id}-{mode}"),
                "GITHUB_TOKEN": "ghs_workflowtoken",
                "GITHUB_API_URL": self.url,
                "GITHUB_REPOSITORY": f"{OWNER}/{REPO}",
                "GITHUB_WORKFLOW_REF": f"{OWNER}/{REPO}/.github/workflows/{workflow}@refs/heads/x",
                "GITHUB_RUN_ID": str(run.run_id),
                "RUNNER_ENVIRONMENT": runner,
                "INPUT_MODE": mode,
                "INPUT_BOT_LOGIN": BOT,
                "INPUT_ANTHROPIC_API_KEY": "sk-ant-action",
            }
            codes.append(act(env, self.settings, self.log))
            outputs.append(
                parse_outputs(output.read_text(encoding="utf-8")) if output.exists() else {}
            )
            if mode == "route" and not outputs[-1].get("runs-on"):
                break
        return outputs, codes


def test_tierbot_action_reviews_answers_and_refuses_as_the_caps_say(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries(signing=False)
    host = FakeGitHubHost(
        owner=OWNER, repo=REPO, diff=DIFF, author=ATTACKER, author_association="NONE",
        head_repo=f"{ATTACKER}/{REPO}", settings_file=AUTO,
    )  # fmt: skip
    fake_anthropic.reply(*[answer() for _ in range(2)])
    env = {
        "ANTHROPIC_BASE_URL": fake_anthropic.base_url,
        "TIERBOT_REVIEWS_PER_AUTHOR_HOUR": "2",
        "TIERBOT_COMMANDS_PER_AUTHOR_HOUR": "2",
    }
    with host.served() as url:
        flows = Workflows(tmp_path, host, url, env)
        reviews = [
            flows.start(FORKS, "pull_request_target", fork_pull_request(n)) for n in range(1, 6)
        ]
        fake_anthropic.reply(*[message(json.dumps({"answer": "Yes."})) for _ in range(2)])
        asks = [flows.start(COMMENTS, "issue_comment", asked_by(ATTACKER, 1, i)) for i in range(5)]
    log = flows.log.getvalue()
    assert "::error::" not in log, log

    # Two reviews on a GitHub-hosted runner (a fork's never get the GPU runner); the third goes
    # to one only to post why it was not reviewed; the rest end at the route job.
    assert [len(outputs) for outputs, _ in reviews] == [2, 2, 2, 1, 1]
    assert {outputs[0]["runs-on"] for outputs, _ in reviews[:3]} == {'"ubuntu-latest"'}
    assert [outputs[-1]["tier"] for outputs, _ in reviews[:2]] == ["frontier", "frontier"]
    assert all(code == 0 for _, codes in reviews + asks for code in codes)
    assert [len(outputs) for outputs, _ in asks] == [2, 2, 2, 1, 1]
    refused = [line for line in log.splitlines() if line.startswith("::notice::tierbot: not ")]
    assert len([r for r in refused if "cap of 2 reviews" in r]) == 3 + 1  # 3 routes, 1 notice
    assert len([r for r in refused if "cap of 2 commands" in r]) == 3 + 1

    # The model saw what the caps allowed; GitHub got two reviews, two answers, two notices.
    assert len(fake_anthropic.requests) == 4
    assert sorted(n for n, pull in host.pulls.items() if pull.reviews) == [1, 2]
    assert "`mallory` has reached the cap of 2 reviews" in host.pull(3).summary()
    assert not host.pull(4).issue_comments
    bodies = [b for _, b in host.comments()]
    assert len([b for b in bodies if b.startswith("> is this safe?")]) == 2
    assert len([b for b in bodies if "reached the cap of 2 commands" in b]) == 1
    summary = (tmp_path / "summary-5003-review").read_text(encoding="utf-8")
    assert "reached the cap of 2 reviews" in summary


def test_a_forks_pull_request_never_gets_the_gpu_runner(tmp_path: Path) -> None:
    need_real_deliveries(signing=False)
    host = FakeGitHubHost(owner=OWNER, repo=REPO, diff=DIFF, head_repo=f"octocat/{REPO}")
    with host.served() as url:
        flows = Workflows(tmp_path, host, url, {})
        # A member's simple change from a fork would go to the local model: not from a fork.
        data = fork_pull_request(1, author="octocat")
        data["pull_request"]["author_association"] = "MEMBER"
        (route, *_), _ = flows.start(FORKS, "pull_request_target", data)
        # A maintainer's `/review --local` on a fork's pull request cannot have it either.
        command = asked_by("maint", 1, 0)
        command["comment"]["body"] = "/review --local"
        command["comment"]["author_association"] = "MEMBER"
        (asked, *_), _ = flows.start(COMMENTS, "issue_comment", command)
        # And on a self-hosted runner, tierbot refuses a fork's pull request outright.
        outputs, codes = flows.start(FORKS, "pull_request_target", data, runner="self-hosted")
    assert json.loads(route["runs-on"]) == "ubuntu-latest"
    assert "a pull request from a fork never runs on a self-hosted runner" in route["reasons"]
    assert json.loads(asked["runs-on"]) == "ubuntu-latest"
    assert "the local model was asked for but is not available" in asked["reasons"]
    assert (outputs, codes) == ([{}], [1])
    assert (
        "::error::tierbot: a pull request from a fork never runs on a self-hosted runner, and "
        "this one is from octocat/Hello-World" in flows.log.getvalue()
    )


def test_the_gate_fails_closed_when_the_runs_cannot_be_counted(tmp_path: Path) -> None:
    need_real_deliveries(signing=False)
    host = FakeGitHubHost(owner=OWNER, repo=REPO, diff=DIFF, author_association="NONE")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(fork_pull_request(1)), encoding="utf-8")
    out = io.StringIO()
    with host.served() as url:
        env = {
            "GITHUB_EVENT_NAME": "pull_request_target",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_TOKEN": "ghs_workflowtoken",
            "GITHUB_API_URL": url,
            "GITHUB_REPOSITORY": f"{OWNER}/{REPO}",
            "INPUT_MODE": "route",
        }  # no GITHUB_WORKFLOW_REF: not a workflow run GitHub started
        assert act(env, Settings(), out) == 0
    assert "::notice::tierbot: work for an account without write access is not carried out" in (
        out.getvalue()
    )
    assert "tierbot: runs-on: \n" in out.getvalue()
    assert not [c for c in host.calls if c[1].endswith("/diff") or "/pulls/" in c[1]]

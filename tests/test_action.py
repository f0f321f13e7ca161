"""`tierbot action` end to end, as a workflow step runs it: a subprocess (`python -m bot action`)
with the environment a runner sets (GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY, GITHUB_TOKEN, GITHUB_API_URL, GITHUB_REPOSITORY, the INPUT_* variables that
action/action.yml passes), real event files (`@octokit/webhooks-examples`), GitHub served by Prism
behind tests/github_proxy.py (every request checked against GitHub's OpenAPI description, the diff
served by the proxy) and the model by the fake Messages API, as in tests/test_app_e2e.py.

The outputs are read back by a parser of GitHub's output file format (`name=value`, or a value
between heredoc delimiters), and the step summary from its file.

`tierbot doctor` runs here too: on a machine without a GPU it must say why and exit 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.faces.action.inputs import ActionError, read_inputs, runs_on_json
from bot.faces.action.output import format_outputs
from tests.fake_anthropic import FakeAnthropic, fake_anthropic_fixture  # noqa: F401
from tests.github_proxy import GitHubProxy, github_proxy_fixture  # noqa: F401
from tests.prism import Prism, prism_fixture  # noqa: F401
from tests.test_app_e2e import ANSWER, CODE, DIFF, LINE, OWNER, PATH, REPO, answer
from tests.webhooks import need_real_deliveries, payload, pr_comment

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "ghs_workflowtoken0123456789"
WRITES = ("POST", "PATCH", "PUT", "DELETE")
RUN_ID = 9_000_000_000  # this run: later than any run GitHub's examples list
# The runner's own variables and the settings of whoever runs the tests stay out.
_OUTER = ("GITHUB_", "INPUT_", "RUNNER_", "TIERBOT_", "ANTHROPIC_")


@dataclass
class Step:
    """One run of the action: its exit code, log (stdout and stderr), outputs and summary."""

    code: int
    log: str
    outputs: dict[str, str]
    raw_outputs: str
    summary: str


def parse_outputs(text: str) -> dict[str, str]:
    """GitHub's output file format: `name=value` lines, or `name<<DELIMITER`, the value's lines,
    then the delimiter alone on a line."""
    found: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        heredoc = "<<" in line and ("=" not in line or line.index("<<") < line.index("="))
        if not heredoc:
            name, value = line.split("=", 1)
            found[name] = value
            continue
        name, delimiter = line.split("<<", 1)
        assert delimiter, f"an empty delimiter for {name}"
        end = lines.index(delimiter, index)  # ValueError: a value never closed
        found[name] = "\n".join(lines[index:end])
        index = end + 1
    return found


def run_action(
    tmp_path: Path,
    event: str,
    data: dict[str, Any] | str,
    *,
    proxy: GitHubProxy | None = None,
    anthropic: FakeAnthropic | None = None,
    **inputs: str,
) -> Step:
    """`python -m bot action` as a runner starts it; `inputs` by name (`fail_on="major"`)."""
    event_file = tmp_path / "event.json"
    event_file.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    output_file = tmp_path / "github_output"
    summary_file = tmp_path / "step_summary"
    output_file.write_text("", encoding="utf-8")  # the runner creates both, empty
    summary_file.write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OUTER)}
    env |= {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(event_file),
        "GITHUB_OUTPUT": str(output_file),
        "GITHUB_STEP_SUMMARY": str(summary_file),
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": proxy.url if proxy else "http://127.0.0.1:9",
        "GITHUB_REPOSITORY": f"{OWNER}/{REPO}",
        "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_WORKFLOW_REF": f"{OWNER}/{REPO}/.github/workflows/tierbot.yml@refs/heads/main",
        "GITHUB_RUN_ID": str(RUN_ID),
        "RUNNER_ENVIRONMENT": "github-hosted",
        "RUNNER_TEMP": str(tmp_path),
    }
    if anthropic is not None:
        env["ANTHROPIC_BASE_URL"] = anthropic.base_url
        env["INPUT_ANTHROPIC_API_KEY"] = "sk-ant-action"
    env |= {f"INPUT_{name.upper()}": value for name, value in inputs.items()}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "action"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    raw = output_file.read_text(encoding="utf-8")
    return Step(
        done.returncode,
        done.stdout + done.stderr,
        parse_outputs(raw),
        raw,
        summary_file.read_text(encoding="utf-8"),
    )


def opened(number: int) -> dict[str, Any]:
    """A real `pull_request.opened` event for PR `number` of the examples' repository."""
    data = payload("pull_request", "opened")
    data["number"] = data["pull_request"]["number"] = number
    return data


def writes(proxy: GitHubProxy) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in proxy.exchanges() if e.method in WRITES]


def reviews_path(number: int) -> str:
    return f"/repos/{OWNER}/{REPO}/pulls/{number}/reviews"


# --- review mode ----------------------------------------------------------------------------------


def test_review_mode_reviews_the_pull_request_and_posts_like_the_app(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries(signing=False)
    github_proxy.diffs[(OWNER, REPO, 2)] = DIFF
    fake_anthropic.reply(answer())
    since = prism.mark()

    step = run_action(
        tmp_path,
        "pull_request",
        opened(2),
        proxy=github_proxy,
        anthropic=fake_anthropic,
        mode="review",
    )

    assert step.code == 0, step.log
    assert "::error::" not in step.log
    assert step.outputs["tier"] == "frontier"
    assert step.outputs["score"].isdigit()
    # Without a GPU here the local model is not available, and the reasons say so.
    assert "no local model is available" in step.outputs["reasons"]
    assert json.loads(step.outputs["runs-on"]) == "ubuntu-latest"
    # 1,000 tokens in and 200 out on the frontier model: $0.0040 (tests/test_app_e2e.py).
    assert step.outputs["cost-usd"] == "0.0040"
    assert step.outputs["comments"] == "1"
    assert set(step.outputs) == {"tier", "score", "reasons", "runs-on", "cost-usd", "comments"}

    assert step.summary.startswith(f"### tierbot review: {OWNER}/{REPO}#2")
    assert "| Tier | frontier (`claude-sonnet-5-5`) |" in step.summary
    assert "| Comments posted | 1 (1 major) |" in step.summary
    assert "| Cost | $0.0040 |" in step.summary
    assert "| All-frontier cost | $0.0040 |" in step.summary
    assert "**Why frontier:**" in step.summary

    # One review, with the comment on the line the model cited, by the workflow's token.
    (asked,) = fake_anthropic.requests
    assert CODE.strip() in json.dumps(asked.body)
    (review,) = github_proxy.find("POST", reviews_path(2))
    assert review.status == 200
    assert review.headers["authorization"].endswith(TOKEN)
    (inline,) = review.body["comments"]
    assert (inline["path"], inline["line"], inline["side"]) == (PATH, LINE, "RIGHT")
    assert review.body["event"] == "COMMENT"
    # Then the summary comment; nothing else is written.
    assert writes(github_proxy) == [
        ("POST", reviews_path(2)),
        ("POST", f"/repos/{OWNER}/{REPO}/issues/2/comments"),
    ]
    forwarded = [e for e in github_proxy.exchanges() if e.by == "prism"]
    assert len(prism.requests(since)) == len(forwarded)
    assert prism.problems(since) == []


def test_auto_mode_routes_then_reviews_and_fail_on_fails_the_step_after_posting(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries(signing=False)
    assert '"severity": "major"' in json.dumps(ANSWER)
    github_proxy.diffs[(OWNER, REPO, 4)] = DIFF
    fake_anthropic.reply(answer())
    since = prism.mark()

    step = run_action(
        tmp_path,
        "pull_request",
        opened(4),
        proxy=github_proxy,
        anthropic=fake_anthropic,
        mode="auto",
        fail_on="major",
    )

    assert step.code == 1, step.log
    # auto: routed as the route job would (the local model, on the GPU runner), then reviewed
    # here, where only the frontier model is available.
    assert step.outputs["tier"] == "frontier"
    assert step.outputs["runs-on"] == '["self-hosted","gpu"]'
    assert "| Routed to | local |" in step.summary
    (error,) = [line for line in step.log.splitlines() if line.startswith("::error::")]
    assert "1 comment at or above the fail-on severity major" in error
    assert f"{PATH}:{LINE} (major)" in error
    assert len(github_proxy.find("POST", reviews_path(4))) == 1  # posted first
    assert step.outputs["comments"] == "1"
    assert "**Failed:** 1 comment at or above the fail-on severity major" in step.summary
    assert prism.problems(since) == []


def test_a_slash_command_is_carried_out_with_the_apps_rules(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries(signing=False)
    data = pr_comment("/review", association="MEMBER")
    number, comment_id = data["issue"]["number"], data["comment"]["id"]
    github_proxy.diffs[(OWNER, REPO, number)] = DIFF
    fake_anthropic.reply(answer())
    since = prism.mark()

    step = run_action(
        tmp_path,
        "issue_comment",
        data,
        proxy=github_proxy,
        anthropic=fake_anthropic,
        mode="review",
    )

    assert step.code == 0, step.log
    assert (step.outputs["tier"], step.outputs["comments"]) == ("frontier", "1")
    # A member needs no permission check; the command is acknowledged with 👀, then carried out.
    assert github_proxy.find("GET", r".*/permission") == []
    assert writes(github_proxy) == [
        ("POST", f"/repos/{OWNER}/{REPO}/issues/comments/{comment_id}/reactions"),
        ("POST", reviews_path(number)),
        ("POST", f"/repos/{OWNER}/{REPO}/issues/{number}/comments"),
    ]
    # Prepared once, to decide the tier, and reviewed from that: the default branch's files are
    # listed once (Prism's example lists no .github folder, so no settings file is read).
    assert len(github_proxy.find("GET", rf"/repos/{OWNER}/{REPO}/git/trees/.*")) == 1
    assert github_proxy.find("GET", r".*/contents/.*") == []
    assert prism.problems(since) == []


# --- route mode -----------------------------------------------------------------------------------


def test_route_mode_decides_and_posts_nothing(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic
) -> None:
    need_real_deliveries(signing=False)
    github_proxy.diffs[(OWNER, REPO, 2)] = DIFF
    since = prism.mark()

    step = run_action(tmp_path, "pull_request", opened(2), proxy=github_proxy, mode="route")

    assert step.code == 0, step.log
    # A one-line change is simple: the local model, on the GPU runner (the default labels).
    assert step.outputs["tier"] == "local"
    assert json.loads(step.outputs["runs-on"]) == ["self-hosted", "gpu"]
    assert step.outputs["runs-on"] == '["self-hosted","gpu"]'
    reasons = step.outputs["reasons"].split("\n")
    assert len(reasons) > 1
    assert reasons[0].startswith(f"complexity {step.outputs['score']} is below the threshold")
    assert "reasons<<ghadelimiter_" in step.raw_outputs  # multiline: the heredoc form
    assert (step.outputs["cost-usd"], step.outputs["comments"]) == ("0.0000", "0")
    assert "**Routed to the local model**" in step.summary
    assert "| Estimate, frontier |" in step.summary
    assert "Nothing was posted (route mode)." in step.summary

    # Only reads: the pull request, the summary comment, the settings file and the diff.
    assert writes(github_proxy) == []
    assert {e.method for e in github_proxy.exchanges()} == {"GET"}
    assert github_proxy.find("GET", rf"/repos/{OWNER}/{REPO}/pulls/2")
    assert fake_anthropic.requests == []
    assert prism.problems(since) == []


def test_route_mode_takes_a_forced_tier_and_the_runner_labels_as_inputs(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy
) -> None:
    need_real_deliveries(signing=False)
    github_proxy.diffs[(OWNER, REPO, 2)] = DIFF
    # A fork's pull request on pull_request_target: routed like any other.
    data = opened(2)
    data["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"

    step = run_action(
        tmp_path,
        "pull_request_target",
        data,
        proxy=github_proxy,
        mode="route",
        tier="frontier",
        frontier_runs_on="ubuntu-24.04, linux",
    )

    assert step.code == 0, step.log
    assert step.outputs["tier"] == "frontier"
    assert json.loads(step.outputs["runs-on"]) == ["ubuntu-24.04", "linux"]
    assert step.outputs["reasons"].startswith("asked for the frontier model")
    assert writes(github_proxy) == []


def test_route_mode_sends_a_refused_command_to_a_runner_without_a_model(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy
) -> None:
    need_real_deliveries(signing=False)
    github_proxy.permissions["mallory"] = "read"
    data = pr_comment("/review --frontier", association="NONE", login="mallory")
    since = prism.mark()

    step = run_action(tmp_path, "issue_comment", data, proxy=github_proxy, mode="route")

    assert step.code == 0, step.log
    assert step.outputs["tier"] == "none"
    assert json.loads(step.outputs["runs-on"]) == "ubuntu-latest"  # to post the refusal
    assert "@mallory has no write access" in step.outputs["reasons"]
    (asked,) = github_proxy.find("GET", r".*/permission")
    assert asked.path == f"/repos/{OWNER}/{REPO}/collaborators/mallory/permission"
    assert writes(github_proxy) == []
    assert prism.problems(since) == []


def test_the_config_input_replaces_the_repos_settings_file(
    tmp_path: Path, prism: Prism, github_proxy: GitHubProxy
) -> None:
    need_real_deliveries(signing=False)
    github_proxy.diffs[(OWNER, REPO, 2)] = DIFF
    config = tmp_path / "tierbot.yml"
    config.write_text("routing:\n  frontier_paths: ['app/**']\n", encoding="utf-8")

    step = run_action(
        tmp_path, "pull_request", opened(2), proxy=github_proxy, mode="route", config=str(config)
    )

    assert step.code == 0, step.log
    assert step.outputs["tier"] == "frontier"
    assert step.outputs["reasons"].startswith(f"repo settings send {PATH} to the frontier model")
    assert github_proxy.find("GET", r".*/contents/.*") == []  # not read from the repo
    missing = run_action(
        tmp_path, "pull_request", opened(2), mode="route", config=str(tmp_path / "none.yml")
    )
    assert missing.code == 2
    assert "::error::tierbot: the config input" in missing.log


# --- nothing to do, and failures ------------------------------------------------------------------


def test_an_event_with_nothing_to_do_exits_0_with_a_notice(tmp_path: Path) -> None:
    need_real_deliveries(signing=False)
    data = payload("pull_request", "closed")

    step = run_action(tmp_path, "pull_request", data, mode="auto")

    assert step.code == 0, step.log
    assert "::notice::tierbot: nothing to do: pull_request.closed" in step.log
    assert (step.outputs["tier"], step.outputs["runs-on"]) == ("none", "")
    assert "**Nothing to do:** pull_request.closed." in step.summary


def test_a_forks_pull_request_is_left_to_pull_request_target(
    tmp_path: Path, github_proxy: GitHubProxy
) -> None:
    need_real_deliveries(signing=False)
    data = opened(2)
    data["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"

    step = run_action(tmp_path, "pull_request", data, proxy=github_proxy, mode="review")

    assert step.code == 0, step.log
    assert "::notice::tierbot: not reviewed here: a pull request from the fork" in step.log
    assert (step.outputs["tier"], step.outputs["runs-on"]) == ("none", "")
    assert github_proxy.exchanges() == []


@pytest.mark.parametrize(
    ("event", "text", "message"),
    [
        ("pull_request", '{"action": "opened", "pull_req', "is not JSON"),
        ("pull_request", "[1, 2]", "does not hold an event"),
        ("push", "{}", "cannot act on the push event"),
    ],
)
def test_a_bad_event_is_an_error_annotation_and_a_failed_step(
    tmp_path: Path, github_proxy: GitHubProxy, event: str, text: str, message: str
) -> None:
    step = run_action(tmp_path, event, text, proxy=github_proxy, mode="review")

    assert step.code == 2, step.log
    (error,) = [line for line in step.log.splitlines() if line.startswith("::error::")]
    assert message in error
    assert step.outputs == {}
    assert step.summary.startswith("### tierbot could not run")
    assert github_proxy.exchanges() == []


def test_a_bad_input_is_an_error_annotation(tmp_path: Path) -> None:
    need_real_deliveries(signing=False)

    step = run_action(tmp_path, "pull_request", opened(2), mode="review", fail_on="serious")

    assert step.code == 2
    assert "::error::tierbot: the fail-on input must be one of critical, major" in step.log


# --- the pieces -----------------------------------------------------------------------------------


def test_outputs_are_written_in_githubs_file_format() -> None:
    outputs = {"tier": "local", "reasons": "one\ntwo, with = and <<\nthree", "runs-on": ""}
    text = format_outputs(outputs)
    assert text.startswith("tier=local\nreasons<<ghadelimiter_")
    assert text.endswith("runs-on=\n")
    assert parse_outputs(text) == outputs


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ubuntu-latest", '"ubuntu-latest"'),
        ('"ubuntu-latest"', '"ubuntu-latest"'),
        ("self-hosted, gpu", '["self-hosted","gpu"]'),
        ('["self-hosted", "gpu", "linux"]', '["self-hosted","gpu","linux"]'),
    ],
)
def test_runner_labels_become_json(given: str, expected: str) -> None:
    assert runs_on_json(given, "local-runs-on") == expected


@pytest.mark.parametrize("given", ["[]", "[1]", "{}", "true", " , "])
def test_runner_labels_that_are_not_labels_are_refused(given: str) -> None:
    with pytest.raises(ActionError, match="local-runs-on"):
        runs_on_json(given, "local-runs-on")


def test_inputs_from_the_environment() -> None:
    inputs = read_inputs(
        {
            "INPUT_MODE": "Route",
            "INPUT_TIER": "local",
            "INPUT_FAIL-ON": "minor",  # as GitHub maps the inputs of other kinds of actions
            "INPUT_LOCAL_RUNS_ON": "",  # set to nothing: there is no GPU runner
            "GITHUB_TOKEN": "ghs_env",
        }
    )
    assert (inputs.mode, inputs.tier, inputs.fail_on) == ("route", "local", "minor")
    assert inputs.local_runs_on is None
    assert inputs.frontier_runs_on == '"ubuntu-latest"'
    assert (inputs.github_token, inputs.bot_login) == ("ghs_env", "github-actions[bot]")
    assert read_inputs({}).local_runs_on == '["self-hosted","gpu"]'
    assert read_inputs({"INPUT_GITHUB_TOKEN": "ghs_in", "GITHUB_TOKEN": "x"}).github_token == (
        "ghs_in"
    )


# --- tierbot doctor -------------------------------------------------------------------------------


def test_doctor_says_why_the_local_model_cannot_run_here(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OUTER)}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "doctor", "--model-dir", str(tmp_path / "no-model")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":", 1)[0] for line in lines[:4]] == [
        "GPU",
        "exllamav2 extension",
        "model folder",
        "generation",
    ]
    assert f"FAILED: the local model folder {tmp_path / 'no-model'} does not exist" in lines[2]
    assert lines[3].endswith("not checked: needs the checks above to pass")
    assert lines[-1].startswith("tierbot doctor: the local model cannot run here (failed:")
    if "not installed" in lines[0]:  # this machine has no gpu extra: the reason names it
        assert "FAILED: the gpu extra is not installed (uv sync --extra gpu)" in lines[0]

"""The runner's environment: the action's inputs and the workflow run's event, checked."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.core.answer_schema import Severity
from bot.core.routing import Tier
from bot.faces.action.gate import Workflow

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT_ERROR = 2
ACTIONS_BOT = "github-actions[bot]"  # who comments with a workflow's GITHUB_TOKEN
DEFAULT_LOCAL_RUNS_ON = '["self-hosted","gpu"]'
DEFAULT_FRONTIER_RUNS_ON = "ubuntu-latest"
# The events a workflow may run the action on, and the webhook event each one is handled as.
EVENTS = {
    "pull_request": "pull_request",
    "pull_request_target": "pull_request",
    "issue_comment": "issue_comment",
}
FAIL_ON = ("critical", "major", "minor", "nit", "none")
OUTPUTS = ("tier", "score", "reasons", "runs-on", "cost-usd", "comments")


class Mode(StrEnum):
    """What the step does: decide the tier only, review on this runner, or both."""

    ROUTE = "route"
    REVIEW = "review"
    AUTO = "auto"


class ActionError(Exception):
    """A failure to report as an annotation, with the exit code it deserves."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Inputs:
    """The action's inputs, checked."""

    mode: Mode = Mode.AUTO
    tier: Tier | None = None
    model_dir: str | None = None
    config: Path | None = None
    fail_on: Severity | None = None
    local_runs_on: str | None = DEFAULT_LOCAL_RUNS_ON  # JSON; None: there is no GPU runner
    frontier_runs_on: str = json.dumps(DEFAULT_FRONTIER_RUNS_ON)
    bot_login: str = ACTIONS_BOT
    github_token: str | None = None
    anthropic_api_key: str | None = None


@dataclass(frozen=True, slots=True)
class Runner:
    """What the runner says about the workflow run."""

    event: str
    payload: Mapping[str, Any]
    repository: str | None
    api_url: str | None
    output_path: str | None
    summary_path: str | None
    workflow: Workflow = field(default_factory=Workflow)


def input_value(env: Mapping[str, str], name: str) -> str:
    """An input as a composite action passes it (`INPUT_FAIL_ON`) or as GitHub maps it for other
    actions (`INPUT_FAIL-ON`); empty when unset."""
    upper = name.upper()
    for key in (f"INPUT_{upper.replace('-', '_')}", f"INPUT_{upper}"):
        value = env.get(key, "").strip()
        if value:
            return value
    return ""


def read_inputs(env: Mapping[str, str]) -> Inputs:
    """The inputs from the environment; ActionError (exit 2) naming the input that is wrong."""
    mode = input_value(env, "mode").lower() or Mode.AUTO.value
    if mode not in {m.value for m in Mode}:
        raise ActionError(
            f"the mode input must be route, review or auto, not {mode!r}", EXIT_INPUT_ERROR
        )
    tier_text = input_value(env, "tier").lower() or "auto"
    if tier_text not in ("auto", "local", "frontier"):
        raise ActionError(
            f"the tier input must be auto, local or frontier, not {tier_text!r}", EXIT_INPUT_ERROR
        )
    fail_on = input_value(env, "fail-on").lower() or "none"
    if fail_on not in FAIL_ON:
        raise ActionError(
            f"the fail-on input must be one of {', '.join(FAIL_ON)}, not {fail_on!r}",
            EXIT_INPUT_ERROR,
        )
    local_text = env.get("INPUT_LOCAL_RUNS_ON", env.get("INPUT_LOCAL-RUNS-ON"))
    config = input_value(env, "config")
    return Inputs(
        mode=Mode(mode),
        tier=None if tier_text == "auto" else Tier(tier_text),
        model_dir=input_value(env, "model-dir") or None,
        config=Path(config) if config else None,
        fail_on=None if fail_on == "none" else Severity(fail_on),
        # Unset: the default labels; set to nothing: this repo has no GPU runner.
        local_runs_on=(
            runs_on_json(local_text, "local-runs-on")
            if local_text is None or local_text.strip()
            else None
        ),
        frontier_runs_on=runs_on_json(
            input_value(env, "frontier-runs-on") or DEFAULT_FRONTIER_RUNS_ON, "frontier-runs-on"
        ),
        bot_login=input_value(env, "bot-login") or ACTIONS_BOT,
        github_token=input_value(env, "github-token")
        or env.get("GITHUB_TOKEN", "").strip()
        or None,
        anthropic_api_key=input_value(env, "anthropic-api-key") or None,
    )


def runs_on_json(text: str | None, name: str) -> str:
    """Runner labels as the JSON a workflow's `fromJSON()` takes: a label (`ubuntu-latest`),
    labels separated by commas, or JSON (a string or a list of strings)."""
    text = (text or DEFAULT_LOCAL_RUNS_ON).strip()
    value: Any
    try:
        value = json.loads(text)
    except ValueError:
        labels = [label.strip() for label in text.split(",") if label.strip()]
        value = labels[0] if len(labels) == 1 else labels
    if isinstance(value, str) and value.strip():
        return json.dumps(value.strip())
    if (
        isinstance(value, list)
        and value
        and all(isinstance(label, str) and label.strip() for label in value)
    ):
        return json.dumps([label.strip() for label in value], separators=(",", ":"))
    raise ActionError(
        f"the {name} input must be a runner label, labels separated by commas, or a JSON list "
        f"of labels, not {text!r}",
        EXIT_INPUT_ERROR,
    )


def read_runner(env: Mapping[str, str]) -> Runner:
    """The event and its payload; ActionError (exit 2) when this is not a workflow run tierbot can
    act on."""
    event = env.get("GITHUB_EVENT_NAME", "").strip()
    if not event:
        raise ActionError(
            "GITHUB_EVENT_NAME is not set: `tierbot action` runs as a step of a GitHub Actions "
            "workflow",
            EXIT_INPUT_ERROR,
        )
    if event not in EVENTS:
        raise ActionError(
            f"tierbot cannot act on the {event} event: run it on pull_request, "
            "pull_request_target or issue_comment",
            EXIT_INPUT_ERROR,
        )
    path = env.get("GITHUB_EVENT_PATH", "").strip()
    if not path:
        raise ActionError(
            "GITHUB_EVENT_PATH is not set: there is no event to act on", EXIT_INPUT_ERROR
        )
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ActionError(
            f"the event file {path} cannot be read: {exc}", EXIT_INPUT_ERROR
        ) from None
    except ValueError as exc:  # UnicodeDecodeError is one
        raise ActionError(f"the event file {path} is not JSON: {exc}", EXIT_INPUT_ERROR) from None
    if not isinstance(payload, dict):
        raise ActionError(
            f"the event file {path} does not hold an event (a JSON object)", EXIT_INPUT_ERROR
        )
    repository = env.get("GITHUB_REPOSITORY", "").strip() or None
    about = payload.get("repository")
    named = about.get("full_name") if isinstance(about, dict) else None
    if repository and isinstance(named, str) and named.casefold() != repository.casefold():
        raise ActionError(
            f"the event file is about {named}, but this workflow runs in {repository}",
            EXIT_INPUT_ERROR,
        )
    return Runner(
        event=event,
        payload=payload,
        repository=repository,
        api_url=env.get("GITHUB_API_URL", "").strip() or None,
        output_path=env.get("GITHUB_OUTPUT", "").strip() or None,
        summary_path=env.get("GITHUB_STEP_SUMMARY", "").strip() or None,
        workflow=Workflow.from_env(env),
    )


def event_fork(runner: Runner) -> str | None:
    """The fork a pull request comes from, or None when it is from this repository."""
    head = _field(runner.payload, "pull_request", "head", "repo", "full_name")
    base = _field(runner.payload, "repository", "full_name")
    if isinstance(head, str) and isinstance(base, str) and head.casefold() != base.casefold():
        return head
    return None


def _field(data: Any, *keys: str) -> Any:
    """`data[k1][k2]...`, or None where a level is missing or not an object."""
    for key in keys:
        data = data.get(key) if isinstance(data, Mapping) else None
    return data


def config_text(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ActionError(
            f"the config input {path} cannot be read: {exc}", EXIT_INPUT_ERROR
        ) from None

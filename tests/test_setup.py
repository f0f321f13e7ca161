"""The App's registration from app.yml: the setup-mode server through Starlette, GitHub's side (the
manifest conversion) faked at the transport in the shape of GitHub's OpenAPI description, and
the `.env` file it writes."""

from __future__ import annotations

import asyncio
import json
import re
import stat
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.testclient import TestClient

from bot.adapters.env_file import EnvFileError, read_env_file, with_env_file, write_env_file
from bot.adapters.github import GitHubApp
from bot.adapters.github.manifest import convert_manifest
from bot.adapters.settings import Settings
from bot.core.markers import marker_key
from bot.faces.app.events import EventSettings, route
from bot.faces.app.setup import Setup, create_setup_app, load_manifest, wanted
from bot.faces.cli.exits import EXIT_INPUT_ERROR
from bot.faces.cli.main import main
from tests.fake_github_api import private_pem
from tests.prism import Prism, prism_fixture  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent
SECRET = "e340154128314309424b7c8e90325147d99fdafa"
CLIENT_SECRET = "1726be1638095a19edd134c77bde3aa2ece1e5d8"


def conversion(api_root: str = "https://api.github.com") -> dict[str, Any]:
    """GitHub's answer to `POST /app-manifests/{code}/conversions`, in the shape of the example
    in GitHub's OpenAPI description (201, `integration` plus client_id, client_secret,
    webhook_secret and pem), with a key that loads."""
    return {
        "id": 123456,
        "slug": "tierbot-octo",
        "node_id": "MDxOkludGVncmF0aW9uMQ==",
        "owner": {"login": "octo", "id": 1, "type": "User", "site_admin": False},
        "name": "tierbot-octo",
        "description": "Reviews pull requests",
        "external_url": "https://github.com/apps/tierbot",
        "html_url": "https://github.com/apps/tierbot-octo",
        "created_at": "2026-12-08T01:00:00Z",
        "updated_at": "2026-12-08T01:00:00Z",
        "permissions": {"metadata": "read", "contents": "read", "issues": "write"},
        "events": ["pull_request", "issue_comment"],
        "client_id": "Iv1.8a61f9b3a7aba766",
        "client_secret": CLIENT_SECRET,
        "webhook_secret": SECRET,
        "pem": private_pem(),
    }


class FakeGitHub(httpx.AsyncBaseTransport):
    """GitHub's API at the transport: answers the manifest conversion, records every request."""

    def __init__(self, status: int = 201, body: Any = None) -> None:
        self.status = status
        self.body = conversion() if body is None else body
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body, request=request)


def make(tmp_path: Path, fake: FakeGitHub, **options: Any) -> tuple[Setup, TestClient]:
    setup = Setup(
        load_manifest(ROOT / "app.yml"),
        tmp_path / ".env",
        options.pop("api_url", "https://api.github.com"),
        transport=fake,
        **options,
    )
    return setup, TestClient(create_setup_app(setup), base_url="http://tierbot.test:8000")


def form(page: str) -> tuple[str, dict[str, Any]]:
    """The setup page's form: where it posts, and the manifest it posts."""
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    manifest = re.search(r'name="manifest" value="([^"]+)"', page)
    assert action is not None
    assert manifest is not None
    return unescape(action[1]), json.loads(unescape(manifest[1]))


def start(client: TestClient, setup: Setup) -> tuple[str, dict[str, Any], str]:
    """Open the setup link; return the form's action, its manifest, and the state it carries."""
    page = client.get(f"/setup?token={setup.token}")
    assert page.status_code == 200
    action, manifest = form(page.text)
    state = re.search(r"[?&]state=([^&]+)", action)
    assert state is not None
    return action, manifest, state[1]


def test_the_whole_registration_writes_an_owner_only_env_that_serve_can_run_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeGitHub()
    setup, client = make(tmp_path, fake, public_url="https://bot.example.org/")
    action, manifest, state = start(client, setup)

    assert action == f"https://github.com/settings/apps/new?state={state}"
    app_yml = yaml.safe_load((ROOT / "app.yml").read_text(encoding="utf-8"))
    assert manifest["hook_attributes"] == {"url": "https://bot.example.org/webhook", "active": True}
    assert manifest["redirect_url"] == "http://tierbot.test:8000/setup/callback"  # the browser's
    assert manifest["default_permissions"] == app_yml["default_permissions"]
    assert manifest["default_events"] == app_yml["default_events"]

    # GitHub registers the App and sends the browser back with a code and the state.
    done = client.get(f"/setup/callback?code=a1b2c3&state={state}")

    assert done.status_code == 200
    assert [(r.method, str(r.url)) for r in fake.requests] == [
        ("POST", "https://api.github.com/app-manifests/a1b2c3/conversions")
    ]
    env = tmp_path / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert read_env_file(env) == {
        "TIERBOT_GITHUB_APP_ID": "123456",
        "TIERBOT_GITHUB_APP_SLUG": "tierbot-octo",
        "TIERBOT_GITHUB_PRIVATE_KEY": private_pem(),
        "TIERBOT_WEBHOOK_SECRET": SECRET,
    }
    settings = Settings.from_env(with_env_file({}, env))
    assert settings.app_problems() == []
    assert not wanted(settings)
    assert settings.github_private_key is not None
    GitHubApp(123456, settings.github_private_key, marker_key=marker_key(SECRET))  # the key loads
    assert "https://github.com/apps/tierbot-octo/installations/new" in done.text
    assert "tierbot serve" in done.text
    assert client.get("/setup").text == done.text  # registered: the page says what to do next

    key_line = private_pem().splitlines()[1]
    captured = capsys.readouterr()
    for text in (done.text, captured.out, captured.err, caplog.text):
        assert SECRET not in text
        assert key_line not in text
        assert CLIENT_SECRET not in text
    assert "client" not in env.read_text(encoding="utf-8").lower()


def test_the_webhook_url_comes_from_the_address_the_page_was_opened_at(tmp_path: Path) -> None:
    setup, client = make(tmp_path, FakeGitHub())
    _, manifest, _ = start(client, setup)
    assert manifest["hook_attributes"]["url"] == "http://tierbot.test:8000/webhook"
    assert manifest["redirect_url"] == "http://tierbot.test:8000/setup/callback"


def test_an_organisation_and_github_enterprise_get_their_own_new_app_pages(
    tmp_path: Path,
) -> None:
    fake = FakeGitHub()
    setup, client = make(tmp_path, fake, org="acme", api_url="https://ghe.acme.test/api/v3")
    action, _, state = start(client, setup)
    assert action == f"https://ghe.acme.test/organizations/acme/settings/apps/new?state={state}"
    assert client.get(f"/setup/callback?code=c0de&state={state}").status_code == 200
    assert [str(r.url) for r in fake.requests] == [
        "https://ghe.acme.test/api/v3/app-manifests/c0de/conversions"
    ]


def test_the_setup_page_needs_the_token_the_server_printed(tmp_path: Path) -> None:
    setup, client = make(tmp_path, FakeGitHub())
    for path in ("/setup", "/setup?token=guess", f"/setup?token={setup.token[:-1]}"):
        page = client.get(path)
        assert page.status_code == 403
        assert "manifest" not in page.text
    assert setup.states == {}


@pytest.mark.parametrize("query", ["code=a1b2c3", "code=a1b2c3&state=forged", "state="])
def test_a_callback_without_a_state_given_out_here_is_refused(tmp_path: Path, query: str) -> None:
    fake = FakeGitHub()
    setup, client = make(tmp_path, fake)
    start(client, setup)
    answer = client.get(f"/setup/callback?{query}")
    assert answer.status_code == 400
    assert "Nothing was saved" in answer.text
    assert fake.requests == []
    assert not (tmp_path / ".env").exists()


def test_a_state_is_good_once_and_for_an_hour(tmp_path: Path) -> None:
    now = [1000.0]
    fake = FakeGitHub()
    setup, client = make(tmp_path, fake, clock=lambda: now[0])
    _, _, state = start(client, setup)
    assert client.get(f"/setup/callback?code=one&state={state}").status_code == 200
    setup.registered = None  # as if the page were opened again before the restart
    assert client.get(f"/setup/callback?code=two&state={state}").status_code == 400
    _, _, late = start(client, setup)
    now[0] += 3601
    assert client.get(f"/setup/callback?code=three&state={late}").status_code == 400
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (404, {"message": "Not Found"}, "good once, for an hour"),
        (422, {"message": "Validation Failed"}, "Validation Failed"),
        (201, {"id": 7, "slug": "x"}, "lacks pem, webhook_secret"),
    ],
)
def test_a_failed_conversion_is_a_clear_error_page_and_saves_nothing(
    tmp_path: Path, status: int, body: Any, said: str
) -> None:
    setup, client = make(tmp_path, FakeGitHub(status, body))
    _, _, state = start(client, setup)
    answer = client.get(f"/setup/callback?code=a1b2c3&state={state}")
    assert answer.status_code == 502
    assert "GitHub did not hand over the App" in answer.text
    assert said in unescape(answer.text)
    assert "Nothing was saved" in answer.text
    assert not (tmp_path / ".env").exists()
    assert setup.registered is None


def test_an_existing_env_keeps_its_other_settings_and_becomes_owner_only(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# mine\nANTHROPIC_API_KEY=sk-test\nTIERBOT_GITHUB_APP_ID=1\n", encoding="utf-8")
    env.chmod(0o644)
    setup, client = make(tmp_path, FakeGitHub())
    _, _, state = start(client, setup)
    assert client.get(f"/setup/callback?code=a1b2c3&state={state}").status_code == 200
    values = read_env_file(env)
    assert values["ANTHROPIC_API_KEY"] == "sk-test"
    assert values["TIERBOT_GITHUB_APP_ID"] == "123456"
    assert env.read_text(encoding="utf-8").startswith("# mine\n")
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_webhooks_wait_for_the_restart_and_health_says_setup(tmp_path: Path) -> None:
    _, client = make(tmp_path, FakeGitHub())
    assert client.post("/webhook", content=b"{}").status_code == 503
    assert client.get("/healthz").json() == {"setup": True, "registered": False}
    assert client.get("/", follow_redirects=False).headers["location"] == "/setup"


def test_setup_mode_is_for_no_credentials_at_all() -> None:
    assert wanted(Settings.from_env({}))
    assert not wanted(Settings.from_env({"TIERBOT_WEBHOOK_SECRET": "s"}))


def test_the_conversion_keeps_to_githubs_contract(prism: Prism) -> None:
    since = prism.mark()
    app = asyncio.run(convert_manifest("a1b2c3", prism.url, accept_json=True))
    assert prism.calls(since) == [("POST", "/app-manifests/a1b2c3/conversions")]
    assert prism.problems(since) == []
    # Prism answers with the description's example: the fields the registration keeps are there.
    assert (app.app_id, app.slug) == (1, "octoapp")
    assert app.install_url == "https://github.com/apps/octoapp/installations/new"
    assert app.pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert app.webhook_secret
    assert "pem" not in repr(app)
    assert app.webhook_secret not in repr(app)


def test_an_env_file_round_trips_a_key_and_the_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    values = {"A": 'with "quotes" and \\ and\nlines', "B": "", "C": "plain"}
    write_env_file(env, values)
    assert read_env_file(env) == values
    env.write_text(
        "# comment\nexport D=bare value # note\nE='single $quoted'\n\nF=\"a\\nb\"\n",
        encoding="utf-8",
    )
    assert read_env_file(env) == {"D": "bare value", "E": "single $quoted", "F": "a\nb"}
    assert with_env_file({"D": "from the environment"}, env)["D"] == "from the environment"
    assert read_env_file(tmp_path / "missing") == {}
    env.write_text("NOT A LINE\n", encoding="utf-8")
    with pytest.raises(EnvFileError, match=r"\.env:1 is not a NAME=value line"):
        read_env_file(env)


def test_the_sample_delivery_is_a_pull_request_that_routes_to_a_review() -> None:
    data = json.loads((ROOT / "examples" / "delivery-pull_request.json").read_text("utf-8"))
    routed = route("pull_request", data, bot_login="tierbot[bot]", settings=EventSettings())
    assert [(job.kind, job.installation_id) for job in routed.jobs] == [("review", 1)]
    assert routed.ack.startswith("queued: review of Codertocat/Hello-World#2")


def test_serve_and_replay_read_the_env_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TIERBOT_GITHUB_APP_ID", "TIERBOT_WEBHOOK_SECRET", "TIERBOT_GITHUB_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TIERBOT_GITHUB_PRIVATE_KEY_FILE", raising=False)
    (tmp_path / ".env").write_text("TIERBOT_GITHUB_APP_ID=42\n", encoding="utf-8")
    payload = tmp_path / "delivery.json"
    payload.write_text("{}", encoding="utf-8")
    assert main(["replay", str(payload), "--event", "pull_request"]) == EXIT_INPUT_ERROR
    said = capsys.readouterr().err
    assert "TIERBOT_GITHUB_PRIVATE_KEY" in said
    assert "TIERBOT_GITHUB_APP_ID" not in said  # the file gave it
    monkeypatch.setenv("TIERBOT_GITHUB_APP_ID", "not-a-number")  # the environment wins
    assert main(["replay", str(payload), "--event", "pull_request"]) == EXIT_INPUT_ERROR
    assert "TIERBOT_GITHUB_APP_ID must be a whole number" in capsys.readouterr().err


def test_app_yml_asks_for_the_events_the_bot_routes_and_no_others() -> None:
    app_yml = yaml.safe_load((ROOT / "app.yml").read_text(encoding="utf-8"))
    events = app_yml["default_events"]
    for event in events:  # each one the router knows: it does not answer "ignored: EVENT.ACTION"
        action = "opened" if event == "pull_request" else "created"
        routed = route(event, {"action": action}, bot_login="x[bot]", settings=EventSettings())
        assert not routed.ack.startswith(f"ignored: {event}."), routed.ack
    assert route(
        "push", {"action": "created"}, bot_login="x[bot]", settings=EventSettings()
    ).ack == ("ignored: push.created")
    assert set(app_yml["default_permissions"]) == {
        "contents",
        "metadata",
        "pull_requests",
        "issues",
    }
    assert app_yml["default_permissions"]["contents"] == "read"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--public-url", "bot.example.org"], "--public-url must start with https://"),
        (["--org", "not an org"], "--org: 'not an org' is not an organisation's login"),
        (["--manifest", "missing.yml"], "the App's manifest cannot be read"),
    ],
)
def test_setup_mode_refuses_bad_options_at_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    said: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TIERBOT_GITHUB_APP_ID", "TIERBOT_WEBHOOK_SECRET", "TIERBOT_GITHUB_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TIERBOT_GITHUB_PRIVATE_KEY_FILE", raising=False)
    (tmp_path / "app.yml").write_text((ROOT / "app.yml").read_text("utf-8"), encoding="utf-8")
    assert main(["serve", *argv]) == EXIT_INPUT_ERROR
    assert said in capsys.readouterr().err

"""Setup mode: `tierbot serve` without any of the App's credentials registers the App from
`app.yml` through GitHub's manifest flow.
https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest

1. At start the server makes a setup token and prints the link `/setup?token=...` on stderr
   (not through the logs, which redact tokens): only someone who sees the server's output can
   register an App into its `.env` (the page may be reachable through a tunnel by anyone).
2. `GET /setup?token=...` shows the manifest (the webhook URL set to `PUBLIC_URL/webhook`, from
   `--public-url` or else the address the page was opened at, and `redirect_url` to
   `/setup/callback` at the address the page was opened at, which the browser reaches) in a
   form that posts it to GitHub's new-App page, for a personal account or an organisation
   (`--org`), on github.com or the GitHub Enterprise host of TIERBOT_GITHUB_API_URL, with a
   fresh `state` value.
3. GitHub sends the browser back to `GET /setup/callback?code=...&state=...`. The state must be
   one this server gave out in the last hour, and is good once; then the server exchanges the
   code for the App's credentials (bot.adapters.github.manifest) and writes
   TIERBOT_GITHUB_APP_ID, TIERBOT_GITHUB_PRIVATE_KEY, TIERBOT_WEBHOOK_SECRET and
   TIERBOT_GITHUB_APP_SLUG to `.env` (bot.adapters.env_file, mode 0600). The answer shows the
   install link and the next steps, never the key or the secret; nothing logs them, and the
   access log is off in this mode (the callback's URL holds the code, which is worth the key
   for an hour).

Meanwhile `POST /webhook` answers 503 (GitHub records a failed delivery, which can be redelivered
once the App runs) and `GET /healthz` says the server is in setup mode.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.adapters.env_file import EnvFileError, write_env_file
from bot.adapters.github import GitHubError
from bot.adapters.github.manifest import RegisteredApp, convert_manifest, new_app_url
from bot.adapters.settings import Settings, SettingsError
from bot.faces.app import listener
from bot.faces.app.setup_pages import error_page, register_page, registered_page

log = structlog.get_logger("tierbot.setup")
STATE_SECONDS = 3600.0  # GitHub's code is good for an hour; so is the state that goes with it
_ANY_ADDRESS = ("0.0.0.0", "::")  # noqa: S104 - names them, binds nothing
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def wanted(settings: Settings) -> bool:
    """Whether `serve` starts in setup mode: none of the App's credentials is set. Some but not
    all is a mistake that `serve` names instead."""
    return not (
        settings.github_app_id
        or settings.github_private_key
        or settings.github_private_key_file
        or settings.webhook_secret
    )


def load_manifest(path: Path) -> dict[str, Any]:
    """The App's manifest from `app.yml`, or SettingsError saying why it cannot be used."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"the App's manifest cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path} is not YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("hook_attributes"), dict):
        raise SettingsError(f"{path} is not a GitHub App manifest (no hook_attributes)")
    return data


@dataclass
class Setup:
    """One setup-mode server's state: the manifest, where things go, the setup token, the states
    given out (with when), and the App once registered. `transport` and `clock` are for tests."""

    manifest: dict[str, Any]
    env_path: Path
    api_url: str
    public_url: str | None = None
    org: str | None = None
    transport: httpx.AsyncBaseTransport | None = None
    clock: Callable[[], float] = time.time
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    states: dict[str, float] = field(default_factory=dict)
    registered: RegisteredApp | None = None

    def manifest_for(self, page_url: str) -> dict[str, Any]:
        """The manifest with this server's webhook URL (`public_url`, else the page's address)
        and the redirect back to the page's address, which the browser reaches."""
        hook_root = (self.public_url or page_url).rstrip("/")
        hook = {**self.manifest["hook_attributes"], "url": f"{hook_root}/webhook"}
        back = f"{page_url.rstrip('/')}/setup/callback"
        return {**self.manifest, "hook_attributes": hook, "redirect_url": back}

    def new_state(self) -> str:
        """A state value for one trip to GitHub."""
        now = self.clock()
        self.states = {s: t for s, t in self.states.items() if now - t < STATE_SECONDS}
        state = secrets.token_urlsafe(24)
        self.states[state] = now
        return state

    def take_state(self, state: str) -> bool:
        """Whether `state` was given out here in the last hour; it is good once."""
        found = next((s for s in self.states if secrets.compare_digest(s, state)), None)
        if found is None:
            return False
        given = self.states.pop(found)
        return self.clock() - given < STATE_SECONDS


def create_setup_app(setup: Setup) -> Starlette:
    """The setup-mode web app."""

    async def root(request: Request) -> Response:
        return RedirectResponse("/setup", status_code=303)

    async def setup_page(request: Request) -> Response:
        if setup.registered is not None:
            return _html(registered_page(setup.registered, str(setup.env_path)))
        token = request.query_params.get("token", "")
        if not secrets.compare_digest(token.encode(), setup.token.encode()):
            return _html(
                error_page(
                    "Open the setup link",
                    "Open the link that `tierbot serve` printed when it started (it ends in "
                    "?token=...): only someone who can see the server's output may register "
                    "the App.",
                ),
                403,
            )
        manifest = setup.manifest_for(str(request.base_url))
        try:
            action = new_app_url(setup.api_url, setup.new_state(), setup.org)
        except ValueError as exc:
            return _html(error_page("Cannot register the App", str(exc)), 400)
        webhook_url = manifest["hook_attributes"]["url"]
        body = register_page(manifest, action, webhook_url, str(setup.env_path), setup.org)
        return _html(body)

    async def callback(request: Request) -> Response:
        code = request.query_params.get("code", "")
        state = request.query_params.get("state", "")
        if not state or not setup.take_state(state):
            log.warning("a registration came back with an unknown or expired state")
            return _html(
                error_page(
                    "Registration refused",
                    "This registration was not started from this server, or it was started "
                    "more than an hour ago, or it has come back already. Nothing was saved.",
                ),
                400,
            )
        if not code:
            return _html(
                error_page("Registration refused", "GitHub sent no code back. Nothing was saved."),
                400,
            )
        try:
            app = await convert_manifest(code, setup.api_url, transport=setup.transport)
        except GitHubError as exc:
            log.error("the manifest conversion failed", error=str(exc))
            return _html(
                error_page(
                    "GitHub did not hand over the App",
                    f"Exchanging GitHub's code for the App's credentials failed: {exc}. "
                    "Nothing was saved. If GitHub registered the App anyway, delete it in "
                    "GitHub's settings (Developer settings, GitHub Apps) and start again.",
                ),
                502,
            )
        try:
            write_env_file(setup.env_path, _variables(app))
        except EnvFileError as exc:
            log.error("the App's credentials could not be saved", error=str(exc))
            return _html(
                error_page(
                    "The App's credentials could not be saved",
                    f"GitHub registered the App {app.name} (id {app.app_id}), but {exc}. "
                    f"Make the folder writable, then in the App's settings ({app.html_url}) "
                    "generate a private key and set a webhook secret, and set "
                    "TIERBOT_GITHUB_APP_ID, TIERBOT_GITHUB_PRIVATE_KEY_FILE and "
                    "TIERBOT_WEBHOOK_SECRET by hand.",
                ),
                500,
            )
        setup.registered = app
        log.info(
            "the App is registered; restart tierbot serve to run it",
            app_id=app.app_id,
            slug=app.slug,
            saved_to=str(setup.env_path),
            install=app.install_url,
        )
        return _html(registered_page(app, str(setup.env_path)))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"setup": True, "registered": setup.registered is not None})

    async def webhook(request: Request) -> Response:
        return JSONResponse(
            {"error": "tierbot is in setup mode: restart it after registering the App"}, 503
        )

    return Starlette(
        routes=[
            Route("/", root),
            Route("/setup", setup_page),
            Route("/setup/callback", callback),
            Route("/healthz", healthz),
            Route("/webhook", webhook, methods=["POST"]),
        ]
    )


def _variables(app: RegisteredApp) -> dict[str, str]:
    return {
        "TIERBOT_GITHUB_APP_ID": str(app.app_id),
        "TIERBOT_GITHUB_APP_SLUG": app.slug,
        "TIERBOT_GITHUB_PRIVATE_KEY": app.pem,
        "TIERBOT_WEBHOOK_SECRET": app.webhook_secret,
    }


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status, headers=_NO_STORE)


async def serve_for(settings: Settings, args: argparse.Namespace, env_path: Path) -> None:
    """`tierbot serve` in setup mode, from its arguments (--manifest, --public-url, --org)."""
    try:
        new_app_url(settings.github_api_url, "check", args.org)
    except ValueError as exc:
        raise SettingsError(f"--org: {exc}") from None
    if args.public_url and not args.public_url.startswith(("https://", "http://")):
        raise SettingsError(f"--public-url must start with https://, not {args.public_url!r}")
    setup = Setup(
        load_manifest(args.manifest),
        env_path,
        settings.github_api_url,
        public_url=args.public_url,
        org=args.org,
    )
    await serve(setup, args.host, args.port)


async def serve(setup: Setup, host: str, port: int) -> None:
    """Run the setup-mode server under uvicorn, with the access log off, until stopped."""
    local = "localhost" if host in _ANY_ADDRESS else host
    where = (setup.public_url or f"http://{local}:{port}").rstrip("/")
    log.warning("no GitHub App credentials: serving the App's registration at /setup")
    # Straight to stderr: the logs redact tokens, and this one is for the operator's eyes.
    sys.stderr.write(
        f"\nOpen this link to register the GitHub App: {where}/setup?token={setup.token}\n\n"
    )
    sys.stderr.flush()
    app = create_setup_app(setup)
    config = listener.config(app, host=host, port=port, limits=listener.Limits())
    access = logging.getLogger("uvicorn.access")  # its lines would carry the token and the code
    access.handlers = []
    access.propagate = False
    await uvicorn.Server(config).serve()

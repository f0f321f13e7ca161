"""Registering a GitHub App from a manifest: where the manifest is posted, and the exchange of the
code GitHub hands back for the App's credentials.
https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest

GitHub's web pages live on the API's host without `api.` (github.com) or, for GitHub Enterprise
Server, on the host whose REST API is under `/api/v3`. The conversion
(`POST /app-manifests/{code}/conversions`) needs no authentication; the code is good once, for an
hour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from bot.adapters.github.errors import GitHubError
from bot.adapters.github.session import DEFAULT_API_URL, Session

_CODE = re.compile(r"[A-Za-z0-9_-]{1,200}")
_ORG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")


@dataclass(frozen=True, slots=True)
class RegisteredApp:
    """A GitHub App that the manifest flow registered, with its credentials. The private key and
    the webhook secret never show in its repr."""

    app_id: int
    slug: str
    name: str
    html_url: str
    owner: str
    pem: str = field(repr=False)
    webhook_secret: str = field(repr=False)

    @property
    def install_url(self) -> str:
        """Where the App's owner picks the accounts and repositories to install it on."""
        return self.html_url.rstrip("/") + "/installations/new"


def web_url(api_url: str = DEFAULT_API_URL) -> str:
    """GitHub's web address for a REST API address: https://github.com for api.github.com, the
    host itself for GitHub Enterprise Server (`https://HOST/api/v3`)."""
    parts = urlsplit(api_url.rstrip("/"))
    host = parts.netloc
    if host == "api.github.com":
        return "https://github.com"
    if host.startswith("api.") and not parts.path:  # GitHub Enterprise Cloud with data residency
        host = host.removeprefix("api.")
    return f"{parts.scheme or 'https'}://{host}"


def new_app_url(api_url: str, state: str, org: str | None = None) -> str:
    """Where the manifest form posts: a personal account's new-App page, or an organisation's."""
    if org is not None and not _ORG.fullmatch(org):
        raise ValueError(f"{org!r} is not an organisation's login")
    where = f"/organizations/{quote(org)}/settings/apps/new" if org else "/settings/apps/new"
    return f"{web_url(api_url)}{where}?{urlencode({'state': state})}"


async def convert_manifest(
    code: str,
    api_url: str = DEFAULT_API_URL,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    accept_json: bool = False,
) -> RegisteredApp:
    """Exchange the code GitHub handed back for the registered App's id, slug, key and webhook
    secret. A code that is not one, or an answer without them, is a GitHubError. `transport` and
    `accept_json` (Accept: application/json, for a mock that knows no other) are for tests."""
    if not _CODE.fullmatch(code):
        raise GitHubError("GitHub's code is not a code (letters, digits, - and _)")
    session = Session(None, api_url, transport=transport, accept_json=accept_json)
    try:
        data = await session.json("POST", f"/app-manifests/{code}/conversions")
    except GitHubError as exc:
        if exc.status == 404:  # GitHub does not know the code
            raise GitHubError(
                "GitHub does not know this code (a code is good once, for an hour)", 404
            ) from None
        raise
    finally:
        await session.aclose()
    return _registered(data, api_url)


def _registered(data: Any, api_url: str) -> RegisteredApp:
    if not isinstance(data, dict):
        raise GitHubError("GitHub's answer to the manifest conversion is not a JSON object")
    app_id, slug, pem, secret = (data.get(k) for k in ("id", "slug", "pem", "webhook_secret"))
    missing = [
        name
        for name, value, kind in (
            ("id", app_id, int),
            ("slug", slug, str),
            ("pem", pem, str),
            ("webhook_secret", secret, str),
        )
        if not isinstance(value, kind) or not value
    ]
    if missing:
        raise GitHubError("GitHub's answer to the manifest conversion lacks " + ", ".join(missing))
    assert isinstance(app_id, int)
    assert isinstance(slug, str)
    assert isinstance(pem, str)
    assert isinstance(secret, str)
    owner = data.get("owner")
    html_url = data.get("html_url")
    if not isinstance(html_url, str) or not html_url:
        html_url = f"{web_url(api_url)}/apps/{slug}"
    return RegisteredApp(
        app_id=app_id,
        slug=slug,
        name=str(data.get("name") or slug),
        html_url=html_url,
        owner=str(owner.get("login", "")) if isinstance(owner, dict) else "",
        pem=pem,
        webhook_secret=secret,
    )

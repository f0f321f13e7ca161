"""A pull request URL, read against the GitHub the process talks to.

`https://github.com/OWNER/REPO/pull/N` names a pull request on github.com, whose API is
api.github.com; `https://HOST/OWNER/REPO/pull/N` one on a GitHub Enterprise server, whose API is
`https://HOST/api/v3` (TIERBOT_GITHUB_API_URL). A URL whose host is not the one behind the
configured API is refused, never read from another server under the same OWNER/REPO: a GitLab
merge request, or an Enterprise pull request while the API is github.com's. An API on this
machine (a loopback address: a test server, a recording proxy) stands in for any GitHub host.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from bot.adapters.github import PullRef

_PATH = re.compile(r"^/(?P<owner>[^/\s]+)/(?P<repo>[^/\s]+)/pulls?/(?P<number>\d+)(?:/.*)?$")
# Hosts of other forges, whose URLs look like GitHub's but whose pull requests GitHub cannot read.
_OTHER_FORGES = ("gitlab.com", "bitbucket.org", "codeberg.org", "gitea.com", "dev.azure.com")


class PullUrlError(ValueError):
    """A URL that does not name a pull request this process can read; the message says why
    and what to set where a setting would fix it."""


def web_host(api_url: str) -> str:
    """The host (with its port, if any) whose pull request URLs the GitHub API at `api_url`
    serves: github.com for api.github.com, SUB.ghe.com for api.SUB.ghe.com, else the API's own
    host (a GitHub Enterprise server's `https://HOST/api/v3`, a test server)."""
    host = _host(api_url)
    return host.removeprefix("api.") if host.startswith("api.") else host


def pull_ref(url: str, api_url: str) -> PullRef:
    """The pull request `url` names, checked against the API at `api_url`; PullUrlError when
    it is not a pull request URL or names a host that API does not serve."""
    text = url.strip()
    parts = urlsplit(text)
    match = _PATH.match(parts.path)
    if parts.scheme not in ("http", "https") or not parts.hostname or match is None:
        raise PullUrlError(
            f"not a pull request URL: {text!r} (expected https://github.com/OWNER/REPO/pull/NUMBER)"
        )
    host = _host(text)
    served = web_host(api_url)
    if _other_forge(host) or (host != served and not _loopback(api_url)):
        raise PullUrlError(_why_refused(host, served, api_url))
    return PullRef(match["owner"], match["repo"], int(match["number"]))


def _host(url: str) -> str:
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    host = host.removeprefix("www.") if host == "www.github.com" else host
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: no host this process serves
        return f"{host}:?"
    return f"{host}:{port}" if port is not None else host


def _loopback(api_url: str) -> bool:
    host = urlsplit(api_url.strip()).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _other_forge(host: str) -> bool:
    name = host.partition(":")[0]
    return name in _OTHER_FORGES or name.endswith(tuple(f".{forge}" for forge in _OTHER_FORGES))


def _why_refused(host: str, served: str, api_url: str) -> str:
    if _other_forge(host):
        return f"{host} is not GitHub: tierbot reads GitHub pull requests only"
    return (
        f"the pull request is on {host}, but the GitHub API in use ({api_url}) serves {served}: "
        f"for a GitHub Enterprise server, set TIERBOT_GITHUB_API_URL to its API "
        f"(https://{host}/api/v3)"
    )

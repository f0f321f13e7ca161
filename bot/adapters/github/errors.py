"""What goes wrong talking to GitHub, said so that a person (or the queue) knows what to do."""

from __future__ import annotations

from typing import Any

import httpx
from githubkit.exception import RequestError, RequestFailed, RequestTimeout


class UnsafeBody(ValueError):
    """A body the bot was about to post that would render something it must never post."""


class GitHubError(Exception):
    """A GitHub request that failed; the message says what to do about it where we know.

    `retry_at` (epoch seconds) is set when GitHub said when to try again: a rate limit whose
    wait was longer than a call may block. `transient` says whether the same request may work
    later: GitHub unreachable or timing out, a 5xx, a 429 or a rate limit. By default it follows
    from the status and `retry_at`; a failure without an answer says so itself."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_at: float | None = None,
        *,
        transient: bool | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.retry_at = retry_at
        if transient is None:
            transient = retry_at is not None or status == 429 or (status or 0) >= 500
        self.transient = transient


def github_message(response: httpx.Response) -> str:
    """GitHub's message, with the details of a 422 (`errors`: strings or objects)."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if not isinstance(data, dict):
        return ""
    details = [
        str(e.get("message") or e.get("code") or "") if isinstance(e, dict) else str(e)
        for e in data.get("errors") or []
    ]
    message = str(data.get("message", ""))
    return "; ".join([message, *filter(None, details)]) if details else message


def error_for(exc: RequestError[Any], path: str, *, now: float, authenticated: bool) -> GitHubError:
    """The GitHubError for a request githubkit could not complete: a timeout, a status GitHub
    answered (a rate limit says when to try again), or GitHub unreachable."""

    if isinstance(exc, RequestTimeout):
        return GitHubError(f"GitHub did not answer in time for {path}", transient=True)
    if isinstance(exc, RequestFailed):
        response = exc.response.raw_response
        status, message = response.status_code, github_message(response)
        headers = response.headers
        if status in (403, 429) and (
            "retry-after" in headers
            or headers.get("x-ratelimit-remaining") == "0"
            or "rate limit" in message.lower()
        ):
            # https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#handle-rate-limit-errors-appropriately
            if headers.get("retry-after", "").isdigit():
                retry_at = now + int(headers["retry-after"])
            elif headers.get("x-ratelimit-reset", "").isdigit():
                retry_at = max(float(headers["x-ratelimit-reset"]), now + 1.0)
            else:
                retry_at = now + 60.0  # GitHub: wait at least a minute
            reset = headers.get("x-ratelimit-reset") or f"{retry_at:.0f}"
            hint = "" if authenticated else "; set GITHUB_TOKEN for a higher limit"
            return GitHubError(
                f"GitHub rate limit reached (resets at epoch {reset}){hint}", status, retry_at
            )
        if status == 404:
            hint = "" if authenticated else " (private? set GITHUB_TOKEN)"
            return GitHubError(f"not found on GitHub: {path}{hint}", status)
        if status in (401, 403):
            return GitHubError(f"GitHub refused {path}: {status} {message}", status)
        return GitHubError(f"GitHub answered {status} for {path}: {message}", status)
    return GitHubError(f"could not reach GitHub for {path}: {exc.exc}", transient=True)

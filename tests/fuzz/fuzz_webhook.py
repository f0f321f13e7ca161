"""Fuzz target: the webhook handler (bot.faces.app.web) answers any delivery, signed or not, with
any
body, 2xx or 4xx and never 5xx: the real Starlette app and its SQLite queue, called through
ASGI on one event loop.

An input is one flag byte and the body: the flag picks the event name (from the ones the App
subscribes to and a few it does not) and, with its top bit clear, signs the body with the
webhook secret as GitHub does, so that most inputs get past the signature to the parsing and
routing. Each delivery gets a fresh id, so none is skipped as a redelivery.

Run it for as long as you like: `uv run python tests/fuzz/fuzz_webhook.py [CORPUS_DIR]
[-runs=N | -max_total_time=S]` (libFuzzer's flags); tests/test_fuzz.py runs it briefly in CI.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import tempfile
from pathlib import Path
from typing import Any

import atheris  # type: ignore[import-untyped]  # no type hints published

with atheris.instrument_imports(include=["bot"]):  # coverage of our code, not the libraries
    from bot.adapters.queue import JobQueue
    from bot.faces.app.delivery import signature
    from bot.faces.app.events import EventSettings
    from bot.faces.app.web import create_app

SECRET = b"fuzz"
EVENT_NAMES = [
    b"pull_request",
    b"issue_comment",
    b"pull_request_review_comment",
    b"installation",
    b"installation_repositories",
    b"ping",
    b"push",
    b"",
    b"Pull Request",
]
_loop = asyncio.new_event_loop()
_ids = itertools.count()
_apps: list[Any] = []  # the one app, made in main()


async def deliver(app: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """POST /webhook through ASGI; the status the app answered."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhook",
        "raw_path": b"/webhook",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    flags, body = data[0], data[1:]
    headers = [
        (b"content-type", b"application/json"),
        (b"x-github-event", EVENT_NAMES[flags % len(EVENT_NAMES)]),
        (b"x-github-delivery", f"fuzz-{next(_ids)}".encode()),
    ]
    if not flags & 0x80:
        headers.append((b"x-hub-signature-256", signature(SECRET, body).encode()))
    status = _loop.run_until_complete(deliver(_apps[0], body, headers))
    assert status < 500, f"answered {status}"
    assert status >= 200, f"answered {status}"


def main() -> None:
    folder = tempfile.mkdtemp(prefix="tierbot-fuzz-webhook-")
    queue = JobQueue(Path(folder) / "tierbot.db")
    app = create_app(
        secret=SECRET.decode(),
        queue=queue,
        bot_login="tierbot[bot]",
        event_settings=EventSettings(),
    )
    _apps.append(app)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

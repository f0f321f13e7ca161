"""Fuzz target: slash commands (bot.faces.app.slash.parse_command) and the routing of a PR comment
that
carries them (bot.faces.app.events.route): any comment text gives a command or none, and a routed
comment
gives a job whose payload the queue can store, never an exception.

Run it for as long as you like: `uv run python tests/fuzz/fuzz_commands.py [CORPUS_DIR]
[-runs=N | -max_total_time=S]` (libFuzzer's flags); tests/test_fuzz.py runs it briefly in CI.
"""

from __future__ import annotations

import json
import sys

import atheris  # type: ignore[import-untyped]  # no type hints published

with atheris.instrument_imports(include=["bot"]):  # coverage of our code, not the libraries
    from bot.adapters.queue import MAX_PAYLOAD_BYTES
    from bot.faces.app.events import EventSettings, route
    from bot.faces.app.slash import COMMANDS, parse_command

SLUG = "tierbot"


def comment(body: str) -> dict[str, object]:
    """An `issue_comment.created` delivery on a pull request, with this body."""
    return {
        "action": "created",
        "issue": {"number": 7, "pull_request": {"url": "https://api.github.com/x"}},
        "comment": {
            "id": 1,
            "body": body,
            "user": {"login": "mona", "type": "User"},
            "author_association": "NONE",
        },
        "repository": {"name": "app", "owner": {"login": "octo"}},
        "installation": {"id": 1},
    }


def test_one_input(data: bytes) -> None:
    body = data.decode("utf-8", errors="replace")
    command = parse_command(body, SLUG)
    if command is not None:
        assert command.name, "a command has a name"
        assert command.name in COMMANDS or command.raw, "an unknown command keeps its text"
    routed = route(
        "issue_comment", comment(body), bot_login=f"{SLUG}[bot]", settings=EventSettings()
    )
    assert routed.result in ("queued", "ignored"), routed.ack
    for job in routed.jobs:
        assert len(json.dumps(dict(job.payload)).encode()) <= MAX_PAYLOAD_BYTES


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

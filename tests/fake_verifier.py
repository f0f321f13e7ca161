"""A model that checks review comments the way the verifier's system prompt asks, for tests.

It reads what it is sent, as a model would: the boundary token named in the prompt's first line,
the diff excerpt (`### path (…)` headers and numbered lines) and the comments (one JSON object a
line) between their tags. For each comment, in order:

- the cited line is not in the excerpt, or is an unchanged (context) line: `unconfirmed`;
- an earlier comment on the same file and line shares at least half its words: `duplicate` of it;
- the comment quotes, in backticks, code that is on the cited line: `confirmed`;
- otherwise (it claims something the line does not show): `unconfirmed`.

`check` answers from a prompt; `respond` serves it behind tests/fake_anthropic.py to requests
whose schema asks for verdicts, and hands every other request to `otherwise`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tests.fake_anthropic import Received, Reply, message

CHEAP_MODEL = "claude-haiku-5-5"
_BOUNDARY = re.compile(r"^Data boundary token: ([0-9a-f]+)\.")
_FILE = re.compile(r"^### (\S+) \(")
_NEW = re.compile(r"^(\d+) ([+ ])(.*)$")
_OLD = re.compile(r"^\((\d+)\) -(.*)$")
_QUOTED = re.compile(r"`([^`\n]+)`")
_WORD = re.compile(r"[a-z0-9_]+")


def section(prompt: str, name: str) -> str:
    """The text of the data section `name` in a prompt made by bot.core.prompt.data_prompt."""
    found = _BOUNDARY.match(prompt)
    assert found is not None, "the prompt does not name its boundary token"
    token = found[1]
    start = prompt.index(f"<{name}-{token}>\n") + len(f"<{name}-{token}>\n")
    return prompt[start : prompt.index(f"\n</{name}-{token}>", start)]


def shown_lines(diff: str) -> dict[tuple[str, int, str], tuple[str, str]]:
    """(path, line, side) -> (kind, code) for every numbered line of a diff excerpt."""
    lines: dict[tuple[str, int, str], tuple[str, str]] = {}
    path = ""
    for text in diff.split("\n"):
        header = _FILE.match(text)
        if header is not None:
            path = header[1]
            continue
        new = _NEW.match(text)
        if new is not None:
            lines[(path, int(new[1]), "RIGHT")] = (new[2], new[3])
            continue
        old = _OLD.match(text)
        if old is not None:
            lines[(path, int(old[1]), "LEFT")] = ("-", old[2])
    return lines


def check(prompt: str) -> dict[str, Any]:
    """The verdicts for the comments in `prompt` (see the module docstring)."""
    lines = shown_lines(section(prompt, "diff"))
    comments = [json.loads(line) for line in section(prompt, "comments").split("\n") if line]
    verdicts = []
    for index, comment in enumerate(comments):
        cited = lines.get((comment["path"], comment["line"], comment["side"]))
        words = set(_WORD.findall(comment["body"].lower()))
        twin = next(
            (
                earlier["id"]
                for earlier in comments[:index]
                if (earlier["path"], earlier["line"]) == (comment["path"], comment["line"])
                and len(words & set(_WORD.findall(earlier["body"].lower())))
                >= len(words | set(_WORD.findall(earlier["body"].lower()))) / 2
            ),
            None,
        )
        verdict: dict[str, Any] = {"id": comment["id"]}
        if cited is None or cited[0] == " ":
            verdict |= {"verdict": "unconfirmed", "reason": "about a line the change left alone"}
        elif twin is not None:
            verdict |= {"verdict": "duplicate", "duplicate_of": twin, "reason": "said already"}
        elif any(quote in cited[1] for quote in _QUOTED.findall(comment["body"])):
            verdict |= {"verdict": "confirmed", "reason": "the cited code has it"}
        else:
            verdict |= {"verdict": "unconfirmed", "reason": "the cited code does not show it"}
        verdicts.append(verdict)
    return {"verdicts": verdicts}


def usage_of(prompt: str) -> tuple[int, int]:
    """The input and output tokens the fake reports for checking `prompt`."""
    return len(prompt) // 4, len(json.dumps(check(prompt))) // 4


def asks_for_verdicts(body: Any) -> bool:
    """Whether a Messages API request body asks for the verifier's answer."""
    schema = body["output_config"]["format"]["schema"]
    return "verdicts" in schema.get("required", [])


def respond(otherwise: Callable[[Received], Reply] | None = None) -> Callable[[Received], Reply]:
    """A responder for FakeAnthropic: verdicts for check requests, `otherwise` for the rest."""

    def answer(received: Received) -> Reply:
        body = received.body
        if asks_for_verdicts(body):
            prompt = str(body["messages"][0]["content"])
            tokens_in, tokens_out = usage_of(prompt)
            text = json.dumps(check(prompt))
            return message(
                text, model=body["model"], input_tokens=tokens_in, output_tokens=tokens_out
            )
        if otherwise is None:
            raise AssertionError("only check requests were expected")
        return otherwise(received)

    return answer

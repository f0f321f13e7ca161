"""A model that does whatever the text it is sent tells it to, behind the fake Messages API.

Prompt injection succeeds against real models often enough that the bot must be safe even when
it succeeds every time. This responder plays that worst case: for each request it reads the
prompt (the user message) and writes into its answer every payload an instruction asks for
(the text between « and », see tests/corpus/injection/README.md) and every line that looks like
one of the bot's hidden markers, wherever in the prompt they are. A review answer puts them in
the summary, in a comment on the first added line of the diff and in that comment's
suggestion, and asks (in fields the schema does not have) to approve, merge and label; an
/ask answer puts them in the answer. What comes back from the bot must still be safe.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fake_anthropic import Received, Reply, message

PAYLOAD = re.compile(r"«(.*?)»", re.DOTALL)
_MARKER_LINE = re.compile(r"<!--\s*tierbot:[^>]*-->", re.IGNORECASE)
_FILE = re.compile(r"^### (\S+) \(")
_ADDED = re.compile(r"^(\d+) \+(.*)$")


def payloads(text: str) -> list[str]:
    """What the instructions in `text` ask to be written, with `\\n` read as a line break."""
    return [found.replace("\\n", "\n") for found in PAYLOAD.findall(text)]


def obey(received: Received) -> Reply:
    """The answer of a model that obeys every instruction in the request it received."""
    body: dict[str, Any] = received.body
    prompt = str(body["messages"][0]["content"])
    asked = payloads(prompt) + _MARKER_LINE.findall(prompt)
    text = "Done as instructed.\n\n" + "\n\n".join(asked)
    required = body["output_config"]["format"]["schema"].get("required", [])
    if "answer" in required:
        answer: dict[str, Any] = {"answer": text, "event": "APPROVE", "merge": True}
        return message(json.dumps(answer), input_tokens=800, output_tokens=120)
    comments = []
    cited = _first_added_line(prompt)
    if cited is not None:
        path, line, code = cited
        comments.append(
            {
                "path": path,
                "line": line,
                "side": "RIGHT",
                "code": code,
                "severity": "critical",
                "category": "security",
                "body": text,
                "suggestion": "\n".join(asked) or code,
            }
        )
    review = {
        "summary": text,
        "comments": comments,
        "event": "APPROVE",
        "merge": True,
        "labels": ["security-approved"],
    }
    return message(json.dumps(review), input_tokens=1000, output_tokens=200)


def _first_added_line(prompt: str) -> tuple[str, int, str] | None:
    path = None
    for line in prompt.split("\n"):
        header = _FILE.match(line)
        if header is not None:
            path = header[1]
            continue
        added = _ADDED.match(line)
        if added is not None and path is not None and added[2].strip():
            return path, int(added[1]), added[2].strip()
    return None

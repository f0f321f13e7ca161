"""A reviewer model whose comments a test scripts per file, behind the fake Messages API.

For each request it reads the files in the prompt (their `### path (...)` headers) and answers
with the comments scripted for them, each citing its line's code as the prompt shows it; a file
scripted to fail gets an API error the SDK does not retry. Offline evaluation tests use it to
know in advance which comments land where, and so what the figures must be.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fake_anthropic import Received, Reply, error, message

_FILE = re.compile(r"^### (\S+) \(")
_NEW = re.compile(r"^(\d+) [+ ](.*)$")
_OLD = re.compile(r"^\((\d+)\) -(.*)$")

INPUT_TOKENS = 1000
OUTPUT_TOKENS = 100


@dataclass(frozen=True)
class Said:
    """One scripted comment: its line, side and severity."""

    line: int
    side: str = "RIGHT"
    severity: str = "major"
    body: str = "This looks wrong."


@dataclass
class ScriptedReviewer:
    """Comments by file path; `failing` files get HTTP 400 instead of an answer."""

    comments: Mapping[str, Sequence[Said]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    prompts: list[str] = field(default_factory=list)

    def __call__(self, received: Received) -> Reply:
        body: dict[str, Any] = received.body
        prompt = str(body["messages"][0]["content"])
        self.prompts.append(prompt)
        shown = _shown(prompt)
        if any(path in self.failing for path in shown):
            return error(400, "invalid_request_error", "the model refused this change")
        answer = [
            {
                "path": path,
                "line": said.line,
                "side": said.side,
                "code": lines.get((said.side, said.line), ""),
                "severity": said.severity,
                "category": "bug",
                "body": said.body,
            }
            for path, lines in shown.items()
            for said in self.comments.get(path, ())
        ]
        review = {"summary": "Reviewed.", "comments": answer}
        return message(json.dumps(review), input_tokens=INPUT_TOKENS, output_tokens=OUTPUT_TOKENS)


def _shown(prompt: str) -> dict[str, dict[tuple[str, int], str]]:
    """Each file in the prompt, with the code of each line it shows by (side, number)."""
    files: dict[str, dict[tuple[str, int], str]] = {}
    current: dict[tuple[str, int], str] | None = None
    for line in prompt.split("\n"):
        header = _FILE.match(line)
        if header is not None:
            current = files.setdefault(header[1], {})
            continue
        if current is None:
            continue
        new = _NEW.match(line)
        if new is not None:
            current[("RIGHT", int(new[1]))] = new[2]
        old = _OLD.match(line)
        if old is not None:
            current[("LEFT", int(old[1]))] = old[2]
    return files

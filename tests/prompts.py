"""Reading a prompt's data sections back, as a model told the convention by the system prompt
would: the first line names the boundary token, and a section runs from `<NAME-TOKEN>` to the
first `</NAME-TOKEN>` after it. Text outside every section is what the model may take as
instructions."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"^Data boundary token: ([0-9a-f]{16})\.")


@dataclass(frozen=True)
class Sections:
    """A prompt cut into its data sections (by name, in order) and the text outside them."""

    token: str
    data: dict[str, list[str]]
    outside: str

    def one(self, name: str) -> str:
        (text,) = self.data[name]
        return text


def sections(prompt: str) -> Sections:
    """The data sections of `prompt`; AssertionError when it does not follow the convention."""
    found = _TOKEN.match(prompt)
    assert found is not None, f"no boundary token in the prompt's first line: {prompt[:120]!r}"
    token = found[1]
    pattern = re.compile(rf"<([a-z_]+)-{token}>\n(.*?)\n</\1-{token}>", re.DOTALL)
    data: dict[str, list[str]] = {}
    outside: list[str] = []
    position = 0
    for match in pattern.finditer(prompt):
        outside.append(prompt[position : match.start()])
        data.setdefault(match[1], []).append(match[2])
        position = match.end()
    outside.append(prompt[position:])
    rest = "".join(outside)
    assert token not in rest.split("\n", 1)[-1], "a section tag outside a well-formed section"
    return Sections(token, data, rest)

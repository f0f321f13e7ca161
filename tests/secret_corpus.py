"""The project's own corpus of pull requests with planted fake secrets (tests/corpus/secrets).

`manifest.json` lists every planted value with its diff, file, line, kind and whether the bot
must comment on it; `survivors` lists strings in the same diffs that look random but are not
secrets (a git SHA, a UUID) and must reach the model as they are.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRETS_DIR = Path(__file__).resolve().parent / "corpus" / "secrets"
DIFFS = ("service-config.diff", "keys-and-clients.diff", "ops-and-docs.diff")


@dataclass(frozen=True)
class Planted:
    diff: str
    path: str
    line: int
    side: str
    kind: str
    commented: bool
    value: str

    @property
    def parts(self) -> tuple[str, ...]:
        """What must never be seen: the value, or each line of a key block but its armour."""
        lines = [p for p in self.value.split("\n") if p and not p.startswith("-----")]
        return tuple(lines)


@functools.cache
def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SECRETS_DIR / "manifest.json").read_text("utf-8"))
    return data


def planted(diff: str | None = None) -> list[Planted]:
    """The planted secrets (of one diff, when named)."""
    return [
        Planted(**entry)
        for entry in _manifest()["secrets"]
        if diff is None or entry["diff"] == diff
    ]


def survivors() -> dict[str, list[str]]:
    """Random-looking strings that are not secrets, by file."""
    found: dict[str, list[str]] = _manifest()["survivors"]
    return found


def diff_text(name: str) -> str:
    return (SECRETS_DIR / name).read_text("utf-8")


def leaked(text: str, diff: str | None = None) -> list[str]:
    """The planted values (or key lines) that appear in `text`."""
    return sorted({part for secret in planted(diff) for part in secret.parts if part in text})

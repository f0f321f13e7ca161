"""The one job type: what the webhook front decides (bot.faces.app.events), the queue stores
(bot.adapters.queue) and the pipeline carries out (bot.pipeline.commands). Plain data, no I/O:
only ids and short text travel on the queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bot.core.caps import Work

TIER_HINTS: Final = frozenset({"local", "frontier"})
CAPPED_WORK: Final[dict[str, Work]] = {"review": "review", "command": "command", "reply": "reply"}
"""The kinds the caps count, and the work each is; other kinds are never capped."""


@dataclass(frozen=True)
class Job:
    """A job: which pull request, what to do (`kind`: review, command, reply, notice), and the
    little the worker needs beyond plain ids. `trigger` says what caused it (an event's action,
    a command); `author` is the account the caps count it against (None: not counted, see
    bot.faces.app.events)."""

    kind: str
    owner: str
    repo: str
    number: int
    installation_id: int | None = None
    head_sha: str | None = None
    trigger: str = ""
    tier_hint: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict, hash=False)
    author: str | None = None

    def __post_init__(self) -> None:
        if not self.kind.strip():
            raise ValueError("job kind is empty")
        if not self.owner.strip() or not self.repo.strip():
            raise ValueError(f"job needs an owner and a repo, got {self.owner!r}/{self.repo!r}")
        if self.number < 1:
            raise ValueError(f"PR number must be positive, got {self.number}")
        if self.tier_hint is not None and self.tier_hint not in TIER_HINTS:
            raise ValueError(
                f"tier hint must be 'local', 'frontier' or None, got {self.tier_hint!r}"
            )


QUEUES = ("local", "frontier", "default")
"""The job queues of the scale-out mode: the local model's, the frontier model's, and the light
`default` one for commands, notices and periodic tasks; every deployment needs a worker on each."""

"""Whether a remote service (GitHub) answered lately, for `/healthz` and the logs.

The clients record every outcome: an answer of any status means the service is reachable (a 404
is an answer); a refused or timed-out connection, or a 5xx, means it is not, for now. Nothing
probes on its own: the state is what the last real request found, with the time it changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Reachability:
    """The last known state of one service: `reachable` is None until a request has ended."""

    clock: Callable[[], float] = time.time
    reachable: bool | None = None
    since: float | None = None
    error: str | None = None
    on_change: Callable[[str | None], None] | None = None
    """Told each outcome that changes the state or its error (a worker process tells the web
    process, whose `/healthz` reports it)."""

    def record(self, error: str | None) -> None:
        """A request ended: with no error (the service answered), or with a transient one."""
        reachable = error is None
        changed = reachable != self.reachable or error != self.error
        if reachable != self.reachable:
            self.since = self.clock()
        self.reachable, self.error = reachable, error
        if changed and self.on_change is not None:
            self.on_change(error)

    def as_json(self) -> dict[str, Any]:
        """The state for `/healthz`: "reachable", "unreachable" or "unknown", since when
        (epoch seconds) and the last error."""
        state = {None: "unknown", True: "reachable", False: "unreachable"}[self.reachable]
        return {"state": state, "since": self.since, "error": self.error}

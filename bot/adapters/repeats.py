"""A logging filter that lets a repeated warning or error through once per window, with a count.

Under a flood of bad connections the same message comes thousands of times a second: asyncio's
accept loop out of file descriptors ("socket.accept() out of system resource", with a traceback,
https://github.com/python/cpython/blob/3.11/Lib/asyncio/selector_events.py), uvicorn's "Invalid
HTTP request received.", bot.faces.app.listener's cut-offs. Logged each time, they fill the disk
and cost
the CPU the server needs to recover. This filter, on a handler, lets the first record of a kind
through, drops the same kind for `window` seconds, and says on the next one let through how
many were dropped. A kind is the logger, the level, the message template (before its `%` args)
with its numbers masked (asyncio formats descriptors, addresses and times into its messages),
and the exception's type. Records below WARNING (access logs, info) always pass.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

_MAX_KINDS = 1024  # kinds remembered; the oldest is forgotten first
_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?")


class RepeatFilter(logging.Filter):
    """Rate-limits repeated warnings and errors per kind (see the module doc)."""

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._kinds: OrderedDict[tuple[str, int, str, str], list[float]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        kind = (record.name, record.levelno, _NUMBERS.sub("#", str(record.msg))[:500], error)
        now = self._clock()
        with self._lock:
            seen = self._kinds.get(kind)
            if seen is not None and now - seen[0] < self.window:
                seen[1] += 1
                return False
            dropped = int(seen[1]) if seen is not None else 0
            self._kinds[kind] = [now, 0]
            self._kinds.move_to_end(kind)
            while len(self._kinds) > _MAX_KINDS:
                self._kinds.popitem(last=False)
        if dropped:  # appended to the template: the note has no `%` of its own
            record.msg = f"{record.msg} [{dropped} more like this since the last one, not logged]"
        return True

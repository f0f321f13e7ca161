"""How the process logs: structlog's console output, with every secret taken out.

Logs are the easiest place for a secret to slip through: an exception that quotes a line of a
diff, a URL with its password, an API error that echoes a request. `redact_secrets` replaces
any secret in any value of an event, formatted tracebacks included, before it is rendered. It is
defence in depth: text is redacted where it is made, and this catches what was missed.
`configure` is called by the command line's entry point, never at import.
"""

from __future__ import annotations

import io
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

import structlog

from bot.core.secrets.redaction import scrub

_PLAIN = (bool, int, float, type(None))


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: every text value of the event with its secrets replaced; other
    values (exceptions, paths, objects) are rendered as text first so none slips past."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = scrub(value)
        elif not isinstance(value, _PLAIN):
            event_dict[key] = scrub(str(value))
    return event_dict


def one_line_errors(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: an event's exception as one `error` field (its type and message)
    instead of a traceback, for the command line, where the error is the news, not its stack."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        error = sys.exc_info()[1] if exc_info is True else exc_info
        if isinstance(error, tuple):
            error = error[1]
        if isinstance(error, BaseException):
            event_dict["error"] = f"{type(error).__name__}: {error}"
    return event_dict


class _Stderr(io.TextIOBase):
    """Standard error as it is when a line is written, not when logging was configured (a test
    or a caller may replace `sys.stderr` in between)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


STDERR: TextIO = cast(TextIO, _Stderr())


def _terminal(stream: TextIO | None) -> bool:
    """Whether log lines go to a terminal, the one place colour codes belong."""
    target = stream if stream is not None else sys.stdout
    try:
        return target.isatty()
    except (AttributeError, ValueError):  # a closed or minimal stream
        return False


def configure(stream: TextIO | None = None, *, tracebacks: bool = True) -> None:
    """Log to `stream` (standard output by default) through the redacting processor, in colour
    on a terminal only; without `tracebacks`, an exception is logged as one line."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.StackInfoRenderer(),
            structlog.dev.set_exc_info,
            *([] if tracebacks else [one_line_errors]),
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
            structlog.processors.format_exc_info,  # tracebacks as text, so they are redacted
            redact_secrets,
            structlog.dev.ConsoleRenderer(
                colors=_terminal(stream), exception_formatter=structlog.dev.plain_traceback
            ),
        ],
        logger_factory=structlog.PrintLoggerFactory(stream),
    )

"""How a `tierbot` command ends: its exit code, and the guard around every command.

Exit codes (the README lists them): 0 done; 1 the work could not be done (GitHub or a model
failed or could not be reached, a review or job failed); 2 bad input (a file that cannot be
read or parsed, a URL that is not a pull request, a setting that cannot be used); 130 stopped by
Ctrl-C; 141 standard output was closed before everything was written (`… | head -1`). The
last two are 128 plus the signal's number, as a shell reports a command the signal ended.

The guard turns what may end any command into one line on stderr and its code, never a
traceback: a closed pipe (quietly), Ctrl-C, and a `Failure` a command raises. With `--json` a
failure still gives standard output one JSON object, with `error`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence

from bot.core.printable import json_line, warn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT_ERROR = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE (not in the signal module on Windows)


class Failure(Exception):
    """A command that could not do its work: the one line to show and the exit code.
    `code` is EXIT_INPUT_ERROR for bad input, EXIT_FAILED for anything else."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def guarded(run: Callable[[], int], *, json_errors: Sequence[str | None] | None = None) -> int:
    """Run a command and return its exit code. A closed standard output ends it quietly; Ctrl-C
    with `interrupted`; a Failure with its message. With `json_errors` (the command's inputs, or
    `[None]` for a command of one result) a failure also gives standard output one JSON object
    per input, `{"path": …, "error": …}`. Any other exception is a bug: it propagates, with its
    traceback, after the JSON objects when they are due."""
    try:
        code = run()
        sys.stdout.flush()  # buffered output meets a closed pipe here, inside the guard
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C while exiting just ends it
        _say("interrupted")
        return EXIT_INTERRUPTED
    except Failure as failure:
        return _failed(failure.message, failure.code, json_errors)
    except Exception as exc:
        _emit_json(json_errors, f"internal error: {type(exc).__name__}: {exc}")
        raise
    return code


def _failed(message: str, code: int, json_errors: Sequence[str | None] | None) -> int:
    _emit_json(json_errors, message)
    _say(message)
    return code


def _emit_json(inputs: Sequence[str | None] | None, message: str) -> None:
    if inputs is None:
        return
    try:
        for path in inputs:
            error = {"error": message} if path is None else {"path": path, "error": message}
            sys.stdout.write(json_line(error))
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # stderr gone too: the exit code is all that is left
        warn(message)


def _drop_stdout() -> None:
    """Point standard output at the null device: what is still buffered for the closed pipe
    would otherwise fail again, with a traceback, when the interpreter flushes it at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor behind stdout (a test's capture)
        pass

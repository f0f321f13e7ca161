"""The `tierbot` process and its standard streams, run for real: a reader that closes the pipe
early, Ctrl-C, standard input at a terminal, and progress on a terminal's stderr while a model
takes its time. Each runs the console script or `python -m bot` in a child process, with a
pseudo-terminal where the behaviour is about one."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path

import pytest

from tests.builders import Edit, git_diff
from tests.fake_anthropic import FakeAnthropic, message

TIERBOT = Path(sys.executable).parent / "tierbot"  # the console script, as a user runs it
MODULE = [sys.executable, "-m", "bot"]
NOTICE = b"reading the diff from standard input"


@pytest.fixture
def diff_file(tmp_path: Path) -> Path:
    path = tmp_path / "change.diff"
    # A small change the default settings keep on the local model.
    backoff = ["    delay = min(base * 2 ** attempt, MAX_DELAY)", "    attempt += 1"]
    edit = Edit("net/retry.py", removed=["    delay = base"], added=backoff, start=10)
    path.write_text(git_diff(edit))
    return path


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("TIERBOT_", "ANTHROPIC_"))}
    out.update(extra)
    return out


def read_until(fd: int, needle: bytes, timeout: float = 20.0) -> bytes:
    """What `fd` gives until `needle` shows (or the time is up, or the writer is gone)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # a pseudo-terminal whose other end closed: EIO
            break
        if not chunk:
            break
        seen += chunk
    return seen


@contextmanager
def terminal() -> Iterator[tuple[int, int]]:
    """A pseudo-terminal: (the side this test reads and writes, the side the child gets)."""
    controller, child = pty.openpty()
    try:
        yield controller, child
    finally:
        for fd in (controller, child):
            with suppress(OSError):
                os.close(fd)


def test_a_reader_that_stops_early_ends_the_command_quietly(diff_file: Path) -> None:
    """`tierbot score --json … | head -1`: no BrokenPipeError traceback, exit 141 (SIGPIPE)."""
    paths = [str(diff_file)] * 1500  # far more than the pipe holds, so writing meets the close
    proc = subprocess.Popen(
        [str(TIERBOT), "score", "--json", *paths],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert json.loads(first)["tier"] == "local"
    assert err == b""


def test_the_same_through_a_shell_pipe_into_head(diff_file: Path) -> None:
    script = f'"{TIERBOT}" score --json {" ".join([str(diff_file)] * 1500)} | head -1'
    run = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script], capture_output=True, env=env(), check=False
    )
    assert run.returncode == 141
    assert json.loads(run.stdout)["path"] == str(diff_file)
    assert b"Traceback" not in run.stderr
    assert b"BrokenPipe" not in run.stderr


def test_standard_input_at_a_terminal_says_it_is_being_read(diff_file: Path) -> None:
    with terminal() as (controller, child):
        proc = subprocess.Popen(
            [*MODULE, "score", "--json", "-"],
            stdin=child,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env(),
        )
        assert proc.stderr is not None
        notice = read_until(proc.stderr.fileno(), NOTICE)
        assert NOTICE in notice
        assert b"Ctrl-D" in notice
        os.write(controller, diff_file.read_bytes() + b"\x04")  # Ctrl-D at a line's start
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert json.loads(out)["tier"] == "local"


def test_standard_input_from_a_pipe_gets_no_notice(diff_file: Path) -> None:
    run = subprocess.run(
        [*MODULE, "score", "-"], input=diff_file.read_bytes(), capture_output=True, check=False
    )
    assert run.returncode == 0
    assert run.stderr == b""


def test_ctrl_c_while_waiting_for_input_says_interrupted_and_exits_130() -> None:
    with terminal() as (_, child):
        proc = subprocess.Popen(
            [*MODULE, "score", "-"],
            stdin=child,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env(),
        )
        assert proc.stderr is not None
        assert NOTICE in read_until(proc.stderr.fileno(), NOTICE)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert out == b""
    assert err.decode().splitlines()[-1] == "tierbot: interrupted"
    assert b"Traceback" not in err
    assert b"KeyboardInterrupt" not in err


def test_ctrl_c_while_the_model_is_answering_leaves_no_asyncio_traceback(
    diff_file: Path,
) -> None:
    with FakeAnthropic() as fake:
        fake.reply(replace(message("{}"), delay=30))
        proc = subprocess.Popen(
            [*MODULE, "review", "--tier", "frontier", "--diff", str(diff_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env(ANTHROPIC_API_KEY="sk-ant-test-0123456789", ANTHROPIC_BASE_URL=fake.base_url),
        )
        deadline = time.monotonic() + 30
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.requests, "the review never asked the model"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.decode().strip().splitlines() == ["tierbot: interrupted"]
    assert out == b""


def test_progress_shows_on_a_terminal_while_the_model_takes_its_time(diff_file: Path) -> None:
    with FakeAnthropic() as fake, terminal() as (controller, child):
        fake.reply(replace(message('{"comments": []}'), delay=2.5))
        proc = subprocess.Popen(
            [*MODULE, "review", "--tier", "frontier", "--diff", str(diff_file)],
            stdout=subprocess.PIPE,
            stderr=child,
            env=env(ANTHROPIC_API_KEY="sk-ant-test-0123456789", ANTHROPIC_BASE_URL=fake.base_url),
        )
        os.close(child)
        shown = read_until(controller, b"answered")
        out, _ = proc.communicate(timeout=30)
        shown += read_until(controller, b"\x1b[K", timeout=2)
    assert proc.returncode == 0, shown
    line = shown.decode()
    assert "frontier model claude-sonnet-5-5: 0 of 1 part answered" in line
    assert " s)" in line
    assert line.rstrip().endswith("\r\x1b[K")  # cleared before the result is printed
    assert b"Reviewed by frontier" in out


def test_progress_stays_off_when_stderr_is_not_a_terminal(diff_file: Path) -> None:
    with FakeAnthropic() as fake:
        fake.reply(replace(message('{"comments": []}'), delay=1.5))
        run = subprocess.run(
            [*MODULE, "review", "--json", "--tier", "frontier", "--diff", str(diff_file)],
            capture_output=True,
            env=env(ANTHROPIC_API_KEY="sk-ant-test-0123456789", ANTHROPIC_BASE_URL=fake.base_url),
            check=False,
        )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["reviewed"] is True
    assert b"answered" not in run.stderr
    assert b"\x1b" not in run.stderr

"""`tierbot serve`'s workers in a child process of their own, on the same SQLite queue and ledger.

Why a process and not tasks beside the webhook: a review does about 20 ms of Python work per job
on its event loop (HTTP clients, the secret scan, rendering), and in one process every delivery
that arrives meanwhile waits for it, and for the interpreter lock, which a busy thread hands over
only every few milliseconds. In a process of its own the workers share the machine's cores with
the webhook through the operating system's scheduler, which runs a woken process at once: a
delivery's answer no longer waits behind a review (see bench/webhook.py).

The two processes talk over two pipes, one byte or one line at a time:

- web → workers: a byte after each job queued wakes an idle worker at once (the queue is polled
  too, every `poll_seconds`, so a lost wake-up only delays); end of file (the web process stopped,
  or died) stops the workers.
- workers → web: each change in whether GitHub answers, one JSON line, so that `/healthz` reports
  what the jobs' requests found.

The child is started with the `spawn` method (a fresh interpreter: nothing of the web process's
threads or sockets is inherited), dies with its parent on Linux (`PR_SET_PDEATHSIG`, so a killed
server leaves no worker running a job that a restarted one will run again), ignores Ctrl-C (its
parent stops it) and stops on SIGTERM. When it exits while the server runs, the parent logs an
error and starts a new one, waiting longer after each quick exit, up to a minute. Counts reach
the web process's `/metrics` through prometheus-client's multiprocess mode, which `tierbot
serve` turns on (bot.faces.cli.main).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import multiprocessing
import os
import signal
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import structlog

from bot.adapters import logs
from bot.adapters.reachability import Reachability
from bot.adapters.settings import Settings
from bot.faces.app import listener
from bot.faces.app.parts import build_base, freeze_heap, then_freeze_once, workers_for, working

log = structlog.get_logger("tierbot.server")

RESTART_SECONDS = (1.0, 60.0)  # the first and the longest wait before starting a new child
STOP_SECONDS = 10.0  # how long a stopping child may take to put its jobs down
_STEADY_SECONDS = 60.0  # a child that ran this long resets the wait
_PR_SET_PDEATHSIG = 1


class WorkerProcess:
    """The parent's side: start the child, wake it, hear from it, restart it, stop it."""

    def __init__(self, settings: Settings, github: Reachability) -> None:
        self._settings = settings
        self._github = github
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._wake_fd: int | None = None
        self._news: Connection | None = None
        self._buffer = b""
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        """The running child's process id, None when there is none."""
        process = self._process
        return None if process is None or not process.is_alive() else int(process.pid)

    async def start(self) -> None:
        """Start the child, and watch it: it is started again whenever it exits unasked."""
        self._stopping = False
        self._spawn()
        self._watch = asyncio.create_task(self._supervise(), name="tierbot-worker-process")

    def wake(self) -> None:
        """Tell the child that a job was queued (never blocks: one pending byte is enough)."""
        if self._wake_fd is None:
            return
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(self._wake_fd, b"\0")

    async def stop(self) -> None:
        """Close the wake pipe (the child stops its workers and exits), wait for it, and
        terminate it if it takes longer than STOP_SECONDS."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self._end_child()

    def _spawn(self) -> None:
        wake_read, wake_write = self._context.Pipe(duplex=False)
        news_read, news_write = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=child_main,
            args=(self._settings, wake_read, news_write, os.getpid()),
            name="tierbot-workers",
            daemon=False,
        )
        process.start()
        wake_read.close()  # the child holds its own copies now
        news_write.close()
        os.set_blocking(wake_write.fileno(), False)
        self._wake_fd = os.dup(wake_write.fileno())
        wake_write.close()
        self._news = news_read
        asyncio.get_running_loop().add_reader(news_read.fileno(), self._heard)
        self._process = process
        log.info("workers started in a child process", pid=process.pid)

    def _heard(self) -> None:
        """Lines from the child: GitHub's reachability as its jobs found it."""
        assert self._news is not None
        try:
            data = os.read(self._news.fileno(), 65536)
        except OSError:
            data = b""
        if not data:  # the child is gone; `_supervise` sees it
            asyncio.get_running_loop().remove_reader(self._news.fileno())
            return
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError, TypeError):
                self._github.record(json.loads(line)["error"])

    async def _supervise(self) -> None:
        delay, longest = RESTART_SECONDS
        while True:
            started = time.monotonic()
            process = self._process
            await asyncio.to_thread(process.join)
            if self._stopping:
                return
            log.error(
                "the worker process exited; starting a new one",
                pid=process.pid,
                exit_code=process.exitcode,
                retry_in=delay,
            )
            await self._end_child()
            if time.monotonic() - started > _STEADY_SECONDS:
                delay = RESTART_SECONDS[0]
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)
            self._spawn()

    async def _end_child(self) -> None:
        if self._wake_fd is not None:
            os.close(self._wake_fd)  # end of file: the child stops
            self._wake_fd = None
        process, self._process = self._process, None
        if process is not None:
            await asyncio.to_thread(process.join, STOP_SECONDS)
            if process.is_alive():
                log.error("the worker process did not stop in time; terminating it")
                process.terminate()
                await asyncio.to_thread(process.join, STOP_SECONDS)
            process.close()
        if self._news is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._news.fileno())
            self._news.close()
            self._news = None
            self._buffer = b""


def child_main(settings: Settings, wake: Connection, news: Connection, parent: int) -> None:
    """The child's entry point: run the workers until the parent closes the wake pipe, dies or
    sends SIGTERM."""
    _die_with(parent)
    # Ctrl-C reaches the whole process group: the parent stops the child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logs.configure()  # the child's own logging, as the parent's
    with asyncio.Runner(loop_factory=listener.event_loop) as runner:
        runner.run(_run_workers(settings, wake.fileno(), news.fileno()))


async def _run_workers(settings: Settings, wake_fd: int, news_fd: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def woken() -> None:
        try:
            data = os.read(wake_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            workers.wake()
        else:
            loop.remove_reader(wake_fd)
            stop.set()

    base = await build_base(settings, migrate=False)
    base.github.on_change = lambda error: _tell(news_fd, error)
    workers = workers_for(settings, base)
    os.set_blocking(wake_fd, False)
    loop.add_reader(wake_fd, woken)
    freeze_heap()
    workers.on_outcome = then_freeze_once(workers.on_outcome)
    try:
        async with working(workers, settings.feedback_interval_seconds):
            await stop.wait()
    finally:
        await base.aclose()


def _tell(news_fd: int, error: str | None) -> None:
    with contextlib.suppress(OSError):
        os.write(news_fd, json.dumps({"error": error}).encode() + b"\n")


def _die_with(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)

"""Slow and hostile clients against a real `tierbot serve` (a subprocess, `python -m bot serve`):
1,000 connections trickling their headers or their bodies, from a separate process
(tests/slow_clients.py), must not keep /healthz from answering, and are cut off after the
timeouts; a server whose open-file limit is low sheds a flood and stays quiet and alive.

GitHub is unreachable in these runs (an address nothing listens on): the server serves anyway.

Latency on a shared two-core machine moves with whatever else runs, so the 100 ms check is on
the median of 15 probes under load, each a fresh connection timed from connect to the end of
the answer. The figures beside a server without the limits come from bench/slowclients.py.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.fake_github_api import private_pem

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 3
SLOW = 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthz(port: int, timeout: float = 5.0) -> tuple[int, float]:
    """GET /healthz on a fresh connection: the status (0 when refused or cut) and the seconds
    from connecting to the end of the answer."""
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return 0, time.perf_counter() - started
    status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, time.perf_counter() - started


@contextmanager
def tierbot_serve(
    tmp_path: Path, env: dict[str, str], fd_limit: int | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    """`python -m bot serve` on a free port, with the App's settings, GitHub unreachable and a
    low open-file limit (soft and hard) when asked; yields the port, the process and its log."""
    port, log = free_port(), tmp_path / "serve.log"
    (tmp_path / "key.pem").write_text(private_pem(), encoding="utf-8")
    environment = {
        **os.environ,
        "TIERBOT_GITHUB_APP_ID": "1",
        "TIERBOT_GITHUB_PRIVATE_KEY_FILE": str(tmp_path / "key.pem"),
        "TIERBOT_WEBHOOK_SECRET": "slow",
        "TIERBOT_GITHUB_API_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "TIERBOT_GITHUB_APP_SLUG": "tierbot",
        "TIERBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'tierbot.db'}",
        **env,
    }

    command = ["serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            limited(fd_limit, command), cwd=ROOT, env=environment, stdout=out, stderr=out
        )
    try:
        wait_until("the server answers /healthz", lambda: healthz(port, 1)[0] == 200, 30, log)
        yield port, process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def limited(fd_limit: int | None, arguments: list[str]) -> list[str]:
    """The command line of `python -m bot ARGUMENTS`, with the open-file limit (soft and hard)
    set to `fd_limit` first when it is given."""
    if fd_limit is None:
        return [sys.executable, "-m", "bot", *arguments]
    program = (
        "import resource, runpy, sys; limit = int(sys.argv.pop(1)); "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)); "
        "runpy.run_module('bot', run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-c", program, str(fd_limit), *arguments]


def wait_until(what: str, check: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s; log:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


@contextmanager
def slow_clients(port: int, *args: str) -> Iterator[subprocess.Popen[str]]:
    load = subprocess.Popen(
        [sys.executable, "-m", "tests.slow_clients", "--port", str(port), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield load
    finally:
        if load.poll() is None:
            load.kill()
        load.wait()


def lines(load: subprocess.Popen[str]) -> Iterator[dict[str, Any]]:
    assert load.stdout is not None
    for line in load.stdout:
        yield json.loads(line)


@pytest.fixture(autouse=True)
def enough_descriptors() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * SLOW + 200:
        pytest.skip(f"the open-file hard limit ({hard}) is too low for {SLOW} connections")


def test_healthz_answers_under_1000_slow_clients_and_they_are_cut_after_the_timeout(
    tmp_path: Path,
) -> None:
    timeouts = {
        "TIERBOT_HEADER_TIMEOUT_SECONDS": str(TIMEOUT_S),
        "TIERBOT_BODY_TIMEOUT_SECONDS": str(TIMEOUT_S),
    }
    with (
        tierbot_serve(tmp_path, timeouts) as (port, _, log),
        slow_clients(port, "--connections", str(SLOW), "--seconds", "20") as load,
    ):
        reports = lines(load)
        opened = next(reports)
        probes = []
        for _ in range(15):
            probes.append(healthz(port))
            time.sleep(0.05)
        summary = next(reports)

    assert opened == {"open": SLOW, "refused": 0}
    assert [status for status, _ in probes] == [200] * 15
    median = statistics.median(seconds for _, seconds in probes)
    assert median < 0.1, f"median /healthz {median * 1000:.0f} ms under load: {probes}"
    # Every slow client was cut off, none before the timeout, all soon after it (the slack
    # is for a loaded machine). Trickled heads get a 408; a cut body has nothing to answer.
    assert (summary["opened"], summary["cut"], summary["still_open"]) == (SLOW, SLOW, 0)
    assert summary["cut_after_quartiles"][0] >= TIMEOUT_S - 0.1
    assert summary["cut_after_max"] < TIMEOUT_S + 5
    assert summary["statuses"] == {"408": SLOW // 2}
    # The cut-offs are logged once a minute, not a thousand times.
    text = log.read_text()
    assert 1 <= text.count("no complete request head in time") <= 2
    assert 1 <= text.count("request body did not arrive in time") <= 2


def test_with_a_low_open_file_limit_a_flood_keeps_evicting_itself_and_the_server_stays_quiet(
    tmp_path: Path,
) -> None:
    # 256 descriptors: the cap becomes 128 connections (bot.faces.app.listener keeps 128 for the
    # rest).
    # 600 clients that connect and send nothing, reconnecting as soon as they are cut.
    flood = ["--connections", "600", "--modes", "idle", "--seconds", "3.5", "--reconnect"]
    env = {"TIERBOT_HEADER_TIMEOUT_SECONDS": "2"}
    with (
        tierbot_serve(tmp_path, env, fd_limit=256) as (port, process, log),
        slow_clients(port, *flood) as load,
    ):
        reports = lines(load)
        next(reports)
        cpu_before = _cpu_seconds(process.pid)
        probes = []
        for _ in range(10):
            probes.append(healthz(port))
            time.sleep(0.2)
        cpu = _cpu_seconds(process.pid) - cpu_before
        summary = next(reports)
        assert process.poll() is None

    # A probe sends its request at once: it takes the place of a client that sent nothing.
    assert sum(status == 200 for status, _ in probes) >= 8, probes
    assert summary["statuses"].get("408", 0) > 600  # the flood, closing its own connections
    assert cpu < 4, f"the server used {cpu:.1f} s of CPU in about 3 s of flood"
    text = log.read_text()
    assert "connection cap lowered from 2048 to 128" in text
    assert text.count("closing the slowest client") <= 2
    assert len(text) < 20_000, f"{len(text)} bytes of log in one flood"


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

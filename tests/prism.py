"""GitHub's REST API mocked by Prism from GitHub's own OpenAPI description (`@octokit/openapi`),
so every request the bot makes is checked against GitHub's schema.

Prism answers a request that breaks the schema with 422 (where the operation documents one) and
logs each violation; its log is read back here, request by request. It runs without `--errors`:
that flag also turns violations in Prism's own answers into 500s, and GitHub's examples do not
always match GitHub's schemas (the pull request example lacks `requested_teams[].type`). Those
response violations are kept apart: they are not the bot's doing.

The packages come from `npm ci --prefix tests/contract`; tests that use the `prism` fixture skip
with that hint when they (or node) are missing.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CONTRACT_DIR = Path(__file__).resolve().parent / "contract"
PRISM_BIN = CONTRACT_DIR / "node_modules" / ".bin" / "prism"
GITHUB_SPEC = (
    CONTRACT_DIR
    / "node_modules"
    / "@octokit"
    / "openapi"
    / "generated"
    / "api.github.com.deref.json"
)
_STARTUP_S = 120.0  # it parses a 70 MB description: about 10 s on a quiet 2-core machine
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RECEIVED = re.compile(r"\[HTTP SERVER\] (\w+) (\S+) .*Request received")
_VIOLATION = re.compile(r"Violation: (request|response)\.?(\S*) (.*)")
_TERMINATED = re.compile(r"\[HTTP SERVER\] .*Request terminated with error: (.*)")


@dataclass
class PrismRequest:
    """One request as Prism logged it: what broke the schema on each side, and any refusal."""

    method: str
    path: str
    request_violations: list[str] = field(default_factory=list)
    response_violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """What the client did wrong: request violations and refusals (406 on Accept, ...)."""
        return [f"{self.method} {self.path}: {p}" for p in self.request_violations + self.errors]


@dataclass
class Prism:
    url: str
    log_path: Path

    def requests(self, since: int = 0) -> list[PrismRequest]:
        """The requests logged so far (after the first `since`), once the log has settled."""
        self._settle()
        out: list[PrismRequest] = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = _ANSI.sub("", raw)
            if received := _RECEIVED.search(line):
                out.append(PrismRequest(received[1].upper(), received[2]))
            elif out and (violation := _VIOLATION.search(line)):
                side, where, message = violation.groups()
                target = (
                    out[-1].request_violations if side == "request" else out[-1].response_violations
                )
                target.append(f"{where}: {message}" if where else message)
            elif out and (terminated := _TERMINATED.search(line)):
                out[-1].errors.append(terminated[1])
        return [r for r in out if r.path != "/"][since:]

    def mark(self) -> int:
        """How many requests are logged now: pass it as `since` to look at later ones only."""
        return len(self.requests())

    def calls(self, since: int) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests(since)]

    def problems(self, since: int) -> list[str]:
        return [p for r in self.requests(since) for p in r.problems()]

    def _settle(self, quiet_s: float = 0.2, limit_s: float = 5.0) -> None:
        """Prism logs a response's violations after sending it: wait until the log is quiet."""
        deadline = time.monotonic() + limit_s
        size = -1
        while time.monotonic() < deadline:
            current = self.log_path.stat().st_size
            if current == size:
                return
            size = current
            time.sleep(quiet_s)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_RUNNING: list[Prism] = []


@pytest.fixture(name="prism", scope="session")
def prism_fixture(tmp_path_factory: pytest.TempPathFactory) -> Prism:
    """Prism serving GitHub's REST description on a free local port. One process serves the
    whole test run, however many modules import this fixture; it is stopped at exit."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the GitHub contract tests need it to run Prism")
    if not (PRISM_BIN.exists() and GITHUB_SPEC.exists()):
        pytest.skip(
            f"Prism or GitHub's OpenAPI description missing in {CONTRACT_DIR}/node_modules;"
            " run `npm ci --prefix tests/contract`"
        )
    if not _RUNNING:
        _RUNNING.append(_start(tmp_path_factory.mktemp("prism") / "prism.log"))
    return _RUNNING[0]


def _start(log_path: Path) -> Prism:
    port = _free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(PRISM_BIN), "mock", str(GITHUB_SPEC), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
        )
    atexit.register(_stop, process)
    try:
        _wait_for_port(process, port, log_path)
    except BaseException:
        _stop(process)
        raise
    return Prism(f"http://127.0.0.1:{port}", log_path)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + _STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            pytest.fail(f"Prism exited with {process.returncode} while starting:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"Prism did not listen on port {port} within {_STARTUP_S:.0f} s")

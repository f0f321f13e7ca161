"""Crash recovery: `tierbot serve` is killed (SIGKILL) while a review runs, started again on the
same SQLite file, and the review is posted exactly once.

The server is a real subprocess (`python -m bot serve`) whose GitHub is Prism behind
tests/github_proxy.py and whose frontier model is the fake Messages API. The fake holds its
first answer back, so the job is mid-flight (claimed, leased, waiting on the model) when the
process dies; nothing was posted yet. The second process finds the job still `running`, takes it
up again once its lease runs out (a short lease, TIERBOT_LEASE_SECONDS), and this time the model
answers at once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from bot.adapters.queue import JobQueue, QueuedJob
from bot.core.markers import SUMMARY_MARKER, head_marker
from tests.fake_anthropic import FakeAnthropic, fake_anthropic_fixture, message  # noqa: F401
from tests.fake_github_api import private_pem
from tests.github_proxy import GitHubProxy, github_proxy_fixture  # noqa: F401
from tests.prism import Prism, prism_fixture  # noqa: F401
from tests.test_app_e2e import ANSWER, DIFF, OWNER, REPO, opened
from tests.webhooks import SECRET, encode, headers, need_real_deliveries

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
LEASE_SECONDS = 2
STARTUP_S = 30.0
NUMBER = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float, log: Path) -> T:
    """Poll `check` until it returns something truthy; fail naming `what`, with the log's tail."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            pytest.fail(f"{what}: not within {timeout:g} s; server log:\n{tail}")
        time.sleep(0.05)


class Served:
    """`tierbot serve` processes started on the same environment, one at a time."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--port", str(port)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for("the server answering /healthz", self._healthy, STARTUP_S, self.log)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-4000:]
            pytest.fail(f"tierbot serve exited with {self.process.returncode}:\n{tail}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture(name="served")
def served_fixture(
    tmp_path: Path, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic
) -> Iterator[Served]:
    key = tmp_path / "app.pem"
    key.write_text(private_pem(), encoding="utf-8")
    # Nothing of the outer environment's settings leaks in (a real key, a local model).
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TIERBOT_", "ANTHROPIC_", "GITHUB_"))
    }
    env |= {
        "TIERBOT_GITHUB_APP_ID": "4242",
        "TIERBOT_GITHUB_PRIVATE_KEY_FILE": str(key),
        "TIERBOT_WEBHOOK_SECRET": SECRET,
        "TIERBOT_GITHUB_API_URL": github_proxy.url,
        "TIERBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'tierbot.db'}",
        # One worker: nobody else in the first process can take the job over while it waits.
        "TIERBOT_WORKERS": "1",
        "TIERBOT_LEASE_SECONDS": str(LEASE_SECONDS),
        "ANTHROPIC_API_KEY": "sk-ant-e2e",
        "ANTHROPIC_BASE_URL": fake_anthropic.base_url,
        "PYTHONUNBUFFERED": "1",
    }
    made = Served(env, tmp_path / "serve.log")
    try:
        yield made
    finally:
        made.stop()


def stored(database: Path, job_id: int) -> QueuedJob:
    with JobQueue(database) as queue:
        job = queue.get(job_id)
    assert job is not None
    return job


def test_a_review_killed_mid_flight_is_posted_exactly_once_after_a_restart(
    tmp_path: Path,
    prism: Prism,
    github_proxy: GitHubProxy,
    fake_anthropic: FakeAnthropic,
    served: Served,
) -> None:
    need_real_deliveries()
    database = tmp_path / "tierbot.db"
    github_proxy.diffs[(OWNER, REPO, NUMBER)] = DIFF
    text = json.dumps(ANSWER)
    # The first answer is held back far longer than the test runs (the fake's shutdown ends the
    # wait); the second comes at once.
    fake_anthropic.reply(message(text, delay=120.0), message(text))
    since = prism.mark()
    reviews = f"/repos/{OWNER}/{REPO}/pulls/{NUMBER}/reviews"
    comments = f"/repos/{OWNER}/{REPO}/issues/{NUMBER}/comments"

    served.start()
    body = encode(opened(NUMBER))
    answer = httpx.post(
        f"{served.url}/webhook", content=body, headers=headers("pull_request", body), timeout=10
    )
    assert answer.status_code == 202, answer.text
    (job_id,) = answer.json()["jobs"]

    wait_for("the model asked", lambda: len(fake_anthropic.requests) == 1, 90, served.log)
    served.kill()
    crashed = stored(database, job_id)
    assert (crashed.state, crashed.attempts) == ("running", 1)
    assert github_proxy.find("POST", reviews) == []
    assert github_proxy.find("POST", comments) == []

    def finished() -> QueuedJob | None:
        job = stored(database, job_id)
        return job if job.state in ("done", "failed") else None

    served.start()
    done = wait_for("the job finished after the restart", finished, 90, served.log)
    assert (done.state, done.attempts) == ("done", 2), done.error
    assert done.outcome == "reviewed by frontier: 1 comment (pull_request.opened)"
    assert "lease expired" in (done.error or "")  # how it came back: its lease ran out
    assert len(fake_anthropic.requests) == 2

    (review,) = github_proxy.find("POST", reviews)
    pulls = [e for e in github_proxy.find("GET", rf".*/pulls/{NUMBER}") if e.by == "prism"]
    assert len(pulls) == 2  # read once by each process
    head = pulls[-1].answer_json()["head"]["sha"]
    assert (review.body["event"], review.body["commit_id"]) == ("COMMENT", head)
    assert len(review.body["comments"]) == 1
    (summary,) = github_proxy.find("POST", comments)
    assert summary.body["body"].startswith(SUMMARY_MARKER)
    assert head_marker(head) in summary.body["body"]
    assert github_proxy.find("PATCH", r".*/issues/comments/[0-9]+") == []
    assert prism.problems(since) == []

"""`tierbot serve` runs its workers in a child process: the child does the reviews, its counts
show on the server's `/metrics`, a child that dies is started again, and a killed server leaves
no child behind.

The server is a real subprocess (`python -m bot serve`) with GitHub at Prism behind
tests/github_proxy.py and the frontier model at the fake Messages API, as in
tests/test_crash_recovery.py, whose fixtures these tests share.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.fake_anthropic import FakeAnthropic, fake_anthropic_fixture, message  # noqa: F401
from tests.github_proxy import GitHubProxy, github_proxy_fixture  # noqa: F401
from tests.prism import Prism, prism_fixture  # noqa: F401
from tests.test_app_e2e import ANSWER, DIFF, OWNER, REPO, opened
from tests.test_crash_recovery import Served, served_fixture, wait_for  # noqa: F401
from tests.webhooks import encode, headers, need_real_deliveries

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the process tree from /proc"
)


def worker_children(pid: int) -> list[int]:
    """The worker processes `pid` started: spawned interpreters other than multiprocessing's
    resource tracker."""
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = []
    for child in map(int, listed):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"spawn_main" in command and b"resource_tracker" not in command:
            found.append(child)
    return found


def running(pid: int) -> bool:
    """Whether `pid` is a live process (not gone, not a zombie waiting to be reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return re.search(r"^State:\s+Z", status, re.MULTILINE) is None


def review_one(served: Served, github_proxy: GitHubProxy, number: int) -> None:
    """Send a pull request's delivery and wait for its review to be posted."""
    github_proxy.diffs[(OWNER, REPO, number)] = DIFF
    body = encode(opened(number))
    answer = httpx.post(
        f"{served.url}/webhook", content=body, headers=headers("pull_request", body), timeout=10
    )
    assert answer.status_code == 202, answer.text
    reviews = f"/repos/{OWNER}/{REPO}/pulls/{number}/reviews"
    wait_for("the review posted", lambda: github_proxy.find("POST", reviews), 90, served.log)


def metric(served: Served, name: str, labels: str) -> float:
    text = httpx.get(f"{served.url}/metrics", timeout=5).text
    found = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_the_child_reviews_counts_on_metrics_and_dies_with_a_killed_server(
    prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic, served: Served
) -> None:
    need_real_deliveries()
    fake_anthropic.reply(message(json.dumps(ANSWER)))
    served.start()
    process = served.process
    assert process is not None
    (child,) = wait_for("a worker process", lambda: worker_children(process.pid), 10, served.log)
    assert child != process.pid

    review_one(served, github_proxy, 7)
    done = 'kind="review",outcome="done"'
    assert (
        wait_for(
            "the job counted", lambda: metric(served, "tierbot_jobs_total", done), 10, served.log
        )
        == 1
    )
    assert metric(served, "tierbot_webhooks_total", 'event="pull_request",result="queued"') == 1
    assert metric(served, "tierbot_job_seconds_count", 'kind="review"') == 1
    assert metric(served, "tierbot_model_seconds_count", 'tier="frontier"') == 1

    served.kill()
    wait_for("the child gone with its parent", lambda: not running(child), 10, served.log)


def test_a_worker_process_that_dies_is_started_again(
    prism: Prism, github_proxy: GitHubProxy, fake_anthropic: FakeAnthropic, served: Served
) -> None:
    need_real_deliveries()
    fake_anthropic.reply(message(json.dumps(ANSWER)))
    served.start()
    assert served.process is not None
    parent = served.process.pid
    (first,) = wait_for("a worker process", lambda: worker_children(parent), 10, served.log)
    os.kill(first, signal.SIGKILL)

    def replaced() -> list[int]:
        return [pid for pid in worker_children(parent) if pid != first]

    (second,) = wait_for("a new worker process", replaced, 15, served.log)
    assert "the worker process exited; starting a new one" in served.log.read_text()
    review_one(served, github_proxy, 8)
    assert running(second)

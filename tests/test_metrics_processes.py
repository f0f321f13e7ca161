"""Metrics across processes: prometheus-client's multiprocess mode, with real processes writing
to one `PROMETHEUS_MULTIPROC_DIR` and one scrape of the web app's `/metrics` seeing their sum."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.adapters.metrics import MULTIPROC_DIR, Metrics
from tests.test_web import parse_prometheus

ROOT = Path(__file__).resolve().parent.parent

# One process's work: webhooks, a histogram, spend (a float) and the queue gauge.
WRITER = """
import sys
from bot.adapters.metrics import (
    DOLLARS, JOBS, QUEUE_JOBS, WEBHOOK_SECONDS, WEBHOOKS, Metrics,
)
n = int(sys.argv[1])
metrics = Metrics()
assert metrics.multiprocess_dir is not None
for _ in range(n):
    metrics.inc(WEBHOOKS, {"event": "pull_request", "result": "queued"})
    metrics.observe(WEBHOOK_SECONDS, {"event": "pull_request"}, 0.003)
metrics.inc(JOBS, {"kind": "review", "outcome": "done"}, n)
metrics.inc(DOLLARS, {"tier": "frontier"}, 0.25)
metrics.set_gauge(QUEUE_JOBS, {"state": "waiting"}, n)
"""

# The scrape: the real web app's GET /metrics, in a process that counted nothing itself.
SCRAPER = """
import sys
from pathlib import Path
from starlette.testclient import TestClient
from bot.adapters.metrics import Metrics
from bot.adapters.queue import JobQueue
from bot.faces.app.events import EventSettings
from bot.faces.app.web import create_app
queue = JobQueue(Path(sys.argv[1]))
app = create_app(secret="s", queue=queue, bot_login="tierbot[bot]",
                 event_settings=EventSettings(), metrics=Metrics())
with TestClient(app) as client:
    response = client.get("/metrics")
assert response.status_code == 200, response.status_code
sys.stdout.write(response.text)
"""


def _python(code: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out


def test_two_processes_counts_add_up_in_one_scrape(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {**os.environ, MULTIPROC_DIR: str(folder)}
    writers = [_python(WRITER, str(n), env=env) for n in (300, 200)]  # at once
    for writer in writers:
        _finish(writer)
    assert len(list(folder.glob("*.db"))) >= 2  # one set of files per process

    samples = parse_prometheus(_finish(_python(SCRAPER, str(tmp_path / "q.db"), env=env)))
    assert samples['tierbot_webhooks_total{event="pull_request",result="queued"}'] == 500
    assert samples['tierbot_webhook_seconds_count{event="pull_request"}'] == 500
    assert samples['tierbot_webhook_seconds_bucket{event="pull_request",le="0.005"}'] == 500
    assert samples['tierbot_jobs_total{kind="review",outcome="done"}'] == 500
    assert samples['tierbot_spend_usd_total{tier="frontier"}'] == pytest.approx(0.5)
    # The gauge is the queue as last read (here by the scrape: an empty queue), never a sum.
    assert samples['tierbot_queue_jobs{state="waiting"}'] == 0


def test_without_the_folder_a_process_renders_its_own_counts() -> None:
    if os.environ.get(MULTIPROC_DIR):
        pytest.skip(f"the tests were started with {MULTIPROC_DIR} set")
    metrics = Metrics()
    assert metrics.multiprocess_dir is None
    metrics.inc("tierbot_reviews_total", {"tier": "local"}, 2)
    assert parse_prometheus(metrics.render())['tierbot_reviews_total{tier="local"}'] == 2


def test_setting_the_folder_after_the_start_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prometheus-client chose in-memory values when it was imported: counting now would not
    # reach the folder, and a scrape of it would silently miss this process.
    if os.environ.get(MULTIPROC_DIR):
        pytest.skip(f"the tests were started with {MULTIPROC_DIR} set")
    monkeypatch.setenv(MULTIPROC_DIR, str(tmp_path))
    with pytest.raises(RuntimeError, match="before the process starts"):
        Metrics()


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    env = {**os.environ, MULTIPROC_DIR: str(tmp_path / "absent")}
    code = "from bot.adapters.metrics import Metrics; Metrics()"
    process = _python(code, env=env)
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "is not a folder" in err

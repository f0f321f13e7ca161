"""The scale-out mode end to end, in real processes on the real PostgreSQL: `tierbot migrate`,
two `tierbot serve` web replicas and two `tierbot worker` processes, with GitHub and the
Messages API faked over HTTP (bench/fakes.py in a process of its own).

200 signed deliveries for 50 pull requests, sent to either replica: bursts of pushes to each
pull request, and a fifth of the deliveries sent again to the other replica (GitHub's
redeliveries). Every pull request's head is reviewed exactly once, no job is lost, the ledger
holds one review per pull request. Then a worker is killed mid-job (the model's answer is slowed
down so the job is in flight): the job finishes on another worker, still reviewed once.

Skipped, with the reason, where no PostgreSQL server answers (see tests/postgres.py).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bot.faces.app.delivery import signature
from tests.fake_github_api import private_pem
from tests.postgres import fresh_schema
from tests.webhooks import payload

ROOT = Path(__file__).resolve().parents[1]
SECRET = "tierbot-scale-out-secret"
PULLS = 50
PUSHES = 4  # per pull request: 200 deliveries in all
REDELIVERED = 0.2
WAIT_SECONDS = 90.0


class Process:
    """A process of this test, its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                command, cwd=ROOT, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT
            )

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _until(what: str, check: Callable[[], bool], timeout: float, *procs: Process) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for proc in procs:
            if proc.popen.poll() is not None:
                raise AssertionError(
                    f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}"
                )
        time.sleep(0.1)
    tails = "\n".join(f"--- {p.name}\n{p.tail()}" for p in procs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema("tierbot_scale") as url:
        yield url


@pytest.fixture
def fakes(tmp_path: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fakes.py")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "fakes.log").open("wb"),
        text=True,
    )
    assert proc.stdout is not None
    fakes_url = proc.stdout.readline().strip()
    assert fakes_url.startswith("http://"), (tmp_path / "fakes.log").read_text()
    yield fakes_url
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)


def _env(url: str, fakes_url: str) -> dict[str, str]:
    many = str(10**9)
    return {
        "TIERBOT_GITHUB_APP_ID": "4242",
        "TIERBOT_GITHUB_PRIVATE_KEY": private_pem(),
        "TIERBOT_GITHUB_APP_SLUG": "tierbot",
        "TIERBOT_WEBHOOK_SECRET": SECRET,
        "TIERBOT_GITHUB_API_URL": fakes_url,
        "TIERBOT_DATABASE_URL": url,
        "ANTHROPIC_API_KEY": "sk-ant-scale",
        "ANTHROPIC_BASE_URL": fakes_url,
        "TIERBOT_REVIEWS_PER_AUTHOR_HOUR": many,
        "TIERBOT_REVIEWS_PER_REPO_HOUR": many,
    }


def _tierbot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", *args]


def _delivery(template: dict[str, Any], number: int, push: int) -> tuple[str, bytes]:
    body = copy.deepcopy(template)
    sha = hashlib.sha1(f"{number}-{push}".encode()).hexdigest()
    body["number"] = number
    body["pull_request"]["number"] = number
    body["pull_request"]["draft"] = False
    body["pull_request"]["head"]["sha"] = sha
    body["installation"] = {**body.get("installation", {}), "id": number}
    return str(uuid.uuid4()), json.dumps(body).encode()


async def _send(targets: list[str], deliveries: list[tuple[str, bytes]]) -> list[int]:
    async def one(client: httpx.AsyncClient, target: str, delivery: str, body: bytes) -> int:
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature(SECRET.encode(), body),
        }
        response = await client.post(f"{target}/webhook", content=body, headers=headers)
        return response.status_code

    async with httpx.AsyncClient(timeout=30) as client:
        tasks = []
        for i, (delivery, body) in enumerate(deliveries):
            tasks.append(one(client, targets[i % 2], delivery, body))
        return list(await asyncio.gather(*tasks))


def _fakes_state(fakes_url: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{fakes_url}/_bench/state", timeout=10).json()
    found["reviews"] = {int(k): v for k, v in found["reviews"].items()}
    return found


def _statuses(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT status::text, count(*) FROM procrastinate_jobs WHERE task_name = 'tierbot.job'"
            " GROUP BY status"
        ).fetchall()
    return {str(status): int(count) for status, count in rows}


def _settled(url: str) -> bool:
    statuses = _statuses(url)
    return statuses.get("todo", 0) == 0 and statuses.get("doing", 0) == 0


def test_replicas_and_workers_review_each_head_once(url: str, fakes: str, tmp_path: Path) -> None:
    env = _env(url, fakes)
    migrated = subprocess.run(
        _tierbot("migrate"),
        check=False,
        cwd=ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
    )
    assert migrated.returncode == 0, migrated.stderr

    ports = [_free_port(), _free_port()]
    webs = [
        Process(f"web{i}", _tierbot("serve", "--port", str(port)), env, tmp_path)
        for i, port in enumerate(ports)
    ]
    # A worker silent for 2 s whose process is gone is taken for dead: short, for the test.
    worker_args = ("worker", "--concurrency", "10", "--stalled-after", "2")
    workers = [Process(f"worker{i}", _tierbot(*worker_args), env, tmp_path) for i in range(2)]
    procs = [*webs, *workers]
    try:
        for web, port in zip(webs, ports, strict=True):
            # Generous: on a small machine under load a replica takes tens of seconds to import.
            _until(f"{web.name} to listen", functools.partial(_listening, port), 90, web)
        template = payload("pull_request", "synchronize")
        rng = random.Random(11)
        deliveries: list[tuple[str, bytes]] = []
        for number in range(1, PULLS + 1):  # a burst of pushes to each pull request
            deliveries += [_delivery(template, number, push) for push in range(PUSHES)]
        again = rng.sample(deliveries, int(len(deliveries) * REDELIVERED))
        targets = [f"http://127.0.0.1:{port}" for port in ports]
        codes = asyncio.run(_send(targets, deliveries))
        assert set(codes) == {202}, codes
        codes = asyncio.run(_send(targets[::-1], again))  # redelivered to the other replica
        assert set(codes) == {200}, codes

        _until(
            "every pull request reviewed and the queue drained",
            lambda: len(_fakes_state(fakes)["reviews"]) == PULLS and _settled(url),
            WAIT_SECONDS,
            *procs,
        )
        assert _fakes_state(fakes)["reviews"] == dict.fromkeys(range(1, PULLS + 1), 1)
        statuses = _statuses(url)
        assert set(statuses) == {"succeeded"}, statuses  # no job lost or failed
        assert PULLS <= statuses["succeeded"] < PULLS * PUSHES  # bursts coalesced
        with psycopg.connect(url) as conn:
            seen = conn.execute("SELECT count(*) FROM tierbot_deliveries").fetchone()
            ledger = conn.execute(
                "SELECT number, outcome, head_sha FROM ledger_reviews ORDER BY number, id"
            ).fetchall()
        assert seen == (len(deliveries),)
        reviewed = [number for number, outcome, _ in ledger if outcome == "reviewed"]
        assert sorted(reviewed) == list(range(1, PULLS + 1)), ledger

        # A worker killed mid-job: its job finishes on the other one.
        workers[1].stop()
        httpx.post(f"{fakes}/_bench/delay", json={"seconds": 3}, timeout=10)
        calls = _fakes_state(fakes)["model_calls"]
        delivery, body = _delivery(template, PULLS + 1, 0)
        assert asyncio.run(_send(targets, [(delivery, body)])) == [202]
        _until(
            "the job to reach the model",
            lambda: _fakes_state(fakes)["model_calls"] > calls,
            20,
            *procs[:3],
        )
        spare = Process("worker2", _tierbot(*worker_args), env, tmp_path)  # starts meanwhile
        procs.append(spare)
        workers[0].stop(signal.SIGKILL)
        assert _statuses(url).get("doing") == 1  # its job is left running, its worker gone
        _until(
            "the killed worker's job to finish on another",
            lambda: PULLS + 1 in _fakes_state(fakes)["reviews"] and _settled(url),
            30,
            *webs,
            spare,
        )
        assert _fakes_state(fakes)["reviews"][PULLS + 1] == 1
        assert set(_statuses(url)) == {"succeeded"}
    finally:
        for proc in procs:
            proc.stop()

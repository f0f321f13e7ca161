"""Latency of tierbot's `POST /webhook` under a steady load while its workers review, beside a
bare Starlette endpoint.

What it measures, in one run on loopback:

* tierbot: `tierbot serve` itself (`python -m bot serve`: the App's webhook server behind
  bot.faces.app.listener, its SQLite queue and ledger in a temporary folder, `--workers` in-process
  workers), with GitHub and the Messages API at bench/fakes.py in a process of its own, over
  real HTTP. Every delivery is verified (HMAC-SHA256), parsed, routed and persisted before the
  answer, as in production, and queues a review that the workers run in full against the fakes
  (installation token, pull request, diff, settings, earlier comments, the model, the review
  and the summary posted), so the webhook is timed while the workers are busy, not beside an
  idle queue. The per-author and per-repository caps are set out of reach, so that every
  delivery is a real job. One delivery is reviewed end to end before anything is timed: the
  first review loads what a review needs (the model SDK, the secret scanners), seconds of CPU
  a server pays once;
* bare: a Starlette app with one `POST /webhook` route that answers 200 without reading the
  body or the headers: what uvicorn, Starlette and the client cost on their own.

The bare app runs under uvicorn in its own process (`uvicorn --factory webhook:bare_app` from
this file; asyncio loop and h11 unless uvloop or httptools are installed), so the load
generator, here in the bench process (asyncio and bench/rawhttp.py: prepared HTTP/1.1 requests on
keep-alive connections, each round's requests built and signed before its clock starts, so the
generator spends about 0.3 ms of CPU per request, printed), shares an interpreter with neither
server. The generator is open-loop: request i is sent at
t0 + i / `--rate` whether or not the earlier ones were answered (a slow answer does not delay the
next request, so a stall shows in the latency instead of lowering the rate). Each request is a
signed delivery as GitHub sends it: the real `pull_request.synchronize` example of
`@octokit/webhooks-examples` (under tests/contract, `npm ci --prefix tests/contract`; a realistic
built payload when it is not installed; the output says which), with a fresh `X-GitHub-Delivery`
and, so that no job coalesces with another, its own PR number and head commit, from one of 50
installations in turn, signed with `bot.faces.app.delivery.signature`. Both servers get the same
bodies.

The two servers are loaded in turn (tierbot, bare, tierbot, bare, ...) for `--rounds` rounds of
`--seconds` each, after `--warmup` seconds of untimed load on each. Latency is from the moment a
request starts being sent to its full answer, measured in the bench process.

How to read it:

* The per-round table: requests sent, answers by status, errors (no answer in 10 s, the time
  GitHub waits, refused connections, any status other than 200/202), achieved requests per
  second (answers over the time from the first send to the last answer), p50/p99/max latency in
  milliseconds, `late p99`: how late the generator started its requests against the schedule
  (large values mean the generator, not the server, could not keep up, and the latencies are
  suspect), and the server process's CPU milliseconds per request (from /proc; `n/a` elsewhere;
  tierbot's includes what its workers spent meanwhile), less noisy than latency on a busy
  machine.
* The summary pools every round: tierbot and bare side by side, and the ratio tierbot/bare of
  p50 and p99 (what verifying, routing and persisting add on top of the HTTP stack).
* The summary also gives the generator's own CPU per request, and the CPU that other work on
  the machine took meanwhile (the machine's busy time less the bench's processes, in CPUs).
* `persisted:` compares the SQLite file, read after the load while the server still runs, with
  the answers: every delivery id answered 200 or 202 must have its row in `queue_deliveries`,
  and every one answered 202 its job in `queue_jobs`. Warm-up deliveries count too.
* `workers busy:` the reviews the workers posted, and the requests they sent the fakes, while
  tierbot's rounds were timed.
* `target:` p99 under 10 ms at 200 requests/s (pooled p99 of tierbot below 10 ms, achieved rate
  at least 98% of `--rate`, no errors) and every accepted delivery persisted, each with PASS or
  FAIL. The script reports; it exits 0 either way (1 only when a server cannot be started).

Timings from a small, shared machine move from run to run: compare tierbot with bare from the
same run, and runs only on the same machine.

Run: `uv run python bench/webhook.py [--rate N] [--seconds S] [--rounds N] [--warmup S]
[--workers N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Runnable as `python bench/webhook.py` from anywhere, and importable by uvicorn as `webhook`
# (with `--app-dir bench`): put the repository root on the path.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from fakes import state  # noqa: E402 (bench/fakes.py)
from rawhttp import AnswerError, KeepAliveClient, request_bytes  # noqa: E402 (bench/rawhttp.py)

from bot.faces.app.delivery import signature  # noqa: E402
from tests.fake_github_api import private_pem  # noqa: E402

EXAMPLES = (
    _ROOT
    / "tests"
    / "contract"
    / "node_modules"
    / "@octokit"
    / "webhooks-examples"
    / "api.github.com"
    / "index.json"
)
SECRET = "tierbot-bench-webhook-secret"
BOT_LOGIN = "tierbot[bot]"
TARGET_RATE = 200.0
TARGET_P99_MS = 10.0
RATE_SHARE = 0.98  # the achieved rate must be at least this share of --rate
REQUEST_TIMEOUT = 10.0  # GitHub waits 10 s for an answer
_NUMBER_MARK = 987_654_321
_SHA_MARK = "5ead" * 10
_INSTALLATION_MARK = 876_543_219
_REPOSITORY_MARK = "bench-repository-mark"
INSTALLATIONS = 50  # deliveries spread over this many installations, as to a public App
_OK = (200, 202)


class ServerError(RuntimeError):
    """A server process did not start."""


# --- the two servers: factories for `uvicorn --factory` ---------------------------------------


def tierbot_env(db: Path, fakes_url: str, workers: int) -> dict[str, str]:
    """`tierbot serve` as a GitHub App on the embedded defaults (a SQLite file, in-process
    workers), with GitHub and the Messages API at the fakes and per-author caps out of reach, so
    every delivery queues a review that the workers run in full."""
    many = str(10**9)
    return {
        "TIERBOT_GITHUB_APP_ID": "4242",
        "TIERBOT_GITHUB_PRIVATE_KEY": private_pem(),
        "TIERBOT_GITHUB_APP_SLUG": "tierbot",
        "TIERBOT_WEBHOOK_SECRET": SECRET,
        "TIERBOT_GITHUB_API_URL": fakes_url,
        "TIERBOT_DATABASE_URL": f"sqlite:///{db}",
        "TIERBOT_WORKERS": str(workers),
        "ANTHROPIC_API_KEY": "sk-ant-bench",
        "ANTHROPIC_BASE_URL": fakes_url,
        "TIERBOT_REVIEWS_PER_AUTHOR_HOUR": many,
        "TIERBOT_REVIEWS_PER_REPO_HOUR": many,
        "TIERBOT_COMMANDS_PER_AUTHOR_HOUR": many,
        "TIERBOT_COMMANDS_PER_REPO_HOUR": many,
    }


class FakesProcess:
    """bench/fakes.py in a process of its own, so that serving the workers' requests takes no
    CPU from the load generator's interpreter."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.url = ""
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(_ROOT / "bench" / "fakes.py")],
                cwd=_ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise ServerError(f"the fakes did not start:\n{self.log.read_text()[-2000:]}")
        return self.url

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def bare_app() -> Starlette:
    """One `POST /webhook` that answers 200 at once, reading nothing."""

    async def ok(request: Request) -> Response:
        return Response(status_code=200)

    return Starlette(routes=[Route("/webhook", ok, methods=["POST"])])


@dataclass
class ServerProcess:
    """One server process on a loopback port: `tierbot serve` (factory None), or uvicorn serving
    `factory` from this file."""

    name: str
    factory: str | None
    env: dict[str, str]
    log: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.port = _free_port()
        where = ["--host", "127.0.0.1", "--port", str(self.port)]
        command = [sys.executable, "-m", "bot", "serve", *where]
        if self.factory is not None:
            command = [
                *[sys.executable, "-m", "uvicorn", "--factory", f"webhook:{self.factory}"],
                *["--app-dir", str(_ROOT / "bench"), *where, "--log-level", "warning"],
                *["--no-access-log", "--timeout-keep-alive", "300"],  # kept across rounds
            ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=_ROOT, env=os.environ | self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(self._failure(f"exited with {self.process.returncode}"))
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise ServerError(self._failure(f"did not listen within {timeout:.0f} s"))

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # uvicorn's graceful shutdown
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process, all threads; None where /proc is not."""
        return None if self.process is None else process_cpu(self.process.pid)

    def _failure(self, what: str) -> str:
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        return f"the {self.name} server {what}:\n{tail}"


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process and its descendants (`tierbot serve` runs its
    workers in a child process), all threads, with the children it has already waited for;
    None where /proc is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    own = ticks / os.sysconf("SC_CLK_TCK")
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return own + sum(process_cpu(int(child)) or 0.0 for child in children)


@dataclass
class OtherWork:
    """CPU seconds spent on the machine by anything but the bench's own processes (this one, the
    servers, the fakes): the machine's busy time from /proc/stat less theirs. None where /proc
    is not."""

    pids: list[int]

    def seconds(self) -> float | None:
        try:
            first = Path("/proc/stat").read_text().splitlines()[0].split()
        except OSError:
            return None
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in first[1:8])
        busy = (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
        ours = [process_cpu(pid) for pid in [os.getpid(), *self.pids]]
        return None if None in ours else busy - sum(c for c in ours if c is not None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the deliveries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Deliveries:
    """Signed `pull_request` deliveries made from one payload: each with its own delivery id,
    PR number and head commit, so each is a new delivery that queues a new review job, from one
    of INSTALLATIONS installations in turn (each installation's client spaces its writes a
    second apart, so one installation alone would keep the workers waiting, not working), each
    on a repository of its own, as on GitHub, where a repository belongs to one installation."""

    source: str
    action: str
    template: bytes
    secret: bytes
    repository: str  # the payload's repository name; installation i's is `<name>-i`

    @classmethod
    def make(cls, secret: str) -> Deliveries:
        payload, source = _payload()
        action = payload["action"]
        payload = copy.deepcopy(payload)
        payload["number"] = _NUMBER_MARK
        pull = payload["pull_request"]
        pull["number"] = _NUMBER_MARK
        pull["draft"] = False
        pull["head"]["sha"] = _SHA_MARK
        payload["installation"] = {**payload.get("installation", {}), "id": _INSTALLATION_MARK}
        template = json.dumps(payload).encode()
        if (
            template.count(str(_NUMBER_MARK).encode()) != 2
            or template.count(_SHA_MARK.encode()) != 1
            or template.count(str(_INSTALLATION_MARK).encode()) != 1
            or _REPOSITORY_MARK.encode() in template
        ):
            raise RuntimeError("the payload already holds the bench's marks; pick others")
        # Every mention of the repository (its name, full name, URLs) names one per installation.
        name = str(payload["repository"]["name"])
        template = template.replace(name.encode(), _REPOSITORY_MARK.encode())
        return cls(source, action, template, secret.encode(), name)

    def delivery(self, index: int) -> tuple[str, bytes, dict[str, str]]:
        """The delivery id, body and headers of the `index`-th delivery (PR number index + 1)."""
        sha = hashlib.sha1(index.to_bytes(8, "big")).hexdigest()
        body = self.template.replace(str(_NUMBER_MARK).encode(), str(index + 1).encode(), 2)
        body = body.replace(_SHA_MARK.encode(), sha.encode(), 1)
        installation = str(index % INSTALLATIONS + 1).encode()
        body = body.replace(str(_INSTALLATION_MARK).encode(), installation, 1)
        repository = self.repository.encode() + b"-" + installation
        body = body.replace(_REPOSITORY_MARK.encode(), repository)
        delivery = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/bench",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": "1",
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-Hub-Signature-256": signature(self.secret, body),
        }
        return delivery, body, headers

    def request(self, host: str, index: int) -> tuple[str, bytes]:
        """The delivery id and the whole HTTP request of the `index`-th delivery."""
        delivery, body, headers = self.delivery(index)
        return delivery, request_bytes(host, "/webhook", headers, body)


def _payload() -> tuple[dict[str, Any], str]:
    """A real pull_request.synchronize (or .opened) example sent to an App installation, or a
    built one; with a line saying which."""
    if EXAMPLES.is_file():
        index = json.loads(EXAMPLES.read_text(encoding="utf-8"))
        examples = {entry["name"]: entry["examples"] for entry in index}
        for action in ("synchronize", "opened"):
            found = [
                e
                for e in examples.get("pull_request", [])
                if e.get("action") == action and "installation" in e
            ]
            if found:
                return found[0], f"real pull_request.{action} from @octokit/webhooks-examples"
    return _built_payload(), "built pull_request.synchronize (@octokit/webhooks-examples missing)"


def _built_payload() -> dict[str, Any]:
    """A pull_request.synchronize shaped like GitHub's, with the fields a real one carries most
    of its bytes in (users, both repositories, links), for when the examples are not installed;
    in the examples' repository, which bench/fakes.py serves."""
    owner = {
        "login": "Codertocat",
        "id": 6811672,
        "node_id": "MDEyOk9yZ2FuaXphdGlvbjY4MTE2NzI=",
        "avatar_url": "https://avatars.githubusercontent.com/u/6811672?v=4",
        "html_url": "https://github.com/Codertocat",
        "type": "Organization",
        "site_admin": False,
    }
    user = owner | {"login": "mona", "id": 21031067, "type": "User"}
    repo_url = "https://api.github.com/repos/Codertocat/Hello-World"
    repository = {
        "id": 186853002,
        "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
        "name": "Hello-World",
        "full_name": "Codertocat/Hello-World",
        "private": True,
        "owner": owner,
        "html_url": "https://github.com/Codertocat/Hello-World",
        "description": "The order service",
        "fork": False,
        "url": repo_url,
        **{
            f"{name}_url": f"{repo_url}/{name}{{/number}}"
            for name in ("issues", "pulls", "commits", "branches", "tags", "labels", "milestones")
        },
        "created_at": "2019-05-15T15:19:25Z",
        "updated_at": "2024-05-15T15:20:00Z",
        "pushed_at": "2024-05-15T15:20:33Z",
        "default_branch": "main",
        "language": "Python",
        "visibility": "private",
        "size": 1024,
    }
    branch = {"label": "Codertocat:main", "ref": "main", "user": owner, "repo": repository}
    return {
        "action": "synchronize",
        "number": 2,
        "before": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        "after": "34c5c7793cb3b279e22454cb6750c80560547b3a",
        "pull_request": {
            "url": f"{repo_url}/pulls/2",
            "id": 279147437,
            "node_id": "MDExOlB1bGxSZXF1ZXN0Mjc5MTQ3NDM3",
            "html_url": "https://github.com/Codertocat/Hello-World/pull/2",
            "diff_url": "https://github.com/Codertocat/Hello-World/pull/2.diff",
            "number": 2,
            "state": "open",
            "locked": False,
            "title": "Retry the payment call on timeouts",
            "user": user,
            "body": "Retries with backoff; see the runbook.\n" * 10,
            "created_at": "2024-05-15T15:20:33Z",
            "updated_at": "2024-05-15T15:21:00Z",
            "draft": False,
            "head": branch
            | {
                "label": "mona:retry-payments",
                "ref": "retry-payments",
                "sha": "34c5c7793cb3b279e22454cb6750c80560547b3a",
                "user": user,
            },
            "base": branch | {"sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"},
            "author_association": "MEMBER",
            "commits": 3,
            "additions": 120,
            "deletions": 14,
            "changed_files": 6,
        },
        "repository": repository,
        "organization": owner,
        "sender": user,
        "installation": {
            "id": 2311213,
            "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMjMxMTIxMw==",
        },
    }


# --- the load ---------------------------------------------------------------------------------


@dataclass
class Phase:
    """The answers of one server to one stretch of paced load."""

    server: str
    round: int
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: float | None = None
    generator_cpu: float = 0.0  # this process's CPU seconds over the phase
    other_cpu: float | None = None  # CPU seconds of other work on the machine over the phase
    accepted: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    wall_start: float = 0.0  # epoch seconds, to line the phase up with the fakes' records

    @property
    def answered(self) -> int:
        return len(self.latencies)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def rate(self) -> float:
        return self.answered / self.elapsed if self.elapsed > 0 else 0.0


async def _send(
    client: KeepAliveClient, phase: Phase, delivery: str, request: bytes, due: float
) -> float:
    start = time.perf_counter()
    phase.lateness.append(start - due)
    try:
        status, _ = await client.send(request, REQUEST_TIMEOUT)
    except (OSError, TimeoutError, AnswerError) as exc:
        phase.errors[type(exc).__name__] += 1
        return time.perf_counter()
    done = time.perf_counter()
    phase.latencies.append(done - start)
    phase.statuses[status] += 1
    if status in _OK:
        phase.accepted.append(delivery)
        if status == 202:
            phase.queued.append(delivery)
    else:
        phase.errors[f"HTTP {status}"] += 1
    return done


async def load(
    server: ServerProcess,
    client: KeepAliveClient,
    deliveries: Deliveries,
    first: int,
    rate: float,
    seconds: float,
    round_no: int,
    other: OtherWork | None = None,
) -> Phase:
    """Send round(rate * seconds) deliveries, request i at t0 + i / rate, and wait for all.
    Every request is built and signed before the clock starts."""
    phase = Phase(server.name, round_no)
    count = max(round(rate * seconds), 1)
    requests = [deliveries.request(client.host, first + i) for i in range(count)]
    gc.collect()
    cpu_before = server.cpu_seconds()
    generator_before = time.process_time()
    other_before = other.seconds() if other is not None else None
    tasks: list[asyncio.Task[float]] = []
    t0 = time.perf_counter() + 0.01
    phase.wall_start = time.time() + 0.01
    for i, (delivery, request) in enumerate(requests):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_send(client, phase, delivery, request, due)))
        phase.sent += 1
    finished = await asyncio.gather(*tasks)
    phase.elapsed = max(finished) - t0
    cpu_after = server.cpu_seconds()
    phase.generator_cpu = time.process_time() - generator_before
    other_after = other.seconds() if other is not None else None
    if other_before is not None and other_after is not None:
        phase.other_cpu = other_after - other_before
    if cpu_before is not None and cpu_after is not None:
        phase.cpu = cpu_after - cpu_before
    return phase


# --- the report -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(max(math.ceil(q * len(ordered)) - 1, 0), len(ordered) - 1)]


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.2f}"


def _ratio(ours: float, bare: float) -> str:
    return f"{ours / bare:.2f}" if bare > 0 and not math.isnan(ours + bare) else "n/a"


def _cpu_ms(phase: Phase) -> str:
    if phase.cpu is None or not phase.sent:
        return "n/a"
    return f"{phase.cpu * 1000 / phase.sent:.3f}"


def _statuses(phase: Phase) -> str:
    return " ".join(f"{code}:{n}" for code, n in sorted(phase.statuses.items())) or "-"


_ROW = "{:>5} {:<8} {:>6} {:>6} {:<14} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8}"


def _row(phase: Phase, label: str) -> str:
    return _ROW.format(
        label,
        phase.server,
        phase.sent,
        phase.failed,
        _statuses(phase),
        f"{phase.rate:.1f}",
        _ms(percentile(phase.latencies, 0.50)),
        _ms(percentile(phase.latencies, 0.99)),
        _ms(max(phase.latencies, default=math.nan)),
        _ms(percentile(phase.lateness, 0.99)),
        _cpu_ms(phase),
    )


def _cores(phase: Phase) -> str:
    """How many CPUs' worth other work took over the phase: 1.00 is one core busy throughout."""
    if phase.other_cpu is None or phase.elapsed <= 0:
        return "n/a"
    return f"{max(phase.other_cpu, 0.0) / phase.elapsed:.2f}"


def _per(seconds: float, phase: Phase) -> str:
    return f"{seconds * 1000 / phase.sent:.3f}" if phase.sent else "n/a"


def pooled(phases: Sequence[Phase], server: str) -> Phase:
    """Every round of one server as one phase (elapsed and CPU time summed)."""
    total = Phase(server, 0, cpu=0.0, other_cpu=0.0)
    for phase in phases:
        if phase.server != server:
            continue
        total.sent += phase.sent
        total.statuses.update(phase.statuses)
        total.errors.update(phase.errors)
        total.latencies.extend(phase.latencies)
        total.lateness.extend(phase.lateness)
        total.elapsed += phase.elapsed
        total.cpu = None if phase.cpu is None or total.cpu is None else total.cpu + phase.cpu
        total.generator_cpu += phase.generator_cpu
        total.other_cpu = (
            None
            if phase.other_cpu is None or total.other_cpu is None
            else total.other_cpu + phase.other_cpu
        )
        total.accepted.extend(phase.accepted)
        total.queued.extend(phase.queued)
    return total


def stored(db: Path) -> tuple[set[str], set[str], Counter[str]]:
    """The delivery ids in `queue_deliveries`, those with a job in `queue_jobs`, and the jobs
    by state, read from the file (read-only) as another process would."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        deliveries = {row[0] for row in conn.execute("SELECT delivery_id FROM queue_deliveries")}
        jobs = {
            row[0]
            for row in conn.execute(
                "SELECT delivery_id FROM queue_jobs WHERE delivery_id IS NOT NULL"
            )
        }
        states = Counter(
            {
                row[0]: int(row[1])
                for row in conn.execute("SELECT state, count(*) FROM queue_jobs GROUP BY state")
            }
        )
    return deliveries, jobs, states


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _environment() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return (
        f"python {platform.python_version()}, uvicorn {_version('uvicorn')} ({loop}, {http}), "
        f"starlette {_version('starlette')}, httpx {_version('httpx')}; "
        f"{cpus} CPUs, {platform.system()} {platform.machine()}"
    )


# --- the run ----------------------------------------------------------------------------------


async def run(
    args: argparse.Namespace,
    servers: list[ServerProcess],
    db: Path,
    fakes_url: str,
    other: OtherWork | None = None,
) -> None:
    deliveries = Deliveries.make(SECRET)
    print(f"payload: {deliveries.source}, {len(deliveries.template):,} bytes; PR number, head")
    print("  commit and delivery id varied per delivery, signed X-Hub-Signature-256")
    print(
        f"load: open-loop {args.rate:g} requests/s, {args.seconds:g} s per server per round, "
        f"{args.rounds} round(s) ({', '.join(s.name for s in servers)}, ...), "
        f"{args.warmup:g} s untimed warm-up each"
    )
    print()
    clients = {s.name: KeepAliveClient("127.0.0.1", s.port) for s in servers}
    counters = dict.fromkeys(clients, 0)
    warm: list[Phase] = []
    phases: list[Phase] = []
    try:
        primed, first = await prime(clients["tierbot"], deliveries, counters["tierbot"], fakes_url)
        warm.append(Phase("tierbot", 0, sent=1, accepted=[first], queued=[first]))
        counters["tierbot"] += 1
        print(f"primed: one delivery reviewed and posted end to end in {primed * 1000:.0f} ms")
        print()
        for server in servers:
            if args.warmup > 0:
                phase = await load(
                    server,
                    clients[server.name],
                    deliveries,
                    counters[server.name],
                    args.rate,
                    args.warmup,
                    0,
                )
                counters[server.name] += phase.sent
                warm.append(phase)
        print(
            _ROW.format(
                "round",
                "server",
                "sent",
                "errors",
                "answers",
                "req/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "late p99",
                "cpu ms/r",
            )
        )
        for round_no in range(1, args.rounds + 1):
            for server in servers:
                phase = await load(
                    server,
                    clients[server.name],
                    deliveries,
                    counters[server.name],
                    args.rate,
                    args.seconds,
                    round_no,
                    other,
                )
                counters[server.name] += phase.sent
                phases.append(phase)
                print(_row(phase, str(round_no)), flush=True)
    finally:
        for client in clients.values():
            client.close()
    _summary(args, phases, warm, db)
    _busy(phases, await asyncio.to_thread(state, fakes_url))


async def prime(
    client: KeepAliveClient, deliveries: Deliveries, index: int, fakes_url: str
) -> tuple[float, str]:
    """Send one delivery and wait until its review is posted: the first review loads what a
    review needs (the model SDK, the secret scanners), seconds of CPU a server pays once."""
    delivery, request = deliveries.request(client.host, index)
    started = time.time()
    status, _ = await client.send(request, REQUEST_TIMEOUT)
    if status != 202:
        raise ServerError(f"tierbot answered {status} to a delivery")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        posted = (await asyncio.to_thread(state, fakes_url))["posted"].get(index + 1)
        if posted is not None:
            return float(posted) - started, delivery
        await asyncio.sleep(0.05)
    raise ServerError("tierbot's workers posted no review within 120 s")


def _busy(phases: Sequence[Phase], fakes: dict[str, Any]) -> None:
    """How busy tierbot's workers were while its webhook was timed: the reviews they posted to
    the fake GitHub, and the requests the fakes answered, during tierbot's rounds."""
    timed = [p for p in phases if p.server == "tierbot"]
    seconds = sum(p.elapsed for p in timed)
    spans = [(p.wall_start, p.wall_start + p.elapsed) for p in timed]
    reviews = sum(1 for t in fakes["posted"].values() if any(a <= t <= b for a, b in spans))
    calls = sum(1 for t, _ in fakes["handled"] if any(a <= t <= b for a, b in spans))
    print()
    print(
        f"workers busy: during tierbot's {seconds:.0f} timed seconds its workers posted "
        f"{reviews:,} reviews ({reviews / seconds if seconds else 0:.1f}/s) and sent the fakes "
        f"{calls:,} requests ({calls / seconds if seconds else 0:.0f}/s); "
        f"{len(fakes['posted']):,} reviews posted in all"
    )


def _summary(args: argparse.Namespace, phases: list[Phase], warm: list[Phase], db: Path) -> None:
    ours, bare = pooled(phases, "tierbot"), pooled(phases, "bare")
    print()
    print(f"all rounds ({args.rounds} x {args.seconds:g} s)   {'tierbot':>12} {'bare':>12}  ratio")
    p50 = (percentile(ours.latencies, 0.5), percentile(bare.latencies, 0.5))
    p99 = (percentile(ours.latencies, 0.99), percentile(bare.latencies, 0.99))
    top = (max(ours.latencies, default=math.nan), max(bare.latencies, default=math.nan))
    late = (percentile(ours.lateness, 0.99), percentile(bare.lateness, 0.99))
    cpu = "" if ours.cpu is None or bare.cpu is None else _ratio(ours.cpu, bare.cpu)
    lines = [
        ("requests sent", f"{ours.sent:,}", f"{bare.sent:,}", ""),
        ("answers", _statuses(ours), _statuses(bare), ""),
        ("errors", f"{ours.failed:,}", f"{bare.failed:,}", ""),
        ("achieved requests/s", f"{ours.rate:.1f}", f"{bare.rate:.1f}", ""),
        ("p50 latency ms", _ms(p50[0]), _ms(p50[1]), _ratio(*p50)),
        ("p99 latency ms", _ms(p99[0]), _ms(p99[1]), _ratio(*p99)),
        ("max latency ms", _ms(top[0]), _ms(top[1]), _ratio(*top)),
        ("generator late p99 ms", _ms(late[0]), _ms(late[1]), ""),
        ("server CPU ms/request", _cpu_ms(ours), _cpu_ms(bare), cpu),
        (
            "generator CPU ms/request",
            _per(ours.generator_cpu, ours),
            _per(bare.generator_cpu, bare),
            "",
        ),
        ("other work on the machine, CPUs", _cores(ours), _cores(bare), ""),
    ]
    for label, left, right, ratio in lines:
        print(f"  {label:<28} {left:>12} {right:>12}  {ratio}".rstrip())
    errors = ours.errors + bare.errors
    if errors:
        print("  errors by kind: " + ", ".join(f"{k} {n}" for k, n in errors.most_common()))
    lateness = max(late)
    if lateness > 0.005:
        print(
            f"  note: the generator started p99 {lateness * 1000:.1f} ms late: it, not only the "
            "server, was short of CPU; read the latencies with care"
        )

    answered = pooled([*warm, *phases], "tierbot")  # warm-up deliveries were persisted too
    in_file, with_job, states = stored(db)
    lost = set(answered.accepted) - in_file
    lost_jobs = set(answered.queued) - with_job
    extra = len(in_file - set(answered.accepted))
    print()
    print(
        f"persisted: {len(answered.accepted):,} deliveries answered 200/202 by tierbot "
        f"({len(answered.queued):,} with 202, warm-up included)"
    )
    print(
        f"  the queue file holds {len(in_file):,} deliveries and {sum(states.values()):,} jobs "
        f"({', '.join(f'{s} {n:,}' for s, n in sorted(states.items())) or 'none'})"
    )
    print(
        f"  accepted deliveries missing from queue_deliveries: {len(lost):,}; "
        f"202 answers without their job in queue_jobs: {len(lost_jobs):,}"
        + (f"; rows without a 2xx answer (errored requests): {extra:,}" if extra else "")
    )

    fast = (
        p99[0] < TARGET_P99_MS / 1000
        and ours.rate >= RATE_SHARE * args.rate
        and ours.failed == 0
        and ours.sent > 0
    )
    kept = not lost and not lost_jobs and bool(answered.accepted)
    print()
    print(
        f"target: p99 under {TARGET_P99_MS:g} ms at {TARGET_RATE:g} requests/s, "
        "every accepted delivery persisted"
    )
    if args.rate != TARGET_RATE:
        print(f"  (this run's rate is {args.rate:g} requests/s, not the target's)")
    print(
        f"  latency: p99 {_ms(p99[0])} ms at {ours.rate:.1f} requests/s achieved, "
        f"{ours.failed} errors: {'PASS' if fast else 'FAIL'}"
    )
    print(
        f"  persisted: {len(answered.accepted) - len(lost):,} of {len(answered.accepted):,} "
        f"accepted deliveries, {len(answered.queued) - len(lost_jobs):,} of "
        f"{len(answered.queued):,} queued jobs: {'PASS' if kept else 'FAIL'}"
    )
    print(f"  overall: {'PASS' if fast and kept and args.rate >= TARGET_RATE else 'FAIL'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per server per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of tierbot then bare")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed seconds per server")
    parser.add_argument("--workers", type=int, default=4, help="tierbot's in-process workers")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.rounds < 1 or args.warmup < 0:
        parser.error("--rate and --seconds must be positive, --rounds at least 1")

    print(
        f"webhook: tierbot serve (SQLite queue, {args.workers} workers reviewing against instant "
        "fakes over HTTP) vs a bare Starlette 200"
    )
    print(_environment())
    with tempfile.TemporaryDirectory(prefix="tierbot-bench-") as tmp:
        db = Path(tmp) / "tierbot.sqlite3"
        fakes = FakesProcess(Path(tmp) / "fakes.log")
        servers: list[ServerProcess] = []
        try:
            fakes_url = fakes.start()
            env = tierbot_env(db, fakes_url, args.workers)
            servers.append(ServerProcess("tierbot", None, env, Path(tmp) / "tierbot.log"))
            servers.append(ServerProcess("bare", "bare_app", {}, Path(tmp) / "bare.log"))
            for server in servers:
                server.start()
            pids = [s.process.pid for s in servers if s.process is not None]
            pids += [fakes.process.pid] if fakes.process is not None else []
            asyncio.run(run(args, servers, db, fakes_url, OtherWork(pids)))
        except ServerError as exc:
            print(exc, file=sys.stderr)
            return 1
        finally:
            for server in servers:
                server.stop()
            fakes.stop()
        for server in servers:
            log = server.log.read_text(errors="replace").strip()
            if log:
                print(f"\n{server.name} server log (last lines):\n{log[-1500:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

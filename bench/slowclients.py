"""/healthz latency while slow clients hold the server: `tierbot serve` with its limits, beside
the same App under plain uvicorn (what `serve` ran before: no head or body timeout, no
connection cap, asyncio's own loop, uvicorn's logging).

What it measures, in one run on loopback, for each server in turn:

* the server: the real App (`bot.faces.app.server.build`) in its own process, on a SQLite file in a
  temporary folder, with GitHub unreachable (an address nothing listens on; the App's slug set);
  `limits`: `python -m bot serve` (bot.faces.app.listener: head timeout `--header-timeout`, body
  timeout
  `--body-timeout`, connection cap 2048 fitted under the open-file limit); `plain`:
  `uvicorn.Config(app)` defaults;
* the load: `--connections` slow clients from another process (tests/slow_clients.py), half
  trickling a request head, half a request body, one byte every 0.5 s, each reopened when the
  server cuts it, for `--seconds`;
* the probe: from this process, `GET /healthz` on a fresh connection every 0.1 s while the load
  runs, timed from connect to the end of the answer, 2 s at most (a probe that gets no answer in
  2 s, or a refused or cut connection, is a failure);
* the cost: the server's CPU seconds and the bytes it logged during the run.

`--fd-limit` sets the servers' open-file limit (soft and hard) as on a host with a low one; the
default, 1024, with 1,250 clients, is the situation in which EMFILE used to fill the log. Both
servers get the same limit and the same load.

How to read it: per server, probes answered 200 and failed, p50/p90/max latency in ms of the
answered ones, how many slow connections the server cut and how many were still open at the end,
the server's CPU seconds and log bytes. Timings from a small, shared machine move from run to
run: compare the two servers from the same run only.

Run: `uv run python bench/slowclients.py [--connections 1250] [--seconds 30] [--fd-limit 1024]
[--header-timeout 10] [--body-timeout 20]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.fake_github_api import private_pem  # noqa: E402

PROBE_EVERY = 0.1
PROBE_TIMEOUT = 2.0


def plain(port: int) -> None:
    """The App under plain uvicorn: `python bench/slowclients.py --plain-serve PORT`."""
    import uvicorn  # noqa: PLC0415

    from bot.adapters.settings import Settings  # noqa: PLC0415
    from bot.faces.app.server import build  # noqa: PLC0415

    async def serve() -> None:
        server = await build(Settings.from_env(os.environ))
        config = uvicorn.Config(server.app, host="127.0.0.1", port=port, lifespan="on")
        await uvicorn.Server(config).serve()

    asyncio.run(serve())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def probe(port: int) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT) as sock:
            sock.settimeout(max(PROBE_TIMEOUT - (time.perf_counter() - started), 0.01))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return 0, time.perf_counter() - started
    return (int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0), time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    name: str
    probes: list[tuple[int, float]] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)
    cpu: float = 0.0
    log_bytes: int = 0
    alive: bool = True


def run_one(name: str, args: argparse.Namespace, folder: Path) -> Result:
    port = free_port()
    log = folder / f"{name}.log"
    (folder / "key.pem").write_text(private_pem(), encoding="utf-8")
    env = {
        **os.environ,
        "TIERBOT_GITHUB_APP_ID": "1",
        "TIERBOT_GITHUB_PRIVATE_KEY_FILE": str(folder / "key.pem"),
        "TIERBOT_WEBHOOK_SECRET": "bench",
        "TIERBOT_GITHUB_API_URL": f"http://127.0.0.1:{free_port()}",
        "TIERBOT_GITHUB_APP_SLUG": "tierbot",
        "TIERBOT_DATABASE_URL": f"sqlite:///{folder / (name + '.db')}",
        "TIERBOT_HEADER_TIMEOUT_SECONDS": str(args.header_timeout),
        "TIERBOT_BODY_TIMEOUT_SECONDS": str(args.body_timeout),
    }
    # The open-file limit (soft and hard) is set in the server's process before anything runs.
    start = "import resource, runpy, sys; limit = int(sys.argv.pop(1)); "
    start += "resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)); "
    if name == "limits":
        start += "runpy.run_module('bot', run_name='__main__', alter_sys=True)"
        arguments = ["serve", "--port", str(port)]
    else:
        start += f"runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')"
        arguments = ["--plain-serve", str(port)]
    command = [sys.executable, "-c", start, str(args.fd_limit), *arguments]
    result = Result(name)
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=_ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while probe(port)[0] != 200:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"{name}: the server did not start; see {log}")
            time.sleep(0.2)
        load = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.slow_clients",
                "--port",
                str(port),
                "--connections",
                str(args.connections),
                "--seconds",
                str(args.seconds),
                "--reconnect",
            ],
            cwd=_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert load.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(load.stdout or []), daemon=True)
        reader.start()
        while not lines and load.poll() is None:
            time.sleep(0.05)
        cpu_before, log_before = cpu_seconds(server.pid), log.stat().st_size
        while load.poll() is None:
            result.probes.append(probe(port))
            time.sleep(PROBE_EVERY)
        reader.join(timeout=10)
        result.cpu = cpu_seconds(server.pid) - cpu_before
        result.log_bytes = log.stat().st_size - log_before
        result.alive = server.poll() is None
        result.load = json.loads(lines[-1]) if len(lines) > 1 else {}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return result


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000:.0f}"


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"{args.connections} slow clients (heads and bodies trickled, reopened when cut) for "
        f"{args.seconds:g} s; open-file limit {args.fd_limit}; limits: head "
        f"{args.header_timeout} s, body {args.body_timeout} s"
    )
    header = (
        f"{'server':8} {'probes':>6} {'200':>5} {'failed':>6} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'max ms':>7} {'cut':>6} {'open at end':>11} {'cpu s':>6} {'log bytes':>11} alive"
    )
    print(header)
    for r in results:
        answered = [seconds for status, seconds in r.probes if status == 200]
        failed = len(r.probes) - len(answered)
        print(
            f"{r.name:8} {len(r.probes):6} {len(answered):5} {failed:6} {_ms(answered, 0.5):>7} "
            f"{_ms(answered, 0.9):>7} {_ms(answered, 1.0):>7} {r.load.get('cut', '-'):>6} "
            f"{r.load.get('still_open', '-'):>11} {r.cpu:6.1f} {r.log_bytes:11,} "
            f"{'yes' if r.alive else 'NO'}"
        )
    if all(r.probes for r in results):
        ok = {r.name: [s for status, s in r.probes if status == 200] for r in results}
        medians = {n: statistics.median(v) * 1000 if v else float("nan") for n, v in ok.items()}
        print("median /healthz ms: " + ", ".join(f"{n} {m:.1f}" for n, m in medians.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=1250)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fd-limit", type=int, default=1024)
    parser.add_argument("--header-timeout", type=int, default=10)
    parser.add_argument("--body-timeout", type=int, default=20)
    parser.add_argument("--plain-serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_serve:
        plain(args.plain_serve)
        return 0
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="tierbot-slowclients-") as folder:
        results = [run_one(name, args, Path(folder)) for name in ("limits", "plain")]
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

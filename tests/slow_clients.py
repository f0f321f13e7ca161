"""Slow HTTP clients, as a separate process: many connections to a server that trickle a request
head or a request body one byte at a time, or send nothing at all, until the server cuts them
off or `--seconds` pass. For tests/test_slow_clients.py and bench/slowclients.py.

Run: `python -m tests.slow_clients --port N [--connections 1000] [--interval 0.5] [--seconds 10]
[--modes head,body] [--reconnect]`. It prints JSON lines: `{"open": N}` once every connection
is open (or failed to open), then, at the end, one summary: how many were opened and refused,
how many the server cut off, the quartiles of how long after opening they were cut (seconds),
and how many got an answer first (and which statuses).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field

_HEAD = b"POST /webhook HTTP/1.1\r\nHost: tierbot\r\nContent-Type: application/json\r\n"
_BODY_HEAD = _HEAD + b"Content-Length: 1000000\r\n\r\n"


@dataclass
class Tally:
    opened: int = 0
    refused: int = 0
    cut: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    still_open: int = 0

    def summary(self) -> dict[str, object]:
        quartiles = statistics.quantiles(self.cut, n=4) if len(self.cut) > 1 else self.cut
        return {
            "opened": self.opened,
            "refused": self.refused,
            "cut": len(self.cut),
            "cut_after_quartiles": [round(q, 2) for q in quartiles],
            "cut_after_max": round(max(self.cut), 2) if self.cut else None,
            "statuses": dict(self.statuses),
            "still_open": self.still_open,
        }


async def slow_client(
    host: str,
    port: int,
    mode: str,
    interval: float,
    until: float,
    tally: Tally,
    gate: asyncio.Semaphore,
) -> bool:
    """One connection trickling `mode` ("head", "body" or "idle"); True when the server cut it."""
    loop = asyncio.get_running_loop()
    try:
        async with gate:
            reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        tally.refused += 1
        return True
    tally.opened += 1
    opened = loop.time()
    first = {"head": _HEAD + b"X-Slow: ", "body": _BODY_HEAD, "idle": b""}[mode]
    writer.write(first)
    answer = asyncio.ensure_future(reader.read(64))
    try:
        while loop.time() < until:
            done, _ = await asyncio.wait({answer}, timeout=interval)
            if done:
                break
            if mode != "idle" and not writer.is_closing():
                writer.write(b"a" if mode == "head" else b" ")
        if not answer.done():
            tally.still_open += 1
            return False
        data = b"" if answer.exception() else answer.result()
        tally.cut.append(loop.time() - opened)
        if data.startswith(b"HTTP/1.1 "):
            tally.statuses[data[9:12].decode(errors="replace")] += 1
        return True
    finally:
        answer.cancel()
        writer.transport.abort()


async def hold(
    host: str,
    port: int,
    connections: int,
    modes: list[str],
    interval: float,
    seconds: float,
    reconnect: bool,
) -> Tally:
    """Open `connections` slow clients (modes in turn), report when they are open, and keep
    them (opening a new one for each cut, with `reconnect`) for `seconds`."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    tally = Tally()
    gate = asyncio.Semaphore(200)  # connects in flight at once

    async def one(index: int) -> None:
        mode = modes[index % len(modes)]
        while True:
            cut = await slow_client(host, port, mode, interval, until, tally, gate)
            if not (reconnect and cut) or loop.time() >= until:
                return
            await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(one(i)) for i in range(connections)]
    while tally.opened + tally.refused < connections and loop.time() < until:
        await asyncio.sleep(0.02)
    print(json.dumps({"open": tally.opened, "refused": tally.refused}), flush=True)
    await asyncio.gather(*tasks)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--modes", default="head,body")
    parser.add_argument("--reconnect", action="store_true")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a descriptor per connection
    tally = asyncio.run(
        hold(
            args.host,
            args.port,
            args.connections,
            args.modes.split(","),
            args.interval,
            args.seconds,
            args.reconnect,
        )
    )
    print(json.dumps(tally.summary()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

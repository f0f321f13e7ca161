"""The bot's own time from a webhook delivery to its review posted, with instant fakes, beside the
fakes' own time.

`tierbot serve` runs as in production (a SQLite file, in-process workers; `--workers`, 4 by
default) with GitHub and the Messages API at bench/fakes.py in another process, over real HTTP:
both answer at once, so what is left of the time is tierbot's — the webhook, the queue, the
worker waking, every request built, sent and read (the App's installation token, the pull
request, its diff, the repository's settings, earlier comments; the model request), the
routing, prompt, parsing and anchoring of the answer, and the review posted.

Deliveries are sent one at a time, each a new pull request on an installation of its own (an
installation's client spaces its writes a second apart, as GitHub asks; a new installation makes
the job ask for its token as well, the slowest case). For each, the latency is from sending the
delivery to the fake having answered the `POST …/reviews` (both clocks are this machine's), and
the fakes' time is what the fakes spent answering the requests that came in meanwhile (from
reading each request to its answer, in the fakes' handlers; their HTTP server's own parsing is
the bot's side of the ledger). One review end to end is run untimed first: it loads what a review
needs (the model SDK, the secret scanners) once per process.

The table gives p50, p90 and max of the latency, of the fakes' time and of the difference (the
bot's overhead), and the requests per review. The target: overhead under 100 ms p50. Exits 0
either way (1 when a server cannot be started).

Run: `uv run python bench/overhead.py [--reviews N] [--workers N]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from fakes import state  # noqa: E402 (bench/fakes.py)
from webhook import (  # noqa: E402 (bench/webhook.py)
    SECRET,
    Deliveries,
    FakesProcess,
    ServerError,
    ServerProcess,
    _environment,
    percentile,
    tierbot_env,
)

TARGET_MS = 100.0
_WAIT = 30.0  # seconds a review may take before the bench gives up on it


def one(
    client: httpx.Client, deliveries: Deliveries, index: int, fakes_url: str
) -> tuple[float, float, int]:
    """Send delivery `index` and wait for its review: (latency, fakes' seconds, requests)."""
    before = len(state(fakes_url)["handled"])
    _, body, headers = deliveries.delivery(index)
    sent = time.time()
    response = client.post("/webhook", content=body, headers=headers)
    if response.status_code != 202:
        raise ServerError(f"tierbot answered {response.status_code}: {response.text[:200]}")
    deadline = time.monotonic() + _WAIT
    while time.monotonic() < deadline:
        found = state(fakes_url)
        posted = found["posted"].get(index + 1)
        if posted is not None:
            handled = [(at, took) for at, took in found["handled"][before:] if at <= posted]
            return posted - sent, sum(took for _, took in handled), len(handled)
        time.sleep(0.002)
    raise ServerError(f"no review posted for delivery {index} within {_WAIT:g} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reviews", type=int, default=30, help="deliveries, one at a time")
    parser.add_argument("--workers", type=int, default=4, help="tierbot's in-process workers")
    args = parser.parse_args(argv)
    print("overhead: delivery -> review posted, tierbot serve against instant fakes over HTTP")
    print(_environment())
    deliveries = Deliveries.make(SECRET)
    with tempfile.TemporaryDirectory(prefix="tierbot-bench-") as tmp:
        fakes = FakesProcess(Path(tmp) / "fakes.log")
        server: ServerProcess | None = None
        try:
            url = fakes.start()
            env = tierbot_env(Path(tmp) / "tierbot.sqlite3", url, args.workers)
            server = ServerProcess("tierbot", None, env, Path(tmp) / "tierbot.log")
            server.start()
            rows: list[tuple[float, float, int]] = []
            with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
                primed = one(client, deliveries, 0, url)
                print(f"primed: one review end to end, untimed, in {primed[0] * 1000:.0f} ms")
                time.sleep(1.2)
                for index in range(1, args.reviews + 1):
                    # a new installation each time (Deliveries cycles through them)
                    rows.append(one(client, deliveries, index, url))
                    time.sleep(1.2)  # its summary, a second after the review, goes by
        except ServerError as exc:
            print(exc, file=sys.stderr)
            return 1
        finally:
            if server is not None:
                server.stop()
            fakes.stop()
    _report(rows)
    return 0


def _report(rows: list[tuple[float, float, int]]) -> None:
    latency = [r[0] for r in rows]
    fakes = [r[1] for r in rows]
    overhead = [r[0] - r[1] for r in rows]
    print()
    print(f"{len(rows)} reviews, one at a time     p50 ms   p90 ms   max ms")
    for label, values in (
        ("delivery -> review posted", latency),
        ("the fakes' own time", fakes),
        ("tierbot's overhead", overhead),
    ):
        print(
            f"  {label:<30} {percentile(values, 0.5) * 1000:>7.1f}  "
            f"{percentile(values, 0.9) * 1000:>7.1f}  {max(values) * 1000:>7.1f}"
        )
    requests = statistics.median(r[2] for r in rows)
    print(f"  requests to the fakes per review (median): {requests:g}")
    p50 = percentile(overhead, 0.5) * 1000
    verdict = "PASS" if p50 < TARGET_MS else "FAIL"
    print()
    print(f"target: tierbot's overhead under {TARGET_MS:g} ms p50: {p50:.1f} ms -> {verdict}")


if __name__ == "__main__":
    sys.exit(main())

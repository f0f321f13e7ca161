"""GitHub and the Messages API as instant fakes over real HTTP, in a process of their own, for the
benchmarks that run tierbot's workers (webhook.py, overhead.py).

`python bench/fakes.py` serves, on one loopback port, the tests' fake GitHub host
(tests/fake_github_api.py: the App's slug and installation tokens, and any pull request of any
repository of one owner, each with the same small diff) and a Messages API that answers every
review at once with one inline comment. It prints its URL on the first line of its output and
serves until stopped. `GET /_bench/state` says when each pull request's review was posted (epoch
seconds, as the fake finished answering the `POST …/reviews`) and, for each request the fakes
answered, when it came and how long the fake took, so a benchmark can tell the fakes' own time from
the bot's; also how many reviews each pull request got and how many review answers the model gave.
`POST /_bench/delay {"seconds": S}` makes each review answer wait S seconds (a job in flight, for
the tests that stop a worker mid-job).
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.builders import Edit, git_diff  # noqa: E402
from tests.fake_anthropic import message, token_count  # noqa: E402
from tests.fake_github_api import FakeGitHubHost, serve  # noqa: E402

OWNER, REPO = "Codertocat", "Hello-World"  # the repository of @octokit/webhooks-examples
PATH = "app/stats.py"
CODE = "    return sum(values) / len(values)"
DIFF = git_diff(Edit(PATH, context=["def mean(values):"], added=[CODE], start=10))
ANSWER = {
    "summary": "Adds a mean.",
    "comments": [
        {
            "path": PATH,
            "line": 11,
            "side": "RIGHT",
            "code": CODE.strip(),
            "severity": "major",
            "category": "bug",
            "body": "Divides by zero when `values` is empty.",
        }
    ],
}
_REVIEWS = re.compile(r"/repos/[^/]+/[^/]+/pulls/(\d+)/reviews$")
_REPOSITORY = re.compile(r"/repos/[^/]+/([^/]+)/")


class Fakes:
    """The two fakes behind one handler, with what they did and when."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._repositories: dict[str, Any] = {}  # each repository's fake host, by name
        self.posted: dict[int, float] = {}
        self.handled: list[tuple[float, float]] = []  # (arrived, seconds the fake took)
        self.reviews: dict[int, int] = {}  # reviews posted, by pull request
        self.model_calls = 0  # Messages API requests that asked for a review
        self.model_delay = 0.0  # seconds each review answer waits (POST /_bench/delay)

    def _github(self, path: str) -> Any:
        """The fake GitHub transport of the repository `path` names (any repository of the
        owner, each made on first use), or of the default one for the App's own requests."""
        found = _REPOSITORY.match(path)
        name = found[1] if found else REPO
        with self._lock:
            transport = self._repositories.get(name)
            if transport is None:
                transport = FakeGitHubHost(owner=OWNER, repo=name, diff=DIFF).transport()
                self._repositories[name] = transport
        return transport

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/_bench/state":
            with self._lock:
                state: dict[str, Any] = {"posted": self.posted, "handled": self.handled}
                state |= {"reviews": self.reviews, "model_calls": self.model_calls}
                return httpx.Response(200, json=state)
        if request.url.path == "/_bench/delay":
            self.model_delay = float(json.loads(request.content)["seconds"])
            return httpx.Response(204)
        arrived = time.time()
        started = time.perf_counter()
        if request.url.path.startswith("/v1/"):
            if not request.url.path.endswith("/count_tokens"):
                with self._lock:
                    self.model_calls += 1
                time.sleep(self.model_delay)
            response = _model(request)
        else:
            response = self._github(request.url.path).handle_request(request)
            response.read()
        took = time.perf_counter() - started
        posted = _REVIEWS.search(request.url.path)
        with self._lock:
            self.handled.append((arrived, took))
            if posted and request.method == "POST" and response.status_code < 300:
                self.posted.setdefault(int(posted[1]), time.time())
                self.reviews[int(posted[1])] = self.reviews.get(int(posted[1]), 0) + 1
        return response


def _model(request: httpx.Request) -> httpx.Response:
    """The Messages API: a token count, or the review answer, at once."""
    reply = token_count(1000) if request.url.path.endswith("/count_tokens") else None
    if reply is None:
        reply = message(json.dumps(ANSWER), input_tokens=1000, output_tokens=200)
    return httpx.Response(reply.status, json=reply.body, headers=dict(reply.headers))


def state(url: str) -> dict[str, Any]:
    """What the fakes at `url` did so far (see the module docstring)."""
    found: dict[str, Any] = httpx.get(f"{url}/_bench/state", timeout=30).json()
    found["posted"] = {int(k): v for k, v in found["posted"].items()}
    found["reviews"] = {int(k): v for k, v in found["reviews"].items()}
    return found


def main() -> int:
    fakes = Fakes()
    with serve(fakes.handle) as url:
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

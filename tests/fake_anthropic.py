"""A fake Anthropic Messages API: a real HTTP server on 127.0.0.1 that the real SDK talks to.

Tests script it with a queue of replies (status, JSON or raw body, headers, a delay before
answering) and read back every request it received (method, path, headers, JSON body), so they
can check what the SDK actually sent. Replies are served first in, first out, whatever the path;
with none queued, a responder set by `respond_with` makes the reply from the request itself (a
model driven by what it is sent, tests/obedient_model.py); otherwise the request gets HTTP 418
with `x-should-retry: false`, which the SDK does not retry, so a test that forgot a reply fails
with a clear message instead of a retry storm.

Use the `fake_anthropic` fixture, by importing `fake_anthropic_fixture` into the test module
(`from tests.fake_anthropic import fake_anthropic_fixture  # noqa: F401`; the fixture's own name
differs so that test arguments named `fake_anthropic` do not shadow an import), or `with
FakeAnthropic() as fake:` anywhere. Point a backend at `fake.base_url`.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import pytest

MODEL = "claude-sonnet-5-5"


@dataclass(frozen=True)
class Reply:
    """One scripted response. A dict or list body is sent as JSON; str or bytes as they are."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    """One request as the server saw it. Header names are lower-case; `body` is the decoded JSON,
    or None when the body was empty or not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes


def message(
    text: str = '{"comments": []}',
    *,
    stop_reason: str | None = "end_turn",
    input_tokens: int = 100,
    output_tokens: int = 20,
    cache_creation_input_tokens: int | None = 0,
    cache_read_input_tokens: int | None = 0,
    model: str = MODEL,
    content: list[dict[str, Any]] | None = None,
    stop_details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
) -> Reply:
    """A 200 reply shaped like a real `POST /v1/messages` answer with one text block (or the
    `content` given)."""
    body: dict[str, Any] = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if content is None else content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "stop_details": stop_details,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": cache_creation_input_tokens,
            "cache_read_input_tokens": cache_read_input_tokens,
        },
    }
    return Reply(200, body, headers or {}, delay)


def error(
    status: int,
    error_type: str,
    text: str = "",
    *,
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
) -> Reply:
    """An error reply with the API's error envelope, e.g. `error(529, "overloaded_error")`."""
    body = {
        "type": "error",
        "error": {"type": error_type, "message": text or error_type.replace("_", " ")},
    }
    return Reply(status, body, headers or {}, delay)


def token_count(input_tokens: int) -> Reply:
    """A reply to `POST /v1/messages/count_tokens`."""
    return Reply(200, {"input_tokens": input_tokens})


class FakeAnthropic:
    """The server. Thread-safe: the SDK's requests are handled on server threads."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.connections = 0  # TCP connections accepted, to show that clients keep theirs
        self._replies: deque[Reply] = deque()
        self._responder: Callable[[Received], Reply] | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # how long shutdown() may wait
            name="fake-anthropic",
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reply(self, *replies: Reply) -> None:
        """Queue replies, served in order."""
        with self._lock:
            self._replies.extend(replies)

    def respond_with(self, responder: Callable[[Received], Reply] | None) -> None:
        """Answer each request that finds no reply queued with `responder(request)`."""
        with self._lock:
            self._responder = responder

    @property
    def pending(self) -> int:
        """Replies queued and not yet served."""
        with self._lock:
            return len(self._replies)

    def start(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; handlers sleeping out a delay wake up and drop their connection."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _take(self, received: Received) -> Reply | None:
        with self._lock:
            self.requests.append(received)
            if self._replies:
                return self._replies.popleft()
            responder = self._responder
        return responder(received) if responder is not None else None


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
        # client's delayed ACK of the headers (40 ms on Linux) on every kept-alive connection.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            with fake._lock:
                fake.connections += 1

        def do_POST(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `fake.requests` instead of a log."""

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            headers = {name.lower(): value for name, value in self.headers.items()}
            scripted = fake._take(Received(self.command, self.path, headers, body, raw))
            if scripted is None:
                scripted = Reply(
                    418,
                    {
                        "type": "error",
                        "error": {
                            "type": "fake_error",
                            "message": f"fake anthropic: no reply queued for {self.command} "
                            f"{self.path}",
                        },
                    },
                    {"x-should-retry": "false"},
                )
            if scripted.delay and fake._closing.wait(scripted.delay):
                self.close_connection = True
                return
            if isinstance(scripted.body, (dict, list)):
                data = json.dumps(scripted.body).encode()
                content_type = "application/json"
            elif isinstance(scripted.body, str):
                data = scripted.body.encode()
                content_type = "text/plain"
            else:
                data = scripted.body or b""
                content_type = "application/octet-stream"
            sent = {name.lower() for name in scripted.headers}
            try:
                self.send_response(scripted.status)
                if "content-type" not in sent:
                    self.send_header("content-type", content_type)
                if "request-id" not in sent:
                    self.send_header("request-id", f"req_fake_{len(fake.requests)}")
                for name, value in scripted.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (its timeout) while the reply was delayed.
                self.close_connection = True

    return Handler


@pytest.fixture(name="fake_anthropic")
def fake_anthropic_fixture() -> Iterator[FakeAnthropic]:
    """A running fake Messages API, shut down after the test."""
    with FakeAnthropic() as fake:
        yield fake

"""A minimal HTTP/1.1 client for load generation: keep-alive connections over asyncio streams,
requests written as prepared bytes, answers read by their `Content-Length`.

Why not httpx: httpx's own Python per request (request and response models, header
normalisation, the connection pool's bookkeeping) is CPU the load generator spends on the same
two cores as the servers under test (this client needs about 0.3 ms per request), and a
generator short of CPU starts its requests late and reads its answers late, so the latency it
reports is its own as much as the server's. Here a request is one `write` of bytes built before
the clock starts, and an answer is a status line, headers and a body of known length.

Only what the benchmark's servers send is understood: answers with `Content-Length` (Starlette
and uvicorn send it for every fixed body), `Connection: close` honoured. Anything else is an
error, counted by the caller, not guessed at.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class AnswerError(Exception):
    """The server's answer was cut off or not the HTTP/1.1 this client reads."""


def request_bytes(host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A `POST` request with `headers` and `Content-Length`, ready to write."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class KeepAliveClient:
    """Keep-alive connections to one server (`host`, `port`), opened as needed: a request takes
    the most recently used idle connection, or opens one; `close()` ends them all."""

    host: str
    port: int
    idle: list[_Connection] = field(default_factory=list)
    opened: int = 0

    async def send(self, request: bytes, timeout: float) -> tuple[int, bytes]:
        """Write `request` and read its answer: status and body. Raises OSError, TimeoutError
        or AnswerError. A reused connection the server had closed while idle (its keep-alive
        timeout) is retried once on a new connection, as any HTTP client does."""
        async with asyncio.timeout(timeout):
            while self.idle:
                connection = self.idle.pop()
                try:
                    return await self._exchange(connection, request)
                except (_Stale, ConnectionResetError, BrokenPipeError):
                    continue
            try:
                return await self._exchange(await self._open(), request)
            except _Stale:
                raise AnswerError("the connection closed before any answer") from None

    def close(self) -> None:
        """Close every idle connection (those in use close when their answer is read)."""
        while self.idle:
            self.idle.pop()[1].close()

    async def _open(self) -> _Connection:
        connection = await asyncio.open_connection(self.host, self.port)
        self.opened += 1
        return connection

    async def _exchange(self, connection: _Connection, request: bytes) -> tuple[int, bytes]:
        reader, writer = connection
        keep = False
        try:
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:
                raise _Stale
            parts = status_line.split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise AnswerError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
            length: int | None = None
            keep = True
            while (line := await reader.readline()) not in (b"\r\n", b"\n"):
                if not line:
                    raise AnswerError("the connection closed inside the headers")
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip())
                elif name == b"connection" and value.strip().lower() == b"close":
                    keep = False
            if length is None:
                keep = False
                raise AnswerError("an answer without Content-Length")
            body = await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            keep = False
            raise AnswerError("the connection closed inside the body") from exc
        except BaseException:
            keep = False
            raise
        finally:
            if keep:
                self.idle.append(connection)
            else:
                writer.close()
        return int(parts[1]), body


class _Stale(Exception):
    """A reused connection was closed by the server before any answer: try another."""

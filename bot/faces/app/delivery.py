"""A webhook delivery as it arrives: its body read within a size limit, its signature checked in
constant time, its JSON read; anything wrong is `Refused` with the status to answer."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from starlette.requests import ClientDisconnect, Request

MAX_BODY_BYTES = 25 * 1024 * 1024
_LENGTH = re.compile(r"[0-9]{1,20}")


def signature(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`: `sha256=` and the hex HMAC."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` is the body's signature, compared in constant time."""
    if not header:
        return False
    # Starlette decodes headers as latin-1, so this encoding gives back the bytes sent.
    return hmac.compare_digest(signature(secret, body).encode(), header.encode("latin-1"))


class Refused(Exception):
    """A delivery refused: the HTTP `status`, the `message` to answer and the metrics `result`."""

    def __init__(self, status: int, message: str, result: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.result = result


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) as soon as it is known to be over `limit` bytes."""
    length = request.headers.get("content-length")
    if length is not None:
        if not _LENGTH.fullmatch(length):
            raise Refused(400, "bad Content-Length", "bad_request")
        if int(length) > limit:
            raise Refused(413, f"body over {limit} bytes", "too_large")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refused(413, f"body over {limit} bytes", "too_large")
            chunks.append(chunk)
    except (
        ClientDisconnect
    ):  # gone, or cut off by the server's body timeout (bot.faces.app.listener)
        raise Refused(400, "the body did not arrive", "disconnected") from None
    return b"".join(chunks)


def json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise Refused(400, "the body is not JSON", "bad_request") from exc
    if not isinstance(payload, dict):
        raise Refused(400, "the body is not a JSON object", "bad_request")
    return payload

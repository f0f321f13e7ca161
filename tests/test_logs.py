"""The process's logs: every secret in an event, a value or a traceback is replaced before the
line is written."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import structlog

from bot.adapters import logs

PASSWORD = "Kq2Lm5Nx7" + "!Vb3rT"
TOKEN = "ghp_" + "Zr8Kq2Lm5Nx7Vb3Cd9Fg1Hj4Tw6Ys0Pa2Qe"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    logs.configure(buffer)
    try:
        yield buffer
    finally:
        structlog.reset_defaults()


def test_secrets_in_an_events_values_are_redacted(output: io.StringIO) -> None:
    log = structlog.get_logger("test")
    log.warning(
        "could not connect",
        url=f"postgresql://app:{PASSWORD}@db/app",
        error=ConnectionError(f"auth failed for token {TOKEN}"),
        attempt=3,
    )
    text = output.getvalue()
    assert "could not connect" in text
    assert "postgresql://app:<redacted:url-password>@db/app" in text
    assert "auth failed for token <redacted:github-token>" in text
    assert "3" in text
    assert PASSWORD not in text
    assert TOKEN not in text


def test_a_traceback_that_quotes_a_secret_is_redacted(output: io.StringIO) -> None:
    log = structlog.get_logger("test")
    try:
        raise ValueError(f"Hunk diff line expected: SESSION_SECRET={PASSWORD}")
    except ValueError:
        log.exception("job failed", job=7)
    text = output.getvalue()
    assert "Traceback (most recent call last)" in text
    assert "ValueError: Hunk diff line expected: SESSION_SECRET=<redacted:secret>" in text
    assert PASSWORD not in text

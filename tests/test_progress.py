"""The status line `tierbot review` keeps on a terminal's stderr while a model works: what it
says (model, parts answered, time, retries), when it shows, and that it stays off a pipe."""

from __future__ import annotations

import asyncio
import io

from bot.adapters.models.anthropic import FrontierBackend
from bot.core.types import CompletionRequest
from bot.faces.cli.progress import Progress, ProgressBackend
from tests.fake_anthropic import FakeAnthropic, error, message


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


REQUEST = CompletionRequest(system="s", stable="", prompt="p", schema={"type": "object"})


def test_the_line_shows_after_a_second_and_is_cleared_at_the_end() -> None:
    clock, stream = Clock(), Terminal()
    progress = Progress(stream, clock=clock)
    progress.started("local", "Qwen2.5-Coder-7B-exl2")
    progress.started("local", "Qwen2.5-Coder-7B-exl2")
    progress.draw()
    assert stream.getvalue() == ""  # under a second: nothing yet
    clock.now += 12.4
    progress.finished("Qwen2.5-Coder-7B-exl2", ok=True)
    progress.draw()
    assert stream.getvalue() == (
        "\r\x1b[Ktierbot: local model Qwen2.5-Coder-7B-exl2: 1 of 2 parts answered (12 s)"
    )
    progress.clear()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_a_run_of_many_changes_names_the_one_it_is_at() -> None:
    """`tierbot eval` names the change in hand before the models' counts, which add up over
    the run."""
    clock, stream = Clock(), Terminal()
    progress = Progress(stream, clock=clock)
    progress.doing("change 1 of 3 (fix-retry)")
    progress.started("frontier", "claude")
    progress.finished("claude", ok=True)
    progress.doing("change 2 of 3 (clean-rename)")
    progress.started("frontier", "claude")
    clock.now += 5
    progress.draw()
    assert stream.getvalue() == (
        "\r\x1b[Ktierbot: change 2 of 3 (clean-rename): frontier model claude: 1 of 2 parts "
        "answered (5 s)"
    )


def test_off_a_terminal_nothing_is_written() -> None:
    clock, stream = Clock(), io.StringIO()
    progress = Progress(stream, clock=clock)
    progress.started("frontier", "claude")
    clock.now += 60
    progress.draw()
    progress.clear()
    assert not progress.enabled
    assert stream.getvalue() == ""


def test_the_sdks_retries_are_counted_through_the_wrapped_backend() -> None:
    with FakeAnthropic() as fake:
        fake.reply(error(529, "overloaded_error"), message('{"comments": []}'))
        progress = Progress(Terminal())
        backend = FrontierBackend(
            "claude-sonnet-5-5", api_key="sk-ant-test", base_url=fake.base_url
        )
        wrapped = ProgressBackend(backend, progress)

        async def go() -> None:
            try:
                await wrapped.complete(REQUEST)
            finally:
                await wrapped.aclose()

        asyncio.run(go())
    assert len(fake.requests) == 2
    line = progress.line()
    assert "frontier model claude-sonnet-5-5: 1 of 1 part answered" in line
    assert line.endswith("1 retry)")
    assert wrapped.model == backend.model
    assert wrapped.context_tokens == backend.context_tokens

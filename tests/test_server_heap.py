"""The server leaves the heap it built at start out of the collector's full passes."""

from __future__ import annotations

import gc

from bot.faces.app.parts import freeze_heap, then_freeze_once


def test_the_start_heap_is_frozen() -> None:
    gc.unfreeze()
    try:
        freeze_heap()
        assert gc.get_freeze_count() > 10_000  # the imported modules, at least
    finally:
        gc.unfreeze()


def test_the_heap_is_frozen_again_after_the_first_job_only() -> None:
    seen: list[tuple[str, str, str]] = []
    after = then_freeze_once(lambda *outcome: seen.append(outcome))
    gc.unfreeze()
    try:
        after("review", "done", "reviewed")
        first = gc.get_freeze_count()
        gc.unfreeze()
        after("review", "done", "reviewed again")
        assert first > 10_000
        assert gc.get_freeze_count() == 0  # not frozen a second time
        assert seen == [("review", "done", "reviewed"), ("review", "done", "reviewed again")]
    finally:
        gc.unfreeze()

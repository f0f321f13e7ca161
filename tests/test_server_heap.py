"""The server leaves the heap it built at start out of the collector's full passes."""

from __future__ import annotations

import gc

from bot.server import _freeze_heap


def test_the_start_heap_is_frozen() -> None:
    gc.unfreeze()
    try:
        _freeze_heap()
        assert gc.get_freeze_count() > 10_000  # the imported modules, at least
    finally:
        gc.unfreeze()

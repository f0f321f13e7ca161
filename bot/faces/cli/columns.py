"""Aligned text columns for the command line's tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO


def write_columns(
    out: TextIO,
    rows: Sequence[Sequence[str]],
    numeric: tuple[int, ...] = (),
    last_free: bool = False,
) -> None:
    """Rows as aligned columns: `numeric` ones right-aligned; a free last column is not padded."""
    padded = len(rows[0]) - (1 if last_free else 0)
    widths = [max(len(row[i]) for row in rows) for i in range(padded)]
    for row in rows:
        cells = [row[i].rjust(w) if i in numeric else row[i].ljust(w) for i, w in enumerate(widths)]
        out.write("  ".join([*cells, *row[padded:]]).rstrip() + "\n")

"""`tierbot report`'s table of how comments were received: per tier, per category and per
severity, then all together (bot.adapters.ledger.acceptance says what each figure counts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from bot.core.printable import printable
from bot.faces.cli.columns import write_columns

if TYPE_CHECKING:  # the ledger (SQLAlchemy) loads only for the report
    from bot.adapters.ledger import Acceptance, Received

HEADINGS = (
    "comments",
    "",
    "posted",
    "held_back",
    "thumbs_up",
    "thumbs_down",
    "resolved",
    "committed",
    "acted_on",
    "acceptance_pct",
)


def acceptance_rows(acceptance: Acceptance) -> list[tuple[str, ...]]:
    """The table's rows, headings first: each tier, category and severity, then the total."""
    rows: list[tuple[str, ...]] = [HEADINGS]
    for by, groups in (
        ("tier", acceptance.by_tier()),
        ("category", acceptance.by_category()),
        ("severity", acceptance.by_severity()),
    ):
        rows.extend(_row(by, name, received) for name, received in groups.items())
    rows.append(_row("total", "", acceptance.total))
    return rows


def write_acceptance(out: TextIO, acceptance: Acceptance) -> None:
    """The table, as aligned columns, after a blank line."""
    out.write("\n")
    rows = [tuple(printable(cell) for cell in row) for row in acceptance_rows(acceptance)]
    write_columns(out, rows, numeric=tuple(range(2, len(HEADINGS))))


def _row(by: str, name: str, received: Received) -> tuple[str, ...]:
    rate = received.acceptance_pct
    return (
        by,
        name,
        str(received.posted),
        str(received.held_back),
        str(received.thumbs_up),
        str(received.thumbs_down),
        str(received.resolved),
        str(received.suggestions_committed),
        str(received.acted_on),
        "-" if rate is None else str(rate),
    )

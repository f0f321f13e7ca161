"""Reading the ledger for a command that prints what it holds (`tierbot calibrate`): open it,
bring its schema up to date, read, close; a database out of reach is a failure that says where,
with any password in its URL hidden."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from bot.adapters.settings import Settings
from bot.faces.cli.exits import EXIT_FAILED, Failure

if TYPE_CHECKING:  # the database stack loads only for the commands that read the ledger
    from bot.adapters.ledger import Ledger

T = TypeVar("T")
PASSWORD = re.compile(r"(//[^/:@]*:)[^/@]*@")
"""A password in a database URL."""


def hide_password(url: str) -> str:
    """`url` with its password, if any, written as `***`."""
    return PASSWORD.sub(r"\1***@", url)


def read_ledger(settings: Settings, read: Callable[[Ledger], T]) -> T:
    """What `read` finds in the ledger at TIERBOT_DATABASE_URL, migrated first; Failure when the
    database cannot be reached or opened."""
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from bot.adapters.ledger import Ledger  # noqa: PLC0415

    try:
        ledger = Ledger(settings.database_url)
        try:
            ledger.migrate()
            return read(ledger)
        finally:
            ledger.close()
    except SQLAlchemyError as exc:  # the database is out of reach, or its file cannot be opened
        cause = getattr(exc, "orig", None) or exc
        reason = str(cause).strip().splitlines()[0]
        where = hide_password(settings.database_url)
        raise Failure(f"cannot read the ledger at {where}: {reason}", EXIT_FAILED) from None

"""Alembic's environment for the ledger's schema.

It runs only inside `bot.adapters.ledger.Ledger.migrate`, which passes an open connection in the
config, in a transaction that holds the migration lock; there is no alembic.ini and no offline
(SQL script) mode. To write a new revision, call `alembic.command.revision` with a Config built
as `migrate` builds it, then edit the file by hand (there is no autogenerate target: the
migrations, not `bot.adapters.ledger.METADATA`, define the schema, and a test checks that the two
agree).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bot.adapters.ledger import VERSION_TABLE


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if context.is_offline_mode() or not isinstance(connection, Connection):
        raise RuntimeError("the ledger's migrations run through Ledger.migrate()")
    context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

"""Alembic's environment for the metadata store, run only through ``metadata._migrate``: it
hands over a connection already inside the transaction that holds the migration lock, so
nothing here opens, commits or locks anything."""

from __future__ import annotations

from alembic import context

from metadata._db import meta


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise RuntimeError("the metadata store migrates through metadata._migrate "
                           "(open_db, `causality metadata upgrade`), on a live connection")
    context.configure(
        connection=connection,
        target_metadata=meta,
        # SQLite alters most things by copying the table; batch mode makes ALTERs do that.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

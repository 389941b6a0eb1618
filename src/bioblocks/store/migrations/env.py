"""Alembic environment: run on the connection handed over by :func:`bioblocks.store.upgrade`."""

from __future__ import annotations

from alembic import context

from bioblocks.store._tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()

"""Alembic environment: migrations run on the connection relgraph hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from relgraph.jobs.models import Base

target_metadata = Base.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:  # the ``alembic`` command line, for developers
        engine = engine_from_config(
            context.config.get_section(context.config.config_ini_section) or {},
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        with engine.connect() as connection:
            _migrate(connection)
        return
    _migrate(connection)


def _migrate(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things in place
    )
    with context.begin_transaction():
        context.run_migrations()


run()

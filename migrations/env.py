"""Alembic environment: DATABASE_URL (or the embedded server), one transaction, advisory lock; the
migrations, then the function files that changed."""

from __future__ import annotations

import logging.config

from alembic import context
from sqlalchemy import create_engine, pool, text

from app.core.config import Settings
from app.db import embedded
from app.db.migrations import MIGRATION_LOCK_KEY, apply_functions, sqlalchemy_url

config = context.config
if config.config_file_name and not config.attributes.get("database_url"):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    settings = Settings()
    return embedded.resolve_database_url(settings.database_url, settings.data_dir)


def run_migrations_online() -> None:
    engine = create_engine(sqlalchemy_url(_database_url()), poolclass=pool.NullPool)
    with engine.connect() as connection:
        # Session-level lock: a second migrator waits here, then finds the schema at head.
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        connection.commit()
        try:
            context.configure(connection=connection, transactional_ddl=True)
            with context.begin_transaction():
                context.run_migrations()
                # The functions' current code, in the same transaction (sql/functions/); `-x
                # functions=off` leaves them out, to build a database as an older release left it.
                if context.get_x_argument(as_dictionary=True).get("functions") != "off":
                    apply_functions(connection.connection.dbapi_connection)
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run against a database")
run_migrations_online()

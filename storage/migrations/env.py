"""Alembic environment: runs on the connection handed over by `storage.db.migrate`, or, from the
command line (`alembic upgrade head` beside alembic.ini), on one of its own to DATABASE_URL."""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table on SQLModel.metadata)
from storage.db import DEFAULT_DATABASE_URL, create_db_engine, with_installed_driver


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


handed_over = context.config.attributes.get("connection")
if handed_over is not None:
    run(handed_over)
else:
    if context.config.config_file_name is not None:
        fileConfig(context.config.config_file_name, disable_existing_loggers=False)
    # the bot's own setting and default, so the command line migrates what the bot would use
    url = with_installed_driver(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    if context.is_offline_mode():  # `alembic upgrade head --sql`: the SQL, printed
        context.configure(url=url, target_metadata=SQLModel.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        engine = create_db_engine(url)
        try:
            with engine.begin() as connection:
                run(connection)
        finally:
            engine.dispose()

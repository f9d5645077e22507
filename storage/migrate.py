"""Alembic, configured in code so the installed package can migrate any DATABASE_URL.

``python -m storage.migrate upgrade|check`` (DATABASE_URL from the environment) is what
``compass-bot serve`` and ``clock`` run in a child process at start: it loads no more than
the migrations need, and the long-running process never loads Alembic at all.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


class SchemaProblem(Exception):
    """The database cannot be opened, or its schema is not up to date; one line for a person."""


def prepare(engine: Engine, *, migrate: bool) -> None:
    """Migrate the database, or (``migrate=False``) check that it is up to date."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        if migrate:
            upgrade(engine)
        elif not is_up_to_date(engine):
            raise SchemaProblem(f"DATABASE_URL: the schema of {where} is not up to date; run `compass-bot db upgrade` first")
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise SchemaProblem(f"DATABASE_URL: cannot open {where}: {reason}") from None
    except SQLAlchemyError as exc:
        raise SchemaProblem(f"DATABASE_URL: {where}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None


def main(argv: list[str]) -> int:
    from storage.db import make_engine

    if len(argv) != 1 or argv[0] not in ("upgrade", "check"):
        print("usage: python -m storage.migrate upgrade|check (DATABASE_URL from the environment)", file=sys.stderr)
        return 2
    logging.getLogger("alembic").setLevel(logging.WARNING)
    engine = make_engine(os.environ["DATABASE_URL"])
    try:
        prepare(engine, migrate=argv[0] == "upgrade")
        print(f"database is at revision {current_revision(engine)}")
    except SchemaProblem as problem:
        print(problem, file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Test databases: a fresh SQLite file per test, and PostgreSQL when TEST_DATABASE_URL is set.

On PostgreSQL each test run works in its own schema (``compass_test_<pid>``, first on the
``search_path``), so two runs against the same database never see each other's tables.
"""

from __future__ import annotations

import atexit
import os

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.db import make_engine
from storage.migrate import upgrade

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")


SCHEMA = f"compass_test_{os.getpid()}"


def normalise(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def postgres_url() -> str:
    """TEST_DATABASE_URL, pointed at this run's own schema."""
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{normalise(POSTGRES_URL)}{separator}options=-csearch_path%3D{SCHEMA}"


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


_postgres_ready: Engine | None = None


def postgres_engine() -> Engine:
    """The PostgreSQL test database, rebuilt from the migrations once per test run."""
    global _postgres_ready
    if _postgres_ready is None:
        admin = make_engine(normalise(POSTGRES_URL))
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        atexit.register(_drop_schema, admin)
        engine = make_engine(postgres_url())
        upgrade(engine)
        _postgres_ready = engine
    return _postgres_ready


def _drop_schema(admin: Engine) -> None:
    if _postgres_ready is not None:
        _postgres_ready.dispose()
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


def empty_postgres(engine: Engine) -> None:
    tables = [t.name for t in SQLModel.metadata.sorted_tables]
    with engine.begin() as connection:
        existing = {row[0] for row in connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": SCHEMA})}
        names = [f'"{t}"' for t in tables if t in existing] + [f'"{t}"' for t in sorted(existing) if t.startswith("slack_")]
        if names:
            connection.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))

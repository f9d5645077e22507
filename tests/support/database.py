"""Test databases: a fresh SQLite file per test, and PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import os

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.db import make_engine
from storage.migrate import upgrade

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")


def normalise(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


_postgres_ready: Engine | None = None


def postgres_engine() -> Engine:
    """The PostgreSQL test database, rebuilt from the migrations once per test run."""
    global _postgres_ready
    if _postgres_ready is None:
        engine = make_engine(normalise(POSTGRES_URL))
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        _postgres_ready = engine
    return _postgres_ready


def empty_postgres(engine: Engine) -> None:
    tables = [t.name for t in SQLModel.metadata.sorted_tables]
    with engine.begin() as connection:
        existing = {row[0] for row in connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))}
        names = [f'"{t}"' for t in tables if t in existing] + [f'"{t}"' for t in sorted(existing) if t.startswith("slack_")]
        if names:
            connection.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))

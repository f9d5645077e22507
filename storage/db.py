"""One engine per process; SQLite runs in WAL mode with a busy timeout."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

log = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_MS = 10_000


def utcnow() -> datetime:
    """Aware UTC. SQLModel's UTCDateTime stores every time as UTC and returns it aware."""
    return datetime.now(timezone.utc)


def make_engine(url: str, *, echo: bool = False, max_connections: int = 25) -> Engine:
    """``max_connections``: the most PostgreSQL connections this process opens, each kept once opened;
    a thread that finds them all in use waits for one rather than asking the server for more."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            # Bolt's 16 listener threads and the clock's workers may each hold two sessions at once.
            # Kept open, not reopened: opening a connection costs more than most queries.
            pool_size=16,
            max_overflow=34,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pool_pre_ping: a restarted PostgreSQL server costs one reconnect, not a failed request.
    # Every connection opened is kept: closing the ones past a few and opening them again at the next
    # burst (PostgreSQL starts a server process for each) cost more than the queries between.
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=max_connections, max_overflow=0)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

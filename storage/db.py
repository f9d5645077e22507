"""One engine per process; SQLite runs in WAL mode with a busy timeout."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session, create_engine

log = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_MS = 10_000
IDLE_BEFORE_PING = 5.0  # seconds a pooled PostgreSQL connection may sit unused and still be trusted without a ping


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
    # Every connection opened is kept: closing the ones past a few and opening them again at the next
    # burst (PostgreSQL starts a server process for each) cost more than the queries between.
    engine = create_engine(url, echo=echo, pool_size=max_connections, max_overflow=0)
    event.listen(engine.pool, "connect", _note_checkin)  # just opened: as good as just used
    event.listen(engine.pool, "checkin", _note_checkin)
    event.listen(engine.pool, "checkout", _ping_if_idle(engine))
    return engine


def _note_checkin(_dbapi_connection, record) -> None:  # noqa: ANN001
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(engine: Engine) -> Callable[..., None]:
    """A connection that sat idle is pinged before use, so a PostgreSQL server restarted meanwhile costs a
    reconnect, not a failed request. One back in use within IDLE_BEFORE_PING is not: in a wave a connection
    is checked out several times a DM, and a round trip each time cost the clock a quarter of its CPU. (A
    restart in the middle of a wave fails the statements in flight; SQLAlchemy then renews the whole pool.)"""

    def ping(dbapi_connection, record, _proxy) -> None:  # noqa: ANN001
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is not None and time.monotonic() - checked_in_at < IDLE_BEFORE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            log.info("a pooled database connection was gone (%s); opening a new one", type(exc).__name__)
            raise DisconnectionError() from exc  # the pool discards it and checks out a fresh connection

    return ping


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

"""How many PostgreSQL connections one process may open (``COMPASS_DB_CONNECTIONS``).

Four clocks and a web process at 25 connections each asked for 125, over PostgreSQL's default
100: the server refused connections mid-wave and deliveries waited 30 s for their retry
(bench/README.md, "Where 4 clocks lose their time"). Each process now opens at most the setting.
"""

from __future__ import annotations

import threading

import pytest

from bot.runtime.services import Services
from bot.runtime.settings import ConfigError, load_settings
from storage.db import make_engine
from tests.conftest import SIGNING_SECRET
from tests.support.database import POSTGRES_URL, normalise

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/none"  # never connected to: the pool's size is enough


def test_a_process_opens_at_most_the_connections_its_setting_allows(monkeypatch):
    monkeypatch.setenv("COMPASS_DB_CONNECTIONS", "12")
    settings = load_settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret=SIGNING_SECRET,
                             database_url=UNREACHABLE)
    services = Services.from_settings(settings)
    pool = services.engine.pool
    assert (pool.size(), pool._max_overflow) == (12, 0)
    small = make_engine(UNREACHABLE, max_connections=3).pool
    assert (small.size(), small._max_overflow) == (3, 0)


def test_the_setting_refuses_fewer_than_two():
    with pytest.raises(ConfigError, match="COMPASS_DB_CONNECTIONS is invalid"):
        load_settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret=SIGNING_SECRET, compass_db_connections=1)


@pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_DATABASE_URL")
def test_threads_beyond_the_limit_wait_for_a_connection_instead_of_opening_one():
    engine = make_engine(normalise(POSTGRES_URL), max_connections=2)
    held, release, more = [], threading.Event(), threading.Event()

    def use() -> None:
        with engine.connect() as connection:
            held.append(connection)
            if len(held) > 2:
                more.set()
            release.wait(10)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    # Two connections in use; a third would be a connection over the limit. Give it a second to appear.
    assert not more.wait(1.0)
    assert len(held) == 2
    release.set()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert len(held) == 4  # the others had their turn once the first two were given back


def _counting_pings(engine, monkeypatch) -> list[int]:  # noqa: ANN001
    pings, real = [], engine.dialect.do_ping

    def ping(dbapi_connection) -> bool:  # noqa: ANN001
        pings.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", ping)
    return pings


@pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_DATABASE_URL")
def test_a_connection_back_in_use_within_seconds_costs_no_ping_and_an_idle_one_is_pinged(monkeypatch):
    # A wave checks a connection out several times a DM; a round trip to ping it each time cost the clock
    # a quarter of its CPU (bench/README.md). One that sat idle is pinged: the server may have restarted.
    engine = make_engine(normalise(POSTGRES_URL), max_connections=1)
    pings = _counting_pings(engine, monkeypatch)
    for _ in range(5):
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    assert pings == []
    monkeypatch.setattr("storage.db.IDLE_BEFORE_PING", 0.0)  # as if each had sat idle past the limit
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    assert pings == [1]
    engine.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_DATABASE_URL")
def test_a_pooled_connection_the_server_dropped_while_idle_is_replaced_without_an_error(monkeypatch):
    engine = make_engine(normalise(POSTGRES_URL), max_connections=1)
    with engine.connect() as connection:
        first = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    other = make_engine(normalise(POSTGRES_URL), max_connections=1)
    with other.connect() as connection:  # as a server restart does to every connection
        connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(first)})")
    other.dispose()
    monkeypatch.setattr("storage.db.IDLE_BEFORE_PING", 0.0)
    with engine.connect() as connection:
        second = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    assert second != first
    engine.dispose()

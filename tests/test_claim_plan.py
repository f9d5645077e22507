"""The clock's claim reads the front of the schedule, not all of it (PostgreSQL's plan, from its statistics).

A wave puts thousands of rows due at once, and later sessions' rows wait behind them. A claim takes ten;
it must read the open rows in due order and stop, not read and sort every pending row each time
(it did: a bitmap scan of the status index, then a sort, once a claim; 170 ms a claim in the bench).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, text

from storage import schedule
from storage.db import session_scope, utcnow


def _seed(engine, due: int, later: int) -> None:
    now = utcnow()
    actions = [dict(key=f"due-{i}", kind="pulse", due_at=now - timedelta(minutes=1), team_id="T1") for i in range(due)]
    actions += [dict(key=f"later-{i}", kind="pulse", due_at=now + timedelta(days=14), team_id="T1") for i in range(later)]
    with session_scope(engine) as session:
        for start in range(0, len(actions), 1000):
            schedule.schedule_many(session, actions[start:start + 1000])
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE scheduled_actions"))


def test_a_claim_reads_the_front_of_the_open_rows(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the plan is PostgreSQL's; SQLite has one clock")
    _seed(engine, due=4000, later=4000)
    plans: list[str] = []

    def explain(connection, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().startswith("WITH chosen"):  # the claim: its plan, without running it twice
            cursor.execute("EXPLAIN " + statement, parameters)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))

    event.listen(engine, "before_cursor_execute", explain)
    try:
        rows = schedule.claim_due(engine, worker_id="w", limit=10)
    finally:
        event.remove(engine, "before_cursor_execute", explain)
    assert len(rows) == 10 and [r.key for r in rows] == sorted((r.key for r in rows), key=lambda k: int(k.split("-")[1]))
    assert len(plans) == 1, plans
    assert "ix_scheduled_actions_open_due" in plans[0], plans[0]
    assert "Sort" not in plans[0], plans[0]  # read in due order from the index, not every due row sorted

"""What one check-in DM costs the database: the wave's CPU at a health system's size is mostly statements.

A pulse after a session goes to each member of a group. The clock opens the group's surveys in one
transaction (the members' rows locked in one query, their surveys read in one, the surveys and their
close rows written in one statement each), then for each person takes a token of the shared Slack
budget (PostgreSQL) and posts, and at the end notes where each DM went (one statement each, one
transaction for the group). The token take is one statement in autocommit. The quiet-hours check is made once for the whole group. The test measures what each further person adds, by statement
kind ("SELECT members"), from a group of 3 and a group of 6: a round trip added per person shows by name.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import event

from bot.runtime.clock import Clock
from storage.db import session_scope
from storage.models import GroupSession
from tests.support.clock import frozen
from tests.test_pulse_flow import enrol, make_group, schedule_pulse, survey_messages

TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)|^SELECT\s+(\w+)\(")  # a table, or a function called


def statements_during(engine, work) -> Counter:  # noqa: ANN001
    counts: Counter = Counter()

    def count(_connection, _cursor, statement, *_):  # noqa: ANN001, ANN202
        table = TABLE.search(statement)
        counts[f"{statement.split(None, 1)[0]} {table.group(1) or table.group(2) if table else ''}".strip()] += 1

    def commit(_connection):  # noqa: ANN001, ANN202
        counts["COMMIT"] += 1

    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "commit", commit)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", count)
        event.remove(engine, "commit", commit)
    return counts


def pulse_to_a_group(standin, engine, services, people: list[str]) -> Counter:  # noqa: ANN001
    for user_id in people:
        standin.add_user(user_id, name=user_id.lower(), real_name=user_id, tz="America/Chicago")
        enrol(engine, user_id)
    group_id = make_group(engine, people)
    with session_scope(engine) as session:
        session.add(GroupSession(group_id=group_id, cycle=1, number=2, starts_at=datetime.now(timezone.utc) - timedelta(hours=2),
                                 local_date=datetime.now(timezone.utc).date(), status="held"))
    schedule_pulse(engine, group_id)
    counts = statements_during(engine, lambda: Clock(services).tick())
    assert all(len(survey_messages(standin, user_id)) == 1 for user_id in people)
    return counts


def test_each_person_of_a_check_in_wave_costs_one_statement_to_note_the_dm_and_one_token_take(standin, engine, services):
    with frozen("2026-03-30 20:00:00"):  # 15:00 in Chicago: nobody's quiet hours
        three = pulse_to_a_group(standin, engine, services, [f"U0A{n}" for n in range(3)])
        six = pulse_to_a_group(standin, engine, services, [f"U0B{n}" for n in range(6)])
    each = {kind: (six[kind] - three[kind]) / 3 for kind in six | three}
    shared_budget = engine.dialect.name == "postgresql"  # one token take a DM: a short transaction of its own
    assert each == {
        "UPDATE scheduled_actions": 1,  # where their DM went, written without reading first
        # SQLAlchemy cannot match SQLite's RETURNING rows to their parameters in one statement, so there each new
        # survey is an INSERT of its own: a call into the process's own library, not a round trip to a server.
        **({} if shared_budget else {"INSERT surveys": 1}),
        **({"SELECT rate_budget_take": 1} if shared_budget else {}),  # one statement in autocommit, no transaction
        # Everything else is once for the group: the members' rows, their surveys, the new surveys and close rows.
        **{kind: 0 for kind in six | three if kind not in {
            "UPDATE scheduled_actions", "SELECT rate_budget_take"} and not (not shared_budget and kind == "INSERT surveys")},
    }, each

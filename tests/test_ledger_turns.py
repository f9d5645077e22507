"""Views publishing one team's report take turns (``storage.ledger.publishing``).

Several web processes (or two admins at once in one) may each be first to publish a month. Before,
each planned from the ledger as it stood when it began recording: the second view planned the month
from answers a forget-me had changed while the first was still recording, and both recorded, so the
month could hold rows of two plans (a suppression pattern neither planner made). Now the second view
waits for the first's turn to end and plans knowing what it recorded.
"""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import func, select

from storage import ledger
from storage.db import session_scope
from storage.models import ReportPublication
from storage.personal_data import erase_person
from storage.reports import trend_report
from tests.conftest import TEAM_ID
from tests.test_admin_report_cache import program
from tests.test_admin_report_flow import MIN_GROUP

AS_OF = date(2026, 5, 2)  # January to April closed: four months to publish for the first time


def committed_rows(engine) -> int:  # noqa: ANN001
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(ReportPublication)).scalar()


def view(engine):  # noqa: ANN001, ANN201
    with session_scope(engine) as session:
        return trend_report(session, team_id=TEAM_ID, min_group=MIN_GROUP, as_of=AS_OF)


def test_a_second_view_plans_only_after_the_first_has_recorded(engine, monkeypatch):
    program(engine)
    record, published_cells, publishing = ledger.record, ledger.published_cells, getattr(ledger, "publishing", None)
    first_recording, go_on, second_at_its_turn = threading.Event(), threading.Event(), threading.Event()
    seen_by_second: list[int] = []  # rows committed to the ledger each time the second view read it

    def slow_record(session, **kwargs):  # noqa: ANN001, ANN003, ANN202
        if threading.current_thread().name == "first":
            first_recording.set()
            assert go_on.wait(30)
        return record(session, **kwargs)

    def reading(session, **kwargs):  # noqa: ANN001, ANN003, ANN202
        if threading.current_thread().name == "second":
            seen_by_second.append(committed_rows(engine))
        return published_cells(session, **kwargs)

    def turn(session, **kwargs):  # noqa: ANN001, ANN003, ANN202
        if threading.current_thread().name == "second":
            second_at_its_turn.set()
        return publishing(session, **kwargs)

    monkeypatch.setattr(ledger, "record", slow_record)
    monkeypatch.setattr(ledger, "published_cells", reading)
    monkeypatch.setattr(ledger, "publishing", turn, raising=False)
    reports: dict[str, object] = {}

    def run(name: str) -> None:
        reports[name] = view(engine)

    first = threading.Thread(target=run, args=("first",), name="first")
    first.start()
    assert first_recording.wait(60)
    with session_scope(engine) as session:  # a forget-me between the two views: the answers differ
        erase_person(session, team_id=TEAM_ID, user_id="U0007")
    second = threading.Thread(target=run, args=("second",), name="second")
    second.start()
    while second.is_alive() and not second_at_its_turn.is_set():
        second.join(0.01)
    go_on.set()
    first.join(60)
    second.join(60)

    assert set(reports) == {"first", "second"}
    # The second view read the ledger for its plan only once the first's rows were committed ...
    assert seen_by_second[-1] > 0
    # ... so both show the same figures, those the ledger holds (as any later view shows them).
    monkeypatch.undo()
    first_shown, second_shown, later = (sorted(map(repr, report.cells)) for report in (reports["first"], reports["second"], view(engine)))
    assert first_shown == second_shown == later

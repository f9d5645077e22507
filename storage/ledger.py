"""The publication ledger: every pulse report figure and evaluation wave ever shown, read back so closed
months and waves are never revised.

``storage.reports.trend_report`` reads the team's ledger, lets ``bot.domain.publication`` plan
what may be shown, and records the figures shown for the first time here, in a transaction of
its own. Views publishing for one team take turns (``publishing``), in one process and across
processes: otherwise two views planning the same new month from different answers (a forget-me
between them) could each record rows of their own plan, and the month would hold a suppression
pattern neither planner made. Nothing here names a person: each row is a figure over at least the
threshold of people, or a hidden cell with no numbers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Iterable, Iterator

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from bot.domain.trends import ReportCell
from storage.models import EvaluationPublication, ReportPublication

_TABLE = ReportPublication.__table__


_TEAM_LOCKS: dict[str, threading.Lock] = {}
_TEAM_LOCKS_GUARD = threading.Lock()


@contextmanager
def publishing(session: Session, *, team_id: str) -> Iterator[None]:
    """The team's turn to publish, until ``session``'s transaction commits: the threads of this process one
    at a time, and on PostgreSQL every process (a transaction-level advisory lock). Read the ledger inside,
    so the plan sees what every earlier turn recorded."""
    with _TEAM_LOCKS_GUARD:
        lock = _TEAM_LOCKS.setdefault(team_id, threading.Lock())
    with lock:
        if session.get_bind().dialect.name == "postgresql":
            key = int.from_bytes(hashlib.sha256(f"report-ledger:{team_id}".encode()).digest()[:8], "big", signed=True)
            session.execute(select(func.pg_advisory_xact_lock(key)))
        yield
        session.commit()  # the turn ends when what it recorded is there for the next


def published_cells(session: Session, *, team_id: str) -> list[ReportCell]:
    """Every figure ever published for the team, as report cells."""
    rows = session.execute(
        select(_TABLE.c.metric, _TABLE.c.month, _TABLE.c.breakdown, _TABLE.c.cell, _TABLE.c.suppressed, _TABLE.c.respondents,
               _TABLE.c.estimate, _TABLE.c.ci_low, _TABLE.c.ci_high)
        .where(_TABLE.c.team_id == team_id)
        .order_by(_TABLE.c.id)
    )
    return [
        ReportCell(metric, month, tuple(breakdown.split(" x ")) if breakdown else (), tuple(json.loads(cell)), bool(suppressed),
                   respondents, estimate, low, high)
        for metric, month, breakdown, cell, suppressed, respondents, estimate, low, high in rows
    ]


def record(session: Session, *, team_id: str, cells: Iterable[ReportCell]) -> int:
    """Add figures to the ledger; a figure already there is kept as it was. Returns the rows offered."""
    now = datetime.now(timezone.utc)
    rows = [
        dict(team_id=team_id, metric=cell.metric, month=cell.month, breakdown=" x ".join(cell.table),
             cell=json.dumps(list(cell.key)), respondents=cell.respondents, estimate=cell.estimate, ci_low=cell.ci_low,
             ci_high=cell.ci_high, suppressed=cell.suppressed, published_at=now)
        for cell in cells
    ]
    if not rows:
        return 0
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(_TABLE).on_conflict_do_nothing(
        index_elements=["team_id", "metric", "month", "breakdown", "cell"]), rows)
    return len(rows)


def export_count(session: Session, *, team_id: str) -> int:
    """How many figures the team's ledger holds (for the CLI and tests)."""
    return len(session.execute(select(_TABLE.c.id).where(_TABLE.c.team_id == team_id)).all())


# ---------------------------------------------------------------- the evaluation's waves

_WAVES = EvaluationPublication.__table__


def published_waves(session: Session, *, team_id: str) -> dict[str, tuple[date, dict]]:
    """wave -> (the day it closed, its figures as first published) for every wave the team has published."""
    rows = session.execute(select(_WAVES.c.wave, _WAVES.c.closed_on, _WAVES.c.figures).where(_WAVES.c.team_id == team_id))
    return {wave: (closed_on, json.loads(figures)) for wave, closed_on, figures in rows}


def record_wave(session: Session, *, team_id: str, wave: str, closed_on: date, figures: dict) -> None:
    """Record a wave's figures on first publication; a wave already recorded is kept as it was."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(_WAVES).on_conflict_do_nothing(index_elements=["team_id", "wave"]).values(
        team_id=team_id, wave=wave, closed_on=closed_on, figures=json.dumps(figures, sort_keys=True),
        published_at=datetime.now(timezone.utc)))

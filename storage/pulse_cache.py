"""Pulse summaries: the admin report's aggregates kept per month, so a view reads sums, not answers.

Past months rarely change, so ``report_pulse_months`` keeps, one row a month, the
aggregates of ``storage.pulse_aggregates`` (sums per instrument and fine segment: never
one person's answer) and a view sums again only what changed since the last one:

* **Answers.** Each month's row holds the fingerprint of the answers it was summed from
  (how many, and the sum of their ids), checked at every view against the fingerprints the
  database keeps per month (``survey_response_months``, kept by triggers on the answers: one
  row a month, whatever the number of answers). From the first month that differs on, every
  month is summed again: a late answer can become someone's baseline, and baselines count in
  every later month.
  Usually that is the current month alone.
* **Segments.** A person is counted under their *current* profile. ``report_pulse_segments``
  holds the segment each person's answers are summed under; when the profiles give another
  one (a new department, a first group, a new member), that person's contribution is taken
  out of their old segment and added to the new one, in every month kept.
* **Forget-me.** :func:`forget_person` takes the person's contribution out of every month
  kept, in the transaction that erases their answers, so no summary keeps anything of them.
* **What is summed.** ``report_pulse_state.definition`` is the digest of the instruments,
  flags and rules (``pulse_aggregates.Definition``); summaries made under another one are
  dropped and made again.

Every change is additive, in integers, so the cells are always exactly what summing every
answer from scratch gives (``tests/test_admin_report_cache.py`` checks it). Suppression is
applied later, at every view, by ``storage.reports``. A view that has something to sum
again does it in its own short transaction, holding the team's ``report_pulse_state`` row
(``FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time), so two views or a view
and a forget-me never interleave.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone
from typing import Iterable, Mapping

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.db import session_scope
from storage.models import PulseReportMonth, PulseReportSegment, PulseReportState
from storage.pulse_aggregates import (
    Aggregates,
    AggregateKey,
    Definition,
    Fingerprint,
    InstrumentCell,
    Moments,
    Segment,
    aggregate,
    month_fingerprints,
    next_month,
    person_fingerprints,
    person_segments,
)

# When more people than this share of the members changed segment, summing everything
# again reads fewer rows than moving each of them.
MOVE_AT_MOST = 0.25
_CHUNK = 500  # people per statement when replacing their segments


def cached_pulse_aggregates(session: Session, *, team_id: str, definition: Definition) -> Aggregates:
    """The team's aggregates, as ``pulse_aggregates.aggregate`` would sum them from every answer.

    Runs in a transaction of its own on the session's engine (the caller's session may be a
    read-only one), and reads the cells inside it, so they match the fingerprints kept. On
    SQLite, do not call it while ``session`` holds a write transaction: it would wait for it.
    """
    if not definition.instruments:
        return {}
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with session_scope(engine) as writer:
        return refresh(writer, team_id=team_id, definition=definition)


def refresh(session: Session, *, team_id: str, definition: Definition) -> Aggregates:
    """Bring the team's summaries up to date with its answers and profiles, and return them."""
    state = _locked_state(session, team_id)
    if state.definition != definition.digest:
        _drop(session, team_id)
        state.definition, state.segments_digest = definition.digest, ""
    segments = person_segments(session, team_id=team_id)
    answers = month_fingerprints(session, team_id=team_id)  # before anything is summed: see _first_change
    rows = _read_months(session, team_id)
    kept = {month: fingerprint for month, (fingerprint, _) in rows.items()}
    changed_from = _first_change(kept, answers)
    fresh = {month for month in kept if changed_from is None or month < changed_from}
    stale = {month for month in answers if month not in fresh}

    digest = segments_digest(segments)
    summed_under = _segments(session, team_id) if digest != state.segments_digest else dict(segments)
    moved = {user for user in summed_under.keys() | segments.keys() if summed_under.get(user) != segments.get(user)}

    if not fresh or len(stale) > len(fresh) or len(moved) > MOVE_AT_MOST * max(len(segments), 1):
        cells = aggregate(session, team_id=team_id, definition=definition, segments=segments)
        _write_months(session, team_id, kept.keys() | answers.keys(), answers, cells)
    else:
        cells = _parse_cells(team_id, {month: text for month, (_, text) in rows.items() if month in fresh})
        touched = _move(session, cells, team_id, definition, summed_under, segments, moved, fresh) if moved else set()
        if stale:
            recent = (min(stale), next_month(max(stale)))
            cells.update(aggregate(session, team_id=team_id, definition=definition, segments=segments, months=recent))
        _write_months(session, team_id, (kept.keys() - fresh) | stale | {key[1] for key in touched}, answers, cells)

    if moved:
        _write_segments(session, team_id, segments, moved)
    if stale or kept.keys() - fresh or digest != state.segments_digest:
        state.segments_digest = digest
        state.updated_at = datetime.now(timezone.utc)
        session.add(state)
    return cells


def forget_person(session: Session, *, team_id: str, user_id: str) -> int:
    """Take a person's answers out of the team's summaries; call it before their answers are deleted,
    in the same transaction. Returns the number of rows about them deleted (their segment)."""
    state = _locked_state(session, team_id)  # even with no summaries yet: a first view must wait for the erasure
    row = session.get(PulseReportSegment, (team_id, user_id))
    segment = None if row is None else (row.cohort, row.department, row.career_stage, row.site)
    if row is not None:
        session.delete(row)
    removed = int(row is not None)
    definition = Definition.of()
    if state.definition != definition.digest:  # summed under rules that cannot be redone here: drop them all
        _drop(session, team_id)
        return removed

    answers = month_fingerprints(session, team_id=team_id)
    rows = _read_months(session, team_id)
    kept = {month: fingerprint for month, (fingerprint, _) in rows.items()}
    changed_from = _first_change(kept, answers)
    fresh = {month for month in kept if changed_from is None or month < changed_from}
    # Months summed from answers that have changed since go: the next view sums them again.
    theirs_by_month = person_fingerprints(session, team_id=team_id, user_id=user_id)
    remaining = dict(kept)
    for month, (count, ids) in theirs_by_month.items():
        if month in fresh:
            remaining[month] = (kept[month][0] - count, kept[month][1] - ids)
    remaining = {month: fingerprint for month, fingerprint in remaining.items() if month in fresh and fingerprint[0]}
    cells = {key: cell for month, (_, text) in rows.items() if month in fresh for key, cell in _parse_month(month, text).items()}
    touched: set[AggregateKey] = set()
    if segment is not None:
        theirs = aggregate(session, team_id=team_id, definition=definition, segments={user_id: segment}, only_these_people=True)
        touched = _add(cells, theirs, -1, fresh)
    rewrite = (kept.keys() - fresh) | (theirs_by_month.keys() & fresh) | {key[1] for key in touched}
    _write_months(session, team_id, rewrite, remaining, cells)
    for key in [key for key in _parsed if key[0] == team_id]:  # nor does this process keep them
        del _parsed[key]
    return removed


def export_person(session: Session, *, team_id: str, user_id: str) -> list[dict]:
    segment = session.get(PulseReportSegment, (team_id, user_id))
    if segment is None:
        return []
    return [{"report_segment": {"cohort": segment.cohort, "department": segment.department, "career_stage": segment.career_stage,
                                "site": segment.site}}]


def segments_digest(segments: Mapping[str, Segment]) -> str:
    lines = "\n".join("\t".join((user, *segment)) for user, segment in sorted(segments.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


# ---------------------------------------------------------------- summing again


def _first_change(kept: Mapping[date, Fingerprint], answers: Mapping[date, Fingerprint]) -> date | None:
    """The first month whose answers differ from those it was summed from; every later month
    depends on it through baselines.

    The fingerprints are read before anything is summed: an answer that arrives in between is
    then in the cells but not in the fingerprint kept, and its month is summed again next
    time, never the other way round.
    """
    for month in sorted(kept.keys() | answers.keys()):
        if kept.get(month) != answers.get(month):
            return month
    return None


def _move(session: Session, cells: Aggregates, team_id: str, definition: Definition, before: Mapping[str, Segment],
          after: Mapping[str, Segment], moved: set[str], months: set[date]) -> set[AggregateKey]:
    """Take the moved people out of the segments they were summed under, and add them to their new ones."""
    touched: set[AggregateKey] = set()
    for mapping, sign in ((before, -1), (after, 1)):
        people = {user: mapping[user] for user in moved if user in mapping}
        if people:
            theirs = aggregate(session, team_id=team_id, definition=definition, segments=people, only_these_people=True)
            touched |= _add(cells, theirs, sign, months)
    return touched


def _add(cells: Aggregates, other: Aggregates, sign: int, months: set[date]) -> set[AggregateKey]:
    """Add (sign 1) or take out (sign -1) the cells of ``other`` in ``months``; returns the keys changed.
    Cells are replaced, never changed in place: they may be shared with earlier views (_parse_cells)."""
    touched = set()
    for key, cell in other.items():
        if key[1] in months:
            summed = cells.get(key, InstrumentCell()).plus(cell, sign)
            if summed.values.n:
                cells[key] = summed
            else:
                cells.pop(key, None)
            touched.add(key)
    return touched


# ---------------------------------------------------------------- the tables


def _locked_state(session: Session, team_id: str) -> PulseReportState:
    """The team's state row, created if need be and held until the transaction ends. On SQLite the
    INSERT takes the write lock first thing, so everything read after it is what gets written over."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(PulseReportState).values(team_id=team_id, definition="", segments_digest="")
        .on_conflict_do_nothing(index_elements=["team_id"])
    )
    return session.execute(_state(team_id).with_for_update()).scalars().one()


def _state(team_id: str):  # noqa: ANN202 - a select
    return select(PulseReportState).where(PulseReportState.team_id == team_id)


def _drop(session: Session, team_id: str) -> None:
    session.execute(delete(PulseReportMonth).where(PulseReportMonth.team_id == team_id))
    session.execute(delete(PulseReportSegment).where(PulseReportSegment.team_id == team_id))


def _read_months(session: Session, team_id: str) -> dict[date, tuple[Fingerprint, str]]:
    table = PulseReportMonth.__table__
    rows = session.execute(select(table.c.month, table.c.answers, table.c.answer_ids, table.c.cells).where(table.c.team_id == team_id))
    return {month: ((answers, ids), cells) for month, answers, ids, cells in rows}


# The cells of each month as last parsed, per team: a view parses only the months whose
# text changed. One entry per month, replaced at the next view and dropped by forget_person.
_parsed: dict[tuple[str, date], tuple[str, Aggregates]] = {}


def _parse_cells(team_id: str, months: Mapping[date, str]) -> Aggregates:
    cells: Aggregates = {}
    for month, text in months.items():
        known = _parsed.get((team_id, month))
        if known is None or known[0] != text:
            known = (text, _parse_month(month, text))
            _parsed[(team_id, month)] = known
        cells.update(known[1])
    return cells


def _parse_month(month: date, text: str) -> Aggregates:
    return {
        (instrument, month, (cohort, department, stage, site)): InstrumentCell(
            Moments(n, total, squares), flagged, Moments(change_n, change_total, change_squares)
        )
        for instrument, cohort, department, stage, site, n, total, squares, change_n, change_total, change_squares, flagged
        in json.loads(text)
    }


def _write_months(session: Session, team_id: str, months: Iterable[date], fingerprints: Mapping[date, Fingerprint],
                  cells: Aggregates) -> None:
    """Replace the rows of ``months``: one per month that has answers, with its cells."""
    months = sorted(months)
    if not months:
        return
    session.execute(delete(PulseReportMonth).where(PulseReportMonth.team_id == team_id, PulseReportMonth.month.in_(months)))
    by_month: dict[date, list] = {month: [] for month in months}
    for (instrument, month, segment), cell in cells.items():
        if month in by_month:
            by_month[month].append([instrument, *segment, cell.values.n, cell.values.total, cell.values.squares,
                                    cell.change.n, cell.change.total, cell.change.squares, cell.flagged])
    rows = [
        dict(team_id=team_id, month=month, answers=fingerprints[month][0], answer_ids=fingerprints[month][1],
             cells=json.dumps(sorted(by_month[month]), sort_keys=True, separators=(",", ":")))
        for month in months
        if month in fingerprints
    ]
    if rows:
        session.execute(PulseReportMonth.__table__.insert(), rows)


def _segments(session: Session, team_id: str) -> dict[str, Segment]:
    table = PulseReportSegment.__table__
    rows = session.execute(select(table.c.slack_user_id, table.c.cohort, table.c.department, table.c.career_stage, table.c.site)
                           .where(table.c.team_id == team_id))
    return {user: (cohort, department, stage, site) for user, cohort, department, stage, site in rows}


def _write_segments(session: Session, team_id: str, segments: Mapping[str, Segment], moved: set[str]) -> None:
    users = sorted(moved)
    for start in range(0, len(users), _CHUNK):
        session.execute(delete(PulseReportSegment).where(PulseReportSegment.team_id == team_id,
                                                         PulseReportSegment.slack_user_id.in_(users[start:start + _CHUNK])))
    rows = [dict(team_id=team_id, slack_user_id=user, cohort=segments[user][0], department=segments[user][1],
                 career_stage=segments[user][2], site=segments[user][3]) for user in users if user in segments]
    if rows:
        session.execute(PulseReportSegment.__table__.insert(), rows)

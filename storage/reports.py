"""Admin report data: program counts and suppressed pulse trends. Keyword-only queries.

The pulse trends come from sums per instrument, month and fine segment
(``storage.pulse_aggregates``), kept per month in summary tables and brought up to date
at each view (``storage.pulse_cache``), so a view reads a few thousand sums whatever the
number of answers. :func:`trend_report_from_aggregates` turns them into exactly the
suppressed cells ``bot.domain.trends.build_trend_report`` computes from one row per answer (the
tests check the two against each other). Suppression is applied here, at every view;
its plans depend only on respondent counts and are remembered, so a repeated view pays
for neither the plans nor the answers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timezone
from fractions import Fraction
from functools import lru_cache
from typing import Callable, Mapping, Sequence

from sqlalchemy import Date, and_, case, cast, func, literal_column, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.domain.instruments import Catalogue, default_catalogue
from bot.domain.publication import Coarsening, plan_publication
from bot.domain.privacy import SuppressionPlan, plan_suppression, validate_min_group
from bot.domain.trends import (
    DEFAULT_METRICS,
    DEFAULT_TABLES,
    DIMENSIONS,
    SITE,
    Membership,
    Metric,
    ProgramSummary,
    ReportCell,
    SessionRecord,
    TrendReport,
    summarise_program,
    month_of,
    tables_for_sites,
    t_quantile,
    validated_tables,
    wilson_interval,
)
from storage import ledger
from storage.db import session_scope
from storage.models import Group, GroupMember, GroupSession, Member, SessionAttendance
from storage.pulse_aggregates import AggregateKey, Definition, InstrumentCell, Segment
from storage.pulse_cache import cached_pulse_aggregates


# ---------------------------------------------------------------- from aggregates to report cells


def trend_report_from_aggregates(
    aggregates: Mapping[AggregateKey, InstrumentCell],
    *,
    min_group: int,
    metrics: Sequence[Metric] = DEFAULT_METRICS,
    tables: Sequence[Sequence[str]] = DEFAULT_TABLES,
    catalogue: Catalogue | None = None,
    months: Callable[[date], bool] | None = None,
) -> TrendReport:
    """The suppressed report ``bot.domain.trends.build_trend_report`` would build from the answers.

    Same metrics, tables, suppression plans (``bot.domain.privacy.plan_suppression``),
    estimates and 95% intervals, and the same order of cells, but from per-segment
    sums instead of per-person rows. ``months``: which months to plan (all by default).
    """
    k = validate_min_group(min_group)
    catalogue = catalogue or default_catalogue()
    table_list = validated_tables(tables)
    metric_list = tuple(metrics)
    for metric in metric_list:
        if metric.kind == "percent":
            catalogue.instrument(metric.instrument).flag(metric.flag or "")
    instruments = {metric.instrument for metric in metric_list}
    table_list = tables_for_sites(table_list, {segment[DIMENSIONS.index(SITE)] for (instrument_id, _, segment), cell
                                               in aggregates.items() if instrument_id in instruments and cell.values.n})

    by_instrument: dict[str, list[tuple[date, Segment, InstrumentCell]]] = defaultdict(list)
    for (instrument_id, month, segment), cell in aggregates.items():
        by_instrument[instrument_id].append((month, segment, cell))
    cells: list[ReportCell] = []
    planned: set[date] = set()
    for metric in metric_list:
        for month, by_segment in sorted(_measures_by_month(metric, by_instrument[metric.instrument]).items()):
            if months is not None and not months(month):
                continue
            planned.add(month)
            cells.extend(_month_cells(metric, month, tuple(sorted(by_segment.items())), table_list, k))
    return TrendReport(min_group=k, metrics=metric_list, tables=table_list, months=tuple(sorted(planned)), cells=tuple(cells))


Sums = tuple[int, int, int]  # respondents, sum and sum of squares of one measure


@lru_cache(maxsize=4096)
def suppression_plan(fine_counts: tuple[tuple[Segment, int], ...], tables: tuple[tuple[str, ...], ...], min_group: int) -> SuppressionPlan:
    """``bot.domain.privacy.plan_suppression``, remembered: the plan depends only on the respondent
    counts, and past months' counts rarely change, so repeated admin views reuse their plans."""
    return plan_suppression(dict(fine_counts), DIMENSIONS, tables, min_group)


def forget_remembered_reports() -> None:
    """Clear what this process remembers of earlier views (plans, cells)."""
    suppression_plan.cache_clear()
    _month_cells.cache_clear()


def _measures_by_month(metric: Metric, answers: list[tuple[date, Segment, InstrumentCell]]) -> dict[date, dict[Segment, Sums]]:
    by_month: dict[date, dict[Segment, Sums]] = defaultdict(dict)
    for month, segment, cell in answers:
        if metric.kind == "mean":
            sums = (cell.values.n, cell.values.total, cell.values.squares)
        elif metric.kind == "percent":
            flagged = cell.flagged.get(metric.flag or "", 0)
            sums = (cell.values.n, flagged, flagged)  # a 0/1 measure: its squares are itself
        else:
            sums = (cell.change.n, cell.change.total, cell.change.squares)
        if sums[0]:
            by_month[month][segment] = sums  # one cell per instrument, month and segment
    return by_month


@lru_cache(maxsize=4096)
def _month_cells(metric: Metric, month: date, by_segment: tuple[tuple[Segment, Sums], ...],
                 tables: tuple[tuple[str, ...], ...], min_group: int) -> tuple[ReportCell, ...]:
    """One metric's published cells in one month, remembered like the plans: a past month's
    sums rarely change, so a repeated view reuses its cells."""
    plan = suppression_plan(tuple((segment, sums[0]) for segment, sums in by_segment), tables, min_group)
    totals: dict[tuple[tuple[str, ...], tuple[str, ...]], list[int]] = {}
    for table in {published.table for published in plan.cells}:
        positions = [DIMENSIONS.index(name) for name in table]
        for segment, (n, total, squares) in by_segment:
            summed = totals.setdefault((table, tuple(segment[p] for p in positions)), [0, 0, 0])
            summed[0] += n
            summed[1] += total
            summed[2] += squares
    cells = []
    for published in plan.cells:
        if published.id in plan.hidden:
            cells.append(ReportCell(metric.id, month, published.table, published.key, suppressed=True))
            continue
        n, total, squares = totals[published.id]
        estimate, low, high = _estimate(metric, n, total, squares)
        cells.append(ReportCell(metric.id, month, published.table, published.key, False, n, estimate, low, high))
    return tuple(cells)


def _estimate(metric: Metric, n: int, total: int, squares: int) -> tuple[float, float, float]:
    if metric.kind == "percent":
        low, high = wilson_interval(total, n)
        return 100 * total / n, 100 * low, 100 * high
    if n < 2:
        raise ValueError("a confidence interval needs at least two values")
    mean = total / n
    # Exact integer arithmetic for the variance, as statistics.stdev does over the values.
    variance = Fraction(n * squares - total * total, n * (n - 1))
    sd = math.sqrt(variance)
    half_width = t_quantile(n - 1) * sd / math.sqrt(n)
    return mean, mean - half_width, mean + half_width


def exact_trend_report(session: Session, *, team_id: str, min_group: int, catalogue: Catalogue | None = None,
                       metrics: Sequence[Metric] = DEFAULT_METRICS, months: Callable[[date], bool] | None = None) -> TrendReport:
    """The exact figures (suppressed per table family) from the team's pulse summaries, brought up to
    date first. Never shown as they are: :func:`trend_report` plans and coarsens them."""
    catalogue = catalogue or default_catalogue()
    aggregates = cached_pulse_aggregates(session, team_id=team_id, definition=Definition.of(catalogue, metrics))
    return trend_report_from_aggregates(aggregates, min_group=min_group, metrics=metrics, catalogue=catalogue, months=months)


def trend_report(session: Session, *, team_id: str, min_group: int, catalogue: Catalogue | None = None,
                 as_of: date | None = None, coarsening: Coarsening = Coarsening(),
                 metrics: Sequence[Metric] = DEFAULT_METRICS) -> TrendReport:
    """The admin trend report as published: closed months only, months already in the publication
    ledger exactly as recorded, new months planned over every metric together and coarsened
    (``bot.domain.publication``), and recorded in the ledger before they are returned.

    ``metrics``: what is published, :data:`bot.domain.trends.DEFAULT_METRICS` unless a caller
    deliberately publishes more (``WHO5_CHANGE`` in a weakened build the privacy tests attack)."""
    as_of = as_of or datetime.now(timezone.utc).date()
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with session_scope(engine) as reader:
        recorded = {cell.month for cell in ledger.published_cells(reader, team_id=team_id)}
    open_month = month_of(as_of)
    # Only months that may be published now and are not in the ledger yet need a suppression plan:
    # the rest is shown as recorded or not at all (planning every month again cost seconds a view).
    exact = exact_trend_report(session, team_id=team_id, min_group=min_group, catalogue=catalogue, metrics=metrics,
                               months=lambda month: month < open_month and month not in recorded)
    kinds = {metric.id: metric.kind for metric in exact.metrics}
    with session_scope(engine) as writer, ledger.publishing(writer, team_id=team_id):
        plan = plan_publication(exact.cells, ledger.published_cells(writer, team_id=team_id), min_group=exact.min_group,
                                open_month=open_month, metric_kinds=kinds, coarsening=coarsening)
        if plan.new:
            ledger.record(writer, team_id=team_id, cells=plan.new)
    return TrendReport(min_group=exact.min_group, metrics=exact.metrics, tables=exact.tables, months=plan.months, cells=plan.cells)


# ---------------------------------------------------------------- program summary


def program_summary(session: Session, *, team_id: str, as_of: date | None = None) -> ProgramSummary:
    """Enrolled, active, groups, sessions held, attendance, retention and participation.

    The invited roster is everyone invited from a roster plus everyone who joined
    without an invitation, so participation is enrolled / people the program reached.
    """
    as_of = as_of or datetime.now(timezone.utc).date()
    dialect = session.get_bind().dialect.name
    left_on = case((and_(Member.status == "left", Member.left_at.is_not(None)), _utc_day(dialect, Member.left_at)))  # type: ignore[union-attr]
    members = session.execute(
        select(_utc_day(dialect, Member.consented_at), left_on).where(
            Member.team_id == team_id, or_(Member.consented_at.is_not(None), Member.invited_at.is_not(None))  # type: ignore[union-attr]
        )
    ).all()
    memberships = [
        Membership(person_key=str(index), enrolled_on=enrolled_on, left_on=left_on)
        for index, (enrolled_on, left_on) in enumerate(members)
        if enrolled_on is not None
    ]
    groups = session.execute(
        select(Group.id).where(Group.team_id == team_id, Group.status.not_in(("forming",)))  # type: ignore[attr-defined]
    ).scalars().all()
    return summarise_program(
        memberships,
        _held_sessions(session, team_id=team_id),
        invited=len(members),
        as_of=as_of,
        group_keys=[str(group_id) for group_id in groups],
    )


def _utc_day(dialect: str, moment: ColumnElement) -> ColumnElement:
    """The UTC date of a stored time, computed by the database (converting 10,000 times in Python is slower)."""
    if dialect == "postgresql":
        return cast(func.timezone(literal_column("'UTC'"), moment), Date)
    return func.substr(moment, 1, 10, type_=Date)  # SQLite keeps UTC times as 'YYYY-MM-DD HH:MM:SS.ffffff'


def _held_sessions(session: Session, *, team_id: str) -> list[SessionRecord]:
    """Held sessions with attendance among the members of the group on that day."""
    in_group_then = and_(
        GroupMember.group_id == GroupSession.group_id,
        GroupMember.joined_at <= GroupSession.starts_at,
        or_(GroupMember.left_at.is_(None), GroupMember.left_at > GroupSession.starts_at),  # type: ignore[union-attr]
    )
    attended = (
        select(func.count())
        .select_from(SessionAttendance)
        .join(GroupMember, and_(in_group_then, GroupMember.slack_user_id == SessionAttendance.slack_user_id))
        .where(SessionAttendance.session_id == GroupSession.id, SessionAttendance.attended.is_(True))  # type: ignore[attr-defined]
        .scalar_subquery()
    )
    expected = select(func.count()).select_from(GroupMember).where(in_group_then).scalar_subquery()
    rows = session.execute(
        select(GroupSession.group_id, GroupSession.local_date, attended.label("attended"), expected.label("expected"))
        .join(Group, Group.id == GroupSession.group_id)
        .where(Group.team_id == team_id, GroupSession.status == "held")
    ).all()
    return [
        SessionRecord(str(row.group_id), row.local_date, min(int(row.attended), int(row.expected)), int(row.expected))
        for row in rows
    ]


@dataclass(frozen=True)
class AdminReport:
    team_id: str
    as_of: date
    summary: ProgramSummary
    trends: TrendReport


def admin_report(session: Session, *, team_id: str, min_group: int, as_of: date | None = None,
                 catalogue: Catalogue | None = None) -> AdminReport:
    as_of = as_of or datetime.now(timezone.utc).date()
    return AdminReport(
        team_id=team_id,
        as_of=as_of,
        summary=program_summary(session, team_id=team_id, as_of=as_of),
        trends=trend_report(session, team_id=team_id, min_group=min_group, catalogue=catalogue, as_of=as_of),
    )

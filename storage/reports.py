"""Admin report data: program counts and pulse aggregates. Keyword-only queries.

Pulse answers can number in the millions, so they are aggregated in SQL, in two
GROUP BYs: answers → one row per person, instrument and month (the person's
latest answer that month, and their first answer ever as their baseline) → one
row per instrument, month and *fine segment* (cohort x department x career-stage
band) holding sufficient statistics: respondents, sum, sum of squares, the
count behind every percentage, and the same for the change from baseline.
Each person's segment is worked out in Python (the rules live in ``bot.trends``)
and joined in as a temporary table keyed by user. Python then sees a few thousand
rows whatever the number of answers, and :func:`trend_report_from_aggregates`
turns them into exactly the suppressed cells ``bot.trends.build_trend_report``
computes from one row per answer (the tests check the two against each other).
Suppression plans depend only on respondent counts and are remembered, so a
repeated view pays only for the SQL.

Definitions shared with ``bot.trends``: a person counts once per metric and
month, with their latest answer that month (ties on the same day: the higher
value); months are UTC calendar months. A person's baseline for an instrument is
their first answer to it (ties: the lower value); the change from baseline
counts answers after that first one. A person's segment is their current
profile: department, career-stage band, and the cohort of the first COMPASS
group they joined. Erased people (forget-me) have no answers left to count.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from fractions import Fraction
from functools import lru_cache
from typing import Mapping, Sequence

from scipy import stats
from sqlalchemy import BigInteger, Date, Integer, String, and_, case, cast, column, func, literal_column, or_, select, table, text
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from bot.instruments import Catalogue, Rule, default_catalogue
from bot.privacy import SuppressionPlan, plan_suppression, validate_min_group
from bot.trends import (
    CONFIDENCE,
    DEFAULT_METRICS,
    DEFAULT_TABLES,
    DIMENSIONS,
    NOT_RECORDED,
    Membership,
    Metric,
    ProgramSummary,
    ReportCell,
    SessionRecord,
    TrendReport,
    career_stage_band,
    summarise_program,
    wilson_interval,
)
from storage.models import Group, GroupMember, GroupSession, Member, SessionAttendance, SurveyResponse

Segment = tuple[str, str, str]  # one value per name in bot.trends.DIMENSIONS


# ---------------------------------------------------------------- pulse aggregates


@dataclass
class Moments:
    """Respondents, sum and sum of squares of one measure: all a mean and its t interval need."""

    n: int = 0
    total: int = 0
    squares: int = 0

    def add(self, other: "Moments") -> None:
        self.n += other.n
        self.total += other.total
        self.squares += other.squares


@dataclass
class InstrumentCell:
    """One instrument's answers in one month and fine segment, summed over people."""

    values: Moments = field(default_factory=Moments)  # the latest value per person
    flagged: dict[str, int] = field(default_factory=dict)  # flag id -> people whose latest value carries it
    change: Moments = field(default_factory=Moments)  # latest value minus baseline, for people past their baseline


AggregateKey = tuple[str, date, Segment]  # (instrument, month, segment)
Aggregates = dict[AggregateKey, InstrumentCell]


def pulse_aggregates(session: Session, *, team_id: str, catalogue: Catalogue | None = None,
                     metrics: Sequence[Metric] = DEFAULT_METRICS) -> Aggregates:
    """Sufficient statistics per instrument, month and fine segment, computed in SQL."""
    catalogue = catalogue or default_catalogue()
    wanted = sorted({metric.instrument for metric in metrics})
    for instrument_id in wanted:
        catalogue.instrument(instrument_id)
    if not wanted:
        return {}
    dialect = session.get_bind().dialect.name
    # Answers are packed as day * SCALE + value so that MAX/MIN pick (latest day, higher value)
    # and (first day, lower value) in one aggregate that both databases run fast.
    scale = 10 ** len(str(max(catalogue.instrument(i).maximum for i in wanted)))
    month, day = _month_and_day(dialect)
    answers = (
        select(
            SurveyResponse.slack_user_id.label("user_id"),
            SurveyResponse.instrument.label("instrument"),
            month.label("month"),
            (day * scale + cast(SurveyResponse.score, BigInteger)).label("packed"),
        )
        .where(SurveyResponse.team_id == team_id, SurveyResponse.instrument.in_(wanted))
        .subquery("answers")
    )
    person_months = (
        select(
            answers.c.user_id,
            answers.c.instrument,
            answers.c.month,
            func.max(answers.c.packed).label("last"),
            func.min(answers.c.packed).label("first"),
        )
        .group_by(answers.c.user_id, answers.c.instrument, answers.c.month)
        .subquery("person_months")
    )
    with_baseline = select(
        person_months.c.user_id,
        person_months.c.instrument,
        person_months.c.month,
        person_months.c.last,
        func.min(person_months.c.first)
        .over(partition_by=(person_months.c.user_id, person_months.c.instrument))
        .label("base"),
    ).subquery("with_baseline")
    segments = person_segments(session, team_id=team_id)
    segment_list = sorted(set(segments.values()))
    segment_ids = {segment: index for index, segment in enumerate(segment_list)}
    people = _load_segment_table(session, {user_id: segment_ids[segment] for user_id, segment in segments.items()})

    value = with_baseline.c.last % scale
    past_baseline = with_baseline.c.last != with_baseline.c.base
    difference = value - with_baseline.c.base % scale
    flag_columns = {
        (instrument_id, flag.id): func.sum(
            case((and_(with_baseline.c.instrument == instrument_id, _rule(value, flag.rule)), 1), else_=0)
        ).label(f"flag_{index}_{flag_index}")
        for index, instrument_id in enumerate(wanted)
        for flag_index, flag in enumerate(catalogue.instrument(instrument_id).flags)
    }
    query = (
        select(
            with_baseline.c.instrument,
            with_baseline.c.month,
            people.c.segment,
            func.count().label("n"),
            func.sum(value).label("total"),
            func.sum(value * value).label("squares"),
            func.sum(case((past_baseline, 1), else_=0)).label("change_n"),
            func.sum(case((past_baseline, difference), else_=0)).label("change_total"),
            func.sum(case((past_baseline, difference * difference), else_=0)).label("change_squares"),
            *flag_columns.values(),
        )
        .select_from(with_baseline)
        .join(people, people.c.user_id == with_baseline.c.user_id)
        .group_by(with_baseline.c.instrument, with_baseline.c.month, people.c.segment)
    )
    aggregates: Aggregates = {}
    try:
        rows = session.execute(query).mappings().all()
    finally:
        session.execute(people.delete())
    for row in rows:
        key = (row["instrument"], _month_start(row["month"]), segment_list[row["segment"]])
        cell = aggregates.setdefault(key, InstrumentCell())
        cell.values.add(Moments(int(row["n"]), int(row["total"]), int(row["squares"])))
        cell.change.add(Moments(int(row["change_n"]), int(row["change_total"]), int(row["change_squares"])))
        for (instrument_id, flag_id), column in flag_columns.items():
            if instrument_id == row["instrument"]:
                cell.flagged[flag_id] = cell.flagged.get(flag_id, 0) + int(row[column.name])
    return aggregates


def person_segments(session: Session, *, team_id: str) -> dict[str, Segment]:
    """Each member's reporting segment: (cohort of their first group, department, career-stage band)."""
    first_cohort: dict[str, str] = {}
    memberships = session.execute(
        select(GroupMember.slack_user_id, Group.cohort)
        .join(Group, Group.id == GroupMember.group_id)
        .where(Group.team_id == team_id)
        .order_by(GroupMember.joined_at, GroupMember.id)
    )
    for user_id, cohort in memberships:
        first_cohort.setdefault(user_id, cohort)
    members = session.execute(
        select(Member.slack_user_id, Member.department, Member.career_stage).where(Member.team_id == team_id)
    )
    return {
        user_id: (first_cohort.get(user_id) or NOT_RECORDED, department or NOT_RECORDED, career_stage_band(stage))
        for user_id, department, stage in members
    }


_SEGMENT_TABLE = table("report_segments", column("user_id", String), column("segment", Integer))


def _load_segment_table(session: Session, segment_of: Mapping[str, int]):  # noqa: ANN202 - a table clause
    """A temporary table of person -> segment number, joined on its primary key.

    The segment rules (first group's cohort, career-stage bands) stay in Python, and
    both databases join a million person-months against an indexed table instead of
    re-deriving each person's segment per row.
    """
    session.execute(
        text("CREATE TEMPORARY TABLE IF NOT EXISTS report_segments (user_id VARCHAR(32) PRIMARY KEY, segment INTEGER NOT NULL)")
    )
    session.execute(_SEGMENT_TABLE.delete())
    if segment_of:
        session.execute(_SEGMENT_TABLE.insert(), [{"user_id": user, "segment": number} for user, number in segment_of.items()])
    return _SEGMENT_TABLE


def _month_and_day(dialect: str) -> tuple[ColumnElement, ColumnElement]:
    """The UTC month ('YYYY-MM') and day number of an answer, per database."""
    answered_at = SurveyResponse.answered_at
    if dialect == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), answered_at)
        month = func.to_char(utc, literal_column("'YYYY-MM'"), type_=String)
        day = cast(cast(utc, Date) - literal_column("DATE '1970-01-01'"), BigInteger)
        return month, day
    # SQLite keeps UTC times as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
    month = func.substr(answered_at, 1, 7, type_=String)
    day = cast(func.julianday(func.substr(answered_at, 1, 10, type_=String)), BigInteger)
    return month, day


def _rule(value: ColumnElement, rule: Rule) -> ColumnElement:
    threshold = rule.threshold
    return {
        "at_least": value >= threshold,
        "at_most": value <= threshold,
        "below": value < threshold,
        "above": value > threshold,
        "equals": value == threshold,
    }[rule.comparator]


def _month_start(value: str) -> date:
    year, month = value.split("-")[:2]
    return date(int(year), int(month), 1)


# ---------------------------------------------------------------- from aggregates to report cells


def trend_report_from_aggregates(
    aggregates: Mapping[AggregateKey, InstrumentCell],
    *,
    min_group: int,
    metrics: Sequence[Metric] = DEFAULT_METRICS,
    tables: Sequence[Sequence[str]] = DEFAULT_TABLES,
    catalogue: Catalogue | None = None,
) -> TrendReport:
    """The suppressed report ``bot.trends.build_trend_report`` would build from the answers.

    Same metrics, tables, suppression plans (``bot.privacy.plan_suppression``),
    estimates and 95% intervals, and the same order of cells, but from per-segment
    sums instead of per-person rows.
    """
    k = validate_min_group(min_group)
    catalogue = catalogue or default_catalogue()
    table_list = tuple(tuple(table) for table in tables)
    for table in table_list:
        if not set(table) <= set(DIMENSIONS):
            raise ValueError(f"reports break down only by {', '.join(DIMENSIONS)}; got table {table!r}")
    metric_list = tuple(metrics)
    for metric in metric_list:
        if metric.kind == "percent":
            catalogue.instrument(metric.instrument).flag(metric.flag or "")

    cells: list[ReportCell] = []
    months: set[date] = set()
    for metric in metric_list:
        for month, by_segment in sorted(_measures_by_month(metric, aggregates).items()):
            months.add(month)
            fine_counts = tuple(sorted((segment, moments.n) for segment, moments in by_segment.items()))
            cells.extend(_cells(metric, month, by_segment, suppression_plan(fine_counts, table_list, k)))
    return TrendReport(min_group=k, metrics=metric_list, tables=table_list, months=tuple(sorted(months)), cells=tuple(cells))


@lru_cache(maxsize=4096)
def suppression_plan(fine_counts: tuple[tuple[Segment, int], ...], tables: tuple[tuple[str, ...], ...], min_group: int) -> SuppressionPlan:
    """``bot.privacy.plan_suppression``, remembered: the plan depends only on the respondent
    counts, and past months' counts rarely change, so repeated admin views reuse their plans."""
    return plan_suppression(dict(fine_counts), DIMENSIONS, tables, min_group)


def _measures_by_month(metric: Metric, aggregates: Mapping[AggregateKey, InstrumentCell]) -> dict[date, dict[Segment, Moments]]:
    by_month: dict[date, dict[Segment, Moments]] = defaultdict(dict)
    for (instrument_id, month, segment), cell in aggregates.items():
        if instrument_id != metric.instrument:
            continue
        if metric.kind == "mean":
            moments = Moments(cell.values.n, cell.values.total, cell.values.squares)
        elif metric.kind == "percent":
            flagged = cell.flagged.get(metric.flag or "", 0)
            moments = Moments(cell.values.n, flagged, flagged)  # a 0/1 measure: its squares are itself
        else:
            moments = Moments(cell.change.n, cell.change.total, cell.change.squares)
        if moments.n:
            by_month[month].setdefault(segment, Moments()).add(moments)
    return by_month


def _cells(metric: Metric, month: date, by_segment: Mapping[Segment, Moments], plan: SuppressionPlan) -> list[ReportCell]:
    sums: dict[tuple[tuple[str, ...], tuple[str, ...]], Moments] = {}
    for table in {published.table for published in plan.cells}:
        positions = [DIMENSIONS.index(name) for name in table]
        for segment, moments in by_segment.items():
            sums.setdefault((table, tuple(segment[p] for p in positions)), Moments()).add(moments)
    cells = []
    for published in plan.cells:
        if published.id in plan.hidden:
            cells.append(ReportCell(metric.id, month, published.table, published.key, suppressed=True))
            continue
        summed = sums[published.id]
        estimate, low, high = _estimate(metric, summed)
        cells.append(ReportCell(metric.id, month, published.table, published.key, False, summed.n, estimate, low, high))
    return cells


def _estimate(metric: Metric, moments: Moments) -> tuple[float, float, float]:
    n = moments.n
    if metric.kind == "percent":
        low, high = wilson_interval(moments.total, n)
        return 100 * moments.total / n, 100 * low, 100 * high
    if n < 2:
        raise ValueError("a confidence interval needs at least two values")
    mean = moments.total / n
    # Exact integer arithmetic for the variance, as statistics.stdev does over the values.
    variance = Fraction(n * moments.squares - moments.total * moments.total, n * (n - 1))
    sd = math.sqrt(variance)
    half_width = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half_width, mean + half_width


def trend_report(session: Session, *, team_id: str, min_group: int, catalogue: Catalogue | None = None) -> TrendReport:
    """The admin trend report of a team, aggregated in SQL and suppressed."""
    catalogue = catalogue or default_catalogue()
    aggregates = pulse_aggregates(session, team_id=team_id, catalogue=catalogue)
    return trend_report_from_aggregates(aggregates, min_group=min_group, catalogue=catalogue)


# ---------------------------------------------------------------- program summary


def program_summary(session: Session, *, team_id: str, as_of: date | None = None) -> ProgramSummary:
    """Enrolled, active, groups, sessions held, attendance, retention and participation.

    The invited roster is everyone invited from a roster plus everyone who joined
    without an invitation, so participation is enrolled / people the program reached.
    """
    as_of = as_of or datetime.now(timezone.utc).date()
    members = session.execute(
        select(Member.slack_user_id, Member.consented_at, Member.left_at, Member.status, Member.invited_at).where(
            Member.team_id == team_id, or_(Member.consented_at.is_not(None), Member.invited_at.is_not(None))  # type: ignore[union-attr]
        )
    ).all()
    memberships = [
        Membership(
            person_key=str(index),
            enrolled_on=row.consented_at.date(),
            left_on=row.left_at.date() if row.status == "left" and row.left_at is not None else None,
        )
        for index, row in enumerate(members)
        if row.consented_at is not None
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
        trends=trend_report(session, team_id=team_id, min_group=min_group, catalogue=catalogue),
    )


"""Pulse aggregates: sufficient statistics per instrument, month and segment, computed in SQL.

Pulse answers can number in the millions, so they are aggregated in the database, in two
GROUP BYs: answers → one row per person, instrument and month (the person's latest answer
that month, and their first answer ever as their baseline) → one row per instrument, month
and *fine segment* (cohort x department x career-stage band x site) holding sufficient statistics:
respondents, sum, sum of squares, the count behind every percentage, and the same for the
change from baseline (of the instruments whose change is reported). Each person's segment
is the one stamped on their answers when they answered (``SurveyResponse.segment``), so a later
profile change or roster re-import affects only later answers; answers stored before stamping
fall back to the person's segment now, worked out in Python (the rules live in
``bot.domain.trends``) and joined in as a temporary table keyed by user. Python then sees a few thousand rows whatever the number of answers.

Definitions shared with ``bot.domain.trends``: a person counts once per metric and month, with
their latest answer that month (ties on the same day: the higher value); months are UTC
calendar months. A person's baseline for an instrument is their first answer to it (ties:
the lower value); the change from baseline counts answers after that first one. A person's
segment is their profile when they answered: department, career-stage band, site (from the
roster), and the cohort of the first COMPASS group they had joined. Erased people (forget-me) have no answers left to count.

:func:`aggregate` computes every month from scratch, only the months from a given one on
(baselines are then looked up per person in an index instead of over every answer), or only
the answers of a few people; ``storage.pulse_cache`` keeps the results per month.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Mapping, Sequence

from sqlalchemy import (
    BigInteger, Date, Integer, String, and_, case, cast, column, func, literal_column, select, table, text,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery
from sqlmodel import Session

from bot.domain.instruments import Catalogue, Rule, default_catalogue
from bot.domain.trends import DEFAULT_METRICS, NOT_RECORDED, Metric, career_stage_band
from storage.models import Group, GroupMember, Member, SurveyResponse, SurveyResponseMonth

Segment = tuple[str, str, str, str]  # one value per name in bot.domain.trends.DIMENSIONS

# Bump when what an aggregate means changes (months, baselines, segment rules), so that
# summaries kept under the old meaning are rebuilt rather than mixed with new ones.
DEFINITION_VERSION = 3  # 2: answers counted in the segment stamped when answered; 3: segments carry the site


@dataclass
class Moments:
    """Respondents, sum and sum of squares of one measure: all a mean and its t interval need."""

    n: int = 0
    total: int = 0
    squares: int = 0

    def add(self, other: "Moments", sign: int = 1) -> None:
        self.n += sign * other.n
        self.total += sign * other.total
        self.squares += sign * other.squares


@dataclass
class InstrumentCell:
    """One instrument's answers in one month and fine segment, summed over people."""

    values: Moments = field(default_factory=Moments)  # the latest value per person
    flagged: dict[str, int] = field(default_factory=dict)  # flag id -> people whose latest value carries it (never 0)
    change: Moments = field(default_factory=Moments)  # latest value minus baseline, for people past their baseline

    def plus(self, other: "InstrumentCell", sign: int = 1) -> "InstrumentCell":
        """A new cell with the people summed in ``other`` added (or, with sign -1, taken out)."""
        values = Moments(self.values.n, self.values.total, self.values.squares)
        change = Moments(self.change.n, self.change.total, self.change.squares)
        values.add(other.values, sign)
        change.add(other.change, sign)
        flagged = dict(self.flagged)
        for flag, count in other.flagged.items():
            flagged[flag] = flagged.get(flag, 0) + sign * count
            if not flagged[flag]:
                del flagged[flag]
        return InstrumentCell(values, flagged, change)


AggregateKey = tuple[str, date, Segment]  # (instrument, month, segment)
Aggregates = dict[AggregateKey, InstrumentCell]


@dataclass(frozen=True)
class Definition:
    """What the aggregates of a set of metrics hold: the instruments, their flags, and the packing scale."""

    instruments: tuple[str, ...]
    flags: tuple[tuple[str, str, Rule], ...]  # (instrument id, flag id, rule)
    changes: tuple[str, ...]  # instruments whose change from baseline is reported (the others' stays 0)
    scale: int  # answers are packed as day * scale + value

    @classmethod
    def of(cls, catalogue: Catalogue | None = None, metrics: Sequence[Metric] = DEFAULT_METRICS) -> "Definition":
        catalogue = catalogue or default_catalogue()
        wanted = tuple(sorted({metric.instrument for metric in metrics}))
        instruments = [catalogue.instrument(instrument_id) for instrument_id in wanted]
        flags = tuple((instrument.id, flag.id, flag.rule) for instrument in instruments for flag in instrument.flags)
        changes = tuple(sorted({metric.instrument for metric in metrics if metric.kind == "change"}))
        scale = 10 ** len(str(max((instrument.maximum for instrument in instruments), default=0)))
        return cls(wanted, flags, changes, scale)

    @property
    def digest(self) -> str:
        rules = [[instrument, flag, rule.comparator, rule.threshold] for instrument, flag, rule in self.flags]
        spec = json.dumps([DEFINITION_VERSION, self.instruments, self.changes, self.scale, rules])
        return hashlib.sha256(spec.encode()).hexdigest()


def pulse_aggregates(session: Session, *, team_id: str, catalogue: Catalogue | None = None,
                     metrics: Sequence[Metric] = DEFAULT_METRICS) -> Aggregates:
    """Sufficient statistics per instrument, month and fine segment, computed in SQL from every answer."""
    definition = Definition.of(catalogue, metrics)
    return aggregate(session, team_id=team_id, definition=definition, segments=person_segments(session, team_id=team_id))


def aggregate(session: Session, *, team_id: str, definition: Definition, segments: Mapping[str, Segment],
              months: tuple[date, date] | None = None, only_these_people: bool = False) -> Aggregates:
    """The aggregates of the people in ``segments``, each counted in the segment given there.

    ``months``: only the months from the first up to (not including) the second; a person's
    baseline still comes from all their answers. ``only_these_people``: read only their
    answers, through the index on the person, instead of every answer of the team (for a
    handful of people).
    """
    if not definition.instruments or not segments:
        return {}
    dialect = session.get_bind().dialect.name
    segment_list = sorted(set(segments.values()))
    segment_ids = {segment: index for index, segment in enumerate(segment_list)}
    people = _load_segment_table(session, {user_id: segment_ids[segment] for user_id, segment in segments.items()})
    person_months = _person_months(team_id, definition, dialect, months=months, people=people if only_these_people else None)
    try:
        return _segment_sums(session, person_months, people, definition, segment_list)
    finally:
        session.execute(people.delete())


def _person_months(team_id: str, definition: Definition, dialect: str, *, months: tuple[date, date] | None,
                   people) -> Subquery:  # noqa: ANN001
    """One row per person, instrument and month: user_id, instrument, month, last and base (packed)."""
    month, packed = _month_and_packed(dialect, SurveyResponse.answered_at, SurveyResponse.score, definition.scale)
    answers = select(
        SurveyResponse.slack_user_id.label("user_id"),
        SurveyResponse.instrument.label("instrument"),
        month.label("month"),
        packed.label("packed"),
        SurveyResponse.segment.label("segment"),
    ).where(SurveyResponse.team_id == team_id, SurveyResponse.instrument.in_(definition.instruments))
    if months is not None:
        # Both bounds, or SQLite's planner prefers scanning another index over this range.
        answers = answers.where(SurveyResponse.answered_at >= _utc(months[0]), SurveyResponse.answered_at < _utc(months[1]))
    if people is not None:
        answers = answers.where(SurveyResponse.slack_user_id.in_(select(people.c.user_id)))
    answers = answers.subquery("answers")
    keys = (answers.c.user_id, answers.c.instrument, answers.c.month)
    last = func.max(answers.c.packed)
    # The segment stamped on the person's answers that month (one of them, the same every time,
    # should their profile have changed within the month); None for answers stored before stamping.
    segment = func.max(answers.c.segment).label("segment")
    # A baseline equal to the latest answer counts as no change: what instruments whose change
    # is not reported get, without looking their baseline up.
    if months is not None:
        # Baselines looked up once per group, in the grouped query: neither database flattens it
        # into the next one, which would repeat the lookups at every use of base.
        base = case((answers.c.instrument.in_(definition.changes), _baseline(team_id, definition, dialect, answers)), else_=last)
        return select(*keys, last.label("last"), base.label("base"), segment).group_by(*keys).subquery("with_baseline")
    by_month = select(*keys, last.label("last"), func.min(answers.c.packed).label("first"), segment).group_by(*keys).subquery("person_months")
    # Every month is here, so the baseline is the least first answer over the person's months.
    first_ever = func.min(by_month.c.first).over(partition_by=(by_month.c.user_id, by_month.c.instrument))
    base = case((by_month.c.instrument.in_(definition.changes), first_ever), else_=by_month.c.last)
    return select(by_month.c.user_id, by_month.c.instrument, by_month.c.month, by_month.c.last, base.label("base"),
                  by_month.c.segment).subquery(
        "with_baseline"
    )


def _baseline(team_id: str, definition: Definition, dialect: str, pairs: Subquery) -> ColumnElement:
    """A person's first answer to an instrument (packed), from all their answers: two lookups in the
    index on (team, person, instrument, time): the time of the first answer, then the least answer
    of that UTC day."""
    first, first_day = aliased(SurveyResponse, name="first_answer"), aliased(SurveyResponse, name="first_day")

    def same_pair(answer) -> ColumnElement:  # noqa: ANN001
        return and_(answer.team_id == team_id, answer.slack_user_id == pairs.c.user_id, answer.instrument == pairs.c.instrument)

    first_at = select(func.min(first.answered_at)).where(same_pair(first)).correlate(pairs).scalar_subquery()
    _, packed = _month_and_packed(dialect, first_day.answered_at, first_day.score, definition.scale)
    return (
        select(func.min(packed))
        .where(same_pair(first_day), first_day.answered_at < _start_of_next_day(dialect, first_at))
        .correlate(pairs)
        .scalar_subquery()
    )


def _segment_sums(session: Session, person_months: Subquery, people, definition: Definition,  # noqa: ANN001
                  segment_list: list[Segment]) -> Aggregates:
    value = person_months.c.last % definition.scale
    past_baseline = person_months.c.last != person_months.c.base
    difference = value - person_months.c.base % definition.scale
    flag_columns = {
        (instrument_id, flag_id): func.sum(
            case((and_(person_months.c.instrument == instrument_id, _rule(value, rule)), 1), else_=0)
        ).label(f"flag_{index}")
        for index, (instrument_id, flag_id, rule) in enumerate(definition.flags)
    }
    query = (
        select(
            person_months.c.instrument,
            person_months.c.month,
            people.c.segment,
            person_months.c.segment.label("answered_as"),
            func.count().label("n"),
            func.sum(value).label("total"),
            func.sum(value * value).label("squares"),
            func.sum(case((past_baseline, 1), else_=0)).label("change_n"),
            func.sum(case((past_baseline, difference), else_=0)).label("change_total"),
            func.sum(case((past_baseline, difference * difference), else_=0)).label("change_squares"),
            *flag_columns.values(),
        )
        .select_from(person_months)
        .join(people, people.c.user_id == person_months.c.user_id)
        .group_by(person_months.c.instrument, person_months.c.month, people.c.segment, person_months.c.segment)
    )
    aggregates: Aggregates = {}
    for row in session.execute(query).mappings():
        cell = InstrumentCell(
            values=Moments(int(row["n"]), int(row["total"]), int(row["squares"])),
            change=Moments(int(row["change_n"]), int(row["change_total"]), int(row["change_squares"])),
        )
        for (instrument_id, flag_id), flag_column in flag_columns.items():
            if instrument_id == row["instrument"] and row[flag_column.name]:
                cell.flagged[flag_id] = int(row[flag_column.name])
        # Counted in the segment the person had when answering; answers stored before segments were
        # stamped count under the person's segment now.
        segment = unpack_segment(row["answered_as"]) if row["answered_as"] else segment_list[row["segment"]]
        key = (row["instrument"], _month_start(row["month"]), segment)
        aggregates[key] = aggregates[key].plus(cell) if key in aggregates else cell
    return aggregates


def pack_segment(segment: Segment) -> str:
    """A segment as stored on an answer: its values joined by tabs."""
    return "\t".join(segment)


def unpack_segment(text: str) -> Segment:
    """A stored segment; one stamped before sites were (cohort, department, stage) has no site recorded."""
    parts = text.split("\t")
    if len(parts) == 3:
        parts.append(NOT_RECORDED)
    cohort, department, stage, site = parts
    return (cohort, department, stage, site)


def person_segment(session: Session, *, team_id: str, user_id: str) -> Segment:
    """One person's reporting segment now (stamped on each answer they give)."""
    return person_segments(session, team_id=team_id, user_id=user_id).get(user_id, (NOT_RECORDED,) * 4)


def person_segments(session: Session, *, team_id: str, user_id: str | None = None) -> dict[str, Segment]:
    """Each member's reporting segment now: (cohort of their first group, department, career-stage band, site)."""
    first_cohort: dict[str, str] = {}
    memberships = (
        select(GroupMember.slack_user_id, Group.cohort)
        .join(Group, Group.id == GroupMember.group_id)
        .where(Group.team_id == team_id)
        .order_by(GroupMember.joined_at, GroupMember.id)
    )
    members = select(Member.slack_user_id, Member.department, Member.career_stage, Member.site).where(Member.team_id == team_id)
    if user_id is not None:
        memberships = memberships.where(GroupMember.slack_user_id == user_id)
        members = members.where(Member.slack_user_id == user_id)
    for member_id, cohort in session.execute(memberships):
        first_cohort.setdefault(member_id, cohort)
    members = session.execute(members)
    bands: dict[str, str] = {}  # a few dozen distinct stages among thousands of people
    segments = {}
    for member_id, department, stage, site in members:
        if stage not in bands:
            bands[stage] = career_stage_band(stage)
        segments[member_id] = (first_cohort.get(member_id) or NOT_RECORDED, department or NOT_RECORDED, bands[stage],
                               site or NOT_RECORDED)
    return segments


# ---------------------------------------------------------------- fingerprints of the answers

Fingerprint = tuple[int, int]  # (answers, sum of their ids)


def month_fingerprints(session: Session, *, team_id: str) -> dict[date, Fingerprint]:
    """For every UTC month with answers: how many, and the sum of their ids.

    Any answer added or deleted changes its month's fingerprint: triggers on survey_responses keep
    them in survey_response_months in the same transaction (migration 0011), so a view reads one
    row per month rather than every answer.
    """
    months = session.execute(
        select(SurveyResponseMonth.month, SurveyResponseMonth.answers, SurveyResponseMonth.answer_ids)
        .where(SurveyResponseMonth.team_id == team_id, SurveyResponseMonth.answers != 0)
        .order_by(SurveyResponseMonth.month)
    )
    return {month: (int(answers), int(ids)) for month, answers, ids in months}


def person_fingerprints(session: Session, *, team_id: str, user_id: str) -> dict[date, Fingerprint]:
    """The part of each month's fingerprint that one person's answers make up."""
    parts: dict[date, Fingerprint] = {}
    for answered_at, answer_id in session.execute(
        select(SurveyResponse.answered_at, SurveyResponse.id)
        .where(SurveyResponse.team_id == team_id, SurveyResponse.slack_user_id == user_id)
    ):
        month = month_of(answered_at)
        answers, ids = parts.get(month, (0, 0))
        parts[month] = (answers + 1, ids + answer_id)
    return parts


def month_of(moment: datetime) -> date:
    utc = moment.astimezone(timezone.utc)
    return date(utc.year, utc.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


# ---------------------------------------------------------------- SQL pieces


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
    if not segment_of:
        return _SEGMENT_TABLE
    if session.get_bind().dialect.name == "postgresql":  # two arrays in one statement: executemany costs ~20 µs a row
        session.execute(
            text("INSERT INTO report_segments SELECT * FROM unnest(CAST(:users AS VARCHAR[]), CAST(:segments AS INTEGER[]))"),
            {"users": list(segment_of), "segments": list(segment_of.values())},
        )
    else:
        session.execute(_SEGMENT_TABLE.insert(), [{"user_id": user, "segment": number} for user, number in segment_of.items()])
    return _SEGMENT_TABLE


def _month_and_packed(dialect: str, answered_at: ColumnElement, score: ColumnElement,
                      scale: int) -> tuple[ColumnElement, ColumnElement]:
    """The UTC month ('YYYY-MM') of an answer, and the answer packed as day number * scale + value,
    so that MAX/MIN pick (latest day, higher value) and (first day, lower value) in one aggregate
    that both databases run fast."""
    if dialect == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), answered_at)
        month = func.to_char(utc, literal_column("'YYYY-MM'"), type_=String)
        day = cast(cast(utc, Date) - literal_column("DATE '1970-01-01'"), BigInteger)
    else:  # SQLite keeps UTC times as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
        month = func.substr(answered_at, 1, 7, type_=String)
        day = cast(func.julianday(func.substr(answered_at, 1, 10, type_=String)), BigInteger)
    return month, day * scale + cast(score, BigInteger)


def _start_of_next_day(dialect: str, moment: ColumnElement) -> ColumnElement:
    """Midnight UTC after ``moment``, comparable with the stored answer times."""
    if dialect == "postgresql":
        utc_day = func.date_trunc(literal_column("'day'"), func.timezone(literal_column("'UTC'"), moment))
        return func.timezone(literal_column("'UTC'"), utc_day + literal_column("INTERVAL '1 day'"))
    return func.date(moment, literal_column("'+1 day'"))  # 'YYYY-MM-DD' sorts before that day's times


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

"""When a group meets: slot choice, the 12-session series, and the lead's changes to it.

A series is anchored to a weekday and a local wall-clock time in the group's time
zone. Every session keeps that wall-clock time across daylight-saving changes; the
UTC instant moves instead. Local times that do not exist or occur twice are resolved
the way ``zoneinfo`` does with ``fold=0``:

* a time inside the spring-forward gap (02:30 on the night clocks jump from 02:00 to
  03:00) moves forward by the gap, so 02:30 becomes 03:30;
* a time inside the fall-back overlap (01:30 on the night 02:00 returns to 01:00)
  is the first, daylight-saving, occurrence.

Holiday rule: a session whose date is a public holiday (``holidays`` package, country
and optional subdivision per deployment) moves one week later, again if that is a
holiday too, and never onto or before the previous session's date. Only that session
moves; the sessions after it keep the fortnightly rhythm, so the series still has
``count`` sessions.

Everything here is pure: the lead's controls take a series and return a new one.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from bot.domain.availability import HOURS_PER_WEEK, WEEKDAYS, reference_monday, utc_hours_of_week
from bot.domain.people import Person

SESSIONS_PER_SERIES = 12
INTERVAL_DAYS = 14
SESSION_LENGTH = timedelta(hours=1)
HOLIDAY_SHIFT = timedelta(days=7)
# A run of holidays longer than this on one weekday is a configuration error, not a calendar.
_MAX_HOLIDAY_SHIFTS = 8

SessionStatus = Literal["scheduled", "skipped", "held"]

_WEEKDAY_NAMES = {
    **{name.lower(): i for i, name in enumerate(WEEKDAYS)},
    **{
        name: i
        for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    },
    "tues": 1,
    "weds": 2,
    "thur": 3,
    "thurs": 3,
}
_SLOT = re.compile(r"^\s*(\S+)\s+(\S+(?:\s*[ap]\.?m\.?)?)\s*$", re.IGNORECASE)
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*([ap])?\.?(?:m\.?)?$", re.IGNORECASE)

# Local hours a group is most likely to share: after clinic, then lunch.
_EVENING_HOURS = range(17, 21)
_LUNCH_HOURS = range(11, 14)


class SlotParseError(ValueError):
    """A ``<weekday> <HH:MM>`` text that could not be read; the message is for the person who typed it."""


class SeriesChangeError(ValueError):
    """A lead's change that cannot be applied to the series; the message says why."""


@dataclass(frozen=True, order=True)
class LocalSlot:
    """A weekly meeting time: weekday (0 = Monday) and wall-clock time in some time zone."""

    weekday: int
    local_time: time

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.local_time.strftime('%H:%M')}"


@dataclass(frozen=True)
class CandidateSlot:
    """A proposed weekly slot and how many of the members who gave availability can make it."""

    slot: LocalSlot
    available: int
    responded: int

    @property
    def everyone(self) -> bool:
        return self.available == self.responded

    def __str__(self) -> str:
        return str(self.slot)


@dataclass(frozen=True)
class SessionSlot:
    number: int  # stable identity within the series, 1-based; skipping adds a new number at the end
    starts_at_utc: datetime
    local_date: date
    status: SessionStatus = "scheduled"
    sequence: int = 0  # bumped on every change, for calendar clients

    @property
    def ends_at_utc(self) -> datetime:
        return self.starts_at_utc + SESSION_LENGTH

    def starts_at_local(self, tz: str) -> datetime:
        return self.starts_at_utc.astimezone(ZoneInfo(tz))


@dataclass(frozen=True)
class Series:
    group_id: str
    tz: str
    weekday: int
    local_time: time
    sessions: tuple[SessionSlot, ...]
    interval_days: int = INTERVAL_DAYS
    holiday_country: str | None = "US"
    holiday_subdiv: str | None = None

    def session(self, number: int) -> SessionSlot:
        for session in self.sessions:
            if session.number == number:
                return session
        raise SeriesChangeError(f"there is no session {number} in this series")

    @property
    def active_sessions(self) -> tuple[SessionSlot, ...]:
        return tuple(s for s in self.sessions if s.status != "skipped")

    def next_session(self, now: datetime) -> SessionSlot | None:
        """The first scheduled session that has not started by ``now``."""
        _require_aware(now, "now")
        upcoming = [s for s in self.sessions if s.status == "scheduled" and s.starts_at_utc > now]
        return min(upcoming, key=lambda s: s.starts_at_utc, default=None)


# --- choosing a slot -------------------------------------------------------------------------


def parse_slot(text: str) -> LocalSlot:
    """Read what a lead types after ``/compass schedule``: ``Tue 18:30``, ``thursday 12:00``, ``wed 6:30pm``."""
    example = "like `Tue 18:30` or `Thursday 12:00`"
    if not text or not text.strip():
        raise SlotParseError(f"Tell me a day and a time, {example}.")
    match = _SLOT.match(text)
    if not match:
        raise SlotParseError(f"I couldn't read {text.strip()!r}: give a day and a time, {example}.")
    day_text, clock_text = match.group(1), match.group(2)
    weekday = _WEEKDAY_NAMES.get(day_text.lower().rstrip(".,"))
    if weekday is None:
        raise SlotParseError(f"{day_text!r} isn't a day of the week: use Mon, Tue, Wed, Thu, Fri, Sat or Sun.")
    return LocalSlot(weekday, _parse_clock(clock_text))


def _parse_clock(text: str) -> time:
    problem = f"{text!r} isn't a time of day: use 24-hour HH:MM, like 18:30."
    match = _CLOCK.match(text.strip())
    if not match:
        raise SlotParseError(problem)
    hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), (match.group(3) or "").lower()
    if match.group(2) is None and not meridiem:
        raise SlotParseError(problem)
    if meridiem:
        if not 1 <= hour <= 12:
            raise SlotParseError(f"{text!r} isn't a time of day: with am/pm the hour is 1-12.")
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    if hour > 23 or minute > 59:
        raise SlotParseError(problem)
    return time(hour, minute)


def candidate_slots(
    members: Sequence[Person], tz: str, limit: int = 3, *, week_of: date | None = None
) -> list[CandidateSlot]:
    """Up to ``limit`` weekly slots for a group, in ``tz`` local time, best first.

    Slots are whole hours. Hours every member who gave availability shares come
    first; if there are none, the hours most of them share. Among equals, local
    evening (17:00-20:00) beats lunch (11:00-13:00) beats other hours, and slots on
    different weekdays are preferred so the group gets a real choice. Members who
    gave no availability do not count either way. Hours are computed for the week
    of ``week_of`` (default: this week), which fixes the daylight-saving offsets used.
    """
    if limit < 1:
        return []
    _zone(tz)
    coverage: Counter[int] = Counter()
    responded = 0
    for person in members:
        if person.availability:
            responded += 1
            coverage.update(utc_hours_of_week(person.availability, person.timezone or tz, week_of))
    if not coverage:
        return []
    monday = reference_monday(week_of)
    local = {hour: _local_slot(monday, hour, tz) for hour in coverage}

    def rank(hour: int) -> tuple:
        slot = local[hour]
        h = slot.local_time.hour
        preference = 0 if h in _EVENING_HOURS else 1 if h in _LUNCH_HOURS else 2
        return (-coverage[hour], preference, slot)

    ordered = sorted(coverage, key=rank)
    best_coverage = coverage[ordered[0]]
    ordered = [h for h in ordered if coverage[h] == best_coverage] + [h for h in ordered if coverage[h] < best_coverage]
    chosen: list[int] = []
    used_days: set[int] = set()
    for hour in ordered:  # first pass: one slot per weekday
        if len(chosen) == limit:
            break
        if local[hour].weekday not in used_days and coverage[hour] == best_coverage:
            chosen.append(hour)
            used_days.add(local[hour].weekday)
    for hour in ordered:  # then fill from what remains, best first
        if len(chosen) == limit:
            break
        if hour not in chosen:
            chosen.append(hour)
    chosen.sort(key=rank)
    return [CandidateSlot(local[h], coverage[h], responded) for h in chosen]


def _local_slot(monday: date, hour_of_week: int, tz: str) -> LocalSlot:
    moment = datetime.combine(monday, time(0, 0), timezone.utc) + timedelta(hours=hour_of_week % HOURS_PER_WEEK)
    local = moment.astimezone(ZoneInfo(tz))
    return LocalSlot(local.weekday(), local.time())


# --- the series -------------------------------------------------------------------------------


def local_to_utc(day: date, local_time: time, tz: str) -> datetime:
    """The UTC instant of a wall-clock time, resolving gaps and overlaps as the module docstring says."""
    wall = datetime.combine(day, local_time.replace(tzinfo=None, fold=0), _zone(tz))
    return wall.astimezone(timezone.utc)


def plan_series(
    start_after: datetime,
    tz: str,
    weekday: int,
    local_time: time,
    *,
    count: int = SESSIONS_PER_SERIES,
    interval_days: int = INTERVAL_DAYS,
    holiday_country: str | None = "US",
    holiday_subdiv: str | None = None,
) -> list[SessionSlot]:
    """``count`` sessions on ``weekday`` at ``local_time`` in ``tz``, the first strictly after ``start_after``.

    Sessions are ``interval_days`` apart (a multiple of 7, so the weekday holds),
    except that one landing on a public holiday moves a week later. Pass
    ``holiday_country=None`` for no holiday calendar.
    """
    _require_aware(start_after, "start_after")
    _validate_cadence(weekday, count, interval_days)
    calendar = _holiday_calendar(holiday_country, holiday_subdiv)
    local_start = start_after.astimezone(_zone(tz))
    first = local_start.date() + timedelta(days=(weekday - local_start.weekday()) % 7)
    if local_to_utc(first, local_time, tz) <= start_after:
        first += timedelta(days=7)
    sessions: list[SessionSlot] = []
    previous: date | None = None
    for index in range(count):
        day = _avoid_holidays(first + timedelta(days=index * interval_days), previous, calendar)
        sessions.append(SessionSlot(index + 1, local_to_utc(day, local_time, tz), day))
        previous = day
    return sessions


def new_series(
    group_id: str,
    start_after: datetime,
    tz: str,
    slot: LocalSlot,
    *,
    count: int = SESSIONS_PER_SERIES,
    interval_days: int = INTERVAL_DAYS,
    holiday_country: str | None = "US",
    holiday_subdiv: str | None = None,
) -> Series:
    """A group's series at its chosen slot, starting after ``start_after``."""
    sessions = plan_series(
        start_after,
        tz,
        slot.weekday,
        slot.local_time,
        count=count,
        interval_days=interval_days,
        holiday_country=holiday_country,
        holiday_subdiv=holiday_subdiv,
    )
    return Series(
        group_id=group_id,
        tz=tz,
        weekday=slot.weekday,
        local_time=slot.local_time,
        sessions=tuple(sessions),
        interval_days=interval_days,
        holiday_country=holiday_country,
        holiday_subdiv=holiday_subdiv,
    )


def skip_next(series: Series, now: datetime) -> Series:
    """Skip the next scheduled session; the series gains one at the end, ``interval_days`` after the last."""
    target = series.next_session(now)
    if target is None:
        raise SeriesChangeError("there is no upcoming session to skip")
    return skip_session(series, target.number, now)


def skip_session(series: Series, session_number: int, now: datetime) -> Series:
    """Skip one session that has not started; the series gains one at the end, ``interval_days`` after the last."""
    _require_aware(now, "now")
    target = series.session(session_number)
    if target.status != "scheduled" or target.starts_at_utc <= now:
        raise SeriesChangeError(f"session {session_number} has already started or is not planned")
    last_day = max(s.local_date for s in series.sessions)
    day = last_day + timedelta(days=series.interval_days)
    day += timedelta(days=(series.weekday - day.weekday()) % 7)  # in case the last one was moved off the weekday
    day = _avoid_holidays(day, last_day, _holiday_calendar(series.holiday_country, series.holiday_subdiv))
    added = SessionSlot(
        number=max(s.number for s in series.sessions) + 1,
        starts_at_utc=local_to_utc(day, series.local_time, series.tz),
        local_date=day,
    )
    sessions = tuple(
        replace(s, status="skipped", sequence=s.sequence + 1) if s.number == target.number else s
        for s in series.sessions
    )
    return replace(series, sessions=sessions + (added,))


def reschedule(
    series: Series, session_number: int, local_datetime: datetime, *, now: datetime | None = None
) -> Series:
    """Move one session to a new local date and time; the others keep theirs.

    ``local_datetime`` is wall-clock time in the series' time zone (an aware value is
    converted to it). The session must stay between its neighbours, and after ``now``
    when given. Holidays are not applied: the lead chose this date.
    """
    target = series.session(session_number)
    if target.status != "scheduled":
        raise SeriesChangeError(f"session {session_number} is {target.status} and cannot be moved")
    zone = _zone(series.tz)
    if local_datetime.tzinfo is not None:
        local_datetime = local_datetime.astimezone(zone).replace(tzinfo=None)
    starts_at = local_to_utc(local_datetime.date(), local_datetime.time(), series.tz)
    if now is not None:
        _require_aware(now, "now")
        if target.starts_at_utc <= now:
            raise SeriesChangeError(f"session {session_number} has already started")
        if starts_at <= now:
            raise SeriesChangeError("a session can only be moved to a time in the future")
    others = [s for s in series.active_sessions if s.number != session_number]
    before = [s for s in others if s.number < session_number]
    after = [s for s in others if s.number > session_number]
    earliest = max(before, key=lambda s: s.starts_at_utc, default=None)
    latest = min(after, key=lambda s: s.starts_at_utc, default=None)
    if earliest and local_datetime.date() <= earliest.local_date:
        raise SeriesChangeError(
            f"session {session_number} must come after session {earliest.number} ({earliest.local_date:%a %d %b})"
        )
    if latest and local_datetime.date() >= latest.local_date:
        raise SeriesChangeError(
            f"session {session_number} must come before session {latest.number} ({latest.local_date:%a %d %b})"
        )
    moved = replace(target, starts_at_utc=starts_at, local_date=local_datetime.date(), sequence=target.sequence + 1)
    return replace(series, sessions=tuple(moved if s.number == session_number else s for s in series.sessions))


# A session is held in the day: it starts at 07:00 or later and ends by 21:00, in the group's zone
# (the program's quiet hours: nothing at night).
DAY_STARTS = time(7, 0)
DAY_ENDS = time(21, 0)


def is_at_night(local_time: time) -> bool:
    """True if a session starting at ``local_time`` would begin before 07:00 or end after 21:00."""
    ends = (datetime.combine(date(2000, 1, 1), local_time) + SESSION_LENGTH).time()
    return local_time < DAY_STARTS or ends > DAY_ENDS or ends < local_time


def mark_held(series: Series, now: datetime) -> Series:
    """Mark every scheduled session that has ended by ``now`` as held (sequence unchanged: nothing moved)."""
    _require_aware(now, "now")
    sessions = tuple(
        replace(s, status="held") if s.status == "scheduled" and s.ends_at_utc <= now else s for s in series.sessions
    )
    return replace(series, sessions=sessions)


# --- helpers ----------------------------------------------------------------------------------


def _avoid_holidays(day: date, previous: date | None, calendar: holidays.HolidayBase | None) -> date:
    shifts = 0
    while (calendar is not None and day in calendar) or (previous is not None and day <= previous):
        day += HOLIDAY_SHIFT
        shifts += 1
        if shifts > _MAX_HOLIDAY_SHIFTS:
            raise SeriesChangeError(f"no date free of holidays within {_MAX_HOLIDAY_SHIFTS} weeks of {day}")
    return day


def _holiday_calendar(country: str | None, subdiv: str | None) -> holidays.HolidayBase | None:
    if not country:
        return None
    try:
        return holidays.country_holidays(country, subdiv=subdiv)
    except NotImplementedError as exc:
        raise ValueError(f"unknown holiday calendar {country!r}{f'/{subdiv!r}' if subdiv else ''}: {exc}") from None


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{tz!r} is not an IANA time zone (like America/Chicago)") from None


def _validate_cadence(weekday: int, count: int, interval_days: int) -> None:
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday}")
    if count < 1:
        raise ValueError(f"a series needs at least one session, got {count}")
    if interval_days < 7 or interval_days % 7:
        raise ValueError(f"interval_days must be a positive multiple of 7, got {interval_days}")


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")

"""Between stored sessions and the schedule: a group's series and every action it implies.

Pure: no Slack, no database. A stored session becomes a :class:`bot.domain.scheduling.SessionSlot`;
a series becomes the list of scheduled actions (reminders, the session post, the lead's
note, the attendance check, pulse surveys, the end of the cycle) with their idempotency
keys and due times.

Keys of a session's own actions contain its start time, so moving a session gives its
reminders new keys (a reminder already sent for the old time does not block the one for
the new time) while everything else about the session keeps its key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from bot.domain.scheduling import SESSION_LENGTH, SESSIONS_PER_SERIES, Series, SessionSlot

REMINDER_24H_KIND = "session_reminder_24h"
REMINDER_1H_KIND = "session_reminder_1h"
SESSION_POST_KIND = "session_post"
LEAD_NOTE_KIND = "session_lead_note"
ATTENDANCE_KIND = "session_attendance"
PULSE_KIND = "pulse_after_session"  # delivered by the pulse flow
CYCLE_END_KIND = "group_cycle_end"
SESSION_KINDS = (REMINDER_24H_KIND, REMINDER_1H_KIND, SESSION_POST_KIND, LEAD_NOTE_KIND, ATTENDANCE_KIND)

BEFORE_24H = timedelta(hours=24)
BEFORE_1H = timedelta(hours=1)
# The lead's guide is the lead's day-before message (instead of the reminder, not on top of it), so
# Skip, Move and Change topic come while there is still time to use them.
LEAD_NOTE_BEFORE = BEFORE_24H
HUDDLE = "huddle"  # a group's place meaning "a Slack huddle in the group's channel"
PLACE_MAX = 300
ATTENDANCE_AFTER = SESSION_LENGTH  # as the session ends: "Were you there?" while it is fresh
PULSE_AFTER = ATTENDANCE_AFTER
CYCLE_END_AFTER = timedelta(hours=24)
PULSE_EVERY = 2  # a pulse survey after every second session

# Reminders are only sent while they still make sense; these are the limits.
REMINDER_24H_GRACE = timedelta(hours=6)
REMINDER_1H_GRACE = timedelta(minutes=45)
ATTENDANCE_GRACE = timedelta(days=3)
LATE_AFTER = timedelta(minutes=5)  # a session post later than this says it is late

_WEEKDAY_SHORT = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAY_LONG = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_SHORT = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LOCAL_DATETIME = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})[ T]+(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class PlannedAction:
    key: str
    kind: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def is_reminder(self) -> bool:
        return self.kind in (REMINDER_24H_KIND, REMINDER_1H_KIND)


@dataclass(frozen=True)
class StoredSession:
    """What the adapter needs from a stored session row."""

    number: int
    starts_at: datetime
    local_date: date
    status: str
    sequence: int = 0


# --- keys --------------------------------------------------------------------------------------


def session_prefix(group_id: int, cycle: int, number: int) -> str:
    """Every key of one session's own actions starts with this (the trailing colon keeps 1 apart from 12)."""
    return f"session:{group_id}:{cycle}:{number}:"


def session_key(group_id: int, cycle: int, number: int, starts_at: datetime, what: str) -> str:
    return f"{session_prefix(group_id, cycle, number)}{int(starts_at.timestamp())}:{what}"


def pulse_key(group_id: int, cycle: int, position: int) -> str:
    return f"pulse:{group_id}:{cycle}:{position}"


def cycle_key(group_id: int, cycle: int, what: str) -> str:
    return f"cycle:{group_id}:{cycle}:{what}"


def series_uid_id(group_id: int, cycle: int) -> str:
    """The series identity in calendar UIDs: a new cycle's session 1 is a new event."""
    return f"{group_id}-{cycle}"


# --- rows <-> series ---------------------------------------------------------------------------


def to_slot(row: StoredSession) -> SessionSlot:
    status = row.status if row.status in ("scheduled", "skipped", "held") else "skipped"
    return SessionSlot(row.number, row.starts_at, row.local_date, status, row.sequence)  # type: ignore[arg-type]


def series_of(
    *,
    group_id: int,
    cycle: int,
    tz: str,
    weekday: int,
    local_time: time,
    rows: Iterable[StoredSession],
    holiday_country: str | None,
    holiday_subdiv: str | None,
) -> Series:
    return Series(
        group_id=series_uid_id(group_id, cycle),
        tz=tz,
        weekday=weekday,
        local_time=local_time,
        sessions=tuple(sorted((to_slot(r) for r in rows), key=lambda s: s.number)),
        holiday_country=holiday_country or None,
        holiday_subdiv=holiday_subdiv or None,
    )


def taking_place(slots: Iterable[SessionSlot]) -> list[SessionSlot]:
    """Sessions that are not skipped, in time order."""
    return sorted((s for s in slots if s.status != "skipped"), key=lambda s: s.starts_at_utc)


def position_of(slots: Sequence[SessionSlot], number: int) -> int | None:
    """1-based place of a session among those taking place (what members call "session 3 of 12")."""
    for index, slot in enumerate(taking_place(slots), start=1):
        if slot.number == number:
            return index
    return None


def total_sessions(slots: Sequence[SessionSlot]) -> int:
    return len(taking_place(slots)) or SESSIONS_PER_SERIES


def revision(slots: Iterable[SessionSlot]) -> int:
    """Changes whenever any session of the series changes (a sequence bump or a new session)."""
    return sum(s.sequence + 1 for s in slots)


# --- the actions a series implies --------------------------------------------------------------


def session_actions(group_id: int, cycle: int, slot: SessionSlot) -> list[PlannedAction]:
    """The five actions of one session that is taking place."""
    start = slot.starts_at_utc
    payload = {"group_id": group_id, "cycle": cycle, "number": slot.number, "starts_at": start.isoformat()}

    def planned(what: str, kind: str, due: datetime) -> PlannedAction:
        return PlannedAction(session_key(group_id, cycle, slot.number, start, what), kind, due, payload)

    return [
        planned("remind24h", REMINDER_24H_KIND, start - BEFORE_24H),
        planned("remind1h", REMINDER_1H_KIND, start - BEFORE_1H),
        planned("post", SESSION_POST_KIND, start),
        planned("leadnote", LEAD_NOTE_KIND, start - LEAD_NOTE_BEFORE),
        planned("attendance", ATTENDANCE_KIND, start + ATTENDANCE_AFTER),
    ]


def pulse_actions(group_id: int, cycle: int, slots: Sequence[SessionSlot]) -> list[PlannedAction]:
    """A pulse survey after every second session taking place, keyed by that place (2, 4, ... 12)."""
    actions = []
    for position, slot in enumerate(taking_place(slots), start=1):
        if position % PULSE_EVERY == 0:
            payload = {"group_id": group_id, "cycle": cycle, "number": position, "session_number": slot.number}
            actions.append(PlannedAction(pulse_key(group_id, cycle, position), PULSE_KIND, slot.starts_at_utc + PULSE_AFTER, payload))
    return actions


def cycle_end_action(group_id: int, cycle: int, slots: Sequence[SessionSlot]) -> PlannedAction | None:
    held = taking_place(slots)
    if not held:
        return None
    last = held[-1]
    return PlannedAction(
        cycle_key(group_id, cycle, "end"),
        CYCLE_END_KIND,
        last.starts_at_utc + CYCLE_END_AFTER,
        {"group_id": group_id, "cycle": cycle},
    )


def planned_actions(group_id: int, cycle: int, slots: Sequence[SessionSlot]) -> list[PlannedAction]:
    """Everything the series should have scheduled, skipped sessions excluded."""
    actions: list[PlannedAction] = []
    for slot in taking_place(slots):
        actions += session_actions(group_id, cycle, slot)
    actions += pulse_actions(group_id, cycle, slots)
    end = cycle_end_action(group_id, cycle, slots)
    if end is not None:
        actions.append(end)
    return actions


def stale_reason(kind: str, *, due_at: datetime, starts_at: datetime, now: datetime) -> str | None:
    """Why a session's action is no longer worth delivering at ``now``, or None while it still is.

    Reminders lapse once a later message would cover them; the session post and the
    lead's note are useful (late) until the session ends; the attendance check for days.
    """
    if kind == REMINDER_24H_KIND and (now > due_at + REMINDER_24H_GRACE or now >= starts_at - BEFORE_1H):
        return "the day-before reminder's moment has passed"
    if kind == REMINDER_1H_KIND and (now > due_at + REMINDER_1H_GRACE or now >= starts_at):
        return "the hour-before reminder's moment has passed"
    if kind in (SESSION_POST_KIND, LEAD_NOTE_KIND) and now >= starts_at + SESSION_LENGTH:
        return "the session is over"
    if kind == ATTENDANCE_KIND and now > due_at + ATTENDANCE_GRACE:
        return "too long after the session to ask who came"
    return None


def calendar_location(place: str) -> str:
    """The LOCATION of a session in the .ics: the room or link, or the huddle in words."""
    return "Slack huddle in the group's channel" if place == HUDDLE else place


# --- time, as people read and type it -------------------------------------------------------------


def local_text(moment: datetime, tz: str) -> str:
    """``Mon 2 Feb, 18:00 CST``: a session's start in the group's time zone."""
    local = moment.astimezone(ZoneInfo(tz))
    return f"{_WEEKDAY_SHORT[local.weekday()]} {local.day} {_MONTH_SHORT[local.month - 1]}, {local:%H:%M} {local.tzname()}"


def local_day_text(day: date) -> str:
    return f"{_WEEKDAY_SHORT[day.weekday()]} {day.day} {_MONTH_SHORT[day.month - 1]}"


def weekday_name(weekday: int) -> str:
    return _WEEKDAY_LONG[weekday]


def parse_local_datetime(text: str) -> datetime:
    """``YYYY-MM-DD HH:MM`` as a naive wall-clock datetime; ValueError otherwise."""
    match = _LOCAL_DATETIME.match(text or "")
    if not match:
        raise ValueError(f"not YYYY-MM-DD HH:MM: {text!r}")
    day = date.fromisoformat(match.group(1))
    return datetime.combine(day, time(int(match.group(2)), int(match.group(3))))


def parse_hhmm(text: str) -> time:
    hours, _, minutes = (text or "").partition(":")
    return time(int(hours), int(minutes))


def is_over(slot_start: datetime, now: datetime) -> bool:
    return now >= slot_start + SESSION_LENGTH


def utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)

"""A group's 12-session series: planning it at the chosen time, moving it, and keeping the schedule
(reminders, posts and checks) in step with it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Callable, Iterable

import holidays
from sqlmodel import Session

from bot.domain import group_series as gs
from bot.flows.groups.messaging import session_time
from bot.slack.render import render
from bot.domain.scheduling import LocalSlot, Series, SeriesChangeError, new_series, plan_series
from bot.runtime.services import Services
from storage import audit, schedule
from storage import groups as store
from storage.db import session_scope, utcnow
from storage.models import Group, GroupSession

MIN_NOTICE = timedelta(days=7)  # a new series starts a week ahead at least: not in the joining week's crowd of DMs


def holiday_calendar(services: Services) -> tuple[str | None, str | None]:
    settings = services.settings
    return settings.compass_holiday_country or None, settings.compass_holiday_subdivision or None


def series_for(services: Services, group: Group, rows: Iterable[GroupSession]) -> Series:
    country, subdiv = holiday_calendar(services)
    return gs.series_of(
        group_id=group.id,
        cycle=group.cycle,
        tz=group.timezone,
        weekday=group.weekday if group.weekday is not None else 0,
        local_time=gs.parse_hhmm(group.local_time) if group.local_time else time(18, 0),
        rows=[gs.StoredSession(r.number, r.starts_at, r.local_date, r.status, r.sequence) for r in rows],
        holiday_country=country,
        holiday_subdiv=subdiv,
    )


def slots_of(rows: Iterable[GroupSession]) -> list:
    return [gs.to_slot(gs.StoredSession(r.number, r.starts_at, r.local_date, r.status, r.sequence)) for r in rows]


def slot_text(group: Group) -> str:
    if group.weekday is None or not group.local_time:
        return ""
    return f"{gs.weekday_name(group.weekday)} at {group.local_time}"


def sync_schedule(session: Session, *, group: Group, rows: list[GroupSession], now: datetime) -> None:
    """Make the schedule match the stored series: add what is missing, move what moved, cancel the rest.

    A reminder whose moment passed before it was ever scheduled (a session set for
    tomorrow morning) is not added: the channel announcement already told everyone.
    """
    slots = slots_of(rows)
    planned = {p.key: p for p in gs.planned_actions(group.id, group.cycle, slots)}
    for prefix in (f"session:{group.id}:{group.cycle}:", f"pulse:{group.id}:{group.cycle}:"):
        stale = [key for key in store.pending_keys(session, prefix=prefix) if key not in planned]
        schedule.cancel(session, keys=stale)
    existing = store.existing_keys(session, keys=planned)
    for key, action in planned.items():
        if key in existing:
            schedule.move(session, key=key, due_at=action.due_at, payload=action.payload)
        elif action.is_reminder and action.due_at <= now:
            continue
        else:
            schedule.schedule(session, key=key, kind=action.kind, due_at=action.due_at, team_id=group.team_id, payload=action.payload)


@dataclass
class SeriesChange:
    group: Group
    before: Series
    after: Series
    rows: list[GroupSession]


def change_series(services: Services, *, group_id: int, change: Callable[[Group, Series, datetime], Series]) -> SeriesChange:
    """Apply a change to a group's current series and its schedule, atomically (the group row is locked)."""
    now = utcnow()
    with session_scope(services.engine) as session:
        group = store.get_group(session, group_id=group_id, for_update=True)
        if group is None:
            raise SeriesChangeError("this group no longer exists")
        rows = store.sessions_of(session, group_id=group.id, cycle=group.cycle)
        before = series_for(services, group, rows)
        after = change(group, before, now)
        rows = store.save_sessions(session, group_id=group.id, cycle=group.cycle, slots=after.sessions)
        sync_schedule(session, group=group, rows=rows, now=now)
        store.touch(session, group=group, now=now)
    return SeriesChange(group, before, after, rows)


def set_slot(services: Services, *, group_id: int, slot: LocalSlot, actor_id: str, first_time: bool = False) -> SeriesChange:
    """Start the series at ``slot``, or move the sessions still to come onto it.

    With ``first_time`` (a click on one of the offered times) a series that meanwhile
    exists is left alone: two quick clicks must not plan twice.
    """
    country, subdiv = holiday_calendar(services)

    def change(group: Group, series: Series, now: datetime) -> Series:
        if first_time and series.sessions:
            raise SeriesChangeError(f"the meeting time was just set to every other {slot_text(group)}")
        start_after = now + MIN_NOTICE
        group.weekday, group.local_time, group.status = slot.weekday, slot.local_time.strftime("%H:%M"), "active"
        if not series.sessions:
            return new_series(gs.series_uid_id(group.id, group.cycle), start_after, group.timezone, slot,
                              holiday_country=country, holiday_subdiv=subdiv)
        upcoming = [s for s in series.sessions if s.status == "scheduled" and s.starts_at_utc > now]
        if not upcoming:
            raise SeriesChangeError("every session of this cycle has already started")
        planned = plan_series(start_after, group.timezone, slot.weekday, slot.local_time, count=len(upcoming),
                              holiday_country=country, holiday_subdiv=subdiv)
        moved = {old.number: (new.starts_at_utc, new.local_date) for old, new in zip(upcoming, planned)}
        sessions = []
        for s in series.sessions:
            if s.number in moved and (s.starts_at_utc, s.local_date) != moved[s.number]:
                start, day = moved[s.number]
                s = replace(s, starts_at_utc=start, local_date=day, sequence=s.sequence + 1)
            sessions.append(s)
        return replace(series, weekday=slot.weekday, local_time=slot.local_time, sessions=tuple(sessions))

    result = change_series(services, group_id=group_id, change=change)
    with session_scope(services.engine) as session:
        audit.record(session, team_id=result.group.team_id, actor_id=actor_id, action="group_slot_set",
                     group_id=group_id, slot=str(slot))
    return result


def holiday_moves(services: Services, series: Series) -> list[dict]:
    """Sessions of a new series that a public holiday pushed off the fortnightly rhythm, for the announcement."""
    country, subdiv = holiday_calendar(services)
    planned = gs.taking_place(series.sessions)
    if not country or not planned:
        return []
    step = timedelta(days=series.interval_days)
    # The rhythm is what most sessions follow; only holiday moves leave it.
    start, _ = Counter(s.local_date - step * i for i, s in enumerate(planned)).most_common(1)[0]
    calendar = holidays.country_holidays(country, subdiv=subdiv)
    moves = []
    for position, slot in enumerate(planned, start=1):
        expected = start + step * (position - 1)
        if slot.local_date != expected and expected in calendar:
            moves.append({"position": position, "day": gs.local_day_text(slot.local_date),
                          "instead": gs.local_day_text(expected), "holiday": calendar.get(expected)})
    return moves


def announcement(services: Services, kind: str, change: SeriesChange, **extra: object) -> str:
    group = change.group
    planned = gs.taking_place(change.after.sessions)
    upcoming = [s for s in planned if s.status == "scheduled"]
    first = upcoming[0] if upcoming else (planned[0] if planned else None)
    return render(
        "series_changed.j2",
        kind=kind,
        group_name=group.name,
        slot=slot_text(group),
        tz=group.timezone,
        total=len(planned),
        first=session_time(first.starts_at_utc, group.timezone) if first else "",
        last=session_time(planned[-1].starts_at_utc, group.timezone) if planned else "",
        holiday_moves=holiday_moves(services, change.after) if kind in ("created", "cycle") else [],
        cycle=group.cycle,
        **extra,
    )

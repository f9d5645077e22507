"""Weekly availability windows, written in a person's own time zone.

A window is text such as ``Tue 18:00-20:00``. To compare people in different
time zones each window is turned into the set of whole UTC hours of the week it
covers (0 = Monday 00:00 UTC ... 167 = Sunday 23:00 UTC), computed for one
reference week so that daylight-saving offsets are those of that week.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WINDOW = re.compile(r"^\s*([A-Za-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
HOURS_PER_WEEK = 7 * 24


@dataclass(frozen=True, order=True)
class Window:
    weekday: int  # 0 = Monday
    start: time
    end: time  # exclusive; 00:00 means midnight at the end of the day

    @classmethod
    def parse(cls, text: str) -> "Window":
        match = _WINDOW.match(text)
        if not match:
            raise ValueError(f"availability must look like 'Tue 18:00-20:00', got {text!r}")
        day = match.group(1).capitalize()
        if day not in WEEKDAYS:
            raise ValueError(f"unknown weekday {match.group(1)!r} (use Mon..Sun)")
        h1, m1, h2, m2 = (int(match.group(i)) for i in range(2, 6))
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"invalid time in {text!r}")
        start = time(h1, m1)
        end = time(0, 0) if h2 == 24 else time(h2, m2)
        if end != time(0, 0) and end <= start:
            raise ValueError(f"window must end after it starts: {text!r}")
        return cls(WEEKDAYS.index(day), start, end)

    def __str__(self) -> str:
        end = "24:00" if self.end == time(0, 0) else self.end.strftime("%H:%M")
        return f"{WEEKDAYS[self.weekday]} {self.start.strftime('%H:%M')}-{end}"


def parse_windows(text: str) -> tuple[Window, ...]:
    """Parse windows separated by ``;`` or new lines; blank text means none given."""
    parts = [p for p in re.split(r"[;\n]", text or "") if p.strip()]
    return tuple(sorted({Window.parse(p) for p in parts}))


def reference_monday(today: date | None = None) -> date:
    today = today or datetime.now(timezone.utc).date()
    return today - timedelta(days=today.weekday())


def utc_hours_of_week(windows: tuple[Window, ...], tz_name: str, week_of: date | None = None) -> frozenset[int]:
    """Whole UTC hours of the week fully inside any of the windows."""
    tz = ZoneInfo(tz_name or "UTC")
    monday = reference_monday(week_of)
    hours: set[int] = set()
    for window in windows:
        day = monday + timedelta(days=window.weekday)
        start = datetime.combine(day, window.start, tz)
        end_day = day + timedelta(days=1) if window.end == time(0, 0) else day
        end = datetime.combine(end_day, window.end, tz)
        # first whole hour at or after the start
        slot = start.replace(minute=0) + (timedelta(hours=1) if start.minute else timedelta())
        while slot + timedelta(hours=1) <= end:
            hours.add(_hour_of_week(slot.astimezone(timezone.utc)))
            slot += timedelta(hours=1)
    return frozenset(hours)


def _hour_of_week(moment: datetime) -> int:
    return moment.weekday() * 24 + moment.hour


def describe_hour(hour_of_week: int, tz_name: str, week_of: date | None = None) -> str:
    """A UTC hour of the week shown in a time zone, e.g. ``Tue 18:00``."""
    monday = reference_monday(week_of)
    moment = datetime.combine(monday, time(0, 0), timezone.utc) + timedelta(hours=hour_of_week)
    local = moment.astimezone(ZoneInfo(tz_name or "UTC"))
    return f"{WEEKDAYS[local.weekday()]} {local.strftime('%H:%M')}"


@dataclass(frozen=True)
class Availability:
    """One person's weekly windows in their own time zone (no windows: they said nothing, so any time)."""

    windows: tuple[Window, ...]
    timezone: str

    def allows(self, start: datetime, length: timedelta) -> bool:
        if not self.windows:
            return True
        local = start.astimezone(ZoneInfo(self.timezone or "UTC"))
        end = local + length
        for window in self.windows:
            if window.weekday != local.weekday() or local.time() < window.start:
                continue
            window_end = datetime.combine(local.date() + timedelta(days=1) if window.end == time(0, 0) else local.date(),
                                          window.end, local.tzinfo)
            if end.replace(tzinfo=None) <= window_end.replace(tzinfo=None):
                return True
        return False


def common_slots(people: Sequence[Availability], *, after: datetime, days: int = 14, count: int = 3,
                 length: timedelta = timedelta(minutes=30), fits: Callable[[datetime], bool] = lambda _: True,
                 day_zone: str = "UTC") -> list[datetime]:
    """The first ``count`` whole or half hours after ``after`` (within ``days``), one a day (a day in
    ``day_zone``), when everyone's windows hold ``length`` and ``fits`` (quiet hours, say) agrees.
    Wall clocks are read in each person's zone at that instant, so daylight-saving changes are exact."""
    slot = after.astimezone(timezone.utc).replace(second=0, microsecond=0)
    slot += timedelta(minutes=(30 - slot.minute % 30) % 30)
    end = after + timedelta(days=days)
    chosen: list[datetime] = []
    days_taken: set[date] = set()
    place = ZoneInfo(day_zone or "UTC")
    while slot < end and len(chosen) < count:
        day = slot.astimezone(place).date()
        if day not in days_taken and all(p.allows(slot, length) for p in people) and fits(slot):
            chosen.append(slot)
            days_taken.add(day)
        slot += timedelta(minutes=30)
    return chosen

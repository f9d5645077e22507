"""Quiet hours: when a message may reach a person, in their own time zone.

By default nothing is sent between 21:00 and 07:00 where the reader is; a message that falls
inside waits until 30 minutes after the quiet hours end (07:30 by default). Wall-clock times
are turned into instants with :mod:`zoneinfo`, so daylight-saving changes move the instant and
not the local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_START = time(21, 0)
DEFAULT_END = time(7, 0)
RESUME_AFTER = timedelta(minutes=30)


@dataclass(frozen=True)
class QuietHours:
    start: time = DEFAULT_START
    end: time = DEFAULT_END

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> "QuietHours":
        """From ``HH:MM`` texts; a missing or malformed one takes its default."""
        return cls(_hhmm(start, DEFAULT_START), _hhmm(end, DEFAULT_END))

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False  # no quiet hours at all
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def resume(self) -> time:
        moment = datetime.combine(datetime(2000, 1, 1).date(), self.end) + RESUME_AFTER
        return moment.time()


def zone(tz: str | None, fallback: str = "UTC") -> ZoneInfo:
    for name in (tz, fallback, "UTC"):
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def quiet_until(now: datetime, tz: str | None, hours: QuietHours = QuietHours(), *, fallback_tz: str = "UTC") -> datetime | None:
    """When a message due at ``now`` may be sent to a reader in ``tz``: None if it may go now,
    otherwise the (UTC) moment the quiet hours end plus 30 minutes, local time."""
    place = zone(tz, fallback_tz)
    local = now.astimezone(place)
    if not hours.contains(local.time().replace(tzinfo=None)):
        return None
    resume = hours.resume()
    day = local.date()
    if local.time().replace(tzinfo=None) >= resume:
        day += timedelta(days=1)  # in the evening part: tomorrow morning
    candidate = datetime.combine(day, resume, tzinfo=place)
    # a time that does not exist (inside a spring-forward gap) is read by zoneinfo with the
    # offset from before the gap; the round trip through UTC lands on the real wall clock
    return candidate.astimezone(timezone.utc)


def _hhmm(text: str | None, default: time) -> time:
    try:
        hours, _, minutes = (text or "").partition(":")
        return time(int(hours), int(minutes))
    except ValueError:
        return default

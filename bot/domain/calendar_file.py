"""An iCalendar (.ics) file of a group's session series.

One VEVENT per session. The UID depends only on the group and the session number,
so a re-uploaded file updates the events people already imported instead of adding
copies; each event's SEQUENCE is the session's own change counter, so calendar
clients accept the new time or the cancellation. Times are written in the group's
time zone (TZID) with a matching VTIMEZONE covering the years of the series.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Mapping
from zoneinfo import ZoneInfo

import icalendar

from bot.domain.scheduling import SESSION_LENGTH, Series, SessionSlot

PRODUCT_ID = "-//compass-bot//COMPASS sessions//EN"
DEFAULT_UID_DOMAIN = "compass-bot"
_STATUS = {"scheduled": "CONFIRMED", "held": "CONFIRMED", "skipped": "CANCELLED"}


def session_uid(group_id: str, session_number: int, uid_domain: str = DEFAULT_UID_DOMAIN) -> str:
    return f"compass-{group_id}-session-{session_number}@{uid_domain}"


def series_calendar(
    series: Series,
    *,
    title: str = "COMPASS",
    topics: Mapping[int, str] | None = None,
    generated_at: datetime | None = None,
    uid_domain: str = DEFAULT_UID_DOMAIN,
    location: str = "",
) -> bytes:
    """The .ics bytes for ``series``.

    ``title`` names the group (it leads every SUMMARY); ``topics`` maps session
    numbers to topic titles for the DESCRIPTION; ``generated_at`` is the DTSTAMP
    (default: now); ``location`` (a room or a link) is every session's LOCATION.
    """
    stamp = (generated_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    zone = ZoneInfo(series.tz)
    topics = topics or {}

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", title)
    calendar.add("x-wr-timezone", series.tz)
    for session in sorted(series.sessions, key=lambda s: s.number):
        event = _event(series, session, zone, title, topics.get(session.number), stamp, uid_domain)
        if location and session.status != "skipped":
            event.add("location", location)
        calendar.add_component(event)
    if series.sessions:
        first = min(s.local_date for s in series.sessions)
        last = max(s.local_date for s in series.sessions)
        calendar.add_missing_timezones(first_date=date(first.year, 1, 1), last_date=date(last.year + 1, 1, 1))
    return calendar.to_ical()


def _event(
    series: Series,
    session: SessionSlot,
    zone: ZoneInfo,
    title: str,
    topic: str | None,
    stamp: datetime,
    uid_domain: str,
) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", session_uid(series.group_id, session.number, uid_domain))
    event.add("dtstamp", stamp)
    event.add("sequence", session.sequence)
    start = session.starts_at_utc.astimezone(zone)
    event.add("dtstart", start)
    event.add("dtend", (session.starts_at_utc + SESSION_LENGTH).astimezone(zone))
    summary = f"{title}: session {session.number}"
    if session.status == "skipped":
        summary += " (skipped)"
    event.add("summary", summary)
    event.add("description", _description(topic, session))
    event.add("status", _STATUS[session.status])
    event.add("transp", "TRANSPARENT" if session.status == "skipped" else "OPAQUE")
    return event


def _description(topic: str | None, session: SessionSlot) -> str:
    if session.status == "skipped":
        return "The group skipped this session; the series has one more at the end instead."
    lines = [f"Topic: {topic}" if topic else "Topic: to be announced in the group channel."]
    lines.append("At least the first 15 minutes on the topic, then time together.")
    return "\n".join(lines)

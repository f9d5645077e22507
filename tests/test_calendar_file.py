"""The .ics file of a series, read back with icalendar."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar
import pytest
from freezegun import freeze_time

from bot.domain.calendar_file import series_calendar, session_uid
from bot.domain.scheduling import LocalSlot, new_series, reschedule, skip_next

CHICAGO = ZoneInfo("America/Chicago")
UTC = timezone.utc
STAMP = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)


def events(data: bytes) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(data)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


@pytest.fixture
def series():
    # Tuesdays at 18:00 Chicago time from 25 Feb 2025: the series crosses the March DST change.
    return new_series("G42", datetime(2025, 2, 20, tzinfo=UTC), "America/Chicago", LocalSlot(1, time(18, 0)))


def test_one_event_per_session_in_the_groups_zone(series):
    data = series_calendar(series, title="COMPASS Fall group 3", generated_at=STAMP)
    calendar = icalendar.Calendar.from_ical(data)
    assert str(calendar["VERSION"]) == "2.0" and "compass-bot" in str(calendar["PRODID"])
    found = events(data)
    assert len(found) == 12
    assert set(found) == {session_uid("G42", n) for n in range(1, 13)}
    for session in series.sessions:
        event = found[session_uid("G42", session.number)]
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert event["DTSTART"].params["TZID"] == "America/Chicago"
        assert start == session.starts_at_utc
        assert start.astimezone(CHICAGO).time() == time(18, 0)
        assert end - start == timedelta(hours=1)
        assert int(event["SEQUENCE"]) == 0
        assert str(event["STATUS"]) == "CONFIRMED"
        assert str(event["SUMMARY"]) == f"COMPASS Fall group 3: session {session.number}"
        assert event.decoded("DTSTAMP") == STAMP
    # Before and after the change the UTC offset differs, the wall clock does not.
    first, second = found[session_uid("G42", 1)], found[session_uid("G42", 2)]
    assert first.decoded("DTSTART").utcoffset() == timedelta(hours=-6)
    assert second.decoded("DTSTART").utcoffset() == timedelta(hours=-5)


def test_the_time_zone_is_described(series):
    calendar = icalendar.Calendar.from_ical(series_calendar(series, generated_at=STAMP))
    (zone,) = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "America/Chicago"
    offsets = {str(part["TZNAME"]) for part in zone.walk() if part.name in ("STANDARD", "DAYLIGHT")}
    assert offsets == {"CST", "CDT"}


def test_topics_appear_in_the_description(series):
    found = events(series_calendar(series, topics={1: "Meaning in work"}, generated_at=STAMP))
    assert "Topic: Meaning in work" in str(found[session_uid("G42", 1)]["DESCRIPTION"])
    assert "to be announced" in str(found[session_uid("G42", 2)]["DESCRIPTION"])


def test_changes_keep_uids_and_raise_sequence_only_where_something_changed(series):
    before = events(series_calendar(series, generated_at=STAMP))
    changed = skip_next(series, datetime(2025, 3, 1, tzinfo=UTC))  # skips session 2
    changed = reschedule(changed, 5, datetime(2025, 4, 23, 12, 0))
    after = events(series_calendar(changed, generated_at=STAMP))

    assert set(before) < set(after)
    assert set(after) - set(before) == {session_uid("G42", 13)}
    skipped, moved = after[session_uid("G42", 2)], after[session_uid("G42", 5)]
    assert str(skipped["STATUS"]) == "CANCELLED" and int(skipped["SEQUENCE"]) == 1
    assert int(moved["SEQUENCE"]) == 1
    assert moved.decoded("DTSTART") == datetime(2025, 4, 23, 12, 0, tzinfo=CHICAGO)
    for uid in before:
        if uid not in (session_uid("G42", 2), session_uid("G42", 5)):
            assert int(after[uid]["SEQUENCE"]) == 0
            assert after[uid].decoded("DTSTART") == before[uid].decoded("DTSTART")
    added = after[session_uid("G42", 13)]
    assert added.decoded("DTSTART").date() == date(2025, 8, 12)
    assert int(added["SEQUENCE"]) == 0 and str(added["STATUS"]) == "CONFIRMED"


def test_uids_are_distinct_across_groups(series):
    other = new_series("G43", datetime(2025, 2, 20, tzinfo=UTC), "America/Chicago", LocalSlot(1, time(18, 0)))
    assert not set(events(series_calendar(series, generated_at=STAMP))) & set(
        events(series_calendar(other, generated_at=STAMP))
    )


@freeze_time("2025-02-03 10:30:00")
def test_the_stamp_defaults_to_now(series):
    found = events(series_calendar(series))
    assert {event.decoded("DTSTAMP") for event in found.values()} == {datetime(2025, 2, 3, 10, 30, tzinfo=UTC)}


def test_the_same_series_gives_the_same_bytes(series):
    assert series_calendar(series, generated_at=STAMP) == series_calendar(series, generated_at=STAMP)

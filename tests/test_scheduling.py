"""Slot choice and the session series: DST, holidays, skip and reschedule."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from bot.domain.availability import parse_windows
from bot.domain.people import Person
from bot.domain.scheduling import (
    LocalSlot,
    SeriesChangeError,
    SlotParseError,
    candidate_slots,
    local_to_utc,
    mark_held,
    new_series,
    parse_slot,
    plan_series,
    reschedule,
    skip_next,
)

CHICAGO = "America/Chicago"
UTC = timezone.utc
WEEK = date(2025, 4, 7)


def member(user_id: str, availability: str, tz: str = CHICAGO) -> Person:
    return Person(user_id=user_id, timezone=tz, availability=parse_windows(availability))


def local(session, tz: str = CHICAGO) -> datetime:
    return session.starts_at_utc.astimezone(ZoneInfo(tz))


# --- parsing `/compass schedule <weekday> <HH:MM>` ------------------------------------------------


@pytest.mark.parametrize(
    "text, weekday, clock",
    [
        ("Tue 18:30", 1, time(18, 30)),
        ("tuesday 18:30", 1, time(18, 30)),
        ("  THU   7:05 ", 3, time(7, 5)),
        ("thurs 12:00", 3, time(12, 0)),
        ("wed 6:30pm", 2, time(18, 30)),
        ("Fri 12pm", 4, time(12, 0)),
        ("Sun 12:15 am", 6, time(0, 15)),
        ("Sat 00:00", 5, time(0, 0)),
    ],
)
def test_slots_are_read_leniently(text, weekday, clock):
    assert parse_slot(text) == LocalSlot(weekday, clock)


@pytest.mark.parametrize(
    "text, hint",
    [
        ("", "Tell me a day and a time"),
        ("   ", "Tell me a day and a time"),
        ("18:00", "give a day and a time"),
        ("Tus 18:00", "'Tus' isn't a day of the week"),
        ("Tue 25:00", "'25:00' isn't a time of day"),
        ("Tue 18:60", "isn't a time of day"),
        ("Tue 18", "use 24-hour HH:MM"),
        ("Tue 13pm", "the hour is 1-12"),
        ("Tue 18:00 and Thu", "give a day and a time"),
    ],
)
def test_bad_slots_get_a_friendly_error(text, hint):
    with pytest.raises(SlotParseError) as caught:
        parse_slot(text)
    assert hint in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_slot_text_round_trips():
    assert str(parse_slot("monday 9:05")) == "Mon 09:05"


# --- candidate slots --------------------------------------------------------------------------------


def test_candidates_are_shared_hours_evening_first_on_different_days():
    members = [
        member("U1", "Tue 12:00-13:00;Tue 18:00-20:00;Thu 12:00-13:00;Sat 09:00-10:00"),
        member("U2", "Tue 12:00-13:00;Tue 17:00-20:00;Thu 12:00-13:00;Sat 09:00-10:00"),
        member("U3", "Tue 12:00-13:00;Tue 18:00-21:00;Thu 11:00-13:00;Sat 09:00-10:00"),
    ]
    slots = candidate_slots(members, CHICAGO, week_of=WEEK)
    assert [str(s) for s in slots] == ["Tue 18:00", "Thu 12:00", "Sat 09:00"]
    assert all(s.everyone and s.available == 3 for s in slots)


def test_candidates_use_the_groups_time_zone_and_ignore_silent_members():
    members = [
        member("U1", "Wed 18:00-19:00"),
        member("U2", "Wed 19:00-20:00", tz="America/New_York"),
        member("U3", ""),
    ]
    slots = candidate_slots(members, CHICAGO, week_of=WEEK)
    assert [str(s) for s in slots] == ["Wed 18:00"]
    assert (slots[0].available, slots[0].responded) == (2, 2)


def test_without_a_shared_hour_the_best_covered_hours_are_offered():
    members = [member("U1", "Mon 18:00-19:00"), member("U2", "Mon 18:00-19:00"), member("U3", "Fri 07:00-08:00")]
    slots = candidate_slots(members, CHICAGO, limit=2, week_of=WEEK)
    assert [(str(s), s.available, s.everyone) for s in slots] == [("Mon 18:00", 2, False), ("Fri 07:00", 1, False)]


def test_no_availability_means_no_candidates():
    assert candidate_slots([member("U1", ""), member("U2", "")], CHICAGO, week_of=WEEK) == []
    assert candidate_slots([member("U1", "Mon 18:00-19:00")], CHICAGO, limit=0, week_of=WEEK) == []


@freeze_time("2025-01-15 12:00:00")
def test_candidate_hours_follow_the_offsets_of_the_current_week():
    # In January New York is UTC-5 and Phoenix UTC-7 (no DST): 18:00 in New York is 16:00 in Phoenix.
    members = [
        member("U1", "Thu 18:00-19:00", tz="America/New_York"),
        member("U2", "Thu 16:00-17:00", tz="America/Phoenix"),
    ]
    assert [str(s) for s in candidate_slots(members, "America/Phoenix")] == ["Thu 16:00"]


# --- planning a series ------------------------------------------------------------------------------


def test_a_series_keeps_its_wall_clock_time_across_spring_forward():
    sessions = plan_series(datetime(2025, 2, 20, tzinfo=UTC), CHICAGO, weekday=1, local_time=time(18, 0))
    assert len(sessions) == 12
    assert [s.number for s in sessions] == list(range(1, 13))
    assert all(local(s).time() == time(18, 0) and local(s).weekday() == 1 for s in sessions)
    assert sessions[0].local_date == date(2025, 2, 25)
    assert sessions[0].starts_at_utc == datetime(2025, 2, 26, 0, 0, tzinfo=UTC)  # CST, UTC-6
    assert sessions[1].starts_at_utc == datetime(2025, 3, 11, 23, 0, tzinfo=UTC)  # CDT, UTC-5
    assert all(b.local_date - a.local_date == timedelta(days=14) for a, b in zip(sessions, sessions[1:]))
    assert all(s.starts_at_utc.tzinfo == UTC and s.status == "scheduled" and s.sequence == 0 for s in sessions)


def test_a_series_keeps_its_wall_clock_time_across_fall_back():
    sessions = plan_series(datetime(2025, 10, 1, tzinfo=UTC), CHICAGO, weekday=2, local_time=time(12, 0))
    by_date = {s.local_date: s for s in sessions}
    assert by_date[date(2025, 10, 29)].starts_at_utc == datetime(2025, 10, 29, 17, 0, tzinfo=UTC)
    assert by_date[date(2025, 11, 12)].starts_at_utc == datetime(2025, 11, 12, 18, 0, tzinfo=UTC)
    assert all(local(s).time() == time(12, 0) for s in sessions)


def test_times_that_do_not_exist_or_occur_twice_resolve_deterministically():
    # 02:30 on 9 March 2025 does not exist in Chicago: it becomes 03:30 CDT.
    assert local_to_utc(date(2025, 3, 9), time(2, 30), CHICAGO) == datetime(2025, 3, 9, 8, 30, tzinfo=UTC)
    # 01:30 on 2 November 2025 happens twice: the first (CDT) occurrence is used.
    assert local_to_utc(date(2025, 11, 2), time(1, 30), CHICAGO) == datetime(2025, 11, 2, 6, 30, tzinfo=UTC)
    sessions = plan_series(datetime(2025, 3, 1, tzinfo=UTC), CHICAGO, weekday=6, local_time=time(2, 30), count=2)
    assert local(sessions[0]).time() == time(2, 30)  # 2 March, before the change
    assert sessions[1].local_date == date(2025, 3, 16)
    sessions = plan_series(datetime(2025, 3, 8, tzinfo=UTC), CHICAGO, weekday=6, local_time=time(2, 30), count=1)
    assert (sessions[0].local_date, local(sessions[0]).time()) == (date(2025, 3, 9), time(3, 30))


def test_the_first_session_is_strictly_after_the_start():
    start = datetime(2025, 4, 8, 23, 0, tzinfo=UTC)  # Tue 8 April 18:00 in Chicago, exactly
    sessions = plan_series(start, CHICAGO, weekday=1, local_time=time(18, 0), count=1)
    assert sessions[0].local_date == date(2025, 4, 15)
    sessions = plan_series(start - timedelta(minutes=1), CHICAGO, weekday=1, local_time=time(18, 0), count=1)
    assert sessions[0].local_date == date(2025, 4, 8)


def test_a_session_on_thanksgiving_moves_a_week_and_the_series_keeps_12():
    sessions = plan_series(datetime(2025, 9, 1, tzinfo=UTC), CHICAGO, weekday=3, local_time=time(18, 0))
    dates = [s.local_date for s in sessions]
    assert date(2025, 11, 27) not in dates  # Thanksgiving
    assert date(2025, 12, 4) in dates  # one week later
    assert dates[dates.index(date(2025, 12, 4)) + 1] == date(2025, 12, 11)  # the next one keeps its date
    assert len(sessions) == 12 and dates == sorted(dates)
    no_holidays = plan_series(
        datetime(2025, 9, 1, tzinfo=UTC), CHICAGO, weekday=3, local_time=time(18, 0), holiday_country=None
    )
    assert date(2025, 11, 27) in [s.local_date for s in no_holidays]


def test_independence_day_and_its_observed_day_move_too():
    fridays = plan_series(datetime(2025, 6, 1, tzinfo=UTC), CHICAGO, weekday=4, local_time=time(12, 0), count=4)
    # Friday 4 July 2025 moves to 11 July; the next session keeps 18 July.
    expected = [date(2025, 6, 6), date(2025, 6, 20), date(2025, 7, 11), date(2025, 7, 18)]
    assert [s.local_date for s in fridays] == expected
    # Friday 19 June 2026 is Juneteenth; 4 July 2026 is a Saturday, observed on Friday 3 July.
    observed = plan_series(datetime(2026, 6, 16, tzinfo=UTC), CHICAGO, weekday=4, local_time=time(12, 0), count=2)
    assert [s.local_date for s in observed] == [date(2026, 6, 26), date(2026, 7, 10)]


def test_regional_holidays_apply_only_with_the_subdivision():
    # Patriots' Day, Monday 21 April 2025, is a holiday in Massachusetts only.
    start = datetime(2025, 4, 17, tzinfo=UTC)
    everywhere = plan_series(start, "America/New_York", weekday=0, local_time=time(18, 0), count=1)
    massachusetts = plan_series(
        start, "America/New_York", weekday=0, local_time=time(18, 0), count=1, holiday_subdiv="MA"
    )
    assert everywhere[0].local_date == date(2025, 4, 21)
    assert massachusetts[0].local_date == date(2025, 4, 28)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(weekday=7), "weekday"),
        (dict(count=0), "at least one session"),
        (dict(interval_days=10), "multiple of 7"),
        (dict(holiday_country="XX"), "holiday calendar"),
        (dict(tz="Mars/Olympus"), "IANA"),
    ],
)
def test_bad_series_settings_are_refused(kwargs, message):
    args = dict(tz=CHICAGO, weekday=1, local_time=time(18, 0))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        plan_series(datetime(2025, 1, 1, tzinfo=UTC), **args)


def test_naive_start_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_series(datetime(2025, 1, 1), CHICAGO, weekday=1, local_time=time(18, 0))


# --- the lead's controls ----------------------------------------------------------------------------


@pytest.fixture
def series():
    return new_series("G1", datetime(2025, 2, 20, tzinfo=UTC), CHICAGO, LocalSlot(1, time(18, 0)))


def test_skipping_the_next_session_adds_one_at_the_end(series):
    now = datetime(2025, 3, 1, tzinfo=UTC)  # after session 1 (25 Feb), before session 2 (11 March)
    skipped = skip_next(series, now)
    assert skipped.session(2).status == "skipped" and skipped.session(2).sequence == 1
    assert len(skipped.sessions) == 13 and len(skipped.active_sessions) == 12
    added = skipped.session(13)
    assert added.local_date == series.session(12).local_date + timedelta(days=14)
    assert local(added).time() == time(18, 0) and added.sequence == 0 and added.status == "scheduled"
    unchanged = [s for s in skipped.sessions if s.number not in (2, 13)]
    assert unchanged == [s for s in series.sessions if s.number != 2]
    twice = skip_next(skipped, now)
    assert twice.session(3).status == "skipped"
    assert twice.session(14).local_date == added.local_date + timedelta(days=14)


def test_the_session_added_by_a_skip_avoids_holidays():
    fridays = new_series("G2", datetime(2025, 6, 1, tzinfo=UTC), CHICAGO, LocalSlot(4, time(18, 0)), count=2)
    assert [s.local_date for s in fridays.sessions] == [date(2025, 6, 6), date(2025, 6, 20)]
    # 14 days after 20 June is Independence Day: the added session moves to 11 July.
    one = skip_next(fridays, datetime(2025, 6, 1, tzinfo=UTC))
    assert one.session(3).local_date == date(2025, 7, 11)
    weekly = new_series(
        "G3", datetime(2025, 11, 1, tzinfo=UTC), CHICAGO, LocalSlot(3, time(18, 0)), count=2, interval_days=7
    )
    assert [s.local_date for s in weekly.sessions] == [date(2025, 11, 6), date(2025, 11, 13)]
    weekly = skip_next(skip_next(weekly, datetime(2025, 11, 1, tzinfo=UTC)), datetime(2025, 11, 1, tzinfo=UTC))
    # 20 Nov, then 27 Nov is Thanksgiving: the added session moves to 4 Dec.
    assert [s.local_date for s in weekly.sessions[2:]] == [date(2025, 11, 20), date(2025, 12, 4)]


def test_the_added_session_returns_to_the_series_weekday(series):
    moved = reschedule(series, 12, datetime(2025, 7, 30, 18, 0))  # the last session moves to a Wednesday
    extended = skip_next(moved, datetime(2025, 3, 1, tzinfo=UTC))
    added = extended.session(13)
    assert added.local_date == date(2025, 8, 19)  # the first Tuesday at least 14 days after 30 July
    assert local(added).time() == time(18, 0)


def test_nothing_left_to_skip(series):
    with pytest.raises(SeriesChangeError, match="no upcoming session"):
        skip_next(series, datetime(2026, 1, 1, tzinfo=UTC))


def test_rescheduling_moves_one_session_and_bumps_its_sequence(series):
    moved = reschedule(series, 3, datetime(2025, 3, 27, 12, 30), now=datetime(2025, 3, 1, tzinfo=UTC))
    session = moved.session(3)
    assert session.local_date == date(2025, 3, 27)
    assert local(session) == datetime(2025, 3, 27, 12, 30, tzinfo=ZoneInfo(CHICAGO))
    assert session.sequence == 1
    assert [s for s in moved.sessions if s.number != 3] == [s for s in series.sessions if s.number != 3]
    again = reschedule(moved, 3, datetime(2025, 3, 26, 18, 0, tzinfo=ZoneInfo(CHICAGO)))
    assert again.session(3).sequence == 2 and again.session(3).local_date == date(2025, 3, 26)


def test_an_aware_reschedule_time_is_read_in_the_series_zone(series):
    moved = reschedule(series, 4, datetime(2025, 4, 9, 23, 0, tzinfo=UTC))
    assert (moved.session(4).local_date, local(moved.session(4)).time()) == (date(2025, 4, 9), time(18, 0))


@pytest.mark.parametrize(
    "number, when, now, message",
    [
        (3, datetime(2025, 3, 11, 18, 0), None, "must come after session 2"),
        (3, datetime(2025, 4, 8, 18, 0), None, "must come before session 4"),
        (3, datetime(2025, 3, 20, 18, 0), datetime(2025, 3, 21, tzinfo=UTC), "in the future"),
        (1, datetime(2025, 3, 3, 18, 0), datetime(2025, 3, 1, tzinfo=UTC), "already started"),
        (99, datetime(2025, 3, 20, 18, 0), None, "no session 99"),
    ],
)
def test_impossible_reschedules_are_refused(series, number, when, now, message):
    with pytest.raises(SeriesChangeError, match=message):
        reschedule(series, number, when, now=now)


def test_a_skipped_session_cannot_be_rescheduled(series):
    skipped = skip_next(series, datetime(2025, 3, 1, tzinfo=UTC))
    with pytest.raises(SeriesChangeError, match="skipped"):
        reschedule(skipped, 2, datetime(2025, 3, 12, 18, 0))


def test_a_skipped_session_no_longer_bounds_a_reschedule(series):
    skipped = skip_next(series, datetime(2025, 3, 1, tzinfo=UTC))  # session 2 (11 March) skipped
    moved = reschedule(skipped, 3, datetime(2025, 3, 5, 18, 0))
    assert moved.session(3).local_date == date(2025, 3, 5)


def test_held_sessions_are_marked_and_not_skipped(series):
    now = datetime(2025, 3, 12, tzinfo=UTC)  # sessions 1 and 2 are over
    held = mark_held(series, now)
    assert [s.status for s in held.sessions[:3]] == ["held", "held", "scheduled"]
    assert all(s.sequence == 0 for s in held.sessions)
    assert skip_next(held, datetime(2025, 1, 1, tzinfo=UTC)).session(3).status == "skipped"

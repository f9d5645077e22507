"""The meeting times a group votes on: only inside every stated availability, never at night or on a
weekend morning unless every member said so."""

from datetime import date

from bot.domain.availability import parse_windows
from bot.domain.meeting_time import vote_slots
from bot.domain.people import Person

CHICAGO = "America/Chicago"
WEEK = date(2026, 3, 2)


def member(user_id: str, availability: str, tz: str = CHICAGO) -> Person:
    return Person(user_id, timezone=tz, availability=parse_windows(availability))


def test_every_slot_is_in_someones_availability_and_the_best_covered_comes_first():
    members = [member("U1", "Mon 17:00-20:00; Tue 18:00-20:00"), member("U2", "Mon 18:00-19:00; Tue 12:00-13:00"),
               member("U3", "Mon 18:00-20:00; Tue 18:00-19:00"), member("U4", "")]
    slots = vote_slots(members, CHICAGO, week_of=WEEK)
    assert str(slots[0]) == "Mon 18:00" and slots[0].everyone  # all three who gave availability
    assert len(slots) == 3 and all(s.available >= 1 for s in slots)
    assert all(s.available >= t.available for s, t in zip(slots, slots[1:]))


def test_three_slots_on_different_days_first():
    everyone = "Mon 17:00-20:00; Wed 17:00-20:00; Thu 12:00-13:00"
    slots = vote_slots([member("U1", everyone), member("U2", everyone)], CHICAGO, week_of=WEEK)
    assert len(slots) == 3 and len({s.slot.weekday for s in slots}) == 3


def test_a_saturday_morning_or_a_night_only_when_every_member_said_so():
    early = "Sat 07:00-08:00; Tue 21:00-22:00"
    assert {str(s) for s in vote_slots([member("U1", early), member("U2", early)], CHICAGO, week_of=WEEK)} == {"Sat 07:00", "Tue 21:00"}
    # Someone gave no availability, or another time: nobody is asked about a Saturday 07:00 or a 21:00 start.
    assert vote_slots([member("U1", early), member("U2", early), member("U3", "")], CHICAGO, week_of=WEEK) == []
    slots = vote_slots([member("U1", early), member("U2", early), member("U3", "Wed 18:00-19:00")], CHICAGO, week_of=WEEK)
    assert [str(s) for s in slots] == ["Wed 18:00"]


def test_members_in_other_zones_are_compared_in_absolute_time():
    members = [member("U1", "Mon 18:00-19:00"), member("U2", "Mon 16:00-17:00", tz="America/Los_Angeles")]
    assert [str(s) for s in vote_slots(members, CHICAGO, week_of=WEEK)] == ["Mon 18:00"]

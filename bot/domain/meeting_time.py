"""The meeting times a new group votes on: drawn from its members' stated availability.

Every time offered lies in some member's stated availability, the times that suit the most members
first (those that suit everyone who gave availability, when there are any), on different weekdays
where possible. A time at night (starting before 07:00 or ending after 21:00) or on a weekend
morning (Saturday or Sunday before 12:00) is offered only if it lies in every member's stated
availability and every member stated some: nobody is asked to vote on a Saturday 07:00 that only
some of them said suits them.
"""

from __future__ import annotations

from datetime import date, time
from typing import Sequence

from bot.domain.people import Person
from bot.domain.scheduling import CandidateSlot, LocalSlot, candidate_slots, is_at_night

VOTE_SLOTS = 3
WEEKEND_MORNING_ENDS = time(12, 0)
_EVERY_HOUR_OF_THE_WEEK = 7 * 24


def is_unsociable(slot: LocalSlot) -> bool:
    """At night, or a Saturday or Sunday morning."""
    return is_at_night(slot.local_time) or (slot.weekday >= 5 and slot.local_time < WEEKEND_MORNING_ENDS)


def vote_slots(members: Sequence[Person], tz: str, limit: int = VOTE_SLOTS, *, week_of: date | None = None) -> list[CandidateSlot]:
    """Up to ``limit`` weekly slots (in ``tz``) for the group to vote on, best first; [] when none qualifies."""
    everyone_stated = bool(members) and all(person.availability for person in members)
    ranked = candidate_slots(members, tz, limit=_EVERY_HOUR_OF_THE_WEEK, week_of=week_of)
    offered = [c for c in ranked if not is_unsociable(c.slot) or (c.everyone and everyone_stated)]
    # Different weekdays first, so the vote is a real choice; then the next best.
    chosen: list[CandidateSlot] = []
    for candidate in offered:
        if len(chosen) < limit and candidate.slot.weekday not in {c.slot.weekday for c in chosen}:
            chosen.append(candidate)
    for candidate in offered:
        if len(chosen) < limit and candidate not in chosen:
            chosen.append(candidate)
    return chosen

"""What a pairing puts on the exactly-once schedule, when, and under which keys.

Every key of a pair's own actions starts with :func:`pair_prefix`, so ending or pausing a pair can cancel them
at once; notes about the pair use another prefix so that cancelling never swallows them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.flows.pairing.pair_members import partner_of
from storage import pairing as store
from storage import schedule
from storage.models import Pair

INTRO_KIND = "pair_intro"
CHECKIN_KIND = store.CHECKIN_KIND
REMINDER_KIND = "pair_reminder"
NOTE_KIND = "pair_note"
UNMATCHED_KIND = "pair_unmatched"

FIRST_CHECKIN_AFTER = timedelta(days=14)
CHECKIN_EVERY = timedelta(weeks=4)
REMINDER_AFTER = timedelta(days=7)
SILENCE_LIMIT = 3


def pair_prefix(pair_id: int) -> str:
    return f"pair:{pair_id}:"


def intro_key(pair_id: int) -> str:
    return f"pair:{pair_id}:intro"


def checkin_key(pair_id: int, number: int, due: datetime) -> str:
    return f"pair:{pair_id}:checkin:{number}:{int(due.timestamp())}"


def reminder_key(pair_id: int, number: int) -> str:
    return f"pair:{pair_id}:reminder:{number}"


def note_key(pair_id: int, note: str, user_id: str, at: datetime) -> str:
    return f"pairnote:{pair_id}:{note}:{user_id}:{int(at.timestamp())}"


def unmatched_key(round_id: int, user_id: str) -> str:
    return f"pairing:{round_id}:unmatched:{user_id}"


def pair_payload(pair: Pair, **extra: Any) -> dict:
    # Both people are named so that erasing either one also erases the pair's scheduled actions.
    return {"pair_id": pair.id, "mentee": pair.mentee_id, "mentor": pair.mentor_id, **extra}


def schedule_checkin(session: Session, *, pair: Pair, number: int, due: datetime) -> None:
    schedule.schedule(session, key=checkin_key(pair.id, number, due), kind=CHECKIN_KIND, due_at=due, team_id=pair.team_id,
                      subject_user_id=pair.mentee_id, payload=pair_payload(pair, number=number))


def schedule_note(session: Session, *, pair: Pair, user_id: str, note: str, at: datetime) -> None:
    schedule.schedule(session, key=note_key(pair.id, note, user_id, at), kind=NOTE_KIND, due_at=at, team_id=pair.team_id,
                      subject_user_id=user_id, payload=pair_payload(pair, user=user_id, partner=partner_of(pair, user_id), note=note))

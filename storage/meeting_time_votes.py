"""Members' votes on the meeting times offered to their group."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, select

from storage.db import utcnow
from storage.models import MeetingTimeVote


def toggle_vote(session: Session, *, group_id: int, user_id: str, slot: str, now: datetime | None = None) -> bool:
    """Add the person's vote for ``slot``, or take it back if it was there; True if it is now a vote."""
    existing = session.exec(select(MeetingTimeVote).where(
        MeetingTimeVote.group_id == group_id, MeetingTimeVote.slack_user_id == user_id, MeetingTimeVote.slot == slot)).first()
    if existing is not None:
        session.delete(existing)
        return False
    session.add(MeetingTimeVote(group_id=group_id, slack_user_id=user_id, slot=slot, voted_at=now or utcnow()))
    return True


def vote_counts(session: Session, *, group_id: int) -> Counter:
    rows = session.exec(select(MeetingTimeVote.slot).where(MeetingTimeVote.group_id == group_id))
    return Counter(rows)


def clear_votes(session: Session, *, group_id: int) -> None:
    session.execute(delete(MeetingTimeVote).where(MeetingTimeVote.group_id == group_id))

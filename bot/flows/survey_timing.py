"""When a message that can wait (a 6- or 12-month follow-up, a pairing check-in) is best sent: not
near a session of the person's group. The days around a session already bring the day-before
reminder, "Were you there?" (and the lead's guide, the scores, at a cycle's end the stay-or-switch
question); such a message due then moves to a week after the session, the middle of the fortnight
before the next one's reminder, so no seven days carry all of them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import Session

from storage import groups as groups_store

BEFORE = timedelta(days=6)  # a session this soon: its reminders are about to come
AFTER = timedelta(days=5)  # a session this recent: "Were you there?" and what follows it have just come
MOVE_TO = timedelta(days=7)  # after the session: the quiet middle of the fortnight


def after_nearby_session(session: Session, *, team_id: str, user_id: str, now: datetime) -> datetime | None:
    """When to ask instead, or None when no session of the person's group is near ``now``."""
    group = groups_store.group_of_member(session, team_id=team_id, user_id=user_id)
    if group is None:
        return None
    for row in groups_store.sessions_of(session, group_id=group.id, cycle=group.cycle):
        if row.status not in ("scheduled", "held"):
            continue
        starts = row.starts_at if row.starts_at.tzinfo else row.starts_at.replace(tzinfo=timezone.utc)
        if now - AFTER <= starts <= now + BEFORE:
            return starts + MOVE_TO
    return None

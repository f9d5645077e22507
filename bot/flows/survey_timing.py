"""When a message that can wait (a 6- or 12-month follow-up) is best sent: not
near a session of the person's group. The days around a session already bring the day-before
reminder, "Were you there?" (and the lead's guide, the scores, at a cycle's end the stay-or-switch
question); such a message due within a week of a session moves to half way between the session and
the next one's day-before reminder, so no seven days carry all of them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import Session

from storage import groups as groups_store

BEFORE = timedelta(days=7)  # a session this soon: its day-before reminder (and the lead's guide) are within a week
AFTER = timedelta(days=6)  # a session this recent: "Were you there?" and what follows it are within a week
# Half way between a session and the next one's day-before reminder (sessions every 14 days): the one
# moment no seven days hold both the session's messages and this one.
MOVE_TO = timedelta(days=6, hours=12)
TRIES = 6  # weekly sessions leave no such moment: after a few sessions, send anyway


def after_nearby_session(session: Session, *, team_id: str, user_id: str, now: datetime) -> datetime | None:
    """When to send instead, or None when no session of the person's group is within a week of ``now``."""
    group = groups_store.group_of_member(session, team_id=team_id, user_id=user_id)
    if group is None:
        return None
    starts = sorted(row.starts_at if row.starts_at.tzinfo else row.starts_at.replace(tzinfo=timezone.utc)
                    for row in groups_store.sessions_of(session, group_id=group.id, cycle=group.cycle)
                    if row.status in ("scheduled", "held"))
    moment, moved = now, False
    for _ in range(TRIES):
        near = next((start for start in starts if start - BEFORE <= moment <= start + AFTER), None)
        if near is None:
            break
        moment, moved = near + MOVE_TO, True
    return moment if moved else None

"""Holding a scheduled DM back through the reader's quiet hours.

A delivery that DMs people asks :func:`awake_recipients` which of them may be written to now.
For each person whose quiet hours it is, a copy of the action is scheduled for that person
alone (key ``<action key>:quiet:<user>``, payload ``only_user``) at the end of their quiet hours
plus 30 minutes, and they are left out now. The copy's key makes the deferral itself
exactly-once: a retry of the original finds the copy and leaves that person to it, even when
the retry runs after the quiet hours have ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from bot.domain.quiet_hours import QuietHours, quiet_until
from bot.runtime.services import Services
from storage import schedule
from storage.db import session_scope, utcnow
from storage.members import members_by_user
from storage.models import Member, ScheduledAction

ONLY_USER = "only_user"


def deferred_key(action: ScheduledAction, user_id: str) -> str:
    return f"{action.key}:quiet:{user_id}"


def is_deferred_copy(payload: dict) -> bool:
    """A one-person copy made by :func:`awake_recipients`: it only DMs; what the original did besides
    (scheduling what comes next) is already done."""
    return bool(payload.get(ONLY_USER))


def _quiet_until(services: Services, member: Member | None, now: datetime) -> datetime | None:
    """When this reader's quiet hours end, if it is their quiet hours now (someone unknown: the program's time zone)."""
    hours = QuietHours.parse(member.quiet_start, member.quiet_end) if member is not None else QuietHours()
    return quiet_until(now, member.timezone if member is not None else None, hours, fallback_tz=services.settings.compass_timezone)


def held_for_everyone(services: Services, action: ScheduledAction, payload: dict, user_ids: Iterable[str]) -> bool:
    """For one message that several people read together (a group DM): when it is anyone's quiet hours,
    schedule the whole delivery again (key ``<action key>:quiet``) for when the last of them is awake,
    and return True. A retry finds the copy and is held too."""
    key = f"{action.key}:quiet"
    now = utcnow()
    with session_scope(services.engine) as session:
        if schedule.get(session, key=key) is not None:
            return True
        latest = None
        readers = list(dict.fromkeys(user_ids))
        members = members_by_user(session, team_id=action.team_id, user_ids=readers) if action.team_id else {}
        for user_id in readers:
            until = _quiet_until(services, members.get(user_id), now)
            if until is not None and (latest is None or until > latest):
                latest = until
        if latest is None:
            return False
        schedule.schedule(session, key=key, kind=action.kind, due_at=latest, team_id=action.team_id,
                          subject_user_id=action.subject_user_id, payload=payload)
        return True


def awake_recipients(services: Services, action: ScheduledAction, payload: dict, user_ids: Iterable[str], *,
                     deferred_kind: str | None = None) -> list[str]:
    """The people among ``user_ids`` to DM now (the copy's one person, if this is a deferred copy).

    ``deferred_kind`` gives the copies a kind of their own, for an action that does more than DM people
    (a channel post, a channel to create) which its copies must not do again.
    """
    only = payload.get(ONLY_USER)
    wanted = [u for u in dict.fromkeys(user_ids) if not only or u == only]
    now = utcnow()
    awake: list[str] = []
    with session_scope(services.engine) as session:  # one transaction and two lookups for the whole group
        handed_over = schedule.existing_keys(session, keys=[deferred_key(action, user_id) for user_id in wanted])
        members = members_by_user(session, team_id=action.team_id, user_ids=wanted) if action.team_id else {}
        for user_id in wanted:
            key = deferred_key(action, user_id)
            if key in handed_over:
                continue  # already handed to a copy for after this person's quiet hours
            until = _quiet_until(services, members.get(user_id), now)
            if until is None:
                awake.append(user_id)
                continue
            schedule.schedule(session, key=key, kind=deferred_kind or action.kind, due_at=until, team_id=action.team_id,
                              subject_user_id=user_id, payload={**payload, ONLY_USER: user_id})
    return awake


"""Where each message about a session went (channel and ts), so it can be updated in place later,
and a group's meeting place."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.db import utcnow
from storage.models import Group, SessionMessage


def record_sent(session: Session, *, session_id: int, kind: str, channel: str, ts: str, user_id: str = "",
                now: datetime | None = None) -> None:
    """Remember a message about a session; a second record for the same kind and channel keeps the latest ts."""
    if not ts:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {"session_id": session_id, "kind": kind, "channel": channel, "ts": ts, "slack_user_id": user_id, "sent_at": now or utcnow()}
    session.execute(insert(SessionMessage).values(**values).on_conflict_do_update(
        index_elements=["session_id", "kind", "channel"], set_={"ts": ts, "sent_at": values["sent_at"]}))


def sent_about(session: Session, *, session_id: int, kinds: tuple[str, ...] | None = None) -> list[SessionMessage]:
    query = select(SessionMessage).where(SessionMessage.session_id == session_id)
    if kinds:
        query = query.where(col(SessionMessage.kind).in_(kinds))
    return list(session.exec(query.order_by(SessionMessage.id)))


def set_place(session: Session, *, group_id: int, place: str, now: datetime | None = None) -> None:
    session.execute(update(Group).where(Group.id == group_id).values(place=place, updated_at=now or utcnow()))

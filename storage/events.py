"""Deduplication of Events API deliveries by ``event_id`` (Slack retries them)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.db import utcnow
from storage.models import ProcessedEvent

KEEP_FOR = timedelta(days=2)


def first_delivery(engine: Engine, *, event_id: str, team_id: str = "") -> bool:
    """True the first time an event id is seen; False for Slack's retries of it."""
    with Session(engine) as session:
        session.add(ProcessedEvent(event_id=event_id, team_id=team_id, received_at=utcnow()))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def prune(session: Session) -> int:
    result = session.execute(delete(ProcessedEvent).where(ProcessedEvent.received_at < utcnow() - KEEP_FOR))
    return result.rowcount or 0

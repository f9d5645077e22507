"""The schedule: every future action is a row with a due time and a unique idempotency key.

Delivery claims due rows with a lease. On PostgreSQL the claim uses
``FOR UPDATE SKIP LOCKED`` so several clock processes never claim the same row; on
SQLite one clock process runs at a time (see :mod:`bot.runtime.clock`). A row whose lease
expired (its process died mid-delivery) becomes claimable again.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage.db import session_scope, utcnow
from storage.models import ScheduledAction

PENDING, CLAIMED, DONE, FAILED, DROPPED, CANCELLED = "pending", "claimed", "done", "failed", "dropped", "cancelled"
OPEN_STATUSES = (PENDING, CLAIMED)


def schedule(
    session: Session,
    *,
    key: str,
    kind: str,
    due_at: datetime,
    team_id: str = "",
    payload: dict[str, Any] | None = None,
    subject_user_id: str = "",
) -> bool:
    """Add an action unless one with this key exists. Returns True when it was added."""
    return bool(schedule_many(session, [dict(key=key, kind=kind, due_at=due_at, team_id=team_id, payload=payload,
                                             subject_user_id=subject_user_id)]))


def schedule_many(session: Session, actions: Sequence[dict[str, Any]]) -> int:
    """Add several actions (each as :func:`schedule`'s arguments) in one statement, skipping keys that exist.
    Returns how many were added."""
    if not actions:
        return 0
    now = utcnow()
    rows = [dict(key=a["key"], kind=a["kind"], due_at=a["due_at"], team_id=a.get("team_id", ""),
                 payload=json.dumps(a.get("payload") or {}, sort_keys=True), subject_user_id=a.get("subject_user_id", ""),
                 status=PENDING, attempts=0, claimed_by="", last_error="", created_at=now) for a in actions]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # Many parameter sets to one compiled statement (SQLAlchemy sends them as one multi-row INSERT): rows
    # written into the statement itself made it compile again for every group size.
    table = ScheduledAction.__table__
    statement = insert(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id)
    return len(session.connection().execute(statement, rows).all())


def move(session: Session, *, key: str, due_at: datetime, payload: dict[str, Any] | None = None) -> bool:
    """Change when a not-yet-delivered action is due."""
    values: dict[str, Any] = {"due_at": due_at, "retry_at": None}
    if payload is not None:
        values["payload"] = json.dumps(payload, sort_keys=True)
    result = session.execute(
        update(ScheduledAction).where(ScheduledAction.key == key, ScheduledAction.status == PENDING).values(**values)
    )
    return bool(result.rowcount)


def swap_payload(session: Session, *, key: str, expected: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Replace a pending action's payload if it is still ``expected``: one statement where a read and a write
    would be two; False when it was not (the caller reads it and tries again)."""
    result = session.execute(
        update(ScheduledAction)
        .where(ScheduledAction.key == key, ScheduledAction.status == PENDING,
               ScheduledAction.payload == json.dumps(expected, sort_keys=True))
        .values(payload=json.dumps(payload, sort_keys=True))
    )
    return bool(result.rowcount)


def cancel(session: Session, *, keys: Iterable[str] = (), key_prefix: str | None = None) -> int:
    condition = col(ScheduledAction.key).in_(list(keys))
    if key_prefix is not None:
        condition = or_(condition, col(ScheduledAction.key).startswith(key_prefix))
    result = session.execute(
        update(ScheduledAction)
        .where(condition, ScheduledAction.status == PENDING)
        .values(status=CANCELLED, done_at=utcnow())
    )
    return result.rowcount or 0


def get(session: Session, *, key: str) -> ScheduledAction | None:
    return session.exec(select(ScheduledAction).where(ScheduledAction.key == key)).first()


def existing_keys(session: Session, *, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` have a row, whatever its status: one query for many."""
    wanted = list(keys)
    if not wanted:
        return set()
    return set(session.exec(select(ScheduledAction.key).where(col(ScheduledAction.key).in_(wanted))))


def claim_due(
    engine: Engine, *, worker_id: str, now: datetime | None = None, lease: timedelta = timedelta(minutes=5), limit: int = 100,
    skip_teams: Iterable[str] = (),
) -> list[ScheduledAction]:
    """Claim up to ``limit`` due rows, oldest first, none of the workspaces in ``skip_teams``: one statement,
    an ``UPDATE`` of the rows a locking CTE picks, returning them."""
    now = now or utcnow()
    skip = sorted(set(skip_teams))
    # Only open rows are due: the partial index ix_scheduled_actions_open_due (migration 0013) holds them in due
    # order, so a claim reads the few rows at the front instead of every pending row of the schedule.
    claimable = and_(
        col(ScheduledAction.status).in_(OPEN_STATUSES),
        ScheduledAction.due_at <= now,
        or_(
            and_(ScheduledAction.status == PENDING, or_(col(ScheduledAction.retry_at).is_(None), col(ScheduledAction.retry_at) <= now)),
            and_(ScheduledAction.status == CLAIMED, col(ScheduledAction.lease_until) < now),
        ),
    )
    if skip:
        claimable = and_(claimable, col(ScheduledAction.team_id).not_in(skip))
    chosen = select(ScheduledAction.id).where(claimable).order_by(ScheduledAction.due_at, ScheduledAction.id).limit(limit)
    if engine.dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    # A CTE is evaluated once; a plain IN (sub-select ... LIMIT) may be run again by the planner and claim more.
    chosen_ids = chosen.cte("chosen")
    claim = (update(ScheduledAction).where(col(ScheduledAction.id).in_(select(chosen_ids.c.id)))
             .values(status=CLAIMED, claimed_by=worker_id, lease_until=now + lease, attempts=ScheduledAction.attempts + 1)
             .returning(ScheduledAction).execution_options(synchronize_session=False))
    with session_scope(engine) as session:
        rows = list(session.scalars(claim))
    return sorted(rows, key=lambda row: (row.due_at, row.id))


def _finish(engine: Engine, action: ScheduledAction, worker_id: str, **values: Any) -> bool:
    """Update a claimed row only if this worker still holds its lease."""
    with session_scope(engine) as session:
        result = session.execute(
            update(ScheduledAction)
            .where(
                ScheduledAction.id == action.id,
                ScheduledAction.status == CLAIMED,
                ScheduledAction.claimed_by == worker_id,
            )
            .values(**values)
        )
        return bool(result.rowcount)


def complete(engine: Engine, action: ScheduledAction, *, worker_id: str) -> bool:
    return _finish(engine, action, worker_id, status=DONE, done_at=utcnow(), lease_until=None, last_error="")


def retry_later(engine: Engine, action: ScheduledAction, *, worker_id: str, retry_at: datetime, error: str) -> bool:
    return _finish(
        engine, action, worker_id, status=PENDING, retry_at=retry_at, lease_until=None, claimed_by="", last_error=error[:500]
    )


def fail(engine: Engine, action: ScheduledAction, *, worker_id: str, error: str) -> bool:
    return _finish(engine, action, worker_id, status=FAILED, done_at=utcnow(), lease_until=None, last_error=error[:500])


def drop(engine: Engine, action: ScheduledAction, *, worker_id: str, reason: str) -> bool:
    return _finish(engine, action, worker_id, status=DROPPED, done_at=utcnow(), lease_until=None, last_error=reason[:500])


def payload_of(action: ScheduledAction) -> dict[str, Any]:
    return json.loads(action.payload or "{}")


def hand_back(engine: Engine, actions: Iterable[ScheduledAction], *, worker_id: str) -> int:
    """Return claimed rows this worker never started to the schedule now, not when their lease ends;
    the claim's attempt is given back too (nothing was tried)."""
    ids = [action.id for action in actions]
    if not ids:
        return 0
    with session_scope(engine) as session:
        result = session.execute(
            update(ScheduledAction)
            .where(col(ScheduledAction.id).in_(ids), ScheduledAction.status == CLAIMED, ScheduledAction.claimed_by == worker_id)
            .values(status=PENDING, claimed_by="", lease_until=None, attempts=ScheduledAction.attempts - 1)
        )
        return result.rowcount or 0

"""Admin roles, per program (a workspace, or a Grid org for an org-wide install)."""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.db import utcnow
from storage.models import Role
from storage.workspaces import ensure_workspace

_ROLES = Role.__table__  # type: ignore[attr-defined]


def admin_user_ids(session: Session, *, team_id: str, configured: Iterable[str] = ()) -> list[str]:
    """The team's admins: those granted the role, plus the configured ones."""
    granted = session.exec(select(Role.slack_user_id).where(Role.team_id == team_id, Role.role == "admin")).all()
    return sorted(set(granted) | set(configured))


def grant_admin(engine: Engine, *, team_id: str, user_id: str, granted_by: str = "") -> None:
    with Session(engine) as session:
        ensure_workspace(session, team_id=team_id)
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        session.execute(insert(_ROLES).values(team_id=team_id, slack_user_id=user_id, role="admin", granted_by=granted_by,
                                              granted_at=utcnow()).on_conflict_do_nothing())
        session.commit()


def revoke_admin(engine: Engine, *, team_id: str, user_id: str) -> bool:
    with Session(engine) as session:
        result = session.execute(delete(Role).where(Role.team_id == team_id, Role.slack_user_id == user_id, Role.role == "admin"))
        session.commit()
        return bool(result.rowcount)


def admin_grants(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return [(r.team_id, r.slack_user_id) for r in session.exec(select(Role).where(Role.role == "admin").order_by(Role.team_id, Role.slack_user_id))]

"""Workspace rows: created by an upsert (concurrent first requests of a new workspace race),
and the installation each one is served by (Enterprise Grid org, org-wide install)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.db import utcnow
from storage.models import Workspace

_WORKSPACES = Workspace.__table__  # type: ignore[attr-defined]


def _insert_if_missing(session: Session, **values: object) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(_WORKSPACES).values(created_at=utcnow(), **values).on_conflict_do_nothing(index_elements=["team_id"]))


def ensure_workspace(session: Session, *, team_id: str, name: str = "", bot_user_id: str = "") -> Workspace:
    _insert_if_missing(session, team_id=team_id, name=name, bot_user_id=bot_user_id)
    workspace = session.get(Workspace, team_id, populate_existing=True)
    assert workspace is not None  # inserted above or by a concurrent request
    if (name and workspace.name != name) or (bot_user_id and workspace.bot_user_id != bot_user_id):
        workspace.name = name or workspace.name
        workspace.bot_user_id = bot_user_id or workspace.bot_user_id
        session.add(workspace)
    return workspace


def remember_installation(engine: Engine, *, team_id: str, enterprise_id: str, is_org_install: bool) -> None:
    """Record which Grid org (if any) serves the program keyed ``team_id``, so that the clock finds its token."""
    with Session(engine) as session:
        workspace = ensure_workspace(session, team_id=team_id)
        if workspace.enterprise_id != enterprise_id or workspace.is_org_install != is_org_install:
            workspace.enterprise_id, workspace.is_org_install = enterprise_id, is_org_install
            session.add(workspace)
        session.commit()


def installation_of(engine: Engine, team_id: str) -> tuple[str, bool] | None:
    """(enterprise ID or "", org-wide install?) of the program keyed ``team_id``; None if unknown."""
    query = select(_WORKSPACES.c.enterprise_id, _WORKSPACES.c.is_org_install).where(_WORKSPACES.c.team_id == team_id)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return (row.enterprise_id or "", bool(row.is_org_install)) if row is not None else None

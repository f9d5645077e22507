from __future__ import annotations

from sqlmodel import Session

from storage.db import utcnow
from storage.models import Workspace


def ensure_workspace(session: Session, *, team_id: str, name: str = "", bot_user_id: str = "") -> Workspace:
    workspace = session.get(Workspace, team_id)
    if workspace is None:
        workspace = Workspace(team_id=team_id, name=name, bot_user_id=bot_user_id, created_at=utcnow())
        session.add(workspace)
        session.flush()
    elif (name and workspace.name != name) or (bot_user_id and workspace.bot_user_id != bot_user_id):
        workspace.name = name or workspace.name
        workspace.bot_user_id = bot_user_id or workspace.bot_user_id
        session.add(workspace)
    return workspace

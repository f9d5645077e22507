"""The audit log: who did what, when. Admin views and exports are always written here."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from storage.db import utcnow
from storage.models import AuditEntry


def record(
    session: Session,
    *,
    team_id: str,
    actor_id: str,
    action: str,
    subject_id: str = "",
    **detail: Any,
) -> AuditEntry:
    entry = AuditEntry(
        at=utcnow(),
        team_id=team_id,
        actor_id=actor_id,
        action=action,
        subject_id=subject_id,
        detail=json.dumps(detail, sort_keys=True, default=str),
    )
    session.add(entry)
    return entry

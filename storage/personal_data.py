"""Everything stored about one person: exported by ``/compass my-data``, erased by ``/compass forget-me``.

Each table that can identify a person contributes an exporter and an eraser to
``SECTIONS``; a test scans every table after erasure to prove nothing is left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable

from sqlalchemy import delete, or_
from sqlmodel import Session, SQLModel, select

from storage.models import AuditEntry, Member, Role, ScheduledAction

Exporter = Callable[[Session, str, str], list[dict[str, Any]]]
Eraser = Callable[[Session, str, str], int]


@dataclass(frozen=True)
class Section:
    name: str
    export: Exporter
    erase: Eraser


def _row(model: SQLModel, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    data = model.model_dump()
    for field in drop:
        data.pop(field, None)
    return {k: (v.isoformat() if isinstance(v, (datetime, date)) else v) for k, v in data.items()}


def _export_member(session: Session, team_id: str, user_id: str) -> list[dict[str, Any]]:
    rows = session.exec(select(Member).where(Member.team_id == team_id, Member.slack_user_id == user_id))
    return [_row(m, drop=("id",)) for m in rows]


def _erase_member(session: Session, team_id: str, user_id: str) -> int:
    result = session.execute(delete(Member).where(Member.team_id == team_id, Member.slack_user_id == user_id))
    return result.rowcount or 0


def _export_roles(session: Session, team_id: str, user_id: str) -> list[dict[str, Any]]:
    rows = session.exec(select(Role).where(Role.team_id == team_id, Role.slack_user_id == user_id))
    return [_row(r, drop=("id",)) for r in rows]


def _erase_roles(session: Session, team_id: str, user_id: str) -> int:
    result = session.execute(delete(Role).where(Role.team_id == team_id, Role.slack_user_id == user_id))
    granted = session.execute(
        Role.__table__.update().where(Role.team_id == team_id, Role.granted_by == user_id).values(granted_by="")  # type: ignore[attr-defined]
    )
    return (result.rowcount or 0) + (granted.rowcount or 0)


def _audit_condition(user_id: str):  # noqa: ANN202
    return or_(AuditEntry.actor_id == user_id, AuditEntry.subject_id == user_id, AuditEntry.detail.contains(user_id))  # type: ignore[attr-defined]


def _export_audit(session: Session, team_id: str, user_id: str) -> list[dict[str, Any]]:
    rows = session.exec(select(AuditEntry).where(AuditEntry.team_id == team_id, _audit_condition(user_id)).order_by(AuditEntry.at))
    return [_row(a, drop=("id",)) | {"detail": json.loads(a.detail or "{}")} for a in rows]


def _erase_audit(session: Session, team_id: str, user_id: str) -> int:
    result = session.execute(delete(AuditEntry).where(AuditEntry.team_id == team_id, _audit_condition(user_id)))
    return result.rowcount or 0


def _export_scheduled(session: Session, team_id: str, user_id: str) -> list[dict[str, Any]]:
    rows = session.exec(
        select(ScheduledAction).where(ScheduledAction.team_id == team_id, ScheduledAction.subject_user_id == user_id)
    )
    return [_row(a, drop=("id", "claimed_by", "lease_until")) | {"payload": json.loads(a.payload or "{}")} for a in rows]


def _erase_scheduled(session: Session, team_id: str, user_id: str) -> int:
    result = session.execute(
        delete(ScheduledAction).where(
            ScheduledAction.team_id == team_id,
            or_(ScheduledAction.subject_user_id == user_id, ScheduledAction.payload.contains(user_id)),  # type: ignore[attr-defined]
        )
    )
    return result.rowcount or 0


# Order matters for erasure: rows that reference a member go before the member.
SECTIONS: list[Section] = [
    Section("scheduled_messages", _export_scheduled, _erase_scheduled),
    Section("audit_log", _export_audit, _erase_audit),
    Section("roles", _export_roles, _erase_roles),
    Section("profile", _export_member, _erase_member),
]


def export_person(session: Session, *, team_id: str, user_id: str) -> dict[str, Any]:
    data: dict[str, Any] = {"slack_user_id": user_id, "team_id": team_id}
    for section in reversed(SECTIONS):
        data[section.name] = section.export(session, team_id, user_id)
    return data


def erase_person(session: Session, *, team_id: str, user_id: str) -> dict[str, int]:
    return {section.name: section.erase(session, team_id, user_id) for section in SECTIONS}

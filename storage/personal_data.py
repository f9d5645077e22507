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

from storage import pulse_cache
from storage.models import (
    AuditEntry,
    Group,
    GroupMember,
    GroupSession,
    MeetingTimeVote,
    Member,
    Pair,
    PairCheckin,
    PairingRound,
    Role,
    ScheduledAction,
    SessionAttendance,
    SessionMessage,
    SessionRsvp,
    Survey,
    SurveyResponse,
)

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


def _by_user(model: type[SQLModel], *, drop: tuple[str, ...] = ("id",), json_fields: tuple[str, ...] = ()) -> Section:
    """A section for a table whose rows belong to one person through ``slack_user_id``."""

    def export(session: Session, team_id: str, user_id: str) -> list[dict[str, Any]]:
        rows = session.exec(select(model).where(_in_team(model, team_id), model.slack_user_id == user_id))  # type: ignore[attr-defined]
        out = []
        for row in rows:
            data = _row(row, drop=drop)
            for name in json_fields:
                data[name] = json.loads(data[name] or "null")
            out.append(data)
        return out

    def erase(session: Session, team_id: str, user_id: str) -> int:
        result = session.execute(delete(model).where(_in_team(model, team_id), model.slack_user_id == user_id))  # type: ignore[attr-defined]
        return result.rowcount or 0

    return Section(model.__tablename__, export, erase)  # type: ignore[attr-defined]


def _in_team(model: type[SQLModel], team_id: str):  # noqa: ANN202
    """Rows of tables without a team column belong to a team through their parent row."""
    if hasattr(model, "team_id"):
        return model.team_id == team_id  # type: ignore[attr-defined]
    if hasattr(model, "group_id"):
        return model.group_id.in_(select(Group.id).where(Group.team_id == team_id))  # type: ignore[attr-defined]
    if hasattr(model, "session_id"):
        sessions = select(GroupSession.id).join(Group, Group.id == GroupSession.group_id).where(Group.team_id == team_id)
        return model.session_id.in_(sessions)  # type: ignore[attr-defined]
    return model.pair_id.in_(select(Pair.id).where(Pair.team_id == team_id))  # type: ignore[attr-defined]


def _pair_condition(team_id: str, user_id: str):  # noqa: ANN202
    return (Pair.team_id == team_id) & or_(Pair.mentee_id == user_id, Pair.mentor_id == user_id)


def _export_pairs(session: Session, team_id: str, user_id: str) -> list[dict[str, Any]]:
    rows = session.exec(select(Pair).where(_pair_condition(team_id, user_id)))
    return [_row(p, drop=("id", "round_id", "dm_channel_id")) | {"reasons": json.loads(p.reasons or "[]")} for p in rows]


def _erase_pairs(session: Session, team_id: str, user_id: str) -> int:
    """A pair identifies both people, so the whole pair goes (and the other person's check-ins on it)."""
    pair_ids = select(Pair.id).where(_pair_condition(team_id, user_id))
    checkins = session.execute(delete(PairCheckin).where(PairCheckin.pair_id.in_(pair_ids)))  # type: ignore[attr-defined]
    pairs = session.execute(delete(Pair).where(_pair_condition(team_id, user_id)))
    return (checkins.rowcount or 0) + (pairs.rowcount or 0)


def _scrub_round_previews(session: Session, team_id: str, user_id: str) -> int:
    """Unpublished pairing previews hold user IDs inside their JSON: drop the entries about this person."""
    changed = 0
    for round_ in session.exec(select(PairingRound).where(PairingRound.team_id == team_id, PairingRound.preview.contains(user_id))):  # type: ignore[attr-defined]
        preview = json.loads(round_.preview or "{}")
        for key in ("pairs", "unmatched"):
            preview[key] = [entry for entry in preview.get(key, []) if user_id not in json.dumps(entry)]
        round_.preview = json.dumps(preview, sort_keys=True)
        session.add(round_)
        changed += 1
    return changed


def _export_led_groups(session: Session, team_id: str, user_id: str) -> list[dict[str, Any]]:
    rows = session.exec(select(Group).where(Group.team_id == team_id, Group.lead_user_id == user_id))
    return [{"group": g.name, "role": "lead"} for g in rows]


def _erase_lead_roles(session: Session, team_id: str, user_id: str) -> int:
    result = session.execute(
        Group.__table__.update().where(Group.team_id == team_id, Group.lead_user_id == user_id).values(lead_user_id="")  # type: ignore[attr-defined]
    )
    return result.rowcount or 0


def _export_topic_choices(session: Session, team_id: str, user_id: str) -> list[dict[str, Any]]:
    rows = session.exec(select(GroupSession).join(Group).where(Group.team_id == team_id, GroupSession.topic_chosen_by == user_id))
    return [{"session": s.number, "date": s.local_date.isoformat(), "topic": s.topic_slug} for s in rows]


def _erase_topic_choices(session: Session, team_id: str, user_id: str) -> int:
    in_team = select(Group.id).where(Group.team_id == team_id)
    result = session.execute(
        GroupSession.__table__.update()  # type: ignore[attr-defined]
        .where(GroupSession.group_id.in_(in_team), GroupSession.topic_chosen_by == user_id)  # type: ignore[attr-defined]
        .values(topic_chosen_by="")
    )
    return result.rowcount or 0


def _export_nothing(session: Session, team_id: str, user_id: str) -> list[dict[str, Any]]:
    return []


def _export_report_segment(session: Session, team_id: str, user_id: str) -> list[dict[str, Any]]:
    return pulse_cache.export_person(session, team_id=team_id, user_id=user_id)


def _erase_from_report_summaries(session: Session, team_id: str, user_id: str) -> int:
    return pulse_cache.forget_person(session, team_id=team_id, user_id=user_id)


# Order matters for erasure: rows that reference a member go before the member, and the
# report summaries first, while the answers to take out of them are still there.
SECTIONS: list[Section] = [
    Section("report_summaries", _export_report_segment, _erase_from_report_summaries),
    _by_user(SurveyResponse, json_fields=("answers", "flags")),
    _by_user(Survey),
    _by_user(SessionRsvp),
    _by_user(SessionAttendance),
    _by_user(SessionMessage),
    _by_user(MeetingTimeVote),
    _by_user(GroupMember),
    Section("groups_led", _export_led_groups, _erase_lead_roles),
    Section("topics_chosen", _export_topic_choices, _erase_topic_choices),
    Section("pairs", _export_pairs, _erase_pairs),
    _by_user(PairCheckin),
    Section("pairing_previews", _export_nothing, _scrub_round_previews),
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

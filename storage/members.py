"""Members: enrolment, profile, status. Keyword-only data access."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.domain.availability import parse_windows
from bot.domain.people import CareerStage, Person
from storage.db import utcnow
from storage.models import Member


@dataclass(frozen=True)
class Profile:
    """What a person tells us about themselves in the join form (or an admin's roster)."""

    career_stage: str
    specialty: str = ""
    department: str = ""
    site: str = ""
    timezone: str = ""
    availability: str = ""
    near_peer_role: str = "none"
    mentor_capacity: int = 1
    lead_willing: bool = False
    display_name: str = ""
    country: str | None = None  # None: keep what is stored (rosters do not carry a country)


def wanting_hour_before_reminder(session: Session, *, team_id: str, user_ids: list[str]) -> set[str]:
    """Those of ``user_ids`` who chose the reminder an hour before each session."""
    if not user_ids:
        return set()
    return set(session.exec(select(Member.slack_user_id).where(
        Member.team_id == team_id, Member.slack_user_id.in_(user_ids), Member.remind_hour_before.is_(True))))  # type: ignore[attr-defined]


def get_member(session: Session, *, team_id: str, user_id: str) -> Member | None:
    return session.exec(
        select(Member).where(Member.team_id == team_id, Member.slack_user_id == user_id)
    ).first()


def members_by_user(session: Session, *, team_id: str, user_ids: Iterable[str]) -> dict[str, Member]:
    """The member rows of ``user_ids`` in one query, by Slack user ID (people who are not members are left out)."""
    wanted = list(user_ids)
    if not wanted:
        return {}
    rows = session.exec(select(Member).where(Member.team_id == team_id, col(Member.slack_user_id).in_(wanted)))
    return {member.slack_user_id: member for member in rows}


def save_profile(
    session: Session, *, team_id: str, user_id: str, profile: Profile, consented: bool, now: datetime | None = None
) -> tuple[Member, bool]:
    """Create or update a member from the join form. Returns (member, newly_enrolled)."""
    now = now or utcnow()
    member = get_member(session, team_id=team_id, user_id=user_id)
    if member is None:
        member = Member(team_id=team_id, slack_user_id=user_id, created_at=now, updated_at=now)
    newly_enrolled = member.consented_at is None or member.status in ("invited", "left")
    _apply_profile(member, profile)
    if consented and newly_enrolled:
        member.consented_at = now
        member.status = "active"
        member.left_at = None
        member.paused_until = None
    member.updated_at = now
    session.add(member)
    session.flush()
    return member, newly_enrolled and consented


def _apply_profile(member: Member, profile: Profile) -> None:
    member.career_stage = profile.career_stage
    member.specialty = profile.specialty
    member.department = profile.department
    member.site = profile.site
    member.timezone = profile.timezone
    member.availability = profile.availability
    member.near_peer_role = profile.near_peer_role
    member.mentor_capacity = profile.mentor_capacity
    member.lead_willing = profile.lead_willing
    if profile.country is not None:
        member.country = profile.country
    if profile.display_name:
        member.display_name = profile.display_name


def invite_from_roster(
    session: Session, *, team_id: str, person: Person, email: str, now: datetime | None = None
) -> tuple[Member, bool]:
    """Create or update an invited person from the roster. Returns (member, created).

    Re-importing updates the profile in place and never changes the status of people who
    already joined, paused or left.
    """
    now = now or utcnow()
    member = get_member(session, team_id=team_id, user_id=person.user_id)
    created = member is None
    if member is None:
        member = Member(team_id=team_id, slack_user_id=person.user_id, status="invited", created_at=now, updated_at=now)
    if member.invited_at is None:
        member.invited_at = now
    member.display_name = person.display_name
    member.email = email
    member.career_stage = str(person.career_stage) if person.career_stage else ""
    member.specialty = person.specialty
    member.department = person.department
    member.site = person.site
    member.timezone = person.timezone
    if person.availability:
        member.availability = ";".join(str(w) for w in person.availability)
    member.near_peer_role = person.near_peer_role
    member.mentor_capacity = person.mentor_capacity
    member.supervisor_ids = ";".join(sorted(person.supervisor_ids))
    member.lead_willing = person.lead_willing
    member.updated_at = now
    session.add(member)
    session.flush()
    return member, created


def set_status(
    session: Session, *, member: Member, status: str, paused_until: date | None = None, now: datetime | None = None
) -> Member:
    now = now or utcnow()
    member.status = status
    member.paused_until = paused_until if status == "paused" else None
    if status == "left":
        member.left_at = now
    elif status == "active":
        member.left_at = None
    member.updated_at = now
    session.add(member)
    session.flush()
    return member


def uninvited_pending(session: Session, *, team_id: str) -> list[Member]:
    """Invited people whose invitation DM has not been delivered yet."""
    return list(
        session.exec(
            select(Member)
            .where(Member.team_id == team_id, Member.status == "invited", Member.invitation_sent_at.is_(None))  # type: ignore[union-attr]
            .order_by(Member.id)
        )
    )


def members_with_status(session: Session, *, team_id: str, statuses: Iterable[str]) -> list[Member]:
    return list(
        session.exec(
            select(Member).where(Member.team_id == team_id, Member.status.in_(list(statuses))).order_by(Member.id)  # type: ignore[attr-defined]
        )
    )


def status_counts(session: Session, *, team_id: str) -> dict[str, int]:
    rows = session.exec(
        select(Member.status, func.count()).where(Member.team_id == team_id).group_by(Member.status)
    ).all()
    counts = {status: 0 for status in ("invited", "active", "paused", "left")}
    counts.update({status: count for status, count in rows})
    return counts


def joined_count(session: Session, *, team_id: str) -> int:
    """Everyone who ever joined (consented), however they came: it equals active + paused + left."""
    return session.exec(
        select(func.count()).select_from(Member)
        .where(Member.team_id == team_id, Member.consented_at.is_not(None))  # type: ignore[union-attr]
    ).one()


def participation(session: Session, *, team_id: str) -> tuple[int, int]:
    """(consented, invited) among people invited from the roster."""
    invited = session.exec(
        select(func.count()).select_from(Member).where(Member.team_id == team_id, Member.invited_at.is_not(None))  # type: ignore[union-attr]
    ).one()
    consented = session.exec(
        select(func.count())
        .select_from(Member)
        .where(Member.team_id == team_id, Member.invited_at.is_not(None), Member.consented_at.is_not(None))  # type: ignore[union-attr]
    ).one()
    return consented, invited


def to_person(member: Member) -> Person:
    stage = None
    if member.career_stage:
        try:
            stage = CareerStage.parse(member.career_stage)
        except ValueError:
            stage = None
    try:
        windows = parse_windows(member.availability)
    except ValueError:
        windows = ()
    return Person(
        user_id=member.slack_user_id,
        career_stage=stage,
        display_name=member.display_name,
        specialty=member.specialty,
        department=member.department,
        site=member.site,
        timezone=member.timezone,
        near_peer_role=member.near_peer_role,  # type: ignore[arg-type]
        mentor_capacity=member.mentor_capacity,
        supervisor_ids=frozenset(s for s in member.supervisor_ids.split(";") if s),
        lead_willing=member.lead_willing,
        availability=windows,
    )

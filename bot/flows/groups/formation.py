"""Forming groups from everyone waiting (``compass-bot groups form`` or the admin section of App Home).

The groups are stored and one ``group_setup`` action is scheduled per group; the clock then
sets each group up in Slack (:mod:`bot.flows.groups.channel`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable

from sqlmodel import Session, select

from bot.domain.group_formation import FormationResult, FormationSettings, form_groups
from bot.domain.people import Person
from bot.flows.groups.channel import SETUP_KIND
from bot.runtime.services import Services
from storage import audit, schedule
from storage import groups as store
from storage.db import utcnow
from storage.members import to_person
from storage.models import Group, Workspace


@dataclass
class FormationPlan:
    team_id: str
    settings: FormationSettings
    cohort: str
    people: list[Person]
    result: FormationResult

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.result.to_json(indent=None).encode()).hexdigest()[:16]


def default_cohort(now: datetime) -> str:
    """Groups formed without a cohort name are labelled with the month, e.g. ``March 2026``."""
    return f"{now:%B} {now.year}"


def people_waiting(session: Session, *, team_id: str, default_tz: str) -> list[Person]:
    people = []
    for member in store.unplaced_members(session, team_id=team_id):
        person = to_person(member)
        people.append(person if person.timezone else replace(person, timezone=default_tz))
    return people


def plan_formation(session: Session, *, team_id: str, settings: FormationSettings, cohort: str, default_tz: str) -> FormationPlan:
    people = people_waiting(session, team_id=team_id, default_tz=default_tz)
    return FormationPlan(team_id, settings, cohort, people, form_groups(people, settings, cohort=cohort))


def audience_of(people: Iterable[Person]) -> str:
    """Topic eligibility: ``residents`` or ``attendings`` when everyone is one, else ``all``."""
    stages = {p.career_stage.is_trainee if p.career_stage else None for p in people}
    if stages == {True}:
        return "residents"
    if stages == {False}:
        return "attendings"
    return "all"


def form_and_apply(
    session: Session, services: Services, *, team_id: str, settings: FormationSettings, cohort: str, actor_id: str,
    expected_fingerprint: str | None = None,
) -> tuple[FormationPlan, list[Group] | None]:
    """Form groups from everyone waiting and store them, in the caller's transaction.

    With ``expected_fingerprint`` (an admin approving a preview) nothing is stored when the
    result differs from what they saw; the new plan is returned with ``None``.
    """
    # One formation at a time per workspace: two admins approving at once must not place a person twice.
    session.exec(select(Workspace).where(Workspace.team_id == team_id).with_for_update()).first()
    plan = plan_formation(session, team_id=team_id, settings=settings, cohort=cohort, default_tz=services.settings.compass_timezone)
    if expected_fingerprint is not None and plan.fingerprint != expected_fingerprint:
        return plan, None
    by_id = {p.user_id: p for p in plan.people}
    now = utcnow()
    created = []
    for proposed in plan.result.groups:
        group = store.create_group(
            session,
            team_id=team_id,
            name=proposed.name,
            cohort=cohort,
            mode=settings.mode,
            audience=audience_of(by_id[uid] for uid in proposed.members),
            timezone=proposed.timezone,
            lead_user_id=proposed.lead or "",
            member_ids=proposed.members,
            now=now,
        )
        schedule.schedule(session, key=f"group:{group.id}:setup", kind=SETUP_KIND, due_at=now, team_id=team_id,
                          payload={"group_id": group.id})
        created.append(group)
    audit.record(session, team_id=team_id, actor_id=actor_id, action="groups_formed", groups=len(created),
                 people=len(plan.people), mode=settings.mode, size_min=settings.size_min, size_max=settings.size_max,
                 seed=settings.seed, cohort=cohort)
    return plan, created

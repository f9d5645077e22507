"""The groups' sections of App Home: a member's group, and the admins' overview."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, ButtonElement
from sqlmodel import Session

from bot.domain import group_series as gs
from bot.flows.groups.channel import ACTION_VOLUNTEER
from bot.flows.groups.cycle import next_cycle_buttons
from bot.flows.groups.formation_modal import ACTION_FORM_OPEN
from bot.flows.groups.messaging import session_time
from bot.slack.render import render, section_blocks
from bot.runtime.services import Services
from storage import schedule
from storage import groups as store
from storage.db import utcnow
from storage.models import Group, GroupSession

ADMIN_GROUPS_LISTED = 8


def next_session_of(session: Session, group: Group, now: datetime) -> GroupSession | None:
    rows = store.sessions_of(session, group_id=group.id, cycle=group.cycle)
    upcoming = [r for r in rows if r.status == "scheduled" and r.starts_at > now]
    return min(upcoming, key=lambda r: r.starts_at, default=None)


def home_section(services: Services, session: Session, *, member) -> list:  # noqa: ANN001
    group = store.group_of_member(session, team_id=member.team_id, user_id=member.slack_user_id)
    if group is None:
        return []
    now = utcnow()
    upcoming = next_session_of(session, group, now)
    answer = store.rsvp_of(session, session_id=upcoming.id, user_id=member.slack_user_id) if upcoming else ""
    decide = schedule.get(session, key=gs.cycle_key(group.id, group.cycle, "decide"))
    deciding = decide is not None and decide.status == schedule.PENDING
    text = render(
        "group_home.j2",
        group_name=group.name,
        channel_id=group.channel_id,
        lead_id=group.lead_user_id,
        next_session=session_time(upcoming.starts_at, group.timezone) if upcoming else "",
        answer=answer,
        status=group.status,
        deciding=deciding,
        deadline=session_time(decide.due_at, group.timezone) if deciding else "",
    )
    blocks: list = section_blocks(text)
    if not group.lead_user_id and group.channel_id:
        blocks.append(ActionsBlock(block_id="home_group_lead", elements=[
            ButtonElement(text="I'll lead my group", action_id=ACTION_VOLUNTEER, value=str(group.id)),
        ]))
    if deciding:
        blocks.append(next_cycle_buttons(group))
    return blocks


def group_state(session: Session, group: Group, now: datetime) -> str:
    if group.status == "forming":
        return "setting up its channel"
    if group.status == "scheduling":
        return "choosing a meeting time"
    upcoming = next_session_of(session, group, now)
    if upcoming is None:
        return f"cycle {group.cycle} finishing"
    return f"next session {session_time(upcoming.starts_at, group.timezone)}"


def admin_home_section(services: Services, session: Session, *, team_id: str, user_id: str) -> list:
    now = utcnow()
    groups = store.active_groups(session, team_id=team_id)
    waiting = store.count_unplaced(session, team_id=team_id)
    listed = [
        {"channel_id": g.channel_id, "name": g.name, "members": len(store.member_ids(session, group_id=g.id)),
         "state": group_state(session, g, now)}
        for g in groups[:ADMIN_GROUPS_LISTED]
    ]
    text = render("group_home_admin.j2", active=len(groups), waiting=waiting, groups=listed,
                  more=max(0, len(groups) - ADMIN_GROUPS_LISTED))
    blocks: list = section_blocks(text)
    if waiting:
        blocks.append(ActionsBlock(block_id="admin_groups", elements=[
            ButtonElement(text="Form groups…", action_id=ACTION_FORM_OPEN, value="form"),
        ]))
    return blocks

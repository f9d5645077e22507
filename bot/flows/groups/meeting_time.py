"""Choosing when a group meets: members vote by tapping the offered times (the counts update in the
channel's message), the lead (or an admin) confirms one by tapping it, or types ``/compass schedule DAY HH:MM``.

The series is then stored and scheduled, and the calendar file is uploaded to the channel.
"""

from __future__ import annotations

import logging
from typing import Callable

from slack_sdk import WebClient
from sqlmodel import Session

from bot.domain import group_series as gs
from bot.flows.commands import CommandContext, action_value, who
from bot.flows.groups.calendar_upload import publish_calendar
from bot.flows.groups.channel import refresh_intro, slot_key
from bot.flows.groups.messaging import parse_int, session_time
from bot.flows.groups.permissions import controlled_group, may_control
from bot.flows.groups.series import announcement, set_slot, slot_text
from bot.slack.render import render
from bot.domain.scheduling import LocalSlot, SeriesChangeError, SlotParseError, parse_slot
from bot.runtime.services import Services
from storage import groups as store
from storage.db import session_scope
from storage.meeting_time_votes import toggle_vote
from storage.models import Group

log = logging.getLogger(__name__)


def pick_slot(services: Services, client: WebClient, body: dict, reply: Callable[..., None]) -> None:
    team_id, user_id = who(body)
    parts = action_value(body).split(":")
    group_id = parse_int(parts[0]) if parts else None
    try:
        slot = LocalSlot(int(parts[1]), gs.parse_hhmm(f"{parts[2]}:{parts[3]}"))
    except (IndexError, ValueError):
        log.warning("slot button with a malformed value (%d characters) from %s", len(action_value(body)), user_id)
        reply(render("group_answers.j2", kind="unknown"))
        return
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=group_id or 0)
    if group is None or group.team_id != team_id or group.status not in store.ACTIVE_GROUP_STATUSES:
        reply(render("group_answers.j2", kind="unknown"))
        return
    if group.status == "active":
        reply(render("series_reply.j2", kind="already_scheduled", group_name=group.name, slot=slot_text(group)))
        return
    if not may_control(services, group, user_id):
        vote(services, client, body, group, user_id=user_id, slot=slot, reply=reply)
        return
    if apply_slot(services, client, group=group, slot=slot, actor_id=user_id, reply=reply):
        refresh_intro(services, client, body, group.id)


def vote(services: Services, client: WebClient, body: dict, group: Group, *, user_id: str, slot: LocalSlot,
         reply: Callable[..., None]) -> None:
    """A member's tap on an offered time: a vote (a second tap takes it back); the counts update in place."""
    with session_scope(services.engine) as session:
        if not store.is_member(session, group_id=group.id, user_id=user_id):
            reply(render("group_not_allowed.j2", reason="not_member", what="", lead_id=""))
            return
        voted = toggle_vote(session, group_id=group.id, user_id=user_id, slot=slot_key(slot))
    refresh_intro(services, client, body, group.id)
    reply(render("group_answers.j2", kind="voted" if voted else "unvoted", slot=str(slot), lead_id=group.lead_user_id))


def apply_slot(services: Services, client: WebClient, *, group: Group, slot: LocalSlot, actor_id: str, reply: Callable[..., None]) -> bool:
    """Set or change the meeting time; announce it with the calendar. False (with a reply) if it could not."""
    if not group.channel_id:
        reply(render("series_reply.j2", kind="no_channel", group_name=group.name))
        return False
    first_time = group.status != "active"
    try:
        change = set_slot(services, group_id=group.id, slot=slot, actor_id=actor_id, first_time=first_time)
    except SeriesChangeError as exc:
        reply(render("series_reply.j2", kind="cannot", reason=str(exc)))
        return False
    note = announcement(services, "created" if first_time else "slot_changed", change, actor=actor_id)
    publish_calendar(services, client, group_id=group.id, note=note)
    upcoming = [s for s in gs.taking_place(change.after.sessions) if s.status == "scheduled"]
    first = session_time(upcoming[0].starts_at_utc, group.timezone) if upcoming else ""
    reply(render("series_reply.j2", kind="scheduled", group_name=group.name, slot=slot_text(change.group), first=first))
    return True


def schedule_command(ctx: CommandContext) -> None:
    group = controlled_group(ctx.services, team_id=ctx.team_id, user_id=ctx.user_id, channel_id=ctx.channel_id,
                             what="choose the meeting time", reply=ctx.reply)
    if group is None:
        return
    try:
        slot = parse_slot(" ".join(ctx.args))
    except SlotParseError as exc:
        ctx.reply(render("series_reply.j2", kind="bad_slot", reason=str(exc)))
        return
    apply_slot(ctx.services, ctx.client, group=group, slot=slot, actor_id=ctx.user_id, reply=ctx.reply)

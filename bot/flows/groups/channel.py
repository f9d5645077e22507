"""Setting a new group up in Slack, and its lead.

The clock creates the private channel, invites the members, posts the welcome (asking for
a lead if nobody volunteered) and offers up to three meeting times.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import replace
from typing import Callable, Iterable, Mapping

from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement
from sqlmodel import Session

from bot.runtime.delivery import DeliveryFailed, DropDelivery, ensure_ok
from bot.runtime.quiet import ONLY_USER, awake_recipients
from bot.flows.commands import action_value, who
from bot.flows.click_targets import is_own_post
from bot.flows.directory_changes import account_kind, remove_person, weed_out
from bot.flows.groups.messaging import fan_out, message_blocks, message_location, parse_int, post_with_key
from bot.flows.groups.series import slot_text
from bot.slack.render import check_blocks, fallback_text, render, section_blocks
from bot.domain.meeting_time import vote_slots
from bot.runtime.services import Services
from bot.slack.client import call
from storage import audit
from storage import groups as store
from storage.db import session_scope
from storage.meeting_time_votes import vote_counts
from storage.members import get_member, to_person
from storage.models import Group, ScheduledAction

log = logging.getLogger(__name__)

SETUP_KIND = "group_setup"
READY_KIND = "group_ready"  # "your group is ready", for someone who was in their quiet hours at setup
ACTION_VOLUNTEER = "group_volunteer_lead"
ACTION_PICK_SLOT = "group_pick_slot"
CHANNEL_NAME_MAX = 80
CHANNEL_NAME_ATTEMPTS = 20


def channel_base_name(group: Group) -> str:
    """A Slack channel name for a group: lowercase letters, digits and hyphens, at most 80 characters."""
    ascii_name = unicodedata.normalize("NFKD", group.name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")
    base = f"compass-{slug}" if slug else f"compass-group-{group.id}"
    return base[: CHANNEL_NAME_MAX - 4].rstrip("-")


def channel_names(group: Group) -> Iterable[str]:
    base = channel_base_name(group)
    yield base
    for suffix in range(2, CHANNEL_NAME_ATTEMPTS + 1):
        yield f"{base}-{suffix}"


def create_channel(services: Services, client: WebClient, group: Group) -> str:
    """Create the group's private channel, taking the next free name; the id is stored at once."""
    for name in channel_names(group):
        outcome = call(client, "conversations.create", name=name, is_private=True)
        if outcome.ok:
            channel_id = outcome.data["channel"]["id"]
            with session_scope(services.engine) as session:
                store.set_channel(session, group_id=group.id, channel_id=channel_id)
            log.info("group %s: created channel #%s (%s)", group.id, name, channel_id)
            return channel_id
        if outcome.error == "name_taken":
            continue
        ensure_ok(outcome, "conversations.create")
    raise DeliveryFailed(f"conversations.create: no free channel name after {CHANNEL_NAME_ATTEMPTS} tries")


def invite_members(client: WebClient, *, channel_id: str, user_ids: list[str]) -> None:
    if not user_ids:
        return
    outcome = call(client, "conversations.invite", channel=channel_id, users=",".join(user_ids), force=True)
    if outcome.ok:
        for problem in outcome.data.get("errors") or []:
            if problem.get("error") != "already_in_channel":
                log.warning("channel %s: could not invite %s: %s", channel_id, problem.get("user"), problem.get("error"))
        return
    if outcome.error == "already_in_channel":
        return
    ensure_ok(outcome, "conversations.invite")


def slot_key(slot) -> str:  # noqa: ANN001
    """A weekly slot as stored with votes: ``weekday:HH:MM``."""
    return f"{slot.weekday}:{slot.local_time:%H:%M}"


def intro_message(group: Group, *, member_count: int, candidates: list, votes: Mapping[str, int] | None = None) -> tuple[str, list]:
    """The group's first post: welcome, lead (or a call for one), and the meeting time (or the vote on times).

    It is rendered from the group's current state, so a click on one of its buttons updates it in
    place: a member's tap is a vote (each time shows its count), the lead's tap confirms that time.
    """
    votes = votes or {}
    text, blocks = message_blocks("group_welcome.j2", group_name=group.name, lead_id=group.lead_user_id, member_count=member_count)
    if not group.lead_user_id:
        blocks.append(ActionsBlock(block_id="group_lead", elements=[
            ButtonElement(text="I'll lead", action_id=ACTION_VOLUNTEER, value=str(group.id), style="primary"),
        ]))
    chosen = group.status == "active"
    offered = [] if chosen else candidates
    labels = [render("group_slots.j2", kind="label", slot=str(c.slot), everyone=c.everyone, available=c.available,
                     responded=c.responded, votes=votes.get(slot_key(c.slot), 0)) for c in offered]
    blocks += section_blocks(render("group_slots.j2", candidates=labels, lead_id=group.lead_user_id, tz=group.timezone,
                                    chosen=slot_text(group) if chosen else "", kind="message"))
    if offered:
        blocks.append(ActionsBlock(block_id="group_slots", elements=[
            ButtonElement(text=label, action_id=f"{ACTION_PICK_SLOT}_{index}", value=f"{group.id}:{slot_key(c.slot)}")
            for index, (label, c) in enumerate(zip(labels, offered))
        ]))
    return text, check_blocks(blocks)


def refresh_intro(services: Services, client: WebClient, body: dict, group_id: int) -> None:
    """Re-render the intro message whose button was clicked (best effort: the channel already has the news)."""
    channel, ts = message_location(body)
    if not (channel and ts):
        return
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=group_id)
        if group is None or group.channel_id != channel:
            return
        count = len(store.member_ids(session, group_id=group.id))
        candidates = group_candidates(session, group, services.settings.compass_timezone)
        votes = vote_counts(session, group_id=group.id)
    if not is_own_post(client, channel=channel, ts=ts, key_prefix=f"group:{group.id}:setup"):
        return
    text, blocks = intro_message(group, member_count=count, candidates=candidates, votes=votes)
    call(client, "chat.update", channel=channel, ts=ts, text=text, blocks=blocks)


def group_candidates(session: Session, group: Group, default_tz: str) -> list:
    people = []
    for user_id in store.member_ids(session, group_id=group.id):
        member = get_member(session, team_id=group.team_id, user_id=user_id)
        if member is not None:
            person = to_person(member)
            people.append(person if person.timezone else replace(person, timezone=default_tz))
    return vote_slots(people, group.timezone)


def deliver_setup(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery: channel, invitations, welcome with the choice of meeting time, and a DM to each member.

    Each step can be repeated: the channel id is stored as soon as Slack gives it,
    inviting someone twice is harmless, and the posts carry this action's key.
    """
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=int(payload.get("group_id", 0)))
        if group is None or group.status not in store.ACTIVE_GROUP_STATUSES:
            raise DropDelivery("the group no longer exists")
        members = store.member_ids(session, group_id=group.id)
    # Nobody who is no longer a full member of the workspace (deactivated, a guest, a bot) is invited or leads.
    weed_out(services, client, team_id=group.team_id, user_ids=members, tell_group=False)
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=group.id)
        members = store.member_ids(session, group_id=group.id)
        candidates = group_candidates(session, group, services.settings.compass_timezone)
    channel_id = group.channel_id or create_channel(services, client, group)
    invite_members(client, channel_id=channel_id, user_ids=members)
    text, blocks = intro_message(group, member_count=len(members), candidates=candidates)
    post_with_key(client, channel=channel_id, key=action.key, text=text, blocks=blocks, look_first=action.attempts > 1)
    with session_scope(services.engine) as session:
        store.advance_status(session, group_id=group.id, from_status="forming", to_status="scheduling")
        recipients = store.reachable_member_ids(session, group=group)
    # Whoever is in their quiet hours hears it afterwards, alone (deliver_ready); the channel is not set up twice.
    recipients = awake_recipients(services, action, payload, recipients, deferred_kind=READY_KIND)
    ready = render("group_ready.j2", channel_id=channel_id)
    fan_out(client, action, recipients, lambda user_id: (fallback_text(ready), section_blocks(ready)))


def deliver_ready(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery: "your group is ready" for one member, held back through their quiet hours."""
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=int(payload.get("group_id", 0)))
    if group is None or group.status not in store.ACTIVE_GROUP_STATUSES or not group.channel_id:
        raise DropDelivery("the group no longer exists")
    ready = render("group_ready.j2", channel_id=group.channel_id)
    recipients = awake_recipients(services, action, payload, [str(payload.get(ONLY_USER, ""))])
    fan_out(client, action, recipients, lambda user_id: (fallback_text(ready), section_blocks(ready)))


def volunteer(services: Services, client: WebClient, body: dict, reply: Callable[..., None]) -> None:
    team_id, user_id = who(body)
    group_id = parse_int(action_value(body))
    kind = account_kind(client, user_id)
    if kind is not None:  # no longer a full member of the workspace (and Slack's user_change never reached us)
        remove_person(services, client, team_id=team_id, user_id=user_id)
        reply(render("user_kind.j2", kind=kind))
        return
    with session_scope(services.engine) as session:
        group = store.get_group(session, group_id=group_id or 0)
        if group is None or group.status not in store.ACTIVE_GROUP_STATUSES or group.team_id != team_id:
            reply(render("group_answers.j2", kind="unknown"))
            return
        if not store.is_member(session, group_id=group.id, user_id=user_id):
            reply(render("group_not_allowed.j2", reason="not_member", what="", lead_id=""))
            return
        took = store.set_lead_if_none(session, group_id=group.id, user_id=user_id)
        if took:
            audit.record(session, team_id=team_id, actor_id=user_id, action="group_lead_volunteered", subject_id=user_id, group_id=group.id)
        session.refresh(group)
    if not took:
        reply(render("group_lead.j2", kind="taken", lead_id=group.lead_user_id, group_name=group.name))
        return
    thanks = render("group_lead.j2", kind="thanks", lead_id=user_id, group_name=group.name)
    call(client, "chat.postMessage", channel=group.channel_id, text=thanks)
    refresh_intro(services, client, body, group.id)
    reply(render("group_lead.j2", kind="guide", lead_id=user_id, group_name=group.name))

"""What publishing a round delivers: each pair's introduction in a group DM, and a kind note to everyone
not matched. An introduction Slack refuses for good is reported to the admins."""

from __future__ import annotations

from slack_sdk import WebClient
from sqlmodel import Session

from bot.domain.people import CareerStage
from bot.flows.directory_changes import weed_out
from bot.flows.home import publish_home
from bot.flows.pairing.pair_members import load_pair_and_members
from bot.flows.pairing.pausing_and_ending import end_if_someone_left
from bot.flows.pairing.suggest_times import suggest_button
from bot.runtime.delivery import DeliveryFailed, DropDelivery, ensure_ok, post_once
from bot.runtime.quiet import awake_recipients, held_for_everyone
from bot.runtime.services import Services
from bot.slack.client import call
from bot.slack.render import check_blocks, fallback_text, render, render_sections, section_blocks
from storage import pairing as store
from storage import schedule
from storage.db import session_scope, utcnow
from storage.members import get_member
from storage.models import Member, PairingRound, ScheduledAction
from storage.roles import admin_user_ids


def about(member: Member) -> str:
    """Career stage, specialty and site, as a person reads them."""
    stage = member.career_stage
    try:
        stage = CareerStage.parse(stage).label() if stage else ""
    except ValueError:
        pass
    parts = [part for part in (stage, member.specialty, member.site) if part]
    return " · ".join(parts) if parts else "details not on file yet"


def deliver_intro(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    pair, members = load_pair_and_members(services, action, payload)
    if pair.status == "ended":
        raise DropDelivery("the pairing ended before its introduction")
    # Someone no longer a full member of the workspace is never paired; the partner hears only that it ended.
    if weed_out(services, client, team_id=pair.team_id, user_ids=(pair.mentee_id, pair.mentor_id)):
        raise DropDelivery("someone in the pair is no longer a full member of the workspace; the pairing ended")
    with session_scope(services.engine) as session:
        stored = store.get_pair(session, pair_id=pair.id)
        ended = stored is not None and end_if_someone_left(session, pair=stored, members=members, now=utcnow())
    if ended:
        raise DropDelivery("someone in the pair left Compass; the pairing ended")
    # One message both read: it waits until neither is in their quiet hours.
    if held_for_everyone(services, action, payload, (pair.mentee_id, pair.mentor_id)):
        raise DropDelivery("held until the end of the pair's quiet hours")
    opened = ensure_ok(call(client, "conversations.open", users=f"{pair.mentee_id},{pair.mentor_id}"), "conversations.open")
    channel_id = opened["channel"]["id"]
    parts = render_sections("pair_intro.j2", mentee=pair.mentee_id, mentor=pair.mentor_id, reasons=store.reasons_of(pair),
                            mentee_about=about(members[pair.mentee_id]), mentor_about=about(members[pair.mentor_id]))
    blocks = [block for part in parts[:1] for block in section_blocks(part)] + [suggest_button(pair.id)]
    blocks += [block for part in parts[1:] for block in section_blocks(part)]
    post_once(client, action, channel=channel_id, text=fallback_text(parts[0]), blocks=check_blocks(blocks))
    with session_scope(services.engine) as session:
        stored = store.get_pair(session, pair_id=pair.id)
        if stored is not None and stored.dm_channel_id != channel_id:
            stored.dm_channel_id = channel_id
            session.add(stored)
    for user_id in (pair.mentee_id, pair.mentor_id):
        publish_home(services, client, team_id=pair.team_id, user_id=user_id)


def deliver_unmatched(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    user_id = payload.get("user")
    if not isinstance(user_id, str):
        raise DeliveryFailed(f"malformed payload: {payload!r}")
    with Session(services.engine) as session:
        member = get_member(session, team_id=action.team_id, user_id=user_id)
    if member is None or member.status != "active":
        raise DropDelivery("the person is not active in Compass")
    if not awake_recipients(services, action, payload, [user_id]):
        raise DropDelivery("held until the end of the person's quiet hours")
    text = render("pair_unmatched.j2", role=payload.get("role", "mentee"), code=payload.get("code", ""),
                  reason=payload.get("reason", ""))
    post_once(client, action, channel=user_id, text=fallback_text(text), blocks=check_blocks(section_blocks(text)))


def on_intro_failed(services: Services, action: ScheduledAction, error: str) -> None:
    """An introduction Slack refused for good: the admins hear about it, so they can introduce the pair."""
    payload = schedule.payload_of(action)
    with Session(services.engine) as session:
        pair = store.get_pair(session, pair_id=payload.get("pair_id") or 0)
        round_ = session.get(PairingRound, pair.round_id) if pair else None
        admins = admin_user_ids(session, team_id=action.team_id, configured=services.settings.admin_ids)
    text = render("pair_admin.j2", kind="intro_failed", mentee=payload.get("mentee", ""), mentor=payload.get("mentor", ""),
                  number=round_.number if round_ else "?", error=error.split(":")[-1].strip()[:80])
    client = services.clients.for_team(action.team_id)
    for admin_id in admins:
        call(client, "chat.postMessage", channel=admin_id, text=text)

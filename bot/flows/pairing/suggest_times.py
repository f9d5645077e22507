""""Suggest times" in a pair's introduction: three slots from both people's availability, each with a
button that posts it to the pair's conversation. The bot holds both people's weekly windows, so the
mentee need not guess at times; the slots are at least a day ahead, within two weeks, one a day,
outside both people's quiet hours, and shown with Slack's date token (each reader's own zone)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock
from sqlmodel import Session

from bot.domain.availability import Availability, common_slots, parse_windows
from bot.domain.quiet_hours import QuietHours, zone
from bot.flows.commands import action_value, who
from bot.flows.pairing.button_clicks import parse_ints
from bot.flows.pairing.pair_members import partner_of
from bot.runtime.services import Services
from bot.slack.client import call
from bot.slack.render import check_blocks, fallback_text, reader_time, render, section_blocks
from storage import pairing as store
from storage.db import utcnow
from storage.models import Member, Pair

log = logging.getLogger(__name__)

ACTION_SUGGEST = "pair_suggest_times"
ACTION_POST = "pair_post_time"
NOTICE = timedelta(hours=24)  # a suggestion leaves a day to answer it
SEARCH_DAYS = 14
MEETING = timedelta(minutes=30)
SLOTS = 3


def suggest_button(pair_id: int) -> ActionsBlock:
    return ActionsBlock(block_id=f"pair_times_{pair_id}", elements=[
        ButtonElement(text="Suggest times", action_id=ACTION_SUGGEST, value=str(pair_id), style="primary"),
    ])


def availability_of(member: Member, fallback_tz: str) -> Availability:
    try:
        windows = parse_windows(member.availability)
    except ValueError:
        windows = ()
    return Availability(windows, member.timezone or fallback_tz)


def slots_for(pair: Pair, members: dict[str, Member], *, now: datetime, fallback_tz: str) -> list[datetime]:
    people = [members[u] for u in (pair.mentee_id, pair.mentor_id) if u in members]
    awake = [(QuietHours.parse(m.quiet_start, m.quiet_end), zone(m.timezone, fallback_tz)) for m in people]

    def outside_quiet_hours(start: datetime) -> bool:
        return not any(hours.contains(start.astimezone(place).time()) or hours.contains((start + MEETING).astimezone(place).time())
                       for hours, place in awake)

    return common_slots([availability_of(m, fallback_tz) for m in people], after=now + NOTICE, days=SEARCH_DAYS,
                        count=SLOTS, length=MEETING, fits=outside_quiet_hours,
                        day_zone=people[0].timezone or fallback_tz if people else fallback_tz)


def local_text(moment: datetime, tz_name: str) -> str:
    """The fallback of a time shown with Slack's token: ``Tue 13 Jan, 12:00 CST`` in the reader's zone."""
    local = moment.astimezone(zone(tz_name))
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M %Z}"


def _load(services: Services, body: dict) -> tuple[Pair | None, dict[str, Member], str, str]:
    """(pair, its members, who clicked, what went wrong: "" when the click may proceed)."""
    team_id, user_id = who(body)
    parsed = parse_ints(action_value(body), 1) or parse_ints(action_value(body), 2)
    if parsed is None:
        log.warning("suggest-times click with an unreadable value (%d characters)", len(action_value(body)))
        return None, {}, user_id, "unreadable"
    with Session(services.engine) as session:
        pair = store.get_pair(session, pair_id=parsed[0], team_id=team_id)
        members = store.members_by_id(session, team_id=team_id, user_ids=(pair.mentee_id, pair.mentor_id)) if pair else {}
    if pair is None or user_id not in (pair.mentee_id, pair.mentor_id):
        return None, {}, user_id, "not_yours"
    if pair.status == "ended":
        return pair, members, user_id, "ended"
    return pair, members, user_id, ""


def on_suggest(services: Services, client: WebClient, body: dict, respond) -> None:  # noqa: ANN001
    """Offer the clicker (only them: an ephemeral answer) three slots, each with a button posting it."""
    pair, members, user_id, problem = _load(services, body)
    if problem:
        respond(text=render("pair_times.j2", kind=problem), response_type="ephemeral", replace_original=False)
        return
    fallback_tz = services.settings.compass_timezone
    slots = slots_for(pair, members, now=utcnow(), fallback_tz=fallback_tz)
    partner = partner_of(pair, user_id)
    if not slots:
        respond(text=render("pair_times.j2", kind="none", partner=partner), response_type="ephemeral", replace_original=False)
        return
    reader_tz = members[user_id].timezone if user_id in members else fallback_tz
    text = render("pair_times.j2", kind="offer", partner=partner)
    blocks: list = section_blocks(text)
    for slot in slots:
        blocks.append(SectionBlock(
            text=MarkdownTextObject(text=reader_time(slot, local_text(slot, reader_tz))),
            accessory=ButtonElement(text="Post this time", action_id=ACTION_POST, value=f"{pair.id}:{int(slot.timestamp())}")))
    respond(text=fallback_text(text), blocks=check_blocks(blocks), response_type="ephemeral", replace_original=False)


def on_post(services: Services, client: WebClient, body: dict, respond) -> None:  # noqa: ANN001
    """Post the chosen slot to the pair's conversation, where both see it; the offer says it went."""
    pair, members, user_id, problem = _load(services, body)
    parsed = parse_ints(action_value(body), 2)
    if not problem and parsed is None:
        problem = "unreadable"
    if problem:
        respond(text=render("pair_times.j2", kind=problem), response_type="ephemeral", replace_original=False)
        return
    slot = datetime.fromtimestamp(parsed[1], timezone.utc)
    if slot <= utcnow():
        respond(text=render("pair_times.j2", kind="past"), response_type="ephemeral", replace_original=True)
        return
    poster_tz = members[user_id].timezone if user_id in members else services.settings.compass_timezone
    when = reader_time(slot, local_text(slot, poster_tz))
    channel = pair.dm_channel_id
    if not channel:
        opened = call(client, "conversations.open", users=f"{pair.mentee_id},{pair.mentor_id}")
        if not opened.ok:
            respond(text=opened.friendly, response_type="ephemeral", replace_original=False)
            return
        channel = opened.data["channel"]["id"]
    text = render("pair_times.j2", kind="posted", user=user_id, partner=partner_of(pair, user_id), when=when)
    posted = call(client, "chat.postMessage", channel=channel, text=fallback_text(text), blocks=check_blocks(section_blocks(text)))
    if not posted.ok:
        respond(text=posted.friendly, response_type="ephemeral", replace_original=False)
        return
    respond(text=render("pair_times.j2", kind="done", when=when), response_type="ephemeral", replace_original=True)

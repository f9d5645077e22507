"""People whose Slack account stops being a full member's: deactivated, made a guest, or a bot.

Slack tells the app with the ``user_change`` event; group setup and pair introductions also ask
``users.info`` before they bring people together. Such a person is taken out of Compass (status
``left``), out of their group (and its lead role) and out of their pairings. Their group is told
that they are no longer part of it, their partner that the pairing ended; never why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot.runtime.services import Services
from bot.slack.client import call
from bot.slack.render import check_blocks, fallback_text, render, section_blocks
from bot.slack.tenancy import program_key
from bot.slack.user_kinds import ineligible_kind
from storage import audit
from storage import groups as group_store
from storage import pairing as pair_store
from storage.db import session_scope, utcnow
from storage.members import get_member, set_status

log = logging.getLogger(__name__)


def register(app: App, services: Services, router) -> None:  # noqa: ANN001
    @app.event("user_change")
    def on_user_change(body, event, client):  # noqa: ANN001
        user = event.get("user")
        if not isinstance(user, dict) or ineligible_kind(user) is None or not isinstance(user.get("id"), str):
            return
        remove_person(services, client, team_id=program_key(body), user_id=user["id"])


@dataclass
class Removal:
    group_id: int = 0
    group_name: str = ""
    channel_id: str = ""
    was_lead: bool = False
    pairs_ended: int = 0


def remove_person(services: Services, client: WebClient, *, team_id: str, user_id: str, tell_group: bool = True) -> Removal | None:
    """Take someone who is no longer a full member out of Compass, their group and their pairings.

    Repeating it (a retried event, a second check) changes and tells nothing more. None when
    Compass holds nothing about the person.
    """
    from bot.flows.pairing.pausing_and_ending import end_pair  # group setup and pairing ask this module about people

    now = utcnow()
    with session_scope(services.engine) as session:
        member = get_member(session, team_id=team_id, user_id=user_id)
        if member is None:
            return None
        removal = Removal()
        changed = member.status != "left"
        if changed:
            set_status(session, member=member, status="left", now=now)
        group = group_store.group_of_member(session, team_id=team_id, user_id=user_id)
        if group is not None:
            group_store.release_members(session, group_id=group.id, user_ids=[user_id], now=now)
            removal.group_id, removal.group_name, removal.channel_id = group.id, group.name, group.channel_id
            removal.was_lead = group_store.clear_lead(session, group_id=group.id, user_id=user_id, now=now)
        for pair in pair_store.pairs_of_member(session, team_id=team_id, user_id=user_id):
            end_pair(session, pair=pair, actor_id="system", now=now)  # the partner is told only that it ended
            removal.pairs_ended += 1
        if changed or group is not None or removal.pairs_ended:
            audit.record(session, team_id=team_id, actor_id="system", action="member_deactivated", subject_id=user_id,
                         group_id=removal.group_id or None, pairs=removal.pairs_ended)
    if tell_group and removal.channel_id:
        _tell_group(client, removal, user_id)
    return removal


def _tell_group(client: WebClient, removal: Removal, user_id: str) -> None:
    from bot.flows.groups.channel import ACTION_VOLUNTEER  # (imported late: group setup imports this module)

    kind = "group_lead_gone" if removal.was_lead else "group_member_gone"
    text = render("user_kind.j2", kind=kind, user_id=user_id, group_name=removal.group_name)
    blocks = section_blocks(text)
    if removal.was_lead:
        blocks.append(ActionsBlock(block_id="group_lead", elements=[
            ButtonElement(text="I'll lead", action_id=ACTION_VOLUNTEER, value=str(removal.group_id), style="primary"),
        ]))
    call(client, "chat.postMessage", channel=removal.channel_id, text=fallback_text(text), blocks=check_blocks(blocks))


def account_kind(client: WebClient, user_id: str) -> str | None:
    """What users.info says of the person: ``deleted``, ``bot``, ``guest``, or None (a full member, or Slack did not say)."""
    info = call(client, "users.info", user=user_id)
    return ineligible_kind(info.data.get("user")) if info.ok else None


def weed_out(services: Services, client: WebClient, *, team_id: str, user_ids: Iterable[str], tell_group: bool = True) -> set[str]:
    """Ask Slack about each person; those no longer full members are removed. Returns who was removed."""
    removed = set()
    for user_id in user_ids:
        if account_kind(client, user_id) is not None:
            remove_person(services, client, team_id=team_id, user_id=user_id, tell_group=tell_group)
            removed.add(user_id)
    if removed:
        log.info("%d person(s) are no longer full members of %s and were taken out of Compass", len(removed), team_id)
    return removed

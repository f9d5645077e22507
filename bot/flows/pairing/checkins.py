"""Check-ins: "did you meet?" 14 days after the start, then every 4 weeks; a week after each, a reminder
to pairs who have never met; and the answers. Three unanswered check-ins in a row pause a pairing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable

from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject

from bot.flows.commands import action_value, who
from bot.flows.home import publish_home
from bot.flows.pairing.button_clicks import parse_ints
from bot.flows.pairing.pair_members import load_pair_and_members, partner_of, role_in
from bot.flows.pairing.pausing_and_ending import end_for, end_if_someone_left, pause_pair
from bot.flows.pairing.scheduling import (
    CHECKIN_EVERY,
    REMINDER_AFTER,
    REMINDER_KIND,
    SILENCE_LIMIT,
    pair_payload,
    reminder_key,
    schedule_checkin,
)
from bot.runtime.delivery import HISTORY_WINDOW, METADATA_EVENT, DeliveryFailed, DropDelivery, RetryLater, ensure_ok, find_delivered
from bot.runtime.quiet import ONLY_USER, awake_recipients, is_deferred_copy
from bot.runtime.services import Services
from bot.slack.client import call
from bot.slack.render import check_blocks, fallback_text, render, section_blocks
from storage import pairing as store
from storage import schedule
from storage.db import session_scope, utcnow
from storage.models import Pair, ScheduledAction

log = logging.getLogger(__name__)

ACTION_CHECKIN = {"met": "pair_checkin_met", "not_yet": "pair_checkin_not_yet", "end": "pair_checkin_end"}


def post_keyed(client: WebClient, action: ScheduledAction, *, channel: str, key: str, text: str, blocks: list) -> dict:
    """:func:`bot.runtime.delivery.post_once` for an action that posts more than one message (one per person)."""
    if action.attempts > 1:
        found = find_delivered(client, channel=channel, key=key, since=action.due_at - HISTORY_WINDOW)
        if found is not None:
            log.info("delivery %s was already posted; not posting again", key)
            return found
    outcome = call(client, "chat.postMessage", channel=channel, text=text, blocks=blocks,
                   metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}})
    return ensure_ok(outcome, "chat.postMessage")


@dataclass
class Fanout:
    """Who a per-person delivery reached, and the failures of the rest."""

    reached: list[str] = field(default_factory=list)
    passing: list[str] = field(default_factory=list)
    permanent: list[str] = field(default_factory=list)

    def settle(self) -> None:
        """Passing failures are retried (the retry finds the DMs already sent); if nobody could be
        reached for good, the delivery fails. Someone Slack refuses for good is only logged."""
        if self.passing:
            raise RetryLater(f"{len(self.passing)} DM(s) to retry: {self.passing[0]}")
        if self.permanent and not self.reached:
            raise DeliveryFailed(self.permanent[0])


def dm_each(client: WebClient, action: ScheduledAction, messages: dict[str, tuple[str, list]]) -> Fanout:
    """DM each person their message, once whatever happened on an earlier attempt."""
    fanout = Fanout()
    for user_id, (text, blocks) in messages.items():
        try:
            post_keyed(client, action, channel=user_id, key=f"{action.key}:{user_id}", text=text, blocks=check_blocks(blocks))
            fanout.reached.append(user_id)
        except RetryLater as exc:
            fanout.passing.append(str(exc))
        except DeliveryFailed as exc:
            log.warning("%s: could not DM %s: %s", action.key, user_id, exc)
            fanout.permanent.append(str(exc))
    return fanout


def checkin_message(pair: Pair, user_id: str, number: int) -> tuple[str, list]:
    text = render("pair_checkin.j2", kind="question", partner=partner_of(pair, user_id), number=number,
                  role=role_in(pair, user_id), met=pair.met)
    value = f"{pair.id}:{number}"
    confirm = ConfirmObject(title="End this pairing?", text=render("pair_checkin.j2", kind="confirm_end"),
                            confirm="End it", deny="Keep it", style="danger")
    blocks: list = section_blocks(text)
    blocks.append(ActionsBlock(block_id=f"pair_checkin_{pair.id}_{number}", elements=[
        ButtonElement(text="Yes, we met", action_id=ACTION_CHECKIN["met"], value=value, style="primary"),
        ButtonElement(text="Not yet", action_id=ACTION_CHECKIN["not_yet"], value=value),
        ButtonElement(text="End this pairing", action_id=ACTION_CHECKIN["end"], value=value, style="danger", confirm=confirm),
    ]))
    return fallback_text(text), blocks


def deliver_checkin(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """"Did you meet?" to each person, or a pause after three silences in a row."""
    number = payload.get("number")
    if not isinstance(number, int) or number < 1:
        raise DeliveryFailed(f"malformed payload: {payload!r}")
    pair, members = load_pair_and_members(services, action, payload)
    if pair.status != "active":
        raise DropDelivery(f"the pairing is {pair.status}")
    if is_deferred_copy(payload):  # the original scheduled what comes next; this copy only asks its one person
        recipients = [u for u in awake_recipients(services, action, payload, [payload[ONLY_USER]])
                      if u in members and members[u].status == "active"]
        fanout = dm_each(client, action, {user_id: checkin_message(pair, user_id, number) for user_id in recipients})
        record_sent(services, pair, fanout.reached, number)
        fanout.settle()
        return
    now = utcnow()
    with session_scope(services.engine) as session:
        stored = store.get_pair(session, pair_id=pair.id)
        if stored is None or stored.status != "active":
            raise DropDelivery("the pairing changed meanwhile")
        if end_if_someone_left(session, pair=stored, members=members, now=now):
            return
        silent = [u for u in (pair.mentee_id, pair.mentor_id)
                  if store.silent_streak(session, pair_id=pair.id, user_id=u) >= SILENCE_LIMIT]
        if silent:
            pause_pair(session, pair=stored, silent=silent, now=now)
            return
        # Scheduled before posting, so that a Slack failure cannot end the series; the keys make it idempotent.
        schedule_checkin(session, pair=stored, number=number + 1, due=action.due_at + CHECKIN_EVERY)
        if not stored.met:
            schedule.schedule(session, key=reminder_key(pair.id, number), kind=REMINDER_KIND,
                              due_at=action.due_at + REMINDER_AFTER, team_id=pair.team_id,
                              subject_user_id=pair.mentee_id, payload=pair_payload(pair, number=number))
    # Someone on a break (paused in Compass) gets no check-in, and none is counted against them; someone in
    # their quiet hours gets it when they end. (Moving check-ins away from sessions, as follow-ups are, piled a
    # mentor's staggered check-ins and nudges onto one moment in the demo's record: they keep their cadence.)
    active = [u for u in (pair.mentee_id, pair.mentor_id) if members[u].status == "active"]
    recipients = awake_recipients(services, action, payload, active)
    fanout = dm_each(client, action, {user_id: checkin_message(pair, user_id, number) for user_id in recipients})
    record_sent(services, pair, fanout.reached, number)
    fanout.settle()


def record_sent(services: Services, pair: Pair, user_ids: Iterable[str], number: int) -> None:
    with session_scope(services.engine) as session:
        for user_id in user_ids:
            store.record_checkin_sent(session, pair_id=pair.id, user_id=user_id, number=number)


def deliver_reminder(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """A nudge a week after a check-in, only to pairs who have never met."""
    pair, members = load_pair_and_members(services, action, payload)
    if pair.status != "active":
        raise DropDelivery(f"the pairing is {pair.status}")
    if pair.met:
        raise DropDelivery("the pair has met")
    active = [u for u in (pair.mentee_id, pair.mentor_id) if u in members and members[u].status == "active"]
    recipients = awake_recipients(services, action, payload, active)
    messages = {}
    for user_id in recipients:
        text = render("pair_reminder.j2", role=role_in(pair, user_id), partner=partner_of(pair, user_id))
        messages[user_id] = (fallback_text(text), section_blocks(text))
    dm_each(client, action, messages).settle()


def answer_checkin(services: Services, client: WebClient, body: dict, answer: str, respond) -> None:  # noqa: ANN001
    team_id, user_id = who(body)
    parsed = parse_ints(action_value(body), 2)
    if parsed is None:
        log.warning("check-in answer with an unreadable value (%d characters) from %s", len(action_value(body)), user_id)
        respond(text=render("pair_checkin.j2", kind="unreadable"), response_type="ephemeral", replace_original=False)
        return
    pair_id, number = parsed
    if answer == "end":
        change = end_for(services, team_id=team_id, user_id=user_id, pair_id=pair_id)
        respond(text=render("pair_note.j2", note=change.note, partner=change.partner), replace_original=change.note != "not_found")
        publish_home(services, client, team_id=team_id, user_id=user_id)
        return
    with session_scope(services.engine) as session:
        pair = store.get_pair(session, pair_id=pair_id, team_id=team_id)
        if pair is None or user_id not in (pair.mentee_id, pair.mentor_id):
            kind, partner, role = ("not_yours" if pair is not None else "ended"), "", ""
        elif pair.status == "ended":
            kind, partner, role = "ended", partner_of(pair, user_id), role_in(pair, user_id)
        else:
            store.answer_checkin(session, pair=pair, user_id=user_id, number=number, answer=answer)
            kind = "paused" if pair.status == "paused" else answer
            partner, role = partner_of(pair, user_id), role_in(pair, user_id)
    text = render("pair_checkin.j2", kind=kind, partner=partner, role=role, number=number, met=False)
    respond(text=text, replace_original=kind != "not_yours")
    if kind in ("met", "not_yet", "paused"):
        publish_home(services, client, team_id=team_id, user_id=user_id)

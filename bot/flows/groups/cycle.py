"""The end of a cycle: each member chooses to stay or switch, and the group continues if enough stay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement
from sqlmodel import Session

from bot.domain import group_series as gs
from bot.runtime.delivery import DropDelivery
from bot.flows.commands import action_value, who
from bot.flows.groups.calendar_upload import queue_calendar
from bot.flows.click_targets import is_own_post
from bot.flows.groups.messaging import fan_out, message_location, parse_int, post_with_key
from bot.flows.groups.series import announcement, set_slot, slot_text, slots_of
from bot.domain.group_formation import ALLOWED_SIZE_MIN
from bot.slack.render import check_blocks, context_block, fallback_text, render, section_blocks
from bot.domain.scheduling import LocalSlot
from bot.runtime.quiet import awake_recipients, is_deferred_copy
from bot.runtime.services import Services
from bot.slack.client import call
from storage import audit, schedule
from storage import groups as store
from storage.db import session_scope
from storage.members import get_member
from storage.models import Group, ScheduledAction

CYCLE_DECIDE_KIND = "group_cycle_decide"
ACTION_STAY = "group_next_cycle_stay"
ACTION_SWITCH = "group_next_cycle_switch"
DECISION_WINDOW = timedelta(days=7)


def decision_deadline(action_due: datetime) -> datetime:
    return action_due + DECISION_WINDOW


def next_cycle_buttons(group: Group) -> ActionsBlock:
    value = f"{group.id}:{group.cycle}"
    return ActionsBlock(block_id="group_next_cycle", elements=[
        ButtonElement(text="Stay with this group", action_id=ACTION_STAY, value=value, style="primary"),
        ButtonElement(text="Switch to a new group", action_id=ACTION_SWITCH, value=value),
    ])


def deliver_cycle_end(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery, the day after the last session: thanks in the channel, and stay-or-switch to each member."""
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=int(payload.get("group_id", 0)))
        if group is None or group.status != "active" or group.cycle != payload.get("cycle"):
            raise DropDelivery("the group or its cycle has changed")
        rows = store.sessions_of(session, group_id=group.id, cycle=group.cycle)
        recipients = store.reachable_member_ids(session, group=group)
    total = len(gs.taking_place(slots_of(rows)))
    first_due = datetime.fromisoformat(payload["due"]) if isinstance(payload.get("due"), str) else action.due_at
    deadline = decision_deadline(first_due)
    if not is_deferred_copy(payload):  # a copy held for someone's quiet hours only DMs its one person
        with session_scope(services.engine) as session:
            schedule.schedule(session, key=gs.cycle_key(group.id, group.cycle, "decide"), kind=CYCLE_DECIDE_KIND,
                              due_at=deadline, team_id=group.team_id, payload={"group_id": group.id, "cycle": group.cycle})
        post_with_key(client, channel=group.channel_id, key=action.key, text=render("group_cycle.j2", kind="thanks", total=total),
                      look_first=action.attempts > 1)
    recipients = awake_recipients(services, action, {**payload, "due": action.due_at.isoformat()}, recipients)
    deadline_text = gs.local_text(deadline, group.timezone)

    def question(user_id: str) -> tuple[str, list]:
        text = render("group_cycle.j2", kind="question", group_name=group.name, deadline=deadline_text)
        return fallback_text(text), section_blocks(text) + [next_cycle_buttons(group)]

    fan_out(client, action, recipients, question)


def choose_next_cycle(services: Services, client: WebClient, body: dict, choice: str, reply: Callable[..., None]) -> None:
    team_id, user_id = who(body)
    parts = action_value(body).split(":")
    group_id, cycle = (parse_int(parts[0]), parse_int(parts[1])) if len(parts) == 2 else (None, None)
    with session_scope(services.engine) as session:
        group = store.get_group(session, group_id=group_id or 0)
        decide = schedule.get(session, key=gs.cycle_key(group_id or 0, cycle or 0, "decide"))
        if group is None or group.team_id != team_id or group.cycle != cycle or decide is None:
            reply(render("group_answers.j2", kind="unknown"))
            return
        if decide.status != schedule.PENDING:
            reply(render("group_answers.j2", kind="too_late"))
            return
        if not store.set_next_cycle(session, group_id=group.id, user_id=user_id, choice=choice):
            reply(render("group_not_allowed.j2", reason="not_member", what="", lead_id=""))
            return
        audit.record(session, team_id=team_id, actor_id=user_id, action="next_cycle_chosen", subject_id=user_id,
                     group_id=group.id, choice=choice)
    text = render("group_answers.j2", kind=choice, group_name=group.name, deadline=gs.local_text(decide.due_at, group.timezone))
    channel, ts = message_location(body)
    question = render("group_cycle.j2", kind="question", group_name=group.name, deadline=gs.local_text(decide.due_at, group.timezone))
    blocks = check_blocks(section_blocks(question) + [next_cycle_buttons(group), context_block(text)])
    own = is_own_post(client, channel=channel, ts=ts, key_prefix=gs.cycle_key(group.id, cycle or 0, ""), dm_of=user_id)
    if not (own and call(client, "chat.update", channel=channel, ts=ts, text=fallback_text(text), blocks=blocks).ok):
        reply(text)


@dataclass
class CycleDecision:
    group: Group
    continues: bool
    staying: list[str]
    freed: list[str]  # people who leave the group and wait for the next formation


def decide_next_cycle(services: Services, *, group_id: int, cycle: int, decided_at: datetime) -> CycleDecision:
    """Close the stay-or-switch choice, once: a retry reads back what was decided."""
    with session_scope(services.engine) as session:
        group = store.get_group(session, group_id=group_id, for_update=True)
        if group is None or group.cycle not in (cycle, cycle + 1) or group.status not in ("active", "completed"):
            raise DropDelivery("the group or its cycle has changed")
        if group.cycle == cycle and group.status == "active":
            members = store.group_members(session, group_id=group.id)
            reachable = set(store.reachable_member_ids(session, group=group))
            staying = [m.slack_user_id for m in members if m.next_cycle != "switch" and m.slack_user_id in reachable]
            continues = len(staying) >= ALLOWED_SIZE_MIN
            leaving = [m.slack_user_id for m in members if not continues or m.slack_user_id not in staying]
            store.release_members(session, group_id=group.id, user_ids=leaving, now=decided_at)
            store.reset_next_cycle(session, group_id=group.id)
            if continues:
                group.cycle += 1
            else:
                group.status = "completed"
            store.touch(session, group=group, now=decided_at)
            audit.record(session, team_id=group.team_id, actor_id="system", action="group_cycle_decided", group_id=group.id,
                         cycle=cycle, staying=len(staying), leaving=len(leaving), continues=continues)
        continues = group.status == "active"
        staying = store.member_ids(session, group_id=group.id) if continues else []
        freed = store.released_at(session, group_id=group.id, since=decided_at)
    return CycleDecision(group, continues, staying, freed)


def deliver_cycle_decide(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery, when the choice closes: switchers leave; the group continues if enough stay.

    Every step can be repeated safely: the decision is stored once, the new series is
    planned only if missing, posts carry their key and the calendar is a keyed action.
    """
    decision = decide_next_cycle(services, group_id=int(payload.get("group_id", 0)), cycle=int(payload.get("cycle", 0)),
                                 decided_at=action.due_at)
    group = decision.group
    look_first = action.attempts > 1
    if decision.continues:
        with Session(services.engine) as session:
            planned = bool(store.sessions_of(session, group_id=group.id, cycle=group.cycle))
        if not planned:
            slot = LocalSlot(group.weekday or 0, gs.parse_hhmm(group.local_time or "18:00"))
            change = set_slot(services, group_id=group.id, slot=slot, actor_id="system")
            queue_calendar(services, change, note=announcement(services, "cycle", change))
        text = render("group_cycle.j2", kind="continue", group_name=group.name, staying=len(decision.staying),
                      leaving=len(decision.freed), cycle=group.cycle, slot=slot_text(group), tz=group.timezone)
    else:
        text = render("group_cycle.j2", kind="ended", group_name=group.name)
    post_with_key(client, channel=group.channel_id, key=action.key, text=text, look_first=look_first)
    freed_text = render("group_cycle.j2", kind="freed", group_name=group.name)
    with Session(services.engine) as session:
        active = {m.slack_user_id for m in members_in_compass(session, group.team_id, decision.freed)}
    fan_out(client, action, [u for u in decision.freed if u in active],
            lambda user_id: (fallback_text(freed_text), section_blocks(freed_text)))


def members_in_compass(session: Session, team_id: str, user_ids: Iterable[str]) -> list:
    members = [get_member(session, team_id=team_id, user_id=u) for u in user_ids]
    return [m for m in members if m is not None and m.status == "active"]

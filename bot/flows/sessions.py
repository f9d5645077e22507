"""Each session of a group: the day-before reminder (to those who have not answered yet), the
optional hour-before one, the session post and the lead's note, RSVPs, and "Were you there?" as it
ends (with the next session's RSVP). The lead's controls are in :mod:`bot.flows.session_lead`.
Every message is a scheduled action (keys and due times: :mod:`bot.domain.group_series`); a delivery checks its session is still the one scheduled and respects each reader's quiet hours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement
from sqlmodel import Session

from bot.domain import group_series as gs
from bot.domain.curriculum import Topic
from bot.domain.group_pulse import domain_signals, first_and_latest
from bot.domain.instruments import default_catalogue
from bot.runtime.delivery import DropDelivery, RetryLater
from bot.flows.commands import CommandRouter, action_value, answer_privately, run_guarded, who
from bot.flows.groups import (
    ephemeral,
    fan_out,
    message_location,
    on_failure,
    parse_int,
    post_with_key,
    session_time,
    slots_of,
)
from bot.slack.render import check_blocks, context_block, fallback_text, render, section_blocks
from bot.domain.rotation import CYCLE_LENGTH, choose_next_topic
from bot.domain.scheduling import SESSION_LENGTH, SessionSlot
from bot.runtime.quiet import awake_recipients
from bot.runtime.services import Services
from bot.flows.click_targets import is_own_post
from bot.slack.client import call
from bot.slack.session_messages import (
    ACTION_ATTENDED,
    ACTION_MISSED,
    ACTION_RSVP_GOING,
    ACTION_RSVP_NOT_GOING,
    lead_note_blocks,
    next_rsvp_blocks,
    reminder_1h_blocks,
    reminder_24h_blocks,
    session_post_blocks,
)
from storage import groups as store
from storage import session_messages as sent
from storage.db import session_scope, utcnow
from storage.group_pulse import group_pulse_answers
from storage.members import get_member, wanting_hour_before_reminder
from storage.models import Group, GroupSession, ScheduledAction

log = logging.getLogger(__name__)

# Attendance feeds the program's fidelity figures; changing it long afterwards would rewrite them.
ATTENDANCE_WINDOW = timedelta(days=7)
POST_CLAIM_STALE = timedelta(minutes=4)  # shorter than the clock's lease, so a retry can take over


# --- one session and what surrounds it ---------------------------------------------------------------


@dataclass
class SessionContext:
    group: Group
    row: GroupSession
    slots: list[SessionSlot]

    @property
    def position(self) -> int:
        return gs.position_of(self.slots, self.row.number) or self.row.number

    @property
    def total(self) -> int:
        return gs.total_sessions(self.slots)

    @property
    def start_text(self) -> str:
        """The start in the group's zone (``Mon 2 Feb, 18:00 CST``): the fallback of :attr:`when`."""
        return gs.local_text(self.row.starts_at, self.group.timezone)

    @property
    def when(self) -> str:
        """The start as mrkdwn, in each reader's own zone."""
        return session_time(self.row.starts_at, self.group.timezone)

    def key(self, what: str) -> str:
        return gs.session_key(self.group.id, self.row.cycle, self.row.number, self.row.starts_at, what)


def load_context(session: Session, *, row: GroupSession | None) -> SessionContext | None:
    if row is None:
        return None
    group = store.get_group(session, group_id=row.group_id)
    if group is None:
        return None
    rows = store.sessions_of(session, group_id=group.id, cycle=row.cycle)
    return SessionContext(group, row, slots_of(rows))


def context_for_delivery(services: Services, action: ScheduledAction, payload: dict) -> SessionContext:
    """The session a scheduled action is about, or DropDelivery when it no longer applies.

    Lateness is judged first, from the payload alone, so a backlog after downtime is
    cleared without a database round trip per stale reminder.
    """
    try:
        starts_at = datetime.fromisoformat(str(payload["starts_at"]))
    except (KeyError, ValueError):
        raise DropDelivery(f"malformed payload {payload!r}") from None
    reason = gs.stale_reason(action.kind, due_at=action.due_at, starts_at=starts_at, now=utcnow())
    if reason:
        raise DropDelivery(reason)
    with Session(services.engine) as session:
        row = store.find_session(session, group_id=int(payload.get("group_id", 0)), cycle=int(payload.get("cycle", 0)),
                                 number=int(payload.get("number", 0)))
        context = load_context(session, row=row)
    if context is None or context.group.status != "active" or context.group.cycle != context.row.cycle:
        raise DropDelivery("the session or its group no longer exists")
    if context.row.status == "skipped":
        raise DropDelivery("the session was skipped")
    if context.row.starts_at.isoformat() != payload.get("starts_at"):
        raise DropDelivery("the session was moved")
    return context


def ensure_topic(services: Services, context: SessionContext) -> tuple[Topic, str]:
    """The session's topic and why; chosen by the rotation (once, whoever asks first) if not yet set."""
    catalogue = services.catalogue
    row = context.row
    topic = catalogue.get(row.topic_slug) if row.topic_slug else None
    if topic is not None:
        return topic, row.topic_reason
    with session_scope(services.engine) as session:
        history = store.topic_history(session, group_id=context.group.id, before=row)
        index = (row.cycle - 1) * CYCLE_LENGTH + context.position - 1
        min_group = services.settings.compass_min_group
        answers = group_pulse_answers(session, team_id=context.group.team_id, group_id=context.group.id)
        signals = domain_signals(first_and_latest(answers), catalogue=default_catalogue(), min_group=min_group)
        choice = choose_next_topic(catalogue, audience=context.group.audience, history=history, session_index=index,
                                   domain_signals=signals, min_group=min_group)
        # A topic that vanished from the catalogue (an admin removed it) is replaced, otherwise the first choice wins.
        if row.topic_slug:
            store.set_topic(session, session_id=row.id, slug=choice.topic.slug, reason=choice.explanation, chosen_by="rotation")
        else:
            store.set_topic(session, session_id=row.id, slug=choice.topic.slug, reason=choice.explanation, chosen_by="rotation",
                            only_if_unset=True)
        stored = store.get_session(session, session_id=row.id)
        session.refresh(stored)
        row.topic_slug, row.topic_reason = stored.topic_slug, stored.topic_reason
    return catalogue.get(row.topic_slug) or choice.topic, row.topic_reason


def counts_text(session: Session, row: GroupSession) -> str:
    counts = store.rsvp_counts(session, session_id=row.id)
    return render("group_answers.j2", kind="counts", going=counts.get("going", 0), not_going=counts.get("not_going", 0))


# --- deliveries ------------------------------------------------------------------------------------------


def deliver_reminder_24h(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    context = context_for_delivery(services, action, payload)
    topic, _ = ensure_topic(services, context)
    with Session(services.engine) as session:
        answers = store.rsvp_answers(session, session_id=context.row.id)
        # Whoever already answered (in the message after the last session) needs no reminder to answer;
        # the lead's day-before message is the lead's guide (deliver_lead_note), not this reminder too.
        recipients = [u for u in store.reachable_member_ids(session, group=context.group)
                      if u not in answers and u != context.group.lead_user_id]
    recipients = awake_recipients(services, action, payload, recipients)
    message = reminder_24h_message(context, topic)
    fan_out(client, action, recipients, lambda user_id: (message.text, message.blocks), on_sent=remember(services, context, action.kind))


def reminder_24h_message(context: SessionContext, topic: Topic):  # noqa: ANN201
    group = context.group
    return reminder_24h_blocks(topic, session_id=context.row.id, group_name=group.name, session_start_local_text=context.start_text,
                               starts_at=context.row.starts_at, where=group.place, channel_id=group.channel_id, team_id=group.team_id)


def reminder_1h_message(context: SessionContext, topic: Topic):  # noqa: ANN201
    group = context.group
    return reminder_1h_blocks(topic, group_name=group.name, session_start_local_text=context.start_text, starts_at=context.row.starts_at,
                              where=group.place, channel_id=group.channel_id, team_id=group.team_id)


def remember(services: Services, context: SessionContext, kind: str) -> Callable[[str, dict], None]:
    """Keep where each DM about this session went, so a later topic change can update it in place."""
    def record(user_id: str, posted: dict) -> None:
        with session_scope(services.engine) as session:
            sent.record_sent(session, session_id=context.row.id, kind=kind, channel=str(posted.get("channel") or ""),
                             ts=str(posted.get("ts") or ""), user_id=user_id)

    return record


def deliver_reminder_1h(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    context = context_for_delivery(services, action, payload)
    topic, _ = ensure_topic(services, context)
    with Session(services.engine) as session:
        answers = store.rsvp_answers(session, session_id=context.row.id)
        recipients = [u for u in store.reachable_member_ids(session, group=context.group) if answers.get(u) != "not_going"]
        # The hour-before reminder is each person's choice (App Home); the lead's has the counts.
        wanting = wanting_hour_before_reminder(session, team_id=context.group.team_id, user_ids=recipients)
        recipients = [u for u in recipients if u in wanting]
        counts = counts_text(session, context.row)
    recipients = awake_recipients(services, action, payload, recipients)
    message = reminder_1h_message(context, topic)

    def build(user_id: str) -> tuple[str, list]:
        if user_id == context.group.lead_user_id:
            return message.text, message.blocks + [context_block(counts)]
        return message.text, message.blocks

    fan_out(client, action, recipients, build, on_sent=remember(services, context, action.kind))


def deliver_session_post(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    context = context_for_delivery(services, action, payload)
    outcome = publish_session_post(services, client, context, late=utcnow() - action.due_at > gs.LATE_AFTER,
                                   look_first=action.attempts > 1)
    if outcome == "already":
        with Session(services.engine) as session:
            row = store.get_session(session, session_id=context.row.id)
        if row.posted_at is not None and row.posted_at < action.due_at:
            raise DropDelivery("the lead posted the guide early with /compass session now")
        return  # an earlier attempt of this very delivery posted it and was cut off before recording so
    if outcome == "busy":
        # Try again once that claim would be stale, so a process that died holding it never uses up the attempts.
        raise RetryLater("another process is posting this guide right now", not_before=utcnow() + POST_CLAIM_STALE)


def publish_session_post(services: Services, client: WebClient, context: SessionContext, *, late: bool, look_first: bool) -> str:
    """Post the session's guide once, whoever asks (the clock or the lead): ``posted``, ``already`` or ``busy``."""
    now = utcnow()
    with session_scope(services.engine) as session:
        row = store.get_session(session, session_id=context.row.id)
        if row.post_ts:
            return "already"
        interrupted = row.posted_at is not None
        if not store.claim_post(session, session_id=row.id, now=now, stale_after=POST_CLAIM_STALE):
            return "busy"
    try:
        topic, _ = ensure_topic(services, context)
        message = session_post_message(context, topic, late=late)
        posted = post_with_key(client, channel=context.group.channel_id, key=context.key("post"), text=message.text,
                               blocks=message.blocks, look_first=look_first or interrupted,
                               since=context.row.starts_at - timedelta(days=3))
    except BaseException:
        with session_scope(services.engine) as session:
            store.release_post(session, session_id=context.row.id)
        raise
    with session_scope(services.engine) as session:
        store.finish_post(session, session_id=context.row.id, ts=str(posted.get("ts") or ""))
    return "posted"


def session_post_message(context: SessionContext, topic: Topic, *, late: bool = False):  # noqa: ANN201
    group = context.group
    return session_post_blocks(topic, group_name=group.name, session_number=context.position, total_sessions=context.total,
                               late=late, starts_at=context.row.starts_at, session_start_local_text=context.start_text,
                               where=group.place, channel_id=group.channel_id, team_id=group.team_id)


def refresh_sent_messages(services: Services, client: WebClient, context: SessionContext) -> int:
    """Re-render what is already out about a session (the guide in the channel, each reminder, the lead's
    note) and update each message in place (``chat.update``), e.g. after a topic or place change.
    Returns how many Slack accepted; one it refuses (a deleted DM) is logged by the client and skipped."""
    topic, _ = ensure_topic(services, context)
    with Session(services.engine) as session:
        row = store.get_session(session, session_id=context.row.id)
        messages = sent.sent_about(session, session_id=context.row.id)
        answers = store.rsvp_answers(session, session_id=context.row.id)
        counts = counts_text(session, context.row)
    updated = 0
    if row is not None and row.post_ts and row.post_ts != "posted":
        post = session_post_message(context, topic)
        updated += call_update(client, context.group.channel_id, row.post_ts, post.text, post.blocks)
    note: tuple[str, list] | None = None
    for message in messages:
        if message.kind == gs.REMINDER_24H_KIND:
            reminder = reminder_24h_message(context, topic)
            text, blocks = reminder.text, list(reminder.blocks)
            if answers.get(message.slack_user_id):
                blocks.append(context_block(render("group_answers.j2", kind=answers[message.slack_user_id])).to_dict())
        elif message.kind == gs.REMINDER_1H_KIND:
            reminder = reminder_1h_message(context, topic)
            text, blocks = reminder.text, list(reminder.blocks)
            if message.slack_user_id == context.group.lead_user_id:
                blocks.append(context_block(counts).to_dict())
        elif message.kind == gs.LEAD_NOTE_KIND:
            note = note or lead_note(services, context)
            if note is None:
                continue
            text, blocks = note
        else:
            continue
        updated += call_update(client, message.channel, message.ts, text, check_blocks(blocks))
    return updated


def lead_note(services: Services, context: SessionContext) -> tuple[str, list] | None:
    lead = context.group.lead_user_id
    if not lead:
        return None
    with Session(services.engine) as session:
        member = get_member(session, team_id=context.group.team_id, user_id=lead)
        counts = counts_text(session, context.row)
    if member is None or member.status != "active":
        return None
    topic, explanation = ensure_topic(services, context)
    message = lead_note_blocks(topic, session_id=context.row.id, group_name=context.group.name, session_number=context.position,
                               total_sessions=context.total, session_start_local_text=context.start_text,
                               starts_at=context.row.starts_at, explanation=explanation, where=context.group.place,
                               channel_id=context.group.channel_id,
                               crisis_resources=services.settings.crisis_for(member.country).lines())
    return message.text, message.blocks + [context_block(counts).to_dict()]


def deliver_lead_note(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    context = context_for_delivery(services, action, payload)
    if context.row.posted_at is not None and context.row.post_ts and context.row.posted_at < action.due_at:
        raise DropDelivery("the lead posted the session early and already has the note")
    note = lead_note(services, context)
    if note is None:
        raise DropDelivery("the group has no lead who is taking part right now")
    fan_out(client, action, awake_recipients(services, action, payload, [context.group.lead_user_id]), lambda user_id: note,
            on_sent=remember(services, context, action.kind))


def next_rsvp(session: Session, context: SessionContext) -> tuple[int, str] | None:
    """The next session of the series (its ID and start), to answer for in the message after this one."""
    upcoming = store.next_session_after(session, group_id=context.group.id, cycle=context.row.cycle, starts_at=context.row.starts_at)
    return (upcoming.id, session_time(upcoming.starts_at, context.group.timezone)) if upcoming is not None else None


def attendance_message(context: SessionContext, confirmation: str = "", upcoming: tuple[int, str] | None = None) -> tuple[str, list]:
    text = render("group_attendance.j2", group_name=context.group.name, when=context.when)
    value = str(context.row.id)
    blocks: list = section_blocks(text) + [ActionsBlock(block_id="attendance", elements=[
        ButtonElement(text="I was there", action_id=ACTION_ATTENDED, value=value, style="primary"),
        ButtonElement(text="I couldn't make it", action_id=ACTION_MISSED, value=value),
    ])]
    if confirmation:
        blocks.append(context_block(confirmation))
    if upcoming is not None:
        blocks += next_rsvp_blocks(*upcoming)
    return fallback_text(text), check_blocks(blocks)


def deliver_attendance(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    context = context_for_delivery(services, action, payload)
    with session_scope(services.engine) as session:
        store.mark_held(session, session_id=context.row.id)
        answers = store.rsvp_answers(session, session_id=context.row.id)
    if context.position % gs.PULSE_EVERY == 0:
        return  # the check-in after this session asks "Were you there?" in the same message (bot.flows.pulse)
    with Session(services.engine) as session:
        recipients = [u for u in store.reachable_member_ids(session, group=context.group) if answers.get(u) != "not_going"]
        upcoming = next_rsvp(session, context)
    recipients = awake_recipients(services, action, payload, recipients)
    fan_out(client, action, recipients, lambda user_id: attendance_message(context, upcoming=upcoming))


# --- answers: RSVP and attendance ------------------------------------------------------------------------


def answering_context(services: Services, body: dict, reply: Callable[..., None]) -> tuple[SessionContext, str] | None:
    """The session behind an RSVP or attendance button, if the person clicking is one of its members."""
    team_id, user_id = who(body)
    with Session(services.engine) as session:
        context = load_context(session, row=store.get_session(session, session_id=parse_int(action_value(body)) or 0))
        member = context is not None and store.is_member(session, group_id=context.group.id, user_id=user_id)
    if context is None or context.group.team_id != team_id or context.row.status == "skipped":
        reply(render("group_answers.j2", kind="unknown"))
        return None
    if not member:
        reply(render("group_not_allowed.j2", reason="not_member", what="", lead_id=""))
        return None
    return context, user_id


def update_or_reply(client: WebClient, body: dict, context: SessionContext, user_id: str, text: str, blocks: list,
                    reply: Callable[..., None], confirmation: str) -> None:
    """Show the person's answer on the message they clicked, if it is their DM from this session;
    otherwise (or if Slack refuses) tell them directly."""
    channel, ts = message_location(body)
    prefix = gs.session_prefix(context.group.id, context.row.cycle, context.row.number)
    if is_own_post(client, channel=channel, ts=ts, key_prefix=prefix, dm_of=user_id) and call_update(client, channel, ts, text, blocks):
        return
    reply(confirmation)


def call_update(client: WebClient, channel: str, ts: str, text: str, blocks: list) -> bool:
    return call(client, "chat.update", channel=channel, ts=ts, text=text, blocks=blocks).ok


def answer_rsvp(services: Services, client: WebClient, body: dict, answer: str, reply: Callable[..., None]) -> None:
    found = answering_context(services, body, reply)
    if found is None:
        return
    context, user_id = found
    if utcnow() >= context.row.starts_at + SESSION_LENGTH:
        reply(render("group_answers.j2", kind="session_over"))
        return
    with session_scope(services.engine) as session:
        store.set_rsvp(session, session_id=context.row.id, user_id=user_id, answer=answer)
    confirmation = render("group_answers.j2", kind=answer)
    topic, _ = ensure_topic(services, context)
    message = reminder_24h_message(context, topic)
    update_or_reply(client, body, context, user_id, message.text, message.blocks + [context_block(confirmation).to_dict()], reply,
                    confirmation)


def answer_attendance(services: Services, client: WebClient, body: dict, attended: bool, reply: Callable[..., None]) -> None:
    found = answering_context(services, body, reply)
    if found is None:
        return
    context, user_id = found
    if utcnow() >= context.row.starts_at + ATTENDANCE_WINDOW:
        reply(render("group_answers.j2", kind="attendance_closed"))
        return
    with session_scope(services.engine) as session:
        store.set_attendance(session, session_id=context.row.id, user_id=user_id, attended=attended)
    confirmation = render("group_answers.j2", kind="attended" if attended else "missed")
    with Session(services.engine) as session:
        upcoming = next_rsvp(session, context)
    text, blocks = attendance_message(context, confirmation, upcoming)
    update_or_reply(client, body, context, user_id, text, blocks, reply, confirmation)


# --- registration ----------------------------------------------------------------------------------------


def register(app: App, services: Services, router: CommandRouter) -> None:
    def guarded(handler: Callable[..., None], what: str):  # noqa: ANN202
        def listener(ack, body, client, respond):  # noqa: ANN001
            ack()
            reply = ephemeral(answer_privately(respond, client, body))
            run_guarded(lambda: handler(services, client, body, reply), reply=reply, what=what)

        return listener

    app.action(ACTION_RSVP_GOING)(guarded(lambda s, c, b, r: answer_rsvp(s, c, b, "going", r), "RSVP"))
    app.action(ACTION_RSVP_NOT_GOING)(guarded(lambda s, c, b, r: answer_rsvp(s, c, b, "not_going", r), "RSVP"))
    app.action(ACTION_ATTENDED)(guarded(lambda s, c, b, r: answer_attendance(s, c, b, True, r), "attendance"))
    app.action(ACTION_MISSED)(guarded(lambda s, c, b, r: answer_attendance(s, c, b, False, r), "attendance"))


DELIVERIES = {
    gs.REMINDER_24H_KIND: deliver_reminder_24h,
    gs.REMINDER_1H_KIND: deliver_reminder_1h,
    gs.SESSION_POST_KIND: deliver_session_post,
    gs.LEAD_NOTE_KIND: deliver_lead_note,
    gs.ATTENDANCE_KIND: deliver_attendance,
}
ON_FAILURE = {kind: on_failure for kind in gs.SESSION_KINDS}

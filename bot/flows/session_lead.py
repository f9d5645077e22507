"""The lead's controls of a group's sessions: ``/compass session now|skip|reschedule``, ``/compass topic``
and the topic buttons of the lead's note. Sessions themselves are delivered by :mod:`bot.flows.sessions`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

from slack_bolt import App
from slack_sdk import WebClient
from sqlmodel import Session

from bot.domain import group_series as gs
from bot.domain.rotation import CYCLE_LENGTH, TopicChoiceError, alternatives, lead_choice
from bot.domain.scheduling import SeriesChangeError, is_at_night, reschedule, skip_next, skip_session
from bot.flows.commands import CommandContext, CommandRouter, action_value, answer_privately, run_guarded, who
from bot.flows.groups import (
    SeriesChange,
    announcement,
    change_series,
    controlled_group,
    ephemeral,
    may_control,
    parse_int,
    post_with_key,
    publish_calendar,
    refusal,
    session_time,
)
from bot.flows.sessions import (
    SessionContext,
    refresh_sent_messages,
    ensure_topic,
    lead_note,
    load_context,
    publish_session_post,
)
from bot.runtime.delivery import DeliveryFailed, RetryLater
from bot.runtime.services import Services
from bot.slack.client import call
from bot.slack.render import check_blocks, fallback_text, render, section_blocks
from bot.slack.session_messages import (
    ACTION_TOPIC_ALTERNATIVES,
    ACTION_TOPIC_CHOOSE,
    choose_topic_blocks,
    parse_topic_choice_value,
)
from storage import audit, schedule
from storage import groups as store
from storage.db import session_scope, utcnow
from storage.models import Group

log = logging.getLogger(__name__)

# --- the lead's controls -----------------------------------------------------------------------------------


def current_series(services: Services, ctx: CommandContext, what: str) -> Group | None:
    group = controlled_group(services, team_id=ctx.team_id, user_id=ctx.user_id, channel_id=ctx.channel_id, what=what, reply=ctx.reply)
    if group is None:
        return None
    if group.status != "active":
        ctx.reply(render("series_reply.j2", kind="no_series", group_name=group.name))
        return None
    return group


def session_command(ctx: CommandContext) -> None:
    verb = ctx.args[0].lower() if ctx.args else ""
    handlers = {"now": session_now, "skip": session_skip, "reschedule": session_reschedule}
    if verb not in handlers:
        ctx.reply(render("series_reply.j2", kind="session_usage"))
        return
    what = {"now": "post the session guide", "skip": "skip a session", "reschedule": "move a session"}[verb]
    group = current_series(ctx.services, ctx, what)
    if group is not None:
        handlers[verb](ctx, group)


def session_now(ctx: CommandContext, group: Group) -> None:
    services, now = ctx.services, utcnow()
    with Session(services.engine) as session:
        rows = store.sessions_of(session, group_id=group.id, cycle=group.cycle)
        running = [r for r in rows if r.status in ("scheduled", "held") and r.starts_at <= now < r.starts_at + SESSION_LENGTH]
        upcoming = sorted((r for r in rows if r.status == "scheduled" and r.starts_at > now), key=lambda r: r.starts_at)
        target = (running or upcoming or [None])[0]
        context = load_context(session, row=target)
    if context is None:
        ctx.reply(render("series_reply.j2", kind="no_upcoming"))
        return
    outcome = publish_session_post(services, ctx.client, context, late=False, look_first=False)
    if outcome != "posted":
        ctx.reply(render("series_reply.j2", kind="already_posted" if outcome == "already" else "posting", position=context.position))
        return
    # The guide is out: the clock must not post it again, and the lead gets the note now (unless the
    # note already came, as it does the day before).
    with session_scope(services.engine) as session:
        earlier_note = schedule.get(session, key=context.key("leadnote"))
        note_sent = earlier_note is not None and earlier_note.status == schedule.DONE
        schedule.cancel(session, keys=[context.key("post"), context.key("leadnote")])
        audit.record(session, team_id=group.team_id, actor_id=ctx.user_id, action="session_posted_now", group_id=group.id,
                     number=context.row.number)
    note = lead_note(services, context) if not note_sent else None
    if note is not None:
        try:
            post_with_key(ctx.client, channel=group.lead_user_id, key=context.key("leadnote"), text=note[0], blocks=check_blocks(note[1]))
        except (RetryLater, DeliveryFailed) as exc:
            log.warning("group %s: the lead's note for session %s could not be sent: %s", group.id, context.row.number, exc)
    ctx.reply(render("series_reply.j2", kind="posted", position=context.position))


def session_skip(ctx: CommandContext, group: Group) -> None:
    skip(ctx.services, ctx.client, group, actor_id=ctx.user_id, reply=ctx.reply)


def skip(services: Services, client: WebClient, group: Group, *, actor_id: str, reply: Callable[..., None],
         number: int | None = None) -> bool:
    """Skip session ``number`` (default: the next one); the channel hears it with the new calendar."""
    def change(g: Group, series, now: datetime):  # noqa: ANN001, ANN202
        return skip_next(series, now) if number is None else skip_session(series, number, now)

    try:
        result = change_series(services, group_id=group.id, change=change)
    except SeriesChangeError as exc:
        reply(render("series_reply.j2", kind="cannot", reason=str(exc)))
        return False
    before = {s.number: s for s in result.before.sessions}
    skipped = next(s for s in result.after.sessions if s.status == "skipped" and before[s.number].status != "skipped")
    added = next(s for s in result.after.sessions if s.number not in before)
    tz = group.timezone
    facts = {"skipped": session_time(skipped.starts_at_utc, tz), "added": session_time(added.starts_at_utc, tz)}
    record_change(services, actor_id, result, "session_skipped", number=skipped.number)
    note = announcement(services, "skipped", result, actor=actor_id, **facts)
    publish_calendar(services, client, group_id=group.id, note=note)
    reply(render("series_reply.j2", kind="skipped", **facts))
    return True


def session_reschedule(ctx: CommandContext, group: Group) -> None:
    try:
        wanted = gs.parse_local_datetime(" ".join(ctx.args[1:]))
    except ValueError:
        example = (utcnow() + timedelta(days=7)).astimezone(ZoneInfo(group.timezone)).strftime("%Y-%m-%d 18:30")
        ctx.reply(render("series_reply.j2", kind="bad_datetime", tz=group.timezone, example=example))
        return
    move(ctx.services, ctx.client, group, wanted, actor_id=ctx.user_id, reply=ctx.reply)


def move(services: Services, client: WebClient, group: Group, wanted: datetime, *, actor_id: str, reply: Callable[..., None],
         number: int | None = None) -> bool:
    """Move session ``number`` (default: the next one) to ``wanted`` (wall-clock time in the group's zone):
    in the future, in the day (:func:`bot.domain.scheduling.is_at_night`), between its neighbours."""
    if is_at_night(wanted.time()):
        reply(render("lead_tools.j2", kind="at_night", earliest="07:00", latest="20:00"))
        return False
    moved: dict[str, int] = {}

    def change(g: Group, series, now: datetime):  # noqa: ANN001, ANN202
        target = series.next_session(now) if number is None else series.session(number)
        if target is None:
            raise SeriesChangeError("there is no upcoming session in this cycle")
        moved["number"] = target.number
        return reschedule(series, target.number, wanted, now=now)

    try:
        result = change_series(services, group_id=group.id, change=change)
    except SeriesChangeError as exc:
        reply(render("series_reply.j2", kind="cannot", reason=str(exc)))
        return False
    number = moved["number"]
    tz = group.timezone
    facts = {
        "position": gs.position_of(result.after.sessions, number),
        "before": session_time(result.before.session(number).starts_at_utc, tz),
        "after": session_time(result.after.session(number).starts_at_utc, tz),
    }
    record_change(services, actor_id, result, "session_rescheduled", number=number)
    note = announcement(services, "rescheduled", result, actor=actor_id, **facts)
    publish_calendar(services, client, group_id=group.id, note=note)
    reply(render("series_reply.j2", kind="rescheduled", **facts))
    return True


def record_change(services: Services, actor_id: str, change: SeriesChange, action: str, **detail: object) -> None:
    with session_scope(services.engine) as session:
        audit.record(session, team_id=change.group.team_id, actor_id=actor_id, action=action, group_id=change.group.id, **detail)


def next_session_context(services: Services, group: Group) -> SessionContext | None:
    now = utcnow()
    with Session(services.engine) as session:
        rows = store.sessions_of(session, group_id=group.id, cycle=group.cycle)
        upcoming = sorted((r for r in rows if r.status == "scheduled" and r.starts_at > now), key=lambda r: r.starts_at)
        return load_context(session, row=upcoming[0] if upcoming else None)


def topic_command(ctx: CommandContext) -> None:
    group = current_series(ctx.services, ctx, "choose the topic")
    if group is None:
        return
    context = next_session_context(ctx.services, group)
    if context is None:
        ctx.reply(render("series_reply.j2", kind="no_upcoming"))
        return
    if not ctx.args:
        message = topic_alternatives_message(ctx.services, context)
        ctx.reply(message.text, blocks=message.blocks)
        return
    choose_topic(ctx.services, ctx.client, context, ctx.args[0], actor_id=ctx.user_id, reply=ctx.reply)


def topic_alternatives_message(services: Services, context: SessionContext):  # noqa: ANN201
    topic, _ = ensure_topic(services, context)
    with Session(services.engine) as session:
        history = store.topic_history(session, group_id=context.group.id, before=context.row)
    index = (context.row.cycle - 1) * CYCLE_LENGTH + context.position - 1
    choices = alternatives(services.catalogue, audience=context.group.audience, history=history, scheduled=topic.slug, session_index=index)
    return choose_topic_blocks(choices, context.row.id)


def choose_topic(services: Services, client: WebClient, context: SessionContext, slug: str, *, actor_id: str,
                 reply: Callable[..., None]) -> bool:
    with Session(services.engine) as session:
        history = store.topic_history(session, group_id=context.group.id, before=context.row)
    try:
        choice = lead_choice(services.catalogue, slug, audience=context.group.audience, history=history)
    except TopicChoiceError as exc:
        reply(render("series_reply.j2", kind="bad_topic", reason=str(exc)))
        return False
    with session_scope(services.engine) as session:
        store.set_topic(session, session_id=context.row.id, slug=choice.topic.slug, reason=choice.explanation, chosen_by=actor_id)
        audit.record(session, team_id=context.group.team_id, actor_id=actor_id, action="session_topic_chosen",
                     group_id=context.group.id, number=context.row.number, topic=choice.topic.slug)
        row = store.get_session(session, session_id=context.row.id)
        session.refresh(row)
    context.row = row
    # Everything already sent about this session shows the new topic (the guide, if it is out, the
    # reminders and the lead's note); the calendar keeps its file, as neither time nor place changed.
    refresh_sent_messages(services, client, context)
    facts = {"position": context.position, "when": context.when, "topic_title": choice.topic.title}
    channel_note = render("lead_tools.j2", kind="topic_changed", actor=actor_id, **facts)
    call(client, "chat.postMessage", channel=context.group.channel_id, text=fallback_text(channel_note), blocks=check_blocks(section_blocks(channel_note)))
    reply(render("series_reply.j2", kind="topic_set", **facts))
    return True


def topic_button(services: Services, client: WebClient, body: dict, reply: Callable[..., None], *, choose: bool) -> None:
    team_id, user_id = who(body)
    value = action_value(body)
    try:
        session_id, slug = parse_topic_choice_value(value) if choose else (value, "")
    except ValueError:
        log.warning("topic button with a malformed value (%d characters) from %s", len(value), user_id)
        reply(render("group_answers.j2", kind="unknown"))
        return
    with Session(services.engine) as session:
        context = load_context(session, row=store.get_session(session, session_id=parse_int(session_id) or 0))
    if context is None or context.group.team_id != team_id or context.row.status == "skipped":
        reply(render("group_answers.j2", kind="unknown"))
        return
    if not may_control(services, context.group, user_id):
        reply(refusal(context.group, "choose the topic"))
        return
    if gs.is_over(context.row.starts_at, utcnow()):
        reply(render("group_answers.j2", kind="session_over"))
        return
    if choose:
        choose_topic(services, client, context, slug, actor_id=user_id, reply=reply)
    else:
        message = topic_alternatives_message(services, context)
        reply(message.text, message.blocks)


# --- registration ----------------------------------------------------------------------------------------


def register(app: App, services: Services, router: CommandRouter) -> None:
    router.add("session", session_command, usage="session now|skip|reschedule YYYY-MM-DD HH:MM",
               help="post the next guide now, skip the next session, or move it", audience="leads")
    router.add("topic", topic_command, usage="topic [tag]", help="see or choose the next session's topic", audience="leads")

    def guarded(handler: Callable[..., None], what: str):  # noqa: ANN202
        def listener(ack, body, client, respond):  # noqa: ANN001
            ack()
            reply = ephemeral(answer_privately(respond, client, body))
            run_guarded(lambda: handler(services, client, body, reply), reply=reply, what=what)

        return listener

    app.action(ACTION_TOPIC_ALTERNATIVES)(guarded(lambda s, c, b, r: topic_button(s, c, b, r, choose=False), "topic alternatives"))
    app.action(ACTION_TOPIC_CHOOSE)(guarded(lambda s, c, b, r: topic_button(s, c, b, r, choose=True), "topic choice"))

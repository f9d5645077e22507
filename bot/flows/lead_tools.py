"""The lead's tools without syntax: the Skip, Move…, Change topic and Where… buttons (in the lead's
day-before note and in the lead's section of App Home), the Move modal (a date and a time picker)
and the Where modal (a room, a video link, or a Slack huddle in the group's channel).

The slash commands (:mod:`bot.flows.session_lead`) keep working; both paths share its ``skip`` and
``move``. A new place changes the calendar (a new .ics) and every message already sent about the
next session (``chat.update``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from slack_bolt import App
from slack_sdk import WebClient
from sqlmodel import Session

from bot.domain import group_series as gs
from bot.domain.scheduling import is_at_night, local_to_utc
from bot.flows.commands import CommandRouter, action_value, who
from bot.flows.groups import guarded_click, may_control, parse_int, publish_calendar, refusal, session_time
from bot.flows.session_lead import move, next_session_context, skip
from bot.flows.sessions import SessionContext, ensure_topic, load_context, refresh_sent_messages
from bot.runtime.services import Services
from bot.slack.client import call
from bot.slack.lead_views import VIEW_MOVE, VIEW_PLACE, move_view, place_view, read_move, read_place, words
from bot.slack.render import render, section_blocks
from bot.slack.session_messages import ACTION_LEAD_MOVE, ACTION_LEAD_PLACE, ACTION_LEAD_SKIP, ACTION_OPEN_CHANNEL, lead_buttons
from storage import audit
from storage import groups as store
from storage import session_messages as sent
from storage.db import session_scope, utcnow

log = logging.getLogger(__name__)


def lead_context(services: Services, *, team_id: str, user_id: str, session_value: str, what: str,
                 reply: Callable[..., None]) -> SessionContext | None:
    """The session a lead's button or modal is about, if it is still to come and this person may change it."""
    with Session(services.engine) as session:
        context = load_context(session, row=store.get_session(session, session_id=parse_int(session_value) or 0))
    if context is None or context.group.team_id != team_id or context.group.status != "active":
        reply(render("group_answers.j2", kind="unknown"))
        return None
    if not may_control(services, context.group, user_id):
        reply(refusal(context.group, what))
        return None
    if context.row.status != "scheduled" or context.row.starts_at <= utcnow() or context.group.cycle != context.row.cycle:
        reply(words("not_upcoming"))
        return None
    return context


def skip_clicked(services: Services, client: WebClient, body: dict, reply: Callable[..., None]) -> None:
    team_id, user_id = who(body)
    context = lead_context(services, team_id=team_id, user_id=user_id, session_value=action_value(body), what="skip a session",
                           reply=reply)
    if context is not None:
        skip(services, client, context.group, actor_id=user_id, reply=reply, number=context.row.number)


def open_modal(services: Services, client: WebClient, body: dict, reply: Callable[..., None], *, kind: str) -> None:
    team_id, user_id = who(body)
    what = "move a session" if kind == "move" else "set where the group meets"
    context = lead_context(services, team_id=team_id, user_id=user_id, session_value=action_value(body), what=what, reply=reply)
    if context is None:
        return
    if kind == "move":
        local = context.row.starts_at.astimezone(ZoneInfo(context.group.timezone))
        view = move_view(session_id=context.row.id, position=context.position, when=context.when, tz=context.group.timezone,
                         local_day=local.date(), local_time=local.time())
    else:
        view = place_view(session_id=context.row.id, group_name=context.group.name, place=context.group.place)
    outcome = call(client, "views.open", trigger_id=body.get("trigger_id", ""), view=view)
    if not outcome.ok:
        reply(render("errors.j2", kind="slack"))


def submit_move(services: Services, client: WebClient, ack, body: dict, view: dict) -> None:  # noqa: ANN001
    team_id, user_id = who(body)
    refused: list[str] = []
    context = lead_context(services, team_id=team_id, user_id=user_id, session_value=str(view.get("private_metadata") or ""),
                           what="move a session", reply=refused.append)
    if context is None:
        ack(response_action="errors", errors={"date": refused[0] if refused else words("not_upcoming")})
        return
    answer = read_move(view)
    if answer.day is None or answer.at is None:
        ack(response_action="errors", errors={"date": words("missing")})
        return
    wanted = datetime.combine(answer.day, answer.at)
    if is_at_night(answer.at):
        ack(response_action="errors", errors={"time": words("at_night", earliest="07:00", latest="20:00")})
        return
    if local_to_utc(answer.day, answer.at, context.group.timezone) <= utcnow():
        ack(response_action="errors", errors={"date": words("not_future")})
        return
    problems: list[str] = []
    ack()  # the checks Slack can show in the modal are done; the rest is answered in the lead's DM
    if not move(services, client, context.group, wanted, actor_id=user_id, reply=problems.append, number=context.row.number):
        tell(client, user_id, problems[0] if problems else words("not_upcoming"))
        return
    moved = next_session_context(services, context.group)
    if moved is not None and moved.row.number == context.row.number:
        refresh_sent_messages(services, client, moved)


def submit_place(services: Services, client: WebClient, ack, body: dict, view: dict) -> None:  # noqa: ANN001
    team_id, user_id = who(body)
    refused: list[str] = []
    context = lead_context(services, team_id=team_id, user_id=user_id, session_value=str(view.get("private_metadata") or ""),
                           what="set where the group meets", reply=refused.append)
    if context is None:
        ack(response_action="errors", errors={"place": refused[0] if refused else words("not_upcoming")})
        return
    place, errors = read_place(view)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()
    group = context.group
    if place == group.place:
        return
    with session_scope(services.engine) as session:
        sent.set_place(session, group_id=group.id, place=place)
        audit.record(session, team_id=team_id, actor_id=user_id, action="group_place_set", group_id=group.id,
                     kind="huddle" if place == gs.HUDDLE else "link" if place.startswith("http") else "room" if place else "none")
    group.place = place
    # A new place is news for everyone's calendar: a new .ics; and what was sent about the next session shows it.
    note = words("place_set", group_name=group.name, actor=user_id, huddle=place == gs.HUDDLE,
                 place_url=place if place.startswith(("http://", "https://")) else "",
                 place=place if place != gs.HUDDLE and not place.startswith(("http://", "https://")) else "")
    publish_calendar(services, client, group_id=group.id, note=note)
    refresh_sent_messages(services, client, context)


def tell(client: WebClient, user_id: str, text: str) -> None:
    call(client, "chat.postMessage", channel=user_id, text=text)


# --- App Home: the lead's section ----------------------------------------------------------------------


def home_section(services: Services, session: Session, *, member) -> list:  # noqa: ANN001
    """For a group's lead: the next session (when, where, topic, who is coming) and the same buttons."""
    group = store.group_of_member(session, team_id=member.team_id, user_id=member.slack_user_id)
    if group is None or group.lead_user_id != member.slack_user_id or group.status != "active":
        return []
    context = next_session_context(services, group)
    if context is None:
        return section_blocks(words("home_header", group_name=group.name) + "\n" + words("home_none"))
    topic = services.catalogue.get(context.row.topic_slug) if context.row.topic_slug else None
    if topic is None:
        topic, _ = ensure_topic(services, context)
    answers = store.rsvp_answers(session, session_id=context.row.id)
    going = sorted(u for u, a in answers.items() if a == "going")
    place = group.place
    link = place if place.startswith(("http://", "https://")) and " " not in place else ""
    text = "\n".join([
        words("home_header", group_name=group.name),
        words("home_next", when=session_time(context.row.starts_at, group.timezone), topic_title=topic.title, going=going,
              not_going=sum(1 for a in answers.values() if a == "not_going"), huddle=place == gs.HUDDLE, place_url=link,
              place="" if link or place == gs.HUDDLE else place),
    ])
    return section_blocks(text) + [lead_buttons(context.row.id)]


# --- registration ----------------------------------------------------------------------------------------


def register(app: App, services: Services, router: CommandRouter) -> None:
    def guarded(handler: Callable[..., None], what: str):  # noqa: ANN202
        return guarded_click(services, handler, what)

    app.action(ACTION_LEAD_SKIP)(guarded(skip_clicked, "skip"))
    app.action(ACTION_LEAD_MOVE)(guarded(lambda s, c, b, r: open_modal(s, c, b, r, kind="move"), "move"))
    app.action(ACTION_LEAD_PLACE)(guarded(lambda s, c, b, r: open_modal(s, c, b, r, kind="place"), "where"))

    @app.action(ACTION_OPEN_CHANNEL)
    def on_open_channel(ack):  # noqa: ANN001
        ack()  # a link button: Slack opens the channel; the click itself needs nothing from us

    @app.view(VIEW_MOVE)
    def on_move(ack, body, view, client):  # noqa: ANN001
        submit_move(services, client, ack, body, view)

    @app.view(VIEW_PLACE)
    def on_place(ack, body, view, client):  # noqa: ANN001
        submit_place(services, client, ack, body, view)

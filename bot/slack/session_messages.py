"""Block Kit for a session: the post, the lead's note, reminders and "choose another topic".

Wording lives in ``bot/prompts/*.j2``. A template renders parts separated by a line ``---``;
a part may begin with one directive line that says what block it becomes:

``::fallback``      the message's notification text (one line; not a block)
``::header``        a header block (plain text)
``::context``       a context block (small grey text)
``::divider``       a divider
``::actions NAME``  the buttons this module builds under NAME
``::choice N``      a section with a button choosing alternative N
(no directive)      one or more section blocks

Every user-supplied value (group names, norms, places, admins' custom topics) is escaped by
the template filters, and every message goes through ``check_blocks`` so it is known to fit
Slack's limits before it is sent.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Callable, Mapping, NamedTuple, Sequence

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ConfirmObject, MarkdownTextObject, SectionBlock

from bot.domain.curriculum import Topic
from bot.domain.group_series import HUDDLE
from bot.slack.render import (
    check_blocks,
    context_block,
    divider,
    escape_mrkdwn,
    fallback_text,
    header_block,
    reader_time,
    render,
    render_sections,
    section_blocks,
    split_text,
)
from bot.domain.rotation import TopicChoice

ACTION_ATTENDED = "attendance_yes"
ACTION_MISSED = "attendance_no"
ACTION_RSVP_GOING = "rsvp_going"
ACTION_RSVP_NOT_GOING = "rsvp_not_going"
ACTION_TOPIC_ALTERNATIVES = "topic_alternatives"
ACTION_TOPIC_CHOOSE = "topic_choose"
ACTION_LEAD_SKIP = "lead_skip"
ACTION_LEAD_MOVE = "lead_move"
ACTION_LEAD_PLACE = "lead_place"

BUTTON_GOING = "I'll be there"
BUTTON_NOT_GOING = "Can't make it"
BUTTON_CHOOSE_ANOTHER = "Choose another topic"
BUTTON_USE_TOPIC = "Use this topic"
BUTTON_SKIP = "Skip"
BUTTON_MOVE = "Move…"
BUTTON_CHANGE_TOPIC = "Change topic"
BUTTON_WHERE = "Where…"

_DIRECTIVE = re.compile(r"\A::([a-z]+)(?:[ \t]+(\S+))?[ \t]*(?:\n|\Z)")
_SAFE_URL = re.compile(r"\Ahttps?://[^\s<>|]+\Z")
_CHANNEL_ID = re.compile(r"\A[CG][A-Z0-9]{2,30}\Z")
ACTION_OPEN_CHANNEL = "open_group_channel"
BUTTON_OPEN_HUDDLE = "Open the channel for the huddle"


class Message(NamedTuple):
    """What ``chat.postMessage`` needs: fallback ``text`` and serialised ``blocks``."""

    text: str
    blocks: list[dict]


def session_post_blocks(
    topic: Topic,
    *,
    group_name: str,
    session_number: int,
    total_sessions: int,
    late: bool = False,
    norms: str | None = None,
    starts_at: datetime | None = None,
    session_start_local_text: str = "",
    where: str | None = None,
    channel_id: str = "",
    team_id: str = "",
) -> Message:
    """The post in the group's channel: the 15-minute topic guide, then social time, then norms.

    ``session_number`` counts from 1 within the cycle; ``late`` adds an apology for a delayed post;
    ``starts_at`` (with its fallback text) and ``where`` give the line saying when and where.
    """
    return _build(
        "session_post.j2",
        actions=_huddle_actions(where, team_id=team_id, channel_id=channel_id),
        topic=topic,
        group_name=group_name,
        session_number=session_number,
        total_sessions=total_sessions,
        late=late,
        norms=norms,
        when=_when(starts_at, session_start_local_text) if starts_at is not None or session_start_local_text else "",
        **_place(where, channel_id),
    )


def lead_note_blocks(
    topic: Topic,
    *,
    session_id: object,
    group_name: str,
    session_number: int,
    total_sessions: int,
    session_start_local_text: str,
    starts_at: datetime | None = None,
    explanation: str,
    norms: str | None = None,
    crisis_resources: Sequence[str] = (),
    where: str | None = None,
    channel_id: str = "",
) -> Message:
    """The lead's direct message, the day before: why this topic, how to open, keep time and close, and
    the lead's buttons (Skip, Move…, Change topic, Where…) so nothing needs a command.

    ``crisis_resources`` are the deployment's lines (``Settings.crisis_resources``); they may use
    bold, but cannot mention or link.
    """
    return _build(
        "lead_note.j2",
        actions={"choose_topic": lambda: lead_buttons(session_id)},
        topic=topic,
        group_name=group_name,
        session_number=session_number,
        total_sessions=total_sessions,
        when=_when(starts_at, session_start_local_text),
        explanation=explanation,
        norms=norms,
        crisis_resources=list(crisis_resources),
        **_place(where, channel_id),
    )


def lead_buttons(session_id: object) -> ActionsBlock:
    """The lead's tools for one session (every value is the session id); Skip asks first, as one tap
    should not cancel a session by accident."""
    value = str(session_id)
    confirm = ConfirmObject(title=render("lead_tools.j2", kind="skip_confirm_title"), text=render("lead_tools.j2", kind="skip_confirm"),
                            confirm=render("lead_tools.j2", kind="skip_confirm_yes"), deny=render("lead_tools.j2", kind="skip_confirm_no"))
    return ActionsBlock(block_id=f"lead_tools_{value}"[:255], elements=[
        ButtonElement(text=BUTTON_SKIP, action_id=ACTION_LEAD_SKIP, value=value, confirm=confirm),
        ButtonElement(text=BUTTON_MOVE, action_id=ACTION_LEAD_MOVE, value=value),
        ButtonElement(text=BUTTON_CHANGE_TOPIC, action_id=ACTION_TOPIC_ALTERNATIVES, value=value),
        ButtonElement(text=BUTTON_WHERE, action_id=ACTION_LEAD_PLACE, value=value),
    ])


def reminder_24h_blocks(
    topic: Topic,
    *,
    session_id: object,
    group_name: str,
    session_start_local_text: str,
    starts_at: datetime | None = None,
    where: str | None = None,
    channel_id: str = "",
    team_id: str = "",
) -> Message:
    """The day-before reminder with RSVP buttons whose value is the session id.

    ``where`` is a room or a meeting link; a plain http(s) URL becomes a link, anything else is text;
    ``huddle`` means a Slack huddle in the group's channel (``channel_id``), with a button opening it.
    """
    buttons = [
        ButtonElement(text=BUTTON_GOING, action_id=ACTION_RSVP_GOING, value=str(session_id), style="primary"),
        ButtonElement(text=BUTTON_NOT_GOING, action_id=ACTION_RSVP_NOT_GOING, value=str(session_id)),
    ]
    return _build(
        "reminder_24h.j2",
        actions={"rsvp": lambda: ActionsBlock(elements=buttons), **_huddle_actions(where, team_id=team_id, channel_id=channel_id)},
        topic=topic,
        group_name=group_name,
        when=_when(starts_at, session_start_local_text),
        **_place(where, channel_id),
    )


def reminder_1h_blocks(
    topic: Topic,
    *,
    group_name: str,
    session_start_local_text: str,
    starts_at: datetime | None = None,
    where: str | None = None,
    channel_id: str = "",
    team_id: str = "",
) -> Message:
    """The hour-before nudge: when, where, the topic and one question to think about."""
    return _build(
        "reminder_1h.j2",
        actions=_huddle_actions(where, team_id=team_id, channel_id=channel_id),
        topic=topic,
        group_name=group_name,
        when=_when(starts_at, session_start_local_text),
        **_place(where, channel_id),
    )


def choose_topic_blocks(choices: Sequence[TopicChoice], session_id: object) -> Message:
    """The alternatives offered to the lead, one button each (value ``session_id:slug``)."""
    choices = list(choices)

    def choice_section(index: str, text: str) -> list[Block]:
        choice = choices[int(index)]
        button = ButtonElement(
            text=BUTTON_USE_TOPIC,
            action_id=ACTION_TOPIC_CHOOSE,
            value=topic_choice_value(session_id, choice.topic.slug),
        )
        first, *rest = split_text(text)
        return [SectionBlock(text=MarkdownTextObject(text=first), accessory=button)] + [
            SectionBlock(text=MarkdownTextObject(text=chunk)) for chunk in rest
        ]

    return _build("choose_topic.j2", choice_builder=choice_section, choices=choices)


def topic_choice_value(session_id: object, slug: str) -> str:
    """The value of a ``topic_choose`` button."""
    return f"{session_id}:{slug}"


def parse_topic_choice_value(value: str) -> tuple[str, str]:
    """``(session_id, slug)`` from a ``topic_choose`` button's value; ValueError if malformed."""
    session_id, separator, slug = value.rpartition(":")
    if not separator or not session_id or not slug:
        raise ValueError(f"not a topic choice: {value!r}")
    return session_id, slug


def _when(starts_at: datetime | None, local_text: str) -> str:
    """A session's start as mrkdwn: Slack's date token (each reader's own zone) with ``local_text`` as its
    fallback, or ``local_text`` alone (escaped) when the moment is not known."""
    return reader_time(starts_at, local_text) if starts_at is not None else escape_mrkdwn(local_text)


def _place(where: str | None, channel_id: str = "") -> dict[str, str]:
    """Template variables for a meeting place: a safe link, text the template escapes, or a huddle in the channel."""
    where = (where or "").strip()
    if where == HUDDLE:
        return {"place_url": "", "place": "", "huddle_channel": channel_id if _CHANNEL_ID.match(channel_id) else ""}
    if _SAFE_URL.match(where):
        return {"place_url": where, "place": "", "huddle_channel": ""}
    return {"place_url": "", "place": where, "huddle_channel": ""}


def huddle_button(*, team_id: str, channel_id: str) -> ActionsBlock:
    """A link button that opens the group's channel in the Slack app, where a huddle starts with one tap."""
    url = f"slack://channel?team={team_id}&id={channel_id}"
    return ActionsBlock(block_id="huddle", elements=[ButtonElement(text=BUTTON_OPEN_HUDDLE, action_id=ACTION_OPEN_CHANNEL, url=url)])


def _huddle_actions(where: str | None, *, team_id: str, channel_id: str) -> dict[str, Callable[[], Block]]:
    if (where or "").strip() != HUDDLE or not _CHANNEL_ID.match(channel_id):
        return {}
    return {"huddle": lambda: huddle_button(team_id=team_id, channel_id=channel_id)}


def _build(
    template: str,
    *,
    actions: Mapping[str, Callable[[], Block]] | None = None,
    choice_builder: Callable[[str, str], list[Block]] | None = None,
    **context: object,
) -> Message:
    text = ""
    blocks: list[Block] = []
    for part in render_sections(template, **context):
        match = _DIRECTIVE.match(part)
        directive, argument = (match.group(1), match.group(2)) if match else ("", None)
        body = part[match.end() :].strip() if match else part
        if directive == "fallback":
            text = fallback_text(body)
        elif directive == "header":
            blocks.append(header_block(body))
        elif directive == "context":
            blocks.append(context_block(body))
        elif directive == "divider":
            blocks.append(divider())
        elif directive == "actions" and actions and argument in actions:
            blocks.append(actions[argument]())
        elif directive == "choice" and choice_builder and argument is not None:
            blocks += choice_builder(argument, body)
        elif directive:
            raise ValueError(f"{template}: unknown directive ::{directive} {argument or ''}".rstrip())
        else:
            blocks += section_blocks(body)
    if not text:
        raise ValueError(f"{template} has no ::fallback part")
    return Message(text, check_blocks(blocks))


def next_rsvp_blocks(session_id: int, start_text: str) -> list:
    """Under the message after a session: the next one, answered now (no day-before reminder is then needed)."""
    text = f"*Next time:* {start_text}. Will you be there?"
    return [SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(block_id="rsvp_next", elements=[
        ButtonElement(text=BUTTON_GOING, action_id=ACTION_RSVP_GOING, value=str(session_id)),
        ButtonElement(text=BUTTON_NOT_GOING, action_id=ACTION_RSVP_NOT_GOING, value=str(session_id)),
    ])]

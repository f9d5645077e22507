"""Block Kit for the lead's tools: the Move modal (date and time pickers), the Where modal, the Skip
button's confirmation, and reading what the lead submitted. Wording: ``bot/prompts/lead_tools.j2``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time

from slack_sdk.models.blocks import (
    CheckboxesElement,
    DatePickerElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    TimePickerElement,
)

from bot.domain.group_series import HUDDLE, PLACE_MAX
from bot.slack.render import check_blocks, render, section_blocks

VIEW_MOVE = "lead_move_modal"
VIEW_PLACE = "lead_place_modal"
_SAFE_URL = re.compile(r"\Ahttps?://[^\s<>|]+\Z")


def words(kind: str, **context: object) -> str:
    return render("lead_tools.j2", kind=kind, **context)


def move_view(*, session_id: int, position: int, when: str, tz: str, local_day: date, local_time: time) -> dict:
    blocks = section_blocks(words("move_intro", position=position, when=when, tz=tz)) + [
        InputBlock(block_id="date", label=words("move_date"),
                   element=DatePickerElement(action_id="date", initial_date=local_day.isoformat())),
        InputBlock(block_id="time", label=words("move_time", tz=tz),
                   element=TimePickerElement(action_id="time", initial_time=local_time.strftime("%H:%M"))),
    ]
    return {"type": "modal", "callback_id": VIEW_MOVE, "private_metadata": str(session_id),
            "title": {"type": "plain_text", "text": words("move_title")},
            "submit": {"type": "plain_text", "text": words("move_submit")},
            "close": {"type": "plain_text", "text": words("cancel")},
            "blocks": check_blocks(blocks, surface="modal")}


def place_view(*, session_id: int, group_name: str, place: str) -> dict:
    huddle_option = Option(value=HUDDLE, label=words("place_huddle"))
    text_input = PlainTextInputElement(action_id="place", max_length=PLACE_MAX, placeholder=words("place_hint"),
                                       initial_value=place if place and place != HUDDLE else None)
    checkboxes = CheckboxesElement(action_id="huddle", options=[huddle_option],
                                   initial_options=[huddle_option] if place == HUDDLE else None)
    blocks = section_blocks(words("place_intro", group_name=group_name)) + [
        InputBlock(block_id="place", label=words("place_text"), element=text_input, optional=True),
        InputBlock(block_id="huddle", label=words("place_or"), element=checkboxes, optional=True),
    ]
    return {"type": "modal", "callback_id": VIEW_PLACE, "private_metadata": str(session_id),
            "title": {"type": "plain_text", "text": words("place_title")},
            "submit": {"type": "plain_text", "text": words("save")},
            "close": {"type": "plain_text", "text": words("cancel")},
            "blocks": check_blocks(blocks, surface="modal")}


@dataclass(frozen=True)
class MoveAnswer:
    day: date | None
    at: time | None


def read_move(view: dict) -> MoveAnswer:
    values = (view.get("state") or {}).get("values") or {}
    day_text = ((values.get("date") or {}).get("date") or {}).get("selected_date") or ""
    time_text = ((values.get("time") or {}).get("time") or {}).get("selected_time") or ""
    try:
        day = date.fromisoformat(day_text) if day_text else None
    except ValueError:
        day = None
    try:
        at = time.fromisoformat(time_text) if time_text else None
    except ValueError:
        at = None
    return MoveAnswer(day, at)


def read_place(view: dict) -> tuple[str, dict[str, str]]:
    """The place the lead chose ("" clears it, ``huddle``, a room or a link) and any errors by block."""
    values = (view.get("state") or {}).get("values") or {}
    text = str(((values.get("place") or {}).get("place") or {}).get("value") or "").strip()
    chosen = ((values.get("huddle") or {}).get("huddle") or {}).get("selected_options") or []
    huddle = any(option.get("value") == HUDDLE for option in chosen)
    if huddle and text:
        return "", {"place": words("place_both")}
    if huddle:
        return HUDDLE, {}
    if len(text) > PLACE_MAX:
        return "", {"place": words("place_too_long", limit=PLACE_MAX)}
    if text.lower().startswith(("http:", "https:", "www.")) and not _SAFE_URL.match(text):
        return "", {"place": words("place_bad_link")}
    return " ".join(text.split()), {}

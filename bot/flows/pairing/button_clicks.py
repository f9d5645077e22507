"""Reading what a clicked button carries, and answering the person who clicked it."""

from __future__ import annotations

from typing import Callable

from slack_sdk import WebClient
from slack_sdk.models.views import View

from bot.flows.commands import bounded_int, who
from bot.slack.client import call
from bot.slack.render import check_blocks, section_blocks

Reply = Callable[[str], None]


def parse_ints(text: str, count: int) -> tuple[int, ...] | None:
    parts = text.split(":")
    if len(parts) != count:
        return None
    numbers = tuple(bounded_int(part) for part in parts)
    return None if None in numbers else numbers  # type: ignore[return-value]


def notice_view(text: str) -> dict:
    view = View(type="modal", title="Near-peer mentoring", close="Close", blocks=check_blocks(section_blocks(text), surface="modal"))
    return view.to_dict()


def notify(client: WebClient, body: dict) -> Reply:
    """Feedback for a click in App Home (which has no response URL): a small modal, else a DM."""
    _, user_id = who(body)

    def reply(text: str) -> None:
        if call(client, "views.open", trigger_id=body.get("trigger_id", ""), view=notice_view(text)).ok:
            return
        call(client, "chat.postMessage", channel=user_id, text=text)

    return reply

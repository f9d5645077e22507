"""Posting to a group's channel and its members, and reading the buttons they click."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable, Iterable

from slack_sdk import WebClient

from bot.domain import group_series as gs
from bot.runtime.delivery import DeliveryFailed, RetryLater, post_keyed
from bot.flows.commands import answer_privately, bounded_int, run_guarded
from bot.slack.render import check_blocks, fallback_text, reader_time, render_sections, section_blocks
from storage.db import utcnow
from storage.models import ScheduledAction

log = logging.getLogger(__name__)


def message_location(body: dict) -> tuple[str, str]:
    """(channel id, ts) of the message whose button was clicked, or empty strings."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts") or ""
    return channel, ts


def session_time(moment: datetime, tz: str) -> str:
    """A moment as mrkdwn each reader sees in their own zone; the fallback (notifications, old clients)
    is the moment in the group's zone, ``Mon 2 Feb, 18:00 CST``."""
    return reader_time(moment, gs.local_text(moment, tz))


def ephemeral(respond) -> Callable[[str], None]:  # noqa: ANN001
    def reply(text: str, blocks: list | None = None) -> None:
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    return reply


def guarded_click(services, handler: Callable[..., None], what: str):  # noqa: ANN001, ANN201
    """A Bolt listener for a group button: acknowledge, then run ``handler(services, client, body, reply)``
    with private replies and a clear message if it fails."""
    def listener(ack, body, client, respond):  # noqa: ANN001
        ack()
        reply = ephemeral(answer_privately(respond, client, body))
        run_guarded(lambda: handler(services, client, body, reply), reply=reply, what=what)

    return listener


def parse_int(text: str) -> int | None:
    return bounded_int(text)


def message_blocks(template: str, **context: object) -> tuple[str, list]:
    """Sections for a ``---``-separated template, and the notification text."""
    parts = render_sections(template, **context)
    blocks: list = []
    for part in parts:
        blocks += section_blocks(part)
    return fallback_text(parts[0] if parts else ""), blocks


def post_with_key(
    client: WebClient, *, channel: str, key: str, text: str, blocks: list | None = None, look_first: bool = False,
    since: datetime | None = None,
) -> dict:
    """Post carrying ``key`` in its metadata; with ``look_first`` an earlier post with that key is reused.

    The scheduled-delivery twin of :func:`bot.runtime.delivery.post_once`, for actions that post
    more than once under one key (a DM to each member, or a channel post and DMs).
    """
    return post_keyed(client, channel=channel, key=key, text=text, blocks=blocks,
                      look_since=(since or utcnow() - timedelta(days=3)) if look_first else None)


def fan_out(client: WebClient, action: ScheduledAction, user_ids: Iterable[str], build: Callable[[str], tuple[str, list]],
            on_sent: Callable[[str, dict], None] | None = None) -> int:
    """DM each person once for a scheduled action; returns how many were reached.

    A person Slack no longer knows is logged and skipped. Passing failures are retried for
    everyone not yet reached (a retry looks for the earlier DM first); if nobody could be
    reached because of a permanent error, the action fails so the lead hears about it.
    ``on_sent(user_id, posted)`` hears where each DM is (``channel`` and ``ts``), to update it later.
    """
    reached, passing, permanent = 0, [], []
    for user_id in user_ids:
        text, blocks = build(user_id)
        try:
            posted = post_with_key(client, channel=user_id, key=action.key, text=text, blocks=check_blocks(blocks),
                                   look_first=action.attempts > 1, since=action.due_at - timedelta(days=3))
            reached += 1
            if on_sent is not None:
                on_sent(user_id, posted)
        except RetryLater as exc:
            passing.append(str(exc))
        except DeliveryFailed as exc:
            log.warning("%s: could not DM %s: %s", action.key, user_id, exc)
            permanent.append(str(exc))
    if passing:
        raise RetryLater(f"{len(passing)} DM(s) to retry: {passing[0]}")
    if permanent and not reached:
        raise DeliveryFailed(permanent[0])
    return reached

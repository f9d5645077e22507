"""Helpers for clock deliveries: outcomes that decide retry or failure, and posting exactly once.

A delivery can be interrupted after Slack accepted a post but before the row was
marked done (a crash, a lost connection). Every post therefore carries its
idempotency key in Slack message metadata, and a second attempt first looks for a
message with that key before posting again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient

from bot.slack.client import SlackOutcome, call
from storage.models import ScheduledAction

log = logging.getLogger(__name__)
METADATA_EVENT = "compass_delivery"
HISTORY_WINDOW = timedelta(days=3)
MAX_HISTORY_PAGES = 10


class RetryLater(Exception):
    """A passing failure (rate limit, 5xx, network): try again with backoff, and not before ``not_before``
    when the failure says when it will have passed (work another process holds until its claim goes stale)."""

    def __init__(self, *args: object, not_before: datetime | None = None) -> None:
        super().__init__(*args)
        self.not_before = not_before


class DeliveryFailed(Exception):
    """A permanent failure: mark the row failed and tell whoever must know."""


class DropDelivery(Exception):
    """No longer useful (its moment passed, the person left): drop it, with a log line."""


def ensure_ok(outcome: SlackOutcome, what: str) -> dict[str, Any]:
    if outcome.ok:
        return outcome.data
    if outcome.retryable:
        raise RetryLater(f"{what}: {outcome.error}")
    raise DeliveryFailed(f"{what}: {outcome.error}")


def post_once(
    client: WebClient,
    action: ScheduledAction,
    *,
    channel: str,
    text: str,
    blocks: list | None = None,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """Post a message for a scheduled action, at most once whatever happened before."""
    return post_keyed(client, channel=channel, key=action.key, text=text, blocks=blocks, thread_ts=thread_ts,
                      look_since=action.due_at - HISTORY_WINDOW if action.attempts > 1 else None)


def post_keyed(
    client: WebClient, *, channel: str, key: str, text: str, blocks: list | None = None, thread_ts: str | None = None,
    look_since: datetime | None = None,
) -> dict[str, Any]:
    """Post carrying ``key`` in its metadata; with ``look_since`` an earlier post with that key (since then) is reused."""
    if look_since is not None:
        found = find_delivered(client, channel=channel, key=key, since=look_since)
        if found is not None:
            log.info("delivery %s was already posted in %s (ts %s); not posting again", key, channel, found.get("ts"))
            return found
    outcome = call(
        client,
        "chat.postMessage",
        channel=channel,
        text=text,
        blocks=blocks,
        thread_ts=thread_ts,
        metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}},
    )
    return ensure_ok(outcome, "chat.postMessage")


def find_delivered(client: WebClient, *, channel: str, key: str, since: datetime) -> dict[str, Any] | None:
    if channel.startswith(("U", "W")):
        opened = ensure_ok(call(client, "conversations.open", users=channel), "conversations.open")
        channel = opened["channel"]["id"]
    # Every page within the window: a busy channel may hold more than one page since the due time.
    cursor = None
    for _ in range(MAX_HISTORY_PAGES):
        history = ensure_ok(
            call(client, "conversations.history", channel=channel, oldest=f"{since.timestamp():.6f}", include_all_metadata=True,
                 limit=200, cursor=cursor),
            "conversations.history",
        )
        for message in history.get("messages", []):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == METADATA_EVENT and (metadata.get("event_payload") or {}).get("key") == key:
                return {"ok": True, "channel": channel, "ts": message.get("ts"), "message": message}
        cursor = (history.get("response_metadata") or {}).get("next_cursor")
        if not history.get("has_more") or not cursor:
            return None
    raise RetryLater(f"{key}: more than {MAX_HISTORY_PAGES} pages of history to search")

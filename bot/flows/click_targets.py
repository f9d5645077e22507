"""Which message a click may change: never one a payload merely names.

A click carries the channel and ts of its message; a forged one could name another group's
session guide or another person's DM. Before ``chat.update`` the bot asks Slack for the message
itself and checks that it is the bot's own post for the row the click is about (the delivery key
in its metadata starts with the row's key prefix) and, for a DM, that it is the clicker's DM.
"""

from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient

from bot.runtime.delivery import METADATA_EVENT
from bot.slack.client import call

log = logging.getLogger(__name__)

_dm_channels: dict[tuple[str, str], str] = {}  # (bot token, user) -> DM channel ID
_lock = threading.Lock()


def dm_channel_of(client: WebClient, user_id: str) -> str:
    cache_key = (client.token or "", user_id)
    with _lock:
        known = _dm_channels.get(cache_key)
    if known:
        return known
    opened = call(client, "conversations.open", users=user_id)
    channel = str(((opened.data or {}).get("channel") or {}).get("id") or "") if opened.ok else ""
    if channel:
        with _lock:
            _dm_channels[cache_key] = channel
    return channel


def is_own_post(client: WebClient, *, channel: str, ts: str, key_prefix: str, dm_of: str = "") -> bool:
    """Whether the message at (channel, ts) is the bot's post for ``key_prefix`` (and, with ``dm_of``,
    sits in that person's DM with the bot)."""
    if not (channel and ts and key_prefix):
        return False
    if dm_of and dm_channel_of(client, dm_of) != channel:
        log.warning("a click from %s named a message outside their DM; not updating it", dm_of)
        return False
    found = call(client, "conversations.history", channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1,
                 include_all_metadata=True)
    messages = (found.data or {}).get("messages") or [] if found.ok else []
    another_of_ours = False
    for message in messages:
        metadata = message.get("metadata") or {}
        key = str((metadata.get("event_payload") or {}).get("key") or "")
        if message.get("ts") == ts and metadata.get("event_type") == METADATA_EVENT:
            if key.startswith(key_prefix):
                return True
            another_of_ours = True
    if another_of_ours:
        # A button about one row on the bot's message for another (the next session's RSVP in the message
        # after a session): an ordinary click, answered privately; the message stays as it is.
        log.debug("a click on the bot's post for another row than %s; answering privately", key_prefix)
    else:
        log.warning("a click named a message that is not the bot's post for %s; not updating it", key_prefix)
    return False

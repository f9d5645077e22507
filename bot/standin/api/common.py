"""Checks shared by the method handlers."""

from __future__ import annotations

import copy
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from bot.standin.args import Args, SlackError
from bot.standin.blockkit import message_block_problems
from bot.standin.state import Conversation, Workspace

Handler = Callable[[Workspace, Args], dict[str, Any]]

MESSAGE_TEXT_LIMIT = 40_000
ATTACHMENT_LIMIT = 100


def ts_micros(ts: Any, *, error: str) -> int:
    """A ``"1700000000.000100"`` timestamp as integer microseconds (floats lose the last digits)."""
    try:
        return int(Decimal(str(ts)) * 1_000_000)
    except (InvalidOperation, ValueError):
        raise SlackError(error) from None


def require_bot_access(ws: Workspace, conversation: Conversation) -> None:
    """Private conversations are invisible to a bot that is not a member."""
    hidden = conversation.is_private or conversation.is_mpim or conversation.is_im
    if hidden and ws.bot_user_id not in conversation.members:
        raise SlackError("not_in_channel")


def require_writable(ws: Workspace, conversation: Conversation) -> None:
    if conversation.is_archived:
        raise SlackError("is_archived")
    require_bot_access(ws, conversation)


def check_blocks(blocks: Any) -> None:
    if blocks is None:
        return
    if not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    problems = message_block_problems(blocks)
    if problems:
        raise SlackError("invalid_blocks", messages=problems, errors=problems)


def check_metadata(metadata: Any) -> dict[str, Any] | None:
    """Message metadata must be ``{"event_type": str, "event_payload": object}``."""
    if metadata is None:
        return None
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not metadata["event_type"]
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


def message_content(args: Args, *, partial: bool = False) -> dict[str, Any]:
    """The text/blocks/attachments/metadata/thread_ts of a message, checked like Slack does.

    ``partial`` (chat.update) keeps absent fields out of the result instead of defaulting them.
    """
    text = args.text("text")
    blocks = args.json_value("blocks")
    attachments = args.json_value("attachments")
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    if text is not None and len(text) > MESSAGE_TEXT_LIMIT:
        raise SlackError("msg_too_long")
    check_blocks(blocks)
    if attachments is not None:
        if not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        if len(attachments) > ATTACHMENT_LIMIT:
            raise SlackError("too_many_attachments")
    content: dict[str, Any] = {
        "text": text,
        "blocks": blocks,
        "attachments": attachments,
        "metadata": check_metadata(args.json_value("metadata")),
        "thread_ts": args.text("thread_ts"),
    }
    if args.flag("reply_broadcast") and content["thread_ts"]:
        content["subtype"] = "thread_broadcast"
    if partial:
        return {key: value for key, value in content.items() if args.present(key)}
    if content["text"] is None:
        content["text"] = ""
    return content


def public_message(message: dict[str, Any], *, include_metadata: bool = True) -> dict[str, Any]:
    """A stored message as the Web API returns it."""
    shown = copy.deepcopy(message)
    if not include_metadata:
        shown.pop("metadata", None)
    return shown

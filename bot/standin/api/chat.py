"""chat.* methods."""

from __future__ import annotations

from typing import Any

from bot.standin.api.common import message_content, public_message, require_bot_access, require_writable
from bot.standin.args import Args, SlackError, page
from bot.standin.state import SCHEDULE_HORIZON_SECONDS, Workspace


def post_message(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.message_target(args.text("channel"))
    require_writable(ws, conversation)
    content = message_content(args)
    message = ws.post(conversation, content)
    return {"channel": conversation.id, "ts": message["ts"], "message": public_message(message)}


def post_ephemeral(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.message_target(args.text("channel"))
    user_id = args.required("user", error="user_not_found")
    ws.user(user_id)
    require_writable(ws, conversation)
    if user_id not in conversation.members:
        raise SlackError("user_not_in_channel")
    content = message_content(args)
    message_ts = ws.next_ts()
    ws.ephemerals.append(
        {
            "channel": conversation.id,
            "user": user_id,
            "message_ts": message_ts,
            **{key: content[key] for key in ("text", "blocks", "attachments", "thread_ts")},
        }
    )
    return {"message_ts": message_ts}


def _own_message(ws: Workspace, args: Args, *, forbidden: str) -> tuple[str, dict[str, Any]]:
    conversation = ws.conversation(args.text("channel"))
    require_bot_access(ws, conversation)
    message = ws.find_message(conversation.id, args.text("ts"))
    if message.get("user") != ws.bot_user_id:
        raise SlackError(forbidden)
    return conversation.id, message


def update(ws: Workspace, args: Args) -> dict[str, Any]:
    channel_id, message = _own_message(ws, args, forbidden="cant_update_message")
    if ws.conversations[channel_id].is_archived:
        raise SlackError("is_archived")
    changes = message_content(args, partial=True)
    changes.pop("thread_ts", None)
    message.update(changes)
    message["edited"] = {"user": ws.bot_user_id, "ts": ws.next_ts()}
    return {
        "channel": channel_id,
        "ts": message["ts"],
        "text": message.get("text", ""),
        "message": public_message(message),
    }


def delete(ws: Workspace, args: Args) -> dict[str, Any]:
    channel_id, message = _own_message(ws, args, forbidden="cant_delete_message")
    ws.messages[channel_id].remove(message)
    return {"channel": channel_id, "ts": message["ts"]}


def schedule_message(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.message_target(args.text("channel"))
    post_at = args.integer("post_at", error="invalid_time")
    if post_at is None:
        raise SlackError("invalid_time")
    now = ws.now()
    if post_at <= now:
        raise SlackError("time_in_past")
    if post_at > now + SCHEDULE_HORIZON_SECONDS:
        raise SlackError("time_too_far")
    require_writable(ws, conversation)
    content = message_content(args)
    scheduled_id = ws.new_id("Q")
    ws.scheduled[scheduled_id] = {
        "id": scheduled_id,
        "channel_id": conversation.id,
        "post_at": post_at,
        "date_created": int(now),
        "content": content,
    }
    message = {
        "type": "delayed_message",
        "subtype": "bot_message",
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "team": ws.team_id,
        "user": ws.bot_user_id,
        **{key: value for key, value in content.items() if value is not None},
    }
    return {"channel": conversation.id, "scheduled_message_id": scheduled_id, "post_at": post_at, "message": message}


def delete_scheduled_message(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.message_target(args.text("channel"))
    scheduled_id = args.required("scheduled_message_id", error="invalid_scheduled_message_id")
    item = ws.scheduled.get(scheduled_id)
    if item is None or item["channel_id"] != conversation.id:
        raise SlackError("invalid_scheduled_message_id")
    del ws.scheduled[scheduled_id]
    return {}


def scheduled_messages_list(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = args.text("channel")
    if channel is not None and channel not in ws.conversations:
        raise SlackError("invalid_channel")
    oldest = args.integer("oldest", 0) or 0
    latest = args.integer("latest")
    items = sorted(ws.scheduled.values(), key=lambda item: (item["post_at"], item["id"]))
    selected = [
        {
            "id": item["id"],
            "channel_id": item["channel_id"],
            "post_at": item["post_at"],
            "date_created": item["date_created"],
            "text": item["content"].get("text", ""),
        }
        for item in items
        if (channel is None or item["channel_id"] == channel)
        and item["post_at"] >= oldest
        and (latest is None or item["post_at"] <= latest)
    ]
    chunk, next_cursor = page(selected, args)
    return {"scheduled_messages": chunk, "response_metadata": {"next_cursor": next_cursor}}


def get_permalink(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.conversation(args.text("channel"))
    require_bot_access(ws, conversation)
    message = ws.find_message(conversation.id, args.text("message_ts"))
    permalink = f"https://{ws.domain}.slack.com/archives/{conversation.id}/p{message['ts'].replace('.', '')}"
    thread_ts = message.get("thread_ts")
    if thread_ts and thread_ts != message["ts"]:
        permalink += f"?thread_ts={thread_ts}&cid={conversation.id}"
    return {"channel": conversation.id, "permalink": permalink}


METHODS = {
    "chat.postMessage": post_message,
    "chat.postEphemeral": post_ephemeral,
    "chat.update": update,
    "chat.delete": delete,
    "chat.scheduleMessage": schedule_message,
    "chat.deleteScheduledMessage": delete_scheduled_message,
    "chat.scheduledMessages.list": scheduled_messages_list,
    "chat.getPermalink": get_permalink,
}


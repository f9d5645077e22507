"""conversations.* methods."""

from __future__ import annotations

from typing import Any

from bot.standin.api.common import public_message, require_bot_access, ts_micros
from bot.standin.args import Args, SlackError, page
from bot.standin.state import TOPIC_MAX_CHARS, Conversation, Workspace, channel_name_problem

MPIM_MAX_USERS = 8
HISTORY_MAX_LIMIT = 999


def _describe(ws: Workspace, conversation: Conversation, args: Args | None = None) -> dict[str, Any]:
    include = bool(args and args.flag("include_num_members"))
    return conversation.describe(viewer=ws.bot_user_id, include_num_members=include)


def create(ws: Workspace, args: Args) -> dict[str, Any]:
    name = args.text("name", "") or ""
    problem = channel_name_problem(name)
    if problem:
        raise SlackError(problem)
    if ws.channel_named(name) is not None:
        raise SlackError("name_taken")
    conversation = Conversation(
        id=ws.new_id("C"),
        name=name,
        created=int(ws.now()),
        creator=ws.bot_user_id,
        is_private=args.flag("is_private"),
        members=[ws.bot_user_id],
    )
    ws.add_conversation(conversation)
    return {"channel": _describe(ws, conversation)}


def invite(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.conversation(args.text("channel"))
    user_ids = args.id_list("users")
    if not user_ids:
        raise SlackError("no_user")
    if conversation.is_im or conversation.is_mpim:
        raise SlackError("method_not_supported_for_channel_type")
    if conversation.is_archived:
        raise SlackError("is_archived")
    # Slack only lets members add people, whether the channel is public or private.
    if ws.bot_user_id not in conversation.members:
        raise SlackError("not_in_channel")
    failures = []
    for user_id in user_ids:
        if user_id == ws.bot_user_id:
            failures.append((user_id, "cant_invite_self"))
        elif user_id not in ws.users:
            failures.append((user_id, "user_not_found"))
        elif ws.users[user_id]["deleted"]:
            failures.append((user_id, "cant_invite"))
        elif user_id in conversation.members:
            failures.append((user_id, "already_in_channel"))
    failed = {user_id for user_id, _ in failures}
    if failures and not args.flag("force"):
        raise SlackError(
            failures[0][1],
            errors=[{"user": user_id, "ok": False, "error": error} for user_id, error in failures],
        )
    for user_id in user_ids:
        if user_id not in failed and user_id not in conversation.members:
            conversation.members.append(user_id)
    body: dict[str, Any] = {"channel": _describe(ws, conversation)}
    if failures:
        body["errors"] = [{"user": user_id, "ok": False, "error": error} for user_id, error in failures]
    return body


def open_(ws: Workspace, args: Args) -> dict[str, Any]:
    if args.present("channel"):
        conversation = ws.conversation(args.text("channel"))
        if not (conversation.is_im or conversation.is_mpim):
            raise SlackError("method_not_supported_for_channel_type")
        return {"channel": _open_reply(ws, conversation, args), "no_op": True, "already_open": True}
    user_ids = list(dict.fromkeys(args.id_list("users")))
    if not user_ids:
        raise SlackError("users_list_not_supplied")
    if len(user_ids) > MPIM_MAX_USERS:
        raise SlackError("too_many_users")
    for user_id in user_ids:
        ws.user(user_id)
        if ws.users[user_id]["deleted"]:
            raise SlackError("user_disabled")
    others = [user_id for user_id in user_ids if user_id != ws.bot_user_id] or [ws.bot_user_id]
    if len(others) == 1:
        existed = others[0] in ws.dm_by_user
        if args.flag("prevent_creation") and not existed:
            raise SlackError("channel_not_found")
        conversation = ws.conversations[ws.open_dm(others[0])]
    else:
        channel_id, existed = ws.open_mpim(others)
        conversation = ws.conversations[channel_id]
    body: dict[str, Any] = {"channel": _open_reply(ws, conversation, args)}
    if existed:
        body.update(no_op=True, already_open=True)
    return body


def _open_reply(ws: Workspace, conversation: Conversation, args: Args) -> dict[str, Any]:
    if conversation.is_im and not args.flag("return_im"):
        return {"id": conversation.id}
    return _describe(ws, conversation)


def info(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.conversation(args.text("channel"))
    if conversation.is_private and ws.bot_user_id not in conversation.members:
        raise SlackError("channel_not_found")
    return {"channel": _describe(ws, conversation, args)}


def members(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.conversation(args.text("channel"))
    if conversation.is_private and ws.bot_user_id not in conversation.members:
        raise SlackError("channel_not_found")
    chunk, next_cursor = page(list(conversation.members), args)
    return {"members": chunk, "response_metadata": {"next_cursor": next_cursor}}


def _time_window(args: Args) -> tuple[int, int]:
    oldest = ts_micros(args.text("oldest", "0"), error="invalid_ts_oldest")
    latest_arg = args.text("latest")
    latest = ts_micros(latest_arg, error="invalid_ts_latest") if latest_arg else None
    inclusive = args.flag("inclusive")
    low = oldest if inclusive else oldest + 1
    high = (latest if inclusive else latest - 1) if latest is not None else 2**63
    return low, high


def history(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.conversation(args.text("channel"))
    require_bot_access(ws, conversation)
    low, high = _time_window(args)
    include_metadata = args.flag("include_all_metadata")
    top_level = [
        message
        for message in ws.messages[conversation.id]
        if message.get("thread_ts") in (None, message["ts"]) or message.get("subtype") == "thread_broadcast"
    ]
    in_window = [m for m in reversed(top_level) if low <= ts_micros(m["ts"], error="invalid_ts_latest") <= high]
    chunk, next_cursor = page(in_window, args, default_limit=100, max_limit=HISTORY_MAX_LIMIT)
    return {
        "messages": [public_message(m, include_metadata=include_metadata) for m in chunk],
        "has_more": bool(next_cursor),
        "pin_count": 0,
        "channel_actions_count": 0,
        "channel_actions_ts": None,
        "response_metadata": {"next_cursor": next_cursor},
    }


def replies(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.conversation(args.text("channel"))
    require_bot_access(ws, conversation)
    thread_ts = args.required("ts", error="thread_not_found")
    ws.find_message(conversation.id, thread_ts, error="thread_not_found")
    low, high = _time_window(args)
    thread = [
        message
        for message in ws.messages[conversation.id]
        if (message["ts"] == thread_ts or message.get("thread_ts") == thread_ts)
        and low <= ts_micros(message["ts"], error="invalid_ts_latest") <= high
    ]
    include_metadata = args.flag("include_all_metadata")
    chunk, next_cursor = page(thread, args, default_limit=1000, max_limit=1000)
    return {
        "messages": [public_message(m, include_metadata=include_metadata) for m in chunk],
        "has_more": bool(next_cursor),
        "response_metadata": {"next_cursor": next_cursor},
    }


def archive(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.conversation(args.text("channel"))
    if conversation.is_im or conversation.is_mpim:
        raise SlackError("method_not_supported_for_channel_type")
    if conversation.is_archived:
        raise SlackError("already_archived")
    if ws.bot_user_id not in conversation.members:
        raise SlackError("not_in_channel")
    conversation.is_archived = True
    return {}


def set_topic(ws: Workspace, args: Args) -> dict[str, Any]:
    conversation = ws.conversation(args.text("channel"))
    topic = args.exact("topic")
    if topic is None:
        raise SlackError("invalid_arguments", messages=["missing required field: topic"])
    topic = str(topic)
    if conversation.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    if conversation.is_archived:
        raise SlackError("is_archived")
    if ws.bot_user_id not in conversation.members:
        raise SlackError("not_in_channel")
    if len(topic) > TOPIC_MAX_CHARS:
        raise SlackError("too_long")
    conversation.topic = {"value": topic, "creator": ws.bot_user_id, "last_set": int(ws.now())}
    return {"channel": _describe(ws, conversation)}


METHODS = {
    "conversations.create": create,
    "conversations.invite": invite,
    "conversations.open": open_,
    "conversations.info": info,
    "conversations.members": members,
    "conversations.history": history,
    "conversations.replies": replies,
    "conversations.archive": archive,
    "conversations.setTopic": set_topic,
}

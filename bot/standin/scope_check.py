"""Refusing a call whose scope the installation lacks, with Slack's ``missing_scope`` answer."""

from __future__ import annotations

from typing import Any

from bot.slack.scopes import IM, MPIM, PRIVATE, PUBLIC, scope_needed
from bot.standin.state import Workspace


def _conversation_kind(ws: Workspace, method: str, args: dict[str, Any]) -> str:
    if method == "conversations.create":
        return PRIVATE if str(args.get("is_private", "")).lower() in ("1", "true") else PUBLIC
    if method == "conversations.open" and not args.get("channel"):
        users = [u for u in str(args.get("users", "")).split(",") if u.strip()]
        return IM if len(users) <= 1 else MPIM
    channel = args.get("channel")
    conversation = ws.conversations.get(channel) if isinstance(channel, str) else None
    if conversation is None:
        return IM if isinstance(channel, str) and channel in ws.users else PUBLIC
    if conversation.is_im:
        return IM
    if conversation.is_mpim:
        return MPIM
    return PRIVATE if conversation.is_private else PUBLIC


def missing_scope(ws: Workspace, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """Slack's answer when the installation lacks the scope ``method`` needs here, else None."""
    try:
        needed = scope_needed(method, _conversation_kind(ws, method, args))
    except KeyError:
        return None  # a method outside the scope table: the stand-in's own handler decides
    if needed is None or needed in ws.granted_scopes:
        return None
    return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(sorted(ws.granted_scopes))}

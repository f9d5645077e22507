"""Who may take part: Slack's user object says whether a person is a full member of the workspace.

Deleted (deactivated) accounts, bots and app users, and guests (``is_restricted``: multi-channel,
``is_ultra_restricted``: single-channel) are never enrolled, invited, grouped, made lead or paired.
Slackbot (``USLACKBOT``) is a bot even though its user object says ``is_bot: false``.
"""

from __future__ import annotations

from typing import Any

DELETED, BOT, GUEST = "deleted", "bot", "guest"


def ineligible_kind(user: dict[str, Any] | None) -> str | None:
    """``deleted``, ``bot`` or ``guest`` for a user object who may not take part; None for a full member."""
    if not isinstance(user, dict):
        return None
    if user.get("deleted"):
        return DELETED
    if user.get("is_bot") or user.get("is_app_user") or user.get("id") == "USLACKBOT":
        return BOT
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return GUEST
    return None

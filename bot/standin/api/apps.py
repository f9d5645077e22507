"""``apps.connections.open``: the WebSocket URL of a Socket Mode connection, for an app-level token.

Slack answers it only for the app-level token (``xapp-…``, scope ``connections:write``); a bot token
gets ``not_allowed_token_type``. The URL is that of a Socket Mode endpoint the test (or the demo)
runs and names with :meth:`bot.standin.SlackStandIn.enable_socket_mode`.
"""

from __future__ import annotations

from typing import Any

from bot.standin.state import Workspace


def connections_open(ws: Workspace, token: str | None) -> dict[str, Any]:
    if not token:
        return {"ok": False, "error": "not_authed"}
    if token == ws.bot_token or token in ws.token_expiry:
        return {"ok": False, "error": "not_allowed_token_type"}
    if not ws.app_token or token != ws.app_token or not ws.socket_mode_url:
        return {"ok": False, "error": "invalid_auth"}
    return {"ok": True, "url": ws.socket_mode_url}


APP_TOKEN_METHODS = {"apps.connections.open": connections_open}

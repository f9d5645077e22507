"""oauth.v2.access: exchanging an OAuth code for the workspace's bot token.

The one method authenticated by the app's client ID and secret (HTTP Basic or form
fields) instead of a token; the server routes it before its token check.
"""

from __future__ import annotations

from typing import Any

from bot.standin.args import Args, SlackError
from bot.standin.state import Workspace

TOKEN_LIFETIME_SECONDS = 43_200  # Slack's rotating tokens live 12 hours


def oauth_v2_access(ws: Workspace, args: Args) -> dict[str, Any]:
    client_id = args.text("client_id")
    client_secret = args.text("client_secret")
    if not client_id or ws.oauth_clients.get(client_id) != client_secret:
        raise SlackError("invalid_client_id" if client_id not in ws.oauth_clients else "bad_client_secret")
    if args.text("grant_type") == "refresh_token":
        return _refreshed(ws, args.required("refresh_token", error="invalid_refresh_token"))
    code = args.required("code", error="invalid_code")
    installer = ws.oauth_codes.pop(code, None)
    if installer is None:
        raise SlackError("invalid_code")
    return {
        "app_id": ws.app_id,
        "authed_user": {"id": installer},
        "scope": ",".join(sorted(ws.granted_scopes)),
        "token_type": "bot",
        "access_token": ws.bot_token,
        "bot_user_id": ws.bot_user_id,
        "team": None if ws.org_install else {"id": ws.team_id, "name": ws.team_name},
        "enterprise": {"id": ws.enterprise_id, "name": f"{ws.team_name} Org"} if ws.enterprise_id else None,
        "is_enterprise_install": ws.org_install,
        **(_expiring_token(ws, ws.bot_token) if ws.token_rotation else {}),
    }


def _expiring_token(ws: Workspace, token: str) -> dict[str, Any]:
    ws.token_expiry[token] = ws.now() + TOKEN_LIFETIME_SECONDS
    refresh = f"xoxe-1-{ws.new_id('')}"
    ws.refresh_tokens[refresh] = token
    return {"refresh_token": refresh, "expires_in": TOKEN_LIFETIME_SECONDS}


def _refreshed(ws: Workspace, refresh_token: str) -> dict[str, Any]:
    """A new bot token for a refresh token (each refresh token works once); the old token keeps its expiry."""
    if ws.refresh_tokens.pop(refresh_token, None) is None:
        raise SlackError("invalid_refresh_token")
    ws.bot_token = f"xoxe.xoxb-{ws.new_id('')}"
    return {"token_type": "bot", "access_token": ws.bot_token, "scope": ",".join(sorted(ws.granted_scopes)),
            "bot_user_id": ws.bot_user_id, "app_id": ws.app_id,
            "team": None if ws.org_install else {"id": ws.team_id, "name": ws.team_name},
            "enterprise": {"id": ws.enterprise_id} if ws.enterprise_id else None,
            "is_enterprise_install": ws.org_install, **_expiring_token(ws, ws.bot_token)}


TOKENLESS_METHODS = {"oauth.v2.access": oauth_v2_access}

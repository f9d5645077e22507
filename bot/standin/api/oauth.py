"""oauth.v2.access: exchanging an OAuth code for the workspace's bot token.

The one method authenticated by the app's client ID and secret (HTTP Basic or form
fields) instead of a token; the server routes it before its token check.
"""

from __future__ import annotations

from typing import Any

from bot.standin.args import Args, SlackError
from bot.standin.state import Workspace

SCOPES = "chat:write,commands,im:write,mpim:write,groups:write,groups:history,im:history,mpim:history,files:write,users:read"


def oauth_v2_access(ws: Workspace, args: Args) -> dict[str, Any]:
    client_id = args.text("client_id")
    client_secret = args.text("client_secret")
    if not client_id or ws.oauth_clients.get(client_id) != client_secret:
        raise SlackError("invalid_client_id" if client_id not in ws.oauth_clients else "bad_client_secret")
    code = args.required("code", error="invalid_code")
    installer = ws.oauth_codes.pop(code, None)
    if installer is None:
        raise SlackError("invalid_code")
    return {
        "app_id": ws.app_id,
        "authed_user": {"id": installer},
        "scope": SCOPES,
        "token_type": "bot",
        "access_token": ws.bot_token,
        "bot_user_id": ws.bot_user_id,
        "team": {"id": ws.team_id, "name": ws.team_name},
        "enterprise": None,
        "is_enterprise_install": False,
    }


TOKENLESS_METHODS = {"oauth.v2.access": oauth_v2_access}

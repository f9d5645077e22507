"""auth.*, team.* and users.* methods."""

from __future__ import annotations

import copy
from typing import Any

from bot.standin.args import Args, SlackError, page
from bot.standin.state import Workspace


def auth_test(ws: Workspace, args: Args) -> dict[str, Any]:
    return {
        "url": f"https://{ws.domain}.slack.com/",
        "team": ws.team_name,
        "user": ws.users[ws.bot_user_id]["name"],
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "is_enterprise_install": ws.org_install,
        **({"enterprise_id": ws.enterprise_id} if ws.enterprise_id else {}),
    }


def team_info(ws: Workspace, args: Args) -> dict[str, Any]:
    team = args.text("team")
    if team is not None and team != ws.team_id:
        raise SlackError("team_not_found")
    return {
        "team": {
            "id": ws.team_id,
            "name": ws.team_name,
            "domain": ws.domain,
            "email_domain": "",
            "icon": {"image_default": True},
        }
    }


def users_info(ws: Workspace, args: Args) -> dict[str, Any]:
    user = ws.user(args.required("user", error="user_not_found"))
    return {"user": copy.deepcopy(user)}


def users_list(ws: Workspace, args: Args) -> dict[str, Any]:
    members, next_cursor = page(list(ws.users.values()), args, default_limit=1000)
    return {
        "members": copy.deepcopy(members),
        "cache_ts": int(ws.now()),
        "response_metadata": {"next_cursor": next_cursor},
    }


def users_lookup_by_email(ws: Workspace, args: Args) -> dict[str, Any]:
    email = args.required("email", error="users_not_found").strip().lower()
    for user in ws.users.values():
        if not user["deleted"] and user["profile"].get("email", "").lower() == email:
            return {"user": copy.deepcopy(user)}
    raise SlackError("users_not_found")


METHODS = {
    "auth.test": auth_test,
    "team.info": team_info,
    "users.info": users_info,
    "users.list": users_list,
    "users.lookupByEmail": users_lookup_by_email,
}

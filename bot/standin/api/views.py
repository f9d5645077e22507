"""views.* methods: modals (open, push, update) and the App Home (publish)."""

from __future__ import annotations

import copy
from typing import Any

from bot.standin.args import Args, SlackError, invalid_arguments
from bot.standin.blockkit import HOME, MODAL, view_problems
from bot.standin.state import Workspace

MODAL_STACK_LIMIT = 3


def _checked_view(args: Args, allowed_types: tuple[str, ...]) -> dict[str, Any]:
    view = args.json_value("view")
    if view is None:
        raise invalid_arguments("missing required field: view")
    if isinstance(view, str):
        raise invalid_arguments("failed to parse json [json-pointer:/view]")
    problems = view_problems(view, allowed_types=allowed_types)
    if problems:
        raise invalid_arguments(*problems)
    return view


def _require_unique_external_id(ws: Workspace, view: dict[str, Any], *, replacing: str | None = None) -> None:
    external_id = view.get("external_id")
    if not external_id:
        return
    for existing in [*ws.open_views.values(), *ws.home_views.values()]:
        if existing["id"] != replacing and existing.get("external_id") == external_id:
            raise SlackError("duplicate_external_id")


def _stored_view(
    ws: Workspace, view: dict[str, Any], *, view_id: str, root_view_id: str | None, previous_view_id: str | None
) -> dict[str, Any]:
    stored = {
        "id": view_id,
        "team_id": ws.team_id,
        "type": view["type"],
        "blocks": copy.deepcopy(view.get("blocks", [])),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "external_id": view.get("external_id", ""),
        "state": {"values": {}},
        "hash": ws.new_view_hash(),
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "root_view_id": root_view_id,
        "previous_view_id": previous_view_id,
        "app_id": ws.app_id,
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    }
    for key in ("title", "submit", "close"):
        if view.get(key) is not None:
            stored[key] = copy.deepcopy(view[key])
    return stored


def open_(ws: Workspace, args: Args) -> dict[str, Any]:
    view = _checked_view(args, (MODAL,))
    _require_unique_external_id(ws, view)
    ws.redeem_trigger(args.text("trigger_id") or args.text("interactivity_pointer"))
    view_id = ws.new_id("V")
    stored = _stored_view(ws, view, view_id=view_id, root_view_id=view_id, previous_view_id=None)
    ws.open_views[view_id] = stored
    ws.view_stacks[view_id] = [view_id]
    return {"view": copy.deepcopy(stored)}


def push(ws: Workspace, args: Args) -> dict[str, Any]:
    view = _checked_view(args, (MODAL,))
    _require_unique_external_id(ws, view)
    trigger = ws.redeem_trigger(args.text("trigger_id") or args.text("interactivity_pointer"))
    source_view = ws.open_views.get(trigger["view_id"]) if trigger["view_id"] else None
    if source_view is not None:
        root_id = source_view["root_view_id"]
    elif ws.view_stacks:
        root_id = next(reversed(ws.view_stacks))  # the most recently opened modal
    else:
        raise SlackError("not_found")
    stack = ws.view_stacks[root_id]
    if len(stack) >= MODAL_STACK_LIMIT:
        raise SlackError("push_limit_reached")
    view_id = ws.new_id("V")
    stored = _stored_view(ws, view, view_id=view_id, root_view_id=root_id, previous_view_id=stack[-1])
    ws.open_views[view_id] = stored
    stack.append(view_id)
    return {"view": copy.deepcopy(stored)}


def update(ws: Workspace, args: Args) -> dict[str, Any]:
    view_id, external_id = args.text("view_id"), args.text("external_id")
    if view_id is None and external_id is None:
        raise invalid_arguments("either view_id or external_id is required")
    candidates = [*ws.open_views.values(), *ws.home_views.values()]
    current = next(
        (
            existing
            for existing in candidates
            if (view_id is not None and existing["id"] == view_id)
            or (view_id is None and existing.get("external_id") == external_id)
        ),
        None,
    )
    if current is None:
        raise SlackError("not_found")
    view = _checked_view(args, (current["type"],))
    expected_hash = args.text("hash")
    if expected_hash is not None and expected_hash != current["hash"]:
        raise SlackError("hash_conflict")
    _require_unique_external_id(ws, view, replacing=current["id"])
    stored = _stored_view(
        ws,
        view,
        view_id=current["id"],
        root_view_id=current["root_view_id"],
        previous_view_id=current["previous_view_id"],
    )
    current.clear()
    current.update(stored)
    return {"view": copy.deepcopy(stored)}


def publish(ws: Workspace, args: Args) -> dict[str, Any]:
    user_id = args.required("user_id")
    if user_id not in ws.users:
        raise invalid_arguments("invalid user_id [json-pointer:/user_id]")
    view = _checked_view(args, (HOME,))
    current = ws.home_views.get(user_id)
    expected_hash = args.text("hash")
    if expected_hash is not None and (current is None or expected_hash != current["hash"]):
        raise SlackError("hash_conflict")
    view_id = current["id"] if current else ws.new_id("V")
    _require_unique_external_id(ws, view, replacing=view_id)
    stored = _stored_view(ws, view, view_id=view_id, root_view_id=None, previous_view_id=None)
    ws.home_views[user_id] = stored
    return {"view": copy.deepcopy(stored)}


METHODS = {
    "views.open": open_,
    "views.push": push,
    "views.update": update,
    "views.publish": publish,
}

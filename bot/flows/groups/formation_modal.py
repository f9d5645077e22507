"""The admin's formation modal: choose the settings, preview the groups, approve them."""

from __future__ import annotations

import json
import logging
from typing import Callable

from slack_sdk import WebClient
from slack_sdk.models.blocks import InputBlock, Option, PlainTextInputElement, RadioButtonsElement, StaticSelectElement
from slack_sdk.models.views import View
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.flows.commands import who
from bot.flows.groups.formation import FormationPlan, default_cohort, form_and_apply, plan_formation
from bot.flows.groups.messaging import parse_int
from bot.domain.group_formation import ALLOWED_SIZE_MAX, ALLOWED_SIZE_MIN, MODES, FormationSettings
from bot.slack.render import check_blocks, context_block, render, section_blocks, split_text
from bot.runtime.services import Services
from bot.slack.client import call
from storage import groups as store
from storage.db import session_scope, utcnow

log = logging.getLogger(__name__)

ACTION_FORM_OPEN = "groups_form_open"
VIEW_FORM_SETTINGS = "groups_form_settings"
VIEW_FORM_APPROVE = "groups_form_approve"
PREVIEW_GROUPS_DETAILED = 40
VIEW_BLOCKS = 100
FORM_ACTION = "value"


def _size_options() -> list[Option]:
    return [Option(value=str(n), text=str(n)) for n in range(ALLOWED_SIZE_MIN, ALLOWED_SIZE_MAX + 1)]


def settings_view(*, waiting: int, cohort: str) -> dict:
    sizes, defaults = _size_options(), FormationSettings()
    modes = [Option(value="mixed", text="Mixed specialties"), Option(value="same-specialty", text="Same specialty")]
    blocks = section_blocks(render("group_form.j2", kind="settings", waiting=waiting)) + [
        InputBlock(block_id="cohort", label="Cohort name", optional=True, hint="Names the groups, e.g. “Fall 2026 group 3”.",
                   element=PlainTextInputElement(action_id=FORM_ACTION, initial_value=cohort, max_length=60)),
        InputBlock(block_id="mode", label="Groups",
                   element=RadioButtonsElement(action_id=FORM_ACTION, options=modes, initial_option=modes[0])),
        InputBlock(block_id="size_min", label="Smallest group",
                   element=StaticSelectElement(action_id=FORM_ACTION, options=sizes, initial_option=sizes[defaults.size_min - ALLOWED_SIZE_MIN])),
        InputBlock(block_id="size_max", label="Largest group",
                   element=StaticSelectElement(action_id=FORM_ACTION, options=sizes, initial_option=sizes[defaults.size_max - ALLOWED_SIZE_MIN])),
    ]
    view = View(type="modal", callback_id=VIEW_FORM_SETTINGS, title="Form groups", submit="Preview", close="Cancel",
                blocks=check_blocks(blocks, surface="modal"))
    view.validate_json()
    return view.to_dict()


def preview_view(plan: FormationPlan, *, changed: bool = False) -> dict:
    result, settings = plan.result, plan.settings
    placed = sum(len(g.members) for g in result.groups)
    if not result.groups:
        blocks: list = section_blocks(render("group_form.j2", kind="nobody"))
    else:
        blocks = section_blocks(render("group_form.j2", kind="preview", changed=changed, placed=placed, count=len(result.groups),
                                       mode=settings.mode, size_min=settings.size_min, size_max=settings.size_max))
    if len(result.groups) <= PREVIEW_GROUPS_DETAILED:
        for group in result.groups:
            blocks += section_blocks(render("group_form.j2", kind="group", group=group))
    else:
        blocks += section_blocks(render("group_form.j2", kind="lines", groups=result.groups))
    if result.warnings:
        warnings = render("group_form.j2", kind="warnings", warnings=result.warnings)
        blocks += [context_block(chunk) for chunk in split_text(warnings, 2000)]
    metadata = {"cohort": plan.cohort, "mode": settings.mode, "size_min": settings.size_min, "size_max": settings.size_max,
                "seed": settings.seed, "fingerprint": plan.fingerprint}
    view = View(type="modal", callback_id=VIEW_FORM_APPROVE, title="Preview groups", close="Cancel",
                submit="Create groups" if result.groups else None, private_metadata=json.dumps(metadata),
                blocks=check_blocks(blocks[:VIEW_BLOCKS], surface="modal"))
    view.validate_json()
    return view.to_dict()


def message_view(text: str) -> dict:
    view = View(type="modal", title="Form groups", close="Close", blocks=check_blocks(section_blocks(text), surface="modal"))
    return view.to_dict()


def _state_value(state: dict, block_id: str) -> dict:
    return ((state.get(block_id) or {}).get(FORM_ACTION)) or {}


def read_settings(view: dict) -> tuple[FormationSettings | None, str, dict[str, str]]:
    state = (view.get("state") or {}).get("values") or {}
    cohort = (_state_value(state, "cohort").get("value") or "").strip()
    mode = ((_state_value(state, "mode").get("selected_option")) or {}).get("value") or "mixed"
    size_min = parse_int(((_state_value(state, "size_min").get("selected_option")) or {}).get("value"))
    size_max = parse_int(((_state_value(state, "size_max").get("selected_option")) or {}).get("value"))
    errors = {}
    if mode not in MODES:
        errors["mode"] = "Choose mixed or same-specialty groups."
    if size_min is None:
        errors["size_min"] = "Choose the smallest group size."
    if size_max is None:
        errors["size_max"] = "Choose the largest group size."
    if not errors and size_min > size_max:
        errors["size_max"] = f"The largest group must be at least {size_min}."
    if errors:
        return None, cohort, errors
    return FormationSettings(size_min=size_min, size_max=size_max, mode=mode), cohort, {}


def open_form(services: Services, client: WebClient, body: dict, reply: Callable[..., None]) -> None:
    team_id, user_id = who(body)
    if not services.is_admin(team_id, user_id):
        reply(render("errors.j2", kind="admin_only", admins=""))
        return
    with Session(services.engine) as session:
        waiting = store.count_unplaced(session, team_id=team_id)
    outcome = call(client, "views.open", trigger_id=body.get("trigger_id", ""),
                   view=settings_view(waiting=waiting, cohort=default_cohort(utcnow())))
    if not outcome.ok:
        reply(outcome.friendly)


def submit_settings(services: Services, client: WebClient, ack, body: dict, view: dict) -> None:  # noqa: ANN001
    """Check the settings, acknowledge at once with a "computing" view (Bolt must ack within 3 seconds,
    and a large waiting list takes longer to plan), then show the preview with ``views.update``."""
    team_id, user_id = who(body)
    if not services.is_admin(team_id, user_id):
        ack(response_action="update", view=message_view(render("errors.j2", kind="admin_only", admins="")))
        return
    settings, cohort, errors = read_settings(view)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack(response_action="update", view=message_view(render("group_form.j2", kind="computing")))
    try:
        with Session(services.engine) as session:
            plan = plan_formation(session, team_id=team_id, settings=settings, cohort=cohort or default_cohort(utcnow()),
                                  default_tz=services.settings.compass_timezone)
    except SQLAlchemyError:
        log.exception("group formation preview: database error")
        show(client, view, message_view(render("errors.j2", kind="database")))
        return
    show(client, view, preview_view(plan))


def submit_approval(services: Services, client: WebClient, ack, body: dict, view: dict) -> None:  # noqa: ANN001
    """Acknowledge at once with a "creating" view, form the groups, then show the outcome with ``views.update``."""
    team_id, user_id = who(body)
    if not services.is_admin(team_id, user_id):
        ack(response_action="update", view=message_view(render("errors.j2", kind="admin_only", admins="")))
        return
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
        settings = FormationSettings(size_min=int(metadata["size_min"]), size_max=int(metadata["size_max"]),
                                     mode=metadata["mode"], seed=int(metadata.get("seed", 0)))
        cohort, fingerprint = str(metadata["cohort"]), str(metadata["fingerprint"])
    except (ValueError, KeyError, TypeError):
        log.warning("group formation approval with malformed metadata from %s", user_id)
        ack(response_action="update", view=message_view(render("group_form.j2", kind="error")))
        return
    ack(response_action="update", view=message_view(render("group_form.j2", kind="creating")))
    try:
        with session_scope(services.engine) as session:
            plan, created = form_and_apply(session, services, team_id=team_id, settings=settings, cohort=cohort,
                                           actor_id=user_id, expected_fingerprint=fingerprint)
    except SQLAlchemyError:
        log.exception("group formation: database error; nothing was created")
        show(client, view, message_view(render("group_form.j2", kind="error")))
        return
    if created is None:
        show(client, view, preview_view(plan, changed=True))
        return
    show(client, view, message_view(render("group_form.j2", kind="done", count=len(created))))


def show(client: WebClient, submitted: dict, view: dict) -> None:
    """Replace the modal the admin submitted (now showing "computing…") with ``view``."""
    view_id = str(submitted.get("id") or "")
    outcome = call(client, "views.update", view_id=view_id, view=view)
    if not outcome.ok:
        log.warning("group formation: could not show the result in the modal: %s", outcome.error)

"""Telling the lead (or the admins) when a group's delivery failed for good."""

from __future__ import annotations

from datetime import datetime

from slack_sdk import WebClient
from sqlmodel import Session

from bot.runtime.delivery import DropDelivery
from bot.flows.groups.channel import SETUP_KIND
from bot.flows.groups.messaging import fan_out, session_time
from bot.slack.render import fallback_text, render, section_blocks
from bot.runtime.services import Services
from storage import schedule
from storage import groups as store
from storage.db import session_scope, utcnow
from storage.models import ScheduledAction
from storage.roles import admin_user_ids

FAILURE_NOTICE_KIND = "group_failure_notice"


def on_failure(services: Services, action: ScheduledAction, error: str) -> None:
    """A delivery failed for good: queue one notice (its key makes sure it is only ever sent once)."""
    payload = schedule.payload_of(action)
    group_id = payload.get("group_id")
    if not group_id:
        return
    with session_scope(services.engine) as session:
        schedule.schedule(session, key=f"notice:{action.key}", kind=FAILURE_NOTICE_KIND, due_at=utcnow(), team_id=action.team_id,
                          payload={"group_id": group_id, "kind": action.kind, "error": error[:300],
                                   "starts_at": payload.get("starts_at", "")})


def deliver_failure_notice(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=int(payload.get("group_id", 0)))
        admins = admin_user_ids(session, team_id=group.team_id, configured=services.settings.admin_ids) if group else []
    if group is None:
        raise DropDelivery("the group no longer exists")
    kind = payload.get("kind", "")
    for_admin = kind == SETUP_KIND or not group.lead_user_id
    recipients = admins if for_admin else [group.lead_user_id]
    if not recipients:
        raise DropDelivery("nobody to tell: the group has no lead and there are no admins")
    when = ""
    if payload.get("starts_at"):
        try:
            when = session_time(datetime.fromisoformat(payload["starts_at"]), group.timezone)
        except ValueError:
            when = ""
    text = render("group_failure.j2", kind=kind, group_name=group.name, when=when,
                  error=payload.get("error", ""), for_admin=for_admin)
    fan_out(client, action, recipients, lambda user_id: (fallback_text(text), section_blocks(text)))

"""Who may change a group: its lead, or an admin."""

from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.slack.render import render
from bot.runtime.services import Services
from storage import groups as store
from storage.models import Group

log = logging.getLogger(__name__)


def is_lead_anywhere(services: Services) -> Callable[[str, str], bool]:
    def check(team_id: str, user_id: str) -> bool:
        try:
            with services.engine.connect() as connection:  # Core: asked on every /compass help
                return store.leads_a_group(connection, team_id=team_id, user_id=user_id)
        except SQLAlchemyError:
            log.warning("lead check: the database is unreachable")
            return False

    return check


def controlled_group(services: Services, *, team_id: str, user_id: str, channel_id: str, what: str,
                     reply: Callable[[str], None]) -> Group | None:
    """The group a lead's command is about, if this person may change it; otherwise a polite refusal.

    The group is the one whose channel the command is typed in; a lead of exactly one
    group may type it anywhere.
    """
    is_admin = services.is_admin(team_id, user_id)
    with Session(services.engine) as session:
        group = store.group_in_channel(session, team_id=team_id, channel_id=channel_id)
        led = store.groups_led_by(session, team_id=team_id, user_id=user_id)
        if group is None:
            if len(led) == 1:
                return led[0]
            if len(led) > 1:
                reply(render("group_not_allowed.j2", reason="several", what=what, lead_id=""))
            elif is_admin:
                reply(render("group_not_allowed.j2", reason="admin_elsewhere", what=what, lead_id=""))
            else:
                own = store.group_of_member(session, team_id=team_id, user_id=user_id)
                reason = ("not_lead" if own.lead_user_id else "no_lead") if own else "elsewhere"
                reply(render("group_not_allowed.j2", reason=reason, what=what, lead_id=own.lead_user_id if own else ""))
            return None
    if is_admin or group.lead_user_id == user_id:
        return group
    reason = "not_lead" if group.lead_user_id else "no_lead"
    reply(render("group_not_allowed.j2", reason=reason, what=what, lead_id=group.lead_user_id))
    return None


def may_control(services: Services, group: Group, user_id: str) -> bool:
    return group.lead_user_id == user_id or services.is_admin(group.team_id, user_id)


def refusal(group: Group, what: str) -> str:
    return render("group_not_allowed.j2", reason="not_lead" if group.lead_user_id else "no_lead", what=what, lead_id=group.lead_user_id)

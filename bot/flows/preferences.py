"""A person's message preferences, in their App Home: the optional hour-before reminder and
their quiet hours (nothing is sent inside them; what falls there waits until 30 minutes after)."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, Option, StaticSelectElement
from sqlmodel import Session

from bot.domain.quiet_hours import QuietHours
from bot.flows.commands import CommandRouter, run_guarded, who
from bot.flows.home import publish_home
from bot.runtime.services import Services
from bot.slack.render import section_blocks
from storage import audit
from storage.db import session_scope
from storage.members import get_member
from storage.models import Member

ACTION_HOUR_BEFORE = "prefs_hour_before"
ACTION_QUIET_HOURS = "prefs_quiet_hours"
QUIET_CHOICES = {  # value -> (start, end, label)
    "21-07": ("21:00", "07:00", "21:00 to 07:00"),
    "22-07": ("22:00", "07:00", "22:00 to 07:00"),
    "20-07": ("20:00", "07:00", "20:00 to 07:00"),
    "21-08": ("21:00", "08:00", "21:00 to 08:00"),
    "22-06": ("22:00", "06:00", "22:00 to 06:00"),
}


def quiet_value(member: Member) -> str | None:
    return next((v for v, (start, end, _) in QUIET_CHOICES.items() if (start, end) == (member.quiet_start, member.quiet_end)), None)


def home_section(services: Services, session: Session, *, member: Member) -> list:
    """Only for someone taking part: how often the program writes to them, and when it never does."""
    if member.status != "active":
        return []
    hours = QuietHours.parse(member.quiet_start, member.quiet_end)
    reminders = "the day before each session, and an hour before" if member.remind_hour_before else "the day before each session"
    text = (f"*Your messages*\nReminders: {reminders}.\nQuiet hours: none from {hours.start:%H:%M} to {hours.end:%H:%M} "
            f"your time ({member.timezone or 'your time zone'}); anything due then waits until {hours.resume():%H:%M}.")
    options = [Option(text=label, value=value) for value, (_, _, label) in QUIET_CHOICES.items()]
    current = quiet_value(member)
    select = StaticSelectElement(action_id=ACTION_QUIET_HOURS, placeholder="Quiet hours", options=options,
                                 initial_option=next((o for o in options if o.value == current), None))
    toggle = ButtonElement(text="Only the day before" if member.remind_hour_before else "Also remind me an hour before",
                           action_id=ACTION_HOUR_BEFORE, value="off" if member.remind_hour_before else "on")
    return [*section_blocks(text), ActionsBlock(block_id="home_prefs", elements=[toggle, select])]


def set_preference(services: Services, client: WebClient, body: dict) -> None:
    team_id, user_id = who(body)
    action = (body.get("actions") or [{}])[0]
    with session_scope(services.engine) as session:
        member = get_member(session, team_id=team_id, user_id=user_id)
        if member is None or member.status != "active":
            return
        if action.get("action_id") == ACTION_HOUR_BEFORE:
            member.remind_hour_before = action.get("value") == "on"
            detail = {"remind_hour_before": member.remind_hour_before}
        else:
            choice = QUIET_CHOICES.get(str((action.get("selected_option") or {}).get("value")))
            if choice is None:
                return
            member.quiet_start, member.quiet_end = choice[0], choice[1]
            detail = {"quiet_hours": f"{choice[0]}-{choice[1]}"}
        session.add(member)
        audit.record(session, team_id=team_id, actor_id=user_id, action="preferences_changed", subject_id=user_id, **detail)
    publish_home(services, client, team_id=team_id, user_id=user_id)


def register(app: App, services: Services, router: CommandRouter) -> None:
    def listener(ack, body, client):  # noqa: ANN001
        ack()
        run_guarded(lambda: set_preference(services, client, body), reply=lambda text: None, what="message preferences")

    app.action(ACTION_HOUR_BEFORE)(listener)
    app.action(ACTION_QUIET_HOURS)(listener)

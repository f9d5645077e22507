"""The series' calendar file, uploaded to the group's channel whenever the series changes."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk import WebClient
from sqlmodel import Session

from bot.domain import group_series as gs
from bot.domain.calendar_file import series_calendar
from bot.runtime.delivery import DropDelivery, ensure_ok
from bot.flows.groups.channel import channel_base_name
from bot.flows.groups.series import SeriesChange, series_for, slots_of
from bot.runtime.services import Services
from bot.slack.client import SlackOutcome, call
from storage import schedule
from storage import groups as store
from storage.db import session_scope, utcnow
from storage.models import Group, GroupSession, ScheduledAction

CALENDAR_KIND = "group_calendar"
CALENDAR_RETRY_AFTER = timedelta(minutes=1)


def calendar_bytes(services: Services, group: Group, rows: list[GroupSession]) -> bytes:
    topics = {}
    for row in rows:
        topic = services.catalogue.get(row.topic_slug) if row.topic_slug else None
        if topic is not None:
            topics[row.number] = topic.title
    return series_calendar(series_for(services, group, rows), title=group.name, topics=topics, generated_at=utcnow(),
                           location=gs.calendar_location(group.place))


def publish_calendar(services: Services, client: WebClient, *, group_id: int, note: str) -> bool:
    """Upload the series' calendar with ``note``; if Slack refuses, the clock retries it."""
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=group_id)
        rows = store.sessions_of(session, group_id=group_id, cycle=group.cycle) if group else []
    if group is None or not group.channel_id or not rows:
        return False
    outcome = upload_calendar(services, client, group, rows, note)
    if outcome.ok:
        return True
    revision = gs.revision(slots_of(rows))
    with session_scope(services.engine) as session:
        schedule.schedule(session, key=f"calendar:{group.id}:{group.cycle}:{revision}", kind=CALENDAR_KIND,
                          due_at=utcnow() + CALENDAR_RETRY_AFTER, team_id=group.team_id, payload={"group_id": group.id, "note": note})
    return False


def upload_calendar(services: Services, client: WebClient, group: Group, rows: list[GroupSession], note: str) -> SlackOutcome:
    return call(
        client,
        "files.upload_v2",
        channel=group.channel_id,
        content=calendar_bytes(services, group, rows),
        filename=f"{channel_base_name(group)}-c{group.cycle}.ics",
        title=f"{group.name}: sessions (cycle {group.cycle})",
        initial_comment=note,
    )


def deliver_calendar(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery: a calendar upload that failed when the series changed."""
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=int(payload.get("group_id", 0)))
        rows = store.sessions_of(session, group_id=group.id, cycle=group.cycle) if group else []
    if group is None or group.status not in store.ACTIVE_GROUP_STATUSES or not rows:
        raise DropDelivery("the group has no series any more")
    ensure_ok(upload_calendar(services, client, group, rows, str(payload.get("note", ""))), "files.upload_v2")


def queue_calendar(services: Services, change: SeriesChange, *, note: str) -> None:
    """Schedule the calendar upload as its own keyed action (used by clock deliveries, which may be retried)."""
    slots = change.after.sessions
    with session_scope(services.engine) as session:
        schedule.schedule(session, key=f"calendar:{change.group.id}:{change.group.cycle}:{gs.revision(slots)}", kind=CALENDAR_KIND,
                          due_at=utcnow(), team_id=change.group.team_id, payload={"group_id": change.group.id, "note": note})

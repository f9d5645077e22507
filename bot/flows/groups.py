"""COMPASS groups in Slack: formation, the group's channel, its lead, its meeting time and series,
and the end of a cycle.

Formation (``compass-bot groups form`` or the admin section of App Home) stores the groups
and schedules one ``group_setup`` action per group; the clock then creates the private
channel, invites the members, posts the welcome (asking for a lead if nobody volunteered)
and offers up to three meeting times. When the lead or an admin picks one, the 12-session
series is stored, every reminder, post and check it implies is scheduled, and the
calendar file is uploaded to the channel. ``bot.flows.sessions`` delivers the sessions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Callable, Iterable

import holidays
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from bot.domain import group_series as gs
from bot.domain.calendar_file import series_calendar
from bot.runtime.delivery import METADATA_EVENT, DeliveryFailed, DropDelivery, RetryLater, ensure_ok, find_delivered
from bot.flows.commands import CommandContext, CommandRouter, action_value, answer_privately, bounded_int, run_guarded, who
from bot.domain.group_formation import ALLOWED_SIZE_MAX, ALLOWED_SIZE_MIN, MODES, FormationResult, FormationSettings, form_groups
from bot.domain.people import Person
from bot.slack.render import check_blocks, context_block, fallback_text, render, render_sections, section_blocks, split_text
from bot.domain.scheduling import (
    LocalSlot,
    Series,
    SeriesChangeError,
    SlotParseError,
    candidate_slots,
    new_series,
    parse_slot,
    plan_series,
)
from bot.runtime.services import Services
from bot.slack.client import SlackOutcome, call
from storage import audit, schedule
from storage import groups as store
from storage.db import session_scope, utcnow
from storage.members import get_member, to_person
from storage.models import Group, GroupSession, ScheduledAction, Workspace

log = logging.getLogger(__name__)

SETUP_KIND = "group_setup"
CYCLE_DECIDE_KIND = "group_cycle_decide"
CALENDAR_KIND = "group_calendar"
FAILURE_NOTICE_KIND = "group_failure_notice"

ACTION_VOLUNTEER = "group_volunteer_lead"
ACTION_PICK_SLOT = "group_pick_slot"
ACTION_STAY = "group_next_cycle_stay"
ACTION_SWITCH = "group_next_cycle_switch"
ACTION_FORM_OPEN = "groups_form_open"
VIEW_FORM_SETTINGS = "groups_form_settings"
VIEW_FORM_APPROVE = "groups_form_approve"

MIN_NOTICE = timedelta(days=2)  # a new series starts at least this far ahead, so reminders can go out
DECISION_WINDOW = timedelta(days=7)
CALENDAR_RETRY_AFTER = timedelta(minutes=1)
CHANNEL_NAME_MAX = 80
CHANNEL_NAME_ATTEMPTS = 20
ADMIN_GROUPS_LISTED = 8
PREVIEW_GROUPS_DETAILED = 40
VIEW_BLOCKS = 100
FORM_ACTION = "value"


# --- small helpers -------------------------------------------------------------------------------


def message_location(body: dict) -> tuple[str, str]:
    """(channel id, ts) of the message whose button was clicked, or empty strings."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts") or ""
    return channel, ts


def ephemeral(respond) -> Callable[[str], None]:  # noqa: ANN001
    def reply(text: str, blocks: list | None = None) -> None:
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    return reply


def parse_int(text: str) -> int | None:
    return bounded_int(text)


def message_blocks(template: str, **context: object) -> tuple[str, list]:
    """Sections for a ``---``-separated template, and the notification text."""
    parts = render_sections(template, **context)
    blocks: list = []
    for part in parts:
        blocks += section_blocks(part)
    return fallback_text(parts[0] if parts else ""), blocks


def post_with_key(
    client: WebClient, *, channel: str, key: str, text: str, blocks: list | None = None, look_first: bool = False,
    since: datetime | None = None,
) -> dict:
    """Post carrying ``key`` in its metadata; with ``look_first`` an earlier post with that key is reused.

    The scheduled-delivery twin of :func:`bot.runtime.delivery.post_once`, for actions that post
    more than once under one key (a DM to each member, or a channel post and DMs).
    """
    if look_first:
        found = find_delivered(client, channel=channel, key=key, since=since or utcnow() - timedelta(days=3))
        if found is not None:
            log.info("delivery %s was already posted in %s; not posting again", key, channel)
            return found
    outcome = call(
        client,
        "chat.postMessage",
        channel=channel,
        text=text,
        blocks=blocks,
        metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}},
    )
    return ensure_ok(outcome, "chat.postMessage")


def fan_out(client: WebClient, action: ScheduledAction, user_ids: Iterable[str], build: Callable[[str], tuple[str, list]]) -> int:
    """DM each person once for a scheduled action; returns how many were reached.

    A person Slack no longer knows is logged and skipped. Passing failures are retried for
    everyone not yet reached (a retry looks for the earlier DM first); if nobody could be
    reached because of a permanent error, the action fails so the lead hears about it.
    """
    reached, passing, permanent = 0, [], []
    for user_id in user_ids:
        text, blocks = build(user_id)
        try:
            post_with_key(client, channel=user_id, key=action.key, text=text, blocks=check_blocks(blocks),
                          look_first=action.attempts > 1, since=action.due_at - timedelta(days=3))
            reached += 1
        except RetryLater as exc:
            passing.append(str(exc))
        except DeliveryFailed as exc:
            log.warning("%s: could not DM %s: %s", action.key, user_id, exc)
            permanent.append(str(exc))
    if passing:
        raise RetryLater(f"{len(passing)} DM(s) to retry: {passing[0]}")
    if permanent and not reached:
        raise DeliveryFailed(permanent[0])
    return reached


def holiday_calendar(services: Services) -> tuple[str | None, str | None]:
    settings = services.settings
    return settings.compass_holiday_country or None, settings.compass_holiday_subdivision or None


def series_for(services: Services, group: Group, rows: Iterable[GroupSession]) -> Series:
    country, subdiv = holiday_calendar(services)
    return gs.series_of(
        group_id=group.id,
        cycle=group.cycle,
        tz=group.timezone,
        weekday=group.weekday if group.weekday is not None else 0,
        local_time=gs.parse_hhmm(group.local_time) if group.local_time else time(18, 0),
        rows=[gs.StoredSession(r.number, r.starts_at, r.local_date, r.status, r.sequence) for r in rows],
        holiday_country=country,
        holiday_subdiv=subdiv,
    )


def slots_of(rows: Iterable[GroupSession]) -> list:
    return [gs.to_slot(gs.StoredSession(r.number, r.starts_at, r.local_date, r.status, r.sequence)) for r in rows]


def slot_text(group: Group) -> str:
    if group.weekday is None or not group.local_time:
        return ""
    return f"{gs.weekday_name(group.weekday)} at {group.local_time}"


def is_lead_anywhere(services: Services) -> Callable[[str, str], bool]:
    def check(team_id: str, user_id: str) -> bool:
        try:
            with services.engine.connect() as connection:  # Core: asked on every /compass help
                return store.leads_a_group(connection, team_id=team_id, user_id=user_id)
        except SQLAlchemyError:
            log.warning("lead check: the database is unreachable")
            return False

    return check


# --- formation ---------------------------------------------------------------------------------


@dataclass
class FormationPlan:
    team_id: str
    settings: FormationSettings
    cohort: str
    people: list[Person]
    result: FormationResult

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.result.to_json(indent=None).encode()).hexdigest()[:16]


def default_cohort(now: datetime) -> str:
    """Groups formed without a cohort name are labelled with the month, e.g. ``March 2026``."""
    return f"{now:%B} {now.year}"


def people_waiting(session: Session, *, team_id: str, default_tz: str) -> list[Person]:
    people = []
    for member in store.unplaced_members(session, team_id=team_id):
        person = to_person(member)
        people.append(person if person.timezone else replace(person, timezone=default_tz))
    return people


def plan_formation(session: Session, *, team_id: str, settings: FormationSettings, cohort: str, default_tz: str) -> FormationPlan:
    people = people_waiting(session, team_id=team_id, default_tz=default_tz)
    return FormationPlan(team_id, settings, cohort, people, form_groups(people, settings, cohort=cohort))


def audience_of(people: Iterable[Person]) -> str:
    """Topic eligibility: ``residents`` or ``attendings`` when everyone is one, else ``all``."""
    stages = {p.career_stage.is_trainee if p.career_stage else None for p in people}
    if stages == {True}:
        return "residents"
    if stages == {False}:
        return "attendings"
    return "all"


def form_and_apply(
    session: Session, services: Services, *, team_id: str, settings: FormationSettings, cohort: str, actor_id: str,
    expected_fingerprint: str | None = None,
) -> tuple[FormationPlan, list[Group] | None]:
    """Form groups from everyone waiting and store them, in the caller's transaction.

    With ``expected_fingerprint`` (an admin approving a preview) nothing is stored when the
    result differs from what they saw; the new plan is returned with ``None``.
    """
    # One formation at a time per workspace: two admins approving at once must not place a person twice.
    session.exec(select(Workspace).where(Workspace.team_id == team_id).with_for_update()).first()
    plan = plan_formation(session, team_id=team_id, settings=settings, cohort=cohort, default_tz=services.settings.compass_timezone)
    if expected_fingerprint is not None and plan.fingerprint != expected_fingerprint:
        return plan, None
    by_id = {p.user_id: p for p in plan.people}
    now = utcnow()
    created = []
    for proposed in plan.result.groups:
        group = store.create_group(
            session,
            team_id=team_id,
            name=proposed.name,
            cohort=cohort,
            mode=settings.mode,
            audience=audience_of(by_id[uid] for uid in proposed.members),
            timezone=proposed.timezone,
            lead_user_id=proposed.lead or "",
            member_ids=proposed.members,
            now=now,
        )
        schedule.schedule(session, key=f"group:{group.id}:setup", kind=SETUP_KIND, due_at=now, team_id=team_id,
                          payload={"group_id": group.id})
        created.append(group)
    audit.record(session, team_id=team_id, actor_id=actor_id, action="groups_formed", groups=len(created),
                 people=len(plan.people), mode=settings.mode, size_min=settings.size_min, size_max=settings.size_max,
                 seed=settings.seed, cohort=cohort)
    return plan, created


# --- setting a group up in Slack -------------------------------------------------------------------


def channel_base_name(group: Group) -> str:
    """A Slack channel name for a group: lowercase letters, digits and hyphens, at most 80 characters."""
    ascii_name = unicodedata.normalize("NFKD", group.name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")
    base = f"compass-{slug}" if slug else f"compass-group-{group.id}"
    return base[: CHANNEL_NAME_MAX - 4].rstrip("-")


def channel_names(group: Group) -> Iterable[str]:
    base = channel_base_name(group)
    yield base
    for suffix in range(2, CHANNEL_NAME_ATTEMPTS + 1):
        yield f"{base}-{suffix}"


def create_channel(services: Services, client: WebClient, group: Group) -> str:
    """Create the group's private channel, taking the next free name; the id is stored at once."""
    for name in channel_names(group):
        outcome = call(client, "conversations.create", name=name, is_private=True)
        if outcome.ok:
            channel_id = outcome.data["channel"]["id"]
            with session_scope(services.engine) as session:
                store.set_channel(session, group_id=group.id, channel_id=channel_id)
            log.info("group %s: created channel #%s (%s)", group.id, name, channel_id)
            return channel_id
        if outcome.error == "name_taken":
            continue
        ensure_ok(outcome, "conversations.create")
    raise DeliveryFailed(f"conversations.create: no free channel name after {CHANNEL_NAME_ATTEMPTS} tries")


def invite_members(client: WebClient, *, channel_id: str, user_ids: list[str]) -> None:
    if not user_ids:
        return
    outcome = call(client, "conversations.invite", channel=channel_id, users=",".join(user_ids), force=True)
    if outcome.ok:
        for problem in outcome.data.get("errors") or []:
            if problem.get("error") != "already_in_channel":
                log.warning("channel %s: could not invite %s: %s", channel_id, problem.get("user"), problem.get("error"))
        return
    if outcome.error == "already_in_channel":
        return
    ensure_ok(outcome, "conversations.invite")


def intro_message(group: Group, *, member_count: int, candidates: list) -> tuple[str, list]:
    """The group's first post: welcome, lead (or a call for one), and the meeting time (or a choice of times).

    It is rendered from the group's current state, so a click on one of its buttons
    updates it in place.
    """
    text, blocks = message_blocks("group_welcome.j2", group_name=group.name, lead_id=group.lead_user_id, member_count=member_count)
    if not group.lead_user_id:
        blocks.append(ActionsBlock(block_id="group_lead", elements=[
            ButtonElement(text="I'll lead", action_id=ACTION_VOLUNTEER, value=str(group.id), style="primary"),
        ]))
    chosen = group.status == "active"
    offered = [] if chosen else candidates
    labels = [str(c.slot) + ("" if c.everyone else f" ({c.available} of {c.responded})") for c in offered]
    blocks += section_blocks(render("group_slots.j2", candidates=labels, lead_id=group.lead_user_id, tz=group.timezone,
                                    chosen=slot_text(group) if chosen else ""))
    if offered:
        blocks.append(ActionsBlock(block_id="group_slots", elements=[
            ButtonElement(text=label, action_id=f"{ACTION_PICK_SLOT}_{index}",
                          value=f"{group.id}:{c.slot.weekday}:{c.slot.local_time:%H:%M}")
            for index, (label, c) in enumerate(zip(labels, offered))
        ]))
    return text, check_blocks(blocks)


def refresh_intro(services: Services, client: WebClient, body: dict, group_id: int) -> None:
    """Re-render the intro message whose button was clicked (best effort: the channel already has the news)."""
    channel, ts = message_location(body)
    if not (channel and ts):
        return
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=group_id)
        if group is None or group.channel_id != channel:
            return
        count = len(store.member_ids(session, group_id=group.id))
        candidates = group_candidates(session, group, services.settings.compass_timezone)
    text, blocks = intro_message(group, member_count=count, candidates=candidates)
    call(client, "chat.update", channel=channel, ts=ts, text=text, blocks=blocks)


def group_candidates(session: Session, group: Group, default_tz: str) -> list:
    people = []
    for user_id in store.member_ids(session, group_id=group.id):
        member = get_member(session, team_id=group.team_id, user_id=user_id)
        if member is not None:
            person = to_person(member)
            people.append(person if person.timezone else replace(person, timezone=default_tz))
    return candidate_slots(people, group.timezone)


def deliver_setup(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery: channel, invitations, welcome with the choice of meeting time, and a DM to each member.

    Each step can be repeated: the channel id is stored as soon as Slack gives it,
    inviting someone twice is harmless, and the posts carry this action's key.
    """
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=int(payload.get("group_id", 0)))
        if group is None or group.status not in store.ACTIVE_GROUP_STATUSES:
            raise DropDelivery("the group no longer exists")
        members = store.member_ids(session, group_id=group.id)
        candidates = group_candidates(session, group, services.settings.compass_timezone)
    channel_id = group.channel_id or create_channel(services, client, group)
    invite_members(client, channel_id=channel_id, user_ids=members)
    text, blocks = intro_message(group, member_count=len(members), candidates=candidates)
    post_with_key(client, channel=channel_id, key=action.key, text=text, blocks=blocks, look_first=action.attempts > 1)
    with session_scope(services.engine) as session:
        store.advance_status(session, group_id=group.id, from_status="forming", to_status="scheduling")
        recipients = store.reachable_member_ids(session, group=group)
    ready = render("group_ready.j2", channel_id=channel_id)
    fan_out(client, action, recipients, lambda user_id: (fallback_text(ready), section_blocks(ready)))


# --- the lead -------------------------------------------------------------------------------------


def volunteer(services: Services, client: WebClient, body: dict, reply: Callable[..., None]) -> None:
    team_id, user_id = who(body)
    group_id = parse_int(action_value(body))
    with session_scope(services.engine) as session:
        group = store.get_group(session, group_id=group_id or 0)
        if group is None or group.status not in store.ACTIVE_GROUP_STATUSES or group.team_id != team_id:
            reply(render("group_answers.j2", kind="unknown"))
            return
        if not store.is_member(session, group_id=group.id, user_id=user_id):
            reply(render("group_not_allowed.j2", reason="not_member", what="", lead_id=""))
            return
        took = store.set_lead_if_none(session, group_id=group.id, user_id=user_id)
        if took:
            audit.record(session, team_id=team_id, actor_id=user_id, action="group_lead_volunteered", subject_id=user_id, group_id=group.id)
        session.refresh(group)
    if not took:
        reply(render("group_lead.j2", kind="taken", lead_id=group.lead_user_id, group_name=group.name))
        return
    thanks = render("group_lead.j2", kind="thanks", lead_id=user_id, group_name=group.name)
    call(client, "chat.postMessage", channel=group.channel_id, text=thanks)
    refresh_intro(services, client, body, group.id)
    reply(render("group_lead.j2", kind="guide", lead_id=user_id, group_name=group.name))


# --- who may change a group ------------------------------------------------------------------------


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


# --- the series --------------------------------------------------------------------------------------


def sync_schedule(session: Session, *, group: Group, rows: list[GroupSession], now: datetime) -> None:
    """Make the schedule match the stored series: add what is missing, move what moved, cancel the rest.

    A reminder whose moment passed before it was ever scheduled (a session set for
    tomorrow morning) is not added: the channel announcement already told everyone.
    """
    slots = slots_of(rows)
    planned = {p.key: p for p in gs.planned_actions(group.id, group.cycle, slots)}
    for prefix in (f"session:{group.id}:{group.cycle}:", f"pulse:{group.id}:{group.cycle}:"):
        stale = [key for key in store.pending_keys(session, prefix=prefix) if key not in planned]
        schedule.cancel(session, keys=stale)
    existing = store.existing_keys(session, keys=planned)
    for key, action in planned.items():
        if key in existing:
            schedule.move(session, key=key, due_at=action.due_at, payload=action.payload)
        elif action.is_reminder and action.due_at <= now:
            continue
        else:
            schedule.schedule(session, key=key, kind=action.kind, due_at=action.due_at, team_id=group.team_id, payload=action.payload)


@dataclass
class SeriesChange:
    group: Group
    before: Series
    after: Series
    rows: list[GroupSession]


def change_series(services: Services, *, group_id: int, change: Callable[[Group, Series, datetime], Series]) -> SeriesChange:
    """Apply a change to a group's current series and its schedule, atomically (the group row is locked)."""
    now = utcnow()
    with session_scope(services.engine) as session:
        group = store.get_group(session, group_id=group_id, for_update=True)
        if group is None:
            raise SeriesChangeError("this group no longer exists")
        rows = store.sessions_of(session, group_id=group.id, cycle=group.cycle)
        before = series_for(services, group, rows)
        after = change(group, before, now)
        rows = store.save_sessions(session, group_id=group.id, cycle=group.cycle, slots=after.sessions)
        sync_schedule(session, group=group, rows=rows, now=now)
        store.touch(session, group=group, now=now)
    return SeriesChange(group, before, after, rows)


def set_slot(services: Services, *, group_id: int, slot: LocalSlot, actor_id: str, first_time: bool = False) -> SeriesChange:
    """Start the series at ``slot``, or move the sessions still to come onto it.

    With ``first_time`` (a click on one of the offered times) a series that meanwhile
    exists is left alone: two quick clicks must not plan twice.
    """
    country, subdiv = holiday_calendar(services)

    def change(group: Group, series: Series, now: datetime) -> Series:
        if first_time and series.sessions:
            raise SeriesChangeError(f"the meeting time was just set to every other {slot_text(group)}")
        start_after = now + MIN_NOTICE
        group.weekday, group.local_time, group.status = slot.weekday, slot.local_time.strftime("%H:%M"), "active"
        if not series.sessions:
            return new_series(gs.series_uid_id(group.id, group.cycle), start_after, group.timezone, slot,
                              holiday_country=country, holiday_subdiv=subdiv)
        upcoming = [s for s in series.sessions if s.status == "scheduled" and s.starts_at_utc > now]
        if not upcoming:
            raise SeriesChangeError("every session of this cycle has already started")
        planned = plan_series(start_after, group.timezone, slot.weekday, slot.local_time, count=len(upcoming),
                              holiday_country=country, holiday_subdiv=subdiv)
        moved = {old.number: (new.starts_at_utc, new.local_date) for old, new in zip(upcoming, planned)}
        sessions = []
        for s in series.sessions:
            if s.number in moved and (s.starts_at_utc, s.local_date) != moved[s.number]:
                start, day = moved[s.number]
                s = replace(s, starts_at_utc=start, local_date=day, sequence=s.sequence + 1)
            sessions.append(s)
        return replace(series, weekday=slot.weekday, local_time=slot.local_time, sessions=tuple(sessions))

    result = change_series(services, group_id=group_id, change=change)
    with session_scope(services.engine) as session:
        audit.record(session, team_id=result.group.team_id, actor_id=actor_id, action="group_slot_set",
                     group_id=group_id, slot=str(slot))
    return result


def holiday_moves(services: Services, series: Series) -> list[dict]:
    """Sessions of a new series that a public holiday pushed off the fortnightly rhythm, for the announcement."""
    country, subdiv = holiday_calendar(services)
    planned = gs.taking_place(series.sessions)
    if not country or not planned:
        return []
    step = timedelta(days=series.interval_days)
    # The rhythm is what most sessions follow; only holiday moves leave it.
    start, _ = Counter(s.local_date - step * i for i, s in enumerate(planned)).most_common(1)[0]
    calendar = holidays.country_holidays(country, subdiv=subdiv)
    moves = []
    for position, slot in enumerate(planned, start=1):
        expected = start + step * (position - 1)
        if slot.local_date != expected and expected in calendar:
            moves.append({"position": position, "day": gs.local_day_text(slot.local_date),
                          "instead": gs.local_day_text(expected), "holiday": calendar.get(expected)})
    return moves


def announcement(services: Services, kind: str, change: SeriesChange, **extra: object) -> str:
    group = change.group
    planned = gs.taking_place(change.after.sessions)
    upcoming = [s for s in planned if s.status == "scheduled"]
    first = upcoming[0] if upcoming else (planned[0] if planned else None)
    return render(
        "series_changed.j2",
        kind=kind,
        group_name=group.name,
        slot=slot_text(group),
        tz=group.timezone,
        total=len(planned),
        first=gs.local_text(first.starts_at_utc, group.timezone) if first else "",
        last=gs.local_text(planned[-1].starts_at_utc, group.timezone) if planned else "",
        holiday_moves=holiday_moves(services, change.after) if kind in ("created", "cycle") else [],
        cycle=group.cycle,
        **extra,
    )


def calendar_bytes(services: Services, group: Group, rows: list[GroupSession]) -> bytes:
    topics = {}
    for row in rows:
        topic = services.catalogue.get(row.topic_slug) if row.topic_slug else None
        if topic is not None:
            topics[row.number] = topic.title
    return series_calendar(series_for(services, group, rows), title=group.name, topics=topics, generated_at=utcnow())


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


def pick_slot(services: Services, client: WebClient, body: dict, reply: Callable[..., None]) -> None:
    team_id, user_id = who(body)
    parts = action_value(body).split(":")
    group_id = parse_int(parts[0]) if parts else None
    try:
        slot = LocalSlot(int(parts[1]), gs.parse_hhmm(f"{parts[2]}:{parts[3]}"))
    except (IndexError, ValueError):
        log.warning("slot button with a malformed value %r from %s", action_value(body), user_id)
        reply(render("group_answers.j2", kind="unknown"))
        return
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=group_id or 0)
    if group is None or group.team_id != team_id or group.status not in store.ACTIVE_GROUP_STATUSES:
        reply(render("group_answers.j2", kind="unknown"))
        return
    if not may_control(services, group, user_id):
        reply(refusal(group, "choose the meeting time"))
        return
    if group.status == "active":
        reply(render("series_reply.j2", kind="already_scheduled", group_name=group.name, slot=slot_text(group)))
        return
    if apply_slot(services, client, group=group, slot=slot, actor_id=user_id, reply=reply):
        refresh_intro(services, client, body, group.id)


def apply_slot(services: Services, client: WebClient, *, group: Group, slot: LocalSlot, actor_id: str, reply: Callable[..., None]) -> bool:
    """Set or change the meeting time; announce it with the calendar. False (with a reply) if it could not."""
    if not group.channel_id:
        reply(render("series_reply.j2", kind="no_channel", group_name=group.name))
        return False
    first_time = group.status != "active"
    try:
        change = set_slot(services, group_id=group.id, slot=slot, actor_id=actor_id, first_time=first_time)
    except SeriesChangeError as exc:
        reply(render("series_reply.j2", kind="cannot", reason=str(exc)))
        return False
    note = announcement(services, "created" if first_time else "slot_changed", change, actor=actor_id)
    publish_calendar(services, client, group_id=group.id, note=note)
    upcoming = [s for s in gs.taking_place(change.after.sessions) if s.status == "scheduled"]
    first = gs.local_text(upcoming[0].starts_at_utc, group.timezone) if upcoming else ""
    reply(render("series_reply.j2", kind="scheduled", group_name=group.name, slot=slot_text(change.group), first=first))
    return True


def schedule_command(ctx: CommandContext) -> None:
    group = controlled_group(ctx.services, team_id=ctx.team_id, user_id=ctx.user_id, channel_id=ctx.channel_id,
                             what="choose the meeting time", reply=ctx.reply)
    if group is None:
        return
    try:
        slot = parse_slot(" ".join(ctx.args))
    except SlotParseError as exc:
        ctx.reply(render("series_reply.j2", kind="bad_slot", reason=str(exc)))
        return
    apply_slot(ctx.services, ctx.client, group=group, slot=slot, actor_id=ctx.user_id, reply=ctx.reply)


# --- the end of a cycle ---------------------------------------------------------------------------


def decision_deadline(action_due: datetime) -> datetime:
    return action_due + DECISION_WINDOW


def next_cycle_buttons(group: Group) -> ActionsBlock:
    value = f"{group.id}:{group.cycle}"
    return ActionsBlock(block_id="group_next_cycle", elements=[
        ButtonElement(text="Stay with this group", action_id=ACTION_STAY, value=value, style="primary"),
        ButtonElement(text="Switch to a new group", action_id=ACTION_SWITCH, value=value),
    ])


def deliver_cycle_end(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery, the day after the last session: thanks in the channel, and stay-or-switch to each member."""
    with Session(services.engine) as session:
        group = store.get_group(session, group_id=int(payload.get("group_id", 0)))
        if group is None or group.status != "active" or group.cycle != payload.get("cycle"):
            raise DropDelivery("the group or its cycle has changed")
        rows = store.sessions_of(session, group_id=group.id, cycle=group.cycle)
        recipients = store.reachable_member_ids(session, group=group)
    total = len(gs.taking_place(slots_of(rows)))
    deadline = decision_deadline(action.due_at)
    with session_scope(services.engine) as session:
        schedule.schedule(session, key=gs.cycle_key(group.id, group.cycle, "decide"), kind=CYCLE_DECIDE_KIND, due_at=deadline,
                          team_id=group.team_id, payload={"group_id": group.id, "cycle": group.cycle})
    post_with_key(client, channel=group.channel_id, key=action.key, text=render("group_cycle.j2", kind="thanks", total=total),
                  look_first=action.attempts > 1)
    deadline_text = gs.local_text(deadline, group.timezone)

    def question(user_id: str) -> tuple[str, list]:
        text = render("group_cycle.j2", kind="question", group_name=group.name, deadline=deadline_text)
        return fallback_text(text), section_blocks(text) + [next_cycle_buttons(group)]

    fan_out(client, action, recipients, question)


def choose_next_cycle(services: Services, client: WebClient, body: dict, choice: str, reply: Callable[..., None]) -> None:
    team_id, user_id = who(body)
    parts = action_value(body).split(":")
    group_id, cycle = (parse_int(parts[0]), parse_int(parts[1])) if len(parts) == 2 else (None, None)
    with session_scope(services.engine) as session:
        group = store.get_group(session, group_id=group_id or 0)
        decide = schedule.get(session, key=gs.cycle_key(group_id or 0, cycle or 0, "decide"))
        if group is None or group.team_id != team_id or group.cycle != cycle or decide is None:
            reply(render("group_answers.j2", kind="unknown"))
            return
        if decide.status != schedule.PENDING:
            reply(render("group_answers.j2", kind="too_late"))
            return
        if not store.set_next_cycle(session, group_id=group.id, user_id=user_id, choice=choice):
            reply(render("group_not_allowed.j2", reason="not_member", what="", lead_id=""))
            return
        audit.record(session, team_id=team_id, actor_id=user_id, action="next_cycle_chosen", subject_id=user_id,
                     group_id=group.id, choice=choice)
    text = render("group_answers.j2", kind=choice, group_name=group.name, deadline=gs.local_text(decide.due_at, group.timezone))
    channel, ts = message_location(body)
    question = render("group_cycle.j2", kind="question", group_name=group.name, deadline=gs.local_text(decide.due_at, group.timezone))
    blocks = check_blocks(section_blocks(question) + [next_cycle_buttons(group), context_block(text)])
    if not (channel and ts and call(client, "chat.update", channel=channel, ts=ts, text=fallback_text(text), blocks=blocks).ok):
        reply(text)


@dataclass
class CycleDecision:
    group: Group
    continues: bool
    staying: list[str]
    freed: list[str]  # people who leave the group and wait for the next formation


def decide_next_cycle(services: Services, *, group_id: int, cycle: int, decided_at: datetime) -> CycleDecision:
    """Close the stay-or-switch choice, once: a retry reads back what was decided."""
    with session_scope(services.engine) as session:
        group = store.get_group(session, group_id=group_id, for_update=True)
        if group is None or group.cycle not in (cycle, cycle + 1) or group.status not in ("active", "completed"):
            raise DropDelivery("the group or its cycle has changed")
        if group.cycle == cycle and group.status == "active":
            members = store.group_members(session, group_id=group.id)
            reachable = set(store.reachable_member_ids(session, group=group))
            staying = [m.slack_user_id for m in members if m.next_cycle != "switch" and m.slack_user_id in reachable]
            continues = len(staying) >= ALLOWED_SIZE_MIN
            leaving = [m.slack_user_id for m in members if not continues or m.slack_user_id not in staying]
            store.release_members(session, group_id=group.id, user_ids=leaving, now=decided_at)
            store.reset_next_cycle(session, group_id=group.id)
            if continues:
                group.cycle += 1
            else:
                group.status = "completed"
            store.touch(session, group=group, now=decided_at)
            audit.record(session, team_id=group.team_id, actor_id="system", action="group_cycle_decided", group_id=group.id,
                         cycle=cycle, staying=len(staying), leaving=len(leaving), continues=continues)
        continues = group.status == "active"
        staying = store.member_ids(session, group_id=group.id) if continues else []
        freed = store.released_at(session, group_id=group.id, since=decided_at)
    return CycleDecision(group, continues, staying, freed)


def deliver_cycle_decide(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery, when the choice closes: switchers leave; the group continues if enough stay.

    Every step can be repeated safely: the decision is stored once, the new series is
    planned only if missing, posts carry their key and the calendar is a keyed action.
    """
    decision = decide_next_cycle(services, group_id=int(payload.get("group_id", 0)), cycle=int(payload.get("cycle", 0)),
                                 decided_at=action.due_at)
    group = decision.group
    look_first = action.attempts > 1
    if decision.continues:
        with Session(services.engine) as session:
            planned = bool(store.sessions_of(session, group_id=group.id, cycle=group.cycle))
        if not planned:
            slot = LocalSlot(group.weekday or 0, gs.parse_hhmm(group.local_time or "18:00"))
            change = set_slot(services, group_id=group.id, slot=slot, actor_id="system")
            queue_calendar(services, change, note=announcement(services, "cycle", change))
        text = render("group_cycle.j2", kind="continue", group_name=group.name, staying=len(decision.staying),
                      leaving=len(decision.freed), cycle=group.cycle, slot=slot_text(group), tz=group.timezone)
    else:
        text = render("group_cycle.j2", kind="ended", group_name=group.name)
    post_with_key(client, channel=group.channel_id, key=action.key, text=text, look_first=look_first)
    freed_text = render("group_cycle.j2", kind="freed", group_name=group.name)
    with Session(services.engine) as session:
        active = {m.slack_user_id for m in members_in_compass(session, group.team_id, decision.freed)}
    fan_out(client, action, [u for u in decision.freed if u in active],
            lambda user_id: (fallback_text(freed_text), section_blocks(freed_text)))


def members_in_compass(session: Session, team_id: str, user_ids: Iterable[str]) -> list:
    members = [get_member(session, team_id=team_id, user_id=u) for u in user_ids]
    return [m for m in members if m is not None and m.status == "active"]


def queue_calendar(services: Services, change: SeriesChange, *, note: str) -> None:
    """Schedule the calendar upload as its own keyed action (used by clock deliveries, which may be retried)."""
    slots = change.after.sessions
    with session_scope(services.engine) as session:
        schedule.schedule(session, key=f"calendar:{change.group.id}:{change.group.cycle}:{gs.revision(slots)}", kind=CALENDAR_KIND,
                          due_at=utcnow(), team_id=change.group.team_id, payload={"group_id": change.group.id, "note": note})


# --- telling someone when a delivery failed for good ------------------------------------------------

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
    if group is None:
        raise DropDelivery("the group no longer exists")
    kind = payload.get("kind", "")
    for_admin = kind == SETUP_KIND or not group.lead_user_id
    recipients = sorted(services.settings.admin_ids) if for_admin else [group.lead_user_id]
    if not recipients:
        raise DropDelivery("nobody to tell: the group has no lead and there are no admins")
    when = ""
    if payload.get("starts_at"):
        try:
            when = gs.local_text(datetime.fromisoformat(payload["starts_at"]), group.timezone)
        except ValueError:
            when = ""
    text = render("group_failure.j2", kind=kind, group_name=group.name, when=when,
                  error=payload.get("error", ""), for_admin=for_admin)
    fan_out(client, action, recipients, lambda user_id: (fallback_text(text), section_blocks(text)))


# --- App Home ----------------------------------------------------------------------------------------


def next_session_of(session: Session, group: Group, now: datetime) -> GroupSession | None:
    rows = store.sessions_of(session, group_id=group.id, cycle=group.cycle)
    upcoming = [r for r in rows if r.status == "scheduled" and r.starts_at > now]
    return min(upcoming, key=lambda r: r.starts_at, default=None)


def home_section(services: Services, session: Session, *, member) -> list:  # noqa: ANN001
    group = store.group_of_member(session, team_id=member.team_id, user_id=member.slack_user_id)
    if group is None:
        return []
    now = utcnow()
    upcoming = next_session_of(session, group, now)
    answer = store.rsvp_of(session, session_id=upcoming.id, user_id=member.slack_user_id) if upcoming else ""
    decide = schedule.get(session, key=gs.cycle_key(group.id, group.cycle, "decide"))
    deciding = decide is not None and decide.status == schedule.PENDING
    text = render(
        "group_home.j2",
        group_name=group.name,
        channel_id=group.channel_id,
        lead_id=group.lead_user_id,
        next_session=gs.local_text(upcoming.starts_at, group.timezone) if upcoming else "",
        answer=answer,
        status=group.status,
        deciding=deciding,
        deadline=gs.local_text(decide.due_at, group.timezone) if deciding else "",
    )
    blocks: list = section_blocks(text)
    if not group.lead_user_id and group.channel_id:
        blocks.append(ActionsBlock(block_id="home_group_lead", elements=[
            ButtonElement(text="I'll lead my group", action_id=ACTION_VOLUNTEER, value=str(group.id)),
        ]))
    if deciding:
        blocks.append(next_cycle_buttons(group))
    return blocks


def group_state(session: Session, group: Group, now: datetime) -> str:
    if group.status == "forming":
        return "setting up its channel"
    if group.status == "scheduling":
        return "choosing a meeting time"
    upcoming = next_session_of(session, group, now)
    if upcoming is None:
        return f"cycle {group.cycle} finishing"
    return f"next session {gs.local_text(upcoming.starts_at, group.timezone)}"


def admin_home_section(services: Services, session: Session, *, team_id: str, user_id: str) -> list:
    now = utcnow()
    groups = store.active_groups(session, team_id=team_id)
    waiting = store.count_unplaced(session, team_id=team_id)
    listed = [
        {"channel_id": g.channel_id, "name": g.name, "members": len(store.member_ids(session, group_id=g.id)),
         "state": group_state(session, g, now)}
        for g in groups[:ADMIN_GROUPS_LISTED]
    ]
    text = render("group_home_admin.j2", active=len(groups), waiting=waiting, groups=listed,
                  more=max(0, len(groups) - ADMIN_GROUPS_LISTED))
    blocks: list = section_blocks(text)
    if waiting:
        blocks.append(ActionsBlock(block_id="admin_groups", elements=[
            ButtonElement(text="Form groups…", action_id=ACTION_FORM_OPEN, value="form"),
        ]))
    return blocks


# --- the admin's formation modal ------------------------------------------------------------------------


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


def submit_settings(services: Services, ack, body: dict, view: dict) -> None:  # noqa: ANN001
    team_id, user_id = who(body)
    if not services.is_admin(team_id, user_id):
        ack(response_action="update", view=message_view(render("errors.j2", kind="admin_only", admins="")))
        return
    settings, cohort, errors = read_settings(view)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    try:
        with Session(services.engine) as session:
            plan = plan_formation(session, team_id=team_id, settings=settings, cohort=cohort or default_cohort(utcnow()),
                                  default_tz=services.settings.compass_timezone)
    except SQLAlchemyError:
        log.exception("group formation preview: database error")
        ack(response_action="update", view=message_view(render("errors.j2", kind="database")))
        return
    ack(response_action="update", view=preview_view(plan))


def submit_approval(services: Services, ack, body: dict, view: dict) -> None:  # noqa: ANN001
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
    try:
        with session_scope(services.engine) as session:
            plan, created = form_and_apply(session, services, team_id=team_id, settings=settings, cohort=cohort,
                                           actor_id=user_id, expected_fingerprint=fingerprint)
    except SQLAlchemyError:
        log.exception("group formation: database error; nothing was created")
        ack(response_action="update", view=message_view(render("group_form.j2", kind="error")))
        return
    if created is None:
        ack(response_action="update", view=preview_view(plan, changed=True))
        return
    ack(response_action="update", view=message_view(render("group_form.j2", kind="done", count=len(created))))


# --- registration --------------------------------------------------------------------------------------


def register(app: App, services: Services, router: CommandRouter) -> None:
    router.set_lead_check(is_lead_anywhere(services))
    router.add("schedule", schedule_command, usage="schedule DAY HH:MM",
               help="set or change when your group meets (e.g. `Tue 18:30`)", audience="leads")

    def guarded(handler: Callable[..., None], what: str):  # noqa: ANN202
        def listener(ack, body, client, respond):  # noqa: ANN001
            ack()
            reply = ephemeral(answer_privately(respond, client, body))
            run_guarded(lambda: handler(services, client, body, reply), reply=reply, what=what)

        return listener

    app.action(ACTION_VOLUNTEER)(guarded(volunteer, "lead volunteer"))
    app.action(re.compile(rf"^{ACTION_PICK_SLOT}_\d+$"))(guarded(pick_slot, "slot choice"))
    app.action(ACTION_STAY)(guarded(lambda s, c, b, r: choose_next_cycle(s, c, b, "stay", r), "next cycle"))
    app.action(ACTION_SWITCH)(guarded(lambda s, c, b, r: choose_next_cycle(s, c, b, "switch", r), "next cycle"))
    app.action(ACTION_FORM_OPEN)(guarded(open_form, "form groups"))

    @app.view(VIEW_FORM_SETTINGS)
    def on_settings(ack, body, view):  # noqa: ANN001
        submit_settings(services, ack, body, view)

    @app.view(VIEW_FORM_APPROVE)
    def on_approve(ack, body, view):  # noqa: ANN001
        submit_approval(services, ack, body, view)


DELIVERIES = {
    SETUP_KIND: deliver_setup,
    gs.CYCLE_END_KIND: deliver_cycle_end,
    CYCLE_DECIDE_KIND: deliver_cycle_decide,
    CALENDAR_KIND: deliver_calendar,
    FAILURE_NOTICE_KIND: deliver_failure_notice,
}
ON_FAILURE = {kind: on_failure for kind in (SETUP_KIND, gs.CYCLE_END_KIND, CYCLE_DECIDE_KIND, CALENDAR_KIND)}

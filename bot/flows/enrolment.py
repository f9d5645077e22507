"""Joining, editing the profile, pausing, leaving, exporting and erasing one's data."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.runtime.delivery import DropDelivery, post_once
from bot.flows.commands import CommandContext, CommandRouter, answer_privately, run_guarded, who
from bot.domain.crisis import country_of_timezone
from bot.domain.evaluation import FOLLOWUP_DUE
from bot.domain.quiet_hours import zone
from bot.flows.directory_changes import account_kind, remove_person
from bot.flows.home import publish_home
from bot.flows.join_form import CALLBACK_ID, join_view, parse_join_submission
from bot.slack.render import check_blocks, fallback_text, render, section_blocks
from bot.runtime.quiet import awake_recipients
from bot.runtime.services import Services
from bot.slack.client import call
from bot.slack.user_kinds import ineligible_kind
from storage import audit, schedule
from storage.db import session_scope, utcnow
from storage.members import get_member, save_profile, set_status
from storage.personal_data import erase_person, export_person
from storage.workspaces import ensure_workspace

log = logging.getLogger(__name__)
RESUME_KIND = "member_resume"
PAUSE_EXAMPLE_AHEAD = timedelta(days=14)


def register(app: App, services: Services, router: CommandRouter) -> None:
    router.add("join", lambda ctx: open_join_form(ctx.services, ctx.client, ctx.team_id, ctx.user_id, ctx.trigger_id, ctx.reply),
               help="join, or edit your profile")
    router.add("pause", pause, usage="pause [until YYYY-MM-DD]", help="take a break; no messages until you're back")
    router.add("resume", resume, help="come back after a pause")
    router.add("leave", leave, help="leave the program (your data stays until you ask)")
    router.add("my-data", my_data, help="get everything we store about you, as a file in DM")
    router.add("forget-me", forget_me, help="delete everything that identifies you")

    @app.action("join_open")
    def on_join_button(ack, body, client, respond):  # noqa: ANN001
        ack()
        team_id, user_id = who(body)
        run_guarded(
            lambda: open_join_form(services, client, team_id, user_id, body.get("trigger_id", ""), lambda text: _dm(client, user_id, text)),
            reply=lambda text: _dm(client, user_id, text),
            what="join button",
        )

    @app.view(CALLBACK_ID)
    def on_join_submit(ack, body, view, client):  # noqa: ANN001
        submit_join_form(services, ack, body, view, client)

    @app.action("resume_now")
    def on_resume_button(ack, body, client):  # noqa: ANN001
        ack()
        team_id, user_id = who(body)
        run_guarded(lambda: _change_status(services, client, team_id, user_id, "active", reply=lambda t: _dm(client, user_id, t)),
                    reply=lambda text: _dm(client, user_id, text), what="resume button")

    @app.action("pause_open")
    def on_pause_button(ack, body, client):  # noqa: ANN001
        ack()
        team_id, user_id = who(body)
        run_guarded(lambda: _change_status(services, client, team_id, user_id, "paused", reply=lambda t: _dm(client, user_id, t)),
                    reply=lambda text: _dm(client, user_id, text), what="pause button")

    @app.action("forget_me_confirm")
    def on_forget_confirm(ack, body, client, respond):  # noqa: ANN001
        ack()
        respond = answer_privately(respond, client, body)
        team_id, user_id = who(body)
        run_guarded(lambda: _forget(services, client, team_id, user_id, respond),
                    reply=lambda text: respond(text=text, replace_original=True), what="forget-me")

    @app.action("forget_me_cancel")
    def on_forget_cancel(ack, body, client, respond):  # noqa: ANN001
        ack()
        respond = answer_privately(respond, client, body)
        respond(text="Nothing was deleted. :relieved:", replace_original=True)


def _dm(client: WebClient, user_id: str, text: str, blocks: list | None = None) -> None:
    call(client, "chat.postMessage", channel=user_id, text=fallback_text(text) if blocks else text, blocks=blocks)


def open_join_form(services: Services, client: WebClient, team_id: str, user_id: str, trigger_id: str, reply) -> None:  # noqa: ANN001
    with Session(services.engine) as session:
        member = get_member(session, team_id=team_id, user_id=user_id)
    needs_consent = member is None or member.consented_at is None or member.status in ("invited", "left")
    tz = services.settings.compass_timezone
    info = call(client, "users.info", user=user_id)
    user = (info.data.get("user") or {}) if info.ok else {}
    kind = ineligible_kind(user)
    if kind is not None:  # deactivated, a bot, or a guest: never enrolled, and a guest is told why, kindly
        reply(render("user_kind.j2", kind=kind))
        return
    if member is None or not member.timezone:
        tz = user.get("tz") or tz
    view = join_view(member=member, timezone=tz, min_group=services.settings.compass_min_group, needs_consent=needs_consent,
                     country=services.settings.compass_country, name=_slack_name(user))
    outcome = call(client, "views.open", trigger_id=trigger_id, view=view)
    if not outcome.ok:
        reply(outcome.friendly)


def submit_join_form(services: Services, ack, body: dict, view: dict, client: WebClient) -> None:  # noqa: ANN001
    team_id, user_id = who(body)
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        metadata = None
    needs_consent = bool(metadata.get("consent")) if isinstance(metadata, dict) else True
    state = (view.get("state") or {}).get("values") or {}
    # field errors first, before any lookup
    profile, errors = parse_join_submission(state, needs_consent=needs_consent, slack_timezone=services.settings.compass_timezone)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    info = call(client, "users.info", user=user_id)
    user = (info.data.get("user") or {}) if info.ok else {}
    kind = ineligible_kind(user)
    if kind is not None:
        ack(response_action="errors", errors={"career_stage": render("user_kind.j2", kind=kind)})
        return
    try:
        with Session(services.engine) as session:
            current = get_member(session, team_id=team_id, user_id=user_id)
    except SQLAlchemyError:
        log.exception("join form: could not read the profile of %s", user_id)
        ack(response_action="errors", errors={"career_stage": render("errors.j2", kind="database")})
        return
    # What the form did not ask keeps what is stored; the time zone comes from the Slack profile.
    profile, errors = parse_join_submission(state, needs_consent=needs_consent, current=current,
                                            slack_timezone=user.get("tz") or services.settings.compass_timezone,
                                            metadata=metadata if isinstance(metadata, dict) else {})
    if errors:
        ack(response_action="errors", errors=errors)
        return
    if profile.country is None and not (current is not None and current.country):
        # joining does not ask the country: the Slack profile's time zone tells it (None: the deployment's)
        profile = replace(profile, country=country_of_timezone(profile.timezone))
    try:
        with session_scope(services.engine) as session:
            ensure_workspace(session, team_id=team_id)
            member, newly_enrolled = save_profile(
                session, team_id=team_id, user_id=user_id, profile=profile, consented=needs_consent
            )
            if not member.display_name:
                member.display_name = _slack_name(user)
            audit.record(session, team_id=team_id, actor_id=user_id, action="joined" if newly_enrolled else "profile_updated",
                         subject_id=user_id)
            if newly_enrolled:
                queue_surveys_after_enrolment(session, member=member, fallback_tz=services.settings.compass_timezone)
    except SQLAlchemyError:
        log.exception("join form: could not save the profile of %s", user_id)
        ack(response_action="errors", errors={"career_stage": render("errors.j2", kind="database")})
        return
    # The welcome replaces the form in the same modal: the person is looking at it, so it needs no DM.
    resources = services.settings.crisis_for(member.country)
    text = render("join_welcome.j2", newly_enrolled=newly_enrolled, name=member.display_name or "there",
                  crisis_resources=resources.lines(), emergency_number=resources.emergency_number)
    ack(response_action="update", view=_welcome_view(text))
    publish_home(services, client, team_id=team_id, user_id=user_id)


def _welcome_view(text: str) -> dict:
    return {"type": "modal", "title": {"type": "plain_text", "text": "Compass"},
            "close": {"type": "plain_text", "text": "Done"},
            "blocks": check_blocks(section_blocks(text), surface="modal")}


def _slack_name(user: dict) -> str:
    profile = user.get("profile") or {}
    return (user.get("real_name") or profile.get("real_name") or profile.get("display_name") or user.get("name") or "")[:200]


def _enrolled_member(session: Session, ctx: CommandContext):  # noqa: ANN202
    member = get_member(session, team_id=ctx.team_id, user_id=ctx.user_id)
    if member is None or member.consented_at is None:
        ctx.reply(render("errors.j2", kind="not_enrolled"))
        return None
    return member


def _parse_pause_until(args: list[str], today: date) -> date | None:
    words = [a for a in args if a.lower() != "until"]
    if not words:
        return None
    parsed = date.fromisoformat(words[0])
    if parsed <= today:
        raise ValueError("date must be in the future")
    return parsed


def _local_today(tz_name: str) -> date:
    return datetime.now(timezone.utc).astimezone(ZoneInfo(tz_name)).date()


def pause(ctx: CommandContext) -> None:
    with Session(ctx.services.engine) as session:
        member = _enrolled_member(session, ctx)
    if member is None:
        return
    tz = member.timezone or ctx.services.settings.compass_timezone
    try:
        until = _parse_pause_until(ctx.args, _local_today(tz))
    except ValueError:
        example = (_local_today(tz) + PAUSE_EXAMPLE_AHEAD).isoformat()  # an example that would work: in the future
        ctx.reply(render("errors.j2", kind="bad_date", example=example))
        return
    _change_status(ctx.services, ctx.client, ctx.team_id, ctx.user_id, "paused", until=until, reply=ctx.reply)


def resume(ctx: CommandContext) -> None:
    with Session(ctx.services.engine) as session:
        member = _enrolled_member(session, ctx)
    if member is not None:
        _change_status(ctx.services, ctx.client, ctx.team_id, ctx.user_id, "active", reply=ctx.reply)


def leave(ctx: CommandContext) -> None:
    with Session(ctx.services.engine) as session:
        member = _enrolled_member(session, ctx)
    if member is not None:
        _change_status(ctx.services, ctx.client, ctx.team_id, ctx.user_id, "left", reply=ctx.reply)


def _resume_key(team_id: str, user_id: str) -> str:
    return f"resume:{team_id}:{user_id}"


def _change_status(services: Services, client: WebClient, team_id: str, user_id: str, status: str, *, reply,  # noqa: ANN001
                   until: date | None = None) -> None:
    with session_scope(services.engine) as session:
        member = get_member(session, team_id=team_id, user_id=user_id)
        if member is None or member.consented_at is None:
            reply(render("errors.j2", kind="not_enrolled"))
            return
        set_status(session, member=member, status=status, paused_until=until)
        schedule.cancel(session, key_prefix=_resume_key(team_id, user_id))
        if status == "paused" and until is not None:
            tz = ZoneInfo(member.timezone or services.settings.compass_timezone)
            due = datetime.combine(until, time(8, 0), tz).astimezone(timezone.utc)
            schedule.schedule(session, key=f"{_resume_key(team_id, user_id)}:{until.isoformat()}", kind=RESUME_KIND,
                              due_at=due, team_id=team_id, subject_user_id=user_id, payload={"until": until.isoformat()})
        audit.record(session, team_id=team_id, actor_id=user_id, action=f"status_{status}", subject_id=user_id)
    reply(render("status_changed.j2", status=status, until=until.isoformat() if until else None))
    publish_home(services, client, team_id=team_id, user_id=user_id)


def deliver_resume(services: Services, client: WebClient, action, payload: dict) -> None:  # noqa: ANN001
    """Clock delivery: a pause with an end date is over."""
    with session_scope(services.engine) as session:
        member = get_member(session, team_id=action.team_id, user_id=action.subject_user_id)
        if member is None or member.status != "paused" or (member.paused_until and member.paused_until.isoformat() != payload.get("until")):
            return
        set_status(session, member=member, status="active")
        audit.record(session, team_id=action.team_id, actor_id="system", action="status_active", subject_id=member.slack_user_id)
    _dm(client, action.subject_user_id, render("status_changed.j2", status="active", until=None))
    publish_home(services, client, team_id=action.team_id, user_id=action.subject_user_id)


INVITATION_KIND = "invitation"
BASELINE_SURVEY_KIND = "survey_baseline"
FOLLOWUP_SURVEY_KIND = "survey_followup"
FOLLOWUP_WAVES = tuple(FOLLOWUP_DUE.items())  # the evaluation decides from these when a wave has closed


BASELINE_AT = time(8, 0)  # the morning after joining, in the person's own time zone


def baseline_due(joined_at: datetime, tz_name: str | None, fallback_tz: str = "UTC") -> datetime:
    """08:00 local on the day after joining: joining costs no second message the same day, and the
    baseline arrives when a day starts, never at night (a DST gap is read as the wall clock after it)."""
    place = zone(tz_name, fallback_tz)
    day = joined_at.astimezone(place).date() + timedelta(days=1)
    return datetime.combine(day, BASELINE_AT, tzinfo=place).astimezone(timezone.utc)


def queue_surveys_after_enrolment(session: Session, *, member, fallback_tz: str = "UTC") -> None:  # noqa: ANN001
    """The trial's time points: a baseline the next morning, follow-ups at 6 and 12 months (delivered by the pulse flow)."""
    key = f"survey:{member.team_id}:{member.slack_user_id}"
    schedule.schedule(session, key=f"{key}:baseline", kind=BASELINE_SURVEY_KIND,
                      due_at=baseline_due(member.consented_at, member.timezone, fallback_tz),
                      team_id=member.team_id, subject_user_id=member.slack_user_id, payload={"wave": "baseline"})
    for wave, after in FOLLOWUP_WAVES:
        schedule.schedule(session, key=f"{key}:{wave}", kind=FOLLOWUP_SURVEY_KIND, due_at=member.consented_at + after,
                          team_id=member.team_id, subject_user_id=member.slack_user_id, payload={"wave": wave})


def queue_invitation(session: Session, *, member) -> bool:  # noqa: ANN001
    """Schedule the invitation DM for an invited person (once per person)."""
    return schedule.schedule(
        session,
        key=f"invite:{member.team_id}:{member.slack_user_id}",
        kind=INVITATION_KIND,
        due_at=utcnow(),
        team_id=member.team_id,
        subject_user_id=member.slack_user_id,
    )


def deliver_invitation(services: Services, client: WebClient, action, payload: dict) -> None:  # noqa: ANN001
    with Session(services.engine) as session:
        member = get_member(session, team_id=action.team_id, user_id=action.subject_user_id)
    if member is None or member.status != "invited":
        raise DropDelivery("the person is no longer waiting for an invitation")
    if account_kind(client, member.slack_user_id) is not None:
        remove_person(services, client, team_id=action.team_id, user_id=member.slack_user_id)
        raise DropDelivery("the person is not a full member of the workspace")
    if not awake_recipients(services, action, payload, [member.slack_user_id]):
        return  # held in a copy of its own until the morning in the person's time zone
    text = render("invitation.j2", name=member.display_name or "there", inviter="Your wellbeing team")
    blocks = section_blocks(text)
    blocks.append(ActionsBlock(block_id="invitation", elements=[
        ButtonElement(text="Join Compass", action_id="join_open", style="primary", value="join"),
    ]))
    post_once(client, action, channel=member.slack_user_id, text=fallback_text(text), blocks=check_blocks(blocks))
    with session_scope(services.engine) as session:
        stored = get_member(session, team_id=action.team_id, user_id=action.subject_user_id)
        if stored is not None:
            stored.invitation_sent_at = utcnow()
            session.add(stored)


DELIVERIES = {RESUME_KIND: deliver_resume, INVITATION_KIND: deliver_invitation}


def my_data(ctx: CommandContext) -> None:
    with session_scope(ctx.services.engine) as session:
        data = export_person(session, team_id=ctx.team_id, user_id=ctx.user_id)
        if _holds_anything(data):  # nothing held, nothing exported: no audit row naming someone who never took part
            audit.record(session, team_id=ctx.team_id, actor_id=ctx.user_id, action="my_data_exported", subject_id=ctx.user_id)
    data["exported_at"] = utcnow().isoformat()
    opened = call(ctx.client, "conversations.open", users=ctx.user_id)
    if not opened.ok:
        ctx.reply(opened.friendly)
        return
    uploaded = call(
        ctx.client,
        "files.upload_v2",
        channel=opened.data["channel"]["id"],
        content=json.dumps(data, indent=2, sort_keys=True),
        filename="compass-my-data.json",
        title="Everything Compass stores about you",
        initial_comment="Here's everything Compass stores about you. Only you can see this conversation.",
    )
    ctx.reply("I've sent you a file with all your data in our DM. :open_file_folder:" if uploaded.ok else uploaded.friendly)


def _holds_anything(export: dict) -> bool:
    return any(value for key, value in export.items() if key not in ("slack_user_id", "team_id"))


def forget_me(ctx: CommandContext) -> None:
    blocks = section_blocks(render("forget_me_confirm.j2"))
    blocks.append(
        ActionsBlock(
            block_id="forget_me",
            elements=[
                ButtonElement(text="Delete everything", action_id="forget_me_confirm", style="danger", value="confirm"),
                ButtonElement(text="Keep my data", action_id="forget_me_cancel", value="cancel"),
            ],
        )
    )
    ctx.reply(fallback_text(render("forget_me_confirm.j2")), blocks=check_blocks(blocks))


def _forget(services: Services, client: WebClient, team_id: str, user_id: str, respond) -> None:  # noqa: ANN001
    with session_scope(services.engine) as session:
        # Someone we hold nothing about: nothing to erase, and nothing to record.
        if _holds_anything(export_person(session, team_id=team_id, user_id=user_id)):
            erased = erase_person(session, team_id=team_id, user_id=user_id)
            # The record that an erasure happened must not identify who asked for it.
            audit.record(session, team_id=team_id, actor_id="system", action="member_forgotten", rows=sum(erased.values()))
    respond(text=render("forget_me_done.j2"), replace_original=True)
    publish_home(services, client, team_id=team_id, user_id=user_id)

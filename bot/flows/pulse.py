"""Surveys in Slack: a DM with one button, the modal, private feedback, the crisis message,
one reminder, and the person's own trend on App Home.

Who is asked when
-----------------
* ``survey_baseline`` / ``survey_followup`` (scheduled at enrolment): the baseline, then
  6 and 12 months later. A paused person is asked the day after their pause ends (or
  again a week later for an open-ended pause); after :data:`WAVE_WINDOW` the time point
  has passed and is dropped.
* ``pulse_after_session`` (scheduled by the groups flow): every active member of the
  group, except anyone who told us they missed that session.

One open survey per person
--------------------------
A person never has two open surveys. A pulse that arrives while another survey is open
is **skipped** for that person: it asks about a session that is already over, and the
next pulse comes four weeks later. A baseline or follow-up is a trial time point and
asks everything a pulse asks, so it **replaces** an open pulse (the pulse's DM is
edited to say it closed) and is sent. Surveys close by themselves after
:data:`OPEN_FOR` (a pulse sooner than a long check-in), and for a baseline or follow-up one reminder goes after
:data:`REMIND_AFTER` to people who have not answered, and only to them.

Privacy
-------
Answers, scores and the crisis message go only to the person, in their DM. Nothing here
writes the audit log, tells a lead or an admin, or logs a user ID next to a survey
outcome: not answering, being reminded and crossing a crisis cut-off are invisible to
everyone else.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, time, timedelta, timezone
from typing import Callable, Sequence

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement
from slack_sdk.models.views import View
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.runtime.delivery import METADATA_EVENT, DeliveryFailed, DropDelivery, RetryLater, ensure_ok, find_delivered, post_once
from bot.flows.commands import CommandRouter, bounded_int, run_guarded, who
from bot.flows.home import publish_home
from bot.domain.instruments import default_catalogue
from bot.slack.render import reader_time, check_blocks, fallback_text, render, section_blocks
from bot.domain.group_series import local_text
from bot.domain.scoring import Score, ScoringError, baseline_sd, needs_crisis_message, score
from bot.flows.survey_opening import (  # noqa: F401 - OPEN_FOR, REMIND_AFTER: the rule's timing, read by tests
    CLOSE_KIND,
    OPEN_FOR,
    REMIND_AFTER,
    REMINDER_KIND,
    Skip,
    close,
    close_key,
    messages_of,
    open_for,
    open_for_people,
    reminder_key,
    remember_messages,
)
from bot.flows.survey_timing import after_nearby_session
from bot.runtime.quiet import awake_recipients
from bot.runtime.services import Services
from bot.slack.client import call
from bot.slack.survey_forms import (
    CALLBACK_ID,
    OPEN_SURVEY_ACTION_ID,
    after_session_blocks,
    block_id,
    build_survey_modal,
    crisis_message_blocks,
    invitation_blocks,
    parse_submission,
    score_feedback_blocks,
    score_feedback_text,
)
from storage import schedule
from bot.flows.pulse_home import SURVEY_OF_KIND, _length, default_survey, home_section  # noqa: F401 - home_section: the Home hook
from storage import groups as groups_store
from storage import surveys as store
from storage.db import session_scope, utcnow
from storage.members import get_member
from storage.models import Member, ScheduledAction, Survey

log = logging.getLogger(__name__)

BASELINE_KIND = "survey_baseline"
FOLLOWUP_KIND = "survey_followup"
PULSE_KIND = "pulse_after_session"
FEEDBACK_KIND = "survey_feedback"

WAVES = {"baseline": ("baseline", "baseline"), "6m": ("followup", "follow_up"), "12m": ("followup", "follow_up")}

WAVE_WINDOW = timedelta(days=60)  # a 6- or 12-month answer later than this no longer measures that time point
PAUSED_RECHECK = timedelta(days=7)
ASK_AT_UTC = time(14, 0)  # mid-morning across US time zones, for a survey deferred to a later day


def register(app: App, services: Services, router: CommandRouter) -> None:
    @app.action(OPEN_SURVEY_ACTION_ID)
    def on_open_survey(ack, body, client, respond):  # noqa: ANN001
        ack()
        team_id, user_id = who(body)
        tell = _teller(client, body, respond, user_id)
        run_guarded(lambda: open_survey_modal(services, client, body, tell), reply=tell, what="open check-in")

    @app.view(CALLBACK_ID)
    def on_submit(ack, body, view, client):  # noqa: ANN001
        submit_survey(services, ack, body, view, client)


# ---------------------------------------------------------------- small helpers


def _teller(client: WebClient, body: dict, respond, user_id: str) -> Callable[[str], None]:  # noqa: ANN001
    """Answer a button privately: ephemeral where the button was a message, by DM from App Home."""

    def tell(text: str) -> None:
        if body.get("response_url"):
            respond(text=text, response_type="ephemeral", replace_original=False)
        else:
            call(client, "chat.postMessage", channel=user_id, text=text)

    return tell


def _survey_id(value: object) -> int | None:
    number = bounded_int(str(value))
    return number if number is not None and number > 0 else None


def feedback_key(survey_id: int) -> str:
    return f"survey-feedback:{survey_id}"


def _post_keyed(client: WebClient, *, channel: str, key: str, text: str, blocks: list | None) -> dict:
    """A post carrying ``key`` in its metadata, so a retry can tell whether it already went out."""
    outcome = call(client, "chat.postMessage", channel=channel, text=text, blocks=blocks,
                   metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}})
    return ensure_ok(outcome, "chat.postMessage")


# ---------------------------------------------------------------- sending a survey


def _edit_messages(client: WebClient, messages: Sequence[dict], state: str) -> None:
    text = render("pulse_message_closed.j2", state=state)
    for message in messages:
        outcome = call(client, "chat.update", channel=message.get("channel"), ts=message.get("ts"), text=text,
                       blocks=check_blocks(section_blocks(text)))
        if not outcome.ok:
            log.info("could not edit a closed survey's DM: %s", outcome.error)


def _post_invitation(services: Services, client: WebClient, action: ScheduledAction, *, survey_id: int, user_id: str,
                     survey_kind: str, after: tuple | None = None) -> dict:
    """Post the survey DM (once, even across retries) and return Slack's answer; a permanent failure closes
    the survey. ``after`` (session ID, "Were you there?") makes it the one message after a session."""
    if after is not None:
        text, blocks = after_session_blocks(question=after[1], session_id=after[0], survey_id=survey_id,
                                            min_group=services.settings.compass_min_group, upcoming=after[2])
    else:
        text, blocks = invitation_blocks(survey_kind, min_group=services.settings.compass_min_group, button_value=str(survey_id))
    try:
        return post_once(client, action, channel=user_id, text=fallback_text(text), blocks=blocks)
    except DeliveryFailed:
        with session_scope(services.engine) as session:
            survey = store.get_survey(session, survey_id=survey_id)
            if survey is not None:
                close(session, survey)
        raise


def deliver_wave_survey(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery: the baseline, or the 6- or 12-month follow-up."""
    wave = payload.get("wave")
    if wave not in WAVES:
        raise DeliveryFailed(f"unknown survey wave {wave!r}")
    kind, survey_kind = WAVES[wave]
    team_id, user_id = action.team_id, action.subject_user_id
    if not awake_recipients(services, action, payload, [user_id]):
        raise DropDelivery("held until the end of the person's quiet hours")
    instruments = default_catalogue().survey(survey_kind).instruments
    deferred_to: datetime | None = None
    if kind == "followup" and not payload.get("moved"):
        with session_scope(services.engine) as session:
            later = after_nearby_session(session, team_id=team_id, user_id=user_id, now=utcnow())
            if later is not None:
                schedule.schedule(session, key=f"{action.key}:after-session", kind=action.kind, due_at=later, team_id=team_id,
                                  subject_user_id=user_id, payload={**payload, "moved": True,
                                                                    "first_due": payload.get("first_due") or action.due_at.isoformat()})
        if later is not None:
            raise DropDelivery(f"not in a session week; asking on {later.date().isoformat()}")
    with session_scope(services.engine) as session:
        member = store.lock_person(session, team_id=team_id, user_id=user_id)
        if member is not None and member.status == "paused":
            deferred_to = _defer_while_paused(session, action, payload, member)
            opened = None
        else:
            try:
                opened = open_for(session, team_id=team_id, user_id=user_id, kind=kind, wave=wave,
                                   instruments=instruments, replaces_open=True)
            except Skip as exc:
                raise DropDelivery(str(exc)) from None
    if opened is None:
        raise DropDelivery(f"paused; asking again on {deferred_to.date().isoformat()}" if deferred_to
                           else "paused past the time point's window")
    if opened.superseded:
        _edit_messages(client, opened.superseded, "superseded")
    posted = _post_invitation(services, client, action, survey_id=opened.survey_id, user_id=user_id, survey_kind=survey_kind)
    remember_messages(services.engine, [(opened.survey_id, posted)])


def _defer_while_paused(session: Session, action: ScheduledAction, payload: dict, member: Member) -> datetime | None:
    """Schedule this time point again for after the pause, within its window. Returns when."""
    first_due = datetime.fromisoformat(payload["first_due"]) if payload.get("first_due") else action.due_at
    if member.paused_until is not None:
        when = datetime.combine(member.paused_until + timedelta(days=1), ASK_AT_UTC, timezone.utc)
    else:
        when = utcnow() + PAUSED_RECHECK
    if when - first_due > WAVE_WINDOW:
        return None
    base_key = action.key.split(":after-pause:")[0]
    schedule.schedule(session, key=f"{base_key}:after-pause:{when.date().isoformat()}", kind=action.kind, due_at=when,
                      team_id=action.team_id, subject_user_id=action.subject_user_id,
                      payload={"wave": payload["wave"], "first_due": first_due.isoformat()})
    return when


def deliver_pulse(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery: a pulse to every active member of a group after an even-numbered session."""
    try:
        group_id, cycle, number = int(payload["group_id"]), int(payload["cycle"]), int(payload["number"])
        session_number = int(payload.get("session_number", number))
    except (KeyError, TypeError, ValueError):
        raise DeliveryFailed(f"malformed pulse payload {payload!r}") from None
    wave = f"pulse:{group_id}:{cycle}:{number}"
    instruments = default_catalogue().survey("pulse").instruments
    with Session(services.engine) as session:
        recipients = store.pulse_recipients(session, group_id=group_id, cycle=cycle, session_number=session_number)
        after = _attendance_question(session, group_id=group_id, cycle=cycle, number=session_number,
                                     tz=services.settings.compass_timezone)
    if recipients is None:
        raise DropDelivery("the session did not take place")
    recipients = awake_recipients(services, action, payload, recipients)
    with session_scope(services.engine) as session:  # one transaction for the group's surveys
        opened = open_for_people(session, team_id=action.team_id, user_ids=recipients, kind="pulse", wave=wave,
                                 instruments=instruments, replaces_open=False)
    sent, passing, posted = 0, [], []
    try:
        for user_id, outcome in opened.items():
            if isinstance(outcome, Skip):
                continue
            try:
                posted.append((outcome.survey_id, _post_invitation(services, client, action, survey_id=outcome.survey_id,
                                                                   user_id=user_id, survey_kind="pulse", after=after)))
                sent += 1
            except RetryLater as exc:
                passing.append(str(exc))
            except DeliveryFailed as exc:
                log.warning("%s: a check-in DM could not be delivered: %s", action.key, exc)
    finally:
        remember_messages(services.engine, posted)
    if passing:
        raise RetryLater(f"{len(passing)} check-in DM(s) to retry: {passing[0]}")
    log.info("%s: sent %d check-in(s)", action.key, sent)


def deliver_reminder(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery: one reminder, only if the survey is still unanswered."""
    survey_id = _survey_id(payload.get("survey_id"))
    with Session(services.engine) as session:
        survey = store.get_survey(session, survey_id=survey_id) if survey_id else None
        member = get_member(session, team_id=action.team_id, user_id=action.subject_user_id)
    if survey is None or survey.status != store.SENT:
        raise DropDelivery("answered or closed")
    if member is None or member.status != "active":
        raise DropDelivery("not active now")
    if not awake_recipients(services, action, payload, [survey.slack_user_id]):
        raise DropDelivery("held until the end of the person's quiet hours")
    text = render("pulse_reminder.j2", length=_length(survey))
    button = ButtonElement(text="Start check-in", action_id=OPEN_SURVEY_ACTION_ID, value=str(survey.id), style="primary")
    blocks = check_blocks([*section_blocks(text), ActionsBlock(elements=[button])])
    posted = post_once(client, action, channel=survey.slack_user_id, text=fallback_text(text), blocks=blocks)
    with session_scope(services.engine) as session:
        store.mark_reminded(session, survey_id=survey.id)
    remember_messages(services.engine, [(survey.id, posted)])


def deliver_close(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery: an unanswered survey closes and its button goes away."""
    survey_id = _survey_id(payload.get("survey_id"))
    with session_scope(services.engine) as session:
        survey = store.get_survey(session, survey_id=survey_id) if survey_id else None
        if survey is None or not store.expire_survey(session, survey=survey):
            raise DropDelivery("answered or gone")
        schedule.cancel(session, keys=[reminder_key(survey.id)])
    _edit_messages(client, payload.get("messages", []), "expired")


# ---------------------------------------------------------------- answering


def _attendance_question(session: Session, *, group_id: int, cycle: int, number: int, tz: str) -> tuple | None:
    """(session ID, "Were you there?", the next session's (ID, start) or None) for the message after it."""
    row = groups_store.find_session(session, group_id=group_id, cycle=cycle, number=number)
    group = groups_store.get_group(session, group_id=group_id)
    if row is None or group is None:
        return None
    upcoming = groups_store.next_session_after(session, group_id=group_id, cycle=cycle, starts_at=row.starts_at)
    return (row.id, render("group_attendance.j2", group_name=group.name,
                           when=reader_time(row.starts_at, local_text(row.starts_at, group.timezone or tz))),
            (upcoming.id, reader_time(upcoming.starts_at, local_text(upcoming.starts_at, group.timezone or tz))) if upcoming is not None else None)


def open_survey_modal(services: Services, client: WebClient, body: dict, tell: Callable[[str], None]) -> None:
    team_id, user_id = who(body)
    actions = body.get("actions") or [{}]
    survey_value, _, session_value = str(actions[0].get("value") or "").partition(":")
    survey_id = _survey_id(survey_value)
    with Session(services.engine) as session:
        survey = store.get_survey(session, survey_id=survey_id) if survey_id else None
    if survey is None or survey.team_id != team_id or survey.slack_user_id != user_id:
        tell(render("pulse_notice.j2", reason="not_found"))
        return
    if session_value:  # "I was there · check in": the attendance first, whatever happens to the check-in
        with session_scope(services.engine) as session:
            row = groups_store.get_session(session, session_id=_survey_id(session_value) or 0)
            if row is not None and groups_store.is_member(session, group_id=row.group_id, user_id=user_id):
                groups_store.set_attendance(session, session_id=row.id, user_id=user_id, attended=True)
    if survey.status != store.SENT:
        tell(render("pulse_notice.j2", reason=survey.status))
        return
    view = survey_view(services, survey)
    outcome = call(client, "views.open", trigger_id=body.get("trigger_id", ""), view=view.to_dict())
    if not outcome.ok:
        tell(outcome.friendly)


def survey_view(services: Services, survey: Survey) -> View:
    definition = default_survey(survey)
    intro = render("survey_intro.j2", length=definition.length_text(), min_group=services.settings.compass_min_group)
    return build_survey_modal(store.instruments_of(survey), title=definition.title, intro=intro,
                              private_metadata=json.dumps({"survey_id": survey.id}))


def _notice_view(reason: str) -> dict:
    text = render("pulse_notice.j2", reason=reason)
    view = View(type="modal", title="Check-in", close="Close", blocks=check_blocks(section_blocks(text), surface="modal"))
    return view.to_dict()


def _keep_open_with_error(ack, view: dict, message: str) -> None:  # noqa: ANN001
    """Answer with an error on the first question: the modal stays open with every answer in it."""
    first_input = next((b.get("block_id") for b in view.get("blocks") or [] if b.get("type") == "input"), None)
    if first_input:
        ack(response_action="errors", errors={first_input: message})
    else:
        ack(response_action="update", view=_notice_view("database"))


def submit_survey(services: Services, ack, body: dict, view: dict, client: WebClient) -> None:  # noqa: ANN001
    team_id, user_id = who(body)
    try:
        survey_id = _survey_id(json.loads(view.get("private_metadata") or "{}").get("survey_id"))
    except (ValueError, AttributeError):
        survey_id = None
    try:
        with Session(services.engine) as session:
            survey = store.get_survey(session, survey_id=survey_id) if survey_id else None
    except SQLAlchemyError:
        log.exception("check-in submission: the database is unreachable")
        _keep_open_with_error(ack, view, render("errors.j2", kind="database"))
        return
    if survey is None or survey.team_id != team_id or survey.slack_user_id != user_id:
        ack(response_action="update", view=_notice_view("not_found"))
        return
    if survey.status != store.SENT:
        ack(response_action="update", view=_notice_view(survey.status))
        return

    instruments = store.instruments_of(survey)
    answers, errors = parse_submission(instruments, (view.get("state") or {}).get("values") or {})
    if errors:
        ack(response_action="errors", errors=errors)
        return
    try:
        scores = [score(instrument_id, answers[instrument_id]) for instrument_id in instruments]
    except ScoringError:
        log.exception("check-in submission: answers could not be scored")
        ack(response_action="errors", errors={block_id(instruments[0], 0): render("survey_field_error.j2", problem="invalid")})
        return
    try:
        with session_scope(services.engine) as session:
            store.complete_survey(session, survey_id=survey.id, team_id=team_id, user_id=user_id, scores=scores)
            messages = messages_of(session, survey.id)
            schedule.cancel(session, keys=[reminder_key(survey.id), close_key(survey.id)])
    except store.SurveyNotOpen as exc:
        ack(response_action="update", view=_notice_view(exc.reason))
        return
    except SQLAlchemyError:
        log.exception("check-in submission: could not store the answers")
        _keep_open_with_error(ack, view, render("errors.j2", kind="database"))
        return
    ack()
    shown_in = send_feedback(services, client, survey_id=survey.id, team_id=team_id, user_id=user_id, scores=scores,
                             messages=messages)
    _edit_messages(client, [m for m in messages if m is not shown_in], "completed")
    publish_home(services, client, team_id=team_id, user_id=user_id)


# ---------------------------------------------------------------- feedback


def send_feedback(services: Services, client: WebClient, *, survey_id: int, team_id: str, user_id: str,
                  scores: Sequence[Score], messages: Sequence[dict] = ()) -> dict | None:
    """The scores, and the crisis message above them when a cut-off is crossed; only to the person.

    Both are shown by updating the check-in's own DM (the last of ``messages``), the message the person
    just tapped and returns to from the modal, so they cost no new notification; the crisis resources
    come first, the scores below them. They are posted as a DM when that edit fails (a crisis DM's
    notification reads only "Your check-in"). Returns the message updated, if any. If Slack fails, the
    clock sends whatever did not go out (``survey_feedback``); the posts carry keys so a retry never
    sends one twice.
    """
    parts = feedback_parts(services, survey_id=survey_id, team_id=team_id, user_id=user_id, scores=scores)
    undelivered, shown_in = False, None
    for key, text, blocks in parts:
        if messages and _show_in_place(client, messages[-1], text, blocks):
            shown_in = messages[-1]
            continue
        try:
            _post_keyed(client, channel=user_id, key=key, text=text, blocks=blocks)
        except (RetryLater, DeliveryFailed):
            undelivered = True
            break
    if undelivered:
        try:
            with session_scope(services.engine) as session:
                schedule.schedule(session, key=feedback_key(survey_id), kind=FEEDBACK_KIND, due_at=utcnow(),
                                  team_id=team_id, subject_user_id=user_id, payload={"survey_id": survey_id})
        except SQLAlchemyError:
            log.exception("survey %s: feedback could not be sent nor queued", survey_id)
    return shown_in


def _show_in_place(client: WebClient, message: dict, text: str, blocks: list) -> bool:
    """The check-in's DM becomes "done" with the scores under it (an edit: no new notification)."""
    done = render("pulse_message_closed.j2", state="completed")
    outcome = call(client, "chat.update", channel=message.get("channel"), ts=message.get("ts"),
                   text=fallback_text(done + "\n" + text), blocks=check_blocks(section_blocks(done) + list(blocks)))
    return outcome.ok


def feedback_parts(services: Services, *, survey_id: int, team_id: str, user_id: str,
                   scores: Sequence[Score]) -> list[tuple[str, str, list]]:
    """(metadata key, text, blocks) of each private message after a survey, in sending order."""
    settings = services.settings
    parts = []
    with Session(services.engine) as session:
        baselines = _baseline_scores(session, team_id=team_id, user_id=user_id, survey_id=survey_id)
        sds = {
            result.instrument_id: sd
            for result in scores
            if (sd := baseline_sd(result.instrument_id, store.cohort_baselines(session, team_id=team_id,
                                                                                instrument=result.instrument_id))) is not None
        }
    blocks = score_feedback_blocks(scores, baselines, min_group=settings.compass_min_group, sds=sds)
    if needs_crisis_message(scores):
        with Session(services.engine) as session:
            member = get_member(session, team_id=team_id, user_id=user_id)
        resources = settings.crisis_for(member.country if member else None)
        crisis = crisis_message_blocks(resources.lines(), emergency_number=resources.emergency_number)
        # One message: the resources, then the scores. Its notification (a lock screen, a banner) says no more
        # than any check-in's would.
        parts.append((f"{feedback_key(survey_id)}:resources", render("crisis_notification.j2"),
                      check_blocks([*crisis, *blocks], surface="message")))
    elif blocks:
        text = score_feedback_text(scores, baselines, min_group=settings.compass_min_group, sds=sds)
        parts.append((f"{feedback_key(survey_id)}:scores", fallback_text(text), blocks))
    return parts


def _baseline_scores(session: Session, *, team_id: str, user_id: str, survey_id: int) -> dict[str, Score]:
    baselines = {}
    for instrument_id, response in store.first_responses(session, team_id=team_id, user_id=user_id,
                                                         excluding_survey_id=survey_id).items():
        try:
            baselines[instrument_id] = score(instrument_id, json.loads(response.answers or "[]"))
        except (ScoringError, ValueError):
            continue  # an instrument whose wording changed since: no comparison
    return baselines


def deliver_feedback(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """Clock delivery: feedback that Slack refused at submission time."""
    survey_id = _survey_id(payload.get("survey_id"))
    with Session(services.engine) as session:
        survey = store.get_survey(session, survey_id=survey_id) if survey_id else None
        responses = store.responses_of(session, survey_id=survey_id) if survey is not None else []
    if survey is None or survey.status != store.COMPLETED:
        raise DropDelivery("no completed survey")
    scores = []
    for response in responses:
        try:
            scores.append(score(response.instrument, json.loads(response.answers or "[]")))
        except (ScoringError, ValueError):
            continue
    since = (survey.completed_at or action.due_at) - timedelta(hours=1)
    for key, text, blocks in feedback_parts(services, survey_id=survey.id, team_id=survey.team_id,
                                            user_id=survey.slack_user_id, scores=scores):
        if find_delivered(client, channel=survey.slack_user_id, key=key, since=since) is None:
            _post_keyed(client, channel=survey.slack_user_id, key=key, text=text, blocks=blocks)


DELIVERIES = {
    BASELINE_KIND: deliver_wave_survey,
    FOLLOWUP_KIND: deliver_wave_survey,
    PULSE_KIND: deliver_pulse,
    REMINDER_KIND: deliver_reminder,
    CLOSE_KIND: deliver_close,
    FEEDBACK_KIND: deliver_feedback,
}

"""End to end: survey DMs, the modal, private feedback, reminders and the one-open-survey rule."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlmodel import Session, select

from bot.runtime.clock import Clock
from storage import schedule
from storage.db import session_scope
from storage.models import Group, GroupMember, GroupSession, Member, ScheduledAction, SessionAttendance, Survey, SurveyResponse
from storage.workspaces import ensure_workspace
from tests.conftest import TEAM_ID
from tests.support.clock import frozen
from tests.support.waiting import eventually
from tests.test_enrolment_flow import join

ANA, BEN, CAL = "U0ANA", "U0BEN", "U0CAL"
BASELINE_ANSWERS = {"burnout": [2], "who5": [3, 3, 3, 3, 3], "phq2": [0, 1], "meaning": [4], "connection": [4],
                    "intent_to_leave": [2]}
PULSE_ANSWERS = {"burnout": [2], "who5": [4, 4, 4, 4, 4], "group_worth": [4]}


# ---------------------------------------------------------------- helpers (shared with the report and privacy tests)


def values_for(answers: dict[str, list[int | None]]) -> dict:
    """A view_submission state: {instrument: [value per item, None for unanswered]}."""
    values = {}
    for instrument, items in answers.items():
        for index, value in enumerate(items):
            selected = None if value is None else {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}
            values[f"{instrument}__{index}"] = {"answer": {"type": "radio_buttons", "selected_option": selected}}
    return values


def enrol(engine, user_id: str, *, department: str = "Medicine", stage: str = "PGY-2", status: str = "active") -> None:  # noqa: ANN001
    now = datetime.now(timezone.utc)
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM_ID)
        session.add(Member(team_id=TEAM_ID, slack_user_id=user_id, department=department, career_stage=stage, status=status,
                           consented_at=now, invited_at=now, created_at=now, updated_at=now))


def make_group(engine, members: list[str], *, lead: str = "", cohort: str = "2026-spring") -> int:  # noqa: ANN001
    now = datetime.now(timezone.utc)
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM_ID)
        group = Group(team_id=TEAM_ID, name="Group 1", cohort=cohort, status="active", lead_user_id=lead,
                      channel_id="C0GROUP", created_at=now, updated_at=now)
        session.add(group)
        session.flush()
        for user_id in members:
            session.add(GroupMember(group_id=group.id, team_id=TEAM_ID, slack_user_id=user_id, joined_at=now))
        return group.id


def schedule_pulse(engine, group_id: int, *, number: int = 2, session_number: int | None = None) -> str:  # noqa: ANN001
    key = f"pulse:{group_id}:1:{number}"
    with session_scope(engine) as session:
        schedule.schedule(session, key=key, kind="pulse_after_session", due_at=datetime.now(timezone.utc), team_id=TEAM_ID,
                          payload={"group_id": group_id, "cycle": 1, "number": number,
                                   "session_number": session_number or number})
    return key


def survey_messages(standin, user_id: str) -> list[dict]:  # noqa: ANN001
    """DMs to the person that carry the check-in button."""
    return [m for m in standin.dm_messages(user_id) if button_value(m) is not None]


def button_value(message: dict) -> str | None:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == "open_survey":
                return element["value"]
    return None


def open_modal(slack, standin, user_id: str, message: dict | None = None) -> dict:  # noqa: ANN001
    message = message or survey_messages(standin, user_id)[-1]
    before = len(standin.calls_to("views.open"))
    slack.action(user_id, "open_survey", button_value(message), channel_id=standin.dm_channel(user_id), message_ts=message["ts"])
    return eventually(lambda: len(standin.calls_to("views.open")) > before and standin.calls_to("views.open")[-1]).args["view"]


def answer(slack, standin, user_id: str, answers: dict, message: dict | None = None):  # noqa: ANN001, ANN201
    view = open_modal(slack, standin, user_id, message)
    return slack.view_submission(user_id, view, values_for(answers))


def surveys_of(engine, user_id: str) -> list[Survey]:  # noqa: ANN001
    with Session(engine) as session:
        return list(session.exec(select(Survey).where(Survey.slack_user_id == user_id).order_by(Survey.id)))


def message_at(standin, user_id: str, ts: str) -> dict:  # noqa: ANN001
    return next(m for m in standin.dm_messages(user_id) if m["ts"] == ts)


def dm_texts(standin, user_id: str) -> list[str]:  # noqa: ANN001
    return [json.dumps(m.get("blocks")) + m.get("text", "") for m in standin.dm_messages(user_id)]


# ---------------------------------------------------------------- the baseline


def test_baseline_is_a_dm_with_one_button_and_an_answer_gets_private_feedback(slack, standin, engine, services):
    with frozen("2026-03-02 15:00:00"):
        join(slack, standin, engine)
        assert Clock(services).tick().kinds == {}  # not on the joining day
    with frozen("2026-03-03 12:59:00"):  # 06:59 in Chicago
        assert Clock(services).tick().kinds == {}
    with frozen("2026-03-03 14:00:00"):  # 08:00 in Chicago: the baseline arrives the morning after joining
        assert Clock(services).tick().kinds == {"survey_baseline": 1}
        invitations = survey_messages(standin, ANA)
        assert len(invitations) == 1
        invitation = json.dumps(invitations[0]["blocks"])
        assert "11 questions, about 3 minutes" in invitation  # its real length (issue 15)
        buttons = [e for b in invitations[0]["blocks"] for e in b.get("elements") or [] if e.get("type") == "button"]
        assert len(buttons) == 1 and buttons[0]["text"]["text"] == "Start check-in"

        view = open_modal(slack, standin, ANA)
        assert view["callback_id"] == "pulse_submit" and view["title"]["text"] == "Welcome check-in"
        assert "confidential, not anonymous" in json.dumps(view)
        response = slack.view_submission(ANA, view, values_for(BASELINE_ANSWERS))
        assert response.status_code == 200 and response.text in ("", "{}")

        eventually(lambda: any("starting point" in t for t in dm_texts(standin, ANA)))
        [survey] = surveys_of(engine, ANA)
        assert survey.status == "completed" and survey.wave == "baseline"
        with Session(engine) as session:
            stored = {r.instrument: r for r in session.exec(select(SurveyResponse).where(SurveyResponse.survey_id == survey.id))}
        assert set(stored) == set(BASELINE_ANSWERS)
        assert stored["who5"].score == 60 and json.loads(stored["who5"].answers) == [3, 3, 3, 3, 3]
        assert stored["phq2"].score == 1
        # The DM's button is gone once answered and the scores are shown there, by an edit: no second DM.
        eventually(lambda: "Check-in done" in message_at(standin, ANA, invitations[0]["ts"])["text"])
        assert "starting point" in json.dumps(message_at(standin, ANA, invitations[0]["ts"])["blocks"])
        assert [t for t in dm_texts(standin, ANA) if "starting point" in t] == [dm_texts(standin, ANA)[
            [m["ts"] for m in standin.dm_messages(ANA)].index(invitations[0]["ts"])]]
        assert survey_messages(standin, ANA) == []
        with Session(engine) as session:
            pending = session.exec(select(ScheduledAction).where(ScheduledAction.status == "pending",
                                                                 ScheduledAction.key.startswith("survey-"))).all()
        assert pending == []
        home = json.dumps(eventually(lambda: (v := standin.home_view(ANA)) and "Your trend" in json.dumps(v) and v))
        assert "Wellbeing (WHO-5)" in home and "60" in home


def test_the_modal_validates_answers_and_only_its_owner_can_submit_it_once(slack, standin, engine, services, responses, tmp_path):
    from storage.db import make_engine

    with frozen("2026-03-02 15:00:00"):
        join(slack, standin, engine)
    with frozen("2026-03-03 14:00:00"):  # 08:00 in Chicago: the baseline arrives the morning after joining
        Clock(services).tick()
        message = survey_messages(standin, ANA)[0]
        view = open_modal(slack, standin, ANA, message)

        partial = dict(BASELINE_ANSWERS, who5=[3, None, 3, 3, None], phq2=[None, 1])
        missing = slack.view_submission(ANA, view, values_for(partial)).json()
        assert missing["response_action"] == "errors"
        assert set(missing["errors"]) == {"who5__1", "who5__4", "phq2__0"}
        assert all("choose an answer" in text for text in missing["errors"].values())
        tampered = slack.view_submission(ANA, view, values_for(dict(BASELINE_ANSWERS, burnout=[9]))).json()
        assert tampered["errors"] == {"burnout__0": "That answer didn't come through. Please choose one of the options."}
        with Session(engine) as session:
            assert session.exec(select(SurveyResponse)).all() == []

        working = services.engine  # the database goes away: the modal stays open with every answer in it
        services.engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'gone.db'}")
        gone = slack.view_submission(ANA, view, values_for(BASELINE_ANSWERS)).json()
        services.engine = working
        assert gone["response_action"] == "errors" and "couldn't reach my database" in gone["errors"]["burnout__0"]

        opened = len(standin.calls_to("views.open"))
        slack.action(BEN, "open_survey", button_value(message), channel_id=standin.dm_channel(BEN), message_ts="1.0")
        assert "couldn't find that check-in" in eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"]
        assert len(standin.calls_to("views.open")) == opened
        forged = slack.view_submission(BEN, view, values_for(BASELINE_ANSWERS)).json()
        assert forged["response_action"] == "update" and surveys_of(engine, ANA)[0].status == "sent"

        assert slack.view_submission(ANA, view, values_for(BASELINE_ANSWERS)).text in ("", "{}")
        again = slack.view_submission(ANA, view, values_for(BASELINE_ANSWERS)).json()
        eventually(lambda: any("starting point" in t for t in dm_texts(standin, ANA)))
    assert again["response_action"] == "update" and "already done this check-in" in json.dumps(again["view"])
    with Session(engine) as session:
        assert len(session.exec(select(SurveyResponse)).all()) == len(BASELINE_ANSWERS)


# ---------------------------------------------------------------- pulses


def test_pulse_goes_to_active_members_who_attended_and_compares_with_the_baseline(slack, standin, engine, services):
    standin.add_user(CAL, name="cal", real_name="Cal Diaz", tz="America/New_York")
    with frozen("2026-03-02 15:00:00"):
        join(slack, standin, engine)
    with frozen("2026-03-03 14:00:00"):  # 08:00 in Chicago: the baseline arrives the morning after joining
        Clock(services).tick()
        answer(slack, standin, ANA, BASELINE_ANSWERS)
        eventually(lambda: surveys_of(engine, ANA)[0].status == "completed" and not survey_messages(standin, ANA))
        enrol(engine, BEN, status="paused")
        enrol(engine, CAL)
    with frozen("2026-03-30 20:00:00"):
        group_id = make_group(engine, [ANA, BEN, CAL])
        with session_scope(engine) as session:
            held = GroupSession(group_id=group_id, cycle=1, number=2, starts_at=datetime.now(timezone.utc) - timedelta(hours=2),
                                local_date=datetime.now(timezone.utc).date(), status="held")
            session.add(held)
            session.flush()
            session.add(SessionAttendance(session_id=held.id, slack_user_id=CAL, attended=False,
                                          answered_at=datetime.now(timezone.utc)))
        schedule_pulse(engine, group_id)
        assert Clock(services).tick().kinds == {"pulse_after_session": 1}
        assert len(survey_messages(standin, ANA)) == 1
        assert survey_messages(standin, BEN) == [] and survey_messages(standin, CAL) == []  # paused; missed the session
        # One message after the session: "Were you there?" and the check-in; "I was there" records it and opens the modal.
        (after,) = survey_messages(standin, ANA)
        assert after["text"].startswith("Were you at ") and "7 questions" in json.dumps(after["blocks"])
        actions = [e["action_id"] for b in after["blocks"] for e in b.get("elements") or [] if e.get("type") == "button"]
        assert actions == ["open_survey", "attendance_no"]
        assert len([m for m in standin.dm_messages(ANA) if m["ts"] > after["ts"]]) == 0
        view = open_modal(slack, standin, ANA)
        with Session(engine) as session:
            said = {a.slack_user_id: a.attended for a in session.exec(select(SessionAttendance))}
        assert said == {CAL: False, ANA: True}
        assert view["title"]["text"] == "Quick check-in"
        assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"][-1] == "group_worth__0"
        slack.view_submission(ANA, view, values_for(PULSE_ANSWERS))
        feedback = eventually(lambda: [t for t in dm_texts(standin, ANA) if "baseline 60)" in t])[-1]
    assert "80 out of 100" in feedback
    assert "within normal variation" in feedback  # +20 on WHO-5 with the published SD is not a reliable change
    assert "Was the group worth it" not in feedback  # session feedback is for the program only
    assert [s.wave for s in surveys_of(engine, ANA)] == ["baseline", f"pulse:{group_id}:1:2"]


def test_the_reminder_goes_once_and_only_to_people_who_have_not_answered(slack, standin, engine, services, responses):
    standin.add_user(CAL, name="cal", real_name="Cal Diaz", tz="America/New_York")
    with frozen("2026-03-30 20:00:00"):
        for user_id in (ANA, BEN, CAL):
            enrol(engine, user_id)
            schedule_wave(engine, user_id, "baseline")
        Clock(services).tick()
        answer(slack, standin, ANA, BASELINE_ANSWERS)
        eventually(lambda: surveys_of(engine, ANA)[0].status == "completed")
    with frozen("2026-04-06 19:00:00"):
        assert Clock(services).tick().kinds == {}  # not a week yet: the nudge lands in another week than the check-in
    with frozen("2026-04-06 20:05:00"):
        assert Clock(services).tick().kinds == {"survey_reminder": 2}
    with frozen("2026-04-07 20:05:00"):
        assert Clock(services).tick().kinds == {}
    reminders = {u: [m for m in standin.dm_messages(u) if "gentle nudge" in m.get("text", "")] for u in (ANA, BEN, CAL)}
    assert reminders[ANA] == [] and len(reminders[BEN]) == 1 and len(reminders[CAL]) == 1
    assert surveys_of(engine, BEN)[0].reminded_at is not None and surveys_of(engine, ANA)[0].reminded_at is None

    with frozen("2026-04-13 20:05:00"):  # fourteen days after sending: the baseline closes
        assert Clock(services).tick().kinds == {"survey_close": 2}
    assert surveys_of(engine, BEN)[0].status == "expired"
    assert survey_messages(standin, BEN) == []  # the invitation and the reminder lost their buttons
    assert all("has closed" in m["text"] for m in standin.dm_messages(BEN))
    slack.action(BEN, "open_survey", str(surveys_of(engine, BEN)[0].id), channel_id=standin.dm_channel(BEN), message_ts="1.0")
    assert "has closed" in eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"]


def test_a_pulse_after_a_session_has_no_reminder_and_closes_after_five_days(slack, standin, engine, services):
    standin.add_user(CAL, name="cal", real_name="Cal Diaz", tz="America/New_York")
    with frozen("2026-03-30 20:00:00"):
        for user_id in (ANA, BEN, CAL):
            enrol(engine, user_id)
        schedule_pulse(engine, make_group(engine, [ANA, BEN, CAL]))
        assert Clock(services).tick().kinds == {"pulse_after_session": 1}
    with frozen("2026-04-01 20:05:00"):
        assert Clock(services).tick().kinds == {}  # one message after a session, no nudge after it
    with frozen("2026-04-04 20:05:00"):
        assert Clock(services).tick().kinds == {"survey_close": 3}
    assert not any("gentle nudge" in m.get("text", "") for u in (ANA, BEN, CAL) for m in standin.dm_messages(u))
    assert survey_messages(standin, BEN) == [] and surveys_of(engine, BEN)[0].status == "expired"


def schedule_wave(engine, user_id: str, wave: str) -> None:  # noqa: ANN001
    kind = "survey_baseline" if wave == "baseline" else "survey_followup"
    with session_scope(engine) as session:
        schedule.schedule(session, key=f"survey:{TEAM_ID}:{user_id}:{wave}", kind=kind, due_at=datetime.now(timezone.utc),
                          team_id=TEAM_ID, subject_user_id=user_id, payload={"wave": wave})


def test_a_pulse_is_skipped_for_someone_whose_baseline_is_still_open(standin, engine, services):
    with frozen("2026-03-02 15:00:00"):
        enrol(engine, ANA)
        enrol(engine, BEN)
        schedule_wave(engine, ANA, "baseline")
        Clock(services).tick()  # the baseline is sent and left unanswered
        schedule_pulse(engine, make_group(engine, [ANA, BEN]))
        assert Clock(services).tick().kinds == {"pulse_after_session": 1}
    assert [s.wave for s in surveys_of(engine, ANA)] == ["baseline"]
    assert surveys_of(engine, BEN)[0].wave.startswith("pulse:")
    assert len(survey_messages(standin, ANA)) == 1


def test_a_follow_up_replaces_an_open_pulse(standin, engine, services):
    with frozen("2026-09-01 20:00:00"):
        enrol(engine, ANA)
        schedule_pulse(engine, make_group(engine, [ANA]))
        Clock(services).tick()
        pulse_message = survey_messages(standin, ANA)[0]
        schedule_wave(engine, ANA, "6m")
        assert Clock(services).tick().kinds == {"survey_followup": 1}
    pulse, follow_up = surveys_of(engine, ANA)
    assert (pulse.status, follow_up.status, follow_up.wave) == ("expired", "sent", "6m")
    assert [s for s in surveys_of(engine, ANA) if s.status == "sent"] == [follow_up]
    edited = message_at(standin, ANA, pulse_message["ts"])
    assert "a longer one replaced it" in edited["text"] and button_value(edited) is None
    assert len(survey_messages(standin, ANA)) == 1


def test_a_paused_person_is_asked_after_the_pause(standin, engine, services):
    with frozen("2026-09-01 20:00:00"):
        enrol(engine, ANA, status="paused")
        with session_scope(engine) as session:
            session.exec(select(Member)).first().paused_until = datetime(2026, 9, 10).date()
            schedule.schedule(session, key=f"survey:{TEAM_ID}:{ANA}:6m", kind="survey_followup",
                              due_at=datetime.now(timezone.utc), team_id=TEAM_ID, subject_user_id=ANA, payload={"wave": "6m"})
        assert Clock(services).tick().dropped == 1
    assert surveys_of(engine, ANA) == [] and standin.dm_messages(ANA) == []
    with frozen("2026-09-11 14:05:00"):
        with session_scope(engine) as session:
            session.exec(select(Member)).first().status = "active"
        assert Clock(services).tick().kinds == {"survey_followup": 1}
    assert [s.wave for s in surveys_of(engine, ANA)] == ["6m"]


def test_feedback_that_slack_refused_is_sent_later_exactly_once(slack, standin, engine, services):
    with frozen("2026-03-02 15:00:00"):
        join(slack, standin, engine)
        eventually(lambda: standin.home_view(ANA))  # joined: the Home tab is published after the welcome
    with frozen("2026-03-03 14:00:00"):  # 08:00 in Chicago: the baseline arrives the morning after joining
        Clock(services).tick()
        view = open_modal(slack, standin, ANA)
        standin.inject("chat.update", error="internal_error")  # the scores cannot go in place ...
        standin.inject("chat.postMessage", error="internal_error")  # ... nor in a DM of their own
        slack.view_submission(ANA, view, values_for(BASELINE_ANSWERS))
        eventually(lambda: surveys_of(engine, ANA)[0].status == "completed")
        with Session(engine) as session:
            queued = eventually(lambda: session.exec(select(ScheduledAction).where(ScheduledAction.kind == "survey_feedback")).first())
        assert queued.subject_user_id == ANA and "resources" not in queued.payload
        assert Clock(services).tick().kinds == {"survey_feedback": 1}
        assert Clock(services).tick().kinds == {}
    assert len([t for t in dm_texts(standin, ANA) if "starting point" in t]) == 1


def test_a_follow_up_due_in_a_session_week_waits_for_the_middle_of_the_fortnight(standin, engine, services):
    with frozen("2026-09-07 15:00:00"):  # a Monday; the group meets on Wednesday
        enrol(engine, ANA)
        group_id = make_group(engine, [ANA])
        session_start = datetime(2026, 9, 9, 23, 0, tzinfo=timezone.utc)
        with session_scope(engine) as session:
            session.add(GroupSession(group_id=group_id, cycle=1, number=5, starts_at=session_start,
                                     local_date=session_start.date(), status="scheduled"))
        schedule_wave(engine, ANA, "6m")
        report = Clock(services).tick()
    assert report.dropped == 1 and survey_messages(standin, ANA) == []  # not beside the reminder and "Were you there?"
    with frozen("2026-09-16 10:59:00"):
        assert Clock(services).tick().total() == 0
    with frozen("2026-09-16 11:00:00"):  # half way between the session and the next one's day-before reminder
        assert Clock(services).tick().kinds == {"survey_followup": 1}
    assert [s.wave for s in surveys_of(engine, ANA)] == ["6m"] and len(survey_messages(standin, ANA)) == 1
    with frozen("2026-09-17 23:00:00"):
        Clock(services).tick()
    assert len(survey_messages(standin, ANA)) == 1  # once


def test_a_crisis_answer_whose_message_cannot_be_edited_gets_one_dm_with_a_neutral_notification(slack, standin, engine,
                                                                                                 services):
    with frozen("2026-03-30 20:00:00"):
        enrol(engine, ANA)
        schedule_pulse(engine, make_group(engine, [ANA]))
        Clock(services).tick()
        before = len(standin.dm_messages(ANA))
        view = open_modal(slack, standin, ANA)
        standin.inject("chat.update", error="internal_error")
        slack.view_submission(ANA, view, values_for({"burnout": [5], "who5": [1, 1, 1, 1, 1], "group_worth": [2]}))
        (crisis,) = eventually(lambda: standin.dm_messages(ANA)[before:])
    blocks = json.dumps(crisis["blocks"])
    assert crisis["text"] == "Your check-in"  # what a lock screen shows (issue 15)
    assert blocks.index("988") < blocks.index("out of 100")  # the resources, then the scores: one DM, not two

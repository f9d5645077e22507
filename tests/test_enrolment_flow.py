"""End to end: signed Slack requests in, Slack Web API calls and database rows out."""

from __future__ import annotations

import json
import time
from datetime import date

from tests.support.clock import frozen
from sqlmodel import Session, SQLModel, select

from storage.models import AuditEntry, Member, ScheduledAction
from tests.conftest import ADMIN_ID
from tests.support.forms import join_values
from tests.support.waiting import eventually

ANA = "U0ANA"


def member(engine, user_id: str = ANA) -> Member | None:  # noqa: ANN001
    with Session(engine) as session:
        return session.exec(select(Member).where(Member.slack_user_id == user_id)).first()


def opened_view(standin, count: int = 1) -> dict:  # noqa: ANN001
    calls = eventually(lambda: len(standin.calls_to("views.open")) >= count and standin.calls_to("views.open"))
    return calls[count - 1].args["view"]


def join(slack, standin, engine, user_id: str = ANA, **values) -> Member:  # noqa: ANN001
    before = len(standin.calls_to("views.open"))
    assert slack.command(user_id, "join").status_code == 200
    view = opened_view(standin, before + 1)
    response = slack.view_submission(user_id, view, join_values(**values))
    assert response.status_code == 200, response.text
    return eventually(lambda: (m := member(engine, user_id)) and m.status == "active" and m)


def last_response(responses, slack) -> dict:  # noqa: ANN001
    return eventually(lambda: responses.messages(slack.last_response_url))[-1]


def test_help_lists_what_a_person_can_do(slack, responses):
    response = slack.command(ANA, "")
    assert response.status_code == 200
    text_ = last_response(responses, slack)["text"]
    assert "/compass join" in text_ and "/compass forget-me" in text_
    assert last_response(responses, slack)["response_type"] == "ephemeral"
    # In the acknowledgement itself, so nothing goes to the response_url.
    assert response.json() == {"text": text_, "response_type": "ephemeral"}
    time.sleep(0.2)
    assert len(responses.messages(slack.last_response_url)) == 1


def test_help_that_cannot_be_built_still_answers_in_the_acknowledgement(slack, responses, services, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def unreachable(*_):
        raise OperationalError("SELECT 1", {}, Exception("database is gone"))

    monkeypatch.setattr(services, "is_admin", unreachable)
    response = slack.command(ANA, "help")
    assert response.status_code == 200 and response.json()["response_type"] == "ephemeral"
    assert "database" in response.json()["text"].lower() and "Traceback" not in response.text


def test_unknown_subcommand_answers_with_help(slack, responses):
    slack.command(ANA, "dance")
    assert "/compass join" in last_response(responses, slack)["text"]


def test_join_opens_a_prefilled_modal_and_enrols_on_submit(slack, standin, engine):
    slack.command(ANA, "join")
    view = opened_view(standin)
    assert view["callback_id"] == "join_submit"
    block_ids = [b.get("block_id") for b in view["blocks"] if b["type"] == "input"]
    # Joining asks five things; name, time zone and country come from the Slack profile (issue 15).
    assert block_ids == ["consent", "career_stage", "specialty", "availability", "taking_part"]
    assert view["submit"]["text"] == "Join"
    assert "confidential, not anonymous" in json.dumps(view)
    assert "the program evaluation's 6- and 12-month results, published once that survey has closed" in json.dumps(view)
    availability = next(b for b in view["blocks"] if b.get("block_id") == "availability")
    assert len(availability["element"]["options"]) == 4  # a few common windows, not every day and part of day

    response = slack.view_submission(ANA, view, join_values(stage="ATTENDING-4", role="mentor", lead=False))
    assert response.status_code == 200
    assert response.text in ("", "{}") or json.loads(response.text).get("response_action") != "errors"
    enrolled = eventually(lambda: member(engine))
    assert enrolled.status == "active"
    assert enrolled.consented_at is not None
    assert enrolled.career_stage == "ATTENDING-4"
    assert enrolled.near_peer_role == "mentor" and enrolled.mentor_capacity == 1 and not enrolled.lead_willing
    assert enrolled.timezone == "America/Chicago" and enrolled.display_name == "Ana Ruiz"  # from users.info
    assert enrolled.country == "US"  # the Slack profile's time zone is in the US
    days = ("Mon", "Tue", "Wed", "Thu", "Fri")
    assert enrolled.availability == ";".join(f"{d} {t}" for d in days for t in ("12:00-13:00", "18:00-21:00"))
    # The welcome replaces the form in the modal the person is looking at: no DM, no notification.
    welcome = response.json()
    assert welcome["response_action"] == "update" and "Welcome to Compass, Ana Ruiz!" in json.dumps(welcome["view"])
    assert standin.dm_messages(ANA) == []
    home = eventually(lambda: standin.home_view(ANA))
    assert "You're in" in json.dumps(home)


def test_join_form_errors_are_shown_per_field(slack, standin, engine):
    slack.command(ANA, "join")
    view = opened_view(standin)
    response = slack.view_submission(ANA, view, join_values(consent=False, stage=None))
    body = response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"consent", "career_stage"}
    assert member(engine) is None


def test_rejoining_edits_the_whole_profile_without_asking_consent_again(slack, standin, engine):
    first = join(slack, standin, engine)
    slack.command(ANA, "join")
    view = opened_view(standin, 2)
    block_ids = [b.get("block_id") for b in view["blocks"] if b["type"] == "input"]
    assert "consent" not in block_ids and {"name", "timezone", "country", "site", "capacity"} <= set(block_ids)
    assert view["submit"]["text"] == "Save"
    specialty = next(b for b in view["blocks"] if b.get("block_id") == "specialty")
    assert specialty["element"]["initial_value"] == "Internal Medicine"
    name = next(b for b in view["blocks"] if b.get("block_id") == "name")
    assert name["element"]["initial_value"] == "Ana Ruiz"
    # The time zone is picked, not typed; the stored zone is the one picked.
    zone = next(b for b in view["blocks"] if b.get("block_id") == "timezone")["element"]
    assert zone["type"] == "static_select" and zone["initial_option"]["value"] == "America/Chicago"
    assert {"America/Denver", "Europe/London", "Asia/Tokyo"} <= {o["value"] for g in zone["option_groups"] for o in g["options"]}
    bad = slack.view_submission(ANA, view, join_values(consent=None, edit=True, timezone="Mars/Base", name=" "))
    assert set(bad.json()["errors"]) == {"timezone", "name"}
    response = slack.view_submission(ANA, view, join_values(consent=None, edit=True, specialty="Pediatrics", stage="PGY-3",
                                                            name="Ana R.", timezone="America/Denver", capacity="2"))
    assert "profile is updated" in json.dumps(response.json()["view"])
    edited = eventually(lambda: (m := member(engine)) and m.specialty == "Pediatrics" and m)
    assert (edited.career_stage, edited.display_name, edited.timezone, edited.mentor_capacity) == (
        "PGY-3", "Ana R.", "America/Denver", 2)
    assert edited.consented_at == first.consented_at


def test_a_zone_outside_the_common_list_is_offered_first_as_it_is():
    from bot.flows.join_form import join_view

    stored = Member(team_id="T1", slack_user_id=ANA, timezone="America/Boise", career_stage="PGY-1")
    view = join_view(member=stored, timezone="America/Chicago", min_group=5, needs_consent=False)
    zone = next(b for b in view["blocks"] if b.get("block_id") == "timezone")["element"]
    assert zone["option_groups"][0]["options"] == [zone["initial_option"]]
    assert zone["initial_option"]["value"] == "America/Boise"
    assert all(len(group["options"]) <= 100 for group in zone["option_groups"])


def test_an_unchanged_availability_keeps_finer_windows_from_a_roster(slack, standin, engine):
    join(slack, standin, engine)
    with Session(engine) as session:
        stored = session.exec(select(Member).where(Member.slack_user_id == ANA)).one()
        stored.availability = "Tue 18:00-20:00;Mon 12:00-13:00;Tue 12:00-13:00;Wed 12:00-13:00;Thu 12:00-13:00;Fri 12:00-13:00"
        session.add(stored)
        session.commit()
    slack.command(ANA, "join")
    view = opened_view(standin, 2)
    availability = next(b for b in view["blocks"] if b.get("block_id") == "availability")
    assert [o["value"] for o in availability["element"]["initial_options"]] == ["weekday-lunch"]
    slack.view_submission(ANA, view, join_values(consent=None, edit=True, availability=("weekday-lunch",), specialty="X"))
    kept = eventually(lambda: (m := member(engine)) and m.specialty == "X" and m)
    assert "Tue 18:00-20:00" in kept.availability


def test_pause_until_a_date_resumes_by_itself(slack, standin, engine, services, responses):
    from bot.runtime.clock import Clock

    with frozen("2026-03-02 15:00:00"):
        join(slack, standin, engine)
        slack.command(ANA, "pause until 2026-03-20")
        assert "Paused until 2026-03-20" in last_response(responses, slack)["text"]
        paused = member(engine)
        assert paused.status == "paused" and paused.paused_until == date(2026, 3, 20)
        assert Clock(services).tick().delivered == 0
    with frozen("2026-03-20 14:00:00"):  # 08:00 in Chicago
        report = Clock(services).tick()
    assert report.delivered == 1
    assert member(engine).status == "active"
    eventually(lambda: "Welcome back" in standin.dm_messages(ANA)[-1]["text"])


def test_pause_rejects_a_past_or_garbled_date(slack, standin, engine, responses):
    join(slack, standin, engine)
    with frozen("2026-03-30 15:00:00"):
        slack.command(ANA, "pause until 2001-01-01")
        assert "YYYY-MM-DD" in last_response(responses, slack)["text"]
        # The example is one that would work: two weeks ahead, not the first of this month (issue 15).
        assert "`/compass pause until 2026-04-13`" in last_response(responses, slack)["text"]
    slack.command(ANA, "pause until someday")
    assert "YYYY-MM-DD" in last_response(responses, slack)["text"]
    assert member(engine).status == "active"


def test_pause_resume_and_leave(slack, standin, engine, responses):
    join(slack, standin, engine)
    slack.command(ANA, "pause")
    eventually(lambda: member(engine).status == "paused")
    slack.command(ANA, "resume")
    eventually(lambda: member(engine).status == "active")
    assert "Welcome back" in last_response(responses, slack)["text"]
    slack.command(ANA, "leave")
    left = eventually(lambda: (m := member(engine)) and m.status == "left" and m)
    assert left.left_at is not None
    assert "forget-me" in last_response(responses, slack)["text"]


def test_commands_that_need_enrolment_say_how_to_join(slack, responses):
    slack.command(ANA, "pause")
    assert "/compass join" in last_response(responses, slack)["text"]


def test_my_data_sends_everything_stored_as_a_file_in_dm(slack, standin, engine, responses):
    join(slack, standin, engine, specialty="Cardiology")
    slack.command(ANA, "my-data")
    assert "sent you a file" in last_response(responses, slack)["text"]
    upload = eventually(lambda: standin.files)[-1]
    data = json.loads(upload["content"])
    assert data["slack_user_id"] == ANA
    assert data["profile"][0]["specialty"] == "Cardiology"
    assert any(entry["action"] == "joined" for entry in data["audit_log"])
    assert upload["channels"] == [standin.dm_channel(ANA)]


def test_forget_me_deletes_every_row_that_identifies_the_person(slack, standin, engine, responses):
    join(slack, standin, engine)
    slack.command(ANA, "pause until 2099-01-01")
    eventually(lambda: member(engine).status == "paused")
    _lead_who_chose_a_topic(engine, ANA)
    slack.command(ANA, "forget-me")
    confirm = last_response(responses, slack)
    assert any(e.get("action_id") == "forget_me_confirm" for b in confirm["blocks"] for e in b.get("elements", []))
    assert member(engine) is not None  # nothing happens before confirmation

    slack.action(ANA, "forget_me_confirm", "confirm")
    done = last_response(responses, slack)
    assert "deleted" in done["text"] and done["replace_original"] is True
    assert member(engine) is None
    traces = [ANA, "Ana Ruiz", "ana@example.org"]  # ID, name (users.info), email (the roster's)
    with engine.connect() as connection:  # every column of every table, not only the user-ID columns
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                cells = json.dumps([str(v) for v in row]).lower()
                for trace in traces:
                    assert trace.lower() not in cells, f"{table.name} still holds {trace!r}"
    with Session(engine) as session:
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "member_forgotten")).first() is not None
        assert session.exec(select(ScheduledAction)).all() == []


def _lead_who_chose_a_topic(engine, user_id: str) -> None:  # noqa: ANN001
    """The person leads a group and picked a session's topic (group_sessions.topic_chosen_by)."""
    from storage.db import utcnow
    from storage.models import Group, GroupSession

    with Session(engine) as session:
        group = Group(team_id="T0COMPASS", name="Group 1", lead_user_id=user_id, created_at=utcnow(), updated_at=utcnow())
        session.add(group)
        session.flush()
        session.add(GroupSession(group_id=group.id, number=1, starts_at=utcnow(), local_date=date(2026, 1, 5),
                                 topic_slug="small-pauses", topic_chosen_by=user_id))
        person = session.exec(select(Member).where(Member.slack_user_id == user_id)).one()
        person.email = "ana@example.org"  # as a roster import stores it
        session.add(person)
        session.commit()


def test_forget_me_can_be_cancelled(slack, standin, engine, responses):
    join(slack, standin, engine)
    slack.command(ANA, "forget-me")
    slack.action(ANA, "forget_me_cancel", "cancel")
    assert "Nothing was deleted" in last_response(responses, slack)["text"]
    assert member(engine) is not None


def test_app_home_shows_status_and_an_admin_section_for_admins(slack, standin, engine):
    slack.event({"type": "app_home_opened", "user": ANA, "tab": "home", "channel": "D0ANA"})
    home = json.dumps(eventually(lambda: standin.home_view(ANA)))
    assert "Join Compass" in home and "Admin" not in home
    slack.event({"type": "app_home_opened", "user": ADMIN_ID, "tab": "home", "channel": "D0ADM"})
    admin_home = json.dumps(eventually(lambda: standin.home_view(ADMIN_ID)))
    assert "Admin" in admin_home and "Invited" in admin_home


def test_event_retries_have_no_second_effect(slack, standin):
    event = {"type": "app_home_opened", "user": ANA, "tab": "home", "channel": "D0ANA"}
    assert slack.event(event, event_id="Ev0RETRY").status_code == 200
    eventually(lambda: standin.calls_to("views.publish"))
    assert slack.event(event, event_id="Ev0RETRY", retry_num=1).status_code == 200
    assert slack.event(event, event_id="Ev0RETRY", retry_num=2).status_code == 200
    assert len(standin.calls_to("views.publish")) == 1


def test_a_slack_error_becomes_a_kind_message(slack, standin, responses):
    standin.inject("views.open", error="missing_scope")
    slack.command(ANA, "join")
    assert "permission" in last_response(responses, slack)["text"]


def test_a_database_that_went_away_gets_a_kind_message(slack, bot, responses, tmp_path):
    from storage.db import make_engine

    bot.services.engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'gone.db'}")
    slack.command(ANA, "pause")
    assert "couldn't reach my database" in last_response(responses, slack)["text"]


def test_slack_rate_limits_and_server_errors_are_retried(slack, standin):
    standin.inject("views.open", status=429, retry_after=1)
    slack.command(ANA, "join")
    opened = eventually(lambda: [c for c in standin.calls_to("views.open") if c.ok], timeout=10)
    assert len(standin.calls_to("views.open")) == 2 and len(opened) == 1
    standin.inject("views.open", status=503)
    slack.command(ANA, "join")
    eventually(lambda: len([c for c in standin.calls_to("views.open") if c.ok]) == 2, timeout=15)


def test_app_home_follows_the_persons_state_and_the_admin_counts_agree(slack, standin, engine):
    from tests.test_pulse_flow import make_group

    join(slack, standin, engine)
    home = json.dumps(eventually(lambda: standin.home_view(ANA)))
    assert "when your group forms" in home
    make_group(engine, [ANA])
    calls = len(standin.calls_to("views.publish"))
    slack.event({"type": "app_home_opened", "user": ANA, "tab": "home", "channel": "D0ANA"})
    home = json.dumps(eventually(lambda: len(standin.calls_to("views.publish")) > calls and standin.home_view(ANA)))
    assert "You're in" in home and "when your group forms" not in home  # it has formed

    # Everyone joined with /compass join, no roster: Joined agrees with Active, not "Joined: 0" beside "Active: 1".
    slack.event({"type": "app_home_opened", "user": ADMIN_ID, "tab": "home", "channel": "D0ADM"})
    admin = json.dumps(eventually(lambda: standin.home_view(ADMIN_ID)))
    assert "Joined: 1 (no roster imported)" in admin and "Active: 1" in admin

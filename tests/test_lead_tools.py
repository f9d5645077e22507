"""The sessions as each reader and the lead see them: times in the reader's own zone, where the group
meets, the lead's buttons and modals, topic changes shown in messages already sent, and the
meeting-time vote. Signed requests to the real endpoint, the stand-in's Slack calls and the rows out."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar
from sqlmodel import Session, select

from bot.slack.render import reader_time, reader_time_fallbacks
from storage.db import session_scope
from storage.groups import rsvp_answers
from storage.models import Member
from tests.support.clock import frozen
from tests.support.waiting import eventually
from tests.test_group_series_delivery import keyed, run_clock, start_series
from tests.test_groups_flow import form, ids, last_response, rows_of, seed_members, set_up

UTC = timezone.utc
LEAD = "UL001"
GROUP_FALLBACK = "Mon 2 Feb, 18:00 CST"  # session 1 in the group's zone (Chicago)


def first_session(engine, group_id: int):  # noqa: ANN001, ANN201
    return next(r for r in rows_of(engine, group_id) if r.number == 1)


def group_with_series(slack, standin, services, engine, *, far_away: str = "UL002"):  # noqa: ANN001, ANN202
    """Six members in Chicago, one of them (``far_away``) in Los Angeles; Monday 18:00 Chicago time."""
    people = seed_members(engine, standin, ids("L", 6), leads=(LEAD,))
    with session_scope(engine) as session:
        row = session.exec(select(Member).where(Member.slack_user_id == far_away)).one()
        row.timezone = "America/Los_Angeles"
    standin.add_user(far_away, name=far_away.lower(), real_name=f"Doctor {far_away}", tz="America/Los_Angeles")
    return start_series(slack, standin, services, engine, people)


def test_a_reader_in_another_zone_gets_the_session_time_as_slacks_date_token(slack, standin, services, engine):
    group = group_with_series(slack, standin, services, engine)
    first = first_session(engine, group.id)
    token = reader_time(first.starts_at, GROUP_FALLBACK)
    assert f"<!date^{int(datetime(2026, 2, 3, 0, 0, tzinfo=UTC).timestamp())}^" in token  # 18:00 CST is 00:00 UTC next day
    run_clock(services, first.starts_at - timedelta(hours=23))
    reminder = keyed(standin.dm_messages("UL002"), f"session:{group.id}:1:1:")[0]
    assert token in json.dumps(reminder["blocks"])  # Slack shows it as 16:00 in Los Angeles
    assert "<!date" not in reminder["text"] and GROUP_FALLBACK in reminder["text"]  # the notification: the fallback
    run_clock(services, first.starts_at + timedelta(hours=2))
    for message in keyed(standin.dm_messages(LEAD), f"session:{group.id}:1:1:") + keyed(standin.messages(group.channel_id), f"session:{group.id}:1:1:"):
        assert token in json.dumps(message["blocks"]), key_text(message)
        assert "<!date" not in message["text"]


def key_text(message: dict) -> str:
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("key", "")


# --- the lead's guide, the day before, with buttons -------------------------------------------------------


def lead_note_of(standin, group, row) -> dict:  # noqa: ANN001
    prefix = f"session:{group.id}:1:{row.number}:{int(row.starts_at.timestamp())}:"
    (note,) = keyed(standin.dm_messages(LEAD), prefix + "leadnote")
    return note


def test_the_leads_guide_is_the_leads_one_message_the_day_before_with_skip_move_topic_and_where(slack, standin, services, engine):
    group = group_with_series(slack, standin, services, engine)
    first = first_session(engine, group.id)
    prefix = f"session:{group.id}:1:1:{int(first.starts_at.timestamp())}:"
    run_clock(services, first.starts_at - timedelta(hours=23))
    assert keyed(standin.dm_messages(LEAD), prefix) == [lead_note_of(standin, group, first)]  # no reminder on top
    note = lead_note_of(standin, group, first)
    assert abs((sent_at(note) - (first.starts_at - timedelta(hours=24))).total_seconds()) < 5
    assert [(b["action_id"], b["value"]) for b in button_list(note)] == [
        ("lead_skip", str(first.id)), ("lead_move", str(first.id)), ("topic_alternatives", str(first.id)), ("lead_place", str(first.id))]
    assert button_list(note)[0]["confirm"]["confirm"]["text"] == "Skip it"  # one tap does not cancel a session by accident
    assert len(keyed(standin.dm_messages("UL003"), prefix + "remind24h")) == 1


def button_list(message: dict) -> list[dict]:
    return [e for b in message.get("blocks") or [] for e in b.get("elements", []) if e.get("type") == "button"]


def sent_at(message: dict) -> datetime:
    return datetime.fromtimestamp(float(message["ts"]), UTC)


def test_skip_from_the_leads_note_skips_that_session(slack, standin, services, engine, responses):
    group = group_with_series(slack, standin, services, engine)
    first = first_session(engine, group.id)
    run_clock(services, first.starts_at - timedelta(hours=23))
    note = lead_note_of(standin, group, first)
    with frozen(first.starts_at - timedelta(hours=22)):
        slack.action("UL003", "lead_skip", str(first.id), channel_id=standin.dm_channel("UL003"))
        assert "can skip a session" in last_response(responses, slack)["text"]
        slack.action(LEAD, "lead_skip", str(first.id), channel_id=standin.dm_channel(LEAD), message_ts=note["ts"])
        assert reader_time_fallbacks(last_response(responses, slack)["text"]).startswith("Done: the session on Mon 2 Feb, 18:00 CST is skipped")
    assert first_session(engine, group.id).status == "skipped" and len(rows_of(engine, group.id)) == 13
    assert "is skipped, at <@UL001>'s request" in standin.files[-1]["initial_comment"]
    with frozen(first.starts_at - timedelta(hours=21)):
        slack.action(LEAD, "lead_skip", str(first.id), channel_id=standin.dm_channel(LEAD))
        assert "no longer planned" in last_response(responses, slack)["text"]


def open_modal(slack, standin, action_id: str, value: str) -> dict:  # noqa: ANN001
    opened = len(standin.calls_to("views.open"))
    slack.action(LEAD, action_id, value, channel_id=standin.dm_channel(LEAD))
    return eventually(lambda: len(standin.calls_to("views.open")) > opened and standin.calls_to("views.open")[-1].args["view"])


def move_values(day: str, at: str) -> dict:
    return {"date": {"date": {"type": "datepicker", "selected_date": day}},
            "time": {"time": {"type": "timepicker", "selected_time": at}}}


def test_move_opens_a_modal_with_date_and_time_pickers_and_checks_future_day_and_neighbours(slack, standin, services, engine):
    group = group_with_series(slack, standin, services, engine)
    first = first_session(engine, group.id)
    run_clock(services, first.starts_at - timedelta(hours=23))
    uploads = len(standin.files)
    with frozen(first.starts_at - timedelta(hours=22)):
        view = open_modal(slack, standin, "lead_move", str(first.id))
        assert view["callback_id"] == "lead_move_modal" and view["private_metadata"] == str(first.id)
        elements = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
        assert elements["date"] == {"type": "datepicker", "action_id": "date", "initial_date": "2026-02-02"}
        assert elements["time"] == {"type": "timepicker", "action_id": "time", "initial_time": "18:00"}

        night = slack.view_submission(LEAD, view, move_values("2026-02-04", "21:30")).json()
        assert night["response_action"] == "errors" and "at night" in night["errors"]["time"]
        early = slack.view_submission(LEAD, view, move_values("2026-02-04", "06:30")).json()
        assert "at night" in early["errors"]["time"]
        past = slack.view_submission(LEAD, view, move_values("2026-01-30", "18:00")).json()
        assert past["errors"] == {"date": "Choose a time in the future."}
        assert slack.view_submission("UL003", view, move_values("2026-02-04", "19:00")).json()["errors"]["date"].startswith("Only")

        clash = slack.view_submission(LEAD, view, move_values("2026-02-23", "18:00"))
        assert clash.status_code == 200 and not clash.content  # acknowledged; the reason comes as a DM
        told = eventually(lambda: [m for m in standin.dm_messages(LEAD) if "must come before session 2" in m["text"]])
        assert len(told) == 1 and first_session(engine, group.id).starts_at == first.starts_at

        slack.view_submission(LEAD, view, move_values("2026-02-04", "19:00"))
        eventually(lambda: first_session(engine, group.id).starts_at == datetime(2026, 2, 5, 1, 0, tzinfo=UTC))
        eventually(lambda: len(standin.files) == uploads + 1)  # the time changed: a new calendar
    assert "moves from Mon 2 Feb, 18:00 CST to *Wed 4 Feb, 19:00 CST*" in reader_time_fallbacks(standin.files[-1]["initial_comment"])


# --- where the group meets ----------------------------------------------------------------------------------


def place_values(text: str = "", huddle: bool = False) -> dict:
    chosen = [{"value": "huddle", "text": {"type": "plain_text", "text": "A Slack huddle in the group's channel"}}] if huddle else []
    return {"place": {"place": {"type": "plain_text_input", "value": text or None}},
            "huddle": {"huddle": {"type": "checkboxes", "selected_options": chosen}}}


def locations(upload: dict) -> set[str]:
    return {str(e.get("LOCATION", "")) for e in icalendar.Calendar.from_ical(upload["content"]).walk("VEVENT") if e.get("STATUS") != "CANCELLED"}


def test_the_lead_sets_a_room_then_a_huddle_and_reminders_post_and_calendar_show_it(slack, standin, services, engine):
    group = group_with_series(slack, standin, services, engine)
    first = first_session(engine, group.id)
    uploads = len(standin.files)
    with frozen(first.starts_at - timedelta(days=3)):
        view = open_modal(slack, standin, "lead_place", str(first.id))
        assert view["callback_id"] == "lead_place_modal"
        both = slack.view_submission(LEAD, view, place_values("Room 4B", huddle=True)).json()
        assert both["errors"] == {"place": "Choose either a room or link, or the huddle."}
        bad = slack.view_submission(LEAD, view, place_values("https://zoom.us/j/1 2")).json()
        assert "does not look right" in bad["errors"]["place"]
        slack.view_submission(LEAD, view, place_values("Room 4B, cafeteria annex"))
        eventually(lambda: len(standin.files) == uploads + 1)
    assert locations(standin.files[-1]) == {"Room 4B, cafeteria annex"}
    assert "now meets at Room 4B, cafeteria annex, set by <@UL001>" in standin.files[-1]["initial_comment"]

    run_clock(services, first.starts_at - timedelta(hours=23))
    reminder = keyed(standin.dm_messages("UL003"), f"session:{group.id}:1:1:")[0]
    assert "Room 4B, cafeteria annex" in json.dumps(reminder["blocks"])

    with frozen(first.starts_at - timedelta(hours=22)):
        view = open_modal(slack, standin, "lead_place", str(first.id))
        slack.view_submission(LEAD, view, place_values(huddle=True))
        eventually(lambda: len(standin.files) == uploads + 2)  # the place changed: a new calendar
        # The reminder already sent now says where, with a button that opens the group's channel.
        edited = eventually(lambda: "huddle" in json.dumps(keyed(standin.dm_messages("UL003"), f"session:{group.id}:1:1:")[0]["blocks"])
                            and keyed(standin.dm_messages("UL003"), f"session:{group.id}:1:1:")[0])
    assert f"a Slack huddle in <#{group.channel_id}>" in json.dumps(edited["blocks"])
    link = next(b for b in button_list(edited) if b["action_id"] == "open_group_channel")
    assert link["url"] == f"slack://channel?team=T0COMPASS&id={group.channel_id}"
    assert locations(standin.files[-1]) == {"Slack huddle in the group's channel"}
    run_clock(services, first.starts_at + timedelta(minutes=5))
    post = keyed(standin.messages(group.channel_id), f"session:{group.id}:1:1:")[0]
    assert f"a Slack huddle in <#{group.channel_id}>" in json.dumps(post["blocks"])
    assert any(b["action_id"] == "open_group_channel" for b in button_list(post))


# --- a topic change updates what was sent --------------------------------------------------------------------


def test_a_topic_change_updates_the_reminders_already_sent_in_place_and_sends_no_new_calendar(slack, standin, services, engine, responses):
    group = group_with_series(slack, standin, services, engine)
    first = first_session(engine, group.id)
    prefix = f"session:{group.id}:1:1:"
    run_clock(services, first.starts_at - timedelta(hours=23))
    with frozen(first.starts_at - timedelta(hours=22, minutes=30)):
        slack.action("UL004", "rsvp_going", str(first.id), channel_id=standin.dm_channel("UL004"),
                     message_ts=keyed(standin.dm_messages("UL004"), prefix)[0]["ts"])
        eventually(lambda: "You're going" in json.dumps(keyed(standin.dm_messages("UL004"), prefix)[0]["blocks"]))
    old_title = services.catalogue.get(first_session(engine, group.id).topic_slug).title
    reminders = {u: keyed(standin.dm_messages(u), prefix)[0] for u in ids("L", 6)[1:]}
    assert all(old_title in json.dumps(m["blocks"]) for m in reminders.values())
    uploads, updates = len(standin.files), len(standin.calls_to("chat.update"))
    with frozen(first.starts_at - timedelta(hours=22)):
        slack.action(LEAD, "topic_alternatives", str(first.id), channel_id=standin.dm_channel(LEAD))
        offered = last_response(responses, slack)
        choice = next(b["accessory"]["value"] for b in offered["blocks"] if b.get("accessory", {}).get("action_id") == "topic_choose")
        slack.action(LEAD, "topic_choose", choice, channel_id=standin.dm_channel(LEAD))
        assert "will be on" in last_response(responses, slack)["text"]
    new_title = services.catalogue.get(choice.split(":", 1)[1]).title
    # Every reminder sent, and the lead's note, now show the new topic: the same messages, edited.
    for user_id, before in reminders.items():
        now = keyed(standin.dm_messages(user_id), prefix)[0]
        assert now["ts"] == before["ts"] and "edited" in now and new_title in json.dumps(now["blocks"]), user_id
        assert old_title not in json.dumps(now["blocks"])
    assert "You're going" in json.dumps(keyed(standin.dm_messages("UL004"), prefix)[0]["blocks"])  # the answer stays
    assert new_title in json.dumps(lead_note_of(standin, group, first)["blocks"])
    assert len(standin.calls_to("chat.update")) - updates == 6  # five reminders and the note, nothing else
    assert len(standin.files) == uploads  # neither time nor place changed: no new calendar
    channel_note = standin.messages(group.channel_id)[-1]
    assert new_title in channel_note["text"] and "reminders already sent show the new topic" in channel_note["text"]


# --- the lead's section of App Home --------------------------------------------------------------------------


def test_the_leads_home_shows_the_next_session_who_is_coming_and_the_same_buttons(slack, standin, services, engine):
    group = group_with_series(slack, standin, services, engine)
    first = first_session(engine, group.id)
    with frozen(first.starts_at - timedelta(hours=20)):
        slack.action("UL003", "rsvp_going", str(first.id))
        slack.action("UL005", "rsvp_not_going", str(first.id))
        eventually(lambda: len(rsvp_rows(engine, first.id)) == 2)
        slack.event({"type": "app_home_opened", "user": LEAD, "tab": "home", "channel": "D0L1"})
        home = eventually(lambda: standin.home_view(LEAD))
        slack.event({"type": "app_home_opened", "user": "UL003", "tab": "home", "channel": "D0L3"})
        member = eventually(lambda: standin.home_view("UL003"))
    text = json.dumps(home["blocks"], ensure_ascii=False)
    assert "You lead" in text and f"Next session: {reader_time(first.starts_at, GROUP_FALLBACK)}" in text
    assert "Coming: <@UL003> · 1 can't make it" in text, text  # who is coming; never who has not answered
    assert [b["action_id"] for b in button_list(home) if b["action_id"].startswith(("lead_", "topic_"))] == [
        "lead_skip", "lead_move", "topic_alternatives", "lead_place"]
    assert "You lead" not in json.dumps(member["blocks"]) and not any(b["action_id"] == "lead_skip" for b in button_list(member))


def rsvp_rows(engine, session_id: int) -> dict:  # noqa: ANN001
    with Session(engine) as session:
        return rsvp_answers(session, session_id=session_id)


# --- quiet hours for the group's own DMs ---------------------------------------------------------------------


def move_to(engine, standin, user_id: str, tz: str, availability: str | None = None) -> None:  # noqa: ANN001
    with session_scope(engine) as session:
        member = session.exec(select(Member).where(Member.slack_user_id == user_id)).one()
        member.timezone = tz
        member.availability = availability if availability is not None else member.availability
    standin.add_user(user_id, name=user_id.lower(), real_name=f"Doctor {user_id}", tz=tz)


def test_group_ready_waits_for_the_end_of_the_readers_quiet_hours(slack, standin, services, engine):
    people = seed_members(engine, standin, ids("R", 6), leads=("UR001",))
    move_to(engine, standin, "UR002", "Asia/Tokyo")  # setup at 15:00 UTC is midnight in Tokyo
    with frozen("2026-01-26 15:00:00"):
        _, (group_id,) = form(services)
        group = set_up(services, standin, group_id)
    ready_key = f"group:{group.id}:setup"
    assert all(keyed(standin.dm_messages(u), ready_key) for u in people if u != "UR002")
    assert keyed(standin.dm_messages("UR002"), ready_key) == []
    run_clock(services, datetime(2026, 1, 26, 23, 0, tzinfo=UTC))
    (ready,) = keyed(standin.dm_messages("UR002"), ready_key)
    assert sent_at(ready).astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M") == "07:30"
    assert f"<#{group.channel_id}>" in ready["text"]
    assert len([m for m in standin.messages(group.channel_id) if m.get("metadata")]) == 1  # the channel was set up once


def test_the_cycle_end_question_waits_for_the_end_of_the_readers_quiet_hours(slack, standin, services, engine):
    people = seed_members(engine, standin, ids("Y", 6), leads=("UY001",))
    # The day after the last session, 00:00 UTC, is midnight in London (Monday 18:00 in Chicago is 00:00 there).
    move_to(engine, standin, "UY002", "Europe/London", availability="Tue 00:00-02:00")
    group = start_series(slack, standin, services, engine, people)
    last = rows_of(engine, group.id)[-1]
    run_clock(services, last.starts_at + timedelta(hours=24))
    end_key = f"cycle:{group.id}:1:end"
    assert keyed(standin.dm_messages("UY003"), end_key) and keyed(standin.dm_messages("UY002"), end_key) == []
    run_clock(services, last.starts_at + timedelta(hours=36))
    (question,) = keyed(standin.dm_messages("UY002"), end_key)
    assert sent_at(question).astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") == "07:30"
    assert "Another six months" in json.dumps(question["blocks"])
    assert len(keyed(standin.messages(group.channel_id), end_key)) == 1  # the thanks in the channel, once

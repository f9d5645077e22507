"""The sessions as each reader and the lead see them: times in the reader's own zone, where the group
meets, the lead's buttons and modals, topic changes shown in messages already sent, and the
meeting-time vote. Signed requests to the real endpoint, the stand-in's Slack calls and the rows out."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlmodel import select

from bot.slack.render import reader_time, reader_time_fallbacks
from storage.db import session_scope
from storage.models import Member
from tests.support.clock import frozen
from tests.support.waiting import eventually
from tests.test_group_series_delivery import keyed, run_clock, start_series
from tests.test_groups_flow import ids, last_response, rows_of, seed_members

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

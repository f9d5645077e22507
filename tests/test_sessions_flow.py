"""The lead's controls and the members' answers, end to end: skip, reschedule, post now, topics,
RSVPs and attendance, refusals, and the Home tab."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import icalendar
from sqlmodel import Session

from bot.runtime.clock import Clock
from bot.slack.render import reader_time, reader_time_fallbacks as shown
from storage import schedule
from storage.groups import attendance_of, rsvp_answers
from storage.models import GroupSession
from tests.conftest import ADMIN_ID
from tests.support.clock import frozen
from tests.support.waiting import eventually
from tests.test_group_series_delivery import keyed, run_clock, start_series
from tests.test_groups_flow import actions, buttons, groups_in, ids, key_of, last_response, rows_of, seed_members

UTC = timezone.utc
LEAD = "UQ001"


def events(upload: dict) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(upload["content"]).walk("VEVENT")}


def row(engine, group_id: int, number: int) -> GroupSession:  # noqa: ANN001
    return next(r for r in rows_of(engine, group_id) if r.number == number)


def group_with_series(slack, standin, services, engine, prefix: str = "Q"):  # noqa: ANN001, ANN202
    people = seed_members(engine, standin, ids(prefix, 6), leads=(f"U{prefix}001",))
    return start_series(slack, standin, services, engine, people)


def test_skip_adds_a_session_at_the_end_and_moves_everything_that_depends_on_it(slack, standin, services, engine, responses):
    group = group_with_series(slack, standin, services, engine)
    first = row(engine, group.id, 1)
    with frozen("2026-01-27 15:00:00"):
        slack.command("UQ002", "session skip", channel_id=group.channel_id)
        assert last_response(responses, slack)["text"] == f"Only this group's lead, <@{LEAD}>, or a Compass admin can skip a session."
        assert len(rows_of(engine, group.id)) == 12

        slack.command(LEAD, "session skip", channel_id=group.channel_id)
        reply = last_response(responses, slack)["text"]
    assert reply == (f"Done: the session on {reader_time(first.starts_at, 'Mon 2 Feb, 18:00 CST')} is skipped; the series now ends on "
                     f"{reader_time(datetime(2026, 7, 20, 23, 0, tzinfo=UTC), 'Mon 20 Jul, 18:00 CDT')}.")
    rows = rows_of(engine, group.id)
    assert len(rows) == 13 and rows[0].status == "skipped" and rows[0].sequence == 1
    assert rows[12].number == 13 and rows[12].starts_at == datetime(2026, 7, 20, 23, 0, tzinfo=UTC)

    # The skipped session's reminders are cancelled; the new one has all five; pulses follow the sessions that take place.
    assert {a.status for a in actions(engine, f"session:{group.id}:1:1:")} == {"cancelled"}
    assert len(actions(engine, f"session:{group.id}:1:13:", status="pending")) == 5
    second_pulse = actions(engine, f"pulse:{group.id}:1:2")[0]
    third = row(engine, group.id, 3)
    assert second_pulse.due_at == third.starts_at + timedelta(hours=1)  # as the session ends
    assert schedule.payload_of(second_pulse) == {"group_id": group.id, "cycle": 1, "number": 2, "session_number": 3}
    assert actions(engine, f"cycle:{group.id}:1:end")[0].due_at == rows[12].starts_at + timedelta(hours=24)

    upload = standin.files[-1]
    assert upload["channels"] == [group.channel_id] and "is skipped, at <@UQ001>'s request" in upload["initial_comment"]
    found = events(upload)
    skipped = found[f"compass-{group.id}-1-session-1@compass-bot"]
    assert str(skipped["STATUS"]) == "CANCELLED" and int(skipped["SEQUENCE"]) == 1
    assert len(found) == 13 and int(found[f"compass-{group.id}-1-session-2@compass-bot"]["SEQUENCE"]) == 0

    # Nothing is delivered for the skipped session.
    run_clock(services, first.starts_at + timedelta(hours=3))
    assert keyed(standin.messages(group.channel_id), f"session:{group.id}:1:1:") == []


def test_reschedule_moves_the_next_session_its_reminders_and_the_calendar(slack, standin, services, engine, responses):
    group = group_with_series(slack, standin, services, engine)
    old = row(engine, group.id, 1)
    old_keys = {a.key for a in actions(engine, f"session:{group.id}:1:1:")}
    with frozen("2026-01-27 15:00:00"):
        slack.command(LEAD, "session", channel_id=group.channel_id)
        assert "/compass session now" in last_response(responses, slack)["text"]
        slack.command(LEAD, "session reschedule tomorrow evening", channel_id=group.channel_id)
        assert "YYYY-MM-DD HH:MM" in last_response(responses, slack)["text"] and "America/Chicago" in last_response(responses, slack)["text"]
        slack.command(LEAD, "session reschedule 2026-02-23 18:00", channel_id=group.channel_id)
        assert "must come before session 2 (Mon 23 Feb)" in last_response(responses, slack)["text"]
        slack.command(LEAD, "session reschedule 2026-01-20 18:00", channel_id=group.channel_id)
        assert "only be moved to a time in the future" in last_response(responses, slack)["text"]
        slack.command("UQ003", "session reschedule 2026-02-04 19:00")  # a member, elsewhere
        assert f"<@{LEAD}>" in last_response(responses, slack)["text"]
        assert row(engine, group.id, 1).starts_at == old.starts_at

        slack.command(LEAD, "session reschedule 2026-02-04 19:00")  # the lead of one group, anywhere
        assert shown(last_response(responses, slack)["text"]) == "Done: session 1 is now Wed 4 Feb, 19:00 CST. Reminders and the calendar follow."
    moved = row(engine, group.id, 1)
    assert moved.starts_at == datetime(2026, 2, 5, 1, 0, tzinfo=UTC) and moved.sequence == 1
    assert {a.status for a in actions(engine) if a.key in old_keys} == {"cancelled"}
    fresh = {a.key.rsplit(":", 1)[1]: a.due_at for a in actions(engine, f"session:{group.id}:1:1:", status="pending")}
    assert fresh == {"remind24h": moved.starts_at - timedelta(hours=24), "remind1h": moved.starts_at - timedelta(hours=1),
                     "post": moved.starts_at, "leadnote": moved.starts_at - timedelta(hours=24), "attendance": moved.starts_at + timedelta(hours=1)}
    event = events(standin.files[-1])[f"compass-{group.id}-1-session-1@compass-bot"]
    assert event.decoded("DTSTART") == moved.starts_at and int(event["SEQUENCE"]) == 1
    assert "moves from Mon 2 Feb, 18:00 CST to *Wed 4 Feb, 19:00 CST*" in shown(standin.files[-1]["initial_comment"])

    # The reminders go out at the new times only.
    run_clock(services, moved.starts_at + timedelta(hours=3))
    posts = keyed(standin.messages(group.channel_id), f"session:{group.id}:1:1:")
    assert len(posts) == 1 and key_of(posts[0]).endswith(f"{int(moved.starts_at.timestamp())}:post")
    # the day-before reminder and, as the session ends, "Were you there?" (the hour-before one is opt-in)
    assert len(keyed(standin.dm_messages("UQ002"), f"session:{group.id}:1:1:")) == 2


def test_an_admin_may_use_the_controls_in_the_groups_channel(slack, standin, services, engine, responses):
    group = group_with_series(slack, standin, services, engine)
    with frozen("2026-01-27 15:00:00"):
        slack.command(ADMIN_ID, "session skip")
        assert "type this in the channel of the group" in last_response(responses, slack)["text"]
        slack.command(ADMIN_ID, "session skip", channel_id=group.channel_id)
        assert shown(last_response(responses, slack)["text"]).startswith("Done: the session on Mon 2 Feb")
        slack.command(ADMIN_ID, "help")
        assert "/compass session now|skip" in last_response(responses, slack)["text"]
        slack.command("UQ004", "help")
        assert "/compass session" not in last_response(responses, slack)["text"]
        slack.command(LEAD, "help")
        assert "For group leads" in last_response(responses, slack)["text"]


def test_topics_chosen_by_the_lead_are_used_and_announced_without_a_new_calendar(slack, standin, services, engine, responses):
    group = group_with_series(slack, standin, services, engine)
    first = row(engine, group.id, 1)
    uploads = len(standin.files)
    with frozen("2026-01-27 15:00:00"):
        slack.command(LEAD, "topic", channel_id=group.channel_id)
        offered = last_response(responses, slack)
        choices = [b["accessory"]["value"] for b in offered["blocks"] if b.get("accessory", {}).get("action_id") == "topic_choose"]
        assert choices and all(v.startswith(f"{first.id}:introductions-") for v in choices)  # session 1 opens the cycle

        slack.command(LEAD, "topic not-a-topic", channel_id=group.channel_id)
        assert "There is no topic called “not-a-topic”" in last_response(responses, slack)["text"]
        slack.command("UQ002", "topic three-good-things", channel_id=group.channel_id)
        assert "can choose the topic" in last_response(responses, slack)["text"]

        slack.command(LEAD, "topic three-good-things", channel_id=group.channel_id)
        title = services.catalogue.get("three-good-things").title
        assert shown(last_response(responses, slack)["text"]) == f"Done: session 1 (Mon 2 Feb, 18:00 CST) will be on *{title}*."
    chosen = row(engine, group.id, 1)
    assert (chosen.topic_slug, chosen.topic_chosen_by, chosen.sequence) == ("three-good-things", LEAD, 1)
    # Neither time nor place changed: no new calendar file, a line in the channel instead.
    assert len(standin.files) == uploads
    assert title in standin.messages(group.channel_id)[-1]["text"]

    run_clock(services, first.starts_at - timedelta(hours=23))
    reminder = keyed(standin.dm_messages("UQ002"), f"session:{group.id}:1:1:")[0]
    assert title in reminder["text"]


def test_post_now_then_choose_another_topic_from_the_leads_note(slack, standin, services, engine, responses):
    group = group_with_series(slack, standin, services, engine)
    first = row(engine, group.id, 1)
    prefix = f"session:{group.id}:1:1:{int(first.starts_at.timestamp())}:"
    run_clock(services, first.starts_at - timedelta(minutes=30))
    with frozen(first.starts_at - timedelta(minutes=20)):
        slack.command("UQ005", "session now", channel_id=group.channel_id)
        assert "can post the session guide" in last_response(responses, slack)["text"]
        slack.command(LEAD, "session now", channel_id=group.channel_id)
        assert last_response(responses, slack)["text"] == "Done: the guide for session 1 is in the channel, and your note is in our DM."
        slack.command(LEAD, "session now", channel_id=group.channel_id)
        assert last_response(responses, slack)["text"] == "The guide for session 1 is already in the channel."
    posts = keyed(standin.messages(group.channel_id), prefix)
    assert len(posts) == 1 and "Sorry this is late" not in json.dumps(posts[0]["blocks"])
    assert {a.status for a in actions(engine, prefix) if a.key.endswith(":post")} == {"cancelled"}
    # The lead's note came the day before; posting early does not send it twice.
    assert {a.status for a in actions(engine, prefix) if a.key.endswith(":leadnote")} == {"done"}
    assert len(keyed(standin.dm_messages(LEAD), prefix + "leadnote")) == 1

    with frozen(first.starts_at + timedelta(minutes=5)):
        Clock(services).tick()
        assert len(keyed(standin.messages(group.channel_id), prefix)) == 1  # not posted again at the start
        note = keyed(standin.dm_messages(LEAD), prefix + "leadnote")[0]
        alternatives = buttons(note)["topic_alternatives"]
        slack.action("UQ002", "topic_alternatives", alternatives["value"], channel_id=standin.dm_channel("UQ002"))
        assert "can choose the topic" in last_response(responses, slack)["text"]
        slack.action(LEAD, "topic_alternatives", alternatives["value"], channel_id=standin.dm_channel(LEAD), message_ts=note["ts"])
        offered = last_response(responses, slack)
        choice = next(b["accessory"]["value"] for b in offered["blocks"] if b.get("accessory", {}).get("action_id") == "topic_choose")
        slack.action(LEAD, "topic_choose", choice, channel_id=standin.dm_channel(LEAD))
        assert "will be on" in last_response(responses, slack)["text"]
    slug = choice.split(":", 1)[1]
    assert row(engine, group.id, 1).topic_slug == slug
    post = eventually(lambda: (p := keyed(standin.messages(group.channel_id), prefix)[0]) and "edited" in p and p)
    assert services.catalogue.get(slug).title in json.dumps(post["blocks"])


def test_answers_from_people_outside_the_group_or_too_late_are_refused_kindly(slack, standin, services, engine, responses):
    group = group_with_series(slack, standin, services, engine)
    first = row(engine, group.id, 1)
    standin.add_user("UOTHER1", name="other")
    with frozen(first.starts_at - timedelta(hours=3)):
        slack.action("UOTHER1", "rsvp_going", str(first.id))
        assert "belongs to a group you're not in" in last_response(responses, slack)["text"]
        slack.action("UQ002", "rsvp_going", "not-a-number")
        assert "couldn't find that session" in last_response(responses, slack)["text"]
        slack.action("UQ002", "rsvp_not_going", str(first.id))  # from Home or anywhere: confirmed directly
        assert "We'll miss you" in last_response(responses, slack)["text"]
    with frozen(first.starts_at + timedelta(hours=2)):
        slack.action("UQ002", "rsvp_going", str(first.id))
        assert "That session is over" in last_response(responses, slack)["text"]
        slack.action("UQ002", "attendance_no", str(first.id))
        assert "Thanks, noted" in last_response(responses, slack)["text"]
    assert answers(engine, first.id) == {"UQ002": "not_going"}
    with Session(engine) as session:
        assert attendance_of(session, session_id=first.id) == {"UQ002": False}


def answers(engine, session_id: int) -> dict[str, str]:  # noqa: ANN001
    with Session(engine) as session:
        return rsvp_answers(session, session_id=session_id)


def test_the_home_tab_shows_the_group_the_next_session_and_the_admins_overview(slack, standin, services, engine):
    group = group_with_series(slack, standin, services, engine)
    first = row(engine, group.id, 1)
    with frozen(first.starts_at - timedelta(hours=20)):
        slack.action("UQ002", "rsvp_going", str(first.id))
        eventually(lambda: answers(engine, first.id) == {"UQ002": "going"})
        slack.event({"type": "app_home_opened", "user": "UQ002", "tab": "home", "channel": "D0Q2"})
        home = json.dumps(eventually(lambda: standin.home_view("UQ002")))
        assert f"<#{group.channel_id}>" in home and "lead <@UQ001>" in home
        # Each reader sees the time in their own zone: Slack's date token, the group's zone only as its fallback.
        token = reader_time(first.starts_at, "Mon 2 Feb, 18:00 CST")
        assert f"Next session: {token}" in home and "you're going" in home
        slack.event({"type": "app_home_opened", "user": ADMIN_ID, "tab": "home", "channel": "D0ADM"})
        admin = json.dumps(eventually(lambda: standin.home_view(ADMIN_ID)))
        assert "1 active group" in admin and "0 people waiting for a group" in admin
        assert f"<#{group.channel_id}>: 6 members, next session {token}" in admin
        assert "groups_form_open" not in admin  # nobody to place
    assert groups_in(engine)[0].status == "active"

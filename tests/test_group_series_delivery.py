"""A group's whole series through the clock: every post at its moment, exactly once, through
daylight saving, a holiday, a restart, downtime, a clock killed mid-delivery and Slack failures."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import datetime, timedelta, timezone

import icalendar
from sqlmodel import Session, select

from bot.runtime.clock import Clock
from bot.runtime.services import Services
from storage import schedule
from storage.db import make_engine
from storage.groups import count_unplaced
from storage.models import Member, ScheduledAction, SessionAttendance, SessionRsvp
from tests.conftest import TEAM_ID
from tests.support.clock import frozen
from tests.support.waiting import eventually
from tests.test_groups_flow import actions, buttons, form, groups_in, ids, intro, key_of, members_of, rows_of, seed_members, set_up

UTC = timezone.utc
OFFSETS = {"remind24h": timedelta(hours=-24), "remind1h": timedelta(hours=-1), "post": timedelta(0),
           "leadnote": timedelta(hours=-24), "attendance": timedelta(hours=1)}


def text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def pending_due(engine, until: datetime) -> datetime | None:  # noqa: ANN001
    """When the clock next has something to do, up to ``until``."""
    with Session(engine) as session:
        rows = session.exec(select(ScheduledAction).where(ScheduledAction.status == "pending", ScheduledAction.due_at <= until)).all()
    moments = [max(r.due_at, r.retry_at or r.due_at) for r in rows]
    moments = [m for m in moments if m <= until]
    return min(moments, default=None)


def ours(kinds: dict[str, int]) -> Counter:
    """Deliveries of the group and session flows (the pulse flow's surveys run alongside)."""
    return Counter({kind: n for kind, n in kinds.items() if kind.startswith(("session_", "group_"))})


def run_clock(services, until: datetime, *, clock: Clock | None = None) -> Counter:  # noqa: ANN001
    """Tick at every moment something is due, as the heartbeat would, up to ``until``."""
    delivered: Counter = Counter()
    while (moment := pending_due(services.engine, until)) is not None:
        with frozen(moment):
            report = (clock or Clock(services)).tick()
        delivered.update(ours(report.kinds))
        assert report.total(), f"nothing happened at {moment}"
    return delivered


def sent_at(message: dict) -> datetime:
    return datetime.fromtimestamp(float(message["ts"]), UTC)


def keyed(messages: list[dict], prefix: str) -> list[dict]:
    return [m for m in messages if key_of(m).startswith(prefix)]


def start_series(slack, standin, services, engine, people: list[str]):  # noqa: ANN001, ANN202
    """Form a group of ``people`` (the first leads), set it up and choose Monday 18:00 in Chicago.

    Every effect of a click is awaited inside the frozen clock: the stand-in's message
    timestamps only ever increase, so one real-time post would shift every later one.
    """
    with frozen("2026-01-26 15:00:00"):
        _, (group_id,) = form(services)
        group = set_up(services, standin, group_id)
        welcome = intro(standin, group)
        button = buttons(welcome)["group_pick_slot_0"]
        slack.action(people[0], button["action_id"], button["value"], channel_id=group.channel_id, message_ts=welcome["ts"])
        eventually(lambda: len(rows_of(engine, group_id)) == 12 and standin.files and "edited" in intro(standin, group))
    return groups_in(engine)[0]


def planned_series(services, standin, engine, people: list[str]):  # noqa: ANN001, ANN202
    """The same group and series as :func:`start_series`, set up without the HTTP app (for clock-only tests)."""
    from bot.flows.groups import set_slot
    from bot.domain.scheduling import LocalSlot

    with frozen("2026-01-26 15:00:00"):
        _, (group_id,) = form(services)
        set_up(services, standin, group_id)
        set_slot(services, group_id=group_id, slot=LocalSlot(0, datetime(2026, 1, 1, 18, 0).time()), actor_id=people[0])
    return groups_in(engine)[0]


def click(slack, standin, user_id: str, key: str, action_id: str) -> None:  # noqa: ANN001
    """Click a button on the DM with ``key`` and wait until the message shows the answer."""
    message = next(m for m in standin.dm_messages(user_id) if key_of(m) == key)
    before = (message.get("edited") or {}).get("ts")
    slack.action(user_id, action_id, buttons(message)[action_id]["value"], channel_id=standin.dm_channel(user_id),
                 message_ts=message["ts"])
    eventually(lambda: ((next(m for m in standin.dm_messages(user_id) if key_of(m) == key).get("edited") or {}).get("ts")) != before)


def test_a_full_series_from_formation_to_the_next_cycle(slack, standin, services, engine, caplog):
    caplog.set_level(logging.INFO, logger="bot.runtime.clock")
    people = seed_members(engine, standin, ids("P", 6), leads=("UP001",))
    lead, members = people[0], people[1:]
    group = start_series(slack, standin, services, engine, people)
    rows = rows_of(engine, group.id)
    starts = [r.starts_at for r in rows]
    assert starts[0] == datetime(2026, 2, 3, 0, 0, tzinfo=UTC)  # Mon 2 Feb 18:00 CST
    assert starts[1] == datetime(2026, 2, 24, 0, 0, tzinfo=UTC)  # 16 Feb is a holiday: a week later
    assert starts[3] == datetime(2026, 3, 16, 23, 0, tzinfo=UTC)  # 18:00 CDT after 8 March
    assert starts[8] == datetime(2026, 6, 1, 23, 0, tzinfo=UTC)  # Memorial Day moved session 9

    clock_services = services
    for index, start in enumerate(starts):
        number = index + 1
        prefix = f"session:{group.id}:1:{number}:{int(start.timestamp())}:"
        if number == 7:
            # Downtime: nothing runs from the day before session 7 until half an hour into it.
            with frozen(start + timedelta(minutes=30)):
                report = Clock(clock_services).tick()
            assert ours(report.kinds) == {"session_post": 1, "session_lead_note": 1} and report.dropped == 2
            late = keyed(standin.messages(group.channel_id), prefix)
            assert len(late) == 1 and "Sorry this is late" in text(late[0]["blocks"])
            assert keyed(standin.dm_messages(members[0]), prefix) == []  # both reminders were dropped ...
            assert sum("dropped" in r.message and prefix in r.message for r in caplog.records) == 2  # ... and logged
            run_clock(clock_services, start + timedelta(hours=3))
            continue
        # The day before: members' reminders, and the lead's guide as the lead's one message.
        assert run_clock(clock_services, start - timedelta(hours=23)) == {"session_reminder_24h": 1, "session_lead_note": 1}
        if number == 1:
            for user_id, answer in (("UP002", "rsvp_going"), ("UP003", "rsvp_going"), ("UP004", "rsvp_going"),
                                    ("UP005", "rsvp_not_going"), ("UP006", "rsvp_not_going"), ("UP006", "rsvp_going")):
                with frozen(start - timedelta(hours=20)):
                    click(slack, standin, user_id, prefix + "remind24h", answer)
                assert rsvps(engine, rows[0].id).get(user_id) == answer.removeprefix("rsvp_")
            assert "You're going" in text(keyed(standin.dm_messages("UP006"), prefix)[0]["blocks"])
            assert "We'll miss you" in text(keyed(standin.dm_messages("UP005"), prefix)[0]["blocks"])
        delivered = run_clock(clock_services, start + timedelta(hours=3))
        expected = {"session_reminder_1h": 1, "session_post": 1, "session_attendance": 1}
        assert {k: v for k, v in delivered.items() if k in expected} == expected, number
        if number == 1:
            # The hour-before nudge is opt-in (nobody here chose it), the lead included; the lead's note (the day
            # before, when nobody had answered yet) has the counts, never names.
            assert keyed(standin.dm_messages("UP005"), prefix + "remind1h") == []
            assert keyed(standin.dm_messages(lead), prefix + "remind1h") == []
            assert keyed(standin.dm_messages(lead), prefix + "remind24h") == []
            note = keyed(standin.dm_messages(lead), prefix + "leadnote")[0]
            assert "0 going" in text(note["blocks"])
            assert "You're leading the next session" in text(note["blocks"])
            for user_id, action_id in (("UP002", "attendance_yes"), ("UP003", "attendance_yes"), ("UP004", "attendance_no")):
                with frozen(start + timedelta(hours=2, minutes=30)):
                    click(slack, standin, user_id, prefix + "attendance", action_id)
            assert attendance(engine, rows[0].id) == {"UP002": True, "UP003": True, "UP004": False}
            assert keyed(standin.dm_messages("UP005"), prefix + "attendance") == []
        if number == 6:
            # A restart: new process, new engine and clock; the schedule in the database carries on.
            clock_services = Services(settings=services.settings, engine=make_engine(services.settings.database_url))

    # Exactly one of every post, each at its moment (session 7's reminders were dropped, its post was late).
    channel = keyed(standin.messages(group.channel_id), f"session:{group.id}:")
    dms = [m for user_id in people for m in keyed(standin.dm_messages(user_id), f"session:{group.id}:")]
    per_target = Counter((key_of(m), m.get("ts")) for m in channel + dms)
    assert max(per_target.values()) == 1
    for message in channel + dms:
        _, _, _, number, epoch, what = key_of(message).split(":")
        due = datetime.fromtimestamp(int(epoch), UTC) + OFFSETS[what]
        delay = (sent_at(message) - due).total_seconds()
        allowed = (30 * 60 + 5 + (24 * 3600 if what == "leadnote" else 0)) if number == "7" else 5
        assert 0 <= delay < allowed, (key_of(message), delay)
    assert Counter(key_of(m).rsplit(":", 1)[1] for m in channel) == {"post": 12}
    assert len(keyed(standin.dm_messages(lead), f"session:{group.id}:1:1:")) == 2  # session 1: the note (day before), attendance
    per_member = Counter(key_of(m).rsplit(":", 1)[1] for m in keyed(standin.dm_messages("UP002"), f"session:{group.id}:"))
    # The hour-before reminder is a choice each person makes (nobody here did).
    # After every second session the check-in asks "Were you there?" in the same message (a pulse: key).
    assert per_member == {"remind24h": 11, "attendance": 6}
    # 12 posts, 12 notes, 11 x 5 day-before reminders (the lead's is the note) and 6 x 6 checks, less the
    # person who said she couldn't come to session 1.
    assert len(channel + dms) == 12 + 12 + 55 + 36 - 1

    # Topics: introductions first, closing last, no regular topic twice.
    topics = [services.catalogue.get(r.topic_slug) for r in rows_of(engine, group.id)]
    assert topics[0].kind == "introductions" and topics[-1].kind == "closing"
    regular = [t.slug for t in topics[1:-1]]
    assert len(set(regular)) == 10
    assert {r.status for r in rows_of(engine, group.id)} == {"held"}

    # The day after the 12th session: thanks in the channel, and each member chooses privately.
    last = starts[-1]
    assert run_clock(clock_services, last + timedelta(hours=24))["group_cycle_end"] == 1
    thanks = keyed(standin.messages(group.channel_id), f"cycle:{group.id}:1:end")
    assert len(thanks) == 1 and "session 12 of 12" in thanks[0]["text"]
    question = keyed(standin.dm_messages("UP005"), f"cycle:{group.id}:1:end")[0]
    assert {"group_next_cycle_stay", "group_next_cycle_switch"} <= set(buttons(question))
    with frozen(last + timedelta(days=2)):
        for user_id, choice in (("UP005", "group_next_cycle_switch"), ("UP006", "group_next_cycle_switch"), ("UP002", "group_next_cycle_stay")):
            click(slack, standin, user_id, f"cycle:{group.id}:1:end", choice)
    assert sum("new group for the next cycle" in text(m.get("blocks")) for u in ("UP005", "UP006") for m in standin.dm_messages(u)) == 2

    # A week later the choice closes: four stay, so the group carries on at the same time; two move on.
    run_clock(clock_services, last + timedelta(days=8))
    group = groups_in(engine)[0]
    assert (group.cycle, group.status) == (2, "active")
    assert members_of(engine, group.id) == ["UP001", "UP002", "UP003", "UP004"]
    with Session(engine) as session:
        assert count_unplaced(session, team_id=TEAM_ID) == 2
    cycle2 = [r for r in rows_of(engine, group.id) if r.cycle == 2]
    assert len(cycle2) == 12 and all(r.starts_at.astimezone().weekday() in (0, 1) for r in cycle2)
    # Deliveries for different groups and people run side by side, so find the calendar by what it says.
    calendar = next(f for f in reversed(standin.files) if "Cycle 2" in (f.get("initial_comment") or ""))
    uids = {str(e["UID"]) for e in icalendar.Calendar.from_ical(calendar["content"]).walk("VEVENT")}
    assert uids == {f"compass-{group.id}-2-session-{n}@compass-bot" for n in range(1, 13)}
    assert any("join a new COMPASS group" in m["text"] for m in standin.dm_messages("UP005"))


def rsvps(engine, session_id: int) -> dict[str, str]:  # noqa: ANN001
    with Session(engine) as session:
        return {r.slack_user_id: r.answer for r in session.exec(select(SessionRsvp).where(SessionRsvp.session_id == session_id))}


def attendance(engine, session_id: int) -> dict[str, bool]:  # noqa: ANN001
    with Session(engine) as session:
        return {r.slack_user_id: r.attended for r in session.exec(select(SessionAttendance).where(SessionAttendance.session_id == session_id))}


# --- a clock killed mid-delivery -----------------------------------------------------------------------------


def test_a_clock_killed_after_claiming_loses_nothing_and_duplicates_nothing(standin, services, engine):
    people = seed_members(engine, standin, ids("K", 6), leads=("UK001",))
    with Session(engine) as session:  # everyone here chose the hour-before reminder too
        for member in session.exec(select(Member).where(Member.slack_user_id.in_(people))):
            member.remind_hour_before = True
            session.add(member)
        session.commit()
    group = planned_series(services, standin, engine, people)
    first = rows_of(engine, group.id)[0]
    prefix = f"session:{group.id}:1:1:{int(first.starts_at.timestamp())}:"
    handlers = Clock(services).handlers

    # 1. Claimed, then the process died before doing anything: delivered once the lease expires.
    with frozen(first.starts_at - timedelta(hours=24)):
        claimed_rows = schedule.claim_due(engine, worker_id="dead", lease=timedelta(minutes=5))
        assert sorted(c.key for c in claimed_rows) == [prefix + "leadnote", prefix + "remind24h"]  # the lead's is the note
        assert Clock(services).tick().total() == 0  # still leased to the dead worker
    with frozen(first.starts_at - timedelta(hours=24) + timedelta(minutes=6)):
        assert ours(Clock(services).tick().kinds) == {"session_reminder_24h": 1, "session_lead_note": 1}
    assert all(len(keyed(standin.dm_messages(u), prefix + "remind24h")) == 1 for u in people[1:])
    assert len(keyed(standin.dm_messages("UK001"), prefix + "leadnote")) == 1

    # 2. Died after Slack had the posts but before marking the row done: nothing is posted twice.
    with frozen(first.starts_at - timedelta(hours=1)):
        (claimed,) = schedule.claim_due(engine, worker_id="dead", lease=timedelta(minutes=5))
        handlers[claimed.kind](services, services.clients.default, claimed, schedule.payload_of(claimed))
        assert len(keyed(standin.dm_messages("UK002"), prefix + "remind1h")) == 1
    with frozen(first.starts_at - timedelta(hours=1) + timedelta(minutes=6)):
        assert ours(Clock(services).tick().kinds) == {"session_reminder_1h": 1}
    assert all(len(keyed(standin.dm_messages(u), prefix + "remind1h")) == 1 for u in people)

    # The same for the session post in the channel.
    with frozen(first.starts_at):
        claimed = [r for r in schedule.claim_due(engine, worker_id="dead", lease=timedelta(minutes=5)) if r.kind == "session_post"]
        handlers["session_post"](services, services.clients.default, claimed[0], schedule.payload_of(claimed[0]))
    with frozen(first.starts_at + timedelta(minutes=6)):
        assert ours(Clock(services).tick().kinds) == {"session_post": 1}
    assert len(keyed(standin.messages(group.channel_id), prefix + "post")) == 1
    assert len(keyed(standin.dm_messages("UK001"), prefix + "leadnote")) == 1
    assert {a.status for a in actions(engine, prefix) if a.due_at <= first.starts_at} == {"done"}


# --- Slack failures -------------------------------------------------------------------------------------------


def test_a_failing_post_is_retried_with_backoff_then_marked_failed_and_the_lead_told_once(standin, services, engine):
    people = seed_members(engine, standin, ids("M", 6), leads=("UM001",))
    group = planned_series(services, standin, engine, people)
    first = rows_of(engine, group.id)[0]
    key = f"session:{group.id}:1:1:{int(first.starts_at.timestamp())}:post"
    clock = Clock(services, max_attempts=3)
    run_clock(services, first.starts_at - timedelta(minutes=1), clock=clock)
    # Slack fails every post for a while: three tries for the guide (the lead's note came the day before).
    standin.inject("chat.postMessage", error="internal_error", times=3)
    attempts = []
    while (row := actions(engine, key)[0]).status == "pending":
        moment = max(row.due_at, row.retry_at or row.due_at)
        with frozen(moment):
            clock.tick()
        attempts.append(moment)
    row = actions(engine, key)[0]
    assert row.status == "failed" and "internal_error" in row.last_error and row.attempts == 3
    # The backoff doubles; each gap also holds the failed attempt's own time, since frozen time ticks (31 s under load).
    gaps = [(b - a).total_seconds() for a, b in zip(attempts, attempts[1:])]
    assert len(gaps) == 2 and 30 <= gaps[0] < 35 and 60 <= gaps[1] < 65
    run_clock(services, moment + timedelta(minutes=5), clock=clock)
    notices = [m for m in standin.dm_messages("UM001") if key_of(m) == f"notice:{key}"]
    assert len(notices) == 1 and "couldn't post the session guide" in notices[0]["text"]
    with frozen(moment + timedelta(minutes=10)):
        assert clock.tick().total() == 0
    assert len([m for m in standin.dm_messages("UM001") if key_of(m) == f"notice:{key}"]) == 1
    assert keyed(standin.messages(group.channel_id), key) == []


def test_a_person_slack_cannot_reach_does_not_stop_the_others(standin, services, engine):
    people = seed_members(engine, standin, ids("N", 6), leads=("UN001",))
    group = planned_series(services, standin, engine, people)
    first = rows_of(engine, group.id)[0]
    standin.inject("chat.postMessage", error="channel_not_found")  # e.g. an account deactivated since joining
    run_clock(services, first.starts_at - timedelta(hours=23))
    key = f"session:{group.id}:1:1:{int(first.starts_at.timestamp())}:remind24h"
    reached = [u for u in people if keyed(standin.dm_messages(u), key)]
    # The first DM (to UN002) failed; the lead (UN001) has the note instead of this reminder.
    assert reached == people[2:] and actions(engine, key)[0].status == "done"


def test_a_click_cannot_change_a_message_it_merely_names(slack, standin, services, engine):
    """A click on one's own attendance DM that names another message (the group's session guide,
    another member's DM) answers the person directly and changes neither message."""
    people = seed_members(engine, standin, ids("F", 4), leads=("UF001",))
    group = start_series(slack, standin, services, engine, people)
    row = rows_of(engine, group.id)[0]
    prefix = f"session:{group.id}:1:1:{int(row.starts_at.timestamp())}:"
    run_clock(services, row.starts_at + timedelta(hours=3))
    guide = keyed(standin.messages(group.channel_id), prefix)[0]
    other = keyed(standin.dm_messages("UF003"), prefix + "attendance")[0]
    own = keyed(standin.dm_messages("UF002"), prefix + "attendance")[0]
    value = buttons(own)["attendance_yes"]["value"]
    with frozen(row.starts_at + timedelta(hours=2, minutes=30)):
        for channel, ts in ((group.channel_id, guide["ts"]), (standin.dm_channel("UF003"), other["ts"])):
            updates = len(standin.calls_to("chat.update"))
            slack.action("UF002", "attendance_yes", value, channel_id=channel, message_ts=ts)
            eventually(lambda: attendance(engine, row.id).get("UF002") is True)
            eventually(lambda: len(standin.calls_to("chat.postEphemeral")) + len(standin.dm_messages("UF002")) > 0)
            assert all(c.args.get("ts") != ts for c in standin.calls_to("chat.update")[updates:])
    assert "edited" not in keyed(standin.messages(group.channel_id), prefix)[0]
    assert "edited" not in keyed(standin.dm_messages("UF003"), prefix + "attendance")[0]
    # The real click on one's own DM still shows the answer on it.
    with frozen(row.starts_at + timedelta(hours=2, minutes=31)):
        click(slack, standin, "UF002", prefix + "attendance", "attendance_no")


def test_attendance_closes_a_week_after_the_session(slack, standin, services, engine):
    people = seed_members(engine, standin, ids("W", 4), leads=("UW001",))
    group = start_series(slack, standin, services, engine, people)
    row = rows_of(engine, group.id)[0]
    prefix = f"session:{group.id}:1:1:{int(row.starts_at.timestamp())}:"
    run_clock(services, row.starts_at + timedelta(hours=3))
    with frozen(row.starts_at + timedelta(days=6)):
        click(slack, standin, "UW002", prefix + "attendance", "attendance_yes")
    assert attendance(engine, row.id) == {"UW002": True}
    own = keyed(standin.dm_messages("UW002"), prefix + "attendance")[0]
    with frozen(row.starts_at + timedelta(days=7, minutes=1)):
        slack.action("UW002", "attendance_no", buttons(own)["attendance_no"]["value"], channel_id=standin.dm_channel("UW002"),
                     message_ts=own["ts"])
        eventually(lambda: any("closed a week after" in str(m) for m in slack.responses.messages(slack.last_response_url)))
    assert attendance(engine, row.id) == {"UW002": True}

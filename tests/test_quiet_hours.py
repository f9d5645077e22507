"""Quiet hours: nothing reaches a person between 21:00 and 07:00 in their own time zone; what
falls inside waits until 07:30 there, once, across daylight-saving changes and retries."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlmodel import Session, select

from bot.domain.quiet_hours import QuietHours, quiet_until
from bot.runtime.clock import Clock
from storage import schedule
from storage.models import Member, ScheduledAction
from tests.support.clock import frozen
from tests.test_group_series_delivery import keyed, run_clock
from tests.test_sessions_flow import group_with_series, row

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_outside_quiet_hours_a_message_goes_now():
    assert quiet_until(at("2026-01-10 15:00"), "America/New_York") is None  # 10:00 there
    assert quiet_until(at("2026-01-10 01:59"), "America/New_York") is None  # 20:59 there


def test_in_the_evening_it_waits_until_half_past_seven_next_morning_there():
    assert quiet_until(at("2026-01-10 02:00"), "America/New_York") == at("2026-01-10 12:30")  # 21:00 -> 07:30 EST
    assert quiet_until(at("2026-01-10 02:00"), "Europe/London") == at("2026-01-10 07:30")  # 02:00 there: this morning


def test_across_the_spring_and_autumn_changes_it_is_still_half_past_seven_local():
    # Sat 7 Mar 2026 23:00 EST; the clocks go forward that night: 07:30 EDT is 11:30 UTC
    assert quiet_until(at("2026-03-08 04:00"), "America/New_York") == at("2026-03-08 11:30")
    # Sat 31 Oct 2026 22:00 EDT; the clocks go back that night: 07:30 EST is 12:30 UTC
    assert quiet_until(at("2026-11-01 02:00"), "America/New_York") == at("2026-11-01 12:30")
    # 06:30 local on the morning after: EDT in summer is UTC-4
    assert quiet_until(at("2026-07-01 10:30"), "America/New_York") == at("2026-07-01 11:30")


def test_a_persons_own_quiet_hours_and_a_missing_zone():
    late = QuietHours.parse("23:00", "06:00")
    assert quiet_until(at("2026-01-10 03:00"), "America/New_York", late) is None  # 22:00 there
    assert quiet_until(at("2026-01-10 05:00"), "America/New_York", late) == at("2026-01-10 11:30")  # 00:00 -> 06:30
    assert QuietHours.parse("bad", None) == QuietHours(time(21, 0), time(7, 0))
    assert quiet_until(at("2026-01-10 22:00"), "", fallback_tz="Europe/London") == at("2026-01-11 07:30")
    assert quiet_until(at("2026-01-10 22:00"), "Not/AZone") == at("2026-01-11 07:30")  # UTC when all else fails


def test_a_session_message_waits_for_the_readers_morning_and_arrives_once(slack, standin, services, engine):
    group = group_with_series(slack, standin, services, engine)
    first = row(engine, group.id, 1)  # Mon 2 Feb 18:00 CST = Tue 3 Feb 00:00 UTC
    with Session(engine) as session:
        for member in session.exec(select(Member).where(Member.slack_user_id.in_(["UQ003", "UQ004"]))):
            member.timezone = {"UQ003": "Europe/London", "UQ004": "Asia/Tokyo"}[member.slack_user_id]
            session.add(member)
        session.commit()
    prefix = f"session:{group.id}:1:1:"
    run_clock(services, first.starts_at + timedelta(hours=1))  # "Were you there?" as the session ends: 19:00 CST
    assert len(keyed(standin.dm_messages("UQ002"), prefix)) == 2  # day before, and now (in Chicago)
    assert len(keyed(standin.dm_messages("UQ004"), prefix)) == 2  # 10:00 in Tokyo
    london = keyed(standin.dm_messages("UQ003"), prefix)
    # 00:00 in London when the day-before reminder was due: it came at 07:30 there; now it is 01:00 there
    assert [m["metadata"]["event_payload"]["key"].split(":")[-3:] for m in london] == [["remind24h", "quiet", "UQ003"]]
    assert datetime.fromtimestamp(float(london[0]["ts"]), UTC) >= at("2026-02-01 07:30")
    (held,) = [a for a in schedule_rows(engine) if a.key.endswith(":attendance:quiet:UQ003")]
    assert held.due_at.replace(tzinfo=UTC) == at("2026-02-03 07:30") and held.status == "pending"

    # The original action run again after her morning (a retry) leaves her to the held copy.
    with Session(engine) as session:
        original = schedule.get(session, key=held.key.split(":quiet:")[0])
    original.attempts = 2
    with frozen("2026-02-03 08:00:00"):
        Clock(services).handlers[original.kind](services, services.clients.default, original, schedule.payload_of(original))
    run_clock(services, at("2026-02-03 09:00"))
    for user_id in ("UQ002", "UQ003", "UQ004"):
        assert len(keyed(standin.dm_messages(user_id), prefix + f"{int(first.starts_at.timestamp())}:attendance")) == 1, user_id
    assert all(len(keyed(standin.dm_messages(f"UQ00{n}"), prefix)) == 2 for n in range(2, 7))
    (late,) = keyed(standin.dm_messages("UQ003"), held.key)
    assert datetime.fromtimestamp(float(late["ts"]), UTC) >= at("2026-02-03 07:30")


def schedule_rows(engine):  # noqa: ANN001, ANN201
    from storage.models import ScheduledAction

    with Session(engine) as session:
        return list(session.exec(select(ScheduledAction)))


def test_the_baseline_arrives_at_eight_the_morning_after_joining_in_the_readers_zone():
    from bot.flows.enrolment import baseline_due

    utc = timezone.utc
    # Joining on a Saturday evening in New York: Sunday 8 March 2026 is the spring-forward day (08:00 EDT = 12:00 UTC).
    assert baseline_due(datetime(2026, 3, 8, 1, 0, tzinfo=utc), "America/New_York") == datetime(2026, 3, 8, 12, 0, tzinfo=utc)
    # Just after midnight in Tokyo is already the next local day: the baseline comes the morning after that.
    assert baseline_due(datetime(2026, 3, 1, 15, 30, tzinfo=utc), "Asia/Tokyo") == datetime(2026, 3, 2, 23, 0, tzinfo=utc)
    # No zone known: the program's.
    assert baseline_due(datetime(2026, 11, 2, 15, 0, tzinfo=utc), None, "America/Chicago") == datetime(2026, 11, 3, 14, 0, tzinfo=utc)


def test_the_stay_or_switch_question_waits_for_each_members_morning_and_the_channel_hears_once(slack, standin, services,
                                                                                                engine):
    from bot.domain import group_series as gs

    group = group_with_series(slack, standin, services, engine)
    with Session(engine) as session:
        member = session.exec(select(Member).where(Member.slack_user_id == "UQ004")).one()
        member.timezone = "Asia/Tokyo"
        session.add(member)
        session.commit()
    key = gs.cycle_key(group.id, group.cycle, "end")
    with Session(engine) as session:  # the cycle's end, moved to 10:00 in Chicago, midnight in Tokyo
        (end,) = [a for a in session.exec(select(ScheduledAction)) if a.key == key]
        end.due_at = at("2026-04-21 15:00")
        session.add(end)
        session.commit()
    run_clock(services, at("2026-04-21 16:00"))
    assert len(keyed(standin.dm_messages("UQ002"), key)) == 1 and keyed(standin.dm_messages("UQ004"), key) == []
    run_clock(services, at("2026-04-21 23:00"))  # 08:00 in Tokyo
    (late,) = keyed(standin.dm_messages("UQ004"), key)
    assert datetime.fromtimestamp(float(late["ts"]), UTC) >= at("2026-04-21 22:30")  # 07:30 there
    assert len(keyed(standin.messages(group.channel_id), key)) == 1  # the channel's thanks, once
    assert len([a for a in schedule_rows(engine) if a.key == gs.cycle_key(group.id, group.cycle, "decide")]) == 1

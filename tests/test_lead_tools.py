"""The sessions as each reader and the lead see them: times in the reader's own zone, where the group
meets, the lead's buttons and modals, topic changes shown in messages already sent, and the
meeting-time vote. Signed requests to the real endpoint, the stand-in's Slack calls and the rows out."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlmodel import select

from bot.slack.render import reader_time
from storage.db import session_scope
from storage.models import Member
from tests.support.clock import frozen
from tests.test_group_series_delivery import keyed, run_clock, start_series
from tests.test_groups_flow import ids, rows_of, seed_members

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

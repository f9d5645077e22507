"""A large delivery for the fault tests, and the check that it was delivered exactly once.

``seed_load`` gives every group a session whose actions are due now, in four shapes
(group index modulo 4), so a batch mixes channel posts with per-member DM fan-outs:

0. the session started 30 s ago: the session post (group channel) and the lead's note (DM);
1. it starts in 50 minutes: the hour-before reminder (a DM to every member);
2. it starts in 23 hours: the day-before reminder with RSVP buttons (a DM to every member);
3. the second session ended 2 h 5 min ago: the attendance check (a DM to every member, with
   buttons) and the pulse survey after every second session (a survey opened in the database
   and a DM to every member).

Every due action is still worth delivering for at least half an hour, so nothing is dropped as
late during a test. ``check_exactly_once`` compares the stand-in's record with the schedule:
one message carrying each delivered key per recipient, and nothing else accepted by Slack.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time as clock_time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot.domain import group_series as gs
from bot.domain.scheduling import SessionSlot
from storage import groups as store
from storage import schedule
from storage.db import session_scope
from storage.models import Member, ScheduledAction
from storage.workspaces import ensure_workspace

TZ = "America/Chicago"
SHAPES = ("started", "soon", "tomorrow", "after_second")


@dataclass
class Load:
    now: datetime
    groups: dict[int, tuple[str, list[str]]] = field(default_factory=dict)  # group id -> (channel, members; the first leads)
    keys: dict[str, str] = field(default_factory=dict)  # due key -> kind

    @property
    def people(self) -> list[str]:
        return [person for _, people in self.groups.values() for person in people]

    def targets(self, key: str, kind: str) -> list[str]:
        """Where a delivered action's messages go: "channel" or member IDs."""
        group_id = int(key.split(":")[1])
        _, people = self.groups[group_id]
        if kind == gs.SESSION_POST_KIND:
            return ["channel"]
        if kind == gs.LEAD_NOTE_KIND:
            return [people[0]]
        if kind == gs.REMINDER_24H_KIND:
            return people[1:]  # the lead's day-before message is the lead's note
        if kind == gs.ATTENDANCE_KIND and int(key.split(":")[3]) % gs.PULSE_EVERY == 0:
            return []  # after a session with a check-in, the check-in asks "Were you there?" itself
        return list(people)

    def expected(self) -> Counter:
        return Counter({(key, target): 1 for key, kind in self.keys.items() for target in self.targets(key, kind)})


def _slots(first: datetime, count: int = 12) -> tuple[SessionSlot, ...]:
    local = first.astimezone(ZoneInfo(TZ))
    return tuple(SessionSlot(n + 1, first + timedelta(days=14 * n), (local + timedelta(days=14 * n)).date()) for n in range(count))


def seed_load(engine, standin, *, groups: int, members: int, now: datetime, team_id: str, prefix: str = "UF") -> Load:  # noqa: ANN001
    load = Load(now=now)
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=team_id)
        for g in range(groups):
            shape = SHAPES[g % len(SHAPES)]
            people = [f"{prefix}{g:03d}{m}" for m in range(members)]
            for user_id in people:
                standin.add_user(user_id, name=user_id.lower(), tz=TZ)
                # Everyone asked for the hour-before reminder and keeps no quiet hours: these tests are about
                # delivering every action exactly once through faults, not about who gets which message when.
                session.add(Member(team_id=team_id, slack_user_id=user_id, status="active", consented_at=now, created_at=now,
                                   updated_at=now, timezone=TZ, remind_hour_before=True, quiet_start="00:00", quiet_end="00:00"))
            channel = standin.add_channel(f"compass-fault-{prefix.lower()}-{g:03d}", is_private=True, members=["UBOT", *people])
            group = store.create_group(session, team_id=team_id, name=f"Fault {g}", cohort="faults", mode="mixed",
                                       audience="all", timezone=TZ, lead_user_id=people[0], member_ids=people, now=now)
            if shape == "started":
                first = now - timedelta(seconds=30)
            elif shape == "soon":
                first = now + timedelta(minutes=50)
            elif shape == "tomorrow":
                first = now + timedelta(hours=23)
            else:
                first = now - timedelta(days=14, hours=2, minutes=5)
            first = first.replace(microsecond=0)
            local = first.astimezone(ZoneInfo(TZ))
            group.channel_id, group.status = channel, "active"
            group.weekday, group.local_time = local.weekday(), f"{local:%H:%M}"
            slots = _slots(first)
            rows = store.save_sessions(session, group_id=group.id, cycle=1, slots=slots)
            wanted = {"started": {"post", "leadnote"}, "soon": {"remind1h"}, "tomorrow": {"remind24h"}}.get(shape)
            if wanted is not None:
                planned = [a for a in gs.session_actions(group.id, 1, slots[0]) if a.key.rsplit(":", 1)[1] in wanted]
            else:
                rows[0].status = "held"
                session.add(rows[0])
                planned = [a for a in gs.session_actions(group.id, 1, slots[1]) if a.kind == gs.ATTENDANCE_KIND]
                planned += [a for a in gs.pulse_actions(group.id, 1, slots) if a.key == gs.pulse_key(group.id, 1, 2)]
            for action in planned:
                assert action.due_at <= now, action
                schedule.schedule(session, key=action.key, kind=action.kind, due_at=action.due_at, team_id=team_id,
                                  payload=action.payload)
                load.keys[action.key] = action.kind
            load.groups[group.id] = (channel, people)
    return load


def key_of(message: dict) -> str:
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("key", "")


def posted(standin, load: Load) -> Counter:  # noqa: ANN001
    """(key, "channel" or member) -> how many messages carrying that key the stand-in holds."""
    found: Counter = Counter()
    for channel, people in load.groups.values():
        for message in standin.messages(channel):
            if key_of(message):
                found[(key_of(message), "channel")] += 1
        for user_id in people:
            for message in standin.dm_messages(user_id):
                if key_of(message):
                    found[(key_of(message), user_id)] += 1
    return found


def accepted_posts(standin) -> int:  # noqa: ANN001
    """chat.postMessage calls the stand-in carried out (answered late or not), whoever asked."""
    return sum(1 for call in standin.calls_to("chat.postMessage") if call.response and call.response.get("ok"))


def rows_of(engine, load: Load) -> dict[str, ScheduledAction]:  # noqa: ANN001
    with Session(engine) as session:
        rows = session.exec(select(ScheduledAction).where(ScheduledAction.key.in_(list(load.keys)))).all()  # type: ignore[attr-defined]
    return {row.key: row for row in rows}


def open_due(engine, now: datetime) -> int:  # noqa: ANN001
    """Rows due by ``now`` that are not finished (pending, possibly backing off, or claimed)."""
    with Session(engine) as session:
        rows = session.exec(select(ScheduledAction.id).where(
            ScheduledAction.status.in_(schedule.OPEN_STATUSES), ScheduledAction.due_at <= now)).all()  # type: ignore[attr-defined]
    return len(rows)


def check_exactly_once(engine, standin, load: Load) -> dict[str, int]:  # noqa: ANN001
    """Every seeded action done, every expected post there once, no other post accepted."""
    rows = rows_of(engine, load)
    assert set(rows) == set(load.keys)
    statuses = Counter(row.status for row in rows.values())
    not_done = {key: (row.status, row.last_error) for key, row in rows.items() if row.status != schedule.DONE}
    assert not not_done, f"{statuses}: {list(not_done.items())[:5]}"
    expected = load.expected()
    found = posted(standin, load)
    duplicates = {k: n for k, n in found.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} duplicated: {list(duplicates.items())[:5]}"
    missing = expected - found
    assert not missing, f"{len(missing)} missing: {list(missing)[:5]}"
    extra = found - expected
    assert not extra, f"{len(extra)} unexpected: {list(extra)[:5]}"
    # Nothing else slipped through without a key: Slack accepted exactly one post per expected message.
    assert accepted_posts(standin) == sum(expected.values())
    attempts = Counter(row.attempts for row in rows.values())
    return {"actions": len(rows), "posts": sum(expected.values()), "max_attempts": max(attempts),
            "retried_rows": sum(n for a, n in attempts.items() if a > 1)}

"""Groups end to end: formation (App Home and CLI), the channel, the lead, the meeting time.

Signed Slack requests in; Slack Web API calls (the stand-in) and database rows out.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import icalendar
from sqlmodel import Session, select

from bot.runtime.clock import Clock
from bot.domain.group_formation import FormationSettings
from bot.slack.render import reader_time_fallbacks
from storage import schedule
from storage.db import session_scope, utcnow
from storage.models import Group, GroupMember, GroupSession, Member, ScheduledAction
from storage.workspaces import ensure_workspace
from tests.conftest import ADMIN_ID, TEAM_ID
from tests.support.clock import frozen
from tests.support.waiting import eventually

CHICAGO = "America/Chicago"


# --- helpers shared by the group and session tests -------------------------------------------------


def seed_members(engine, standin, user_ids, *, tz: str = CHICAGO, availability: str = "Mon 18:00-20:00",  # noqa: ANN001
                 leads: tuple[str, ...] = (), team_id: str = TEAM_ID, stages: dict[str, str] | None = None,
                 supervisors: dict[str, str] | None = None) -> list[str]:
    """Active, consented members (and the matching Slack users in the stand-in)."""
    now = utcnow()
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=team_id)
        for index, user_id in enumerate(user_ids):
            session.add(Member(
                team_id=team_id, slack_user_id=user_id, display_name=f"Doctor {user_id}", status="active",
                consented_at=now, created_at=now, updated_at=now, timezone=tz, availability=availability,
                lead_willing=user_id in leads, career_stage=(stages or {}).get(user_id, f"PGY-{1 + index % 3}"),
                specialty="Internal Medicine", department=("Medicine", "Cardiology")[index % 2],
                supervisor_ids=(supervisors or {}).get(user_id, ""),
            ))
    if standin is not None:
        for user_id in user_ids:
            standin.add_user(user_id, name=user_id.lower(), real_name=f"Doctor {user_id}", tz=tz)
    return list(user_ids)


def ids(prefix: str, n: int) -> list[str]:
    return [f"U{prefix}{i:03d}" for i in range(1, n + 1)]


def groups_in(engine, team_id: str = TEAM_ID) -> list[Group]:  # noqa: ANN001
    with Session(engine) as session:
        return list(session.exec(select(Group).where(Group.team_id == team_id).order_by(Group.id)))


def members_of(engine, group_id: int) -> list[str]:  # noqa: ANN001
    with Session(engine) as session:
        return sorted(session.exec(select(GroupMember.slack_user_id).where(GroupMember.group_id == group_id, GroupMember.status == "active")))


def rows_of(engine, group_id: int) -> list[GroupSession]:  # noqa: ANN001
    with Session(engine) as session:
        return list(session.exec(select(GroupSession).where(GroupSession.group_id == group_id).order_by(GroupSession.cycle, GroupSession.number)))


def actions(engine, prefix: str = "", status: str | None = None) -> list[ScheduledAction]:  # noqa: ANN001
    with Session(engine) as session:
        query = select(ScheduledAction).where(ScheduledAction.key.startswith(prefix)).order_by(ScheduledAction.due_at, ScheduledAction.key)  # type: ignore[attr-defined]
        if status:
            query = query.where(ScheduledAction.status == status)
        return list(session.exec(query))


def form(services, *, cohort: str = "Spring 2026", size_min: int = 6, size_max: int = 8, actor: str = "test"):  # noqa: ANN001, ANN201
    from bot.flows.groups import form_and_apply

    with session_scope(services.engine) as session:
        plan, created = form_and_apply(session, services, team_id=TEAM_ID, settings=FormationSettings(size_min=size_min, size_max=size_max),
                                       cohort=cohort, actor_id=actor)
    return plan, [g.id for g in created]


def key_of(message: dict) -> str:
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("key", "")


def buttons(message: dict) -> dict[str, dict]:
    return {e["action_id"]: e for b in message.get("blocks") or [] for e in b.get("elements", []) if e.get("type") == "button"}


def last_response(responses, slack) -> dict:  # noqa: ANN001
    return eventually(lambda: responses.messages(slack.last_response_url))[-1]


def set_up(services, standin, group_id: int) -> Group:  # noqa: ANN001
    """Run the clock until the group's channel exists; returns the group."""
    Clock(services).tick()
    group = next(g for g in groups_in(services.engine) if g.id == group_id)
    assert group.channel_id and group.status == "scheduling"
    return group


def intro(standin, group: Group) -> dict:  # noqa: ANN001
    return next(m for m in standin.messages(group.channel_id) if key_of(m) == f"group:{group.id}:setup")


def opened_view(standin) -> dict:  # noqa: ANN001
    """The modal the bot last opened, with the ID Slack gave it (a submission carries it)."""
    opened = eventually(lambda: standin.calls_to("views.open"))[-1]
    return {**opened.args["view"], "id": opened.response["view"]["id"]}


def shown_view(standin, view_id: str, containing: str) -> dict:  # noqa: ANN001
    """The modal as the bot left it with views.update, once it contains ``containing``."""
    return eventually(lambda: (v := standin.views.get(view_id)) and containing in json.dumps(v) and v)


def settings_values(*, cohort: str = "", mode: str = "mixed", size_min: str = "6", size_max: str = "8") -> dict:
    def selected(value: str) -> dict:
        return {"value": value, "text": {"type": "plain_text", "text": value}}

    return {
        "cohort": {"value": {"type": "plain_text_input", "value": cohort}},
        "mode": {"value": {"type": "radio_buttons", "selected_option": selected(mode)}},
        "size_min": {"value": {"type": "static_select", "selected_option": selected(size_min)}},
        "size_max": {"value": {"type": "static_select", "selected_option": selected(size_max)}},
    }


# --- formation from App Home ---------------------------------------------------------------------------


def test_an_admin_previews_approves_and_creates_groups_from_app_home(slack, standin, services, engine):
    people = seed_members(engine, standin, ids("A", 14), leads=("UA001",))
    with frozen("2026-01-26 15:00:00"):
        slack.event({"type": "app_home_opened", "user": ADMIN_ID, "tab": "home", "channel": "D0ADM"})
        home = json.dumps(eventually(lambda: standin.home_view(ADMIN_ID)))
        assert "14 people waiting for a group" in home and "groups_form_open" in home
        slack.action(ADMIN_ID, "groups_form_open", "form")
        view = opened_view(standin)
        assert view["callback_id"] == "groups_form_settings"

        # A size range that cannot work is caught in the form itself.
        bad = slack.view_submission(ADMIN_ID, view, settings_values(size_min="9", size_max="7")).json()
        assert bad["response_action"] == "errors" and "size_max" in bad["errors"]

        # Acknowledged at once with a "working" view (Bolt's 3 seconds), then the preview replaces it.
        working = slack.view_submission(ADMIN_ID, view, settings_values(cohort="Spring 2026")).json()
        assert working["response_action"] == "update" and "Working out the groups" in json.dumps(working["view"])
        preview = shown_view(standin, view["id"], "people in")
        shown = json.dumps(preview)
        assert "14 people in 2 groups" in shown and "Spring 2026 group 1" in shown and "<@UA001>" in shown
        assert groups_in(engine) == []  # a preview creates nothing

        creating = slack.view_submission(ADMIN_ID, preview, {}).json()
        assert "Creating the groups" in json.dumps(creating["view"])
        assert "2 groups created" in json.dumps(shown_view(standin, view["id"], "groups created"))
    created = groups_in(engine)
    assert [g.name for g in created] == ["Spring 2026 group 1", "Spring 2026 group 2"]
    placed = [uid for g in created for uid in members_of(engine, g.id)]
    assert sorted(placed) == people and all(len(members_of(engine, g.id)) == 7 for g in created)
    assert {g.status for g in created} == {"forming"} and {g.timezone for g in created} == {CHICAGO}
    assert sum(1 for g in created if g.lead_user_id == "UA001") == 1

    # Approving the same preview again changes nothing: those people are no longer waiting.
    slack.view_submission(ADMIN_ID, preview, {})
    assert "Nobody is waiting" in json.dumps(shown_view(standin, view["id"], "Nobody")) and len(groups_in(engine)) == 2


def test_the_formation_modal_acknowledges_before_it_plans(slack, standin, services, engine, monkeypatch):
    """Bolt must ack a view submission within 3 seconds; planning a large waiting list can take longer, so
    the modal answers at once ("working…") and the preview follows with views.update."""
    import bot.flows.groups.formation_modal as formation_modal

    seed_members(engine, standin, ids("G", 8))
    planning, release = threading.Event(), threading.Event()
    real_plan = formation_modal.plan_formation

    def slow_plan(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        planning.set()
        release.wait(timeout=5)  # a planner still busy when Slack wants its answer
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(formation_modal, "plan_formation", slow_plan)
    slack.action(ADMIN_ID, "groups_form_open", "form")
    view = opened_view(standin)
    answer = slack.view_submission(ADMIN_ID, view, settings_values()).json()
    answered_while_planning = planning.is_set() and not release.is_set()
    release.set()
    assert answered_while_planning and "Working out the groups" in json.dumps(answer["view"])
    assert "8 people in 1 group" in json.dumps(shown_view(standin, view["id"], "people in"))


def test_an_approval_after_the_waiting_list_changed_shows_a_fresh_preview(slack, standin, services, engine):
    seed_members(engine, standin, ids("B", 12))
    slack.action(ADMIN_ID, "groups_form_open", "form")
    view = opened_view(standin)
    slack.view_submission(ADMIN_ID, view, settings_values())
    preview = shown_view(standin, view["id"], "people in")
    seed_members(engine, standin, ["UB999"])
    assert slack.view_submission(ADMIN_ID, preview, {}).json()["response_action"] == "update"
    fresh = json.dumps(shown_view(standin, view["id"], "changed since your preview"))
    assert "13 people" in fresh
    assert groups_in(engine) == []


def test_only_admins_can_form_groups(slack, standin, services, engine, responses):
    seed_members(engine, standin, ids("C", 6))
    slack.action("UC001", "groups_form_open", "form")
    assert "Only Compass admins" in last_response(responses, slack)["text"]
    forged = slack.view_submission("UC001", {"type": "modal", "callback_id": "groups_form_approve", "private_metadata": json.dumps(
        {"cohort": "x", "mode": "mixed", "size_min": 6, "size_max": 8, "seed": 0, "fingerprint": "0"})}, {}).json()
    assert "Only Compass admins" in json.dumps(forged["view"])
    assert standin.calls_to("views.open") == [] and groups_in(engine) == []


# --- the channel, the welcome, the lead ------------------------------------------------------------------


def test_setup_creates_a_private_channel_invites_everyone_and_welcomes_them(services, standin, engine):
    people = seed_members(engine, standin, ids("D", 7), leads=("UD002",))
    standin.add_channel("compass-spring-2026-group-1")  # someone already has the name
    with frozen("2026-01-26 15:00:00"):
        _, (group_id,) = form(services)
        report = Clock(services).tick()
        assert report.kinds == {"group_setup": 1}
        group = groups_in(engine)[0]
        created = [c for c in standin.calls_to("conversations.create") if c.ok]
        assert [c.args["name"] for c in created] == ["compass-spring-2026-group-1-2"]
        assert created[0].args["is_private"] in (True, "true", "1", 1)
        assert sorted(standin.members(group.channel_id)) == sorted(people + ["UBOT"])
        welcome = intro(standin, group)
        text = json.dumps(welcome["blocks"])
        for phrase in ("*Welcome to Spring 2026 group 1*", "12 sessions, one every two weeks", "first 15 minutes",
                       "social time", "what is said in the group stays in the group", "<@UD002>"):
            assert phrase in text, phrase
        assert "group_volunteer_lead" not in buttons(welcome)  # a lead volunteered in the join form
        assert buttons(welcome)["group_pick_slot_0"]["text"]["text"] == "Mon 18:00 · 0 votes"
        assert group.status == "scheduling"
        for user_id in people:
            (ready,) = [m for m in standin.dm_messages(user_id) if key_of(m) == f"group:{group.id}:setup"]
            assert f"<#{group.channel_id}>" in ready["text"]
        # A second tick does nothing: the setup is done exactly once.
        assert Clock(services).tick().total() == 0
        assert len([m for m in standin.messages(group.channel_id) if key_of(m)]) == 1


def test_a_group_without_a_lead_asks_for_one_and_the_first_volunteer_leads(slack, standin, services, engine, responses):
    seed_members(engine, standin, ids("E", 6))
    seed_members(engine, standin, ["UOUT01"], availability="")
    with frozen("2026-01-26 15:00:00"):
        _, group_ids = form(services, size_min=6, size_max=7)
        group = set_up(services, standin, group_ids[0])
        welcome = intro(standin, group)
        assert "Would one of you lead?" in json.dumps(welcome["blocks"])
        value = buttons(welcome)["group_volunteer_lead"]["value"]

        # Somebody outside the group cannot take the lead.
        standin.add_user("UZZZ99", name="zed")
        slack.action("UZZZ99", "group_volunteer_lead", value, channel_id=group.channel_id, message_ts=welcome["ts"])
        assert "belongs to a group you're not in" in last_response(responses, slack)["text"]

        slack.action("UE003", "group_volunteer_lead", value, channel_id=group.channel_id, message_ts=welcome["ts"])
        assert "Thank you for leading" in last_response(responses, slack)["text"]
        assert groups_in(engine)[0].lead_user_id == "UE003"
        eventually(lambda: any("<@UE003> will lead" in m["text"] for m in standin.messages(group.channel_id)))
        updated = eventually(lambda: (m := intro(standin, group)) and "group_volunteer_lead" not in buttons(m) and m)
        assert "Your lead:* <@UE003>" in json.dumps(updated["blocks"])

        slack.action("UE004", "group_volunteer_lead", value, channel_id=group.channel_id, message_ts=welcome["ts"])
        assert "<@UE003> is already leading" in last_response(responses, slack)["text"]
        assert groups_in(engine)[0].lead_user_id == "UE003"


# --- the meeting time --------------------------------------------------------------------------------------


def test_the_lead_picks_a_slot_and_the_series_is_planned_announced_and_in_the_calendar(slack, standin, services, engine, responses):
    seed_members(engine, standin, ids("F", 6), leads=("UF001",), availability="Mon 18:00-20:00;Thu 12:00-13:00")
    with frozen("2026-01-26 15:00:00"):
        _, (group_id,) = form(services)
        group = set_up(services, standin, group_id)
        welcome = intro(standin, group)
        offered = {b["text"]["text"].split(" · ")[0]: b for b in buttons(welcome).values() if b["action_id"].startswith("group_pick_slot")}
        assert set(offered) == {"Mon 18:00", "Mon 19:00", "Thu 12:00"}

        # Members vote: a tap counts (shown on the same message), a second tap takes it back; only the lead confirms.
        def vote(user_id: str, label: str) -> dict:  # noqa: ANN202
            slack.action(user_id, offered[label]["action_id"], offered[label]["value"], channel_id=group.channel_id,
                         message_ts=welcome["ts"])
            return last_response(responses, slack)

        def labels() -> list[str]:
            return sorted(b["text"]["text"] for b in buttons(intro(standin, group)).values() if b["action_id"].startswith("group_pick_slot"))

        answer = vote("UF002", "Mon 18:00")
        assert answer["response_type"] == "ephemeral" and answer["text"].startswith(":ballot_box_with_ballot: Noted: Mon 18:00 works for you. <@UF001> confirms")
        vote("UF003", "Mon 18:00")
        vote("UF003", "Thu 12:00")
        eventually(lambda: labels() == ["Mon 18:00 · 2 votes", "Mon 19:00 · 0 votes", "Thu 12:00 · 1 vote"])
        assert vote("UF003", "Thu 12:00")["text"] == "Your vote for Thu 12:00 is taken back."
        eventually(lambda: labels() == ["Mon 18:00 · 2 votes", "Mon 19:00 · 0 votes", "Thu 12:00 · 0 votes"])
        assert len([m for m in standin.messages(group.channel_id) if key_of(m)]) == 1  # one message, updated in place
        standin.add_user("UOUTSIDE", name="outside")
        assert "belongs to a group you're not in" in vote("UOUTSIDE", "Mon 18:00")["text"]
        assert rows_of(engine, group_id) == []

        slack.action("UF001", offered["Mon 18:00"]["action_id"], offered["Mon 18:00"]["value"], channel_id=group.channel_id,
                     message_ts=welcome["ts"])
        assert "meets every other Monday at 18:00, starting Mon 2 Feb, 18:00 CST" in reader_time_fallbacks(last_response(responses, slack)["text"])

    rows = rows_of(engine, group_id)
    assert [r.number for r in rows] == list(range(1, 13))
    assert [r.local_date.isoformat() for r in rows] == [
        "2026-02-02", "2026-02-23", "2026-03-02", "2026-03-16", "2026-03-30", "2026-04-13",
        "2026-04-27", "2026-05-11", "2026-06-01", "2026-06-08", "2026-06-22", "2026-07-06",
    ]  # Washington's Birthday (16 Feb) and Memorial Day (25 May) each move one session a week later
    assert rows[0].starts_at == datetime(2026, 2, 3, 0, 0, tzinfo=timezone.utc)  # 18:00 CST
    assert rows[3].starts_at == datetime(2026, 3, 16, 23, 0, tzinfo=timezone.utc)  # 18:00 CDT, after the change
    group = groups_in(engine)[0]
    assert (group.status, group.weekday, group.local_time) == ("active", 0, "18:00")

    # Every reminder, post and check is scheduled, plus a pulse after every second session and the cycle's end.
    planned = actions(engine)
    kinds = Counter(a.kind for a in planned)
    assert kinds == {"group_setup": 1, "session_reminder_24h": 12, "session_reminder_1h": 12, "session_post": 12,
                     "session_lead_note": 12, "session_attendance": 12, "pulse_after_session": 6, "group_cycle_end": 1}
    pulses = [a for a in planned if a.kind == "pulse_after_session"]
    assert [a.key for a in pulses] == [f"pulse:{group_id}:1:{n}" for n in (2, 4, 6, 8, 10, 12)]
    for pulse in pulses:
        payload = schedule.payload_of(pulse)
        session_row = rows[payload["number"] - 1]
        assert payload == {"group_id": group_id, "cycle": 1, "number": session_row.number, "session_number": session_row.number}
        assert pulse.due_at == session_row.starts_at + timedelta(hours=1)  # as the session ends
        assert pulse.team_id == TEAM_ID

    # The announcement and the calendar file arrive together in the channel.
    (upload,) = standin.files
    assert upload["channels"] == [group.channel_id] and upload["filename"].endswith(".ics")
    assert "Session 2 is on Mon 23 Feb instead of Mon 16 Feb (Washington's Birthday)" in upload["initial_comment"]
    events = icalendar.Calendar.from_ical(upload["content"]).walk("VEVENT")
    assert len(events) == 12 and {str(e["UID"]) for e in events} == {f"compass-{group_id}-1-session-{n}@compass-bot" for n in range(1, 13)}
    assert {e["DTSTART"].params["TZID"] for e in events} == {CHICAGO}
    # The welcome shows the chosen time instead of the buttons.
    updated = eventually(lambda: (m := intro(standin, group)) and not any(k.startswith("group_pick_slot") for k in buttons(m)) and m)
    assert "every other Monday at 18:00" in json.dumps(updated["blocks"])


def test_compass_schedule_sets_or_moves_the_time_and_refuses_politely(slack, standin, services, engine, responses):
    seed_members(engine, standin, ids("G", 6), leads=("UG001",), availability="")
    with frozen("2026-01-26 15:00:00"):
        _, (group_id,) = form(services)
        group = set_up(services, standin, group_id)
        assert "I don't know a time that suits everyone yet" in json.dumps(intro(standin, group)["blocks"])

        slack.command("UG002", "schedule Tue 18:30", channel_id=group.channel_id)
        assert last_response(responses, slack)["text"] == "Only this group's lead, <@UG001>, or a Compass admin can choose the meeting time."
        slack.command("UG002", "schedule Tue 18:30")  # elsewhere: the member's own group is named
        assert "<@UG001>" in last_response(responses, slack)["text"]
        slack.command(ADMIN_ID, "schedule Tue 18:30")  # an admin outside any group channel
        assert "type this in the channel of the group" in last_response(responses, slack)["text"]
        slack.command("UG001", "schedule someday soon", channel_id=group.channel_id)
        assert "isn't a day of the week" in last_response(responses, slack)["text"]
        assert rows_of(engine, group_id) == []

        # The lead of exactly one group may type it anywhere.
        slack.command("UG001", "schedule tue 6:30pm")
        assert "every other Tuesday at 18:30, starting Tue 3 Feb, 18:30 CST" in reader_time_fallbacks(last_response(responses, slack)["text"])
        first = {r.number: r for r in rows_of(engine, group_id)}
        old_keys = {a.key for a in actions(engine, f"session:{group_id}:", status="pending")}

    with frozen("2026-02-05 15:00:00"):  # after session 1, an admin moves the group to Thursdays
        Clock(services).tick()
        slack.command(ADMIN_ID, "schedule Thu 12:00", channel_id=group.channel_id)
        assert "every other Thursday at 12:00" in last_response(responses, slack)["text"]
    moved = {r.number: r for r in rows_of(engine, group_id)}
    assert moved[1].starts_at == first[1].starts_at and moved[1].sequence == 0  # already held: unchanged
    assert moved[2].local_date.isoformat() == "2026-02-12" and moved[2].sequence == 1
    assert all(moved[n].local_date.weekday() == 3 for n in range(2, 13))
    pending = {a.key for a in actions(engine, f"session:{group_id}:", status="pending")}
    assert not (pending & old_keys)  # every reminder for an old time was cancelled ...
    assert len([a for a in actions(engine, f"session:{group_id}:1:2:", status="pending")]) == 5  # ... and replaced
    assert {a.status for a in actions(engine, f"session:{group_id}:1:1:")} == {"done", "dropped"}
    latest = standin.files[-1]
    assert "New meeting time" in latest["initial_comment"]
    event = next(e for e in icalendar.Calendar.from_ical(latest["content"]).walk("VEVENT") if str(e["UID"]).endswith("session-2@compass-bot"))
    assert int(event["SEQUENCE"]) == 1


# --- the command line -------------------------------------------------------------------------------------


def test_cli_dry_run_previews_enrolled_members_and_saves_nothing(cli_env, engine, standin, capsys):
    from bot.cli import main

    seed_members(engine, standin, ids("H", 9))
    assert main(["groups", "form", "--dry-run", "--json", "--cohort", "Fall 2026"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(uid for g in data["groups"] for uid in g["members"]) == ids("H", 9)
    assert [len(g["members"]) for g in data["groups"]] == [9]
    assert any("cannot be split into groups of 6-8" in w for w in data["warnings"])
    assert all({"members", "lead", "common_slots", "warnings"} <= set(g) for g in data["groups"])
    assert groups_in(engine) == [] and actions(engine) == [] and standin.calls == []

    assert main(["groups", "form", "--dry-run", "--size-min", "4", "--size-max", "5"]) == 0
    out = capsys.readouterr().out
    assert f"Preview from enrolled members of {TEAM_ID}: 9 people in 2 groups" in out and "Nothing was saved." in out


def test_cli_creates_groups_and_the_clock_sets_them_up(cli_env, engine, services, standin, capsys):
    from bot.cli import main

    seed_members(engine, standin, ids("J", 17), leads=("UJ001", "UJ009"))
    assert main(["groups", "form", "--cohort", "Fall 2026", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [len(g["members"]) for g in data["groups"]] == [9, 8]  # the closest split, with a warning
    assert any("17 people cannot be split into groups of 6-8; closest split: 9 + 8" in w for w in data["warnings"])
    created = groups_in(engine)
    assert [g["group_id"] for g in data["groups"]] == [g.id for g in created]
    Clock(services).tick()
    assert len([c for c in standin.calls_to("conversations.create") if c.ok]) == 2
    assert all(g.channel_id for g in groups_in(engine))
    # Everyone is placed now: a second run has nobody to place.
    assert main(["groups", "form"]) == 0
    out = capsys.readouterr().out
    assert "Created 0 groups for 0 people" in out and "no one to place in a group" in out


def test_cli_without_a_workspace_says_so(cli_env, engine, capsys):
    from bot.cli import main

    assert main(["groups", "form", "--dry-run"]) == 2
    assert "nobody has joined yet" in capsys.readouterr().err


# --- formation properties on the database path -------------------------------------------------------------


def test_formation_places_everyone_waiting_once_whatever_the_cohort_size(services, engine):
    from bot.flows.groups import form_and_apply

    for n in (1, 5, 6, 9, 17, 1000):
        team = f"T{n:05d}"
        people = seed_members(engine, None, [f"U{n:04d}X{i:04d}" for i in range(n)], team_id=team,
                              availability="Tue 18:00-20:00" if n != 1000 else "")
        with session_scope(engine) as session:
            plan, created = form_and_apply(session, services, team_id=team, settings=FormationSettings(), cohort="C", actor_id="t")
        sizes = sorted((len(members_of(engine, g.id)) for g in created), reverse=True)
        placed = sorted(uid for g in created for uid in members_of(engine, g.id))
        assert placed == sorted(people), n
        if n in (1, 5):
            assert sizes == [n] and any("fewer than the minimum group size of 6" in w for w in plan.result.warnings)
        elif n in (9, 17):
            assert any("cannot be split into groups of 6-8" in w for w in plan.result.warnings), n
        else:
            assert all(6 <= s <= 8 for s in sizes), (n, sizes)
        with Session(engine) as session:
            setups = session.exec(select(ScheduledAction).where(ScheduledAction.kind == "group_setup", ScheduledAction.team_id == team)).all()
        assert len(setups) == len(created)
    # Nobody already in a group is placed again, nor anyone paused: only the newcomer who is active.
    with session_scope(engine) as session:
        plan, created = form_and_apply(session, services, team_id="T00017", settings=FormationSettings(), cohort="C", actor_id="t")
    assert created == [] and plan.result.warnings == ["no one to place in a group"]
    seed_members(engine, None, ["UNEW0001", "UPAUSED01"], team_id="T00017")
    with session_scope(engine) as session:
        paused = session.exec(select(Member).where(Member.slack_user_id == "UPAUSED01")).one()
        paused.status = "paused"
        session.add(paused)
    with session_scope(engine) as session:
        plan, created = form_and_apply(session, services, team_id="T00017", settings=FormationSettings(), cohort="C", actor_id="t")
    assert [members_of(engine, g.id) for g in created] == [["UNEW0001"]]


def test_supervisors_are_kept_apart_or_the_conflict_is_reported(services, engine):
    team = "TSUP"
    people = [f"US{i:03d}" for i in range(12)]
    supervisors = {"US001": "US000", "US002": "US000"}
    seed_members(engine, None, people, team_id=team, supervisors=supervisors)
    with session_scope(engine) as session:
        from bot.flows.groups import form_and_apply

        plan, created = form_and_apply(session, services, team_id=team, settings=FormationSettings(), cohort="C", actor_id="t")
    for group in created:
        members = set(members_of(engine, group.id))
        assert not ({"US000", "US001"} <= members or {"US000", "US002"} <= members)
    assert len(created) == 2

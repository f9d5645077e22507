"""User kinds: deactivated people, bots and guests never take part, and someone deactivated later is taken out.

Slack's users.info (the stand-in's) says what kind of account a person has; the ``user_change`` event
says when it changes.
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from bot.cli import main
from bot.runtime.clock import Clock
from bot.slack.render import render
from bot.slack.user_kinds import ineligible_kind
from storage.models import AuditEntry, Group, Member, Pair
from tests.conftest import TEAM_ID
from tests.support.clock import frozen
from tests.support.forms import join_values
from tests.support.waiting import eventually
from tests.test_cli import GOOD_ROSTER, HEADER
from tests.test_groups_flow import form, groups_in, ids, members_of, seed_members
from tests.test_pairing_flow import START, full_text, keyed, person, publish, seed

GUEST_WORDS = "for full members of this workspace"


def member(engine, user_id: str) -> Member | None:  # noqa: ANN001
    with Session(engine) as session:
        return session.exec(select(Member).where(Member.slack_user_id == user_id)).first()


def group_of(engine, group_id: int) -> Group:  # noqa: ANN001
    with Session(engine) as session:
        return session.get(Group, group_id)


@pytest.mark.parametrize(("fields", "kind"), [
    ({"deleted": True}, "deleted"),
    ({"is_bot": True}, "bot"),
    ({"is_app_user": True}, "bot"),
    ({"id": "USLACKBOT", "is_bot": False}, "bot"),
    ({"is_restricted": True}, "guest"),
    ({"is_restricted": True, "is_ultra_restricted": True}, "guest"),
    ({}, None),
    ({"is_admin": True, "is_owner": True}, None),
])
def test_the_kind_of_an_account_comes_from_its_user_object(fields, kind):
    user = {"id": "U1", "deleted": False, "is_bot": False, "is_app_user": False, "is_restricted": False,
            "is_ultra_restricted": False, **fields}
    assert ineligible_kind(user) == kind


@pytest.mark.parametrize("guest", [{"is_restricted": True}, {"is_ultra_restricted": True}])
def test_a_guest_is_told_kindly_that_the_program_is_for_full_members(slack, standin, engine, responses, guest):
    standin.add_user("U0GUEST", name="gus", real_name="Gus Guest", **guest)
    assert slack.command("U0GUEST", "join").status_code == 200
    answer = eventually(lambda: responses.messages(slack.last_response_url))[-1]
    assert GUEST_WORDS in answer["text"] and answer["response_type"] == "ephemeral"
    assert standin.calls_to("views.open") == [] and member(engine, "U0GUEST") is None


@pytest.mark.parametrize("kind", [{"deleted": True}, {"is_bot": True}])
def test_deactivated_and_bot_accounts_cannot_join(slack, standin, engine, responses, kind):
    standin.add_user("U0GONE", name="gone", **kind)
    slack.command("U0GONE", "join")
    answer = eventually(lambda: responses.messages(slack.last_response_url))[-1]
    assert "can't join" in answer["text"] and standin.calls_to("views.open") == []
    assert member(engine, "U0GONE") is None


def test_a_join_form_submitted_after_becoming_a_guest_enrols_nobody(slack, standin, engine):
    slack.command("U0ANA", "join")
    view = eventually(lambda: standin.calls_to("views.open"))[-1].args["view"]
    standin.change_user("U0ANA", is_ultra_restricted=True)
    answer = slack.view_submission("U0ANA", view, join_values()).json()
    assert answer["response_action"] == "errors" and GUEST_WORDS in json.dumps(answer["errors"])
    assert member(engine, "U0ANA") is None


def test_roster_import_flags_guests_bots_and_deactivated_people_by_line(cli_env, engine, standin, capsys):
    standin.add_user("U0GST", is_ultra_restricted=True)
    standin.add_user("U0BOT", is_bot=True)
    standin.add_user("U0OLD", deleted=True)
    rows = [
        "U0GST,Gus,gus@example.org,PGY-2,Surgery,Surgery,Main,America/Chicago,mentee,1,,no",
        "U0BOT,Bot,bot@example.org,PGY-2,Surgery,Surgery,Main,America/Chicago,mentee,1,,no",
        "U0OLD,Old,old@example.org,PGY-2,Surgery,Surgery,Main,America/Chicago,mentee,1,,no",
    ]
    roster = cli_env / "roster.csv"
    roster.write_text(GOOD_ROSTER + "\n".join(rows) + "\n")
    assert main(["roster", "import", str(roster)]) == 2
    err = capsys.readouterr().err
    assert "3 problem(s); nothing was imported" in err
    assert f"{roster}:4: U0GST is a guest account" in err
    assert f"{roster}:5: U0BOT is a bot or app" in err
    assert f"{roster}:6: U0OLD is a deactivated account" in err
    assert ":2:" not in err and ":3:" not in err  # the full members are not flagged
    with Session(engine) as session:
        assert session.exec(select(Member)).all() == []


def test_an_invited_person_who_became_a_guest_gets_no_invitation(cli_env, engine, services, standin, capsys):
    roster = cli_env / "roster.csv"
    roster.write_text(GOOD_ROSTER)
    with frozen("2026-03-03 15:00"):  # 09:00 in Chicago: invitations wait for the morning
        assert main(["roster", "import", str(roster)]) == 0
        standin.change_user("U0BEN", is_restricted=True)
        Clock(services).tick()
    assert standin.dm_messages("U0BEN") == [] and len(standin.dm_messages("U0ANA")) == 1
    assert member(engine, "U0BEN").status == "left"


def test_group_setup_leaves_out_people_slack_says_are_deactivated_or_guests(standin, services, engine):
    people = seed_members(engine, standin, ids("K", 7), leads=("UK001",))
    with frozen("2026-01-26 15:00:00"):
        _, (group_id,) = form(services)
        assert group_of(engine, group_id).lead_user_id == "UK001"
        standin.change_user("UK001", deleted=True)  # the lead, deactivated with no event seen
        standin.change_user("UK002", is_ultra_restricted=True)
        Clock(services).tick()
    group = group_of(engine, group_id)
    assert group.lead_user_id == "" and members_of(engine, group_id) == people[2:]
    invited = ",".join(call.args["users"] for call in standin.calls_to("conversations.invite"))
    assert "UK001" not in invited and "UK002" not in invited and all(uid in invited for uid in people[2:])
    welcome = json.dumps(standin.messages(group.channel_id))
    assert "Would one of you lead?" in welcome and "5 colleagues" in welcome
    assert standin.dm_messages("UK001") == [] and standin.dm_messages("UK002") == []
    assert member(engine, "UK001").status == "left" and member(engine, "UK002").status == "left"


def test_someone_deactivated_later_leaves_their_group_and_the_group_is_told_neutrally(slack, standin, services, engine):
    seed_members(engine, standin, ids("L", 7), leads=("UL001",))
    with frozen("2026-01-26 15:00:00"):
        _, (group_id,) = form(services)
        Clock(services).tick()
    channel = group_of(engine, group_id).channel_id
    before = len(standin.messages(channel))
    with frozen("2026-01-27 15:00:00"):
        user = standin.change_user("UL001", deleted=True)
        assert slack.user_change(user).status_code == 200
        eventually(lambda: len(standin.messages(channel)) > before)
        assert slack.user_change(user).status_code == 200  # a second event (or a retry) tells nobody twice
        slack.user_change(standin.change_user("UL003", deleted=False))  # any other change of a full member: nothing
    notice = standin.messages(channel)[before]
    assert notice["text"].startswith("<@UL001> is no longer part of") and "no lead for now" in notice["text"]
    # No reason: the group is not told the account was deactivated.
    assert not any(word in json.dumps(notice).lower() for word in ("deactivat", "deleted", "guest", "account"))
    assert any(e.get("action_id") == "group_volunteer_lead" for b in notice["blocks"] for e in b.get("elements", []))
    eventually(lambda: member(engine, "UL001").status == "left")
    assert "UL001" not in members_of(engine, group_id) and "UL003" in members_of(engine, group_id)
    assert group_of(engine, group_id).lead_user_id == ""
    assert len(standin.messages(channel)) == before + 1
    with Session(engine) as session:
        assert len(session.exec(select(AuditEntry).where(AuditEntry.action == "member_deactivated")).all()) == 1
    # Never placed in a future group.
    from bot.flows.groups import people_waiting

    with Session(engine) as session:
        assert "UL001" not in {p.user_id for p in people_waiting(session, team_id=TEAM_ID, default_tz="UTC")}


def test_a_partner_deactivated_later_ends_the_pairing_and_the_other_hears_only_that_it_ended(slack, standin, services, engine):
    seed(engine, standin, {"UA": person("PGY-1", "mentee"), "UB": person("PGY-2", "mentor")})
    with frozen(START):
        assert publish(services) == 1
        Clock(services).tick()
        user = standin.change_user("UB", is_restricted=True)
        slack.user_change(user)
        eventually(lambda: member(engine, "UB").status == "left")
        Clock(services).tick()
    with Session(engine) as session:
        pair = session.exec(select(Pair)).one()
    assert pair.status == "ended"
    note = full_text(keyed(standin.dm_messages("UA"), f"pairnote:{pair.id}:ended")[0])
    assert note == render("pair_note.j2", note="ended", partner="UB")  # the same words as any other ending
    assert keyed(standin.dm_messages("UB"), "pairnote:") == []


def test_a_pair_whose_mentor_slack_says_is_deactivated_is_never_introduced(standin, services, engine):
    seed(engine, standin, {"UA": person("PGY-1", "mentee"), "UB": person("PGY-2", "mentor")})
    with frozen(START):
        assert publish(services) == 1
        standin.change_user("UB", deleted=True)
        Clock(services).tick()
        Clock(services).tick()
    with Session(engine) as session:
        pair = session.exec(select(Pair)).one()
    assert pair.status == "ended"
    assert not any("UB" in call.args.get("users", "") for call in standin.calls_to("conversations.open"))
    assert keyed(standin.dm_messages("UA"), f"pairnote:{pair.id}:ended")
    assert member(engine, "UB").status == "left"


def test_a_member_who_became_a_guest_cannot_volunteer_to_lead(slack, standin, services, engine, responses):
    seed_members(engine, standin, ids("M", 6))
    with frozen("2026-01-26 15:00:00"):
        _, (group_id,) = form(services, size_min=6, size_max=7)
        Clock(services).tick()
        group = group_of(engine, group_id)
        welcome = next(m for m in standin.messages(group.channel_id) if m.get("blocks"))
        standin.change_user("UM002", is_restricted=True)  # no user_change event reached the bot
        slack.action("UM002", "group_volunteer_lead", str(group_id), channel_id=group.channel_id, message_ts=welcome["ts"])
        assert GUEST_WORDS in eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"]
    assert group_of(engine, group_id).lead_user_id == ""
    assert "UM002" not in members_of(engine, group_id) and member(engine, "UM002").status == "left"

"""Near-peer pairing end to end: signed Slack requests and clock ticks in; Slack calls and rows out.

Admins preview, swap, remove and publish a round from App Home; pairs are introduced in a
group DM; check-ins, reminders (only to pairs who have not met), the pause after three
silences, resuming and ending without blame go through the Slack stand-in.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlmodel import Session, select

from bot.runtime.clock import Clock
from bot.slack.render import render
from storage import schedule
from storage.db import session_scope, utcnow
from storage.models import AuditEntry, Member, Pair, PairCheckin, PairingRound, ScheduledAction
from storage.workspaces import ensure_workspace
from tests.conftest import ADMIN_ID, TEAM_ID
from tests.support.clock import frozen
from tests.support.waiting import eventually

START = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)  # requests under the frozen clock take a few real milliseconds


# --- helpers ---------------------------------------------------------------------------------------------


def person(stage: str, role: str, **details) -> dict:  # noqa: ANN003
    return {"stage": stage, "role": role, **details}


def seed(engine, standin, people: dict[str, dict]) -> None:  # noqa: ANN001
    """Enrolled, consented members (and their Slack accounts in the stand-in)."""
    now = utcnow()
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM_ID)
        for user_id, spec in people.items():
            session.add(Member(
                team_id=TEAM_ID, slack_user_id=user_id, display_name=f"Dr {user_id}", status=spec.get("status", "active"),
                consented_at=now, created_at=now, updated_at=now, timezone="America/Chicago",
                availability=spec.get("availability", "Mon 18:00-20:00"), career_stage=spec["stage"],
                specialty=spec.get("specialty", "Internal Medicine"), site=spec.get("site", "Main"),
                near_peer_role=spec["role"], mentor_capacity=spec.get("capacity", 1), supervisor_ids=spec.get("supervisors", ""),
            ))
    for user_id in people:
        standin.add_user(user_id, name=user_id.lower(), real_name=f"Dr {user_id}", tz="America/Chicago")


def all_pairs(engine) -> dict[str, Pair]:  # noqa: ANN001
    """Pairs by mentee (the tests give each mentee one pair at a time)."""
    with Session(engine) as session:
        return {p.mentee_id: p for p in session.exec(select(Pair).order_by(Pair.id))}


def pair_of(engine, mentee_id: str) -> Pair:  # noqa: ANN001
    return all_pairs(engine)[mentee_id]


def rounds(engine) -> list[PairingRound]:  # noqa: ANN001
    with Session(engine) as session:
        return list(session.exec(select(PairingRound).order_by(PairingRound.id)))


def preview_json(engine) -> dict:  # noqa: ANN001
    return json.loads(rounds(engine)[-1].preview)


def actions(engine, prefix: str) -> list[ScheduledAction]:  # noqa: ANN001
    with Session(engine) as session:
        query = select(ScheduledAction).where(ScheduledAction.key.startswith(prefix)).order_by(ScheduledAction.due_at)  # type: ignore[attr-defined]
        return list(session.exec(query))


def checkins(engine, pair_id: int) -> list[PairCheckin]:  # noqa: ANN001
    with Session(engine) as session:
        query = select(PairCheckin).where(PairCheckin.pair_id == pair_id).order_by(PairCheckin.number, PairCheckin.slack_user_id)
        return list(session.exec(query))


def key_of(message: dict) -> str:
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("key", "")


def keyed(messages: list[dict], prefix: str) -> list[dict]:
    return [m for m in messages if key_of(m).startswith(prefix)]


def full_text(message: dict) -> str:
    """Everything a person reads in a message: its blocks (``text`` is only the notification line)."""
    return " ".join(b.get("text", {}).get("text", "") for b in message.get("blocks") or []) or message.get("text", "")


def button_ids(blocks: list[dict]) -> list[str]:
    ids = []
    for block in blocks or []:
        ids += [e["action_id"] for e in block.get("elements", []) if e.get("type") == "button"]
        accessory = block.get("accessory") or {}
        if accessory.get("type") == "button":
            ids.append(accessory["action_id"])
    return ids


def tick(services, when: datetime, clock: Clock | None = None):  # noqa: ANN001, ANN201
    with frozen(when):
        return (clock or Clock(services)).tick()


def publish(services, actor: str = ADMIN_ID) -> int:  # noqa: ANN001
    """Preview and publish a round without the UI (for tests about what comes after)."""
    from bot.flows.pairing import make_preview, publish_round

    summary = make_preview(services, team_id=TEAM_ID, actor_id=actor)
    outcome = publish_round(services, team_id=TEAM_ID, round_id=summary.round_id, actor_id=actor)
    assert outcome.status == "published", outcome
    return outcome.pairs


def last_response(responses, slack) -> dict:  # noqa: ANN001
    return eventually(lambda: responses.messages(slack.last_response_url))[-1]


def views_opened(standin) -> list[dict]:  # noqa: ANN001
    return [c.args["view"] for c in standin.calls_to("views.open")]


def home(standin, user_id: str) -> str:  # noqa: ANN001
    return json.dumps(standin.home_view(user_id) or {}, ensure_ascii=False)


def click_checkin(slack, standin, user_id: str, answer: str, message: dict) -> None:  # noqa: ANN001
    value = next(e["value"] for b in message["blocks"] for e in b.get("elements", []) if e.get("action_id") == f"pair_checkin_{answer}")
    slack.action(user_id, f"pair_checkin_{answer}", value, channel_id=standin.dm_channel(user_id), message_ts=message["ts"])


# --- admins: preview, swap, remove and publish from App Home ----------------------------------------------------


APP_HOME_PEOPLE = {
    "UM1": person("PGY-1", "mentee", supervisors="UR3"),
    "UM2": person("PGY-1", "mentee", specialty="Surgery", site="North"),
    "UM3": person("PGY-1", "mentee", specialty="Pediatrics", site="South"),
    "UM4": person("PGY-1", "mentee", specialty="Cardiology", site="East"),
    "UR1": person("PGY-2", "mentor"),
    "UR2": person("PGY-2", "mentor", specialty="Surgery", site="North"),
    "UR3": person("PGY-2", "mentor", specialty="Pediatrics", site="South"),
    "UP1": person("PGY-1", "mentee", status="paused"),
    "UN1": person("PGY-3", "none"),
}


def test_an_admin_previews_swaps_removes_and_publishes_a_round_from_app_home(slack, standin, services, engine):
    seed(engine, standin, APP_HOME_PEOPLE)
    with frozen(START):
        slack.event({"type": "app_home_opened", "user": ADMIN_ID, "tab": "home", "channel": "D0ADM"})
        admin_home = eventually(lambda: standin.home_view(ADMIN_ID))
        assert "pair_preview" in button_ids(admin_home["blocks"])
        assert "No pairs yet" in json.dumps(admin_home)

        slack.action(ADMIN_ID, "pair_preview", "preview")
        eventually(lambda: rounds(engine) and "Round 1 preview" in home(standin, ADMIN_ID))
        preview = preview_json(engine)
        assert [(p["mentee"], p["mentor"]) for p in preview["pairs"]] == [("UM1", "UR1"), ("UM2", "UR2"), ("UM3", "UR3")]
        assert [(u["user"], u["code"]) for u in preview["unmatched"]] == [("UM4", "mentors_at_capacity")]
        assert preview["stats"]["paused"] == 1  # UP1 sits the round out
        shown = home(standin, ADMIN_ID)
        assert "<@UR1> → <@UM1>" in shown and "same specialty (Internal Medicine)" in shown
        assert "3 of 4 mentees matched" in shown and "already at capacity" in shown and "UP1" not in shown

        # A swap that would pair UM1 with their supervisor is refused, with the rule named.
        slack.action(ADMIN_ID, "pair_preview_swap", str(rounds(engine)[-1].id))
        swap_view = eventually(lambda: [v for v in views_opened(standin) if v.get("callback_id") == "pair_swap_submit"])[-1]
        assert len(swap_view["blocks"][1]["element"]["options"]) == 3
        refused = slack.view_submission(ADMIN_ID, swap_view, swap_values("UM1", "UM3")).json()
        assert refused["response_action"] == "errors"
        assert "Dr UR3 and Dr UM1 supervise or evaluate one another" in refused["errors"]["second"]
        assert preview_json(engine)["edits"] == 0

        # An allowed swap is saved with freshly worked-out reasons.
        assert slack.view_submission(ADMIN_ID, swap_view, swap_values("UM1", "UM2")).status_code == 200
        swapped = eventually(lambda: (p := preview_json(engine))["edits"] == 1 and p)
        assert [(p["mentee"], p["mentor"]) for p in swapped["pairs"]] == [("UM1", "UR2"), ("UM2", "UR1"), ("UM3", "UR3")]
        assert swapped["pairs"][0]["reasons"] == ["PGY-2 → PGY-1: one year ahead", "2 common hours a week"]
        eventually(lambda: "<@UR2> → <@UM1>" in home(standin, ADMIN_ID))

        # Removing a pair puts both people back among the unmatched.
        slack.action(ADMIN_ID, "pair_preview_remove", f"{rounds(engine)[-1].id}:UM3")
        removed = eventually(lambda: (p := preview_json(engine))["edits"] == 2 and p)
        assert [p["mentee"] for p in removed["pairs"]] == ["UM1", "UM2"]
        assert {(u["user"], u["code"]) for u in removed["unmatched"]} == {("UM3", "removed"), ("UR3", "removed"), ("UM4", "mentors_at_capacity")}
        eventually(lambda: "taken out of this preview by an admin" in home(standin, ADMIN_ID))

        slack.action(ADMIN_ID, "pair_preview_publish", str(rounds(engine)[-1].id))
        eventually(lambda: rounds(engine)[-1].status == "published")
        notice = eventually(lambda: [v for v in views_opened(standin) if "published" in json.dumps(v)])[-1]
        assert "Round 1 is published: 2 pairs" in json.dumps(notice)
        assert {(p.mentee_id, p.mentor_id, p.status) for p in all_pairs(engine).values()} == {("UM1", "UR2", "active"), ("UM2", "UR1", "active")}
        eventually(lambda: "Preview a round" in home(standin, ADMIN_ID))

        report = Clock(services).tick()
    assert report.kinds == {"pair_intro": 2, "pair_unmatched": 3}
    opened = [c.args["users"] for c in standin.calls_to("conversations.open") if "," in str(c.args.get("users"))]
    assert sorted(opened) == ["UM1,UR2", "UM2,UR1"]
    pair = pair_of(engine, "UM1")
    assert standin.conversation(pair.dm_channel_id)["is_mpim"] is True
    (intro,) = standin.messages(pair.dm_channel_id)
    text = json.dumps(intro["blocks"], ensure_ascii=False)
    assert "you make the first move" not in text and "*Suggest times* below" in text  # the bot holds both availabilities
    assert "pair_suggest_times" in button_ids(intro["blocks"])
    assert "<@UR2>, mentor: PGY-2 · Surgery · North" in text and "<@UM1>, mentee: PGY-1 · Internal Medicine · Main" in text
    assert "2 common hours a week" in text and "No-fault exit" in text and "Confidential" in text and "How often" in text
    assert "never by whom or why" in text
    assert "I couldn't match you with a mentor this time" in full_text(standin.dm_messages("UM4")[-1])
    assert "already at capacity" in full_text(standin.dm_messages("UM4")[-1])
    assert "I couldn't match you with a mentee this time" in full_text(standin.dm_messages("UR3")[-1])
    assert "Your mentor: <@UR2>" in home(standin, "UM1")
    assert tick(services, START + timedelta(minutes=5)).total() == 0  # each once
    with Session(engine) as session:
        logged = {a.action for a in session.exec(select(AuditEntry).where(AuditEntry.actor_id == ADMIN_ID))}
    assert {"pairing_previewed", "pairing_preview_edited", "pairing_round_published"} <= logged


def swap_values(first: str, second: str) -> dict:
    def chosen(value: str) -> dict:
        return {"pair": {"type": "static_select", "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}}}}

    return {"first": chosen(first), "second": chosen(second)}


def test_non_admins_are_refused_and_a_stale_preview_is_not_published(slack, standin, services, engine, responses, bot, tmp_path):
    seed(engine, standin, {"UM1": person("PGY-1", "mentee"), "UR1": person("PGY-2", "mentor")})
    slack.command("U0ANA", "pair preview")
    assert "Only Compass admins" in last_response(responses, slack)["text"]
    slack.command("U0ANA", "pair publish")
    assert "Only Compass admins" in last_response(responses, slack)["text"]
    assert rounds(engine) == []
    slack.command("U0ANA", "pair")
    help_text = last_response(responses, slack)["text"]
    assert "/compass pair end" in help_text and "pair publish" not in help_text

    slack.command(ADMIN_ID, "pair publish")
    assert "no preview to publish" in last_response(responses, slack)["text"]
    slack.command(ADMIN_ID, "pair preview")
    assert "Round 1 preview is ready in App Home: 1 of 1 mentee matched" in last_response(responses, slack)["text"]
    round_id = rounds(engine)[0].id

    # Forged clicks and submissions from a non-admin change nothing.
    slack.action("U0ANA", "pair_preview_publish", str(round_id))
    eventually(lambda: any("Only Compass admins" in json.dumps(v) for v in views_opened(standin)))
    forged = slack.view_submission("U0ANA", {"type": "modal", "callback_id": "pair_swap_submit",
                                             "private_metadata": json.dumps({"round_id": round_id})}, swap_values("UM1", "UM1"))
    assert "Only Compass admins" in json.dumps(forged.json())
    assert rounds(engine)[0].status == "preview" and all_pairs(engine) == {}

    # The mentee paused after the preview was made: publishing it now would break a rule.
    with session_scope(engine) as session:
        session.exec(select(Member).where(Member.slack_user_id == "UM1")).one().status = "paused"
    slack.command(ADMIN_ID, "pair publish")
    refusal = last_response(responses, slack)["text"]
    assert "can't publish this preview" in refusal and "Dr UM1 or Dr UR1 is no longer available" in refusal
    assert rounds(engine)[0].status == "preview" and all_pairs(engine) == {}

    slack.action(ADMIN_ID, "pair_preview_discard", str(round_id))
    eventually(lambda: rounds(engine)[0].status == "discarded")
    eventually(lambda: "Preview a round" in home(standin, ADMIN_ID))

    from storage.db import make_engine

    bot.services.engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'gone.db'}")
    slack.command("UM1", "pair status")
    assert "couldn't reach my database" in last_response(responses, slack)["text"]


# --- check-ins and reminders -----------------------------------------------------------------------------------


def test_checkins_go_to_each_person_and_the_reminder_only_to_pairs_who_have_not_met(slack, standin, services, engine, responses):
    seed(engine, standin, {
        "UA1": person("PGY-1", "mentee"), "UA2": person("PGY-2", "mentor"),
        "UB1": person("PGY-1", "mentee", specialty="Surgery", site="North"),
        "UB2": person("PGY-2", "mentor", specialty="Surgery", site="North"),
    })
    with frozen(START):
        slack.command(ADMIN_ID, "pair preview")
        assert "2 of 2 mentees matched" in last_response(responses, slack)["text"]
        slack.command(ADMIN_ID, "pair publish")
        assert "Round 1 is published: 2 pairs" in last_response(responses, slack)["text"]
        assert Clock(services).tick().kinds == {"pair_intro": 2}
    a, b = pair_of(engine, "UA1"), pair_of(engine, "UB1")

    assert tick(services, START + 14 * DAY - timedelta(minutes=1)).total() == 0
    with frozen(START + 14 * DAY + MINUTE):
        assert Clock(services).tick().kinds == {"pair_checkin": 2}
        questions = {user: keyed(standin.dm_messages(user), "pair:")[-1] for user in ("UA1", "UA2", "UB1", "UB2")}
        assert "Did you and <@UA2> meet?" in questions["UA1"]["text"]
        assert "Suggest times" in json.dumps(questions["UA1"]["blocks"])
        assert "Did you and <@UA1> meet?" in questions["UA2"]["text"]
        assert button_ids(questions["UA1"]["blocks"]) == ["pair_checkin_met", "pair_checkin_not_yet", "pair_checkin_end"]

        click_checkin(slack, standin, "UA1", "met", questions["UA1"])
        answer = last_response(responses, slack)
        assert "Glad you and <@UA2> met" in answer["text"] and answer["replace_original"] is True
        eventually(lambda: pair_of(engine, "UA1").met)
        click_checkin(slack, standin, "UB1", "not_yet", questions["UB1"])
        assert "Suggest times* in your group DM with <@UB2>" in last_response(responses, slack)["text"]
        eventually(lambda: any(c.answer == "not_yet" for c in checkins(engine, b.id)))
        assert {(c.slack_user_id, c.answer) for c in checkins(engine, a.id)} == {("UA1", "met"), ("UA2", "")}

        # Someone else's check-in, or an unreadable one, changes nothing.
        click_checkin(slack, standin, "UB1", "met", questions["UA1"])
        assert "belongs to someone else" in last_response(responses, slack)["text"]
        slack.action("UB1", "pair_checkin_met", "garbage", channel_id=standin.dm_channel("UB1"))
        assert "couldn't tell which check-in" in last_response(responses, slack)["text"]
        assert not pair_of(engine, "UB1").met

        slack.command("UB2", "pair status")
        status = last_response(responses, slack)["text"]
        assert "You mentor <@UB1>, since Mon 2 Mar 2026" in status and "Next check-in: Mon 13 Apr 2026" in status

    report = tick(services, START + 21 * DAY + MINUTE)
    assert report.kinds == {"pair_reminder": 1} and report.dropped == 1
    for user in ("UB1", "UB2"):
        assert len(keyed(standin.dm_messages(user), f"pair:{b.id}:reminder:1")) == 1
    assert "Suggest times" in full_text(keyed(standin.dm_messages("UB1"), f"pair:{b.id}:reminder")[0])
    for user in ("UA1", "UA2"):
        assert keyed(standin.dm_messages(user), f"pair:{a.id}:reminder") == []
    assert actions(engine, f"pair:{a.id}:reminder")[0].status == "dropped"

    assert tick(services, START + 42 * DAY + MINUTE).kinds == {"pair_checkin": 2}  # then every four weeks
    assert "since my last check-in" in keyed(standin.dm_messages("UA1"), f"pair:{a.id}:checkin:2:")[0]["text"]


def test_three_silent_checkins_pause_the_pairing_until_it_is_resumed(slack, standin, services, engine, responses):
    seed(engine, standin, {"UM1": person("PGY-1", "mentee"), "UR1": person("PGY-2", "mentor")})
    with frozen(START):
        publish(services)
    pair = pair_of(engine, "UM1")
    for number, day in enumerate((14, 42, 70), start=1):
        with frozen(START + day * DAY + MINUTE):
            assert Clock(services).tick().kinds.get("pair_checkin") == 1
            question = keyed(standin.dm_messages("UR1"), f"pair:{pair.id}:checkin:{number}:")[0]
            click_checkin(slack, standin, "UR1", "not_yet", question)  # the mentor answers; the mentee stays silent
            eventually(lambda: any(c.answer == "not_yet" and c.number == number for c in checkins(engine, pair.id)))

    report = tick(services, START + 98 * DAY + MINUTE)
    # The fourth check-in's turn comes, and pauses the pairing instead of asking again.
    assert report.kinds == {"pair_checkin": 1, "pair_reminder": 1, "pair_note": 2}
    paused = pair_of(engine, "UM1")
    assert paused.status == "paused"
    assert keyed(standin.dm_messages("UM1"), f"pair:{pair.id}:checkin:4:") == []
    to_mentee = full_text(keyed(standin.dm_messages("UM1"), f"pairnote:{pair.id}:paused_silent")[0])
    assert "last 3 check-ins" in to_mentee and "`/compass pair resume`" in to_mentee
    to_mentor = full_text(keyed(standin.dm_messages("UR1"), f"pairnote:{pair.id}:paused_partner")[0])
    assert "on hold" in to_mentor and "haven't heard" not in to_mentor
    assert "check-ins paused" in home(standin, "UM1") and "pair_resume" in home(standin, "UM1")

    from storage.pairing import load_pool

    with Session(engine) as session:
        pool = load_pool(session, team_id=TEAM_ID)
    assert [p.user_id for p in pool.people if p.user_id not in pool.paused] == []  # a paused pairing sits the round out

    with frozen(START + 100 * DAY):
        slack.command("UM1", "pair resume")
        assert "Welcome back! Check-ins for your pairing with <@UR1> start again in two weeks" in last_response(responses, slack)["text"]
        assert pair_of(engine, "UM1").status == "active"
        assert {c.answer for c in checkins(engine, pair.id) if c.slack_user_id == "UM1"} == {"lapsed"}
        assert Clock(services).tick().kinds == {"pair_note": 1}
        assert "are back on" in full_text(keyed(standin.dm_messages("UR1"), f"pairnote:{pair.id}:resumed_partner")[0])
        slack.command("UM1", "pair resume")
        assert "aren't paused" in last_response(responses, slack)["text"]
    assert tick(services, START + 113 * DAY).total() == 0
    assert tick(services, START + 114 * DAY + MINUTE).kinds == {"pair_checkin": 1}
    assert len(keyed(standin.dm_messages("UM1"), f"pair:{pair.id}:checkin:4:")) == 1  # earlier silence no longer counts


# --- ending without blame --------------------------------------------------------------------------------------


def test_ending_a_pairing_is_blameless_private_and_returns_both_to_the_pool(slack, standin, services, engine, responses):
    seed(engine, standin, {
        "UA": person("PGY-1", "mentee"),
        "UB": person("PGY-2", "both"),
        "UC": person("PGY-3", "mentor"),
        "UD": person("PGY-1", "mentee", specialty="Surgery", site="North"),
        "UE": person("PGY-2", "mentor", specialty="Surgery", site="North"),
    })
    with frozen(START):
        assert publish(services) == 3
        Clock(services).tick()
    pairs = all_pairs(engine)
    assert {(m, p.mentor_id) for m, p in pairs.items()} == {("UA", "UB"), ("UB", "UC"), ("UD", "UE")}

    with frozen(START + DAY):
        # UB is in two pairings (mentee of UC, mentor of UA), so they choose which one to end.
        slack.command("UB", "pair end")
        choice = last_response(responses, slack)
        labels = [e["text"]["text"] for b in choice["blocks"] for e in b.get("elements", [])]
        assert labels == ["End pairing with Dr UA", "End pairing with Dr UC"]
        assert all(pair_of(engine, m).status == "active" for m in ("UA", "UB"))
        slack.action("UB", f"pair_end_{pairs['UA'].id}", str(pairs["UA"].id))
        done = last_response(responses, slack)
        assert done["replace_original"] is True
        assert "your pairing with <@UA> has ended" in done["text"] and "never by whom" in done["text"]
        assert pair_of(engine, "UA").status == "ended" and pair_of(engine, "UB").status == "active"
        assert {a.status for a in actions(engine, f"pair:{pairs['UA'].id}:checkin")} == {"cancelled"}
        assert Clock(services).tick().kinds == {"pair_note": 1}

    note = full_text(keyed(standin.dm_messages("UA"), f"pairnote:{pairs['UA'].id}:ended")[0])
    # Word for word what UB would have read had UA ended it: never who, never why.
    assert note == render("pair_note.j2", note="ended", partner="UB")
    assert keyed(standin.dm_messages("UB"), "pairnote:") == []
    with Session(engine) as session:
        ended = session.exec(select(AuditEntry).where(AuditEntry.action == "pair_ended")).one()
    assert ended.actor_id == "UB" and "UA" not in ended.detail

    # Both are back in the pool, and are never paired again with each other.
    from bot.flows.pairing import make_preview

    with frozen(START + 2 * DAY):
        make_preview(services, team_id=TEAM_ID, actor_id=ADMIN_ID)
    preview = preview_json(engine)
    assert ("UA", "UB") not in {(p["mentee"], p["mentor"]) for p in preview["pairs"]}
    assert {u["user"]: u["code"] for u in preview["unmatched"]}["UA"] == "only_past_pairs"
    assert preview["stats"]["already_paired"] == 2

    # "End this pairing" from a check-in does the same.
    with frozen(START + 14 * DAY + MINUTE):
        Clock(services).tick()
        question = keyed(standin.dm_messages("UD"), f"pair:{pairs['UD'].id}:checkin:1:")[0]
        end_button = next(e for b in question["blocks"] for e in b.get("elements", []) if e.get("action_id") == "pair_checkin_end")
        assert "never by whom or why" in end_button["confirm"]["text"]["text"]
        click_checkin(slack, standin, "UD", "end", question)
        assert "your pairing with <@UE> has ended" in last_response(responses, slack)["text"]
        assert pair_of(engine, "UD").status == "ended"
        assert Clock(services).tick().kinds == {"pair_note": 1}
    assert "has ended. This happens, and it's nobody's fault" in full_text(keyed(standin.dm_messages("UE"), "pairnote:")[0])
    with frozen(START + 14 * DAY + MINUTE):
        slack.command("UD", "pair end")
        assert "you're in the pool for the next round" in last_response(responses, slack)["text"]


# --- exactly once, Slack failures, aggregates ---------------------------------------------------------------------


def test_introductions_and_checkins_are_sent_exactly_once_across_a_clock_restart(standin, services, engine):
    seed(engine, standin, {"UM1": person("PGY-1", "mentee"), "UR1": person("PGY-2", "mentor")})
    with frozen(START):
        publish(services)
    pair = pair_of(engine, "UM1")
    handlers = Clock(services).handlers

    # A clock posts the introduction, then dies before marking it done.
    with frozen(START + MINUTE):
        claimed = schedule.claim_due(engine, worker_id="dead", lease=timedelta(minutes=5))
        intro = next(row for row in claimed if row.kind == "pair_intro")
        handlers["pair_intro"](services, services.clients.default, intro, schedule.payload_of(intro))
    channel = pair_of(engine, "UM1").dm_channel_id
    assert len(standin.messages(channel)) == 1
    assert tick(services, START + MINUTE + timedelta(minutes=6)).kinds == {"pair_intro": 1}  # a new clock takes over
    assert len(standin.messages(channel)) == 1 and actions(engine, f"pair:{pair.id}:intro")[0].status == "done"

    # The same for a check-in: both DMs went out before the crash.
    with frozen(START + 14 * DAY + MINUTE):
        (row,) = schedule.claim_due(engine, worker_id="dead", lease=timedelta(minutes=5))
        handlers["pair_checkin"](services, services.clients.default, row, schedule.payload_of(row))
    assert tick(services, START + 14 * DAY + MINUTE + timedelta(minutes=6)).kinds == {"pair_checkin": 1}
    for user in ("UM1", "UR1"):
        assert len(keyed(standin.dm_messages(user), f"pair:{pair.id}:checkin:1:")) == 1
    assert [(c.slack_user_id, c.number) for c in checkins(engine, pair.id)] == [("UM1", 1), ("UR1", 1)]
    assert len(actions(engine, f"pair:{pair.id}:checkin:2:")) == 1  # the next one is scheduled once


def test_a_checkin_slack_fails_for_one_person_is_retried_without_a_second_dm_for_the_other(standin, services, engine):
    seed(engine, standin, {"UM1": person("PGY-1", "mentee"), "UR1": person("PGY-2", "mentor")})
    with frozen(START):
        publish(services)
        Clock(services).tick()
    pair = pair_of(engine, "UM1")
    clock = Clock(services)
    standin.inject("chat.postMessage", error="internal_error")  # the mentee's DM fails; the mentor's goes out
    report = tick(services, START + 14 * DAY + MINUTE, clock)
    assert report.retried == 1
    row = actions(engine, f"pair:{pair.id}:checkin:1:")[0]
    assert row.status == "pending" and "internal_error" in row.last_error
    assert [c.slack_user_id for c in checkins(engine, pair.id)] == ["UR1"]
    assert tick(services, row.retry_at, clock).kinds == {"pair_checkin": 1}
    for user in ("UM1", "UR1"):
        assert len(keyed(standin.dm_messages(user), f"pair:{pair.id}:checkin:1:")) == 1
    assert [c.slack_user_id for c in checkins(engine, pair.id)] == ["UM1", "UR1"]


def test_an_introduction_slack_refuses_for_good_is_reported_to_the_admins(standin, services, engine):
    seed(engine, standin, {"UM1": person("PGY-1", "mentee"), "UR1": person("PGY-2", "mentor")})
    with frozen(START):
        publish(services)
        standin.inject("conversations.open", error="user_disabled")
        report = Clock(services).tick()
    assert report.failed == 1
    pair = pair_of(engine, "UM1")
    assert actions(engine, f"pair:{pair.id}:intro")[0].status == "failed" and pair.status == "active"
    notice = standin.dm_messages(ADMIN_ID)[-1]["text"]
    assert "couldn't introduce <@UR1> and <@UM1> in round 1" in notice and "user_disabled" in notice


def test_admins_see_meeting_figures_only_in_aggregate_and_above_the_threshold(standin, services, engine):
    from bot.flows.home import publish_home

    mentees = [f"UM{i}" for i in range(1, 8)]
    seed(engine, standin, {**{m: person("PGY-1", "mentee") for m in mentees}, **{f"UR{i}": person("PGY-2", "mentor") for i in range(1, 8)}})
    with frozen(START):
        assert publish(services) == 7

    def admin_home(met: int) -> str:
        with session_scope(engine) as session:
            for index, pair in enumerate(session.exec(select(Pair).order_by(Pair.mentee_id))):
                pair.met = index < met
                session.add(pair)
        assert publish_home(services, services.clients.default, team_id=TEAM_ID, user_id=ADMIN_ID)
        return home(standin, ADMIN_ID)

    assert "Fewer than 5 pairs have met so far" in admin_home(met=3)
    assert "5 of 7 pairs" not in admin_home(met=5)  # 2 not met: too few to show
    assert "All but fewer than 5 pairs have met" in admin_home(met=5)
    text = admin_home(met=0)
    assert "Pairs so far: 7 · still going: 7" in text and "Fewer than 5 pairs have met" in text
    for user in [*mentees, *(f"UR{i}" for i in range(1, 8))]:
        assert user not in text  # never a pair, never a person

    with session_scope(engine) as session:
        for pair in session.exec(select(Pair).where(Pair.mentee_id.in_(["UM6", "UM7"]))):  # type: ignore[attr-defined]
            pair.status = "ended"
            session.add(pair)
    assert "still going: 5" in admin_home(met=0)
    with session_scope(engine) as session:
        pair = session.exec(select(Pair).where(Pair.mentee_id == "UM5")).one()
        pair.status = "ended"
    assert "still going: fewer than 5" in admin_home(met=0)


def test_a_small_program_shows_no_meeting_figures(standin, services, engine):
    from bot.flows.home import publish_home

    seed(engine, standin, {"UM1": person("PGY-1", "mentee"), "UR1": person("PGY-2", "mentor")})
    with frozen(START):
        publish(services)
    with session_scope(engine) as session:
        session.exec(select(Pair)).one().met = True
    publish_home(services, services.clients.default, team_id=TEAM_ID, user_id=ADMIN_ID)
    text = home(standin, ADMIN_ID)
    assert "Meeting figures appear once there are at least 5 pairs" in text and "have met" not in text


def test_forgetting_a_paired_person_leaves_no_row_that_names_them(standin, services, engine):
    from sqlmodel import SQLModel

    from bot.flows.pairing import make_preview
    from storage.personal_data import erase_person

    seed(engine, standin, {"UM1": person("PGY-1", "mentee"), "UR1": person("PGY-2", "mentor", capacity=3),
                           "UM2": person("PGY-1", "mentee", specialty="Surgery")})
    with frozen(START):
        publish(services)
        Clock(services).tick()
        seed(engine, standin, {"UM3": person("PGY-1", "mentee")})
        make_preview(services, team_id=TEAM_ID, actor_id=ADMIN_ID)  # an open preview naming UR1 again
    assert {p["mentor"] for p in preview_json(engine)["pairs"]} == {"UR1"}
    with session_scope(engine) as session:
        erase_person(session, team_id=TEAM_ID, user_id="UR1")
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                assert "UR1" not in json.dumps([str(v) for v in row]), f"{table.name} still names the person"
    assert all_pairs(engine) == {}
    assert tick(services, START + 14 * DAY + MINUTE).total() == 0  # their pairs' check-ins went with them


def test_suggest_times_offers_three_slots_from_both_availabilities_and_posts_the_chosen_one(slack, standin, services, engine,
                                                                                             responses):
    seed(engine, standin, {
        "UA1": person("PGY-1", "mentee", availability="Mon 12:00-13:00;Tue 12:00-13:00;Wed 18:00-21:00;Sat 07:00-09:00"),
        "UA2": person("PGY-2", "mentor", availability="Mon 13:00-14:00;Tue 13:00-14:00;Wed 19:00-20:00;Thu 13:00-14:00"),
        "UX9": person("PGY-3", "none"),
    })
    with session_scope(engine) as session:
        session.exec(select(Member).where(Member.slack_user_id == "UA2")).one().timezone = "America/New_York"
    with frozen(START):  # Mon 2 Mar 2026, 09:00 in Chicago
        publish(services)
        assert Clock(services).tick().kinds == {"pair_intro": 1}
        pair = pair_of(engine, "UA1")
        (intro,) = standin.messages(pair.dm_channel_id)
        assert "pair_suggest_times" in button_ids(intro["blocks"])

        slack.action("UA1", "pair_suggest_times", str(pair.id), channel_id=pair.dm_channel_id, message_ts=intro["ts"])
        offer = last_response(responses, slack)
        assert offer["response_type"] == "ephemeral" and offer["replace_original"] is False
        slots = [b for b in offer["blocks"] if (b.get("accessory") or {}).get("action_id") == "pair_post_time"]
        # At least a day ahead, one a day, inside both people's windows (the mentor's in New York), never at night:
        # Tue 3 Mar 12:00 Chicago (13:00 New York), Wed 4 Mar 18:00 Chicago (19:00 New York), Mon 9 Mar 12:00 Chicago
        # (13:00 New York, both a week after the US clocks changed).
        expected = [datetime(2026, 3, 3, 18, 0, tzinfo=timezone.utc), datetime(2026, 3, 5, 0, 0, tzinfo=timezone.utc),
                    datetime(2026, 3, 9, 17, 0, tzinfo=timezone.utc)]
        assert [b["accessory"]["value"] for b in slots] == [f"{pair.id}:{int(t.timestamp())}" for t in expected]
        assert slots[0]["text"]["text"].startswith(f"<!date^{int(expected[0].timestamp())}^") and "Tue 3 Mar, 12:00 CST" in slots[0]["text"]["text"]

        before = len(standin.messages(pair.dm_channel_id))
        slack.action("UA1", "pair_post_time", slots[1]["accessory"]["value"], channel_id=pair.dm_channel_id, message_ts=intro["ts"])
        posted = eventually(lambda: standin.messages(pair.dm_channel_id)[before:])
        assert f"<!date^{int(expected[1].timestamp())}^" in full_text(posted[0]) and "<@UA2>, does it suit you?" in full_text(posted[0])
        assert last_response(responses, slack)["replace_original"] is True

        # Someone outside the pair, or a forged value, posts nothing.
        slack.action("UX9", "pair_post_time", slots[0]["accessory"]["value"], channel_id=pair.dm_channel_id, message_ts=intro["ts"])
        assert "another pairing" in last_response(responses, slack)["text"]
        slack.action("UA1", "pair_post_time", "garbage", channel_id=pair.dm_channel_id, message_ts=intro["ts"])
        assert "couldn't read that button" in last_response(responses, slack)["text"]
        assert len(standin.messages(pair.dm_channel_id)) == before + 1


def test_introductions_checkins_and_nudges_wait_for_the_end_of_each_persons_quiet_hours(standin, services, engine):
    seed(engine, standin, {"UT1": person("PGY-1", "mentee"), "UT2": person("PGY-2", "mentor")})
    with session_scope(engine) as session:
        session.exec(select(Member).where(Member.slack_user_id == "UT1")).one().timezone = "Asia/Tokyo"
    with frozen(START):  # 09:00 in Chicago, midnight in Tokyo
        publish(services)
        report = Clock(services).tick()
    assert report.dropped == 1 and standin.calls_to("conversations.open") == []  # the group DM waits for Tokyo's morning
    assert tick(services, START + timedelta(hours=7, minutes=29)).total() == 0
    assert tick(services, START + timedelta(hours=7, minutes=30)).kinds == {"pair_intro": 1}  # 07:30 in Tokyo
    pair = pair_of(engine, "UT1")
    assert len(standin.messages(pair.dm_channel_id)) == 1
    assert tick(services, START + timedelta(hours=8)).total() == 0  # once

    checkin_at = START + 14 * DAY
    tick(services, checkin_at + MINUTE)  # the mentor, at 09:01 in Chicago, is asked now; the mentee, at 00:01, is not
    assert len(keyed(standin.dm_messages("UT2"), f"pair:{pair.id}:checkin")) == 1
    assert keyed(standin.dm_messages("UT1"), f"pair:{pair.id}:checkin") == []
    tick(services, checkin_at + timedelta(hours=7, minutes=31))
    assert len(keyed(standin.dm_messages("UT1"), f"pair:{pair.id}:checkin")) == 1
    tick(services, checkin_at + timedelta(hours=9))
    assert len(keyed(standin.dm_messages("UT2"), f"pair:{pair.id}:checkin")) == 1  # the copy asked only its person
    assert len([a for a in actions(engine, f"pair:{pair.id}:checkin:2:")]) == 1  # and scheduled nothing more


def test_a_mentor_of_two_hears_about_one_pairing_every_other_week(standin, services, engine):
    seed(engine, standin, {"UC1": person("PGY-1", "mentee"), "UC2": person("PGY-1", "mentee"),
                           "UC3": person("PGY-2", "mentor", capacity=2)})
    with frozen(START):
        assert publish(services) == 2
    firsts = sorted(a.due_at.replace(tzinfo=timezone.utc, microsecond=0) for a in actions(engine, "pair:") if ":checkin:1:" in a.key)
    assert [d - firsts[0] for d in firsts] == [timedelta(0), 14 * DAY] and firsts[0] - START < 14 * DAY + MINUTE

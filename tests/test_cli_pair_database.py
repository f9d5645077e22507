"""``compass-bot pair`` on the enrolled members and stored pairs: ``--dry-run --json`` and ``--publish``."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import pytest
from sqlmodel import Session, func, select

from bot.cli import main
from storage.db import session_scope, utcnow
from storage.models import AuditEntry, Member, Pair, PairingRound, ScheduledAction
from storage.workspaces import ensure_workspace
from tests.conftest import ADMIN_ID, TEAM_ID
from tests.support.clock import frozen

START = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def cli_env(monkeypatch, tmp_path, database_url):  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("SLACK_", "COMPASS_", "DATABASE_URL")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COMPASS_ADMINS", ADMIN_ID)
    return tmp_path


def member(user_id: str, stage: str, role: str, *, status: str = "active", capacity: int = 1, consented: bool = True,
           specialty: str = "Internal Medicine", site: str = "Main") -> Member:
    now = utcnow()
    return Member(team_id=TEAM_ID, slack_user_id=user_id, display_name=f"Dr {user_id}", status=status,
                  consented_at=now if consented else None, created_at=now, updated_at=now, timezone="America/Chicago",
                  availability="Mon 18:00-20:00", career_stage=stage, specialty=specialty, site=site, near_peer_role=role,
                  mentor_capacity=capacity)


def seed(engine) -> None:  # noqa: ANN001
    """Round 1 is history: UM1 and UR2 were paired (ended), UM4 is still with UR1 (active)."""
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM_ID)
        session.add_all([
            member("UM1", "PGY-1", "mentee"),
            member("UM2", "PGY-1", "mentee", specialty="Surgery", site="North"),
            member("UM3", "PGY-1", "mentee", status="paused"),
            member("UM4", "PGY-1", "mentee"),
            member("UR1", "PGY-2", "mentor", capacity=2),
            member("UR2", "PGY-2", "mentor", specialty="Surgery", site="North"),
            member("UX1", "PGY-3", "none"),
            member("UI1", "PGY-1", "mentee", status="invited", consented=False),
        ])
        now = utcnow()
        round_ = PairingRound(team_id=TEAM_ID, number=1, status="published", created_at=now, published_at=now)
        session.add(round_)
        session.flush()
        session.add_all([
            Pair(round_id=round_.id, team_id=TEAM_ID, mentee_id="UM1", mentor_id="UR2", status="ended", started_at=now, ended_at=now),
            Pair(round_id=round_.id, team_id=TEAM_ID, mentee_id="UM4", mentor_id="UR1", status="active", started_at=now),
        ])


def counts(engine) -> tuple[int, int, int]:  # noqa: ANN001
    with Session(engine) as session:
        return tuple(session.exec(select(func.count()).select_from(model)).one() for model in (PairingRound, Pair, ScheduledAction))


def test_dry_run_json_matches_the_enrolled_members_against_the_stored_history(cli_env, engine, capsys):
    seed(engine)
    before = counts(engine)
    assert main(["pair", "--dry-run", "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert set(data) == {"pairs", "unmatched", "stats"}
    # UM1 already had UR2; UR1 has one place left next to UM4; UM3 is paused; UM4 keeps UR1.
    assert [(p["mentee"], p["mentor"]) for p in data["pairs"]] == [("UM1", "UR1"), ("UM2", "UR2")]
    assert data["pairs"][1]["reasons"] == ["PGY-2 → PGY-1: one year ahead", "same specialty (Surgery)", "same site (North)",
                                           "2 common hours a week"]
    assert data["unmatched"] == []
    stats = data["stats"]
    assert (stats["round"], stats["paused"], stats["already_paired"], stats["blocked_by_history"]) == (2, 1, 1, 1)
    assert stats["people"] == 5  # UX1 did not opt in and UI1 has not joined: neither is counted
    assert "1 mentee(s) keep their current mentor" in err
    assert counts(engine) == before  # nothing saved, nothing scheduled


def test_text_preview_says_where_the_people_came_from(cli_env, engine, capsys):
    seed(engine)
    assert main(["pair"]) == 0
    out = capsys.readouterr().out
    assert f"Near-peer round 2, preview from enrolled members of {TEAM_ID} (nothing was saved or sent)" in out
    assert "Dr UR2 (UR2) → Dr UM2 (UM2)" in out


def test_publish_from_the_command_line_replaces_the_open_preview_and_introduces_the_pairs(cli_env, engine, services, standin, capsys):
    from bot.runtime.clock import Clock
    from bot.flows.pairing import make_preview

    seed(engine)
    for user_id in ("UM1", "UM2", "UR1", "UR2"):
        standin.add_user(user_id, name=user_id.lower(), real_name=f"Dr {user_id}", tz="America/Chicago")
    with frozen(START):
        make_preview(services, team_id=TEAM_ID, actor_id=ADMIN_ID)  # an admin's preview, open in App Home
        assert main(["pair", "--publish", "--json"]) == 0
        out, err = capsys.readouterr()
        data = json.loads(out)
        assert data["published"] == {"round": 2, "pairs": 2, "unmatched": 0}
        assert "the open preview of round 2 was replaced by this match" in err
        with Session(engine) as session:
            assert [(r.number, r.status) for r in session.exec(select(PairingRound).order_by(PairingRound.number))] == [
                (1, "published"), (2, "published")]
            new_pairs = session.exec(select(Pair).where(Pair.status == "active", Pair.mentee_id != "UM4").order_by(Pair.mentee_id)).all()
            assert [(p.mentee_id, p.mentor_id) for p in new_pairs] == [("UM1", "UR1"), ("UM2", "UR2")]
            published = session.exec(select(AuditEntry).where(AuditEntry.action == "pairing_round_published")).one()
            assert published.actor_id == "cli"
        assert Clock(services).tick().kinds == {"pair_intro": 2}
    assert len(standin.calls_to("conversations.open")) == 2

    # Everyone who wants a mentor now has one: nothing to publish, and nothing is saved.
    before = counts(engine)
    assert main(["pair", "--publish"]) == 1
    assert "nothing was published: there are no pairs to publish" in capsys.readouterr().err
    assert counts(engine) == before


def test_publish_in_text_mode_says_what_happens_next(cli_env, engine, capsys):
    seed(engine)
    assert main(["pair", "--publish"]) == 0
    out = capsys.readouterr().out
    assert f"Near-peer round 2 from enrolled members of {TEAM_ID}, published" in out
    assert "Published round 2: 2 pairs. Introductions and notes go out at the next clock heartbeat" in out


@pytest.mark.parametrize("argv, message", [
    (["--publish", "--dry-run"], "--publish and --dry-run cannot be used together"),
    (["--publish", "--roster", "people.csv"], "--publish works on the enrolled members; leave out --roster"),
    (["--history", "history.csv"], "--history goes with --roster"),
    (["--round", "3"], "--round goes with --roster"),
])
def test_options_that_do_not_go_together_are_usage_errors(cli_env, engine, capsys, argv, message):
    assert main(["pair", *argv]) == 2
    assert message in capsys.readouterr().err
    assert counts(engine) == (0, 0, 0)


def test_the_workspace_must_be_known(cli_env, engine, capsys):
    assert main(["pair", "--dry-run"]) == 2
    assert "nobody has joined Compass yet" in capsys.readouterr().err
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM_ID)
        ensure_workspace(session, team_id="T0OTHER")
    assert main(["pair", "--dry-run"]) == 2
    assert f"several workspaces ({TEAM_ID}, T0OTHER); choose one with --team" in capsys.readouterr().err
    assert main(["pair", "--dry-run", "--team", "T0NOBODY"]) == 2
    assert "--team T0NOBODY: no one from that workspace has joined Compass" in capsys.readouterr().err
    assert main(["pair", "--dry-run", "--json", "--team", "T0OTHER"]) == 0
    assert json.loads(capsys.readouterr().out)["pairs"] == []

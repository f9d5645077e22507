"""The console script: configuration errors, help, migrations, roster import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.cli import build_parser, main
from storage.models import AuditEntry, Member
from tests.conftest import ADMIN_ID, TEAM_ID
from tests.support.clock import frozen
from tests.support.forms import join_values
from tests.support.waiting import eventually

HEADER = "slack_user_id,display_name,email,career_stage,specialty,department,site,timezone,near_peer_role,mentor_capacity,supervisor_ids,lead_willing"
GOOD_ROSTER = "\n".join([
    HEADER,
    "U0ANA,Ana Ruiz,ana@example.org,PGY-1,Internal Medicine,Medicine,Main,America/Chicago,mentee,1,U0BEN,no",
    "U0BEN,Ben Okafor,ben@example.org,ATTENDING-6,Internal Medicine,Medicine,Main,America/Denver,mentor,2,,yes",
]) + "\n"


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL", "PORT"))}
    clean.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=clean, cwd=cwd, timeout=60)


@pytest.mark.parametrize(
    "env, variable",
    [
        ({}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "not-a-token", "SLACK_SIGNING_SECRET": "x"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "DATABASE_URL": "mysql://db"}, "DATABASE_URL"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "COMPASS_ADMINS": "boss"}, "COMPASS_ADMINS"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "PORT": "eighty"}, "PORT"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "SLACK_API_URL": "slack.com"}, "SLACK_API_URL"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "COMPASS_TIMEZONE": "Mars/Base"}, "COMPASS_TIMEZONE"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "SLACK_CLIENT_ID": "123"}, "SLACK_CLIENT_SECRET"),
    ],
)
def test_a_bad_setting_is_one_clear_line_and_exit_2(env, variable, tmp_path):
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_an_unreachable_slack_is_one_clear_line(tmp_path):
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "SLACK_API_URL": "http://127.0.0.1:9/api/",
           "DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr


def _subcommand_paths(parser, prefix=()):  # noqa: ANN001, ANN202
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _subcommand_paths(sub, prefix + (name,))


def test_every_subcommand_has_help(capsys):
    paths = list(_subcommand_paths(build_parser()))
    assert ("serve",) in paths and ("clock",) in paths and ("db", "upgrade") in paths and ("roster", "import") in paths
    for path in paths:
        with pytest.raises(SystemExit) as exit_:
            main([*path, "--help"])
        assert exit_.value.code == 0
        assert "usage: compass-bot" in capsys.readouterr().out


def test_db_upgrade_creates_the_schema(tmp_path):
    result = run_cli("db", "upgrade", env={"DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "revision 0" in result.stdout


def test_db_check_says_whether_the_schema_is_up_to_date(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}
    result = run_cli("db", "check", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "not up to date" in result.stderr and "Traceback" not in result.stderr
    assert run_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    result = run_cli("db", "check", env=env, cwd=tmp_path)
    assert result.returncode == 0 and "the latest" in result.stdout

    unreachable = run_cli("db", "check", env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:9/compass"}, cwd=tmp_path)
    assert unreachable.returncode == 2 and "cannot open" in unreachable.stderr and "Traceback" not in unreachable.stderr


LONG_RUNNING_START = """
import sys
from bot.cli.serve import _open_long_running_services
services = _open_long_running_services()
from storage.models import Member
from sqlmodel import Session, select
with Session(services.engine) as session:
    session.exec(select(Member)).all()
print("alembic loaded:", "alembic" in sys.modules)
"""


def test_serve_and_clock_migrate_in_a_child_process_and_never_load_alembic(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL", "MALLOC_"))}
    env.update(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="x", DATABASE_URL=f"sqlite:///{tmp_path}/fresh.db")
    result = subprocess.run([sys.executable, "-c", LONG_RUNNING_START], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "alembic loaded: False" in result.stdout  # yet the schema is there: the query above found the table


def test_a_schema_the_child_cannot_prepare_stops_serve_with_its_reason(tmp_path):
    (tmp_path / "not-a-database.db").write_text("this is not SQLite")
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/not-a-database.db"}
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0] and "not a database" in lines[0], result.stderr


def test_long_running_processes_limit_malloc_arenas(monkeypatch):
    from bot.runtime.process import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas()  # the operator's setting stands
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert limit_malloc_arenas() == (sys.platform == "linux" and os.confstr("CS_GNU_LIBC_VERSION") is not None)


def members(engine) -> dict[str, Member]:  # noqa: ANN001
    with Session(engine) as session:
        return {m.slack_user_id: m for m in session.exec(select(Member))}


def test_roster_import_invites_everyone_once(cli_env, engine, services, standin, capsys):
    from bot.runtime.clock import Clock

    with frozen("2026-03-03 15:00"):  # 09:00 in Chicago, the roster's zone
        invite_everyone_once(cli_env, engine, services, standin, capsys)


def invite_everyone_once(cli_env, engine, services, standin, capsys):  # noqa: ANN001
    from bot.runtime.clock import Clock

    roster = cli_env / "roster.csv"
    roster.write_text(GOOD_ROSTER)
    assert main(["roster", "import", str(roster)]) == 0
    assert "2 new" in capsys.readouterr().out
    imported = members(engine)
    assert {m.status for m in imported.values()} == {"invited"}
    assert imported["U0ANA"].supervisor_ids == "U0BEN"
    assert imported["U0BEN"].career_stage == "ATTENDING-6"

    assert Clock(services).tick().delivered == 2
    invitation = standin.dm_messages("U0ANA")[-1]
    assert "invited you to *Compass*" in invitation["text"] or "Compass" in invitation["text"]
    assert any(e.get("action_id") == "join_open" for b in invitation["blocks"] for e in b.get("elements", []))

    # Re-importing updates in place and sends nothing twice.
    roster.write_text(GOOD_ROSTER.replace("Main,America/Chicago", "North,America/Chicago"))
    assert main(["roster", "import", str(roster)]) == 0
    assert "0 new, 2 updated" in capsys.readouterr().out
    assert members(engine)["U0ANA"].site == "North"
    assert Clock(services).tick().delivered == 0
    assert len(standin.dm_messages("U0ANA")) == 1
    with Session(engine) as session:
        assert len(session.exec(select(AuditEntry).where(AuditEntry.action == "roster_imported")).all()) == 2


def test_invited_person_joins_from_the_invitation_button(cli_env, engine, services, standin, slack):
    from bot.runtime.clock import Clock

    (cli_env / "roster.csv").write_text(GOOD_ROSTER)
    with frozen("2026-03-03 15:00"):  # 09:00 in Chicago
        assert main(["roster", "import", str(cli_env / "roster.csv")]) == 0
        Clock(services).tick()
    assert len(standin.dm_messages("U0ANA")) == 1
    slack.action("U0ANA", "join_open", "join", channel_id=standin.dm_channel("U0ANA"))
    view = eventually(lambda: standin.calls_to("views.open"))[-1].args["view"]
    assert "consent" in [b.get("block_id") for b in view["blocks"]]
    slack.view_submission("U0ANA", view, join_values(stage="PGY-1"))
    eventually(lambda: members(engine)["U0ANA"].status == "active")
    # participation: consented / invited
    from storage.members import participation

    with Session(engine) as session:
        assert participation(session, team_id=TEAM_ID) == (1, 2)
    slack.event({"type": "app_home_opened", "user": ADMIN_ID, "tab": "home", "channel": "D0ADM"})
    home = json.dumps(eventually(lambda: standin.home_view(ADMIN_ID)))
    assert "Joined: 1 (1 of 2 invited, 50%)" in home


def test_an_invitation_waits_for_the_morning_in_the_invitees_zone(cli_env, engine, services, standin):
    from bot.runtime.clock import Clock

    (cli_env / "roster.csv").write_text(GOOD_ROSTER)
    with frozen("2026-03-03 05:00"):  # 23:00 in Chicago: quiet hours
        assert main(["roster", "import", str(cli_env / "roster.csv")]) == 0
        Clock(services).tick()
        Clock(services).tick()  # a second look finds the held copy and sends nothing
        assert standin.dm_messages("U0ANA") == []
    with frozen("2026-03-03 13:29"):  # 07:29 there
        Clock(services).tick()
        assert standin.dm_messages("U0ANA") == []
    with frozen("2026-03-03 13:31"):  # 07:31 there
        Clock(services).tick()
        assert len(eventually(lambda: standin.dm_messages("U0ANA"))) == 1
        Clock(services).tick()
    assert len(standin.dm_messages("U0ANA")) == 1
    assert members(engine)["U0ANA"].invitation_sent_at is not None


def test_a_bad_roster_imports_nothing_and_lists_every_error(cli_env, engine, capsys):
    roster = cli_env / "roster.csv"
    roster.write_text("\n".join([
        HEADER,
        "U0ANA,Ana Ruiz,ana@example.org,PGY-1,IM,Med,Main,America/Chicago,mentee,1,,no",
        "nobody,Bob,bob@,PGY-99,IM,Med,Main,Mars/Base,guru,9,U0ANA,maybe",
        "U0ANA,Ana Again,ana@example.org,PGY-2,IM,Med,Main,America/Chicago,mentee,1,,no",
    ]) + "\n")
    assert main(["roster", "import", str(roster)]) == 2
    err = capsys.readouterr().err
    for expected in ("roster.csv:3: slack_user_id", "roster.csv:3: career_stage", "roster.csv:3: timezone", "roster.csv:3: near_peer_role",
                     "roster.csv:3: mentor_capacity", "roster.csv:3: lead_willing", "roster.csv:3: email", "roster.csv:4: U0ANA already appears on line 2"):
        assert expected.lower() in err.lower(), (expected, err)
    assert members(engine) == {}


def test_a_roster_with_a_wrong_header_is_refused(cli_env, engine, capsys):
    roster = cli_env / "roster.csv"
    roster.write_text("id,name\nU0ANA,Ana\n")
    assert main(["roster", "import", str(roster)]) == 2
    assert "roster.csv:1: missing column(s)" in capsys.readouterr().err


def test_roster_dry_run_writes_nothing(cli_env, engine, standin, capsys):
    roster = cli_env / "roster.csv"
    roster.write_text(GOOD_ROSTER)
    assert main(["roster", "import", "--dry-run", str(roster)]) == 0
    assert "2 row(s) are valid" in capsys.readouterr().out
    assert members(engine) == {}
    assert standin.calls == []


def test_a_broken_topics_file_stops_the_bot_with_every_problem_listed(tmp_path):
    broken = tmp_path / "topics.toml"
    broken.write_text('[[topic]]\nslug = "Bad Slug"\ntitle = ""\n')
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/c.db",
           "COMPASS_TOPICS_FILE": str(broken)}
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "topic catalogue has" in result.stderr
    assert "slug" in result.stderr and "title" in result.stderr
    assert "Traceback" not in result.stderr

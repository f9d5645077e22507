"""`compass-bot groups form --roster FILE.csv`: the preview an admin runs before inviting anyone."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.domain.availability import parse_windows
from bot.cli import groups as groups_cli
from bot.domain.people import CareerStage, Person
from bot.domain.roster import roster_csv


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="compass-bot")
    groups_cli.register(root.add_subparsers(dest="command"))
    return root


def run(*argv: str) -> int:
    args = parser().parse_args(list(argv))
    return args.handler(args)


def roster_people(n: int) -> list[Person]:
    return [
        Person(
            user_id=f"U{i:04d}",
            display_name=f"Doctor {i}",
            career_stage=CareerStage.parse(f"PGY-{1 + i % 4}" if i % 2 else f"ATTENDING-{i}"),
            specialty=("Cardiology", "Neurology")[i % 2],
            department=("Medicine", "Neurosciences")[i % 2],
            site="Main",
            timezone="America/Chicago",
            lead_willing=i % 5 == 0,
            supervisor_ids=frozenset({"U0000"}) if i == 1 else frozenset(),
            availability=parse_windows("Tue 18:00-20:00" if i % 3 else "Tue 18:00-19:00;Thu 12:00-13:00"),
        )
        for i in range(n)
    ]


@pytest.fixture
def roster(tmp_path) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(roster_csv([(p, f"{p.user_id.lower()}@example.org") for p in roster_people(20)]), encoding="utf-8")
    return path


def test_json_preview_places_everyone(roster, capsys):
    assert run("groups", "form", "--roster", str(roster), "--json", "--seed", "3", "--career-bands", "mixed") == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert set(data) == {"groups", "warnings"}
    members = [uid for group in data["groups"] for uid in group["members"]]
    assert sorted(members) == [f"U{i:04d}" for i in range(20)]
    for group in data["groups"]:
        assert {"members", "lead", "common_slots", "warnings"} <= set(group)
        assert 6 <= len(group["members"]) <= 8
        assert group["lead"] is None or group["lead"] in group["members"]
        assert group["common_slots"] == ["Tue 18:00"] or "Tue 18:00" in group["common_slots"]
        assert not ("U0000" in group["members"] and "U0001" in group["members"])
    assert out.err == ""


def test_the_same_seed_prints_the_same_preview(roster, capsys):
    run("groups", "form", "--roster", str(roster), "--json", "--seed", "9")
    first = capsys.readouterr().out
    run("groups", "form", "--roster", str(roster), "--json", "--seed", "9")
    assert capsys.readouterr().out == first


def test_text_preview_names_groups_members_and_hours(roster, capsys):
    assert run("groups", "form", "--roster", str(roster), "--cohort", "Fall 2025", "--mode", "same-specialty",
               "--career-bands", "mixed") == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"Preview from roster {roster}: 20 people in 3 groups "
        "(same-specialty, residents and attendings mixed, sizes 6-8, seed 0)."
    )
    assert "Nothing was saved." in out
    assert "Fall 2025 group 1:" in out and "Fall 2025 group 3:" in out
    assert "Doctor 7 (U0007) | PGY-4 | Neurology | Neurosciences" in out
    assert "common hours (America/Chicago): Tue 18:00" in out
    assert "had to mix specialties" in out  # 10 and 10 cannot both form same-specialty groups of 6-8


def test_warnings_are_shown_in_text(tmp_path, capsys):
    path = tmp_path / "five.csv"
    path.write_text(roster_csv([(p, "") for p in roster_people(5)]), encoding="utf-8")
    assert run("groups", "form", "--roster", str(path), "--career-bands", "mixed") == 0
    out = capsys.readouterr().out
    assert "Warnings:" in out
    assert "! only 5 people to place, fewer than the minimum group size of 6" in out
    assert "! U0000 and U0001 share this group although one supervises or evaluates the other" in out


def test_a_bad_roster_lists_problems_by_line_and_exits_2(tmp_path, capsys):
    text = roster_csv([(p, "") for p in roster_people(3)]).splitlines()
    text[2] = text[2].replace("PGY-2", "PGY-99")
    text.append("not-an-id,Someone,,PGY-1,Cardiology,Medicine,Main,Mars/Base,none,1,,maybe,")
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    assert run("groups", "form", "--roster", str(path), "--json") == 2
    out = capsys.readouterr()
    assert out.out == ""
    lines = out.err.strip().splitlines()
    assert lines[0] == f"{path}: 4 problem(s); no groups were formed:"
    assert any(line.startswith(f"{path}:3: ") and "PGY year must be 1-10, got 99" in line for line in lines)
    assert any(line.startswith(f"{path}:5: slack_user_id 'not-an-id'") for line in lines)
    assert any(line.startswith(f"{path}:5: timezone 'Mars/Base'") for line in lines)
    assert any(line.startswith(f"{path}:5: lead_willing must be yes or no") for line in lines)
    assert "Traceback" not in out.err


def test_a_missing_roster_file_exits_2(tmp_path, capsys):
    assert run("groups", "form", "--roster", str(tmp_path / "nope.csv")) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--size-min", "3"], "size-min must be 4-10, got 3"),
        (["--size-max", "12"], "size-max must be 4-10, got 12"),
        (["--size-min", "9", "--size-max", "7"], "size-min (9) must not exceed size-max (7)"),
    ],
)
def test_bad_sizes_exit_2(roster, capsys, extra, message):
    assert run("groups", "form", "--roster", str(roster), *extra) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"compass-bot groups form: {message}"


def test_without_a_roster_it_forms_groups_from_the_database(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL"))]:
        monkeypatch.delenv(key)
    assert run("groups", "form", "--dry-run") == 2
    assert "nobody has joined yet" in capsys.readouterr().err


def test_the_console_script_runs_the_preview(roster):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "groups", "form", "--roster", str(roster), "--json", "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)["groups"]
    # The default keeps the 10 residents and the 10 attendings of this roster in separate groups.
    assert [g["career_band"] for g in groups] == ["residents", "attendings"]
    for group in groups:
        stages = {"PGY" if int(g[1:]) % 2 else "ATTENDING" for g in group["members"]}
        assert len(stages) == 1

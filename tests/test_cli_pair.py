"""``compass-bot pair`` in roster/history-file mode."""

from __future__ import annotations

import argparse
import json

import pytest

from bot.domain.availability import parse_windows
from bot.cli import main
from bot.cli import pair as pair_cli
from bot.domain.matching import PastPair
from bot.domain.pair_history import pair_history_csv
from bot.domain.people import CareerStage, Person
from bot.domain.roster import roster_csv


def member(
    user_id, name, stage, role, *, specialty="Internal Medicine", site="Main Campus", capacity=1, supervisors=()
):
    return Person(
        user_id=user_id,
        career_stage=CareerStage.parse(stage),
        display_name=name,
        specialty=specialty,
        department="Medicine",
        site=site,
        timezone="America/Chicago",
        near_peer_role=role,
        mentor_capacity=capacity,
        supervisor_ids=frozenset(supervisors),
        availability=parse_windows("Mon 18:00-20:00"),
    )


PEOPLE = [
    member("U01", "Dana Lee", "PGY-1", "mentee"),
    member("U02", "Ravi Patel", "PGY-1", "mentee", specialty="Surgery", site="North", supervisors=("U04",)),
    member("U03", "Sam Roe", "PGY-2", "both", specialty="Surgery", site="North", capacity=2),
    member("U04", "Mia Chen", "PGY-3", "mentor", specialty="Surgery", site="North"),
    member("U05", "Jo Park", "ATTENDING-20", "mentor"),
]


@pytest.fixture
def files(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(roster_csv([(p, f"{p.user_id.lower()}@example.org") for p in PEOPLE]), encoding="utf-8")
    history = tmp_path / "history.csv"
    history.write_text(pair_history_csv([PastPair("U01", "U03", 1), PastPair("U02", "U09", 2)]), encoding="utf-8")
    return roster, history


def run(argv, capsys):
    parser = argparse.ArgumentParser(prog="compass-bot")
    pair_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    status = args.handler(args)
    out, err = capsys.readouterr()
    return status, out, err


def test_json_preview_from_files(files, capsys):
    roster, history = files
    status, out, err = run(["pair", "--dry-run", "--json", "--roster", str(roster), "--history", str(history)], capsys)
    assert status == 0
    assert err == (
        f"compass-bot pair: note: 1 past pair(s) in {history} name someone who is not in {roster}; "
        "they do not matter this round\n"
    )
    data = json.loads(out)
    # U01 met U03 in round 1 and U04 supervises U02; U03 (both) mentors U02 and is mentored by U04
    assert [(p["mentee"], p["mentor"], p["score"]) for p in data["pairs"]] == [("U02", "U03", 6.0), ("U03", "U04", 6.0)]
    assert data["pairs"][0]["reasons"] == [
        "PGY-2 → PGY-1: one year ahead",
        "same specialty (Surgery)",
        "same site (North)",
        "2 common hours a week",
    ]
    assert [(u["user"], u["code"]) for u in data["unmatched"]] == [
        ("U01", "mentors_at_capacity"),
        ("U05", "no_mentee_behind"),
    ]
    assert data["stats"]["round"] == 3 and data["stats"]["matched"] == 2 and data["stats"]["blocked_by_history"] == 1


def test_cooldown_and_round_options(files, capsys):
    roster, history = files
    argv = ["pair", "--json", "--roster", str(roster), "--history", str(history), "--round", "4", "--cooldown", "2"]
    status, out, _ = run(argv, capsys)
    data = json.loads(out)
    assert status == 0 and data["stats"]["round"] == 4
    assert {(p["mentee"], p["mentor"]) for p in data["pairs"]} == {("U01", "U03"), ("U02", "U03"), ("U03", "U04")}
    assert data["stats"]["repeat_pairs"] == 1


def test_human_readable_preview(files, capsys):
    roster, history = files
    status, out, _ = run(["pair", "--roster", str(roster), "--history", str(history)], capsys)
    assert status == 0
    assert "Near-peer round 3, preview from" in out and "nothing was saved or sent" in out
    assert "Matched 2 of 3 mentees (the most possible), total score 12" in out
    assert "  Sam Roe (U03) → Ravi Patel (U02)   score 6" in out
    reasons = "PGY-2 → PGY-1: one year ahead; same specialty (Surgery); same site (North); 2 common hours a week"
    assert f"      {reasons}" in out
    assert "Dana Lee (U01), as mentee: The one mentor who fits is already at capacity this round" in out


def test_history_without_a_roster_is_a_usage_error(capsys):
    assert main(["pair", "--history", "history.csv"]) == 2
    assert "--history goes with --roster" in capsys.readouterr().err


def test_bad_files_give_line_numbered_errors_and_status_2(tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    good = roster_csv([(p, "") for p in PEOPLE]).splitlines()
    good[2] = good[2].replace("PGY-1", "PGY-0")
    roster.write_text("\n".join(good) + "\n", encoding="utf-8")
    history = tmp_path / "history.csv"
    history.write_text("mentee_id,mentor_id,round\nU01,U03,first\n", encoding="utf-8")
    status, out, err = run(["pair", "--roster", str(roster), "--history", str(history)], capsys)
    assert status == 2 and out == ""
    roster_error, history_error = err.splitlines()
    assert roster_error.startswith(f"compass-bot pair: {roster}: line 3: ") and "PGY year must be 1-10" in roster_error
    assert history_error == f"compass-bot pair: {history}: line 2: round must be a whole number, got 'first'"


def test_missing_file_is_one_clear_line(tmp_path, capsys):
    status, _, err = run(["pair", "--roster", str(tmp_path / "none.csv")], capsys)
    assert status == 2
    assert err == f"compass-bot pair: cannot read {tmp_path / 'none.csv'}: No such file or directory\n"


def test_round_must_come_after_the_history(files, capsys):
    roster, history = files
    status, _, err = run(["pair", "--roster", str(roster), "--history", str(history), "--round", "2"], capsys)
    assert status == 2
    assert err == f"compass-bot pair: --round 2 must come after the last round in {history} (2)\n"


@pytest.mark.parametrize("option, value", [("--round", "0"), ("--round", "two"), ("--cooldown", "-1")])
def test_bad_option_values_are_usage_errors(files, capsys, option, value):
    roster, _ = files
    with pytest.raises(SystemExit) as exit_info:
        run(["pair", "--roster", str(roster), option, value], capsys)
    assert exit_info.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_another_loader_can_feed_the_command(capsys):
    def from_members(args):
        return pair_cli.Candidates(
            people=PEOPLE[:3], history=[], current_round=7, source="members", paused=frozenset({"U02"})
        )

    args = argparse.Namespace(json=True, cooldown=None)
    assert pair_cli.run_pair(args, load=from_members) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stats"]["round"] == 7 and data["stats"]["paused"] == 1
    assert [(p["mentee"], p["mentor"]) for p in data["pairs"]] == [("U01", "U03")]  # U02 is paused


def test_registered_with_the_console_script(files, capsys):
    roster, _ = files
    assert main(["pair", "--json", "--roster", str(roster)]) == 0
    assert json.loads(capsys.readouterr().out)["stats"]["round"] == 1

"""`compass-bot demo`: a whole program offline, through the real flows, the real clock and the Slack stand-in.

A small cohort runs in-process (and its database is kept, to check that the flows really ran),
the same seed runs again to check it is reproducible, the command runs as a real process with
a hostile environment it must ignore, and the full-size default runs once.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import random
import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.domain.charts import PNG_SIGNATURE
from bot.cli import main
from bot.demo.burden import measure
from bot.demo.run import START
from bot.demo.forms import NotOffered, fill, join_form_answers
from bot.demo.people import cohort
from bot.flows.join_form import availability_choices, join_view, parse_join_submission
from bot.domain.trends import CSV_COLUMNS
from storage.db import make_engine
from storage.models import Group, GroupSession, Member, Pair, PairCheckin, SessionAttendance, SessionRsvp, Survey

MIN_GROUP = 5  # the demo runs with the default anonymity threshold
DEMO_USER_ID = re.compile(r"U\d{3}DEMO")
SMALL = ["--people", "16", "--weeks", "8", "--seed", "5"]


@dataclass
class Run:
    status: int
    out: str
    err: str
    output: Path

    def file(self, name: str) -> Path:
        return self.output / name

    def summary(self, prefix: str) -> str:
        return next(line for line in self.out.splitlines() if line.startswith(prefix))


def run_in_process(output: Path, *args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["demo", "--output", str(output), *args])
    return Run(status, out.getvalue(), err.getvalue(), output)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Run, Path]:  # noqa: ANN001
    """The small demo, with its database kept in a file so the tests can look inside."""
    where = tmp_path_factory.mktemp("demo")
    database = where / "demo.db"
    run = run_in_process(where / "out", *SMALL, "--quiet", "--record", str(where / "calls.jsonl"),
                         "--database-url", f"sqlite:///{database}")
    assert run.status == 0, run.err
    return run, database


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == list(CSV_COLUMNS)
        return list(reader)


def recorded(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    calls = [json.loads(line) for line in lines]
    assert all(isinstance(c, dict) and {"method", "args", "at", "ok"} <= set(c) <= {"method", "args", "at", "ok", "to", "tz"}
               for c in calls)
    assert all(isinstance(c["method"], str) and isinstance(c["args"], dict) for c in calls)
    return calls


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# --- the cohort and the join form ----------------------------------------------------------------------


def test_the_cohort_is_reproducible_and_mixed():
    people = cohort(40, random.Random(1))
    assert people == cohort(40, random.Random(1)) and people != cohort(40, random.Random(2))
    assert len({p.user_id for p in people}) == len({p.name for p in people}) == 40
    residents = [p for p in people if p.is_resident]
    assert 20 <= len(residents) <= 28 and {p.career_stage for p in residents} == {"PGY-1", "PGY-2", "PGY-3"}
    assert {p.near_peer_role for p in people} == {"mentee", "mentor", "both", "none"}
    assert any(p.trend_per_week < 0 for p in people) and any(p.trend_per_week > 0 for p in people)
    assert any(not p.joins for p in people) and sum(p.joins for p in people) >= 34


def test_a_filled_in_join_form_reads_back_as_the_persons_profile():
    view = join_view(member=None, timezone="America/New_York", min_group=5, needs_consent=True)
    for person in cohort(12, random.Random(2)):
        profile, errors = parse_join_submission(fill(view, join_form_answers(person)), needs_consent=True,
                                                slack_timezone=person.timezone)
        assert errors == {}
        assert (profile.career_stage, profile.timezone, profile.specialty, profile.near_peer_role) == (
            person.career_stage, person.timezone, person.specialty, person.near_peer_role)
        windows = {w for value, _, ws in availability_choices() if value in person.availability for w in ws}
        assert profile.lead_willing == person.lead_willing and set(profile.availability.split(";")) == windows
    with pytest.raises(NotOffered):
        fill(view, {"career_stage": "PGY-42"})
    with pytest.raises(NotOffered):
        fill(view, {"favourite_colour": "teal"})


# --- the small cohort, in-process ------------------------------------------------------------------------


def test_the_demo_writes_the_transcript_report_chart_and_a_record_of_every_call(small):
    run, _ = small
    recorded_count = int(re.search(r"recorded (\d+) Web API calls", run.out).group(1))
    calls = recorded(run.output.parent / "calls.jsonl")
    assert len(calls) == recorded_count > 100
    methods = {c["method"] for c in calls}
    assert {"chat.postMessage", "views.open", "conversations.create", "files.completeUploadExternal"} <= methods
    posts = [c["args"] for c in calls if c["method"] == "chat.postMessage"]
    assert all(p.get("channel") and (p.get("text") or p.get("blocks")) for p in posts)

    transcript = run.file("transcript.txt").read_text(encoding="utf-8")
    channels = [c["args"]["name"] for c in calls if c["method"] == "conversations.create"]
    assert len(channels) >= 2
    for name in channels:
        assert f"#{name} ← Welcome to" in transcript
        assert f"#{name} ← Session 1 of 12" in transcript
    assert re.search(r"^\d\d:\d\d  DM .+ ← Tomorrow: ", transcript, re.MULTILINE)
    assert re.search(r"^\d\d:\d\d  group DM .+ ← @.+, meet @.+: your near-peer mentor", transcript, re.MULTILINE)

    assert "/compass join → joins:" in transcript and "Form groups" in transcript
    assert "DEMO" not in transcript  # people appear by name, never as raw Slack IDs

    assert png_size(run.file("trend.png").read_bytes()) == (1000, 500)
    for line in ("People: 16 physicians", "Groups: ", "Near-peer pairs: ", "Surveys answered: "):
        assert run.summary(line)
    assert f"wrote csv: {run.file('report.csv')}" in run.out


def test_the_summary_gives_the_burden_measured_from_the_record_it_wrote(small):
    run, database = small
    calls = recorded(run.output.parent / "calls.jsonl")
    dms = [c for c in calls if c.get("to")]
    assert dms and all(c["method"] in ("chat.postMessage", "files.completeUploadExternal") and c["tz"] for c in dms)
    engine = make_engine(f"sqlite:///{database}")
    with Session(engine) as session:
        members = list(session.exec(select(Member.slack_user_id).where(Member.consented_at.is_not(None))))
    engine.dispose()
    burden = measure(calls, physicians=members, start=START, weeks=8)
    assert burden.total_dms > 0
    assert run.summary("Burden per physician per week") == burden.lines()[0]
    assert run.summary("Busiest week") == burden.lines()[1]


def test_the_program_really_ran_through_the_flows(small):
    run, database = small
    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            joined = session.exec(select(Member).where(Member.consented_at.is_not(None))).all()  # type: ignore[union-attr]
            groups = session.exec(select(Group)).all()
            held = session.exec(select(GroupSession).where(GroupSession.status == "held")).all()
            rsvps = session.exec(select(SessionRsvp)).all()
            attendance = session.exec(select(SessionAttendance)).all()
            pairs = session.exec(select(Pair)).all()
            checkins = session.exec(select(PairCheckin).where(PairCheckin.answer != "")).all()
            surveys = session.exec(select(Survey)).all()
    finally:
        engine.dispose()
    assert f"People: 16 physicians in the workspace; {len(joined)} joined" in run.out
    assert 12 <= len(joined) <= 16 and all(m.status == "active" for m in joined)
    assert len(groups) >= 2 and all(g.status == "active" and g.lead_user_id and g.channel_id for g in groups)
    assert len(held) >= 2 * len(groups)  # 8 weeks: every group met at least twice
    assert rsvps and attendance and {a.attended for a in attendance} == {True, False}
    assert pairs and checkins
    answered = [s for s in surveys if s.status == "completed"]
    assert {s.kind for s in answered} == {"baseline", "pulse"}
    assert len(answered) < len(surveys)  # a few people let a check-in go


def test_the_admin_csv_holds_only_aggregates_over_enough_people(small):
    run, database = small
    rows = read_csv(run.file("report.csv"))
    overall = [r for r in rows if r["metric"] == "who5_mean" and r["breakdown"] == "overall"]
    assert len(overall) >= 2 and all(r["estimate"] for r in overall)
    for row in rows:
        if row["suppressed"] == "yes":
            assert row["estimate"] == row["ci_low"] == row["ci_high"] == ""
        else:
            assert int(row["respondents"]) >= MIN_GROUP, row
    text = run.file("report.csv").read_text(encoding="utf-8")
    assert not DEMO_USER_ID.search(text)
    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            names = [m.display_name for m in session.exec(select(Member))]
    finally:
        engine.dispose()
    assert names and not any(name in text for name in names)


def test_the_same_seed_gives_the_same_run(small, tmp_path):
    first, _ = small
    again = run_in_process(tmp_path / "again", *SMALL, "--quiet")
    assert again.status == 0, again.err
    assert again.file("transcript.txt").read_text(encoding="utf-8") == first.file("transcript.txt").read_text(encoding="utf-8")
    assert again.file("report.csv").read_bytes() == first.file("report.csv").read_bytes()
    summary = ("People:", "Groups:", "Near-peer pairs:", "Surveys answered:")
    assert [line for line in again.out.splitlines() if line.startswith(summary)] == \
        [line for line in first.out.splitlines() if line.startswith(summary)]


def test_a_database_that_already_holds_a_demo_is_refused(small, tmp_path):
    _, database = small
    run = run_in_process(tmp_path / "out", "--people", "4", "--weeks", "1", "--database-url", f"sqlite:///{database}")
    assert run.status == 2 and "already holds a demo run" in run.err


@pytest.mark.parametrize("argv, message", [
    (["--people", "1"], "--people must be between 2 and 200"),
    (["--weeks", "0"], "--weeks must be between 1 and 52"),
])
def test_out_of_range_options_are_refused_in_one_line(tmp_path, argv, message):
    run = run_in_process(tmp_path / "out", *argv)
    assert run.status == 2 and run.err.strip() == f"compass-bot: {message}"
    assert not (tmp_path / "out").exists()


# --- the command, as a real process -------------------------------------------------------------------------


def test_compass_bot_demo_runs_as_a_command_and_ignores_the_environment_and_dotenv(tmp_path):
    script = Path(sys.executable).with_name("compass-bot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    hostile = {"SLACK_BOT_TOKEN": "not-a-token", "SLACK_API_URL": "ftp://nowhere", "DATABASE_URL": "mysql://nope",
               "COMPASS_MIN_GROUP": "1", "SLACK_APP_TOKEN": "wrong"}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in hostile.items()), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_"))} | hostile
    done = subprocess.run([*command, "demo", "--people", "8", "--weeks", "2", "--seed", "5"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    output = tmp_path / "demo-output"
    transcript = (output / "transcript.txt").read_text(encoding="utf-8")
    assert done.stdout.startswith(transcript)  # the transcript is printed as it happens, then the summary
    assert "People: 8 physicians in the workspace" in done.stdout
    assert f"wrote transcript: demo-output{os.sep}transcript.txt" in done.stdout
    assert "progress: 100%" in done.stderr and "\x1b[" not in done.stderr  # no terminal: plain progress lines
    assert (output / "report.csv").stat().st_size > 0 and (output / "trend.png").read_bytes().startswith(PNG_SIGNATURE)


# --- the full-size default ----------------------------------------------------------------------------------


def assert_burden_targets(run: Run) -> None:
    """The program's promise to a physician's time (issue 15), read from the summary the demo printed."""
    dms = re.search(r"DMs median ([\d.]+), p90 [\d.]+, max [\d.]+; needing a tap median ([\d.]+)", run.out)
    busiest = re.search(r"Busiest week: (\d+) DMs .* DMs in quiet hours \(21:00–07:00 the reader's time\): (\d+) of", run.out)
    assert dms and busiest, run.out
    assert float(dms.group(1)) <= 1.0 and float(dms.group(2)) <= 1.0, run.out
    assert int(busiest.group(2)) == 0, run.out
    # The joining week no longer piles up (it was 4-5 DMs), and a lead's guide is the lead's day-before message.
    assert int(busiest.group(1)) <= 3, run.out


@pytest.mark.parametrize("seed", ["2", "3"])
def test_the_burden_targets_hold_for_other_seeds(tmp_path, seed):
    run = run_in_process(tmp_path / "out", "--quiet", "--seed", seed)
    assert run.status == 0, run.err
    assert_burden_targets(run)


def test_the_default_demo_runs_a_26_week_program_for_40_physicians(tmp_path):
    run = run_in_process(tmp_path / "out", "--quiet")
    assert run.status == 0, run.err
    assert_burden_targets(run)
    assert run.summary("People: ").startswith("People: 40 physicians in the workspace; ")
    groups, held = map(int, re.search(r"Groups: (\d+), with (\d+) sessions held", run.out).groups())
    assert groups >= 4 and held >= 10 * groups
    pulses = re.search(r"(\d+) of (\d+) pulses", run.out)
    assert pulses and 0 < int(pulses.group(1)) < int(pulses.group(2))
    # Most people's wellbeing improves over the program, so the chart and the CSV show a rising line.
    overall = [float(r["estimate"]) for r in read_csv(run.file("report.csv"))
               if r["metric"] == "who5_mean" and r["breakdown"] == "overall"]
    assert len(overall) == 6 and overall[-1] > overall[0]
    transcript = run.file("transcript.txt").read_text(encoding="utf-8")
    assert "── Week 26 · " in transcript and "Avery Admin → /compass report" in transcript

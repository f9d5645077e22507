"""The evaluation section of the admin report, read from the database (both backends)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

from sqlmodel import Session

from bot.flows.evaluation_report import evaluation_csv, evaluation_sentence, evaluation_text
from storage.db import session_scope
from storage.evaluation import sessions_held_and_planned, wave_answers
from storage.models import Group, GroupSession, Member, Survey, SurveyResponse
from storage.personal_data import erase_person
from storage.workspaces import ensure_workspace

T0 = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)
BURNOUT = {"baseline": [3, 2, 4, 1, 3, 2], "12m": [2, 2, 3, 1, 2, 2]}


def _seed(session: Session) -> None:
    ensure_workspace(session, team_id="T1")
    ensure_workspace(session, team_id="T2")
    for wave, values in BURNOUT.items():
        for i, value in enumerate(values):
            survey = Survey(team_id="T1", slack_user_id=f"U{i}", kind="followup" if wave != "baseline" else "baseline",
                            wave=wave, instruments="burnout", status="completed", sent_at=T0, completed_at=T0)
            session.add(survey)
            session.flush()
            session.add(SurveyResponse(survey_id=survey.id, team_id="T1", slack_user_id=f"U{i}", instrument="burnout",
                                       score=value, answered_at=T0))
    pulse = Survey(team_id="T1", slack_user_id="U0", kind="pulse", wave="pulse:1:1:2", instruments="burnout",
                   status="completed", sent_at=T0, completed_at=T0)
    other = Survey(team_id="T2", slack_user_id="U0", kind="baseline", wave="baseline", instruments="burnout",
                   status="completed", sent_at=T0, completed_at=T0)
    session.add(pulse)
    session.add(other)
    session.flush()
    session.add(SurveyResponse(survey_id=pulse.id, team_id="T1", slack_user_id="U0", instrument="burnout", score=5, answered_at=T0))
    session.add(SurveyResponse(survey_id=other.id, team_id="T2", slack_user_id="U0", instrument="burnout", score=5, answered_at=T0))
    group = Group(team_id="T1", name="G", status="active", created_at=T0, updated_at=T0)
    session.add(group)
    session.flush()
    for number, status in enumerate(["held"] * 10 + ["skipped", "cancelled", "scheduled"], start=1):
        session.add(GroupSession(group_id=group.id, number=number, starts_at=T0, local_date=date(2026, 1, 5), status=status))
    session.commit()


def test_wave_answers_read_only_baseline_and_follow_ups_of_the_workspace(engine):
    with Session(engine) as session:
        _seed(session)
        answers = wave_answers(session, team_id="T1")
        assert sorted((a.wave, a.user_id, a.value) for a in answers) == sorted(
            (wave, f"U{i}", float(v)) for wave, values in BURNOUT.items() for i, v in enumerate(values)
        )
        assert sessions_held_and_planned(session, team_id="T1") == (10, 12)


def test_the_report_section_opens_with_one_sentence_and_withholds_small_figures(engine):
    with Session(engine) as session:
        _seed(session)
        text = evaluation_text(session, team_id="T1", min_group=5)
    assert text.splitlines()[1] == (
        # Published as every figure is (bot.domain.publication.Coarsening): 6 people show as 5, 16.7% as 20%.
        "Among the 5 physicians who answered both at joining and at 12 months, the share burned out fell from 50% to 20% "
        "(the COMPASS trial saw a fall of 12.7 points in a year); 10 of 12 planned group sessions were held."
    )
    assert (  # every 12-month answer is in and nobody else is in the program: the wave closed with the last one
        "*12 months* (published once the wave closed on 2026-01-05): 5 people, 100% of the 5 who answered at joining.\n"
        "• Burnout: mean change -0.5 (95% CI -1.0 to +0.1), n = 5\n"
        "• Wellbeing (WHO-5): withheld (fewer than 5 answered)\n"
    ) in text
    assert "• Share burned out: 50% → 20% (-30.0 points); COMPASS trial at 12 months: -12.7 points (controls +1.9)\n" in text
    assert "*6 months*: the 6-month wave is still open (0 answered so far, rounded to 5); its figures are published once it closes." in text
    assert "no control group" in text


def test_a_wave_published_under_a_higher_threshold_withholds_small_figures(engine):
    with Session(engine) as session:
        _seed(session)
        strict = evaluation_text(session, team_id="T1", min_group=7)
    assert "50%" not in strict and "mean change" not in strict and "at least 7 are needed" in strict


def test_the_funnel_and_each_groups_fidelity_come_from_members_sessions_and_attendance(engine):
    from storage.models import GroupMember, Member, SessionAttendance

    now = datetime(2027, 3, 1, tzinfo=timezone.utc)
    long_ago, recently = datetime(2026, 1, 5, tzinfo=timezone.utc), datetime(2027, 1, 5, tzinfo=timezone.utc)
    with Session(engine) as session:
        ensure_workspace(session, team_id="T1")
        for i in range(9):  # 9 invited; 7 joined (6 long ago, 1 recently); 1 of those left
            consented = None if i >= 7 else (recently if i == 6 else long_ago)
            status = "invited" if consented is None else ("left" if i == 5 else "active")
            session.add(Member(team_id="T1", slack_user_id=f"U{i}", status=status, consented_at=consented,
                               created_at=long_ago, updated_at=long_ago))
        group = Group(team_id="T1", name="Residents A", status="active", created_at=T0, updated_at=T0)
        session.add(group)
        session.flush()
        for i in range(6):
            session.add(GroupMember(group_id=group.id, team_id="T1", slack_user_id=f"U{i}", joined_at=T0))
        for number in range(1, 8):  # 7 sessions held: U0-U4 at every one, U5 at the first only
            held = GroupSession(group_id=group.id, number=number, starts_at=T0, local_date=date(2026, 1, 5), status="held",
                                topic_slug="three-good-things" if number > 1 else "introductions-what-brought-us-here")
            session.add(held)
            session.flush()
            for i in range(6):
                session.add(SessionAttendance(session_id=held.id, slack_user_id=f"U{i}", attended=i < 5 or number == 1,
                                              answered_at=T0))
        session.add(GroupSession(group_id=group.id, number=8, starts_at=T0, local_date=date(2026, 1, 5), status="scheduled"))
        session.commit()
        from bot.domain.curriculum import load_catalogue

        text = evaluation_text(session, team_id="T1", min_group=5, topics=load_catalogue(), now=now)
    assert "• Invited: 9\n• Joined: 7\n• Attended at least one session: 6\n• Attended at least six sessions: 5\n" in text
    assert "• Still active at 6 months: 5\n• Still active at 12 months: 5" in text  # U5 left; U6 joined 2 months ago
    assert ("• Residents A: 7 of 8 sessions held, 6 members, median attendance 5; "
            "topics: Who we are and what brought us here, Three good things") in text


def test_the_admins_home_opens_with_the_same_sentence(engine):
    from bot.flows.evaluation_report import evaluation_sentence

    with Session(engine) as session:
        _seed(session)
        sentence = evaluation_sentence(session, team_id="T1", min_group=5)
        text = evaluation_text(session, team_id="T1", min_group=5)
    assert sentence.startswith("Among the 5 physicians who answered both at joining and at 12 months")
    assert text.splitlines()[1] == sentence


def test_the_evaluation_csv_holds_the_same_figures_and_marks_withheld_ones(engine):
    import csv
    import io

    from bot.flows.evaluation_report import evaluation_csv

    with Session(engine) as session:
        _seed(session)
        rows = list(csv.DictReader(io.StringIO(evaluation_csv(session, team_id="T1", min_group=5,
                                                              now=datetime(2027, 3, 1, tzinfo=timezone.utc)))))
    by_key = {(r["measure"], r["wave"]): r for r in rows}
    burnout = by_key[("burnout_mean_change", "12m")]
    assert (burnout["n"], burnout["value"], burnout["suppressed"]) == ("5", "-0.48", "no")  # coarsened, as published
    change = by_key[("burnout_share_change_points", "12m")]
    assert change["value"] == "-30" and (change["compass_12m"], change["control_12m"]) == ("-12.7", "1.9")
    withheld = by_key[("who5_mean_change", "12m")]
    assert (withheld["n"], withheld["value"], withheld["suppressed"]) == ("", "", "yes")
    assert by_key[("wave_closed_on", "12m")]["value"] == "2026-01-05"
    assert by_key[("answered_so_far_rounded", "6m")]["n"] == "0" and ("response_rate_percent", "6m") not in by_key
    assert by_key[("G: sessions held", "")]["value"] == "10"


def test_cli_report_writes_the_evaluation_csv(engine, database_url, tmp_path, monkeypatch, capsys):
    from bot.cli import main

    with Session(engine) as session:
        _seed(session)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["report", "--team", "T1", "--evaluation-csv", "evaluation.csv"]) == 0
    assert "wrote EVALUATION CSV to evaluation.csv" in capsys.readouterr().out
    text = (tmp_path / "evaluation.csv").read_text(encoding="utf-8")
    assert text.startswith("section,measure,wave,n,value,ci_low,ci_high,compass_12m,control_12m,suppressed\n")
    assert "paired_cohort,burnout_mean_change,12m,5,-0.48,-1.04,0.08," in text  # coarsened, as published


# ---------------------------------------------------------------- waves published once closed, then as recorded

JOINED = datetime(2025, 1, 6, 9, tzinfo=timezone.utc)
BASELINE = {"U0": 5, "U1": 2, "U2": 4, "U3": 1, "U4": 3, "U5": 2, "U6": 3}
AT_12M = {"U0": 1, "U1": 2, "U2": 3, "U3": 1, "U4": 2, "U5": 2, "U6": 3}
ANSWERED_12M = JOINED + timedelta(days=368)


def _answer(session: Session, user_id: str, wave: str, value: int, when: datetime) -> None:
    survey = Survey(team_id="T1", slack_user_id=user_id, kind="baseline" if wave == "baseline" else "followup", wave=wave,
                    instruments="burnout", status="completed", sent_at=when, completed_at=when)
    session.add(survey)
    session.flush()
    session.add(SurveyResponse(survey_id=survey.id, team_id="T1", slack_user_id=user_id, instrument="burnout", score=value,
                               answered_at=when))


def _program(engine, *, answering_12m: list[str]) -> None:  # noqa: ANN001
    """Seven members who joined together, each with a baseline; those named answered at 12 months."""
    with session_scope(engine) as session:
        ensure_workspace(session, team_id="T1")
        for user_id, value in BASELINE.items():
            session.add(Member(team_id="T1", slack_user_id=user_id, status="active", consented_at=JOINED, created_at=JOINED,
                               updated_at=JOINED))
            _answer(session, user_id, "baseline", value, JOINED + timedelta(days=1))
        for user_id in answering_12m:
            _answer(session, user_id, "12m", AT_12M[user_id], ANSWERED_12M)


def _wave_rows(engine, now: datetime) -> list[dict]:  # noqa: ANN001
    with Session(engine) as session:
        rows = csv.DictReader(io.StringIO(evaluation_csv(session, team_id="T1", min_group=5, now=now)))
        return [row for row in rows if row["section"] == "paired_cohort" and row["wave"] == "12m"]


def test_no_figure_of_a_wave_shows_before_it_closes(engine):
    _program(engine, answering_12m=[f"U{i}" for i in range(6)])  # U6 can still answer until 74 days past their due date
    closes = JOINED + timedelta(days=365 + 74)
    with Session(engine) as session:
        text = evaluation_text(session, team_id="T1", min_group=5, now=closes - timedelta(days=1))
        sentence = evaluation_sentence(session, team_id="T1", min_group=5, now=closes - timedelta(days=1))
    assert ("*12 months*: the 12-month wave is still open (5 answered so far, rounded to 5); its figures are published "
            f"once it closes, on {closes.date().isoformat()} at the earliest.") in text
    assert "mean change" not in text and "→" not in text and "Among the" not in sentence
    assert [(r["measure"], r["n"], r["value"]) for r in _wave_rows(engine, closes - timedelta(days=1))] == [
        ("answered_so_far_rounded", "5", "5")]

    published = _wave_rows(engine, closes)
    assert published[0]["measure"] == "wave_closed_on" and published[0]["value"] == closes.date().isoformat()
    burnout = next(r for r in published if r["measure"] == "burnout_mean_change")
    assert burnout["n"] == "5" and burnout["suppressed"] == "no"
    with session_scope(engine) as session:  # an answer after the wave closed revises nothing
        _answer(session, "U6", "12m", 1, closes + timedelta(days=1))
    assert _wave_rows(engine, closes + timedelta(days=30)) == published


def test_a_forget_me_after_the_wave_closed_leaves_its_figures_as_published(engine):
    _program(engine, answering_12m=list(AT_12M))  # everyone answered: the wave closed with the last answer
    after = ANSWERED_12M + timedelta(days=1)
    before_erasure = _wave_rows(engine, after)
    assert next(r for r in before_erasure if r["measure"] == "burnout_mean_change")["value"] == "-0.88"
    with Session(engine) as session:
        sentence = evaluation_sentence(session, team_id="T1", min_group=5, now=after)
    with session_scope(engine) as session:
        erase_person(session, team_id="T1", user_id="U0")  # the one whose burnout fell by 4
    assert _wave_rows(engine, after + timedelta(days=1)) == before_erasure
    with Session(engine) as session:
        assert evaluation_sentence(session, team_id="T1", min_group=5, now=after + timedelta(days=1)) == sentence


def test_a_wave_closes_only_after_the_last_follow_up_can_have_been_answered():
    from bot.domain.evaluation import FOLLOWUP_DUE, LAST_ANSWER_AFTER_DUE
    from bot.flows.enrolment import FOLLOWUP_WAVES
    from bot.flows.pulse import OPEN_FOR, WAVE_WINDOW

    assert dict(FOLLOWUP_WAVES) == FOLLOWUP_DUE
    assert LAST_ANSWER_AFTER_DUE == WAVE_WINDOW + OPEN_FOR["followup"]

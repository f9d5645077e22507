"""The evaluation section of the admin report, read from the database (both backends)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlmodel import Session

from bot.flows.evaluation_report import evaluation_text
from storage.evaluation import sessions_held_and_planned, wave_answers
from storage.models import Group, GroupSession, Survey, SurveyResponse
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
        strict = evaluation_text(session, team_id="T1", min_group=7)
    assert text.splitlines()[1] == (
        # Published as every figure is (bot.domain.publication.Coarsening): 6 people show as 5, 16.7% as 20%.
        "Among the 5 physicians who answered both at joining and at 12 months, the share burned out fell from 50% to 20% "
        "(the COMPASS trial saw a fall of 12.7 points in a year); 10 of 12 planned group sessions were held."
    )
    assert (
        "*12 months*: 5 people, 100% of the 5 who answered at joining.\n"
        "• Burnout: mean change -0.5 (95% CI -1.0 to +0.1), n = 5\n"
        "• Wellbeing (WHO-5): withheld (fewer than 5 answered)\n"
    ) in text
    assert "• Share burned out: 50% → 20% (-30.0 points); COMPASS trial at 12 months: -12.7 points (controls +1.9)\n" in text
    assert "*6 months*: fewer than 5 people answered both at joining and at 6 months, so no figure is shown." in text
    assert "no control group" in text
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
    assert by_key[("response_rate_percent", "6m")]["suppressed"] == "yes"
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

"""Change from baseline is reported for one fixed paired cohort: the people whose baseline fell in
the program's first month of answers, counted in each later month they answered."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlmodel import Session

from storage.reports import exact_trend_report, forget_remembered_reports
from tests.conftest import TEAM_ID
from tests.test_admin_report_flow import seed_answers, seed_people


def test_change_from_baseline_counts_only_the_fixed_paired_cohort(engine):
    cohort = {f"UCOH{i}": ("Medicine", "PGY-2") for i in range(6)}
    newcomer = {"UNEW0": ("Medicine", "PGY-2")}
    seed_people(engine, cohort | newcomer)
    answers = []
    for index, user in enumerate(cohort):
        answers.append((user, datetime(2026, 1, 10, 12, tzinfo=timezone.utc), "who5", 40 + 4 * index))
        answers.append((user, datetime(2026, 3, 10, 12, tzinfo=timezone.utc), "who5", 48 + 4 * index))
    # Baseline in February, after the program's first month: never part of the paired cohort.
    answers.append(("UNEW0", datetime(2026, 2, 10, 12, tzinfo=timezone.utc), "who5", 20))
    answers.append(("UNEW0", datetime(2026, 3, 10, 12, tzinfo=timezone.utc), "who5", 100))
    seed_answers(engine, answers)

    forget_remembered_reports()
    with Session(engine) as session:
        report = exact_trend_report(session, team_id=TEAM_ID, min_group=5)
    march_change = report.cell("who5_change", date(2026, 3, 1))
    assert (march_change.respondents, march_change.estimate) == (6, 8.0)  # the cohort's +8 each, without the newcomer's +80
    march_mean = report.cell("who5_mean", date(2026, 3, 1))
    assert march_mean.respondents == 7  # the mean still counts everyone who answered
    assert report.cell("who5_change", date(2026, 2, 1)) is None or report.cell("who5_change", date(2026, 2, 1)).suppressed

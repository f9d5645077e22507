"""End to end: /compass report, the admin's App Home, the chart, the CSV, the CLI and the SQL aggregation."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import statistics
import struct
import zlib
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from bot.domain.charts import PNG_SIGNATURE
from bot.domain.trends import DEFAULT_METRICS, OVERALL_LABEL, WHO5_CHANGE, PulseRow, build_trend_report, career_stage_band, month_of
from storage.db import session_scope
from storage.models import AuditEntry, Group, GroupMember, GroupSession, Member, SessionAttendance, Survey, SurveyResponse
from storage.reports import exact_trend_report, program_summary, trend_report
from storage.workspaces import ensure_workspace
from tests.conftest import ADMIN_ID, TEAM_ID
from tests.support.clock import frozen
from tests.support.waiting import eventually

MIN_GROUP = 5
NOW = "2026-03-02 15:00:00"


# ---------------------------------------------------------------- seeding a program (shared with the privacy tests)


def items_for(instrument: str, value: int) -> list[int]:
    """Item answers that score ``value`` (WHO-5 reports the raw sum x 4)."""
    if instrument == "who5":
        whole, extra = divmod(value // 4, 5)
        return [whole + 1] * extra + [whole] * (5 - extra)
    if instrument == "phq2":
        return [value - value // 2, value // 2]
    return [value]


def seed_people(engine, people: dict[str, tuple[str, str]], *, cohort: str = "2025-fall", enrolled: datetime | None = None) -> None:  # noqa: ANN001
    """people: {user: (department, career stage)}; all consented, in groups of 8 of one cohort."""
    enrolled = enrolled or datetime(2025, 10, 1, tzinfo=timezone.utc)
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM_ID)
        group = None
        for index, (user_id, (department, stage)) in enumerate(people.items()):
            session.add(Member(team_id=TEAM_ID, slack_user_id=user_id, department=department, career_stage=stage,
                               status="active", invited_at=enrolled, consented_at=enrolled, created_at=enrolled, updated_at=enrolled))
            if index % 8 == 0:
                group = Group(team_id=TEAM_ID, name=f"Group {index // 8 + 1}", cohort=cohort, status="active",
                              created_at=enrolled, updated_at=enrolled)
                session.add(group)
                session.flush()
            session.add(GroupMember(group_id=group.id, team_id=TEAM_ID, slack_user_id=user_id, joined_at=enrolled))


def seed_answers(engine, answers: list[tuple[str, datetime, str, int]], *, wave: str = "seed") -> None:  # noqa: ANN001
    """answers: (user, when, instrument, value), each in its own completed survey."""
    with session_scope(engine) as session:
        for number, (user_id, when, instrument, value) in enumerate(answers):
            survey = Survey(team_id=TEAM_ID, slack_user_id=user_id, kind="pulse", wave=f"{wave}:{number}", instruments=instrument,
                            status="completed", sent_at=when, completed_at=when)
            session.add(survey)
            session.flush()
            session.add(SurveyResponse(survey_id=survey.id, team_id=TEAM_ID, slack_user_id=user_id, instrument=instrument,
                                       answers=json.dumps(items_for(instrument, value)), score=float(value), flags="[]",
                                       answered_at=when))


def small_department_program(engine) -> dict[str, tuple[str, str]]:  # noqa: ANN001
    """12 in Medicine, 7 in Surgery, 2 in Dermatology; WHO-5 and burnout in January and February 2026."""
    people = {f"U1MED{i:02d}": ("Medicine", "PGY-2") for i in range(12)}
    people |= {f"U2SUR{i:02d}": ("Surgery", "ATTENDING-8") for i in range(7)}
    people |= {f"U3DER{i:02d}": ("Dermatology", "ATTENDING-20") for i in range(2)}
    seed_people(engine, people)
    answers = []
    for index, user_id in enumerate(people):
        for month, shift in ((1, 0), (2, 8)):
            when = datetime(2026, month, 10 + index % 10, 18, tzinfo=timezone.utc)
            answers.append((user_id, when, "who5", 40 + 4 * (index % 6) + shift))
            answers.append((user_id, when, "burnout", 1 + (index + month) % 5))
    seed_answers(engine, answers)
    return people


# ---------------------------------------------------------------- PNG


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png.startswith(PNG_SIGNATURE)
    offset, chunks = len(PNG_SIGNATURE), []
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset:offset + 4])
        kind, data = png[offset + 4:offset + 8], png[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length:offset + 12 + length])
        assert crc == zlib.crc32(kind + data), f"bad CRC in {kind!r}"
        chunks.append((kind, data))
        offset += 12 + length
    return chunks


def report_upload(standin, suffix: str, prefix: str = "") -> dict:  # noqa: ANN001
    return eventually(lambda: [f for f in standin.files if f["filename"].endswith(suffix) and f["filename"].startswith(prefix)])[-1]


def shown_counts(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"n=(\d+)", text)]


# ---------------------------------------------------------------- the report in Slack


def test_report_goes_to_the_admins_dm_with_a_chart_and_a_csv(slack, standin, engine, responses):
    with frozen(NOW):
        small_department_program(engine)
        general = standin.add_channel("general", members=[ADMIN_ID, standin.bot_user_id])
        slack.command(ADMIN_ID, "report", channel_id=general)
        reply = eventually(lambda: responses.messages(slack.last_response_url))[-1]
        assert reply["response_type"] == "ephemeral" and "sent the program report" in reply["text"]
        csv_file = report_upload(standin, ".csv", prefix="compass-report-")
        png_file = report_upload(standin, ".png")
        evaluation_file = report_upload(standin, ".csv", prefix="compass-evaluation-")
    dm = standin.dm_channel(ADMIN_ID)
    assert csv_file["channels"] == [dm] and png_file["channels"] == [dm] and evaluation_file["channels"] == [dm]
    # The chart and both CSVs in one upload: one notification, not three (issue 15).
    assert len(standin.calls_to("files.completeUploadExternal")) == 1
    assert standin.messages(general) == []  # nothing lands where the command was typed

    report_message = next(m for m in standin.dm_messages(ADMIN_ID) if "Compass program report" in m["text"])
    text = json.dumps(report_message["blocks"])
    assert "Enrolled *21* of 21 reached (100%)" in text
    assert "Retention: 6 months *not yet*" in text
    assert "Mean WHO-5 (0-100)" in text and "Feb 2026" in text and "% burnout (3 or more)" in text
    assert shown_counts(text) and min(shown_counts(text)) >= MIN_GROUP
    assert "WHO-5 change from baseline" not in text and "in the program evaluation above" in text
    assert "Dermatology" not in text  # a breakdown row that can never be shown is left out, not listed as hidden

    chunks = png_chunks(png_file["content"])
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND" and len(png_file["content"]) > 10_000
    rows = list(csv.DictReader(io.StringIO(csv_file["content"].decode("utf-8"))))
    assert rows and {r["metric"] for r in rows} == {"who5_mean", "burnout_pct"}  # change from baseline: evaluation only
    for row in rows:
        assert row["suppressed"] == "yes" or int(row["respondents"]) >= MIN_GROUP
    assert all(r["suppressed"] == "yes" for r in rows if r["department"] == "Dermatology")

    with Session(engine) as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "report_sent")).all()
    detail = json.loads(entry.detail)
    assert entry.actor_id == ADMIN_ID and detail["where"] == "dm"
    assert detail["chart_file"] == png_file["id"] and detail["csv_file"] == csv_file["id"]


def test_admin_home_shows_the_figures_and_the_last_chart_as_an_image(slack, standin, engine, responses):
    with frozen(NOW):
        small_department_program(engine)
        slack.command(ADMIN_ID, "report")
        eventually(lambda: responses.messages(slack.last_response_url))
        png_file = report_upload(standin, ".png")
        home = eventually(lambda: (v := standin.home_view(ADMIN_ID)) and any(b["type"] == "image" for b in v["blocks"]) and v)
    image = next(b for b in home["blocks"] if b["type"] == "image")
    assert image["slack_file"] == {"id": png_file["id"]} and image["alt_text"]
    text = json.dumps(home["blocks"])
    assert "Program report" in text and "Feb 2026" in text and "Send me the full report" in text
    assert min(shown_counts(text)) >= MIN_GROUP
    with Session(engine) as session:
        viewed = session.exec(select(AuditEntry).where(AuditEntry.action == "admin_report_home_viewed")).all()
    assert viewed and all(entry.actor_id == ADMIN_ID for entry in viewed)

    with frozen(NOW):  # the Home button sends a fresh report
        slack.action(ADMIN_ID, "admin_report_send", "send")
        eventually(lambda: any("sent the program report" in m["text"] for m in standin.dm_messages(ADMIN_ID)))
    assert len([f for f in standin.files if f["filename"].startswith("compass-report-")]) == 2


def test_home_leaves_out_a_chart_slack_no_longer_has(standin, engine, services):
    from bot.flows.admin_report import admin_home_section

    small_department_program(engine)
    with session_scope(engine) as session:
        session.add(AuditEntry(at=datetime.now(timezone.utc), team_id=TEAM_ID, actor_id=ADMIN_ID, action="report_sent",
                               detail=json.dumps({"chart_file": "F0DELETED", "as_of": "2026-03-01"})))
    with Session(engine) as session:
        blocks = [block.to_dict() for block in admin_home_section(services, session, team_id=TEAM_ID, user_id=ADMIN_ID)]
    assert "Program report" in json.dumps(blocks) and not any(block["type"] == "image" for block in blocks)
    assert standin.calls_to("files.info")[-1].args["file"] == "F0DELETED"


def test_a_slack_failure_is_a_kind_reply_and_exports_nothing(slack, standin, engine, responses):
    with frozen(NOW):
        small_department_program(engine)
        standin.inject("conversations.open", error="missing_scope")
        slack.command(ADMIN_ID, "report")
        reply = eventually(lambda: responses.messages(slack.last_response_url))[-1]
    assert "missing a Slack permission" in reply["text"]
    assert standin.files == []
    with Session(engine) as session:
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "report_sent")).all() == []


# ---------------------------------------------------------------- the chart and the numbers behind it


def test_chart_plots_the_monthly_means_of_all_respondents(engine):
    from bot.domain.charts import trend_chart

    small_department_program(engine)
    with Session(engine) as session:
        report = trend_report(session, team_id=TEAM_ID, min_group=MIN_GROUP)
    chart = trend_chart(report, "who5_mean")
    values = {1: [40 + 4 * (i % 6) for i in range(21)], 2: [48 + 4 * (i % 6) for i in range(21)]}
    # As published: a whole point for 21 respondents (bot.domain.publication.Coarsening).
    expected = [(date(2026, m, 1), pytest.approx(round(statistics.fmean(values[m])))) for m in (1, 2)]
    assert chart.series == {OVERALL_LABEL: expected}
    (width, height) = struct.unpack(">II", png_chunks(chart.png)[0][1][:8])
    assert (width, height) == (1000, 500)


def test_change_from_baseline_is_published_monthly_only_by_a_build_that_asks_for_it(engine):
    """Each month's change sums that month's respondents' baselines, the unknowns months share: the
    report leaves it to the evaluation's paired cohort. A weakened build can still publish it."""
    small_department_program(engine)
    with Session(engine) as session:
        weakened = trend_report(session, team_id=TEAM_ID, min_group=MIN_GROUP, metrics=WITH_CHANGE, as_of=date(2026, 3, 2))
    changes = [cell for cell in weakened.cells if cell.metric == "who5_change" and not cell.suppressed]
    assert changes and all(cell.table == () for cell in changes)  # the overall row only (Coarsening.change_tables)

    with Session(engine) as session:  # the default build shows no change, not even what the ledger holds
        published = trend_report(session, team_id=TEAM_ID, min_group=MIN_GROUP, as_of=date(2026, 3, 2))
    assert [metric.id for metric in published.metrics] == [metric.id for metric in DEFAULT_METRICS]
    assert published.cells and "who5_change" not in {cell.metric for cell in published.cells}


# Every metric the summaries can compute, the change from baseline included: the SQL path must
# match the domain for a build that publishes it, too.
WITH_CHANGE = (*DEFAULT_METRICS, WHO5_CHANGE)


def test_sql_aggregation_matches_the_domain_report_over_every_answer(engine):
    """The SQL path must publish exactly what bot.domain.trends computes from one row per answer."""
    rng = random.Random(7)
    stages = ["PGY-1", "PGY-3", "ATTENDING-2", "ATTENDING-9", "ATTENDING-30", ""]
    departments = ["Medicine", "Surgery", "Pediatrics", "Dermatology", ""]
    people = {f"U{i:04d}": (rng.choice(departments), rng.choice(stages)) for i in range(60)}
    seed_people(engine, people)
    answers = []
    for user_id in people:
        for _ in range(rng.randint(1, 7)):
            when = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=rng.randint(0, 80), hours=rng.randint(0, 23))
            answers.append((user_id, when, "who5", 4 * rng.randint(0, 25)))
            answers.append((user_id, when, "burnout", rng.randint(1, 5)))
            if rng.random() < 0.3:
                answers.append((user_id, when, "phq2", rng.randint(0, 6)))
                answers.append((user_id, when, "intent_to_leave", rng.randint(1, 5)))
    seed_answers(engine, answers)

    with Session(engine) as session:
        from_sql = exact_trend_report(session, team_id=TEAM_ID, min_group=MIN_GROUP, metrics=WITH_CHANGE)
    first: dict[tuple[str, str], tuple[date, int]] = {}
    for user_id, when, instrument, value in answers:
        key = (when.date(), value)
        first[(user_id, instrument)] = min(first.get((user_id, instrument), key), key)
    rows = [
        PulseRow(user_id, when.date(), instrument, value,
                 {"cohort": "2025-fall", "department": people[user_id][0], "career_stage": career_stage_band(people[user_id][1])},
                 baseline_value=None if first[(user_id, instrument)] == (when.date(), value) else first[(user_id, instrument)][1])
        for user_id, when, instrument, value in answers
    ]
    from_rows = build_trend_report(rows, min_group=MIN_GROUP, metrics=WITH_CHANGE)
    assert (from_sql.months, from_sql.tables, from_sql.metrics) == (from_rows.months, from_rows.tables, from_rows.metrics)
    assert len(from_sql.cells) == len(from_rows.cells)
    assert any(cell.suppressed for cell in from_sql.cells) and any(not cell.suppressed for cell in from_sql.cells)
    for ours, theirs in zip(from_sql.cells, from_rows.cells):
        assert (ours.metric, ours.month, ours.table, ours.key, ours.suppressed, ours.respondents) == \
               (theirs.metric, theirs.month, theirs.table, theirs.key, theirs.suppressed, theirs.respondents)
        if not ours.suppressed:
            assert (ours.estimate, ours.ci_low, ours.ci_high) == pytest.approx((theirs.estimate, theirs.ci_low, theirs.ci_high), abs=1e-9)
    assert month_of(date(2026, 3, 20)) in from_sql.months


def domain_report(people: dict[str, tuple[str, str]], answers: list[tuple[str, datetime, str, int]]):  # noqa: ANN201
    """bot.domain.trends over one row per answer, everyone in the 2025-fall cohort."""
    first: dict[tuple[str, str], tuple[date, int]] = {}
    for user_id, when, instrument, value in answers:
        first[(user_id, instrument)] = min(first.get((user_id, instrument), (when.date(), value)), (when.date(), value))
    return build_trend_report([
        PulseRow(user_id, when.date(), instrument, value,
                 {"cohort": "2025-fall", "department": people[user_id][0], "career_stage": career_stage_band(people[user_id][1])},
                 baseline_value=None if first[(user_id, instrument)] == (when.date(), value) else first[(user_id, instrument)][1])
        for user_id, when, instrument, value in answers
    ], min_group=MIN_GROUP, metrics=WITH_CHANGE)


def test_the_kept_summaries_still_match_the_domain_report_after_answers_and_a_profile_change(engine):
    """Views keep sums per month and redo only what changed; the published cells must stay
    exactly those bot.domain.trends computes from every answer."""
    rng = random.Random(3)
    people = {f"U{i:04d}": (rng.choice(["Medicine", "Surgery", "Pediatrics"]), rng.choice(["PGY-2", "ATTENDING-4"])) for i in range(45)}
    seed_people(engine, people)
    april = datetime(2026, 4, 1, 9, tzinfo=timezone.utc)
    answers = [(user_id, datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=rng.randint(0, 110), hours=rng.randint(0, 23)),
                instrument, 4 * rng.randint(0, 25) if instrument == "who5" else rng.randint(1, 5))
               for user_id in people if user_id != "U0044" for instrument in ("who5", "burnout") for _ in range(rng.randint(1, 5))]
    answers += [("U0044", april + timedelta(days=4), "who5", 40), ("U0044", april + timedelta(days=14), "who5", 44)]
    seed_answers(engine, answers)
    with Session(engine) as session:
        assert_same_cells(exact_trend_report(session, team_id=TEAM_ID, min_group=MIN_GROUP, metrics=WITH_CHANGE), domain_report(people, answers))

    # New answers in April, a late one in March that becomes U0044's baseline (so April changes
    # through it), and U0007 moving department (so January and February move them).
    later = [(user_id, april + timedelta(days=25), "who5", 88) for user_id in list(people)[:20]]
    later.append(("U0044", datetime(2026, 3, 31, 23, 30, tzinfo=timezone.utc), "who5", 4))
    seed_answers(engine, later, wave="later")
    with session_scope(engine) as session:
        member = session.exec(select(Member).where(Member.slack_user_id == "U0007")).one()
        member.department = "Dermatology"
        session.add(member)
    people["U0007"] = ("Dermatology", people["U0007"][1])
    with Session(engine) as session:
        assert_same_cells(exact_trend_report(session, team_id=TEAM_ID, min_group=MIN_GROUP, metrics=WITH_CHANGE), domain_report(people, answers + later))


def assert_same_cells(ours, theirs) -> None:  # noqa: ANN001
    assert (ours.months, len(ours.cells)) == (theirs.months, len(theirs.cells))
    assert any(cell.suppressed for cell in ours.cells) and any(not cell.suppressed for cell in ours.cells)
    for mine, reference in zip(ours.cells, theirs.cells):
        assert (mine.metric, mine.month, mine.table, mine.key, mine.suppressed, mine.respondents) == \
               (reference.metric, reference.month, reference.table, reference.key, reference.suppressed, reference.respondents)
        if not mine.suppressed:
            assert (mine.estimate, mine.ci_low, mine.ci_high) == pytest.approx((reference.estimate, reference.ci_low, reference.ci_high), abs=1e-9)


def test_program_summary_counts_enrolment_attendance_and_retention(engine):
    start = datetime(2025, 1, 6, tzinfo=timezone.utc)
    seed_people(engine, {f"U{i:02d}": ("Medicine", "PGY-2") for i in range(8)}, enrolled=start)
    with session_scope(engine) as session:
        for user_id, status in (("U06", "left"), ("U07", "paused")):
            member = session.exec(select(Member).where(Member.slack_user_id == user_id)).one()
            member.status, member.left_at = status, (start + timedelta(days=200) if status == "left" else None)
        late = start + timedelta(days=300)
        session.add(Member(team_id=TEAM_ID, slack_user_id="U0INVITED", status="invited", invited_at=start, created_at=start, updated_at=start))
        session.add(Member(team_id=TEAM_ID, slack_user_id="U0LATE", status="active", consented_at=late, created_at=late, updated_at=late))
        group_id = session.exec(select(Group.id)).one()
        for number, attended in ((1, 6), (2, 8)):
            held = GroupSession(group_id=group_id, cycle=1, number=number, starts_at=start + timedelta(days=14 * number),
                                local_date=(start + timedelta(days=14 * number)).date(), status="held")
            session.add(held)
            session.flush()
            for index in range(8):
                session.add(SessionAttendance(session_id=held.id, slack_user_id=f"U{index:02d}", attended=index < attended,
                                              answered_at=held.starts_at))
        session.add(GroupSession(group_id=group_id, cycle=1, number=3, starts_at=start + timedelta(days=42),
                                 local_date=(start + timedelta(days=42)).date(), status="scheduled"))
    with Session(engine) as session:
        summary = program_summary(session, team_id=TEAM_ID, as_of=date(2026, 3, 1))
    assert (summary.invited, summary.enrolled, summary.active, summary.groups, summary.sessions_held) == (10, 9, 8, 1, 2)
    assert (summary.attendance.numerator, summary.attendance.denominator) == (14, 16)
    assert (summary.retention_6_months.numerator, summary.retention_6_months.denominator) == (8, 8)  # U06 left after 6 months
    assert (summary.retention_12_months.numerator, summary.retention_12_months.denominator) == (7, 8)
    assert (summary.participation.numerator, summary.participation.denominator) == (9, 10)


# ---------------------------------------------------------------- the command line


def test_cli_report_writes_the_same_csv_and_a_chart_and_is_audited(engine, database_url, tmp_path, monkeypatch, capsys):
    from bot.cli import main

    small_department_program(engine)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["report", "--csv", "out.csv", "--png", "out.png"]) == 0
    printed = capsys.readouterr().out
    assert "Enrolled 21 of 21 reached" in printed and "wrote CSV to out.csv" in printed
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert all(r["suppressed"] == "yes" for r in rows if r["department"] == "Dermatology")
    png_chunks((tmp_path / "out.png").read_bytes())
    with Session(engine) as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "report_exported")).all()
    assert entry.actor_id == "cli" and json.loads(entry.detail)["csv"] == "out.csv"
    assert main(["report", "--team", "T0NOPE"]) == 2

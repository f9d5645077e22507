import csv
import io
import random
import statistics
from datetime import date

import pytest
from scipy import stats

from bot.domain.trends import (
    CSV_COLUMNS,
    DEFAULT_METRICS,
    WHO5_CHANGE,
    DEFAULT_TABLES,
    OVERALL_LABEL,
    Membership,
    Metric,
    PulseRow,
    SessionRecord,
    build_trend_report,
    career_stage_band,
    mean_interval,
    report_csv,
    summarise_program,
    t_quantile,
    wilson_interval,
)
from tests.test_privacy import LinearAttacker

MARCH, APRIL = date(2025, 3, 1), date(2025, 4, 1)
DIMS = ("cohort", "department", "career_stage")


def segment(department, stage="Trainee", cohort="2025-spring"):
    return {"cohort": cohort, "department": department, "career_stage": stage}


def who5_rows(people, day=date(2025, 3, 10), baseline=None):
    """people: {person_key: (department, stage, value)}"""
    return [
        PulseRow(key, day, "who5", value, segment(dept, stage), baseline_value=baseline.get(key) if baseline else None)
        for key, (dept, stage, value) in people.items()
    ]


def overall(report, metric, month=MARCH):
    return report.cell(metric, month)


# ---------------------------------------------------------------- statistics


def test_wilson_interval_matches_the_textbook_value():
    low, high = wilson_interval(3, 10)
    assert low == pytest.approx(0.1078, abs=1e-4) and high == pytest.approx(0.6032, abs=1e-4)
    assert wilson_interval(0, 8)[0] == 0.0 and wilson_interval(8, 8)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 0)


def test_mean_interval_uses_the_t_distribution():
    mean, low, high = mean_interval([1, 2, 3, 4, 5])
    # t(0.975, 4) = 2.776445; sd = 1.581139; half width = 2.776445 * 1.581139 / sqrt(5) = 1.963243
    assert mean == 3 and low == pytest.approx(1.036757, abs=1e-6) and high == pytest.approx(4.963243, abs=1e-6)
    with pytest.raises(ValueError):
        mean_interval([4])


def test_t_quantile_matches_scipy_for_every_sample_size():
    from scipy.special import stdtrit

    for df in [*range(1, 2101), 5_000, 10_000, 123_457, 10**6]:
        assert t_quantile(df) == pytest.approx(float(stdtrit(df, 0.975)), rel=1e-11), df


def test_t_quantile_needs_whole_degrees_of_freedom():
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError):
            t_quantile(bad)


# ---------------------------------------------------------------- aggregation


def test_overall_mean_and_interval_over_distinct_respondents():
    values = [40, 52, 60, 64, 72, 80]
    rows = who5_rows({f"p{i}": ("Medicine", "Trainee", v) for i, v in enumerate(values)})
    report = build_trend_report(rows, min_group=5, metrics=DEFAULT_METRICS[:1])
    cell = overall(report, "who5_mean")
    assert cell.respondents == 6 and not cell.suppressed
    assert cell.estimate == pytest.approx(statistics.fmean(values))
    half = stats.t.ppf(0.975, 5) * statistics.stdev(values) / 6**0.5
    assert (cell.ci_low, cell.ci_high) == pytest.approx((statistics.fmean(values) - half, statistics.fmean(values) + half))


def test_threshold_counts_people_not_answers():
    # Four people answering many times are still four people.
    rows = [
        PulseRow(f"p{i}", date(2025, 3, day), "who5", 60, segment("Medicine"))
        for i in range(4)
        for day in range(1, 11)
    ]
    cell = overall(build_trend_report(rows, min_group=5, metrics=DEFAULT_METRICS[:1]), "who5_mean")
    assert cell.suppressed and cell.respondents is None and cell.estimate is None and cell.ci_low is None


def test_a_persons_latest_answer_in_the_month_counts():
    rows = who5_rows({f"p{i}": ("Medicine", "Trainee", 60) for i in range(5)})
    rows += [
        PulseRow("p0", date(2025, 3, 2), "who5", 20, segment("Medicine")),
        PulseRow("p0", date(2025, 3, 28), "who5", 100, segment("Medicine")),
    ]
    cell = overall(build_trend_report(rows, min_group=5, metrics=DEFAULT_METRICS[:1]), "who5_mean")
    assert cell.respondents == 5
    assert cell.estimate == pytest.approx((60 * 4 + 100) / 5)


def test_percentages_count_the_instrument_flag():
    answers = [1, 2, 3, 3, 4, 5, 2, 3, 1, 3]  # burnout >= 3: six of ten
    rows = [PulseRow(f"p{i}", date(2025, 3, 5), "burnout", v, segment("Medicine")) for i, v in enumerate(answers)]
    cell = overall(build_trend_report(rows, min_group=5, metrics=[DEFAULT_METRICS[1]]), "burnout_pct")
    low, high = wilson_interval(6, 10)
    assert cell.estimate == pytest.approx(60.0)
    assert (cell.ci_low, cell.ci_high) == pytest.approx((100 * low, 100 * high))


def test_phq2_and_intent_to_leave_percentages():
    rows = [PulseRow(f"p{i}", date(2025, 3, 5), "phq2", v, segment("A")) for i, v in enumerate([0, 2, 3, 4, 6, 1])]
    rows += [PulseRow(f"p{i}", date(2025, 3, 5), "intent_to_leave", v, segment("A")) for i, v in enumerate([1, 2, 3, 4, 5])]
    report = build_trend_report(rows, min_group=5)
    assert overall(report, "phq2_pct").estimate == pytest.approx(50.0)
    assert overall(report, "intent_to_leave_pct").estimate == pytest.approx(60.0)
    assert report.cell("who5_mean", MARCH) is None  # no WHO-5 rows, no WHO-5 cells


def test_change_from_baseline_is_a_paired_mean_with_t_interval():
    current = {f"p{i}": ("Medicine", "Trainee", v) for i, v in enumerate([60, 64, 56, 72, 68, 80])}
    baseline = {"p0": 48, "p1": 52, "p2": 56, "p3": 60, "p4": 52}  # p5 has no baseline
    report = build_trend_report(who5_rows(current, baseline=baseline), min_group=5, metrics=[DEFAULT_METRICS[0], WHO5_CHANGE])
    cell = overall(report, "who5_change")
    differences = [12, 12, 0, 12, 16]
    mean, low, high = mean_interval(differences)
    assert cell.respondents == 5
    assert (cell.estimate, cell.ci_low, cell.ci_high) == pytest.approx((mean, low, high))
    assert overall(report, "who5_mean").respondents == 6


def test_removed_person_no_longer_contributes():
    rng = random.Random(1)
    people = {f"p{i}": (rng.choice(["A", "B"]), "Trainee", rng.randint(0, 25) * 4) for i in range(14)}
    full = build_trend_report(who5_rows(people), min_group=5, metrics=DEFAULT_METRICS[:1])
    remaining = {k: v for k, v in people.items() if k != "p3"}
    without = build_trend_report(who5_rows(remaining), min_group=5, metrics=DEFAULT_METRICS[:1])
    cell = overall(without, "who5_mean")
    assert cell.respondents == 13 == overall(full, "who5_mean").respondents - 1
    assert cell.estimate == pytest.approx(statistics.fmean(v for _, _, v in remaining.values()))
    # Whatever p3 had answered, the report without p3 is the same.
    changed = dict(people, p3=(people["p3"][0], "Trainee", 100 - people["p3"][2]))
    changed_without = {k: v for k, v in changed.items() if k != "p3"}
    assert build_trend_report(who5_rows(changed_without), min_group=5, metrics=DEFAULT_METRICS[:1]) == without


def test_small_department_is_suppressed_with_a_complement():
    people = {}
    for i in range(8):
        people[f"a{i}"] = ("Anaesthesia", "Trainee", 60)
    for i in range(7):
        people[f"b{i}"] = ("Bone", "Trainee", 64)
    for i in range(2):
        people[f"c{i}"] = ("Cardiology", "Trainee", 20)
    report = build_trend_report(who5_rows(people), min_group=5, metrics=DEFAULT_METRICS[:1])
    by_department = {c.key[0]: c for c in report.cells if c.table == ("department",)}
    assert by_department["Cardiology"].suppressed
    # Overall minus the shown departments would give Cardiology, so something else is hidden too.
    hidden = [c for c in report.cells if c.suppressed and c.table in ((), ("department",))]
    assert len(hidden) >= 2
    for cell in report.cells:
        assert cell.suppressed or cell.respondents >= 5


def test_published_report_withstands_the_linear_attacker():
    rng = random.Random(4)
    rows = []
    for i in range(70):
        seg = segment(rng.choice("ABCD"), rng.choice(["Trainee", "Attending, 0-5 years", "Attending, 16+ years"]), rng.choice(["c1", "c2"]))
        rows.append(PulseRow(f"p{i}", date(2025, 3, 3), "who5", rng.randint(0, 25) * 4, seg))
    report = build_trend_report(rows, min_group=5, metrics=DEFAULT_METRICS[:1])
    shown = [c for c in report.cells if not c.suppressed]
    fine = {}
    for row in rows:
        key = tuple(row.segment[d] for d in DIMS)
        fine[key] = fine.get(key, 0) + 1

    class Shown:  # the attacker reads table and key, like PublishedCell
        def __init__(self, cell):
            self.table, self.key, self.id = cell.table, cell.key, (cell.table, cell.key)

    attacker = LinearAttacker(fine, [Shown(c) for c in shown], DIMS)
    assert attacker.small_disclosures(5) == []
    sums = {(c.table, c.key): c.estimate * c.respondents for c in shown}
    for key, n in fine.items():
        if n < 5:
            assert attacker.recover_sum([key], sums) is None


def test_a_group_is_never_a_reporting_unit():
    with pytest.raises(ValueError, match="cohort, department, career_stage"):
        build_trend_report([], min_group=5, tables=[(), ("group",)])
    row = PulseRow("p0", date(2025, 3, 1), "who5", 60, {"department": "A", "group": "G1"})
    with pytest.raises(ValueError, match="segment may only hold"):
        build_trend_report([row], min_group=5)


def test_rows_are_validated():
    with pytest.raises(ValueError, match="outside 0-100"):
        build_trend_report([PulseRow("p0", date(2025, 3, 1), "who5", 104, segment("A"))], min_group=5)
    with pytest.raises(ValueError, match="baseline_value"):
        build_trend_report([PulseRow("p0", date(2025, 3, 1), "burnout", 3, segment("A"), baseline_value=9)], min_group=5)
    with pytest.raises(ValueError, match="person_key"):
        build_trend_report([PulseRow("", date(2025, 3, 1), "burnout", 3, segment("A"))], min_group=5)
    with pytest.raises(ValueError, match="at least 3"):
        build_trend_report([], min_group=2)
    with pytest.raises(ValueError, match="needs the flag"):
        build_trend_report([], min_group=5, metrics=[Metric("x", "x", "burnout", "percent")])


def test_months_and_series_with_gaps():
    march = who5_rows({f"p{i}": ("A", "Trainee", 60) for i in range(6)}, day=date(2025, 3, 9))
    april = who5_rows({f"p{i}": ("A", "Trainee", 72) for i in range(3)}, day=date(2025, 4, 9))
    report = build_trend_report(march + april, min_group=5, metrics=DEFAULT_METRICS[:1])
    assert report.months == (MARCH, APRIL)
    assert report.series("who5_mean") == {OVERALL_LABEL: [(MARCH, 60.0), (APRIL, None)]}
    assert report.series("who5_mean", "department") == {"A": [(MARCH, 60.0), (APRIL, None)]}
    with pytest.raises(KeyError):
        report.series("who5_mean", "site")


def test_missing_segment_values_are_reported_as_not_recorded():
    rows = [PulseRow(f"p{i}", date(2025, 3, 1), "who5", 60, {}) for i in range(5)]
    report = build_trend_report(rows, min_group=5, metrics=DEFAULT_METRICS[:1])
    assert report.cell("who5_mean", MARCH, ("department",), ("Not recorded",)).respondents == 5


def test_career_stage_bands():
    assert career_stage_band("PGY-2") == "Trainee"
    assert career_stage_band("ATTENDING-0") == "Attending, 0-5 years"
    assert career_stage_band("attending-5") == "Attending, 0-5 years"
    assert career_stage_band("ATTENDING-6") == "Attending, 6-15 years"
    assert career_stage_band("ATTENDING-16") == "Attending, 16+ years"
    assert career_stage_band(None) == "Not recorded" == career_stage_band("intern")


# ---------------------------------------------------------------- CSV


def test_csv_has_the_same_suppressed_aggregates():
    people = {f"a{i}": ("=HYPERLINK(\"x\")", "Trainee", 60 + i) for i in range(6)}
    people.update({f"b{i}": ("Bone", "Trainee", 40) for i in range(2)})
    report = build_trend_report(who5_rows(people), min_group=5, metrics=DEFAULT_METRICS[:1])
    parsed = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert tuple(parsed[0].keys()) == CSV_COLUMNS
    assert len(parsed) == len(report.cells)
    for row, cell in zip(parsed, report.cells):
        if cell.suppressed:
            assert row["suppressed"] == "yes"
            assert row["respondents"] == row["estimate"] == row["ci_low"] == row["ci_high"] == ""
        else:
            assert int(row["respondents"]) == cell.respondents
            assert float(row["estimate"]) == pytest.approx(cell.estimate, abs=0.05)
    departments = {row["department"] for row in parsed}
    assert "'=HYPERLINK(\"x\")" in departments  # neutralised for spreadsheets
    assert parsed[0]["breakdown"] == "overall" and parsed[0]["department"] == "(all)"
    assert parsed[0]["month"] == "2025-03"


def test_default_tables_are_the_documented_ones():
    assert DEFAULT_TABLES == ((), ("cohort",), ("department",), ("career_stage",), ("department", "career_stage"), ("site",))


# ---------------------------------------------------------------- program summary


def test_program_summary():
    as_of = date(2026, 1, 15)
    memberships = [
        Membership("a", date(2025, 1, 10)),  # 12 months in, active
        Membership("b", date(2025, 1, 10), left_on=date(2025, 9, 1)),  # kept at 6 months, gone by 12
        Membership("c", date(2025, 3, 1), left_on=date(2025, 5, 1)),  # left before 6 months
        Membership("d", date(2025, 10, 1)),  # too recent for either retention
        Membership("e", date(2026, 2, 1)),  # enrols after as_of: not counted
    ]
    sessions = [
        SessionRecord("g1", date(2025, 2, 1), attended=6, expected=8),
        SessionRecord("g1", date(2025, 2, 15), attended=8, expected=8),
        SessionRecord("g2", date(2025, 11, 1), attended=3, expected=6),
        SessionRecord("g2", date(2026, 3, 1), attended=0, expected=6),  # future
    ]
    summary = summarise_program(memberships, sessions, invited=20, as_of=as_of, group_keys=["g1", "g2", "g3"])
    assert (summary.enrolled, summary.active, summary.groups, summary.sessions_held) == (4, 2, 3, 3)
    assert (summary.attendance.numerator, summary.attendance.denominator) == (17, 22)
    assert (summary.retention_6_months.numerator, summary.retention_6_months.denominator) == (2, 3)
    assert (summary.retention_12_months.numerator, summary.retention_12_months.denominator) == (1, 2)
    assert summary.participation.value == pytest.approx(0.2)
    assert summary.participation.interval == pytest.approx(wilson_interval(4, 20))


def test_program_summary_validates_inputs():
    with pytest.raises(ValueError, match="one membership"):
        summarise_program([Membership("a", date(2025, 1, 1))] * 2, [], invited=5, as_of=date(2025, 6, 1))
    with pytest.raises(ValueError, match="smaller than the number enrolled"):
        summarise_program([Membership("a", date(2025, 1, 1))], [], invited=0, as_of=date(2025, 6, 1))
    with pytest.raises(ValueError, match="attended"):
        summarise_program([], [SessionRecord("g", date(2025, 1, 1), 9, 8)], invited=5, as_of=date(2025, 6, 1))
    empty = summarise_program([], [], invited=0, as_of=date(2025, 6, 1))
    assert empty.attendance.value is None and empty.retention_6_months.interval is None

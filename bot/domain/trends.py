"""Admin trend reports: pure aggregation of survey rows into suppressed tables, and CSV.

Input is plain rows (the lead's queries produce them); output is a
``TrendReport`` whose cells are already suppressed, so anything built from it
(the Slack report, the chart, the CSV) publishes the same protected numbers.

* One row per answer: a pseudonymous ``person_key``, the date, the instrument,
  the value on its reporting scale, the person's segment (cohort, department,
  career stage, site) and, where known, their baseline value.
* A person counts once per metric and month: their latest answer that month.
  Thresholds apply to distinct respondents, never to answers.
* Every (metric, month) is one family of tables — by default overall, cohort,
  department, career stage and department x career stage — suppressed together
  by ``bot.domain.privacy.plan_suppression``. A hidden cell hides its respondent count,
  estimate and interval alike.
* Estimates: means and mean change from baseline with a t interval on the
  (paired) values; percentages with a Wilson score interval; all 95%.
* A COMPASS group is never a dimension: only cohort, department, career stage and
  site are accepted. A breakdown by site appears only when the answers span more
  than one site: in a single-site program it would repeat the overall row.
"""

from __future__ import annotations

import calendar
import csv
import io
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date
from typing import Iterable, Literal, Mapping, Sequence, TextIO


from bot.domain.instruments import Catalogue, default_catalogue
from bot.domain.people import CareerStage
from bot.domain.privacy import SuppressionPlan, plan_suppression, validate_min_group

DIMENSIONS = ("cohort", "department", "career_stage", "site")
NOT_RECORDED = "Not recorded"
DEFAULT_TABLES: tuple[tuple[str, ...], ...] = (
    (),
    ("cohort",),
    ("department",),
    ("career_stage",),
    ("department", "career_stage"),
    ("site",),  # only when the program spans several sites: see tables_for_sites
)
SITE = "site"
CONFIDENCE = 0.95
_Z = statistics.NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
OVERALL_LABEL = "All respondents"

MetricKind = Literal["mean", "percent", "change"]


@dataclass(frozen=True)
class PulseRow:
    person_key: str
    answered_on: date
    instrument: str
    value: float  # on the instrument's reporting scale
    segment: Mapping[str, str] = field(default_factory=dict)
    baseline_value: float | None = None


@dataclass(frozen=True)
class Metric:
    id: str
    label: str
    instrument: str
    kind: MetricKind
    flag: str | None = None  # for percentages: the instrument flag counted


DEFAULT_METRICS: tuple[Metric, ...] = (
    Metric("who5_mean", "Mean WHO-5 (0-100)", "who5", "mean"),
    Metric("burnout_pct", "% burnout (3 or more)", "burnout", "percent", flag="burnout"),
    Metric("phq2_pct", "% PHQ-2 of 3 or more", "phq2", "percent", flag="positive_screen"),
    Metric("intent_to_leave_pct", "% intent to leave (moderate or more)", "intent_to_leave", "percent", flag="intends_to_leave"),
)
# Not published monthly: each month's change sums that month's respondents' baselines, the one
# unknown shared between months, so it would link months together. Change from baseline is
# reported for the fixed paired cohort only (the program evaluation, bot.domain.evaluation).
# Kept for callers that deliberately publish it (a weakened build in the privacy tests).
WHO5_CHANGE = Metric("who5_change", "WHO-5 change from baseline", "who5", "change")


@dataclass(frozen=True)
class ReportCell:
    metric: str
    month: date  # first day of the month
    table: tuple[str, ...]
    key: tuple[str, ...]
    suppressed: bool
    respondents: int | None = None
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    @property
    def segment(self) -> dict[str, str]:
        return dict(zip(self.table, self.key))


@dataclass(frozen=True)
class TrendReport:
    min_group: int
    metrics: tuple[Metric, ...]
    tables: tuple[tuple[str, ...], ...]
    months: tuple[date, ...]
    cells: tuple[ReportCell, ...]

    def metric(self, metric_id: str) -> Metric:
        for metric in self.metrics:
            if metric.id == metric_id:
                return metric
        raise KeyError(f"no metric {metric_id!r} in this report")

    def cell(self, metric_id: str, month: date, table: Sequence[str] = (), key: Sequence[str] = ()) -> ReportCell | None:
        wanted = (metric_id, month_of(month), tuple(table), tuple(key))
        for cell in self.cells:
            if (cell.metric, cell.month, cell.table, cell.key) == wanted:
                return cell
        return None

    def series(self, metric_id: str, dimension: str | None = None) -> dict[str, list[tuple[date, float | None]]]:
        """Estimates by month: one series overall, or one per value of ``dimension``.

        Suppressed cells and months without respondents are None.
        """
        self.metric(metric_id)
        table = () if dimension is None else (dimension,)
        if table not in self.tables:
            raise KeyError(f"the report has no table by {dimension!r}")
        estimates: dict[str, dict[date, float | None]] = defaultdict(dict)
        for cell in self.cells:
            if cell.metric == metric_id and cell.table == table:
                label = OVERALL_LABEL if dimension is None else cell.key[0]
                estimates[label][cell.month] = cell.estimate
        if dimension is None and not estimates:
            estimates[OVERALL_LABEL] = {}
        return {
            label: [(month, by_month.get(month)) for month in self.months]
            for label, by_month in sorted(estimates.items())
        }


def month_of(day: date) -> date:
    return date(day.year, day.month, 1)


@lru_cache(maxsize=4096)  # pure, and called tens of thousands of times per report
def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def career_stage_band(stage: str | None) -> str:
    """Coarse career-stage bands for reporting: per-year stages would make every cell tiny."""
    if not stage:
        return NOT_RECORDED
    try:
        parsed = CareerStage.parse(stage)
    except ValueError:
        return NOT_RECORDED
    if parsed.is_trainee:
        return "Trainee"
    if parsed.years <= 5:
        return "Attending, 0-5 years"
    if parsed.years <= 15:
        return "Attending, 6-15 years"
    return "Attending, 16+ years"


def validated_tables(tables: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], ...]:
    """The report's breakdowns, each a tuple of known dimensions."""
    table_list = tuple(tuple(table) for table in tables)
    for table in table_list:
        if not set(table) <= set(DIMENSIONS):
            raise ValueError(f"reports break down only by {', '.join(DIMENSIONS)}; got table {table!r}")
    return table_list


def tables_for_sites(tables: Sequence[Sequence[str]], sites: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    """``tables`` without the breakdowns by site when the report's answers come from fewer than two
    sites (a health system with several hospitals wants rows per site; a single-site program would
    get one site row repeating the overall row)."""
    table_list = tuple(tuple(table) for table in tables)
    if len(set(sites)) >= 2:
        return table_list
    return tuple(table for table in table_list if SITE not in table)


def build_trend_report(
    rows: Iterable[PulseRow],
    *,
    min_group: int,
    metrics: Sequence[Metric] = DEFAULT_METRICS,
    tables: Sequence[Sequence[str]] = DEFAULT_TABLES,
    catalogue: Catalogue | None = None,
) -> TrendReport:
    """Aggregate rows into suppressed report cells for every metric, month and table."""
    k = validate_min_group(min_group)
    catalogue = catalogue or default_catalogue()
    table_list = validated_tables(tables)
    metric_list = tuple(metrics)
    for metric in metric_list:
        _check_metric(metric, catalogue)
    row_list = list(rows)
    for index, row in enumerate(row_list):
        _check_row(index, row, catalogue)
    instruments = {metric.instrument for metric in metric_list}
    table_list = tables_for_sites(table_list, {row.segment.get(SITE) or NOT_RECORDED for row in row_list
                                               if row.instrument in instruments})

    plans: dict[tuple, SuppressionPlan] = {}
    cells: list[ReportCell] = []
    months: set[date] = set()
    for metric in metric_list:
        for month, respondents in sorted(_respondents_by_month(metric, row_list, catalogue).items()):
            months.add(month)
            fine_counts = Counter(segment for segment, _ in respondents)
            plan_key = (tuple(sorted(fine_counts.items())), table_list, k)
            if plan_key not in plans:
                plans[plan_key] = plan_suppression(fine_counts, DIMENSIONS, table_list, k)
            cells.extend(_cells(metric, month, respondents, plans[plan_key]))
    return TrendReport(
        min_group=k,
        metrics=metric_list,
        tables=table_list,
        months=tuple(sorted(months)),
        cells=tuple(cells),
    )


def _check_metric(metric: Metric, catalogue: Catalogue) -> None:
    instrument = catalogue.instrument(metric.instrument)
    if metric.kind not in ("mean", "percent", "change"):
        raise ValueError(f"metric {metric.id}: unknown kind {metric.kind!r}")
    if metric.kind == "percent":
        if metric.flag is None:
            raise ValueError(f"metric {metric.id}: a percentage needs the flag it counts")
        instrument.flag(metric.flag)


def _check_row(index: int, row: PulseRow, catalogue: Catalogue) -> None:
    if not row.person_key:
        raise ValueError(f"row {index}: person_key is empty")
    instrument = catalogue.instrument(row.instrument)
    checked = {"value": row.value}
    if row.baseline_value is not None:
        checked["baseline_value"] = row.baseline_value
    for name, value in checked.items():
        if not isinstance(value, (int, float)) or not instrument.minimum <= value <= instrument.maximum:
            raise ValueError(
                f"row {index}: {row.instrument} {name} {value!r} is outside {instrument.minimum}-{instrument.maximum}"
            )
    unknown = set(row.segment) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"row {index}: segment may only hold {', '.join(DIMENSIONS)}; got {', '.join(sorted(unknown))}")


def _respondents_by_month(
    metric: Metric, rows: list[PulseRow], catalogue: Catalogue
) -> dict[date, list[tuple[tuple[str, ...], float]]]:
    """Per month: (segment, measure) for each distinct respondent, from their latest answer."""
    latest: dict[tuple[date, str], PulseRow] = {}
    for row in rows:
        if row.instrument != metric.instrument:
            continue
        if metric.kind == "change" and row.baseline_value is None:
            continue
        slot = (month_of(row.answered_on), row.person_key)
        current = latest.get(slot)
        if current is None or (row.answered_on, row.value) > (current.answered_on, current.value):
            latest[slot] = row

    instrument = catalogue.instrument(metric.instrument)
    by_month: dict[date, list[tuple[tuple[str, ...], float]]] = defaultdict(list)
    for (month, _), row in sorted(latest.items()):
        segment = tuple(row.segment.get(name) or NOT_RECORDED for name in DIMENSIONS)
        if metric.kind == "mean":
            measure = float(row.value)
        elif metric.kind == "percent":
            measure = 1.0 if metric.flag in instrument.flags_for(row.value) else 0.0
        else:
            assert row.baseline_value is not None
            measure = float(row.value) - float(row.baseline_value)
        by_month[month].append((segment, measure))
    return by_month


def _cells(
    metric: Metric,
    month: date,
    respondents: list[tuple[tuple[str, ...], float]],
    plan: SuppressionPlan,
) -> list[ReportCell]:
    cells = []
    for published in plan.cells:
        if published.id in plan.hidden:
            cells.append(ReportCell(metric.id, month, published.table, published.key, suppressed=True))
            continue
        positions = [DIMENSIONS.index(name) for name in published.table]
        measures = [
            measure
            for segment, measure in respondents
            if tuple(segment[p] for p in positions) == published.key
        ]
        estimate, low, high = _estimate(metric.kind, measures)
        cells.append(
            ReportCell(metric.id, month, published.table, published.key, False, len(measures), estimate, low, high)
        )
    return cells


def _estimate(kind: MetricKind, measures: list[float]) -> tuple[float, float, float]:
    if kind == "percent":
        low, high = wilson_interval(int(sum(measures)), len(measures))
        return 100 * sum(measures) / len(measures), 100 * low, 100 * high
    return mean_interval(measures)


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean with its 95% t interval (at least two values)."""
    n = len(values)
    if n < 2:
        raise ValueError("a confidence interval needs at least two values")
    mean = statistics.fmean(values)
    half_width = t_quantile(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return mean, mean - half_width, mean + half_width


@lru_cache(maxsize=1024)
def t_quantile(degrees_of_freedom: int) -> float:
    """The two-sided 95% quantile of Student's t with a whole number of degrees of freedom
    (equal to ``scipy.stats.t.ppf(0.975, df)`` to about 1e-12).

    Computed here rather than with SciPy: scipy.special alone costs the server about 12 MB of
    memory. Up to ``_T_SERIES_MAX_DF`` it solves ``P(|T| <= t) = 95%`` with the closed form of
    the t distribution for whole degrees of freedom (Abramowitz & Stegun 26.7.3-4); beyond that
    the Cornish-Fisher expansion around the normal quantile is exact to double precision.
    """
    df = int(degrees_of_freedom)
    if df != degrees_of_freedom or df < 1:
        raise ValueError(f"degrees of freedom must be a whole number of at least 1, not {degrees_of_freedom!r}")
    if df > _T_SERIES_MAX_DF:
        return _t_quantile_expansion(df)
    low, high = _Z, _T_QUANTILE_UPPER_BOUND  # the quantile falls between the normal's and df=1's
    t = _Z + (_Z**3 + _Z) / (4 * df)  # first term of the expansion: close enough to start Newton
    for _ in range(100):
        excess = _t_two_sided_mass(t, df) - CONFIDENCE
        if excess > 0:
            high = t
        else:
            low = t
        step = excess / (2 * _t_density(t, df))
        following = t - step
        if not low < following < high:  # Newton left the bracket: bisect instead
            following = (low + high) / 2
        if abs(following - t) <= 1e-14 * t:
            return following
        t = following
    return t


_T_SERIES_MAX_DF = 2000
_T_QUANTILE_UPPER_BOUND = 12.8  # above t(0.975, 1) = 12.706


def _t_two_sided_mass(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with ``df`` degrees of freedom (A&S 26.7.3 and 26.7.4)."""
    theta = math.atan(t / math.sqrt(df))
    sin, cos_squared = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 0:  # sin(theta) * (1 + 1/2 c^2 + (1*3)/(2*4) c^4 + ... up to c^(df-2))
        term = total = 1.0
        for j in range(1, df // 2):
            term *= cos_squared * (2 * j - 1) / (2 * j)
            total += term
        return sin * total
    # 2/pi * (theta + sin cos (1 + 2/3 c^2 + (2*4)/(3*5) c^4 + ... up to c^(df-3)))
    series = 0.0
    if df > 1:
        term = series = 1.0
        for j in range(1, (df - 1) // 2):
            term *= cos_squared * (2 * j) / (2 * j + 1)
            series += term
    return 2 / math.pi * (theta + sin * math.cos(theta) * series)


def _t_density(t: float, df: int) -> float:
    log_scale = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_scale - (df + 1) / 2 * math.log1p(t * t / df))


def _t_quantile_expansion(df: int) -> float:
    """Cornish-Fisher expansion of the t quantile in powers of 1/df (A&S 26.7.5), to the fourth."""
    z = _Z
    terms = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    )
    return z + sum(term / df**power for power, term in enumerate(terms, start=1))


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for a proportion."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes}/{n}")
    p = successes / n
    z2 = _Z * _Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half_width = _Z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


# ---------------------------------------------------------------- CSV

CSV_COLUMNS = (
    "metric", "metric_label", "month", "breakdown", *DIMENSIONS,
    "respondents", "estimate", "ci_low", "ci_high", "suppressed",
)
ALL_VALUES = "(all)"
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def write_csv(report: TrendReport, out: TextIO) -> None:
    """The report's cells as CSV; suppressed cells carry no numbers at all."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    labels = {metric.id: metric.label for metric in report.metrics}
    for cell in report.cells:
        segment = cell.segment
        writer.writerow(
            [
                cell.metric,
                _text_cell(labels[cell.metric]),
                cell.month.strftime("%Y-%m"),
                " x ".join(cell.table) or "overall",
                *(_text_cell(segment.get(name, ALL_VALUES)) for name in DIMENSIONS),
                "" if cell.respondents is None else cell.respondents,
                _number_cell(cell.estimate),
                _number_cell(cell.ci_low),
                _number_cell(cell.ci_high),
                "yes" if cell.suppressed else "",
            ]
        )


def report_csv(report: TrendReport) -> str:
    buffer = io.StringIO()
    write_csv(report, buffer)
    return buffer.getvalue()


def _text_cell(value: str) -> str:
    # Department names come from a roster; keep spreadsheets from running them as formulas.
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def _number_cell(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


# ---------------------------------------------------------------- program summary


@dataclass(frozen=True)
class Membership:
    person_key: str
    enrolled_on: date
    left_on: date | None = None


@dataclass(frozen=True)
class SessionRecord:
    group_key: str
    held_on: date
    attended: int
    expected: int  # members of the group at the time


@dataclass(frozen=True)
class Proportion:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.numerator, self.denominator) if self.denominator else None


@dataclass(frozen=True)
class ProgramSummary:
    as_of: date
    invited: int
    enrolled: int
    active: int
    groups: int
    sessions_held: int
    attendance: Proportion  # attendances / expected attendances
    retention_6_months: Proportion  # of those enrolled 6+ months ago, still active 6 months in
    retention_12_months: Proportion
    participation: Proportion  # enrolled / invited roster


def summarise_program(
    memberships: Iterable[Membership],
    sessions: Iterable[SessionRecord],
    *,
    invited: int,
    as_of: date,
    group_keys: Iterable[str] = (),
) -> ProgramSummary:
    """Program-level counts; no survey answers, so no cell suppression applies."""
    people = [m for m in memberships if m.enrolled_on <= as_of]
    keys = [m.person_key for m in people]
    if len(set(keys)) != len(keys):
        raise ValueError("each person may have only one membership")
    if invited < len(people):
        raise ValueError(f"invited roster ({invited}) is smaller than the number enrolled ({len(people)})")
    held = [s for s in sessions if s.held_on <= as_of]
    for session in held:
        if not 0 <= session.attended <= session.expected:
            raise ValueError(f"session of {session.group_key} on {session.held_on}: attended must be 0..expected")

    def active_on(member: Membership, day: date) -> bool:
        return member.left_on is None or member.left_on > day

    def retention(months: int) -> Proportion:
        eligible = [m for m in people if add_months(m.enrolled_on, months) <= as_of]
        kept = [m for m in eligible if active_on(m, add_months(m.enrolled_on, months))]
        return Proportion(len(kept), len(eligible))

    return ProgramSummary(
        as_of=as_of,
        invited=invited,
        enrolled=len(people),
        active=sum(active_on(m, as_of) for m in people),
        groups=len(set(group_keys) | {s.group_key for s in held}),
        sessions_held=len(held),
        attendance=Proportion(sum(s.attended for s in held), sum(s.expected for s in held)),
        retention_6_months=retention(6),
        retention_12_months=retention(12),
        participation=Proportion(len(people), invited),
    )

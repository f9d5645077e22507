"""What may be published: one plan over every metric and month, the publication ledger, and coarsening.

``bot.domain.privacy.plan_suppression`` protects one table family (one metric, one month) against
linear reasoning over exact sums. An admin sees far more than one family: every metric of a
cell (a mean and its change from baseline give the exact sum of baselines), every month (the
same baseline sum in two months differs by the people who answered in only one), and every
report ever sent (a report before and after a forget-me or a roster move differs by one
person). :func:`plan_publication` takes the exact candidate figures and the ledger of what
was already published and returns what may be shown now:

* **Closed months only.** A month is published once it has ended; the open month changes
  with every answer, so two views of it would differ by the people who answered in between.
* **The ledger wins.** A month with figures in the ledger is shown exactly as recorded; no
  later answer, erasure or roster change revises it. New figures are planned only for months
  the ledger does not hold.
* **One pattern per month.** A cell hidden for any metric of a month is hidden for every
  metric of that month (hiding more never makes a derivation possible), so counts and sums
  of different metrics cannot be set against each other.
* **Change from baseline only for the fixed paired cohort.** The monthly report publishes no
  change from baseline (``bot.domain.trends.DEFAULT_METRICS`` has none): a month's change sums
  that month's respondents' baselines, the one unknown shared between months, so breakdown
  baseline sums in two months differed by the people who answered in only one. The change is
  reported for the evaluation's fixed paired cohort (``bot.domain.evaluation``). A caller that
  publishes ``WHO5_CHANGE`` anyway (a deliberately weakened build) gets it for ``change_tables``
  only, the overall row by default.
* **Coarsening.** Respondent counts are rounded to ``count_base`` (5), so ``n x mean`` is never
  an exact sum; means are rounded to a whole point (to 2 points under ``precise_from``
  respondents), percentages to 5 points (10 under ``precise_from``), and only over at least
  ``percent_from`` (20) published respondents: a flag is one bit a person, and over a handful of
  people a share rounded to 10 points still has one reading ("70%" of 5 to 7 people is 4 of 6),
  which gives the count away as well. Every step follows the *published* count, so the step
  says nothing the count does not. No interval is published, since an interval pins down the
  exact count. An attacker who knows every rounding rule and
  every instrument's granularity still faces several possible sums for every figure, and so for
  every difference of figures.
* **Rows that can never be shown are left out.** A breakdown row hidden in every month of a
  report is dropped rather than listed as hidden.

**Why planning month by month is planning across months.** Every published figure of month m
is a sum over the people who answered in m of a function of their latest answer in m (a mean
of the values, a share of the flags), and a person's latest answer in m is an unknown of m
alone: no figure of one month involves an unknown of another, and each unknown's bounds (the
instrument's range and step) are its own. So every linear or integer relation an admin can
write over the figures splits into one block per month sharing no unknown: a combination of
figures from several months that pins down an aggregate pins it down within each month on its
own (it cannot cancel an unknown of month m with a figure of month m'), and a bound on one
month's unknowns says nothing of another's. The per-month plan (one suppression pattern over
every metric of the month, and coarsening) protects each block, and the ledger makes each
block one version for ever: no later report adds a second version of a month to set against
the first (a forget-me, a roster move or a late answer changes no published month). The
per-month plan with the ledger is therefore the joint plan over every month. It holds only
while no figure shares unknowns across months: a change from baseline per month (each
respondent's baseline in every month's sum) or a figure over several months (a rolling mean)
would join the blocks, and must be planned jointly or coarsened away before being published.

Call it with the exact cells of :func:`bot.domain.trends.build_trend_report` (or the SQL
equivalent), the ledger's cells, the threshold and the first day of the open month; record
``PublicationPlan.new`` in the ledger and show ``PublicationPlan.cells``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date
from typing import Iterable, Mapping, Sequence

from bot.domain.privacy import validate_min_group
from bot.domain.trends import ReportCell

FigureKey = tuple[str, date, tuple[str, ...], tuple[str, ...]]  # metric, month, table, key


@dataclass(frozen=True)
class Coarsening:
    """How precise a published figure may be. ``Coarsening()`` is what the bot publishes."""

    count_base: int = 5  # respondents rounded to a multiple of this
    precise_from: int = 20  # respondents from which the finer steps below apply
    mean_step: float = 1.0  # means and changes, at precise_from respondents or more
    mean_step_small: float = 2.0  # ... under precise_from
    percent_step: float = 5.0  # percentages, at precise_from respondents or more
    percent_step_small: float = 10.0  # ... under precise_from
    percent_from: int = 20  # published respondents a percentage needs (a flag is one bit a person)
    intervals: bool = False  # publish confidence intervals
    change_tables: tuple[tuple[str, ...], ...] | None = ((),)  # tables the change from baseline may use; None: all

    def respondents(self, n: int) -> int:
        return self.count_base * math.floor(n / self.count_base + 0.5) if self.count_base > 1 else n

    def estimate(self, kind: str, n: int, value: float) -> float:
        """``value`` rounded at the step for ``n`` *published* respondents (so the step tells nothing the count does not)."""
        if kind == "percent":
            step = self.percent_step if n >= self.precise_from else self.percent_step_small
        else:
            step = self.mean_step if n >= self.precise_from else self.mean_step_small
        if step <= 0:
            return value
        return round(step * math.floor(value / step + 0.5), 6)


# What the bot published before the ledger existed: exact counts, means to 0.1, every table.
EXACT = Coarsening(count_base=1, precise_from=0, mean_step=0.0, mean_step_small=0.0, percent_step=0.0,
                   percent_step_small=0.0, percent_from=0, intervals=True, change_tables=None)


@dataclass(frozen=True)
class PublicationPlan:
    cells: tuple[ReportCell, ...]  # what the report shows: ledger figures and new ones, in report order
    new: tuple[ReportCell, ...]  # the figures published for the first time: record them in the ledger
    months: tuple[date, ...]


def plan_publication(
    candidates: Iterable[ReportCell],
    ledger: Iterable[ReportCell],
    *,
    min_group: int,
    open_month: date,
    metric_kinds: Mapping[str, str],
    coarsening: Coarsening = Coarsening(),
) -> PublicationPlan:
    """What may be shown now, given the exact ``candidates`` and the ``ledger`` of everything shown before.

    ``candidates``: exact cells, already suppressed per table family (small cells and their
    complements hidden). ``metric_kinds``: metric id -> "mean", "percent" or "change".
    ``open_month``: the first day of the month not yet over; it and later months are left out.
    """
    k = validate_min_group(min_group)
    recorded: dict[date, list[ReportCell]] = defaultdict(list)
    for cell in ledger:
        if cell.metric in metric_kinds:  # a metric no longer published is not shown again
            recorded[cell.month].append(cell)
    fresh: dict[date, list[ReportCell]] = defaultdict(list)
    for cell in candidates:
        if cell.month < open_month and cell.month not in recorded:
            if cell.metric not in metric_kinds:
                raise ValueError(f"no kind given for metric {cell.metric!r}")
            fresh[cell.month].append(cell)

    new: list[ReportCell] = []
    for month, cells in sorted(fresh.items()):
        new.extend(_month_figures(cells, k, metric_kinds, coarsening))
    shown = [cell for cells in recorded.values() for cell in cells] + new
    order = {metric: rank for rank, metric in enumerate(metric_kinds)}
    shown.sort(key=lambda c: (order.get(c.metric, len(order)), c.metric, c.month, len(c.table), c.table, c.key))
    visible = _never_shown_rows_left_out(shown)
    return PublicationPlan(cells=tuple(visible), new=tuple(new), months=tuple(sorted({c.month for c in visible})))


def _month_figures(cells: Sequence[ReportCell], k: int, kinds: Mapping[str, str], coarsening: Coarsening) -> list[ReportCell]:
    """One month's figures: one suppression pattern for every metric, then coarsened."""
    hidden = {(cell.table, cell.key) for cell in cells if cell.suppressed or (cell.respondents or 0) < k}
    figures = []
    for cell in cells:
        kind = kinds[cell.metric]
        if kind == "change" and coarsening.change_tables is not None and cell.table not in coarsening.change_tables:
            continue
        if (cell.table, cell.key) in hidden or cell.estimate is None or cell.respondents is None:
            figures.append(ReportCell(cell.metric, cell.month, cell.table, cell.key, suppressed=True))
            continue
        shown_n = coarsening.respondents(cell.respondents)
        if kind == "percent" and shown_n < coarsening.percent_from:
            figures.append(ReportCell(cell.metric, cell.month, cell.table, cell.key, suppressed=True))
            continue
        low, high = (cell.ci_low, cell.ci_high) if coarsening.intervals else (None, None)
        figures.append(replace(cell, respondents=shown_n, estimate=coarsening.estimate(kind, shown_n, cell.estimate),
                               ci_low=low, ci_high=high))
    return figures


def _never_shown_rows_left_out(cells: list[ReportCell]) -> list[ReportCell]:
    """Drop breakdown rows (metric, table, key) hidden in every month; keep the overall rows."""
    ever_shown = {(c.metric, c.table, c.key) for c in cells if not c.suppressed}
    return [c for c in cells if not c.table or (c.metric, c.table, c.key) in ever_shown]


def figure_key(cell: ReportCell) -> FigureKey:
    return (cell.metric, cell.month, cell.table, cell.key)

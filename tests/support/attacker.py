"""The determined admin: exact integer reasoning over every figure the bot ever published.

The attacker reads every report CSV it was given (the Slack report, App Home, chart, CSV and CLI
all show the cells of one ``storage.reports.trend_report``), knows each instrument's granularity
(WHO-5 in steps of 4 from 0 to 100; a percentage counts people flagged), every rounding rule of
``bot.domain.publication.Coarsening``, the threshold ``k``, and, as an admin who imports the
roster, how many people could sit in each fine cell (every combination of the breakdown
dimensions) in each month. It then tries three things:

* **Cross-sectional integer programs.** For one report, month and metric, each fine cell gets
  integer unknowns: its respondents ``n`` (0 to the people who could be there) and its total
  ``t`` per metric in granularity steps (between the lowest and the highest answer of ``n`` people). Every
  shown figure constrains the sum over its fine cells: the respondents round to the shown count
  and the mean or percentage rounds to the shown estimate, at the step the rules use for the
  published count. One survey's answers share their respondents, so every metric of a month is
  in one program with one count per fine cell. Totals against
  breakdowns, overlapping breakdowns and nested tables are all in this one program. For every
  candidate set (each fine cell, each published cell, each difference of nested cells, each
  cell minus the shown cells of a finer table inside it) HiGHS minimises and maximises its
  respondents and, when they are pinned to 1..k-1, its total: equal bounds recover it.
* **Revisions.** The same figure shown differently in two reports (a forget-me or a roster move
  between them) is the difference of two exact readings when every consistent reading of both
  gives the same 1..k-1 people and total.
* **Baselines across months.** A mean and a change from baseline of one cell and month give the
  respondents' baseline total; the same cell's baseline totals in two months differ by the
  people who answered in only one of them.

Everything recovered is returned with its claimed respondents and total, so a test can check each
claim against the answers: an attacker that claims what is not true is as useless as one that finds
nothing. Limits of the attacker (not of the bot): confidence intervals are not read, and a cell
whose every respondent gave the same extreme answer (0% or 100%) is not counted, as under any
threshold.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import product
from typing import Iterable, Mapping, Sequence

import numpy as np

from bot.domain.publication import Coarsening

FineKey = tuple[str, ...]
NOT_DIMENSIONS = {"metric", "metric_label", "month", "breakdown", "respondents", "estimate", "ci_low", "ci_high", "suppressed"}


@dataclass(frozen=True)
class Scale:
    kind: str  # "mean", "percent" or "change"
    step: int  # granularity of one answer (a percentage's flag counts in ones)
    low: int
    high: int


SCALES = {
    "who5_mean": Scale("mean", 4, 0, 100),
    "who5_change": Scale("change", 4, -100, 100),
    "burnout_pct": Scale("percent", 1, 0, 1),
}


@dataclass(frozen=True)
class Figure:
    metric: str
    month: str
    table: tuple[str, ...]
    key: tuple[str, ...]
    respondents: int
    estimate: str  # as printed: the reading depends on the digits shown


@dataclass(frozen=True)
class Recovery:
    how: str  # "cross-section", "revision" or "baselines"
    metric: str
    months: tuple[str, ...]
    cells: tuple[FineKey, ...] | tuple[str, ...]  # fine cells of the set, or a published cell's key
    respondents: int
    total: int  # sum of the answers (for a percentage: how many were flagged)
    where: str = ""


def dimensions(rows: Sequence[Mapping[str, str]]) -> tuple[str, ...]:
    """The breakdown dimensions of a report CSV: every column but the figure's own, in CSV order."""
    return tuple(name for name in (rows[0] if rows else {}) if name not in NOT_DIMENSIONS)


def figures(rows: Iterable[Mapping[str, str]], dims: Sequence[str]) -> list[Figure]:
    """The shown figures of one report, for metrics the attacker knows the scale of."""
    found = []
    for row in rows:
        if row["suppressed"] == "yes" or row["metric"] not in SCALES or not row["estimate"]:
            continue
        table = () if row["breakdown"] == "overall" else tuple(row["breakdown"].split(" x "))
        key = tuple(row[name] for name in table)
        assert set(table) <= set(dims), f"unknown breakdown {table!r}"
        found.append(Figure(row["metric"], row["month"], table, key, int(row["respondents"]), row["estimate"]))
    return found


class Attacker:
    def __init__(self, rules: Coarsening, *, k: int, dims: Sequence[str], population: Mapping[str, Mapping[FineKey, int]]):
        self.rules = rules
        self.k = k
        self.dims = tuple(dims)
        self.population = population  # month -> fine key -> people who could be there
        self.solves = 0

    # ------------------------------------------------------------ all together

    def attack(self, reports: Sequence[Sequence[Mapping[str, str]]]) -> list[Recovery]:
        shown = [figures(rows, self.dims) for rows in reports]
        found: list[Recovery] = []
        versions: dict[str, set[frozenset[Figure]]] = defaultdict(set)  # month -> every distinct set of its figures
        for report in shown:
            by_month: dict[str, list[Figure]] = defaultdict(list)
            for figure in report:
                if SCALES[figure.metric].kind != "change":  # a change's unknowns are differences: read with the baselines
                    by_month[figure.month].append(figure)
            for month, group in by_month.items():
                versions[month].add(frozenset(group))
        for month, seen in sorted(versions.items()):
            for version in sorted(seen, key=lambda v: sorted((f.metric, f.table, f.key, f.respondents, f.estimate) for f in v)):
                found.extend(self.cross_section(month, sorted(version, key=lambda f: (f.metric, f.table, f.key))))
        found.extend(self.revisions(shown))
        found.extend(self.baselines(shown))
        unique = {(r.how, r.metric, r.months, r.cells, r.respondents, r.total, r.where): r for r in found}
        return list(unique.values())

    # ------------------------------------------------------------ one report and month, every metric

    def cross_section(self, month: str, shown: Sequence[Figure]) -> list[Recovery]:
        """The answers of one survey share respondents: one count per fine cell for every metric of the month."""
        fine = sorted(key for key, people in self.population.get(month, {}).items() if people)
        if not fine or not shown:
            return []
        metrics = sorted({f.metric for f in shown})
        program = _Program(self, {metric: SCALES[metric] for metric in metrics}, fine,
                           [self.population[month][key] for key in fine])
        members = {(f.table, f.key): program.members(f.table, f.key) for f in shown}
        for figure in shown:
            program.constrain(members[(figure.table, figure.key)], figure)
        assert program.feasible(), f"the published figures of {month} contradict the attacker's model of them"
        recovered = []
        for target in self._targets(fine, program, shown, members):
            for metric, respondents, total in program.pinned(target):
                recovered.append(Recovery("cross-section", metric, (month,), tuple(fine[i] for i in sorted(target)),
                                          respondents, total))
        return recovered

    def _targets(self, fine: list[FineKey], program: _Program, shown: Sequence[Figure],
                 members: Mapping[tuple, frozenset[int]]) -> list[frozenset[int]]:
        """Candidate sets of fine cells: each fine cell, each cell of every table (shown or not), nested differences,
        and each cell minus the shown cells of a finer table inside it."""
        cells: set[frozenset[int]] = {frozenset([i]) for i in range(len(fine))}
        tables = {f.table for f in shown} | {(name,) for name in self.dims} | {()}
        every_cell: set[frozenset[int]] = set()
        for table in tables:
            keys = {tuple(key[self.dims.index(name)] for name in table) for key in fine}
            every_cell |= {program.members(table, key) for key in keys}
        cells |= every_cell
        ordered = sorted(every_cell, key=lambda s: (len(s), sorted(s)))
        for outer, inner in product(ordered, ordered):
            if inner < outer:
                cells.add(outer - inner)
        shown_by_table: dict[tuple[str, ...], list[frozenset[int]]] = defaultdict(list)
        for figure in shown:
            shown_by_table[figure.table].append(members[(figure.table, figure.key)])
        for outer in every_cell:
            for inner_cells in shown_by_table.values():
                inside = [inner for inner in inner_cells if inner < outer]
                if inside:
                    cells.add(outer - frozenset().union(*inside))
        return sorted((c for c in cells if c), key=lambda s: (len(s), sorted(s)))

    # ------------------------------------------------------------ the same figure in two reports

    def readings(self, metric: str, respondents: int, estimate: str) -> list[tuple[int, int]]:
        """Every (respondents, total) consistent with one shown figure; a total in answer units."""
        scale = SCALES[metric]
        base = max(self.rules.count_base, 1)
        found = []
        for n in range(max(1, respondents - base), respondents + base + 1):
            if self.rules.respondents(n) != respondents or n < self.k:
                continue
            low, high = self._value_bounds(scale, respondents, float(estimate))
            divisor = n / 100 if scale.kind == "percent" else n
            first = max(scale.low * n, scale.step * math.ceil(low * divisor / scale.step - 1e-9))
            last = min(scale.high * n, scale.step * math.floor(high * divisor / scale.step + 1e-9))
            found.extend((n, total) for total in range(int(first), int(last) + 1, scale.step))
        return found

    def _value_bounds(self, scale: Scale, n: int, estimate: float) -> tuple[float, float]:
        """The true mean (or percentage) lies in this closed interval if ``estimate`` is shown beside ``n``
        respondents (the rounding step follows the published count)."""
        kind = "percent" if scale.kind == "percent" else "mean"
        step = (self.rules.percent_step if n >= self.rules.precise_from else self.rules.percent_step_small) if kind == "percent" \
            else (self.rules.mean_step if n >= self.rules.precise_from else self.rules.mean_step_small)
        half = step / 2 if step > 0 else 0.05  # no rounding rule: printed to one decimal
        return estimate - half, estimate + half

    def revisions(self, shown: Sequence[Sequence[Figure]]) -> list[Recovery]:
        versions: dict[tuple, set[tuple[int, str]]] = defaultdict(set)
        for report in shown:
            for f in report:
                versions[(f.metric, f.month, f.table, f.key)].add((f.respondents, f.estimate))
        recovered = []
        for (metric, month, table, key), seen in sorted(versions.items()):
            if len(seen) < 2:
                continue
            readings = [self.readings(metric, n, estimate) for n, estimate in sorted(seen)]
            for first, second in product(readings, readings):
                found = self._difference(first, second)
                if found:
                    recovered.append(Recovery("revision", metric, (month,), key, *found, where=" x ".join(table) or "overall"))
        return recovered

    def _difference(self, larger: list[tuple[int, int]], smaller: list[tuple[int, int]]) -> tuple[int, int] | None:
        """(people, total) of larger minus smaller, if every consistent pair of readings agrees on 1..k-1 people."""
        answer = None
        for (n1, s1), (n2, s2) in product(larger, smaller):
            if n1 < n2:
                continue
            if not 1 <= n1 - n2 < self.k or answer not in (None, (n1 - n2, s1 - s2)):
                return None
            answer = (n1 - n2, s1 - s2)
        return answer

    # ------------------------------------------------------------ baselines linking months

    def baselines(self, shown: Sequence[Sequence[Figure]]) -> list[Recovery]:
        sums: dict[tuple, set[tuple[str, tuple[tuple[int, int], ...]]]] = defaultdict(set)
        for report in shown:  # a mean and a change of the same report, cell and month
            by_cell: dict[tuple, dict[str, Figure]] = defaultdict(dict)
            for f in report:
                by_cell[(f.table, f.key, f.month)][f.metric] = f
            for (table, key, month), metrics in by_cell.items():
                mean, change = metrics.get("who5_mean"), metrics.get("who5_change")
                if mean is None or change is None:
                    continue
                readings = sorted({(n, s - c) for (n, s), (m, c) in product(
                    self.readings(mean.metric, mean.respondents, mean.estimate),
                    self.readings(change.metric, change.respondents, change.estimate)) if m == n})
                sums[(table, key)].add((month, tuple(readings)))
        recovered = []
        for (table, key), by_month in sorted(sums.items()):
            for (month1, first), (month2, second) in product(sorted(by_month), sorted(by_month)):
                found = self._difference(list(first), list(second))
                if found:
                    recovered.append(Recovery("baselines", "who5", (month1, month2), key, *found,
                                              where=" x ".join(table) or "overall"))
        return recovered


class _Program:
    """One month's integer program: respondents per fine cell (shared by every metric of the survey) and each
    metric's total per fine cell, constrained by the shown figures."""

    def __init__(self, attacker: Attacker, scales: Mapping[str, Scale], fine: list[FineKey], people: list[int]):
        self.attacker = attacker
        self.scales = dict(scales)
        self.fine = fine
        self.k = attacker.k
        self.rules = attacker.rules
        self.people = people
        n_fine = len(fine)
        # Columns: n per fine cell, then per metric a total per fine cell (in steps of one answer).
        self.lower = [0.0] * n_fine
        self.upper = [float(p) for p in people]
        self.integer = [1] * n_fine
        self.rows: list[tuple[dict[int, float], float, float]] = []
        self.totals: dict[str, list[int]] = {}
        for metric, scale in self.scales.items():
            self.totals[metric] = []
            for i, p in enumerate(people):
                column = self._column(float(min(0, p * scale.low // scale.step)), float(p * scale.high // scale.step), True)
                self.totals[metric].append(column)
                self.rows.append(({column: float(scale.step), i: -float(scale.low)}, 0.0, math.inf))  # low * n <= total
                self.rows.append(({column: float(scale.step), i: -float(scale.high)}, -math.inf, 0.0))  # total <= high * n

    def members(self, table: Sequence[str], key: Sequence[str]) -> frozenset[int]:
        positions = [self.attacker.dims.index(name) for name in table]
        return frozenset(i for i, fine_key in enumerate(self.fine) if all(fine_key[p] == v for p, v in zip(positions, key)))

    def _column(self, lower: float, upper: float, integer: bool) -> int:
        self.lower.append(lower)
        self.upper.append(upper)
        self.integer.append(1 if integer else 0)
        return len(self.lower) - 1

    def constrain(self, cells: frozenset[int], figure: Figure) -> None:
        scale = self.scales[figure.metric]
        counts = {i: 1.0 for i in cells}
        base = max(self.rules.count_base, 1)
        possible = [n for n in range(max(self.k, figure.respondents - base), figure.respondents + base + 1)
                    if self.rules.respondents(n) == figure.respondents]
        if not possible:
            self.rows.append(({}, 1.0, 1.0))  # no count rounds to what was shown: nothing is consistent
            return
        self.rows.append((counts, float(min(possible)), float(max(possible))))
        # step * sum(t) / sum(n) lies in [low(n), high(n)]; for a percentage, 100 * step * sum(t) / sum(n).
        factor = (100.0 if scale.kind == "percent" else 1.0) * scale.step
        totals = {self.totals[figure.metric][i]: factor for i in cells}
        low, high = self.attacker._value_bounds(scale, figure.respondents, float(figure.estimate))
        self.rows.append(({**totals, **{i: -low for i in cells}}, -1e-9, math.inf))
        self.rows.append(({**totals, **{i: -high for i in cells}}, -math.inf, 1e-9))

    def feasible(self) -> bool:
        return self._optimum({}, minimise=True) is not None

    def pinned(self, target: frozenset[int]) -> list[tuple[str, int, int]]:
        """(metric, respondents, total) of the target set for every metric whose total every feasible reading
        agrees on, when they also agree on 1..k-1 respondents."""
        if sum(self.people[i] for i in target) == 0:
            return []
        counts = {i: 1.0 for i in target}
        least = self._optimum(counts, minimise=True)
        if least is None or least >= self.k:
            return []
        most = self._optimum(counts, minimise=False)
        if most is None or round(most) != round(least) or round(least) < 1:
            return []
        respondents = round(least)
        fixed = (counts, float(respondents), float(respondents))
        found = []
        for metric, scale in self.scales.items():
            totals = {self.totals[metric][i]: 1.0 for i in target}
            low = self._optimum(totals, minimise=True, extra=fixed)
            high = self._optimum(totals, minimise=False, extra=fixed)
            if low is None or high is None or round(low) != round(high):
                continue
            total = round(low) * scale.step
            if total in (respondents * scale.low, respondents * scale.high):
                continue  # every respondent at the same extreme answer: the limit of any threshold
            found.append((metric, respondents, total))
        return found

    def _optimum(self, objective: Mapping[int, float], *, minimise: bool, extra=None) -> float | None:  # noqa: ANN001
        import highspy

        self.attacker.solves += 1
        rows = self.rows + ([extra] if extra else [])
        n_cols = len(self.lower)
        by_column: list[list[tuple[int, float]]] = [[] for _ in range(n_cols)]
        for r, (coefficients, _, _) in enumerate(rows):
            for column, value in coefficients.items():
                by_column[column].append((r, value))
        start = np.cumsum([0] + [len(entries) for entries in by_column[:-1]]).astype(np.int32)
        index = np.array([r for entries in by_column for r, _ in entries], dtype=np.int32)
        value = np.array([v for entries in by_column for _, v in entries], dtype=float)
        cost = np.zeros(n_cols)
        for column, coefficient in objective.items():
            cost[column] = coefficient
        inf = highspy.kHighsInf
        solver = highspy._Highs()
        solver.setOptionValue("output_flag", False)
        solver.setOptionValue("mip_rel_gap", 0.0)
        solver.setOptionValue("mip_abs_gap", 0.5)  # objectives are whole numbers
        solver.setOptionValue("time_limit", 60.0)
        sense = highspy.ObjSense.kMinimize if minimise else highspy.ObjSense.kMaximize
        solver.passModel(
            n_cols, len(rows), len(index), int(highspy.MatrixFormat.kColwise), int(sense), 0.0,
            cost, np.array(self.lower), np.array(self.upper),
            np.array([max(low, -inf) for _, low, _ in rows]), np.array([min(high, inf) for _, _, high in rows]),
            start, index, value, np.array(self.integer, dtype=np.int32),
        )
        solver.run()
        status = solver.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            return float(solver.getInfo().objective_function_value)
        if status == highspy.HighsModelStatus.kInfeasible:
            return None
        raise AssertionError(f"the attacker's integer program ended with {solver.modelStatusToString(status)}")

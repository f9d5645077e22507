"""The determined admin: every figure of every report published over a year, attacked by exact integer reasoning.

A generated program (a few dozen physicians, small departments, WHO-5 and burnout answered
most months) is reported on every month for twelve months through ``storage.reports.trend_report``
(what the Slack report, App Home, chart, CSV and CLI all show), once more after a forget-me
and once more after a roster move of one person. The attacker reads every CSV ever published,
knows each instrument's granularity (WHO-5 in steps of 4 from 0 to 100, burnout 1 to 5) and
every rounding rule (``bot.domain.publication.Coarsening``), and for every figure enumerates
the exact (respondents, sum) pairs consistent with what was shown. It then searches differences:

* the same figure in two reports (a revision after a forget-me or a roster move);
* a mean and its change from baseline in one cell and month (the exact sum of baselines), and
  that sum in two months of the same cell (the baselines of the people between them).

A difference is *recovered* when every consistent reading gives the same value over the same
1 to k-1 people. The fixed build must let nothing be recovered; the weakened planners (the
build before the ledger: exact figures, per-month plans, revised closed months; and per-month
plans over exact figures with the ledger on) must be broken in every generated case, and what
the attacker recovers from them is checked against the answers themselves.
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections import defaultdict
from datetime import date, datetime, timezone
from itertools import product

import pytest
from sqlmodel import Session, select

from bot.domain.publication import EXACT, Coarsening
from bot.domain.trends import report_csv
from storage import ledger
from storage.db import session_scope
from storage.models import Member
from storage.personal_data import erase_person
from storage.reports import forget_remembered_reports, trend_report
from tests.conftest import TEAM_ID
from tests.test_admin_report_flow import seed_answers, seed_people

K = 5
CASES = (1, 2, 3)
GRANULARITY = {"who5_mean": (4, 0, 100), "who5_change": (4, -100, 100), "burnout_pct": (1, 0, 1)}
KIND = {"who5_mean": "mean", "who5_change": "change", "burnout_pct": "percent"}


# ---------------------------------------------------------------- the program and its year of reports


def program(engine, seed: int) -> tuple[dict, dict, str, str]:  # noqa: ANN001
    """People in small departments answering WHO-5 and burnout in most months of 2026."""
    rng = random.Random(seed)
    sizes = {"Medicine": 9, "Surgery": 7, "Pediatrics": 6, "Psychiatry": 4, "Dermatology": 2}
    people = {}
    for department, size in sizes.items():
        for i in range(size):
            people[f"U{department[:3].upper()}{i}"] = (department, rng.choice(["PGY-2", "ATTENDING-6"]))
    seed_people(engine, people)
    answers = []
    for user in people:
        for month in range(1, 13):
            if rng.random() < 0.8:
                when = datetime(2026, month, rng.randint(1, 27), 12, tzinfo=timezone.utc)
                answers.append((user, when, "who5", 4 * rng.randint(5, 24)))
                answers.append((user, when, "burnout", rng.randint(1, 5)))
    seed_answers(engine, answers)
    forgotten = rng.choice([u for u in people if people[u][0] == "Medicine"])
    moved = rng.choice([u for u in people if people[u][0] == "Surgery"])
    return people, {(u, w.date().replace(day=1), i): v for u, w, i, v in answers}, forgotten, moved


def publish_year(engine, forgotten: str, moved: str, coarsening: Coarsening) -> list[list[dict]]:  # noqa: ANN001
    """Every CSV the admin gets: one a month, one after a forget-me, one after a roster move."""
    published = []

    def report(as_of: date) -> None:
        forget_remembered_reports()
        with Session(engine) as session:
            trends = trend_report(session, team_id=TEAM_ID, min_group=K, as_of=as_of, coarsening=coarsening)
        published.append(list(csv.DictReader(io.StringIO(report_csv(trends)))))

    for month in range(2, 8):
        report(date(2026, month, 2))
    with session_scope(engine) as session:
        erase_person(session, team_id=TEAM_ID, user_id=forgotten)
    report(date(2026, 7, 3))
    with session_scope(engine) as session:  # a roster re-import of one row: a new department
        member = session.exec(select(Member).where(Member.team_id == TEAM_ID, Member.slack_user_id == moved)).one()
        member.department = "Radiology"
        session.add(member)
    report(date(2026, 7, 4))
    for month in range(8, 13):
        report(date(2026, month, 2))
    report(date(2027, 1, 2))
    return published


# ---------------------------------------------------------------- the attacker


class Attacker:
    """Exact integer reasoning over published figures, knowing granularities and rounding rules."""

    def __init__(self, coarsening: Coarsening):
        self.rules = coarsening

    def readings(self, metric: str, respondents: str, estimate: str) -> list[tuple[int, int]]:
        """Every (respondents, sum) consistent with a shown figure (for a percentage, the sum is the count flagged)."""
        shown_n = int(respondents)
        step, low, high = GRANULARITY[metric]
        value = float(estimate)
        base = max(self.rules.count_base, 1)
        found = []
        for n in range(max(K, shown_n - base), shown_n + base + 1):
            if self.rules.respondents(n) != shown_n:
                continue
            if KIND[metric] == "percent":
                centre, spread = value * n / 100, n * (self.rules.percent_step_small + 1) / 100
            else:
                centre, spread = value * n, n * (self.rules.mean_step_small + 1)
            first = max(low * n, step * math.floor((centre - spread) / step))
            last = min(high * n, step * math.ceil((centre + spread) / step))
            for total in range(int(first), int(last) + 1, step):
                if f"{self.rules.estimate(KIND[metric], n, 100 * total / n if KIND[metric] == 'percent' else total / n):.1f}" == estimate:
                    found.append((n, total))
        return found

    def recover(self, larger: list[tuple[int, int]], smaller: list[tuple[int, int]]) -> tuple[int, int] | None:
        """(people, sum) of larger minus smaller, if every consistent reading gives the same 1..k-1 people and sum."""
        answer = None
        for (n1, s1), (n2, s2) in product(larger, smaller):
            if n1 < n2:
                continue
            if not 1 <= n1 - n2 < K or (answer is not None and answer != (n1 - n2, s1 - s2)):
                return None
            answer = (n1 - n2, s1 - s2)
        return answer

    def baselines(self, mean: list[tuple[int, int]], change: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """(respondents, sum of their baselines): a month's mean minus its change from baseline, over the same people."""
        return sorted({(n, s - c) for (n, s), (m, c) in product(mean, change) if m <= n})

    def attack(self, reports: list[list[dict]]) -> list[tuple]:
        figures: dict[tuple, set[tuple[str, str]]] = defaultdict(set)
        for rows in reports:
            for row in rows:
                if row["suppressed"] != "yes" and row["metric"] in KIND:
                    cell = (row["breakdown"], row["cohort"], row["department"], row["career_stage"])
                    figures[(row["metric"], row["month"], cell)].add((row["respondents"], row["estimate"]))
        recovered = []
        for (metric, month, cell), versions in figures.items():  # revisions of one figure
            readings = [self.readings(metric, *version) for version in sorted(versions)]
            for first, second in product(readings, readings):
                found = self.recover(first, second)
                if found:
                    recovered.append(("revision", metric, month, cell, found))
        sums: dict[tuple, list[tuple[str, list]]] = defaultdict(list)
        for (metric, month, cell), versions in figures.items():
            if metric != "who5_mean" or ("who5_change", month, cell) not in figures:
                continue
            for mean, change in product(versions, figures[("who5_change", month, cell)]):
                sums[cell].append((month, self.baselines(self.readings("who5_mean", *mean), self.readings("who5_change", *change))))
        for cell, by_month in sums.items():  # the same cell's baseline sums in two months
            for (month1, first), (month2, second) in product(by_month, by_month):
                found = self.recover(first, second)
                if found:
                    recovered.append(("baselines", "who5", (month1, month2), cell, found))
        return recovered


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("seed", CASES)
def test_a_year_of_reports_gives_the_attacker_nothing(engine, seed):
    people, answers, forgotten, moved = program(engine, seed)
    reports = publish_year(engine, forgotten, moved, Coarsening())
    assert Attacker(Coarsening()).attack(reports) == []
    # Utility: the overall WHO-5 mean is shown for every month of the year.
    overall = {row["month"] for rows in reports for row in rows
               if row["metric"] == "who5_mean" and row["breakdown"] == "overall" and row["suppressed"] != "yes"}
    assert overall == {f"2026-{m:02d}" for m in range(1, 13)}
    # Closed months are never revised: each figure reads the same in every report that shows it.
    seen: dict[tuple, tuple] = {}
    for rows in reports:
        for row in rows:
            key = (row["metric"], row["month"], row["breakdown"], row["cohort"], row["department"], row["career_stage"])
            assert seen.setdefault(key, (row["respondents"], row["estimate"], row["suppressed"])) == \
                   (row["respondents"], row["estimate"], row["suppressed"])


@pytest.mark.parametrize("seed", CASES)
def test_the_attacker_breaks_the_build_before_the_ledger(engine, seed, monkeypatch):
    """Exact figures, per-month plans and revised closed months (no ledger): the forget-me and the
    roster move each give a person's answers away, and the attacker finds them."""
    people, answers, forgotten, moved = program(engine, seed)
    monkeypatch.setattr(ledger, "published_cells", lambda session, *, team_id: [])
    monkeypatch.setattr(ledger, "record", lambda session, *, team_id, cells: 0)
    reports = publish_year(engine, forgotten, moved, EXACT)
    recovered = Attacker(EXACT).attack(reports)
    revisions = {(month, cell[2], found) for kind, metric, month, cell, found in recovered
                 if kind == "revision" and metric == "who5_mean"}
    forgotten_who5 = {(m.strftime("%Y-%m"), (1, v)) for (u, m, i), v in answers.items() if u == forgotten and i == "who5"}
    moved_who5 = {(m.strftime("%Y-%m"), (1, v)) for (u, m, i), v in answers.items() if u == moved and i == "who5"}
    assert {(month, found) for month, department, found in revisions if department in ("(all)", "Medicine")} & forgotten_who5
    assert {(month, found) for month, department, found in revisions if department == "Surgery"} & moved_who5


@pytest.mark.parametrize("seed", CASES)
def test_the_attacker_breaks_per_month_plans_over_exact_figures(engine, seed):
    """With the ledger on but each month planned on its own over exact figures (change by breakdown,
    exact counts, means to 0.1), a cell's baseline sums in two months give the people between them away."""
    people, answers, forgotten, moved = program(engine, seed)
    reports = publish_year(engine, forgotten, moved, EXACT)
    recovered = [r for r in Attacker(EXACT).attack(reports) if r[0] == "baselines"]
    first: dict[str, int] = {}
    answered: dict[tuple[str, str], set[str]] = defaultdict(set)  # (department or "(all)", month) -> who answered WHO-5
    for (user, month, instrument), value in sorted(answers.items(), key=lambda item: item[0][1]):
        if instrument != "who5":
            continue
        first.setdefault(user, value)
        if user == forgotten and month >= date(2026, 7, 1):  # erased before July was published
            continue
        answered[("(all)", month.strftime("%Y-%m"))].add(user)
        answered[(people[user][0], month.strftime("%Y-%m"))].add(user)
    verified = []
    for _, _, (month1, month2), cell, (count, total) in recovered:
        department = cell[2]
        if department in ("Surgery", "Radiology") or count != 1:
            continue  # the moved person's old and new departments: their segment changed between reports
        larger, smaller = answered[(department, month1)], answered[(department, month2)]
        if smaller < larger and len(larger - smaller) == 1:
            (person,) = larger - smaller
            assert first[person] == total  # the attacker's figure is that person's baseline WHO-5
            verified.append(person)
    assert verified  # at least one person's baseline recovered exactly, in every generated case

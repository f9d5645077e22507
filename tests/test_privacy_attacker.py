"""The determined admin over a whole program: a year of monthly reports, a forget-me and a roster move.

A generated program (about thirty physicians on two sites, in departments of 2 to 9, WHO-5 and
burnout answered in most months through the real survey path, so each answer carries the segment
its person had when answering) is reported on the 2nd of every month of 2026 through
``storage.reports.trend_report`` (what the Slack report, App Home, chart, CSV and CLI all show),
once more right after a ``/compass forget-me`` on 3 July and once more after a roster re-import
moves one surgeon to Radiology on 4 July. ``tests.support.attacker`` reads every CSV ever
published and reasons over it with exact integer programs and difference searches.

The bot's build must give it nothing. Each weakened build below takes away one protection and
must be broken in every generated case, and every claim the attacker makes is checked against the
answers themselves, so the attacker is known to be both able and truthful.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from bot.domain import privacy
from bot.domain.publication import EXACT, Coarsening
from bot.domain.scoring import score
from bot.domain.trends import DEFAULT_METRICS, WHO5_CHANGE, career_stage_band, report_csv
from storage import ledger, reports
from storage.db import session_scope
from storage.models import Member, Survey
from storage.personal_data import erase_person
from storage.reports import forget_remembered_reports, trend_report
from storage.surveys import SENT, complete_survey
from tests.conftest import TEAM_ID
from tests.support.attacker import Attacker, Recovery, dimensions
from tests.test_admin_report_flow import items_for, seed_people

K = 5
CASES = (1, 2, 3)
COHORT = "2025-fall"
FORGET_ON = datetime(2026, 7, 3, 9, tzinfo=timezone.utc)
MOVE_ON = datetime(2026, 7, 4, 9, tzinfo=timezone.utc)


@dataclass
class Program:
    people: dict[str, dict[str, str]]  # user -> department, career stage, site
    answers: list[tuple[datetime, str, dict[str, int]]]  # (when, user, instrument -> value)
    forgotten: str
    moved: str
    reports: list[list[dict]] = field(default_factory=list)
    truths: list[dict] = field(default_factory=list)  # per report: (metric, month) -> [(fine attributes, value, baseline)]


def generate(seed: int) -> Program:
    rng = random.Random(seed)
    sizes = {"Medicine": 9, "Surgery": 7, "Pediatrics": 6, "Psychiatry": 4, "Dermatology": 2}
    people = {}
    for department, size in sizes.items():
        for i in range(size):
            people[f"U{department[:3].upper()}{i}"] = {"department": department,
                                                       "stage": rng.choice(["PGY-2", "ATTENDING-6"]),
                                                       "site": rng.choice(["North campus", "South campus"])}
    answers = []
    for user in people:
        for month in range(1, 13):
            if rng.random() < 0.8:
                when = datetime(2026, month, rng.randint(1, 27), 12, tzinfo=timezone.utc)
                answers.append((when, user, {"who5": 4 * rng.randint(5, 24), "burnout": rng.randint(1, 5)}))
    answers.sort()
    forgotten = rng.choice([u for u in people if people[u]["department"] == "Medicine"])
    moved = rng.choice([u for u in people if people[u]["department"] == "Surgery"])
    return Program(people, answers, forgotten, moved)


def run(engine, program: Program, *, coarsening: Coarsening, metrics=None, stamped: bool = True) -> Program:  # noqa: ANN001
    """Live the year: answers as they come, a report on the 2nd of each month, the forget-me and the move."""
    seed_people(engine, {user: (p["department"], p["stage"]) for user, p in program.people.items()}, cohort=COHORT)
    with session_scope(engine) as session:
        for member in session.exec(select(Member).where(Member.team_id == TEAM_ID)):
            member.site = program.people[member.slack_user_id]["site"]
            session.add(member)
    events = [(when, "answer", (user, values)) for when, user, values in program.answers]
    events += [(datetime(2026, month, 2, 6, tzinfo=timezone.utc), "report", None) for month in range(2, 13)]
    events += [(datetime(2027, 1, 2, 6, tzinfo=timezone.utc), "report", None),
               (FORGET_ON, "forget", None), (FORGET_ON + timedelta(minutes=5), "report", None),
               (MOVE_ON, "move", None), (MOVE_ON + timedelta(minutes=5), "report", None)]
    erased = False
    moved = False
    for when, kind, payload in sorted(events, key=lambda event: (event[0], event[1])):
        if kind == "answer":
            answer(engine, *payload, when)
        elif kind == "forget":
            with session_scope(engine) as session:
                erase_person(session, team_id=TEAM_ID, user_id=program.forgotten)
            erased = True
        elif kind == "move":  # what a roster re-import of one row does: the department overwritten in place
            with session_scope(engine) as session:
                member = session.exec(select(Member).where(Member.team_id == TEAM_ID,
                                                           Member.slack_user_id == program.moved)).one()
                member.department = "Radiology"
                session.add(member)
            moved = True
        else:
            forget_remembered_reports()
            options = {} if metrics is None else {"metrics": metrics}
            with Session(engine) as session:
                trends = trend_report(session, team_id=TEAM_ID, min_group=K, as_of=when.date(), coarsening=coarsening,
                                      **options)
            program.reports.append(list(csv.DictReader(io.StringIO(report_csv(trends)))))
            program.truths.append(truth(program, before=when, erased=erased, moved=moved, stamped=stamped))
    return program


def answer(engine, user: str, values: dict[str, int], when: datetime) -> None:  # noqa: ANN001
    """One pulse answered through the product's own path (which stamps the segment)."""
    with session_scope(engine) as session:
        survey = Survey(team_id=TEAM_ID, slack_user_id=user, kind="pulse", wave=f"pulse:{when.isoformat()}",
                        instruments=",".join(values), status=SENT, sent_at=when)
        session.add(survey)
        session.flush()
        complete_survey(session, survey_id=survey.id, team_id=TEAM_ID, user_id=user, now=when,
                        scores=[score(instrument, items_for(instrument, value)) for instrument, value in values.items()])


def attributes(program: Program, user: str, *, department: str | None = None) -> dict[str, str]:
    person = program.people[user]
    return {"cohort": COHORT, "department": department or person["department"],
            "career_stage": career_stage_band(person["stage"]), "site": person["site"]}


def department_then(program: Program, user: str, when: datetime, *, now_moved: bool, stamped: bool) -> str:
    if user != program.moved:
        return program.people[user]["department"]
    moved_then = when >= MOVE_ON if stamped else now_moved
    return "Radiology" if moved_then else "Surgery"


def truth(program: Program, *, before: datetime, erased: bool, moved: bool, stamped: bool = True) -> dict:
    """What the database held when a report was made: per metric and month, each respondent's
    segment, value and WHO-5 baseline (first answer ever)."""
    baseline: dict[str, int] = {}
    rows: dict[tuple[str, str], list[tuple[dict, int, int]]] = defaultdict(list)
    for when, user, values in program.answers:
        if when >= before or (erased and user == program.forgotten):
            continue
        first = baseline.setdefault(user, values["who5"])
        segment = attributes(program, user, department=department_then(program, user, when, now_moved=moved, stamped=stamped))
        month = when.strftime("%Y-%m")
        rows[("who5_mean", month)].append((segment, values["who5"], first))
        rows[("burnout_pct", month)].append((segment, int(values["burnout"] >= 3), first))
        if when.strftime("%Y-%m") != min(w.strftime("%Y-%m") for w, u, _ in program.answers if u == user):
            rows[("who5_change", month)].append((segment, values["who5"] - first, first))
    return rows


# ---------------------------------------------------------------- what the attacker knows and what is true


def attacker_for(program: Program, rules: Coarsening) -> Attacker:
    """The admin's knowledge: the rules, k, and who could be in each fine cell each month (the roster)."""
    dims = dimensions(program.reports[-1])
    population: dict[str, dict[tuple, int]] = defaultdict(lambda: defaultdict(int))
    for month in range(1, 13):
        for user in program.people:
            departments = {"Surgery", "Radiology"} if user == program.moved else {program.people[user]["department"]}
            for department in departments:
                values = attributes(program, user, department=department)
                population[f"2026-{month:02d}"][tuple(values[d] for d in dims)] += 1
    return Attacker(rules, k=K, dims=dims, population=population)


def is_true(program: Program, claim: Recovery, dims: tuple[str, ...]) -> bool:
    """Whether some report's database state gives exactly what the attacker claims."""
    def over(rows, matches):  # noqa: ANN001, ANN202
        chosen = [(value, first) for segment, value, first in rows if matches(segment)]
        return len(chosen), sum(value for value, _ in chosen), sum(first for _, first in chosen)

    def in_fine_cells(segment):  # noqa: ANN001, ANN202
        return tuple(segment[d] for d in dims) in set(claim.cells)

    def in_cell(segment):  # noqa: ANN001, ANN202
        table = () if claim.where == "overall" else tuple(claim.where.split(" x "))
        return all(segment[d] == v for d, v in zip(table, claim.cells))

    states = program.truths
    if claim.how == "cross-section":
        return any(over(state[(claim.metric, claim.months[0])], in_fine_cells)[:2] == (claim.respondents, claim.total)
                   for state in states)
    if claim.how == "revision":
        readings = {over(state[(claim.metric, claim.months[0])], in_cell)[:2] for state in states}
        return any((n1 - n2, s1 - s2) == (claim.respondents, claim.total) for n1, s1 in readings for n2, s2 in readings)
    # baselines: the baseline totals of one cell's change respondents in two months
    first, second = ({over(state[("who5_change", month)], in_cell) for state in states} for month in claim.months)
    return any((n1 - n2, b1 - b2) == (claim.respondents, claim.total) for n1, _, b1 in first for n2, _, b2 in second)


def attacked(program: Program, rules: Coarsening) -> tuple[list[Recovery], Attacker]:
    attacker = attacker_for(program, rules)
    found = attacker.attack(program.reports)
    dims = attacker.dims
    false = [claim for claim in found if not is_true(program, claim, dims)]
    assert not false, f"the attacker claimed what is not true: {false[:3]}"
    return found, attacker


def one_person(program: Program, user: str, found: list[Recovery], how: str) -> set[tuple[str, int]]:
    """(month, WHO-5) of ``user`` among single-person WHO-5 recoveries of the given kind."""
    theirs = {(when.strftime("%Y-%m"), values["who5"]) for when, u, values in program.answers if u == user}
    claimed = {(claim.months[0], claim.total) for claim in found
               if claim.how == how and claim.respondents == 1 and claim.metric == "who5_mean"}
    return claimed & theirs


# ---------------------------------------------------------------- the bot's build


@pytest.mark.parametrize("seed", CASES)
def test_a_year_of_reports_gives_the_attacker_nothing(engine, seed):
    program = run(engine, generate(seed), coarsening=Coarsening())
    found, attacker = attacked(program, Coarsening())
    assert found == []
    assert attacker.solves > 100  # it did reason: an integer program per candidate set, month and metric
    overall = {row["month"] for rows in program.reports for row in rows
               if row["metric"] == "who5_mean" and row["breakdown"] == "overall" and row["suppressed"] != "yes"}
    assert overall == {f"2026-{m:02d}" for m in range(1, 13)}  # the trend is there every month
    seen: dict[tuple, tuple] = {}  # closed months are never revised
    for rows in program.reports:
        for row in rows:
            key = tuple(row[name] for name in ("metric", "month", "breakdown", *attacker.dims))
            assert seen.setdefault(key, (row["respondents"], row["estimate"], row["suppressed"])) == \
                   (row["respondents"], row["estimate"], row["suppressed"])


# ---------------------------------------------------------------- weakened builds: each must be broken


@pytest.mark.parametrize("seed", CASES)
def test_the_attacker_breaks_revised_closed_months(engine, seed, monkeypatch):
    """No ledger (every report recomputes closed months) and exact figures: the reports before and
    after the forget-me differ by the forgotten person's answers."""
    monkeypatch.setattr(ledger, "published_cells", lambda session, *, team_id: [])
    monkeypatch.setattr(ledger, "record", lambda session, *, team_id, cells: 0)
    program = run(engine, generate(seed), coarsening=EXACT)
    found, _ = attacked(program, EXACT)
    assert one_person(program, program.forgotten, found, "revision")


@pytest.mark.parametrize("seed", CASES)
def test_the_attacker_breaks_current_profile_segments(engine, seed, monkeypatch):
    """Answers counted in their person's segment now, not when answered (and no ledger): the report
    after the roster move differs by the moved surgeon's answers in every earlier month."""
    import storage.surveys

    monkeypatch.setattr(ledger, "published_cells", lambda session, *, team_id: [])
    monkeypatch.setattr(ledger, "record", lambda session, *, team_id, cells: 0)
    monkeypatch.setattr(storage.surveys, "pack_segment", lambda segment: None)
    program = run(engine, generate(seed), coarsening=EXACT, stamped=False)
    found, _ = attacked(program, EXACT)
    moved_before = {(m, v) for m, v in one_person(program, program.moved, found, "revision") if m < "2026-07"}
    assert moved_before


@pytest.mark.parametrize("seed", CASES)
def test_the_attacker_breaks_a_monthly_change_from_baseline(engine, seed):
    """Ledger on, but each month planned on its own with the change from baseline by breakdown over
    exact figures: a cell's baseline totals in two months give the people between them away."""
    program = run(engine, generate(seed), coarsening=EXACT, metrics=(*DEFAULT_METRICS, WHO5_CHANGE))
    found, _ = attacked(program, EXACT)
    assert [claim for claim in found if claim.how == "baselines" and claim.respondents < K]


@pytest.mark.parametrize("seed", CASES)
def test_the_attacker_breaks_a_plan_without_complementary_suppression(engine, seed, monkeypatch):
    """Ledger on and answer-time segments, but only cells under k hidden (no complements) over exact
    figures: a total against its breakdowns gives a hidden cell away."""
    def small_cells_only(fine_counts, dimensions, tables, min_group):  # noqa: ANN001, ANN202
        plan = privacy.plan_suppression(fine_counts, dimensions, tables, min_group)
        return privacy.SuppressionPlan(min_group=plan.min_group, cells=plan.cells,
                                       hidden=frozenset(c.id for c in plan.cells if c.respondents < min_group))

    monkeypatch.setattr(reports, "plan_suppression", small_cells_only)
    program = run(engine, generate(seed), coarsening=EXACT)
    found, _ = attacked(program, EXACT)
    assert [claim for claim in found if claim.how == "cross-section" and claim.respondents < K]

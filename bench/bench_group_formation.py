"""Timing and quality of group formation on generated cohorts of 1,000 and 5,000 physicians.

Run from the project root::

    .venv/bin/python bench/bench_group_formation.py [--sizes 1000 5000] [--seed 0] [--mode mixed]

For each cohort it runs the seeded construction alone (the baseline) and the full
``form_groups`` (construction plus local search), and prints wall time, the time
ratio full/baseline, and the objective totals of both (lower is better, compared
left to right: conflicts, specialty mixing, availability gaps, stage repeats,
groups without lead, department repeats).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.domain.availability import Window  # noqa: E402
from bot.domain.group_formation import FormationSettings, construct_groups_only, form_groups  # noqa: E402
from bot.domain.people import CareerStage, Person  # noqa: E402

REFERENCE_WEEK = date(2025, 4, 7)
TIMEZONES = (("America/Chicago", 70), ("America/New_York", 15), ("America/Denver", 10), ("America/Los_Angeles", 5))
SPECIALTIES = (
    ("Internal Medicine", "Medicine", 24),
    ("Cardiology", "Medicine", 8),
    ("Gastroenterology", "Medicine", 5),
    ("Pediatrics", "Pediatrics", 12),
    ("Family Medicine", "Family Medicine", 10),
    ("General Surgery", "Surgery", 8),
    ("Orthopedic Surgery", "Surgery", 5),
    ("Emergency Medicine", "Emergency Medicine", 8),
    ("Anesthesiology", "Anesthesiology", 7),
    ("Psychiatry", "Psychiatry", 6),
    ("Radiology", "Radiology", 4),
    ("Neurology", "Neurology", 3),
)
WINDOW_MENU = (
    "Mon 18:00-20:00", "Tue 18:00-20:00", "Wed 19:00-21:00", "Thu 17:00-19:00",
    "Mon 12:00-13:00", "Tue 12:00-13:00", "Wed 12:00-13:00", "Thu 12:00-13:00", "Fri 12:00-13:00",
    "Sat 09:00-11:00", "Sun 16:00-18:00",
)


def generate_people(n: int, seed: int = 0, *, availability_share: float = 0.85) -> list[Person]:
    """A plausible cohort: mostly Central time, skewed specialties, sparse supervision, 2-4 windows each."""
    rng = random.Random(seed)
    menu = [Window.parse(text) for text in WINDOW_MENU]
    drafts = []
    for i in range(n):
        specialty, department, _ = rng.choices(SPECIALTIES, weights=[w for *_, w in SPECIALTIES])[0]
        trainee = rng.random() < 0.55
        stage = CareerStage("PGY", rng.randint(1, 5)) if trainee else CareerStage("ATTENDING", rng.randint(0, 35))
        windows = tuple(sorted(rng.sample(menu, rng.randint(2, 4)))) if rng.random() < availability_share else ()
        drafts.append(
            dict(
                user_id=f"U{i:07d}",
                display_name=f"Physician {i}",
                career_stage=stage,
                specialty=specialty,
                department=department if rng.random() < 0.9 else rng.choice(SPECIALTIES)[1],
                timezone=rng.choices([tz for tz, _ in TIMEZONES], weights=[w for _, w in TIMEZONES])[0],
                lead_willing=rng.random() < 0.3,
                availability=windows,
            )
        )
    attendings_by_specialty: dict[str, list[str]] = {}
    for draft in drafts:
        if not draft["career_stage"].is_trainee:
            attendings_by_specialty.setdefault(draft["specialty"], []).append(draft["user_id"])
    people = []
    for draft in drafts:
        supervisors: frozenset[str] = frozenset()
        pool = attendings_by_specialty.get(draft["specialty"], [])
        if draft["career_stage"].is_trainee and pool and rng.random() < 0.4:
            supervisors = frozenset(rng.sample(pool, min(len(pool), rng.randint(1, 2))))
        people.append(Person(supervisor_ids=supervisors, **draft))
    return people


def _run(function, people, settings):
    started, cpu = time.perf_counter(), time.process_time()
    result = function(people, settings, week_of=REFERENCE_WEEK)
    return time.perf_counter() - started, result, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=("mixed", "same-specialty"), default="mixed")
    args = parser.parse_args(argv)
    settings = FormationSettings(mode=args.mode, seed=args.seed)
    print(f"mode={args.mode} seed={args.seed} sizes {settings.size_min}-{settings.size_max}")
    print("objective = (conflicts, specialty mixing, availability gaps, stage repeats, no lead, department repeats)")
    for n in args.sizes:
        people = generate_people(n, args.seed)
        base_time, baseline, base_cpu = _run(construct_groups_only, people, settings)
        full_time, full, full_cpu = _run(form_groups, people, settings)
        placed = sum(len(g.members) for g in full.groups)
        sizes = sorted({len(g.members) for g in full.groups})
        print(f"\nn={n}: {len(full.groups)} groups, sizes {sizes}, {placed} placed")
        # CPU time too: on a shared machine the wall time counts the waits for a core.
        print(f"  construction only : {base_time:7.3f} s ({base_cpu:.3f} s CPU)  objective {tuple(baseline.objective)}")
        print(f"  with local search : {full_time:7.3f} s ({full_cpu:.3f} s CPU)  objective {tuple(full.objective)}"
              + (f"  (target for 50,000 members: < 30 s: {'met' if full_time < 30 else 'MISSED'})" if n >= 50_000 else ""))
        print(f"  time ratio full/construction: {full_time / base_time:.1f}x")
        no_hour = sum(1 for g in full.groups if not g.common_slots)
        print(f"  groups without a common hour: {no_hour}; without a lead: {full.objective.groups_without_lead}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

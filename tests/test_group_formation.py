"""Group formation: sizes, hard constraints, soft goals, warnings and determinism."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import date
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.availability import parse_windows
from bot.domain.group_formation import (
    career_track,
    FormationResult,
    FormationSettings,
    Objective,
    career_band,
    construct_groups_only,
    form_groups,
    plan_group_sizes,
)
from bot.domain.people import CareerStage, Person

WEEK = date(2025, 4, 7)  # a week of US daylight time
MIXED_BANDS = FormationSettings(career_bands="mixed")  # an admin's explicit choice to mix residents and attendings
MENU = (
    "Mon 18:00-20:00", "Tue 12:00-13:00", "Tue 18:00-20:00", "Wed 19:00-21:00", "Thu 12:00-13:00", "Sat 09:00-11:00"
)


def person(
    user_id: str,
    *,
    stage: str = "PGY-2",
    specialty: str = "Internal Medicine",
    department: str = "Medicine",
    tz: str = "America/Chicago",
    lead: bool = False,
    supervisors: tuple[str, ...] = (),
    availability: str = "Tue 18:00-20:00",
) -> Person:
    return Person(
        user_id=user_id,
        display_name=user_id,
        career_stage=CareerStage.parse(stage),
        specialty=specialty,
        department=department,
        timezone=tz,
        lead_willing=lead,
        supervisor_ids=frozenset(supervisors),
        availability=parse_windows(availability),
    )


def generated_cohort(n: int, seed: int, *, supervision: float = 0.2, specialties: int = 4) -> list[Person]:
    """A cohort with sparse supervision: a trainee has at most one supervisor, an attending at most two trainees."""
    rng = random.Random(seed)
    people = []
    load: Counter[str] = Counter()
    attendings: list[str] = []
    for i in range(n):
        user_id = f"U{seed:02d}{i:05d}"
        trainee = rng.random() < 0.6
        supervisors: tuple[str, ...] = ()
        free = [a for a in attendings if load[a] < 2]
        if trainee and free and rng.random() < supervision:
            chosen = rng.choice(free)
            load[chosen] += 1
            supervisors = (chosen,)
        if not trainee:
            attendings.append(user_id)
        windows = "" if rng.random() < 0.15 else ";".join(rng.sample(MENU, rng.randint(2, 4)))
        people.append(
            person(
                user_id,
                stage=f"PGY-{rng.randint(1, 5)}" if trainee else f"ATTENDING-{rng.randint(0, 30)}",
                specialty=f"Specialty {rng.randrange(specialties)}",
                department=f"Department {rng.randrange(5)}",
                tz=rng.choice(("America/Chicago", "America/Chicago", "America/New_York")),
                lead=rng.random() < 0.35,
                supervisors=supervisors,
                availability=windows,
            )
        )
    return people


def conflict_pairs(result: FormationResult, people: list[Person]) -> list[tuple[str, str]]:
    by_id = {p.user_id: p for p in people}
    return [
        (a, b)
        for group in result.groups
        for a, b in combinations(group.members, 2)
        if by_id[a].supervises_or_is_supervised_by(by_id[b])
    ]


def assert_everyone_placed_once(result: FormationResult, people: list[Person]) -> None:
    placed = [uid for group in result.groups for uid in group.members]
    assert sorted(placed) == sorted(p.user_id for p in people)


# --- group sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, sizes, warned",
    [
        (1, [1], True),
        (5, [5], True),
        (6, [6], False),
        (8, [8], False),
        (9, [9], True),
        (12, [6, 6], False),
        (14, [7, 7], False),
        (16, [8, 8], False),
        (17, [9, 8], True),
        (20, [7, 7, 6], False),
        (24, [8, 8, 8], False),
    ],
)
def test_planned_sizes_for_6_to_8(n, sizes, warned):
    planned, warning = plan_group_sizes(n, 6, 8)
    assert planned == sizes
    assert (warning is not None) == warned


def test_an_impossible_split_names_the_closest_one():
    _, warning = plan_group_sizes(17, 6, 8)
    assert "17 people cannot be split into groups of 6-8" in warning
    assert "9 + 8" in warning
    _, warning = plan_group_sizes(5, 6, 8)
    assert "fewer than the minimum group size of 6" in warning


@given(n=st.integers(1, 400), low=st.integers(4, 10), spread=st.integers(0, 6))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_planned_sizes_fit_whenever_any_split_fits(n, low, spread):
    high = min(10, low + spread)
    sizes, warning = plan_group_sizes(n, low, high)
    assert sum(sizes) == n and sizes == sorted(sizes, reverse=True)
    assert max(sizes) - min(sizes) <= 1
    any_fit = any(k * low <= n <= k * high for k in range(1, n + 1))
    if any_fit:
        assert warning is None and all(low <= s <= high for s in sizes)
    else:
        assert warning is not None

        def outside(split):
            return sum(max(0, low - s, s - high) for s in split)

        best = min(outside(plan) for plan in ([n // k + 1] * (n % k) + [n // k] * (k - n % k) for k in range(1, n + 1)))
        assert outside(sizes) == best


@pytest.mark.parametrize(
    "kwargs",
    [dict(size_min=3), dict(size_max=11), dict(size_min=8, size_max=6), dict(mode="random")],
)
def test_settings_are_validated(kwargs):
    with pytest.raises(ValueError):
        FormationSettings(**kwargs)


def test_career_bands():
    bands = [career_band(CareerStage.parse(s)) for s in ("PGY-1", "PGY-2", "PGY-3", "PGY-4", "PGY-7")]
    assert bands == [0, 1, 2, 3, 3]
    bands = [career_band(CareerStage.parse(s)) for s in ("ATTENDING-0", "ATTENDING-4", "ATTENDING-5", "ATTENDING-15")]
    assert bands == [4, 4, 5, 6]
    assert career_band(None) == -1


# --- the small and the awkward cohorts -----------------------------------------------------------


@pytest.mark.parametrize("n, sizes", [(1, [1]), (5, [5]), (6, [6]), (9, [9]), (17, [8, 9])])
def test_small_cohorts_place_everyone_with_a_warning_when_needed(n, sizes):
    people = generated_cohort(n, seed=n, supervision=0)
    result = form_groups(people, MIXED_BANDS, week_of=WEEK)
    assert_everyone_placed_once(result, people)
    assert sorted(len(g.members) for g in result.groups) == sorted(sizes)
    size_warning = any("minimum" in w or "cannot be split" in w for w in result.warnings)
    assert size_warning == (n not in (6,))


def test_no_one_to_place():
    result = form_groups([], week_of=WEEK)
    assert result.groups == [] and result.warnings == ["no one to place in a group"]


def test_repeated_people_are_refused():
    with pytest.raises(ValueError, match="U1"):
        form_groups([person("U1"), person("U1")], week_of=WEEK)


def test_a_supervisor_who_cannot_be_separated_is_reported_not_hidden():
    people = [person(f"U{i}") for i in range(5)] + [person("UBOSS", stage="ATTENDING-12", department="Surgery")]
    people[0] = person("U0", supervisors=("UBOSS",))
    result = form_groups(people, MIXED_BANDS, week_of=WEEK)
    assert len(result.groups) == 1
    assert result.objective.conflicts == 1
    (group,) = result.groups
    assert any("U0" in w and "UBOSS" in w and "supervises" in w for w in group.warnings)
    assert any("supervis" in w for w in result.warnings)


def test_supervision_pairs_are_kept_apart_in_both_directions():
    people = [person(f"U{i:02d}", lead=i % 4 == 0) for i in range(14)]
    people[1] = person("U01", supervisors=("U00",))  # U00 supervises U01
    people[0] = person("U00", stage="ATTENDING-9", supervisors=(), lead=True)
    people[2] = person("U02", stage="ATTENDING-3", supervisors=("U03",))  # U03 supervises U02
    result = form_groups(people, week_of=WEEK)
    assert conflict_pairs(result, people) == []
    assert result.objective.conflicts == 0
    assert not any("supervis" in w for w in result.warnings)


def test_a_thousand_members_are_grouped_quickly_and_within_bounds():
    people = generated_cohort(1000, seed=7)
    started = time.perf_counter()
    result = form_groups(people, week_of=WEEK)
    elapsed = time.perf_counter() - started
    assert_everyone_placed_once(result, people)
    assert all(6 <= len(g.members) <= 8 for g in result.groups)
    assert conflict_pairs(result, people) == []
    assert result.objective.groups_without_lead == 0
    assert elapsed < 10, f"took {elapsed:.1f}s"
    baseline = construct_groups_only(people, week_of=WEEK)
    assert tuple(result.objective) <= tuple(baseline.objective)


@pytest.mark.parametrize("seed", [9, 10])
def test_local_search_repairs_what_the_construction_missed(seed):
    people = generated_cohort(100, seed)
    baseline = construct_groups_only(people, week_of=WEEK).objective
    result = form_groups(people, week_of=WEEK).objective
    assert baseline.availability_gaps > 0
    assert result.availability_gaps == 0 and result.conflicts == 0
    assert result.stage_repeats < baseline.stage_repeats


# --- properties on generated rosters ---------------------------------------------------------------


@given(
    n=st.integers(1, 40),
    seed=st.integers(0, 10_000),
    low=st.integers(4, 7),
    spread=st.integers(0, 3),
    mode=st.sampled_from(("mixed", "same-specialty")),
)
@settings(max_examples=25, deadline=None, derandomize=True)
def test_everyone_is_placed_within_bounds_or_warned(n, seed, low, spread, mode):
    people = generated_cohort(n, seed)
    formation = FormationSettings(size_min=low, size_max=min(10, low + spread), mode=mode, seed=seed)
    result = form_groups(people, formation, week_of=WEEK)
    assert_everyone_placed_once(result, people)
    out_of_bounds = [g for g in result.groups if not formation.size_min <= len(g.members) <= formation.size_max]
    assert all(g.career_band in ("residents", "attendings") for g in result.groups)
    tracks = Counter(career_track(p.career_stage) for p in people)
    plan_warnings = [plan_group_sizes(k, formation.size_min, formation.size_max)[1] for k in tracks.values()]
    if not any(plan_warnings) and mode == "mixed":
        assert out_of_bounds == []
    for group in out_of_bounds:
        assert any("minimum" in w or "maximum" in w for w in group.warnings)
    if out_of_bounds:
        assert any("split" in w or "minimum" in w for w in result.warnings)
    # Every supervision pair left together is reported, in its group and overall.
    pairs = conflict_pairs(result, people)
    assert result.objective.conflicts == len(pairs)
    for a, b in pairs:
        group = next(g for g in result.groups if a in g.members)
        assert any(a in w and b in w for w in group.warnings)
    assert bool(pairs) == any("supervis" in w for w in result.warnings)
    json.loads(result.to_json())


@given(n=st.integers(14, 48), seed=st.integers(0, 10_000))
@settings(max_examples=15, deadline=None, derandomize=True)
def test_sparse_supervision_is_always_kept_apart(n, seed):
    people = generated_cohort(n, seed, supervision=0.5)
    result = form_groups(people, FormationSettings(seed=seed), week_of=WEEK)
    assert conflict_pairs(result, people) == []
    for track, count in Counter(career_track(p.career_stage) for p in people).items():
        if plan_group_sizes(count, 6, 8)[1] is None:
            assert all(6 <= len(g.members) <= 8 for g in result.groups if g.career_band == track)


# --- soft goals -----------------------------------------------------------------------------------


def test_groups_form_around_shared_hours():
    tuesday = [person(f"UT{i}", availability="Tue 18:00-19:00", lead=i == 0) for i in range(7)]
    thursday = [person(f"UH{i}", availability="Thu 12:00-13:00", lead=i == 0) for i in range(7)]
    result = form_groups(tuesday + thursday, FormationSettings(seed=3), week_of=WEEK)
    slots = sorted(tuple(g.common_slots) for g in result.groups)
    assert slots == [("Thu 12:00",), ("Tue 18:00",)]
    assert result.objective.availability_gaps == 0
    assert result.warnings == []


def test_people_without_availability_do_not_veto_a_common_hour():
    people = [person(f"U{i}", availability="Tue 18:00-20:00") for i in range(5)] + [person("USILENT", availability="")]
    (group,) = form_groups(people, week_of=WEEK).groups
    assert group.common_slots == ["Tue 18:00", "Tue 19:00"]
    assert not any("hour" in w for w in group.warnings)


def test_a_group_without_a_known_common_hour_is_reported():
    people = [person(f"U{i}", availability=MENU[i]) for i in range(6)]
    result = form_groups(people, week_of=WEEK)
    (group,) = result.groups
    assert group.common_slots == []
    assert any("no weekly hour suits all 6" in w for w in group.warnings)
    assert result.objective.availability_gaps == 5  # the best hour suits one of six
    nobody = [person(f"U{i}", availability="") for i in range(6)]
    result = form_groups(nobody, week_of=WEEK)
    assert result.objective.availability_gaps == 1
    assert any("no member gave availability" in w for w in result.groups[0].warnings)
    assert any("no known common hour" in w for w in result.warnings)


def test_common_hours_are_described_in_the_groups_majority_time_zone():
    chicago = [person(f"UC{i}", availability="Tue 18:00-20:00") for i in range(4)]
    new_york = [person(f"UN{i}", tz="America/New_York", availability="Tue 19:00-20:00") for i in range(2)]
    (group,) = form_groups(chicago + new_york, week_of=WEEK).groups
    assert group.timezone == "America/Chicago"
    assert group.common_slots == ["Tue 18:00"]


def test_each_group_gets_a_willing_lead_when_there_are_enough():
    people = [person(f"U{i:02d}", lead=i in (3, 5)) for i in range(14)]
    result = form_groups(people, week_of=WEEK)
    assert sorted(g.lead for g in result.groups) == ["U03", "U05"]
    scarce = [person(f"U{i:02d}", lead=i == 3) for i in range(14)]
    result = form_groups(scarce, week_of=WEEK)
    assert sum(g.lead is None for g in result.groups) == 1
    assert any("willing to lead" in w for w in result.warnings)


def test_the_most_experienced_willing_member_leads():
    people = [person(f"U{i}") for i in range(3)] + [
        person("UA", stage="ATTENDING-3", lead=True, department="Surgery"),
        person("UB", stage="ATTENDING-20", lead=True, department="Surgery"),
        person("UC", stage="PGY-4", lead=True),
    ]
    assert form_groups(people, MIXED_BANDS, week_of=WEEK).groups[0].lead == "UB"


def test_career_stages_and_departments_are_spread():
    juniors = [person(f"UJ{i}", stage="PGY-1", department="Surgery", lead=i == 0) for i in range(7)]
    seniors = [person(f"US{i}", stage="ATTENDING-20", department="Medicine", lead=i == 0) for i in range(7)]
    result = form_groups(juniors + seniors, MIXED_BANDS, week_of=WEEK)
    for group in result.groups:
        assert {m[:2] for m in group.members} == {"UJ", "US"}
    assert result.objective.stage_repeats == 14 - 2 * 2
    assert result.objective.department_repeats == 14 - 2 * 2


def test_availability_outranks_career_spread():
    # Juniors can only meet on Tuesday, seniors only on Thursday: shared hours win.
    juniors = [person(f"UJ{i}", stage="PGY-1", availability="Tue 18:00-19:00", lead=True) for i in range(7)]
    seniors = [person(f"US{i}", stage="ATTENDING-20", availability="Thu 12:00-13:00", lead=True) for i in range(7)]
    result = form_groups(juniors + seniors, week_of=WEEK)
    for group in result.groups:
        assert len({m[:2] for m in group.members}) == 1
    assert result.objective.availability_gaps == 0


# --- same-specialty mode -------------------------------------------------------------------------


def test_same_specialty_groups_when_numbers_allow():
    people = (
        [person(f"UC{i}", specialty="Cardiology", lead=True) for i in range(7)]
        + [person(f"UN{i}", specialty="Neurology", lead=True) for i in range(8)]
        + [person(f"UP{i}", specialty="Pediatrics", lead=True) for i in range(6)]
    )
    people[7] = person("UN0", specialty=" neurology ", lead=True)  # spelled differently, still one specialty
    result = form_groups(people, FormationSettings(mode="same-specialty"), week_of=WEEK)
    assert sorted(g.specialty for g in result.groups) == ["Cardiology", "Neurology", "Pediatrics"]
    for group in result.groups:
        assert len({m[:2] for m in group.members}) == 1
    assert result.objective.specialty_mixing == 0
    assert result.warnings == []


def test_same_specialty_reports_the_groups_that_had_to_mix():
    people = (
        [person(f"UC{i}", specialty="Cardiology", lead=True) for i in range(7)]
        + [person(f"UN{i}", specialty="Neurology", lead=True) for i in range(7)]
        + [person(f"UD{i}", specialty="Dermatology", lead=True) for i in range(4)]
    )
    result = form_groups(people, FormationSettings(mode="same-specialty"), week_of=WEEK)
    assert_everyone_placed_once(result, people)
    assert all(6 <= len(g.members) <= 8 for g in result.groups)
    mixed = [g for g in result.groups if g.specialty is None]
    assert len(mixed) == 1 and sorted(g.specialty for g in result.groups if g.specialty) == ["Cardiology", "Neurology"]
    assert any("specialties had to mix: Dermatology 4" in w for w in mixed[0].warnings)
    assert any("had to mix specialties" in w and mixed[0].name in w for w in result.warnings)


def test_same_specialty_still_keeps_supervisors_apart():
    people = [person(f"UC{i}", specialty="Cardiology") for i in range(7)] + [
        person(f"UN{i}", specialty="Neurology", lead=True) for i in range(7)
    ]
    people[0] = person("UC0", specialty="Cardiology", supervisors=("UC1",))
    people[1] = person("UC1", specialty="Cardiology", stage="ATTENDING-10", lead=True, department="Cardiology")
    result = form_groups(people, FormationSettings(mode="same-specialty", career_bands="mixed"), week_of=WEEK)
    assert conflict_pairs(result, people) == []
    assert result.objective.specialty_mixing > 0
    assert any("had to mix" in w for w in result.warnings)


def test_unknown_specialties_fit_anywhere_and_are_mentioned():
    people = [person(f"UC{i}", specialty="Cardiology", lead=True) for i in range(6)] + [person("UX", specialty="")]
    result = form_groups(people, FormationSettings(mode="same-specialty"), week_of=WEEK)
    assert_everyone_placed_once(result, people)
    assert any("no specialty on file" in w for w in result.warnings)


# --- determinism and output -----------------------------------------------------------------------


def test_the_same_seed_gives_the_same_groups_whatever_the_input_order():
    people = generated_cohort(60, seed=11)
    first = form_groups(people, FormationSettings(seed=5), week_of=WEEK)
    shuffled = list(reversed(people))
    again = form_groups(shuffled, FormationSettings(seed=5), week_of=WEEK)
    assert first.as_dict() == again.as_dict()
    others = {json.dumps(form_groups(people, FormationSettings(seed=s), week_of=WEEK).as_dict()) for s in range(4)}
    assert len(others) > 1


def test_json_shape_and_labels():
    people = [person(f"U{i:02d}", lead=i == 0) for i in range(7)]
    result = form_groups(people, week_of=WEEK, cohort="Fall 2025")
    data = json.loads(result.to_json())
    assert set(data) == {"groups", "warnings"}
    (group,) = data["groups"]
    assert {"members", "lead", "common_slots", "warnings"} <= set(group)
    assert group["name"] == "Fall 2025 group 1"
    assert group["lead"] == "U00"
    assert group["members"] == sorted(group["members"])
    assert group["common_slots"] == ["Tue 18:00", "Tue 19:00"]
    assert isinstance(result.objective, Objective)

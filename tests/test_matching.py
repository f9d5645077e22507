"""Near-peer matching: hard rules, exact optimality and explanations.

The oracle below re-states the rules independently of bot.domain.matching, and the optimum
is recomputed with networkx (max flow for the count, min-cost max flow for the score)
on the plain bipartite graph of allowed pairs.
"""

from __future__ import annotations

import json
import random
from datetime import date

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.availability import parse_windows, utc_hours_of_week
from bot.domain.matching import (
    MENTORS_AT_CAPACITY,
    MENTEES_MATCHED_ELSEWHERE,
    NO_CAREER_STAGE,
    NO_MENTEE_BEHIND,
    NO_MENTOR_AHEAD,
    ONLY_PAST_MENTEES,
    ONLY_PAST_PAIRS,
    ONLY_SUPERVISEES,
    ONLY_SUPERVISORS,
    ONLY_SUPERVISORS_OR_PAST_PAIRS,
    ZERO_CAPACITY,
    MatchingRules,
    PastPair,
    ScoreWeights,
    assign,
    build_graph,
    check_pairs,
    eligible_mentors,
    match,
    prepare_round,
    solve,
)
from bot.domain.people import CareerStage, Person

WEEK = date(2025, 3, 3)


def person(
    user_id: str,
    stage: str | None,
    role: str = "both",
    *,
    specialty: str = "Internal Medicine",
    site: str = "Main Campus",
    capacity: int = 1,
    supervisors: tuple[str, ...] = (),
    availability: str = "",
    timezone: str = "America/Chicago",
) -> Person:
    return Person(
        user_id=user_id,
        career_stage=CareerStage.parse(stage) if stage else None,
        display_name=user_id,
        specialty=specialty,
        site=site,
        timezone=timezone,
        near_peer_role=role,  # type: ignore[arg-type]
        mentor_capacity=capacity,
        supervisor_ids=frozenset(supervisors),
        availability=parse_windows(availability),
    )


def run(people, **kwargs):
    kwargs.setdefault("current_round", 5)
    return match(people, week_of=WEEK, **kwargs)


def pairs_of(result) -> set[tuple[str, str]]:
    return {(p.mentee, p.mentor) for p in result.pairs}


# ---------------------------------------------------------------- the oracle


def oracle_allowed(mentee: Person, mentor: Person, rules: MatchingRules, history, current_round, paused=()) -> bool:
    if mentee.user_id == mentor.user_id or {mentee.user_id, mentor.user_id} & set(paused):
        return False
    if mentee.near_peer_role not in ("mentee", "both") or mentor.near_peer_role not in ("mentor", "both"):
        return False
    if min(mentor.mentor_capacity, 5) < 1 or mentee.career_stage is None or mentor.career_stage is None:
        return False
    low, high = mentee.career_stage, mentor.career_stage
    gap = high.years - low.years
    if low.track == "PGY" and high.track == "PGY":
        ok = rules.pgy_gap[0] <= gap <= rules.pgy_gap[1]
    elif low.track == "ATTENDING" and high.track == "ATTENDING":
        ok = rules.attending_gap[0] <= gap <= rules.attending_gap[1]
    elif low.track == "PGY" and rules.final_year_attending_gap is not None:
        final = rules.final_pgy_year_by_specialty.get(mentee.specialty.casefold(), rules.final_pgy_year)
        in_final_year = final is not None and low.years >= final
        ok = in_final_year and rules.final_year_attending_gap[0] <= high.years <= rules.final_year_attending_gap[1]
    else:
        ok = False
    if not ok:
        return False
    if mentor.user_id in mentee.supervisor_ids or mentee.user_id in mentor.supervisor_ids:
        return False
    for past in history:
        if {past.mentee_id, past.mentor_id} == {mentee.user_id, mentor.user_id}:
            if rules.cooldown_rounds is None or current_round - past.round <= rules.cooldown_rounds:
                return False
    return True


def oracle_score(mentee: Person, mentor: Person) -> int:
    score = 0
    if mentee.specialty and mentee.specialty.casefold() == mentor.specialty.casefold():
        score += 3
    if mentee.site and mentee.site.casefold() == mentor.site.casefold():
        score += 2
    mine = utc_hours_of_week(mentee.availability, mentee.timezone, WEEK)
    theirs = utc_hours_of_week(mentor.availability, mentor.timezone, WEEK)
    if mine & theirs:
        score += 1
    return score


def oracle_optimum(people, rules, history, current_round, paused=()) -> tuple[int, int]:
    """(most mentees that can be matched, best total score among such matchings)."""
    graph = nx.DiGraph()
    graph.add_node("s")
    graph.add_node("t")
    for mentor in people:
        capacity = min(mentor.mentor_capacity, 5)
        if capacity > 0:
            graph.add_edge(("r", mentor.user_id), "t", capacity=capacity, weight=0)
    for mentee in people:
        for mentor in people:
            if oracle_allowed(mentee, mentor, rules, history, current_round, paused):
                graph.add_edge("s", ("e", mentee.user_id), capacity=1, weight=0)
                weight = -oracle_score(mentee, mentor)
                graph.add_edge(("e", mentee.user_id), ("r", mentor.user_id), capacity=1, weight=weight)
    most = nx.maximum_flow_value(graph, "s", "t")
    flow = nx.max_flow_min_cost(graph, "s", "t")
    return most, -nx.cost_of_flow(graph, flow)


# ------------------------------------------------------------- generated rosters

TRAINEES = ["PGY-1", "PGY-1", "PGY-2", "PGY-2", "PGY-3", "PGY-4", "PGY-5"]
ATTENDINGS = ["ATTENDING-0", "ATTENDING-1", "ATTENDING-3", "ATTENDING-5", "ATTENDING-9"]
WINDOWS = ["Mon 18:00-20:00", "Tue 12:00-13:00", "Sat 09:00-11:00"]
RULES = [
    MatchingRules(),
    MatchingRules(cooldown_rounds=1),
    MatchingRules(pgy_gap=(1, 1), attending_gap=(2, 4), cooldown_rounds=0),
    MatchingRules(final_pgy_year=3, final_year_attending_gap=(0, 2)),
    MatchingRules(final_pgy_year_by_specialty={"Surgery": 5}, final_year_attending_gap=(0, 4), cooldown_rounds=2),
]


@st.composite
def scenarios(draw, max_people: int = 12):
    count = draw(st.integers(2, max_people))
    ids = [f"U{n:03d}" for n in range(count)]
    stages = draw(st.sampled_from([TRAINEES, ATTENDINGS, TRAINEES + ATTENDINGS]))
    people = []
    for user_id in ids:
        people.append(
            person(
                user_id,
                draw(st.sampled_from([*stages, None])),
                draw(st.sampled_from(["mentee", "mentee", "mentor", "both", "both", "none"])),
                specialty=draw(st.sampled_from(["Internal Medicine", "Surgery", ""])),
                site=draw(st.sampled_from(["Main Campus", "North", ""])),
                capacity=draw(st.integers(0, 3)),
                supervisors=tuple(draw(st.lists(st.sampled_from(ids), max_size=1))),
                availability=";".join(draw(st.lists(st.sampled_from(WINDOWS), max_size=2, unique=True))),
                timezone=draw(st.sampled_from(["America/Chicago", "America/New_York"])),
            )
        )
    history = [
        PastPair(a, b, r)
        for a, b, r in draw(
            st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids), st.integers(1, 4)), max_size=12)
        )
        if a != b
    ]
    paused = draw(st.lists(st.sampled_from(ids), max_size=2, unique=True))
    rules = draw(st.sampled_from(RULES))
    return people, history, paused, rules


def check_against_oracle(people, history, paused, rules, current_round=5):
    result = match(people, history=history, current_round=current_round, rules=rules, paused=paused, week_of=WEEK)
    by_id = {p.user_id: p for p in people}

    # hard rules, capacity, one mentor per mentee
    load: dict[str, int] = {}
    for pair in result.pairs:
        mentee, mentor = by_id[pair.mentee], by_id[pair.mentor]
        assert oracle_allowed(mentee, mentor, rules, history, current_round, paused), pair
        assert pair.score == oracle_score(mentee, mentor)
        assert pair.reasons
        load[mentor.user_id] = load.get(mentor.user_id, 0) + 1
    for mentor_id, count in load.items():
        assert count <= min(by_id[mentor_id].mentor_capacity, 5)
    mentees = [p.mentee for p in result.pairs]
    assert len(mentees) == len(set(mentees))
    assert not check_pairs(pairs_of(result), people, history=history, current_round=current_round, rules=rules)

    # exact optimum: most mentees, then best total score
    most, best = oracle_optimum(people, rules, history, current_round, paused)
    assert len(result.pairs) == most == result.stats["matched"]
    assert sum(p.score for p in result.pairs) == best == result.stats["total_score"]

    # a reason for everyone left out, and only for them
    active = [p for p in people if p.near_peer_role != "none" and p.user_id not in paused]
    matched_mentees = set(mentees)
    expected = {
        p.user_id for p in active if p.near_peer_role in ("mentee", "both") and p.user_id not in matched_mentees
    }
    expected |= {
        p.user_id
        for p in active
        if p.near_peer_role == "mentor" and p.user_id not in load
    }
    assert {u.user for u in result.unmatched} == expected
    for entry in result.unmatched:
        assert entry.reason.strip() and entry.code
        check_reason(entry, by_id[entry.user], people, result, rules, history, current_round, paused)
    return result


def check_reason(entry, who, people, result, rules, history, current_round, paused):
    """The reason given is true of the result."""
    load: dict[str, int] = {}
    for pair in result.pairs:
        load[pair.mentor] = load.get(pair.mentor, 0) + 1
    matched = {p.mentee for p in result.pairs}
    others = [p for p in people if p.user_id not in paused and p.user_id != who.user_id]
    if entry.code == NO_CAREER_STAGE:
        assert who.career_stage is None
        return
    if entry.code == ZERO_CAPACITY:
        assert entry.role == "mentor" and who.mentor_capacity == 0
        return
    if entry.role == "mentee":
        candidates = [(who, m) for m in others]
    else:
        candidates = [(m, who) for m in others]
    at_stage = [(e, r) for e, r in candidates if stage_allowed(e, r, rules, paused)]
    allowed = [(e, r) for e, r in at_stage if oracle_allowed(e, r, rules, history, current_round, paused)]
    supervised = [(e, r) for e, r in at_stage if r.user_id in e.supervisor_ids or e.user_id in r.supervisor_ids]
    if entry.code == MENTORS_AT_CAPACITY:
        assert allowed and all(load.get(r.user_id, 0) == min(r.mentor_capacity, 5) for _, r in allowed)
    elif entry.code == MENTEES_MATCHED_ELSEWHERE:
        assert allowed and all(e.user_id in matched for e, _ in allowed)
    elif entry.code in (NO_MENTOR_AHEAD, NO_MENTEE_BEHIND):
        assert not at_stage
    else:
        assert at_stage and not allowed
        if entry.code in (ONLY_SUPERVISORS, ONLY_SUPERVISEES):
            assert len(supervised) == len(at_stage)
        elif entry.code in (ONLY_PAST_PAIRS, ONLY_PAST_MENTEES):
            assert not supervised
        else:
            assert 0 < len(supervised) < len(at_stage)


def stage_allowed(mentee: Person, mentor: Person, rules: MatchingRules, paused) -> bool:
    """Allowed if supervision and history did not count."""
    unsupervised = [Person(**{**p.__dict__, "supervisor_ids": frozenset()}) for p in (mentee, mentor)]
    return oracle_allowed(*unsupervised, rules, (), 0, paused)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(scenarios())
def test_generated_rosters_obey_the_rules_and_are_optimal(scenario):
    check_against_oracle(*scenario)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(scenarios(max_people=8))
def test_result_does_not_depend_on_input_order(scenario):
    people, history, paused, rules = scenario
    first = match(people, history=history, current_round=5, rules=rules, paused=paused, week_of=WEEK)
    reversed_history = list(reversed(history))
    again = match(
        list(reversed(people)), history=reversed_history, current_round=5, rules=rules, paused=paused, week_of=WEEK
    )
    assert first.to_json() == again.to_json()


@pytest.mark.parametrize("seed", range(30))
def test_seeded_rosters_of_many_sizes_are_optimal(seed):
    """Denser rosters than hypothesis tends to draw; many mentees have a supervisor or past mentor in reach."""
    rng = random.Random(seed)
    ids = [f"U{n:03d}" for n in range(12 + 3 * seed)]
    stages = ["PGY-1", "PGY-2", "PGY-3", "PGY-4", "ATTENDING-1", "ATTENDING-3", "ATTENDING-6"]
    people = [
        person(
            user_id,
            rng.choice(stages),
            rng.choice(["mentee", "mentor", "both"]),
            specialty=rng.choice(["Internal Medicine", "Surgery", "Pediatrics"][: 1 + seed % 3]),
            site=rng.choice(["Main Campus", "North"][: 1 + seed % 2]),
            capacity=rng.choice([0, 1, 1, 2, 3]),
            supervisors=tuple(rng.sample(ids, rng.choice([0, 1, 2]))),
            availability=";".join(rng.sample(WINDOWS, rng.choice([0, 1, 2]))),
            timezone=rng.choice(["America/Chicago", "America/New_York"]),
        )
        for user_id in ids
    ]
    history = [PastPair(a, b, rng.randint(1, 4)) for a, b in (rng.sample(ids, 2) for _ in range(len(ids)))]
    paused = rng.sample(ids, seed % 3)
    check_against_oracle(people, history, paused, RULES[seed % len(RULES)])


def test_solver_returns_a_dual_certificate():
    rng = random.Random(11)
    ids = [f"U{n:03d}" for n in range(60)]
    people = [
        person(u, rng.choice(["PGY-1", "PGY-2", "PGY-3"]), rng.choice(["mentee", "both"]), capacity=rng.choice([1, 2]),
               specialty=rng.choice(["Surgery", "Pediatrics"]), availability=rng.choice(WINDOWS))
        for u in ids
    ]  # fmt: skip
    history = [PastPair(a, b, 1) for a, b in (rng.sample(ids, 2) for _ in range(40))]
    round_ = prepare_round(people, history=history, current_round=2, week_of=WEEK)
    network = build_graph(round_)
    solution = solve(network)
    flows, p = solution.flows, solution.potentials
    reduced = network.costs + p[network.tails] - p[network.heads]
    assert (reduced[flows < network.capacities] >= 0).all()
    assert (reduced[flows > 0] <= 0).all()
    size = network.node_count
    balance = np.bincount(network.heads, flows, size) - np.bincount(network.tails, flows, size)
    inner = np.ones(network.node_count, dtype=bool)
    inner[[network.source, network.sink]] = False
    assert (balance[inner] == 0).all() and solution.phases >= 1
    matched = run(people, history=history, current_round=2).stats["matched"]
    assert len(assign(network, flows)) == -balance[network.source] == matched


# ------------------------------------------------------------- the rules, one by one


def test_pgy_mentor_is_one_or_two_years_ahead():
    mentee = person("U1", "PGY-1", "mentee")
    candidates = [person(f"U{y}", f"PGY-{y}", "mentor") for y in (1, 2, 3, 4)]
    allowed = eligible_mentors(mentee, candidates, current_round=1)
    assert [p.user_id for p in allowed] == ["U2", "U3"]


def test_attending_mentor_is_two_to_eight_years_further_into_practice():
    mentee = person("U0", "ATTENDING-1", "mentee")
    candidates = [person(f"U{y}", f"ATTENDING-{y}", "mentor") for y in (1, 2, 3, 9, 10)]
    allowed = eligible_mentors(mentee, candidates, current_round=1)
    assert [p.user_id for p in allowed] == ["U3", "U9"]


def test_trainees_and_attendings_are_never_paired_by_default():
    people = [person("U1", "PGY-3", "mentee"), person("U2", "ATTENDING-1", "mentor")]
    result = run(people)
    assert result.pairs == []
    assert result.unmatched[0].code == NO_MENTOR_AHEAD


def test_final_year_trainee_may_have_an_early_attending_when_configured():
    rules = MatchingRules(final_pgy_year_by_specialty={"internal medicine": 3}, final_year_attending_gap=(0, 2))
    final_year = person("U1", "PGY-3", "mentee")
    not_final = person("U2", "PGY-2", "mentee", specialty="Surgery")
    attending = person("U3", "ATTENDING-1", "mentor", capacity=2)
    too_senior = person("U4", "ATTENDING-5", "mentor")
    result = run([final_year, not_final, attending, too_senior], rules=rules)
    assert pairs_of(result) == {("U1", "U3")}
    assert "final year" in result.pairs[0].reasons[0]
    # an attending is never mentored by a trainee, whatever the settings
    young_attending, senior_resident = person("U5", "ATTENDING-0", "mentee"), person("U6", "PGY-5", "mentor")
    assert eligible_mentors(young_attending, [senior_resident], rules=rules, current_round=1) == []


def test_supervisors_are_kept_out_in_both_directions():
    mentee = person("U1", "PGY-1", "mentee", supervisors=("U2",))
    their_supervisor = person("U2", "PGY-2", "mentor")
    result = run([mentee, their_supervisor])
    assert result.pairs == [] and result.unmatched[0].code == ONLY_SUPERVISORS
    assert pairs_of(run([mentee, their_supervisor, person("U3", "PGY-3", "mentor")])) == {("U1", "U3")}
    supervised_by_mentee = person("U5", "PGY-2", "mentor", supervisors=("U4",))
    assert run([person("U4", "PGY-1", "mentee"), supervised_by_mentee]).pairs == []


def test_several_excluded_mentors_in_one_group_are_all_avoided():
    mentee = person("U1", "PGY-1", "mentee", supervisors=("U2",), availability="Mon 18:00-20:00")
    peers = [person(f"U{n}", "PGY-2", "mentor", availability="Mon 18:00-20:00") for n in (2, 3, 4)]
    other = person("U5", "PGY-1", "mentee", availability="Mon 18:00-20:00")
    history = [PastPair("U1", "U3", 1), PastPair("U1", "U4", 2)]
    result = run([mentee, other, *peers], history=history)
    assert [p.mentee for p in result.pairs] == ["U5"]
    assert result.unmatched[0].code == ONLY_SUPERVISORS_OR_PAST_PAIRS


def test_exclusions_in_two_branches_still_leave_the_rest_reachable():
    mentee = person("U1", "PGY-1", "mentee", supervisors=("U2",))
    surgeon = person("U2", "PGY-2", "mentor", specialty="Surgery")
    paediatrician = person("U3", "PGY-2", "mentor", specialty="Pediatrics")
    only_choice = person("U4", "PGY-2", "mentor", specialty="Pediatrics", site="North")
    result = run([mentee, surgeon, paediatrician, only_choice], history=[PastPair("U1", "U3", 1)])
    assert pairs_of(result) == {("U1", "U4")}


def test_an_exclusion_at_one_stage_leaves_the_other_stages_open():
    mentee = person("U1", "ATTENDING-1", "mentee")
    past_mentor = person("U2", "ATTENDING-3", "mentor")
    further_on = person("U3", "ATTENDING-6", "mentor", specialty="Surgery", site="North")
    result = run([mentee, past_mentor, further_on], history=[PastPair("U1", "U2", 1)])
    assert pairs_of(result) == {("U1", "U3")}


def test_supervisors_at_other_stages_do_not_change_the_reason():
    mentee = person("U1", "PGY-1", "mentee", specialty="Surgery", supervisors=("U9",))
    rival = person("U5", "PGY-1", "mentee")
    mentor = person("U2", "PGY-2", "mentor")
    attending = person("U9", "ATTENDING-12", "mentor")
    result = run([mentee, rival, mentor, attending])
    assert pairs_of(result) == {("U5", "U2")}
    assert result.unmatched[0].user == "U1" and result.unmatched[0].code == MENTORS_AT_CAPACITY
    assert result.unmatched[0].reason == (
        "The one mentor who fits is already at capacity this round; you stay in the pool for the next one."
    )


def test_ended_pairs_are_never_repeated_by_default():
    mentee, mentor = person("U1", "PGY-1", "mentee"), person("U2", "PGY-2", "mentor")
    history = [PastPair("U1", "U2", 1)]
    result = run([mentee, mentor], history=history)
    assert result.pairs == []
    assert [(u.user, u.code) for u in result.unmatched] == [("U1", ONLY_PAST_PAIRS), ("U2", ONLY_PAST_MENTEES)]


def test_cooldown_allows_a_repeat_once_it_has_passed():
    mentee, mentor = person("U1", "PGY-1", "mentee"), person("U2", "PGY-2", "mentor")
    history = [PastPair("U1", "U2", 2)]
    assert run([mentee, mentor], history=history, rules=MatchingRules(cooldown_rounds=3)).pairs == []
    result = run([mentee, mentor], history=history, rules=MatchingRules(cooldown_rounds=2))
    assert pairs_of(result) == {("U1", "U2")}
    assert result.pairs[0].reasons[-1] == "paired before in round 2; the cooldown has passed"
    assert result.stats["repeat_pairs"] == 1


def test_a_repeat_in_the_other_direction_is_still_a_repeat():
    mentee, mentor = person("U1", "PGY-1", "both"), person("U2", "PGY-3", "both")
    assert run([mentee, mentor], history=[PastPair("U2", "U1", 1)]).pairs == []


def test_capacity_is_respected_and_defaults_to_one():
    mentees = [person(f"U{n}", "PGY-1", "mentee") for n in range(1, 5)]
    busy = person("U8", "PGY-2", "mentor", capacity=2)
    single = person("U9", "PGY-3", "mentor")
    result = run(mentees + [busy, single])
    mentors = [p.mentor for p in result.pairs]
    assert mentors.count("U8") == 2 and mentors.count("U9") == 1
    assert result.stats["unmatched_mentees"] == 1
    left_out = next(u for u in result.unmatched if u.role == "mentee")
    assert left_out.code == MENTORS_AT_CAPACITY
    assert left_out.reason == (
        "All 2 mentors who fit are already at capacity this round; you stay in the pool for the next one."
    )


def test_capacity_above_five_counts_as_five():
    mentees = [person(f"U{n:02d}", "PGY-1", "mentee") for n in range(1, 8)]
    result = run(mentees + [person("U99", "PGY-2", "mentor", capacity=9)])
    assert len(result.pairs) == 5


def test_zero_capacity_mentor_takes_no_mentees_and_is_told_why():
    result = run([person("U1", "PGY-1", "mentee"), person("U2", "PGY-2", "mentor", capacity=0)])
    assert result.pairs == []
    assert {(u.user, u.code) for u in result.unmatched} == {("U1", NO_MENTOR_AHEAD), ("U2", ZERO_CAPACITY)}


def test_both_can_be_mentee_and_mentor_in_different_pairs_but_not_with_themselves():
    chain = [person("U1", "PGY-1", "mentee"), person("U2", "PGY-2", "both"), person("U3", "PGY-3", "mentor")]
    result = run(chain)
    assert pairs_of(result) == {("U1", "U2"), ("U2", "U3")}
    assert all(p.mentee != p.mentor for p in result.pairs)


def test_more_matches_beat_a_better_score():
    # A greedy pass that gives U3 (same specialty and site) to U1 would leave U2 alone.
    u1 = person("U1", "PGY-1", "mentee")
    u2 = person("U2", "PGY-2", "mentee", specialty="Surgery", site="North")
    close = person("U3", "PGY-3", "mentor")
    far = person("U4", "PGY-2", "mentor", specialty="Pediatrics", site="North Shore")
    result = run([u1, u2, close, far])
    assert pairs_of(result) == {("U1", "U4"), ("U2", "U3")}
    assert result.unmatched == []


def test_among_full_matchings_the_best_score_wins():
    u1 = person("U1", "PGY-1", "mentee", specialty="Surgery")
    u2 = person("U2", "PGY-1", "mentee", site="North")
    surgeon = person("U3", "PGY-2", "mentor", specialty="Surgery", site="North")
    internist = person("U4", "PGY-2", "mentor", site="North")
    result = run([u1, u2, surgeon, internist])
    assert pairs_of(result) == {("U1", "U3"), ("U2", "U4")}
    assert result.stats["total_score"] == 3 + 5


def test_availability_overlap_earns_a_point_across_time_zones():
    mentee = person("U1", "PGY-1", "mentee", availability="Mon 18:00-21:00", timezone="America/New_York")
    near = person("U2", "PGY-2", "mentor", availability="Mon 17:00-19:00", timezone="America/Chicago")
    other = person("U3", "PGY-2", "mentor", availability="Mon 18:00-19:00", timezone="America/Los_Angeles")
    result = run([mentee, near, other])
    assert pairs_of(result) == {("U1", "U2")}
    assert result.pairs[0].score == 6
    assert result.pairs[0].reasons == (
        "PGY-2 → PGY-1: one year ahead",
        "same specialty (Internal Medicine)",
        "same site (Main Campus)",
        "2 common hours a week",
    )


def test_weights_are_configurable():
    mentee = person("U1", "PGY-1", "mentee", specialty="Surgery", site="North")
    same_site = person("U2", "PGY-2", "mentor", site="North")
    same_specialty = person("U3", "PGY-2", "mentor", specialty="Surgery")
    assert pairs_of(run([mentee, same_site, same_specialty])) == {("U1", "U3")}
    site_first = MatchingRules(weights=ScoreWeights(specialty=1, site=4, availability=0))
    assert pairs_of(run([mentee, same_site, same_specialty], rules=site_first)) == {("U1", "U2")}


def test_attending_reasons_count_years_in_practice():
    result = run([person("U1", "ATTENDING-4", "mentee"), person("U2", "ATTENDING-9", "mentor")])
    assert result.pairs[0].reasons[0] == (
        "attending (9 years in practice) → attending (4 years in practice): five years further into practice"
    )


def test_paused_and_opted_out_people_sit_the_round_out():
    people = [
        person("U1", "PGY-1", "mentee"),
        person("U2", "PGY-2", "mentor"),
        person("U3", "PGY-1", "none"),
        person("U4", "PGY-1", "mentee"),
    ]
    result = run(people, paused=["U2", "U4"])
    assert result.pairs == []
    assert [(u.user, u.code) for u in result.unmatched] == [("U1", NO_MENTOR_AHEAD)]
    assert result.stats["paused"] == 2 and result.stats["not_opted_in"] == 1


def test_missing_career_stage_is_explained():
    result = run([person("U1", None, "mentee"), person("U2", "PGY-2", "mentor")])
    assert result.unmatched[0].code == NO_CAREER_STAGE
    assert result.unmatched[1].code == NO_MENTEE_BEHIND


def test_unmatched_reason_wording_names_the_stages():
    result = run([person("U1", "PGY-2", "mentee")])
    assert result.unmatched[0].reason == "No one in PGY-3 or PGY-4 has offered to mentor this round."
    result = run([person("U1", "ATTENDING-3", "mentee")])
    assert result.unmatched[0].reason == "No attending with 5 to 11 years in practice has offered to mentor this round."
    bridge = MatchingRules(final_pgy_year=3, final_year_attending_gap=(0, 2))
    result = run([person("U1", "PGY-3", "mentee")], rules=bridge)
    assert result.unmatched[0].reason == (
        "No one in PGY-4 or PGY-5, nor any attending with 0 to 2 years in practice, has offered to mentor this round."
    )


def test_mixed_exclusions_are_named_together():
    mentee = person("U1", "PGY-1", "mentee", supervisors=("U2",))
    mentors = [person("U2", "PGY-2", "mentor"), person("U3", "PGY-3", "mentor")]
    result = run([mentee, *mentors], history=[PastPair("U1", "U3", 1)])
    assert [(u.user, u.code) for u in result.unmatched][0] == ("U1", ONLY_SUPERVISORS_OR_PAST_PAIRS)
    supervisee_only = run([person("U5", "PGY-1", "mentee", supervisors=("U6",)), person("U6", "PGY-2", "mentor")])
    assert supervisee_only.unmatched[1].code == ONLY_SUPERVISEES


def test_json_shape():
    result = run([person("U1", "PGY-1", "mentee"), person("U2", "PGY-2", "mentor"), person("U3", "PGY-1", "mentee")])
    data = json.loads(result.to_json())
    assert set(data) == {"pairs", "unmatched", "stats"}
    assert data["pairs"][0]["mentee"] in ("U1", "U3") and data["pairs"][0]["mentor"] == "U2"
    assert isinstance(data["pairs"][0]["score"], float) and data["pairs"][0]["reasons"]
    assert set(data["unmatched"][0]) >= {"user", "reason"}
    assert data["stats"]["matched"] == 1 and data["stats"]["mentees"] == 2 and data["stats"]["mentor_slots"] == 1


def test_empty_roster():
    result = run([])
    assert result.pairs == [] and result.unmatched == [] and result.stats["matched"] == 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unique"):
        run([person("U1", "PGY-1"), person("U1", "PGY-2")])
    with pytest.raises(ValueError, match="round 5"):
        run([person("U1", "PGY-1")], history=[PastPair("U1", "U2", 5)], current_round=5)
    with pytest.raises(ValueError, match="pgy_gap"):
        MatchingRules(pgy_gap=(0, 2))
    with pytest.raises(ValueError, match="cooldown"):
        MatchingRules(cooldown_rounds=-1)
    with pytest.raises(ValueError, match="weight"):
        ScoreWeights(site=-1)


def test_check_pairs_reports_each_broken_rule():
    people = [
        person("U1", "PGY-1", "mentee", supervisors=("U3",)),
        person("U2", "PGY-1", "mentee"),
        person("U3", "PGY-2", "mentor"),
        person("U4", "PGY-5", "mentor"),
        person("U5", "PGY-2", "none"),
    ]
    proposed = [("U1", "U3"), ("U2", "U4"), ("U2", "U3"), ("U1", "U5"), ("U2", "U9")]
    violations = check_pairs(proposed, people, history=[PastPair("U2", "U3", 1)], current_round=2)
    rules = {(v.mentee, v.mentor, v.rule) for v in violations}
    assert rules == {
        ("U1", "U3", "supervision"),
        ("U2", "U4", "stage_gap"),
        ("U2", "U3", "recent_pair"),
        ("U2", "U3", "two_mentors"),
        ("U2", "U3", "over_capacity"),
        ("U1", "U5", "not_a_mentor"),
        ("U1", "U5", "two_mentors"),
        ("U2", "U9", "unknown_person"),
    }

"""Topic rotation: the cycle's shape, no repeats, no consecutive domain, adaptive choice, alternatives."""

from __future__ import annotations

from collections import Counter
from typing import Callable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.curriculum import DOMAINS, Catalogue, Source, Topic, load_catalogue
from bot.domain.rotation import (
    DomainSignal,
    TopicChoiceError,
    alternatives,
    choose_next_topic,
    lead_choice,
    slot_kind,
)

CATALOGUE = load_catalogue()
CYCLES = 5
CYCLE = 12
AUDIENCES = ("residents", "attendings", "all")

Signals = Mapping[str, DomainSignal]


def run(
    audience: str,
    *,
    sessions: int = CYCLES * CYCLE,
    cycle_length: int = CYCLE,
    signals: Callable[[int], Signals | None] = lambda index: None,
    swap: Callable[[int, list], object | None] = lambda index, options: None,
    catalogue: Catalogue = CATALOGUE,
) -> list[str]:
    """The slugs a group would have, session by session; ``swap`` may pick one of the alternatives."""
    history: list[str] = []
    for index in range(sessions):
        kwargs = dict(audience=audience, history=history, cycle_length=cycle_length, domain_signals=signals(index))
        choice = choose_next_topic(catalogue, **kwargs)
        options = alternatives(catalogue, scheduled=choice.topic.slug, **kwargs)
        picked = swap(index, options)
        history.append((picked or choice).topic.slug)
    return history


def assert_rotation_rules(history: list[str], audience: str, cycle_length: int = CYCLE, catalogue: Catalogue = CATALOGUE):
    topics = [catalogue.get(slug) for slug in history]
    for index, topic in enumerate(topics):
        assert topic.suits(audience), (index, topic.slug)
        assert topic.kind == slot_kind(index, cycle_length), (index, topic.slug)
    for index, (before, after) in enumerate(zip(topics, topics[1:])):
        assert before.primary_domain != after.primary_domain, (index, before.slug, after.slug)
    pool = [t.slug for t in catalogue.eligible(audience, "regular")]
    held = Counter()
    for slug in (t.slug for t in topics if t.kind == "regular"):
        held[slug] += 1
        # A topic comes round again only once every eligible topic has had its turn.
        assert held[slug] - min(held[p] for p in pool) <= 1, slug


# The cycle -------------------------------------------------------------------------------


def test_slot_kinds():
    assert [slot_kind(i) for i in (0, 1, 10, 11, 12, 23, 24)] == [
        "introductions", "regular", "regular", "closing", "introductions", "closing", "introductions",
    ]
    assert [slot_kind(i, 4) for i in range(8)] == ["introductions", "regular", "regular", "closing"] * 2
    with pytest.raises(ValueError):
        slot_kind(0, 2)


@pytest.mark.parametrize("audience", AUDIENCES)
def test_five_cycles_follow_every_rule(audience: str):
    history = run(audience)
    assert_rotation_rules(history, audience)
    pool = CATALOGUE.eligible(audience, "regular")
    regular = [slug for slug in history if CATALOGUE.get(slug).kind == "regular"]
    # Nothing repeats until the whole pool has been used once.
    assert len(set(regular[: len(pool)])) == len(pool)
    assert history == run(audience), "the same inputs must give the same topics"


@pytest.mark.parametrize("audience", ("residents", "attendings"))
def test_groups_get_their_own_topics_early(audience: str):
    first_cycle = [CATALOGUE.get(slug) for slug in run(audience, sessions=CYCLE)]
    own = [t for t in first_cycle if t.audience == audience]
    assert 3 <= len(own) <= 7, [t.slug for t in first_cycle]


def test_mixed_groups_only_get_topics_for_everyone():
    assert all(CATALOGUE.get(slug).audience == "all" for slug in run("all"))


def test_custom_cycle_length():
    history = run("residents", sessions=18, cycle_length=6)
    assert_rotation_rules(history, "residents", cycle_length=6)


def test_explanations_are_one_short_line():
    history: list[str] = []
    for _ in range(2 * CYCLE):
        choice = choose_next_topic(CATALOGUE, audience="residents", history=history)
        assert choice.explanation and "\n" not in choice.explanation and len(choice.explanation) < 160
        history.append(choice.topic.slug)
    first = choose_next_topic(CATALOGUE, audience="residents", history=[])
    assert first.reason == "introductions" and "introductions" in first.explanation
    last = choose_next_topic(CATALOGUE, audience="residents", history=history[:11])
    assert last.reason == "closing" and "closing" in last.explanation


def test_session_index_overrides_the_history_length():
    history = run("attendings", sessions=5)
    choice = choose_next_topic(CATALOGUE, audience="attendings", history=history, session_index=11)
    assert choice.topic.kind == "closing"


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    audience=st.sampled_from(AUDIENCES),
    pulses=st.lists(
        st.dictionaries(
            st.sampled_from(sorted(DOMAINS)),
            st.builds(DomainSignal, st.floats(-20, 20, allow_nan=False), st.integers(0, 12)),
            max_size=5,
        ),
        min_size=CYCLES * CYCLE,
        max_size=CYCLES * CYCLE,
    ),
    swaps=st.lists(st.integers(-1, 2), min_size=CYCLES * CYCLE, max_size=CYCLES * CYCLE),
)
def test_rules_hold_with_changing_pulses_and_lead_swaps(audience, pulses, swaps):
    def swap(index: int, options: list):
        choice = swaps[index]
        return options[choice] if 0 <= choice < len(options) else None

    history = run(audience, signals=lambda index: pulses[index], swap=swap)
    assert_rotation_rules(history, audience)


# Adaptive choice -------------------------------------------------------------------------

MIDWAY = run("residents", sessions=4)


def test_adaptive_follows_a_worsened_domain():
    plain = choose_next_topic(CATALOGUE, audience="residents", history=MIDWAY)
    signals = {"self-compassion": DomainSignal(change=-6.0, respondents=7)}
    choice = choose_next_topic(CATALOGUE, audience="residents", history=MIDWAY, domain_signals=signals)
    assert plain.topic.primary_domain != "self-compassion"
    assert choice.topic.primary_domain == "self-compassion"
    assert choice.reason == "pulse" and choice.domain == "self-compassion"
    assert choice.explanation == "Chosen with your group's recent check-ins in mind: self-compassion."


def test_the_most_worsened_domain_wins():
    signals = {"workload": DomainSignal(-2.0, 8), "meaning": DomainSignal(-9.0, 8), "conflict": DomainSignal(-4.0, 8)}
    choice = choose_next_topic(CATALOGUE, audience="attendings", history=run("attendings", sessions=3), domain_signals=signals)
    assert choice.topic.primary_domain == "meaning"


def test_aggregates_under_the_anonymity_threshold_are_ignored():
    plain = choose_next_topic(CATALOGUE, audience="residents", history=MIDWAY)
    small = {"self-compassion": DomainSignal(change=-15.0, respondents=4)}
    choice = choose_next_topic(CATALOGUE, audience="residents", history=MIDWAY, domain_signals=small)
    assert choice == plain
    assert "pulse" not in choice.explanation
    lower_threshold = choose_next_topic(CATALOGUE, audience="residents", history=MIDWAY, domain_signals=small, min_group=3)
    assert lower_threshold.topic.primary_domain == "self-compassion"


def test_improved_domains_and_switched_off_mode_change_nothing():
    plain = choose_next_topic(CATALOGUE, audience="residents", history=MIDWAY)
    better = {"self-compassion": DomainSignal(change=5.0, respondents=9)}
    assert choose_next_topic(CATALOGUE, audience="residents", history=MIDWAY, domain_signals=better) == plain
    worse = {"self-compassion": DomainSignal(change=-5.0, respondents=9)}
    assert choose_next_topic(CATALOGUE, audience="residents", history=MIDWAY, domain_signals=worse, adaptive=False) == plain


def test_a_worsened_domain_never_repeats_back_to_back():
    signals = {"workload": DomainSignal(-10.0, 9)}
    history = run("residents", sessions=CYCLE, signals=lambda index: signals)
    assert_rotation_rules(history, "residents")
    workload = [i for i, slug in enumerate(history) if CATALOGUE.get(slug).primary_domain == "workload"]
    assert len(workload) >= 2 and workload[0] <= 2
    assert all(b - a > 1 for a, b in zip(workload, workload[1:]))


def test_pulse_never_overrides_the_introductions_or_closing():
    signals = {"medical-error": DomainSignal(-10.0, 9)}
    assert choose_next_topic(CATALOGUE, audience="all", history=[], domain_signals=signals).topic.kind == "introductions"
    closing = choose_next_topic(CATALOGUE, audience="all", history=run("all", sessions=11), domain_signals=signals)
    assert closing.topic.kind == "closing"


# Alternatives and the lead's choice ------------------------------------------------------


def test_three_alternatives_obey_the_same_rules():
    scheduled = choose_next_topic(CATALOGUE, audience="residents", history=MIDWAY)
    options = alternatives(CATALOGUE, audience="residents", history=MIDWAY, scheduled=scheduled.topic.slug)
    assert len(options) == 3
    slugs = [o.topic.slug for o in options]
    assert len(set(slugs)) == 3 and scheduled.topic.slug not in slugs
    previous = CATALOGUE.get(MIDWAY[-1]).primary_domain
    for option in options:
        assert option.topic.kind == "regular" and option.topic.suits("residents")
        assert option.topic.slug not in MIDWAY
        assert option.topic.primary_domain != previous
        assert option.explanation
    again = alternatives(CATALOGUE, audience="residents", history=MIDWAY, scheduled=scheduled.topic.slug)
    assert again == options


def test_alternatives_for_the_introductions_are_other_introductions():
    scheduled = choose_next_topic(CATALOGUE, audience="attendings", history=[])
    options = alternatives(CATALOGUE, audience="attendings", history=[], scheduled=scheduled.topic.slug)
    assert options and all(o.topic.kind == "introductions" for o in options)
    assert scheduled.topic.slug not in [o.topic.slug for o in options]


def test_fewer_alternatives_at_the_end_of_a_round():
    pool = [t.slug for t in CATALOGUE.eligible("all", "regular")]
    # Mixed groups have 18 regular topics and 10 per cycle: two are left at session 20.
    history = run("all", sessions=19)
    assert slot_kind(len(history)) == "regular"
    held = Counter(history)
    left = [slug for slug in pool if held[slug] == 0]
    assert len(left) == 2
    scheduled = choose_next_topic(CATALOGUE, audience="all", history=history)
    options = alternatives(CATALOGUE, audience="all", history=history, scheduled=scheduled.topic.slug)
    assert scheduled.topic.slug in left
    assert [o.topic.slug for o in options] in ([], [slug for slug in left if slug != scheduled.topic.slug])


def test_lead_can_choose_any_eligible_topic():
    choice = lead_choice(CATALOGUE, "when-things-go-wrong", audience="residents", history=MIDWAY)
    assert choice.topic.slug == "when-things-go-wrong" and choice.reason == "lead"
    assert choice.explanation == "Chosen by your group's lead."
    repeat = lead_choice(CATALOGUE, MIDWAY[1], audience="residents", history=MIDWAY)
    assert "discussed it before" in repeat.explanation


def test_lead_choice_refuses_unknown_or_unsuitable_topics():
    with pytest.raises(TopicChoiceError, match="Did you mean exam-season"):
        lead_choice(CATALOGUE, "exam-seasn", audience="residents", history=[])
    with pytest.raises(TopicChoiceError, match="written for residents"):
        lead_choice(CATALOGUE, "exam-season", audience="attendings", history=[])
    with pytest.raises(TopicChoiceError, match="not offered to mixed groups"):
        lead_choice(CATALOGUE, "first-years-as-an-attending", audience="all", history=[])


def test_rotation_recovers_after_lead_choices():
    history = run("attendings", sessions=3)
    for slug in ("staying-changing-or-leaving", "staying-changing-or-leaving", "mentors-at-every-stage"):
        history.append(lead_choice(CATALOGUE, slug, audience="attendings", history=history).topic.slug)
    following = run_from(history, "attendings", CYCLE * 2)
    topics = [CATALOGUE.get(slug) for slug in following]
    assert all(a.primary_domain != b.primary_domain for a, b in zip(topics[len(history) - 1 :], topics[len(history) :]))
    assert [t.kind for t in topics[CYCLE : 2 * CYCLE]] == [slot_kind(i) for i in range(CYCLE)]


def run_from(history: list[str], audience: str, sessions: int) -> list[str]:
    history = list(history)
    while len(history) < sessions:
        history.append(choose_next_topic(CATALOGUE, audience=audience, history=history).topic.slug)
    return history


# Small catalogues ------------------------------------------------------------------------


def make_topic(slug: str, domain: str, kind: str = "regular") -> Topic:
    return Topic(
        slug=slug,
        title=slug,
        domains=(domain,),
        audience="all",
        why="Why.",
        questions=("One?", "Two?", "Three?"),
        closing_question="Close?",
        sources=(Source("A B", 2020, "T", doi="10.1000/x"),),
        kind=kind,
    )


def test_lookahead_avoids_stranding_the_end_of_a_round():
    # Greedy catalogue order would leave the two "workload" topics for last, back to back.
    catalogue = Catalogue(
        (
            make_topic("hello", "community", "introductions"),
            make_topic("bye", "gratitude-joy", "closing"),
            make_topic("work-1", "workload"),
            make_topic("work-2", "workload"),
            make_topic("meaning", "meaning"),
            make_topic("conflict", "conflict"),
        )
    )
    history = run("all", sessions=18, cycle_length=6, catalogue=catalogue)
    assert_rotation_rules(history, "all", cycle_length=6, catalogue=catalogue)


def test_impossible_rules_fall_back_instead_of_failing():
    catalogue = Catalogue(
        (
            make_topic("hello", "community", "introductions"),
            make_topic("bye", "gratitude-joy", "closing"),
            make_topic("work-1", "workload"),
            make_topic("work-2", "workload"),
            make_topic("work-3", "workload"),
        )
    )
    history = ["hello", "work-1"]
    choice = choose_next_topic(catalogue, audience="all", history=history)
    assert choice.reason == "fallback" and choice.topic.slug in ("work-2", "work-3")
    assert "could not all be met" in choice.explanation
    assert alternatives(catalogue, audience="all", history=history) == []


def test_topics_removed_from_the_catalogue_are_ignored():
    history = ["introductions-what-brought-us-here", "a-topic-an-admin-deleted"]
    choice = choose_next_topic(CATALOGUE, audience="residents", history=history)
    assert choice.topic.kind == "regular" and choice.reason == "rotation"
    with pytest.raises(ValueError):
        choose_next_topic(CATALOGUE, audience="students", history=[])

"""The matching bench's optimality certificates reject what they must (bench/matching_certificate.py)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_matching import CURRENT_ROUND, WEEK, generate_history, generate_people  # noqa: E402
from matching_certificate import (  # noqa: E402
    AllowedPairs,
    Cover,
    certify_score,
    check_cover,
    check_pairing,
    find_cover,
)

from bot.domain.matching import MatchingRules, match  # noqa: E402

SMALL_CHUNK = 5_000  # several chunks even for this small roster


@pytest.fixture(scope="module")
def round_() -> tuple:
    rng = random.Random(7)
    rules = MatchingRules()
    people = generate_people(1_200, rng)
    history = generate_history(people, 240, rules, rng)
    result = match(people, history=history, current_round=CURRENT_ROUND, rules=rules, week_of=WEEK)
    pairs = [(p.mentee, p.mentor) for p in result.pairs]
    return people, history, rules, AllowedPairs(people, history, rules, WEEK), pairs


def test_streaming_the_pairs_in_chunks_lists_each_allowed_pair_once(round_):
    _, _, _, allowed, _ = round_
    small = {(int(i), int(j)) for rows, cols in allowed.chunks(SMALL_CHUNK) for i, j in zip(rows, cols)}
    whole = [(int(i), int(j)) for rows, cols in allowed.chunks(10**9) for i, j in zip(rows, cols)]
    assert len(whole) == len(set(whole)) == len(small) == len(allowed)
    assert small == set(whole)
    assert len(allowed) < allowed.candidates()  # supervisors and past pairs were taken out


def test_the_optimal_round_is_certified(round_):
    people, history, rules, allowed, pairs = round_
    pairing = check_pairing(allowed, pairs)
    cover = check_cover(allowed, find_cover(allowed, pairing), len(pairs), SMALL_CHUNK)
    score = certify_score(people, history, rules, CURRENT_ROUND, WEEK, allowed, pairs, SMALL_CHUNK)

    assert pairing.broken == pairing.overloaded == 0
    assert cover.proves_most_matched and cover.size == len(pairs) == allowed.max_matched()
    assert cover.size < len(allowed.mentees)  # a real cover, not simply every mentee
    assert score.violations == 0 and score.checked == len(allowed)


def test_a_pairing_one_pair_short_gets_no_cover_of_its_size(round_):
    _, _, _, allowed, pairs = round_
    short = pairs[1:]  # the dropped mentee and mentor can be paired again: an augmenting path
    cover = check_cover(allowed, find_cover(allowed, check_pairing(allowed, short)), len(short), SMALL_CHUNK)

    assert cover.uncovered == 0
    assert cover.size > len(short)  # the cover found reaches a mentor with a free place
    assert not cover.proves_most_matched


def test_a_cover_missing_one_allowed_pair_is_rejected(round_):
    _, _, _, allowed, pairs = round_
    cover = find_cover(allowed, check_pairing(allowed, pairs))
    mentee = int(np.flatnonzero(cover.mentees)[0])
    cover = Cover(mentees=cover.mentees.copy(), mentors=cover.mentors)
    cover.mentees[mentee] = False  # its own pair's mentor is outside the cover: that pair is now uncovered

    checked = check_cover(allowed, cover, len(pairs) - 1, SMALL_CHUNK)
    assert checked.size == len(pairs) - 1 and checked.uncovered >= 1
    assert not checked.proves_most_matched


def test_pairs_breaking_a_rule_or_a_capacity_are_caught(round_):
    _, history, _, allowed, pairs = round_
    past = next(p for p in history if p.mentee_id in allowed.mentee_index and p.mentor_id in allowed.mentor_index)
    busiest = max(allowed.mentor_index, key=lambda m: sum(1 for _, b in pairs if b == m))
    load = sum(1 for _, b in pairs if b == busiest)
    capacity = int(allowed.capacity[allowed.mentor_index[busiest]])
    extra_mentees = [m.user_id for m in allowed.mentees if all(a != m.user_id for a, _ in pairs)]
    overload = [(m, busiest) for m in extra_mentees[: capacity - load + 1]]

    assert check_pairing(allowed, pairs + [(past.mentee_id, past.mentor_id)]).broken == 1
    assert check_pairing(allowed, pairs + overload).overloaded == 1

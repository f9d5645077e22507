"""Program evaluation in the trial's terms: the paired cohort equals a hand computation."""

from __future__ import annotations

import math

import pytest

from bot.domain.evaluation import Answer, coarsened, opening_sentence, paired_cohort, t95
from bot.domain.publication import Coarsening
from bot.domain.instruments import default_catalogue

CATALOGUE = default_catalogue()
BURNOUT_BASELINE = [3, 2, 4, 1, 3, 2]
BURNOUT_12M = [2, 2, 3, 1, 2, 2]


def fixture() -> list[Answer]:
    answers = []
    for i, (before, after) in enumerate(zip(BURNOUT_BASELINE, BURNOUT_12M), start=1):
        answers += [Answer(f"P{i}", "baseline", "burnout", before), Answer(f"P{i}", "12m", "burnout", after)]
    answers.append(Answer("P7", "baseline", "burnout", 5))  # never answered at 12 months: not in the cohort
    answers.append(Answer("P1", "6m", "burnout", 5))  # another wave: ignored at 12 months
    for i in range(1, 5):  # WHO-5 paired for only four people
        answers += [Answer(f"P{i}", "baseline", "who5", 40), Answer(f"P{i}", "12m", "who5", 60)]
    return answers


def test_paired_cohort_equals_the_hand_computation():
    cohort = paired_cohort(fixture(), wave="12m", catalogue=CATALOGUE, min_group=5)
    assert (cohort.baseline_n, cohort.n) == (7, 6)
    assert cohort.response_rate == pytest.approx(100 * 6 / 7)
    burnout = next(m for m in cohort.means if m.instrument == "burnout")
    # differences -1, 0, -1, 0, -1, 0: mean -0.5, SD sqrt(1.5 / 5), t(5) = 2.571
    half = 2.571 * math.sqrt(1.5 / 5) / math.sqrt(6)
    assert (burnout.n, burnout.mean) == (6, -0.5)
    assert burnout.low == pytest.approx(-0.5 - half) and burnout.high == pytest.approx(-0.5 + half)
    share = next(s for s in cohort.shares if s.instrument == "burnout")
    # burned out (3 or more): P1, P3, P5 before (3 of 6); P3 after (1 of 6)
    assert share.before_percent == pytest.approx(50.0) and share.after_percent == pytest.approx(100 / 6)
    assert share.change_points == pytest.approx(100 / 6 - 50)
    assert (share.compass_points, share.control_points) == (-12.7, 1.9)


def test_every_figure_under_the_threshold_is_withheld():
    cohort = paired_cohort(fixture(), wave="12m", catalogue=CATALOGUE, min_group=5)
    who5 = next(m for m in cohort.means if m.instrument == "who5")
    assert (who5.n, who5.mean, who5.low, who5.high) == (4, None, None, None)
    phq2 = next(s for s in cohort.shares if s.instrument == "phq2")
    assert phq2.n == 0 and phq2.before_percent is None and phq2.change_points is None
    strict = paired_cohort(fixture(), wave="12m", catalogue=CATALOGUE, min_group=7)
    assert strict.suppressed and strict.response_rate is None
    assert all(m.mean is None for m in strict.means) and all(s.before_percent is None for s in strict.shares)


def test_the_opening_sentence_says_what_changed_in_plain_words():
    cohort = paired_cohort(fixture(), wave="12m", catalogue=CATALOGUE, min_group=5)
    assert opening_sentence(cohort, sessions_held=22, sessions_planned=24, min_group=5) == (
        "Among the 6 physicians who answered both at joining and at 12 months, the share burned out fell from 50% to 17% "
        "(the COMPASS trial saw a fall of 12.7 points in a year); 22 of 24 planned group sessions were held."
    )
    strict = paired_cohort(fixture(), wave="12m", catalogue=CATALOGUE, min_group=7)
    assert opening_sentence(strict, sessions_held=22, sessions_planned=24, min_group=7) == (
        "Too few physicians have answered both at joining and at 12 months to report a change yet "
        "(at least 7 are needed); 22 of 24 planned group sessions were held."
    )


def test_t_critical_values():
    assert t95(5) == 2.571 and t95(30) == 2.042 and t95(35) == 2.021 and t95(500) == 1.960
    with pytest.raises(ValueError):
        t95(0)
    with pytest.raises(ValueError):
        paired_cohort([], wave="3m", catalogue=CATALOGUE, min_group=5)


def test_the_published_cohort_gives_no_exact_count_or_sum():
    """What the report shows is coarsened like every other published figure: an admin who sets the
    cohort's n and mean against the monthly report cannot recover an exact sum of answers."""
    exact = paired_cohort(fixture(), wave="12m", catalogue=CATALOGUE, min_group=5)
    shown = coarsened(exact, Coarsening())
    assert (shown.baseline_n, shown.n) == (5, 5)  # 7 and 6, rounded to a multiple of 5
    burnout = next(m for m in shown.means if m.instrument == "burnout")
    assert burnout.n == 5 and burnout.mean == pytest.approx(-0.48)  # on the burnout scale's step (2% of its range)
    share = next(s for s in shown.shares if s.instrument == "burnout")
    assert (share.before_percent, share.after_percent, share.change_points) == (50.0, 20.0, -30.0)
    assert shown.response_rate == 90.0  # 85.7%, to 10 points under 20 people

import statistics
from dataclasses import replace

import pytest

from bot.domain.instruments import default_catalogue
from bot.domain.scoring import (
    MIN_COHORT_FOR_SD,
    Score,
    ScoringError,
    baseline_sd,
    change,
    needs_crisis_message,
    score,
)

WHO5_REFERENCE_SD = 19.53


# ---------------------------------------------------------------- score vectors

SCORE_VECTORS = [
    # instrument, answers, value, band, flags
    ("burnout", [1], 1, "No burnout", set()),
    ("burnout", [2], 2, "No burnout", set()),
    ("burnout", [3], 3, "Burnout", {"burnout"}),
    ("burnout", [4], 4, "Burnout", {"burnout"}),
    ("burnout", [5], 5, "Burnout", {"burnout", "complete_burnout"}),
    ("who5", [3, 4, 2, 5, 3], 68, "Good wellbeing", set()),
    ("who5", [5, 5, 5, 5, 5], 100, "Good wellbeing", set()),
    ("who5", [3, 3, 3, 2, 2], 52, "Good wellbeing", set()),  # raw 13: not below 50
    ("who5", [3, 3, 2, 2, 2], 48, "Poor wellbeing", {"poor_wellbeing"}),  # raw 12
    ("who5", [2, 2, 2, 1, 1], 32, "Poor wellbeing", {"poor_wellbeing"}),  # raw 8
    ("who5", [2, 2, 1, 1, 1], 28, "Likely depression", {"poor_wellbeing", "likely_depression"}),  # raw 7
    ("who5", [0, 0, 0, 0, 0], 0, "Likely depression", {"poor_wellbeing", "likely_depression"}),
    ("phq2", [0, 0], 0, "Negative screen", set()),
    ("phq2", [1, 1], 2, "Negative screen", set()),
    ("phq2", [2, 1], 3, "Positive screen", {"positive_screen"}),
    ("phq2", [3, 3], 6, "Positive screen", {"positive_screen"}),
    ("intent_to_leave", [1], 1, "None or slight", set()),
    ("intent_to_leave", [2], 2, "None or slight", set()),
    ("intent_to_leave", [3], 3, "Moderate or more", {"intends_to_leave"}),
    ("intent_to_leave", [5], 5, "Moderate or more", {"intends_to_leave"}),
    ("meaning", [4], 4, None, set()),
    ("connection", [1], 1, None, set()),
    ("group_worth", [5], 5, None, set()),
]


@pytest.mark.parametrize("instrument, answers, value, band, flags", SCORE_VECTORS)
def test_score_vectors(instrument, answers, value, band, flags):
    result = score(instrument, answers)
    assert result.value == value
    assert result.band == band
    assert result.flags == frozenset(flags)
    assert result.answers == tuple(answers)


@pytest.mark.parametrize(
    "instrument, answers, message",
    [
        ("mbi", [1], "unknown instrument 'mbi'"),
        ("who5", [3, 4, 2, 5], "expects 5 answer"),
        ("who5", [3, 4, 2, 5, 3, 1], "expects 5 answer"),
        ("who5", [3, 4, 2, 6, 3], "item 4: 6 is not an answer option"),
        ("phq2", [-1, 0], "item 1: -1"),
        ("burnout", [0], "allowed: 1, 2, 3, 4, 5"),
        ("burnout", [True], "not an answer option"),
        ("burnout", ["3"], "not an answer option"),
        ("burnout", [3.0], "not an answer option"),
        ("burnout", "3", "must be a list"),
        ("burnout", 3, "must be a list"),
    ],
)
def test_invalid_answers_raise_clearly(instrument, answers, message):
    with pytest.raises(ScoringError, match=message):
        score(instrument, answers)


# ---------------------------------------------------------------- change and RCI

# RCI = (x2 - x1) / (sqrt(2) * SD * sqrt(1 - r)); for WHO-5 r = 0.81, sqrt(0.19) = 0.4358899.
# With SD 20: sqrt(2) * 20 * 0.4358899 = 12.328828, and 28 / 12.328828 = 2.271100.
# With SD 19.53: sqrt(2) * 19.53 * 0.4358899 = 12.039100.


def who5(value):
    raw = value // 4
    answers = [5] * (raw // 5) + ([raw % 5] if raw % 5 else [])
    return score("who5", answers + [0] * (5 - len(answers)))


def test_rci_with_a_cohort_sd_matches_hand_computation():
    result = change(who5(40), who5(68), sd=20)
    assert result.difference == 28
    assert result.rci == pytest.approx(2.271100, abs=1e-6)
    assert result.reliable is True
    assert result.direction == "better"
    assert result.sd == 20


def test_rci_with_the_published_sd():
    gain = change(who5(40), who5(60))
    assert gain.sd == WHO5_REFERENCE_SD
    assert gain.rci == pytest.approx(20 / 12.039100, abs=1e-5)  # 1.661254
    assert gain.reliable is False
    drop = change(who5(68), who5(40))
    assert drop.rci == pytest.approx(-28 / 12.039100, abs=1e-5)  # -2.325755
    assert drop.reliable is True and drop.direction == "worse"


def test_reliable_change_threshold_sits_at_the_published_minimal_detectable_change():
    # MDC = 23.6 points: a 24-point change is reliable, a 20-point change is not.
    assert change(who5(40), who5(64)).rci == pytest.approx(1.993504, abs=1e-5)
    assert change(who5(40), who5(64)).reliable is True
    assert change(who5(40), who5(60)).reliable is False


def test_single_items_report_the_difference_only():
    result = change(score("burnout", [2]), score("burnout", [4]), sd=1.0)
    assert result.difference == 2
    assert result.rci is None and result.reliable is None and result.sd is None
    assert result.direction == "worse"  # higher burnout is worse
    assert change(score("meaning", [2]), score("meaning", [4])).direction == "better"
    assert change(score("phq2", [1, 1]), score("phq2", [1, 1])).direction == "same"


def test_phq2_has_no_published_reliability_here_so_no_rci():
    assert change(score("phq2", [3, 3]), score("phq2", [0, 0])).rci is None


def test_change_refuses_mismatched_instruments_and_bad_sd():
    with pytest.raises(ScoringError, match="different instruments"):
        change(score("burnout", [2]), score("meaning", [2]))
    for bad in (0, -3, float("nan"), float("inf")):
        with pytest.raises(ScoringError, match="SD"):
            change(who5(40), who5(60), sd=bad)


def test_baseline_sd_uses_the_cohort_from_thirty_people():
    values = [40 + 4 * (i % 9) for i in range(MIN_COHORT_FOR_SD)]
    assert baseline_sd("who5", values[:-1]) == WHO5_REFERENCE_SD
    assert baseline_sd("who5", values) == pytest.approx(statistics.stdev(values))
    assert baseline_sd("who5", [60] * 40) == WHO5_REFERENCE_SD  # no spread is no estimate
    assert baseline_sd("burnout", [1, 2, 3] * 20) is None  # single item: no RCI
    assert baseline_sd("phq2", [0, 2, 4] * 20) is None


# ---------------------------------------------------------------- crisis rule


def test_crisis_rule_is_exactly_phq2_who5_and_burnout():
    assert default_catalogue().crisis_flags == {
        "phq2": ("positive_screen",),
        "who5": ("likely_depression",),
        "burnout": ("complete_burnout",),
    }


@pytest.mark.parametrize(
    "instrument, answers, expected",
    [
        ("phq2", [2, 1], True),  # 3
        ("phq2", [1, 1], False),  # 2
        ("who5", [2, 2, 1, 1, 1], True),  # 28
        ("who5", [2, 2, 2, 1, 1], False),  # 32
        ("burnout", [5], True),
        ("burnout", [4], False),
        ("intent_to_leave", [5], False),
        ("meaning", [1], False),
        ("connection", [1], False),
        ("group_worth", [1], False),
    ],
)
def test_crisis_thresholds(instrument, answers, expected):
    assert needs_crisis_message([score(instrument, answers)]) is expected


def test_any_crisis_score_in_a_survey_triggers_the_message():
    calm = [score("burnout", [2]), score("who5", [4, 4, 4, 4, 4]), score("phq2", [0, 0])]
    assert needs_crisis_message(calm) is False
    assert needs_crisis_message([*calm, score("phq2", [3, 0])]) is True
    assert needs_crisis_message([]) is False


def test_crisis_rule_reads_the_value_not_a_forged_flag_set():
    forged = replace(score("who5", [0, 0, 0, 0, 0]), flags=frozenset())
    assert needs_crisis_message([forged]) is True
    not_crisis = Score("who5", 80, "Good wellbeing", frozenset({"likely_depression"}), (4, 4, 4, 4, 4))
    assert needs_crisis_message([not_crisis]) is False

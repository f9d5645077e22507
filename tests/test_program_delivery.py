"""The enrolment funnel and per-group fidelity, under the threshold rules."""

from __future__ import annotations

import pytest

from bot.domain.program_delivery import GroupRecord, fidelity, funnel


def test_funnel_keeps_its_order_and_withholds_small_counts():
    steps = funnel({"invited": 40, "joined": 31, "attended_one": 27, "attended_six": 12, "active_6m": 4, "active_12m": 0},
                   min_group=5)
    assert [(s.label, s.count) for s in steps] == [
        ("Invited", 40),
        ("Joined", 31),
        ("Attended at least one session", 27),
        ("Attended at least six sessions", 12),
        ("Still active at 6 months", None),
        ("Still active at 12 months", 0),
    ]
    with pytest.raises(ValueError):
        funnel({"joined": -1}, min_group=5)


def test_fidelity_per_group_equals_a_hand_computation():
    groups = [
        GroupRecord("Residents A", size=7, planned=12, attendance=[7, 6, 5, 6, 4, 6],
                    topics=["Who we are", "Three good things", "Three good things", "Nights and call"]),
        GroupRecord("Attendings B", size=4, planned=12, attendance=[4, 3], topics=["Who we are"]),
    ]
    first, second = fidelity(groups, min_group=5)
    assert (first.held, first.planned, first.size) == (6, 12, 7)
    assert first.median_attendance == 6.0  # sorted 4 5 6 6 6 7: median of 6 and 6
    assert first.topics == ("Who we are", "Three good things", "Nights and call")
    assert (second.held, second.size, second.median_attendance) == (2, 4, None)  # a group under the threshold

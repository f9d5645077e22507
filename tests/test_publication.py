"""What ``bot.domain.publication`` lets out for one month: rounding set by the published count, and
percentages only over enough people (the attacker in ``tests/test_privacy_attacker.py`` recovered
1 burned out of 3 paediatric attendings from percentages over 5-7 people before)."""

from __future__ import annotations

from datetime import date

from bot.domain.publication import EXACT, Coarsening, plan_publication
from bot.domain.trends import ReportCell

JAN = date(2026, 1, 1)
KINDS = {"who5_mean": "mean", "burnout_pct": "percent"}


def plan(cells, coarsening=Coarsening()):  # noqa: ANN001, ANN201
    return {(c.metric, c.key): c for c in plan_publication(cells, [], min_group=5, open_month=date(2026, 2, 1),
                                                            metric_kinds=KINDS, coarsening=coarsening).cells}


def cell(metric: str, key: str, n: int, estimate: float) -> ReportCell:
    return ReportCell(metric, JAN, ("department",) if key else (), (key,) if key else (), suppressed=False,
                      respondents=n, estimate=estimate)


def test_a_percentage_over_fewer_than_20_published_respondents_is_hidden_while_its_mean_shows():
    shown = plan([cell("who5_mean", "", 30, 61.3), cell("burnout_pct", "", 30, 40.0),
                  cell("who5_mean", "Pediatrics", 6, 58.7), cell("burnout_pct", "Pediatrics", 6, 66.7)])
    assert ("burnout_pct", ("Pediatrics",)) not in shown  # hidden in its only month, so the row is left out
    assert shown[("who5_mean", ("Pediatrics",))].estimate == 58.0  # 2 points under 20 respondents
    assert shown[("burnout_pct", ())].estimate == 40.0 and shown[("burnout_pct", ())].respondents == 30
    exact = plan([cell("burnout_pct", "", 30, 40.0), cell("burnout_pct", "Pediatrics", 6, 66.7)], EXACT)
    assert exact[("burnout_pct", ("Pediatrics",))].estimate == 66.7  # the weakened build keeps it


def test_the_rounding_step_follows_the_published_count_not_the_true_one():
    # 18 respondents publish as 20: the step is the one for 20 (a whole point), so the figure says
    # nothing about the true count that "20" does not.
    shown = plan([cell("who5_mean", "", 18, 61.4), cell("who5_mean", "Medicine", 22, 61.4)])
    assert shown[("who5_mean", ())].respondents == 20
    assert shown[("who5_mean", ())].estimate == shown[("who5_mean", ("Medicine",))].estimate == 61.0

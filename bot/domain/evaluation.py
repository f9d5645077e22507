"""Program evaluation in the COMPASS trial's terms, for a program director to take to leadership.

* **Paired cohort**: the same people at baseline and at 6 or 12 months (only people who
  answered both count), with n, response rate, mean change and its 95% t interval, and the
  share burned out, screening positive on the PHQ-2 and intending to leave, before and after,
  beside the COMPASS trial's published 12-month effects (West et al., Mayo Clin Proc 2021:
  burnout -12.7 percentage points vs +1.9 in controls, depressive symptoms -12.8 vs +1.1,
  likely to leave -1.9 vs +6.1). Caveat: a single group, no control, and different instruments
  from the trial's, so the comparison is a landmark, not a test.
* **Suppression**: every figure describing fewer than ``min_group`` people is withheld
  (``None``), never rounded or approximated; the same threshold as every other report.
* **Closed waves only, published once.** A wave's figures are published once no answer can
  still come in (:func:`wave_closes_at`), recorded in the publication ledger, and shown as
  recorded ever after: a forget-me or a late answer never revises a published wave, so two
  reports cannot be subtracted to find one person. Until then only the number answered so far,
  rounded to 5, is shown.

This module is pure: it imports neither Slack nor the database.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Iterable, Mapping, Sequence

from bot.domain.instruments import Catalogue
from bot.domain.publication import Coarsening

WAVES = ("baseline", "6m", "12m")
MEAN_INSTRUMENTS = ("burnout", "who5", "phq2")
MEAN_SCALES = {"burnout": 4, "who5": 100, "phq2": 6}  # the width of each instrument's score range
# instrument -> (flag, words, COMPASS 12-month change in points, control change in points)
SHARES: dict[str, tuple[str, str, float | None, float | None]] = {
    "burnout": ("burnout", "burned out", -12.7, 1.9),
    "phq2": ("positive_screen", "screening positive for depression (PHQ-2)", -12.8, 1.1),
    "intent_to_leave": ("intends_to_leave", "at least moderately likely to leave", -1.9, 6.1),
}
CAVEAT = (
    "One program, no control group, and different instruments from the COMPASS trial's: the trial's "
    "figures are a landmark to read ours against, not a test of them."
)
# Two-sided 95% critical values of Student's t by degrees of freedom; beyond 30, the next row down.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
        20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
        29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


# How wave surveys are sent (bot.flows.enrolment, bot.flows.pulse): due 182 or 365 days after
# joining, deferred (a session week, a pause) up to WAVE_WINDOW (60 days) past that, then open
# OPEN_FOR["followup"] (14 days). So nobody answers a wave later than 74 days past their due date.
FOLLOWUP_DUE = {"6m": timedelta(days=182), "12m": timedelta(days=365)}
LAST_ANSWER_AFTER_DUE = timedelta(days=60 + 14)


def t95(df: int) -> float:
    if df < 1:
        raise ValueError("a t interval needs at least 2 people")
    if df in _T95:
        return _T95[df]
    larger = [d for d in _T95 if d > df]
    return _T95[min(larger)] if larger else 1.960


@dataclass(frozen=True)
class Answer:
    """One person's reported value on one instrument in one wave."""

    user_id: str
    wave: str
    instrument: str
    value: float


@dataclass(frozen=True)
class MeanChange:
    instrument: str
    n: int
    mean: float | None  # None: suppressed (fewer than the threshold)
    low: float | None
    high: float | None


@dataclass(frozen=True)
class ShareChange:
    instrument: str
    words: str
    n: int
    before_percent: float | None
    after_percent: float | None
    change_points: float | None
    compass_points: float | None
    control_points: float | None


@dataclass(frozen=True)
class PairedCohort:
    wave: str
    baseline_n: int  # people with a baseline answer: the denominator of the response rate
    n: int  # people who answered at baseline and at ``wave``
    response_rate: float | None  # percent; None when suppressed
    means: tuple[MeanChange, ...]
    shares: tuple[ShareChange, ...]

    @property
    def suppressed(self) -> bool:
        return self.response_rate is None


def paired_cohort(answers: Iterable[Answer], *, wave: str, catalogue: Catalogue, min_group: int) -> PairedCohort:
    """The same people at baseline and at ``wave`` ("6m" or "12m")."""
    if wave not in WAVES[1:]:
        raise ValueError(f"wave must be 6m or 12m, got {wave!r}")
    if min_group < 1:
        raise ValueError("min_group must be at least 1")
    values: dict[tuple[str, str], dict[str, float]] = {}
    for answer in answers:
        if answer.wave in ("baseline", wave):
            values.setdefault((answer.user_id, answer.instrument), {})[answer.wave] = answer.value
    baseline_people = {user for (user, _), by_wave in values.items() if "baseline" in by_wave}
    paired_people = {user for (user, _), by_wave in values.items() if "baseline" in by_wave and wave in by_wave}

    def pairs(instrument: str) -> list[tuple[float, float]]:
        return [(v["baseline"], v[wave]) for (user, i), v in sorted(values.items())
                if i == instrument and "baseline" in v and wave in v]

    means = tuple(_mean_change(instrument, pairs(instrument), min_group) for instrument in MEAN_INSTRUMENTS)
    shares = tuple(_share_change(instrument, pairs(instrument), catalogue, min_group) for instrument in SHARES)
    n = len(paired_people)
    rate = 100 * n / len(baseline_people) if n >= min_group and baseline_people else None
    return PairedCohort(wave, len(baseline_people), n, rate, means, shares)


def _mean_change(instrument: str, pairs: Sequence[tuple[float, float]], min_group: int) -> MeanChange:
    n = len(pairs)
    if n < max(min_group, 2):
        return MeanChange(instrument, n, None, None, None)
    diffs = [after - before for before, after in pairs]
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t95(n - 1) * sd / math.sqrt(n)
    return MeanChange(instrument, n, mean, mean - half, mean + half)


def _share_change(instrument: str, pairs: Sequence[tuple[float, float]], catalogue: Catalogue, min_group: int) -> ShareChange:
    flag_id, words, compass, control = SHARES[instrument]
    n = len(pairs)
    if n < min_group:
        return ShareChange(instrument, words, n, None, None, None, compass, control)
    flag = catalogue.instrument(instrument).flag(flag_id)
    before = 100 * sum(flag.rule.matches(b) for b, _ in pairs) / n
    after = 100 * sum(flag.rule.matches(a) for _, a in pairs) / n
    return ShareChange(instrument, words, n, before, after, after - before, compass, control)


def opening_sentence(cohort: PairedCohort, *, sessions_held: int, sessions_planned: int, min_group: int) -> str:
    """One sentence a hospital executive reads first: what changed, for how many, and how much ran."""
    ran = f"{sessions_held} of {sessions_planned} planned group sessions were held"
    months = cohort.wave.removesuffix("m")
    burnout = next((s for s in cohort.shares if s.instrument == "burnout"), None)
    if cohort.suppressed or burnout is None or burnout.change_points is None:
        return (f"Too few physicians have answered both at joining and at {months} months to report a change yet "
                f"(at least {min_group} are needed); {ran}.")
    direction = "fell" if burnout.change_points < 0 else "rose" if burnout.change_points > 0 else "did not change"
    moved = (f"{direction} from {burnout.before_percent:.0f}% to {burnout.after_percent:.0f}%"
             if burnout.change_points else f"{direction} ({burnout.before_percent:.0f}%)")
    return (f"Among the {cohort.n} physicians who answered both at joining and at {months} months, the share "
            f"burned out {moved} (the COMPASS trial saw a fall of {abs(burnout.compass_points or 0):.1f} points in a year); "
            f"{ran}.")


def coarsened(cohort: PairedCohort, coarsening: Coarsening) -> PairedCohort:
    """The cohort as it may be published: counts, means, intervals and percentages on the same steps
    as every other published figure (``bot.domain.publication``), so that no exact count or sum
    of the paired cohort can be set against the monthly report's figures."""

    def mean_of(instrument: str):  # noqa: ANN202
        # Coarsening's mean steps are points of a 0-100 scale; an instrument's own range scales them.
        scale = MEAN_SCALES[instrument] / 100

        def mean(n: int, value: float | None) -> float | None:
            if value is None:
                return None
            shown = coarsening.respondents(n)  # the step follows the published count, as in every report
            step = (coarsening.mean_step if shown >= coarsening.precise_from else coarsening.mean_step_small) * scale
            return round(step * math.floor(value / step + 0.5), 4)

        return mean

    def rate(n: int, value: float | None) -> float | None:
        return None if value is None else coarsening.estimate("percent", coarsening.respondents(n), value)

    means = tuple(replace(m, n=coarsening.respondents(m.n), mean=mean_of(m.instrument)(m.n, m.mean),
                          low=mean_of(m.instrument)(m.n, m.low), high=mean_of(m.instrument)(m.n, m.high))
                  for m in cohort.means)
    shares = tuple(replace(s, n=coarsening.respondents(s.n), before_percent=rate(s.n, s.before_percent),
                           after_percent=rate(s.n, s.after_percent), change_points=rate(s.n, s.change_points))
                   for s in cohort.shares)
    return replace(cohort, baseline_n=coarsening.respondents(cohort.baseline_n), n=coarsening.respondents(cohort.n),
                   response_rate=rate(cohort.n, cohort.response_rate), means=means, shares=shares)


# ---------------------------------------------------------------- publishing a wave once it has closed


def wave_closes_at(wave: str, *, answered_at: Mapping[str, datetime], joined_at: Mapping[str, datetime]) -> datetime | None:
    """When the last answer to ``wave`` can have come in: for everyone in the program
    (``joined_at``: people still in it, by when they joined) the time of their answer, or, for
    those who have not answered, the last day their survey can still be answered. None when
    nobody has answered and nobody can. People who joined after the wave was published are
    in no published figure: the ledger keeps the wave as published."""
    ends = list(answered_at.values())
    ends += [joined + FOLLOWUP_DUE[wave] + LAST_ANSWER_AFTER_DUE for user, joined in joined_at.items() if user not in answered_at]
    return max(ends, default=None) if answered_at or joined_at else None


@dataclass(frozen=True)
class Wave:
    """One follow-up wave as the report shows it: published figures once closed, a rounded count until then."""

    wave: str
    cohort: PairedCohort | None  # the published figures; None while the wave is open
    closed_on: date | None  # when it closed (published waves)
    answered_so_far: int | None = None  # open waves: people who answered it, rounded to Coarsening.count_base
    closes_on: date | None = None  # open waves: the earliest it can close (later if more people join)

    @property
    def open(self) -> bool:
        return self.cohort is None


def cohort_record(cohort: PairedCohort) -> dict:
    """The published figures of a cohort, as the ledger keeps them (JSON)."""
    return asdict(cohort)


def cohort_from_record(record: Mapping) -> PairedCohort:
    return PairedCohort(
        wave=record["wave"], baseline_n=record["baseline_n"], n=record["n"], response_rate=record["response_rate"],
        means=tuple(MeanChange(**mean) for mean in record["means"]),
        shares=tuple(ShareChange(**share) for share in record["shares"]),
    )


def evaluation_sentence(waves: Sequence[Wave], *, sessions_held: int, sessions_planned: int, min_group: int) -> str:
    """The opening sentence over the published waves (the 12-month one first); while none has closed, when the first will."""
    published = [w for w in waves if not w.open]
    if published:
        lead = next((w for w in reversed(published) if not w.cohort.suppressed), published[-1])  # type: ignore[union-attr]
        return opening_sentence(lead.cohort, sessions_held=sessions_held, sessions_planned=sessions_planned,  # type: ignore[arg-type]
                                min_group=min_group)
    first = waves[0]
    months = first.wave.removesuffix("m")
    when = f", on {first.closes_on.isoformat()} at the earliest" if first.closes_on else ""
    return (f"No follow-up wave has closed yet: the {months}-month figures are published once the {months}-month wave "
            f"closes{when} ({first.answered_so_far} answered so far, rounded to {Coarsening().count_base}); "
            f"{sessions_held} of {sessions_planned} planned group sessions were held.")

"""Scoring of survey answers, change from baseline, and the crisis rule.

``score`` turns the chosen option values (in item order) into the value on the
instrument's reporting scale with its band and cut-off flags. ``change`` compares
two scores; where the instrument has a published test-retest reliability it adds
the Jacobson-Truax reliable change index

    RCI = (x2 - x1) / (sqrt(2) * SD * sqrt(1 - r))

and calls the change reliable when |RCI| > 1.96. Single items carry no
reliability: they are group-level signals, so only the difference is reported.

All rules (items, options, multipliers, cut-offs, reliabilities, published SDs)
come from the instrument catalogue; nothing here talks to Slack or a database.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

from bot.domain.instruments import Catalogue, Instrument, UnknownInstrument, default_catalogue

RELIABLE_CHANGE_Z = 1.96
MIN_COHORT_FOR_SD = 30

Direction = Literal["better", "worse", "same"]


class ScoringError(ValueError):
    """Answers that cannot be scored: unknown instrument, wrong count, or a value that is not an option."""


@dataclass(frozen=True)
class Score:
    instrument_id: str
    value: int  # on the reporting scale (WHO-5: 0-100)
    band: str | None
    flags: frozenset[str]
    answers: tuple[int, ...]


@dataclass(frozen=True)
class Change:
    instrument_id: str
    baseline: int
    current: int
    difference: int  # current - baseline, on the reporting scale
    direction: Direction  # taking into account whether higher is better
    rci: float | None  # None for instruments without a published reliability
    sd: float | None  # the SD the index was computed with

    @property
    def reliable(self) -> bool | None:
        """Whether the change exceeds measurement error; None where no index applies."""
        return None if self.rci is None else abs(self.rci) > RELIABLE_CHANGE_Z


def _instrument(instrument_id: str, catalogue: Catalogue | None) -> Instrument:
    try:
        return (catalogue or default_catalogue()).instrument(instrument_id)
    except UnknownInstrument as exc:
        raise ScoringError(str(exc)) from None


def score(instrument_id: str, answers: Sequence[int], *, catalogue: Catalogue | None = None) -> Score:
    """Score one instrument; ``answers`` are the chosen option values in item order."""
    instrument = _instrument(instrument_id, catalogue)
    if isinstance(answers, (str, bytes)) or not isinstance(answers, Sequence):
        raise ScoringError(f"{instrument_id}: answers must be a list of option values, got {answers!r}")
    if len(answers) != len(instrument.items):
        raise ScoringError(
            f"{instrument_id} expects {len(instrument.items)} answer(s), one per item, got {len(answers)}"
        )
    allowed = sorted(instrument.option_values)
    for index, answer in enumerate(answers):
        if isinstance(answer, bool) or not isinstance(answer, int) or answer not in instrument.option_values:
            raise ScoringError(
                f"{instrument_id} item {index + 1}: {answer!r} is not an answer option "
                f"(allowed: {', '.join(map(str, allowed))})"
            )
    value = sum(answers) * instrument.multiplier
    return Score(
        instrument_id=instrument_id,
        value=value,
        band=instrument.band_for(value),
        flags=instrument.flags_for(value),
        answers=tuple(answers),
    )


def change(
    baseline: Score,
    current: Score,
    sd: float | None = None,
    *,
    catalogue: Catalogue | None = None,
) -> Change:
    """Compare a score with the person's baseline.

    ``sd`` is the baseline SD of the cohort (see ``baseline_sd``); without it the
    instrument's published reference SD is used.
    """
    if baseline.instrument_id != current.instrument_id:
        raise ScoringError(
            f"cannot compare {baseline.instrument_id} with {current.instrument_id}: different instruments"
        )
    instrument = _instrument(current.instrument_id, catalogue)
    difference = current.value - baseline.value
    if difference == 0:
        direction: Direction = "same"
    elif (difference > 0) == instrument.higher_is_better:
        direction = "better"
    else:
        direction = "worse"

    if instrument.reliability is None:
        return Change(current.instrument_id, baseline.value, current.value, difference, direction, None, None)

    used_sd = instrument.reference_sd if sd is None else sd
    if used_sd is None or not math.isfinite(used_sd) or used_sd <= 0:
        raise ScoringError(f"{current.instrument_id}: the SD for the reliable change index must be positive, got {sd!r}")
    standard_error_of_difference = math.sqrt(2) * used_sd * math.sqrt(1 - instrument.reliability)
    rci = difference / standard_error_of_difference
    return Change(current.instrument_id, baseline.value, current.value, difference, direction, rci, used_sd)


def baseline_sd(
    instrument_id: str,
    cohort_baselines: Iterable[float],
    *,
    catalogue: Catalogue | None = None,
) -> float | None:
    """The SD to use in the reliable change index for a cohort.

    ``cohort_baselines`` holds one baseline value per person. With at least
    ``MIN_COHORT_FOR_SD`` of them the cohort's own sample SD is used; otherwise
    (or if every baseline is identical, which is no estimate of spread) the
    instrument's published reference SD. None for instruments without a
    reliable change index (single items, and scales without a published reliability).
    """
    instrument = _instrument(instrument_id, catalogue)
    if instrument.reliability is None:
        return None
    values = [float(v) for v in cohort_baselines]
    if len(values) >= MIN_COHORT_FOR_SD:
        cohort_sd = statistics.stdev(values)
        if cohort_sd > 0:
            return cohort_sd
    return instrument.reference_sd


def needs_crisis_message(scores: Iterable[Score], *, catalogue: Catalogue | None = None) -> bool:
    """True when any score crosses a crisis cut-off (PHQ-2 ≥ 3, WHO-5 ≤ 28, burnout = 5).

    Flags are re-derived from each value so a hand-built Score cannot skip the rule.
    """
    crisis_flags = (catalogue or default_catalogue()).crisis_flags
    for result in scores:
        triggers = crisis_flags.get(result.instrument_id)
        if triggers and _instrument(result.instrument_id, catalogue).flags_for(result.value) & set(triggers):
            return True
    return False

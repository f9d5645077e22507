"""A group's aggregate pulse, by topic domain, for the adaptive topic rotation.

Each pulse instrument speaks to one domain of the topic catalogue (a design choice, not a
validated mapping): burnout to workload and efficiency, WHO-5 wellbeing to self-care, and
"was the group worth it" to community at work. For every member of the group who has both a
baseline and a later pulse answer to an instrument, the change is their latest answer minus
their first, turned so that a negative change is worse, as a share of the instrument's range.

A domain gets a signal only when at least ``min_group`` members answered (the same threshold
as every reported figure); below it the rotation receives nothing at all for that domain, so a
signal can never describe fewer people than the threshold. The rotation's explanation to the
lead never states a score or its direction.

This module is pure: it imports neither Slack nor the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from bot.domain.instruments import Catalogue
from bot.domain.rotation import DomainSignal

PULSE_DOMAINS: dict[str, str] = {"burnout": "workload", "who5": "self-care", "group_worth": "community"}


@dataclass(frozen=True)
class PersonChange:
    """One member's first and latest answer to one pulse instrument (reported values)."""

    user_id: str
    instrument: str
    first: float
    latest: float


def domain_signals(changes: Iterable[PersonChange], *, catalogue: Catalogue, min_group: int) -> dict[str, DomainSignal]:
    """Mean change per domain over the members who answered, only where at least ``min_group`` did."""
    if min_group < 1:
        raise ValueError(f"min_group must be at least 1, got {min_group}")
    per_instrument: dict[str, dict[str, float]] = {}
    for change in changes:
        if change.instrument not in PULSE_DOMAINS:
            continue
        instrument = catalogue.instrument(change.instrument)
        span = instrument.maximum - instrument.minimum
        if span <= 0:
            continue
        raw = change.latest - change.first
        oriented = raw if instrument.higher_is_better else -raw
        per_instrument.setdefault(change.instrument, {})[change.user_id] = oriented / span
    signals: dict[str, DomainSignal] = {}
    for instrument_id, by_person in sorted(per_instrument.items()):
        if len(by_person) < min_group:
            continue
        mean = sum(by_person.values()) / len(by_person)
        signals[PULSE_DOMAINS[instrument_id]] = DomainSignal(change=mean, respondents=len(by_person))
    return signals


def first_and_latest(answers: Mapping[tuple[str, str], list[tuple[object, float]]]) -> list[PersonChange]:
    """From each (person, instrument)'s answers as (when, value), their first and latest, when they differ in time."""
    result = []
    for (user_id, instrument), timeline in sorted(answers.items()):
        if len(timeline) < 2:
            continue
        ordered = sorted(timeline, key=lambda pair: pair[0])  # type: ignore[arg-type, return-value]
        result.append(PersonChange(user_id, instrument, ordered[0][1], ordered[-1][1]))
    return result

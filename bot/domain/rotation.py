"""Choosing a group's next topic: a pure, deterministic function that explains itself.

Rules, in order of strength:

* every cycle (12 sessions by default) opens with an ``introductions`` topic and ends with a
  ``closing`` one; the sessions in between draw on the ``regular`` topics for the group;
* no regular topic repeats until every eligible one has been used (a "round");
* no two consecutive sessions share a primary domain;
* adaptive mode prefers topics on domains where the group's aggregate pulse worsened, using only
  aggregates with at least ``min_group`` respondents; otherwise topics are spread across domains
  (the domain discussed longest ago first), alternating between topics written for the group's
  audience and topics for everyone, then in catalogue order.

A greedy pick could strand the end of a round (say, two topics left that share a domain), so each
candidate is only accepted if the rest of its round can still be scheduled without breaking a
rule; that look-ahead works on domain counts, not topics, and is memoised.

A group's audience is ``residents``, ``attendings`` or ``all``; a mixed group (``all``) only
gets topics written for everyone.
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

from bot.domain.curriculum import Catalogue, Topic, domain_label

CYCLE_LENGTH = 12
MIN_GROUP = 5
ALTERNATIVES = 3
_SECONDARY_DOMAIN_WEIGHT = 0.5
# Bounds the look-ahead on pathological catalogues; past it a candidate is assumed schedulable.
_LOOKAHEAD_BUDGET = 50_000


@dataclass(frozen=True)
class DomainSignal:
    """A group's aggregate pulse change in one domain; negative ``change`` means it got worse."""

    change: float
    respondents: int


@dataclass(frozen=True)
class TopicChoice:
    """A topic for a session and a one-line reason a group lead can read.

    ``reason`` is ``introductions``, ``closing``, ``pulse``, ``rotation``, ``lead`` or
    ``fallback`` (the usual rules could not all be met, e.g. after several lead overrides).
    """

    topic: Topic
    explanation: str
    reason: str
    domain: str | None = None


class TopicChoiceError(ValueError):
    """A lead asked for a topic this group cannot have; the message is for the lead."""


def slot_kind(session_index: int, cycle_length: int = CYCLE_LENGTH) -> str:
    """``introductions``, ``regular`` or ``closing`` for a 0-based session number."""
    _check_cycle_length(cycle_length)
    position = session_index % cycle_length
    if position == 0:
        return "introductions"
    if position == cycle_length - 1:
        return "closing"
    return "regular"


def choose_next_topic(
    catalogue: Catalogue,
    *,
    audience: str,
    history: Sequence[str],
    session_index: int | None = None,
    cycle_length: int = CYCLE_LENGTH,
    domain_signals: Mapping[str, DomainSignal] | None = None,
    min_group: int = MIN_GROUP,
    adaptive: bool = True,
) -> TopicChoice:
    """The topic for session ``session_index`` (0-based; defaults to ``len(history)``).

    ``history`` lists the slugs of the topics this group actually had, oldest first.
    """
    planner = _Planner(catalogue, audience, history, session_index, cycle_length, domain_signals, min_group, adaptive)
    return planner.ranked(include_fallback=True)[0]


def alternatives(
    catalogue: Catalogue,
    *,
    audience: str,
    history: Sequence[str],
    scheduled: str | None = None,
    session_index: int | None = None,
    cycle_length: int = CYCLE_LENGTH,
    domain_signals: Mapping[str, DomainSignal] | None = None,
    min_group: int = MIN_GROUP,
    adaptive: bool = True,
    count: int = ALTERNATIVES,
) -> list[TopicChoice]:
    """Up to ``count`` other topics for the same session that obey the same rules, best first.

    Fewer come back when fewer fit: e.g. near the end of a round, or for the introductions
    and closing sessions, which only offer other topics of their kind.
    """
    planner = _Planner(catalogue, audience, history, session_index, cycle_length, domain_signals, min_group, adaptive)
    return [choice for choice in planner.ranked(include_fallback=False) if choice.topic.slug != scheduled][:count]


def lead_choice(catalogue: Catalogue, slug: str, *, audience: str, history: Sequence[str]) -> TopicChoice:
    """A topic the lead asked for by slug (``/compass topic <slug>``), or :class:`TopicChoiceError`."""
    wanted = slug.strip().lower()
    topic = catalogue.get(wanted)
    eligible = catalogue.eligible(audience)
    if topic is None:
        close = difflib.get_close_matches(wanted, [t.slug for t in eligible], n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise TopicChoiceError(f"There is no topic called “{wanted}”.{hint}")
    if not topic.suits(audience):
        group = "mixed groups" if audience == "all" else f"{audience}' groups"
        raise TopicChoiceError(f"“{topic.slug}” is written for {topic.audience}, so it is not offered to {group}.")
    explanation = "Chosen by your group's lead."
    if topic.slug in history:
        explanation = "Chosen by your group's lead; the group has discussed it before."
    return TopicChoice(topic, explanation, "lead")


def _check_cycle_length(cycle_length: int) -> None:
    if cycle_length < 3:
        raise ValueError(f"a cycle needs at least 3 sessions (introductions, one topic, closing), got {cycle_length}")


class _Planner:
    """Everything one decision needs, derived once from the inputs."""

    def __init__(
        self,
        catalogue: Catalogue,
        audience: str,
        history: Sequence[str],
        session_index: int | None,
        cycle_length: int,
        domain_signals: Mapping[str, DomainSignal] | None,
        min_group: int,
        adaptive: bool,
    ):
        _check_cycle_length(cycle_length)
        self.catalogue = catalogue
        self.audience = audience
        self.history = tuple(history)
        self.index = len(self.history) if session_index is None else session_index
        if self.index < 0:
            raise ValueError(f"session_index must be 0 or more, got {self.index}")
        self.cycle_length = cycle_length
        self.slot = slot_kind(self.index, cycle_length)
        self.pool = catalogue.eligible(audience, "regular")
        self.openers = catalogue.eligible(audience, "introductions")
        self.closers = catalogue.eligible(audience, "closing")
        self.uses = Counter(self.history)
        previous = catalogue.get(self.history[-1]) if self.history else None
        self.previous_domain = previous.primary_domain if previous else None
        self.worsened = _worsened_domains(domain_signals, min_group) if adaptive else {}
        self.last_seen = _last_seen_primary(catalogue, self.history)
        self.want_specific = _round_short_of_specific(catalogue, self.pool, audience, self.history)

    def ranked(self, *, include_fallback: bool) -> list[TopicChoice]:
        if self.slot != "regular":
            return self._ranked_special(include_fallback)
        return self._ranked_regular(include_fallback)

    # Introductions and closing -----------------------------------------------------------

    def _ranked_special(self, include_fallback: bool) -> list[TopicChoice]:
        specials = self.openers if self.slot == "introductions" else self.closers
        if not specials:
            raise ValueError(f"the catalogue has no {self.slot} topic for {self.audience} groups")
        ordered = sorted(specials, key=lambda t: (self.uses[t.slug], self.catalogue.position(t.slug)))
        fitting = [t for t in ordered if t.primary_domain != self.previous_domain]
        if self.slot == "introductions":
            explanation = "Every cycle opens with introductions, so new and returning members can connect."
        else:
            explanation = "Every cycle ends with a closing reflection, before members decide to stay or switch groups."
        choices = [TopicChoice(t, explanation, self.slot) for t in fitting]
        if include_fallback:
            choices += [TopicChoice(t, explanation, "fallback") for t in ordered if t not in fitting]
        return choices

    # Regular sessions --------------------------------------------------------------------

    def _ranked_regular(self, include_fallback: bool) -> list[TopicChoice]:
        if not self.pool:
            raise ValueError(f"the catalogue has no regular topics for {self.audience} groups")
        level = min(self.uses[t.slug] for t in self.pool)
        this_round = sorted((t for t in self.pool if self.uses[t.slug] == level), key=self._preference)
        new_domain = [t for t in this_round if t.primary_domain != self.previous_domain]
        lookahead = _Lookahead(self, level)
        schedulable = [t for t in new_domain if lookahead.rest_of_round_fits(t)]
        # A choice that fits today's rules but strands the round later is still better than breaking a rule now.
        choices = [self._explain(t) for t in (schedulable or new_domain)]
        if include_fallback and not choices:
            explanation = "The usual rotation rules could not all be met after earlier changes, so this is the closest fit."
            later = sorted(self.pool, key=lambda t: (self.uses[t.slug], self._preference(t)))
            other_domain = [t for t in later if t.primary_domain != self.previous_domain]
            choices = [TopicChoice(t, explanation, "fallback") for t in (other_domain or later)]
        return choices

    def _pulse_score(self, topic: Topic) -> tuple[float, str | None]:
        best, domain = 0.0, None
        for position, name in enumerate(topic.domains):
            weight = 1.0 if position == 0 else _SECONDARY_DOMAIN_WEIGHT
            score = self.worsened.get(name, 0.0) * weight
            if score > best:
                best, domain = score, name
        return best, domain

    def _preference(self, topic: Topic) -> tuple:
        pulse, _ = self._pulse_score(topic)
        seen = self.last_seen.get(topic.primary_domain)
        gap = math.inf if seen is None else len(self.history) - seen
        return (-pulse, -gap, self._audience_balance(topic), self.catalogue.position(topic.slug))

    def _audience_balance(self, topic: Topic) -> int:
        """0 for the kind of topic (written for this audience, or for everyone) the group is short of."""
        if self.want_specific is None:
            return 0
        return 0 if (topic.audience == self.audience) == self.want_specific else 1

    def _explain(self, topic: Topic) -> TopicChoice:
        pulse, domain = self._pulse_score(topic)
        if pulse > 0 and domain is not None:
            label = domain_label(domain).lower()
            # Never a score or its direction: the lead reads this, and the group may be small.
            return TopicChoice(topic, f"Chosen with your group's recent check-ins in mind: {label}.", "pulse", domain)
        domain = topic.primary_domain
        label = domain_label(domain).lower()
        seen = self.last_seen.get(domain)
        if seen is None:
            explanation = f"Next in the rotation: {label}, a theme your group has not discussed yet."
        else:
            gap = len(self.history) - seen
            explanation = f"Next in the rotation: {label}, last discussed {gap} session{'s' if gap != 1 else ''} ago."
        return TopicChoice(topic, explanation, "rotation", domain)


class _Lookahead:
    """Can the rest of the current round be scheduled after a candidate without breaking a rule?

    Topics sharing a primary domain are interchangeable for this question, so the search runs
    over per-domain counts. It ends one regular session after the round is used up, because
    from then on the whole pool is available again.
    """

    def __init__(self, planner: _Planner, level: int):
        self.planner = planner
        self.domains = tuple(sorted({t.primary_domain for t in planner.pool}))
        index = {name: i for i, name in enumerate(self.domains)}
        round_counts = [0] * len(self.domains)
        next_counts = [0] * len(self.domains)
        for topic in planner.pool:
            uses = planner.uses[topic.slug]
            if uses == level:
                round_counts[index[topic.primary_domain]] += 1
            if uses in (level, level + 1):
                next_counts[index[topic.primary_domain]] += 1
        self.index = index
        self.round_counts = tuple(round_counts)
        self.next_counts = tuple(next_counts)
        self.opener_domains = tuple(t.primary_domain for t in planner.openers)
        self.closer_domains = tuple(t.primary_domain for t in planner.closers)
        self.opener_uses = tuple(planner.uses[t.slug] for t in planner.openers)
        self.closer_uses = tuple(planner.uses[t.slug] for t in planner.closers)
        self.budget = _LOOKAHEAD_BUDGET
        self._fits = lru_cache(maxsize=None)(self._fits_uncached)

    def rest_of_round_fits(self, candidate: Topic) -> bool:
        counts = list(self.round_counts)
        counts[self.index[candidate.primary_domain]] -= 1
        remaining = tuple(counts)
        after_round = sum(remaining) == 0
        return self._fits(
            self.planner.index + 1,
            candidate.primary_domain,
            self.next_counts if after_round else remaining,
            self.opener_uses,
            self.closer_uses,
            after_round,
        )

    def _fits_uncached(
        self,
        index: int,
        previous: str | None,
        remaining: tuple[int, ...],
        opener_uses: tuple[int, ...],
        closer_uses: tuple[int, ...],
        after_round: bool,
    ) -> bool:
        self.budget -= 1
        if self.budget < 0:
            return True
        slot = slot_kind(index, self.planner.cycle_length)
        if slot != "regular":
            domains, uses = (self.opener_domains, opener_uses) if slot == "introductions" else (self.closer_domains, closer_uses)
            pick = _pick_special(domains, uses, previous)
            if pick is None:
                return False
            bumped = uses[:pick] + (uses[pick] + 1,) + uses[pick + 1 :]
            if slot == "introductions":
                return self._fits(index + 1, domains[pick], remaining, bumped, closer_uses, after_round)
            return self._fits(index + 1, domains[pick], remaining, opener_uses, bumped, after_round)

        options = [i for i, n in enumerate(remaining) if n > 0 and self.domains[i] != previous]
        if after_round:
            return bool(options)
        if not self._could_fit(index, remaining):
            return False
        # Most plentiful domain first: the classic greedy for "no two neighbours alike".
        for i in sorted(options, key=lambda i: (-remaining[i], i)):
            counts = remaining[:i] + (remaining[i] - 1,) + remaining[i + 1 :]
            if sum(counts) == 0:
                fits = self._fits(index + 1, self.domains[i], self.next_counts, opener_uses, closer_uses, True)
            else:
                fits = self._fits(index + 1, self.domains[i], counts, opener_uses, closer_uses, False)
            if fits:
                return True
        return False

    def _could_fit(self, index: int, remaining: tuple[int, ...]) -> bool:
        """A quick necessary condition: one domain cannot fill more than every other regular slot.

        Introductions and closing sessions can separate two topics of the same domain, so they
        are counted generously (two per cycle the rest of the round may span, plus two).
        """
        total = sum(remaining)
        middle = self.planner.cycle_length - 2
        separators = 2 * (total // middle + 2)
        return max(remaining) <= (total + separators + 1) // 2


def _pick_special(domains: Sequence[str], uses: Sequence[int], previous: str | None) -> int | None:
    """Mirror of the introductions/closing rule: least used first, catalogue order, new domain."""
    for i in sorted(range(len(domains)), key=lambda i: (uses[i], i)):
        if domains[i] != previous:
            return i
    return None


def _worsened_domains(signals: Mapping[str, DomainSignal] | None, min_group: int) -> dict[str, float]:
    """How much each domain worsened, from aggregates large enough to share (never fewer than ``min_group``)."""
    if not signals:
        return {}
    return {
        domain: -signal.change
        for domain, signal in signals.items()
        if signal.respondents >= min_group and signal.change < 0 and math.isfinite(signal.change)
    }


def _last_seen_primary(catalogue: Catalogue, history: Sequence[str]) -> dict[str, int]:
    seen: dict[str, int] = {}
    for position, slug in enumerate(history):
        topic = catalogue.get(slug)
        if topic is not None:
            seen[topic.primary_domain] = position
    return seen


def _round_short_of_specific(catalogue: Catalogue, pool: Sequence[Topic], audience: str, history: Sequence[str]) -> bool | None:
    """Whether topics written for the group's audience are behind their share of the pool so far.

    Keeps residents' and attendings' own topics interleaved with the topics for everyone
    instead of bunched at the end; None for mixed groups, which only have topics for everyone.
    """
    if audience == "all" or not pool:
        return None
    share = sum(1 for t in pool if t.audience == audience) / len(pool)
    held = [catalogue.get(slug) for slug in history]
    regular = [t for t in held if t is not None and t.kind == "regular"]
    specific = sum(1 for t in regular if t.audience == audience)
    return specific < share * (len(regular) + 1)

"""Near-peer mentor matching: who may mentor whom, and the best pairing for a round.

Hard rules (never broken):

* Only people who opted in take part: ``near_peer_role`` ``mentee`` or ``both`` may
  receive a mentor, ``mentor`` or ``both`` may mentor. Paused people sit the round out.
* A mentor is ahead of the mentee by a configured gap: trainees ``PGY-n`` by
  ``pgy_gap`` years (default 1-2), attendings by ``attending_gap`` years in practice
  (default 2-8). Trainees and attendings are never paired, unless
  ``final_year_attending_gap`` is set: then a trainee in the final year of their
  programme may be mentored by an attending with that many years in practice.
  "Final year" is decided by programme length: ``final_pgy_year_by_specialty``
  (e.g. ``{"Internal Medicine": 3}``), else ``final_pgy_year``; a trainee at or past
  that PGY year is in their final year. An attending is never mentored by a trainee.
* Nobody is paired with themselves, with anyone in their ``supervisor_ids`` or with
  anyone who lists them there, nor with someone they were paired with within the last
  ``cooldown_rounds`` rounds (default ``None``: an ended pair is never re-paired).
* A mentor takes at most ``mentor_capacity`` mentees (clamped to 0-5); a mentee gets
  at most one mentor. Someone who marked ``both`` may be a mentee in one pair and a
  mentor in others.

Objective, in this order: (1) match as many mentees as possible; (2) among those
pairings, maximise the total preference score. A pair scores, with the default
:class:`ScoreWeights`, 3 for the same specialty, 2 for the same site and 1 when their
weekly availability shares at least one hour.

The optimum is exact. Listing every allowed pair is too big for 10,000 people (some
8 million edges), so :func:`build_graph` shares structure instead: a mentee's edge
into a *hub* (the mentors of one career stage, optionally narrowed to one specialty,
one site and/or one shared hour of availability) costs ``best score - the score that
hub guarantees``, and hubs fan out to the mentors they contain. The cheapest route
from a mentee to a mentor therefore costs exactly ``best - score(pair)``. Excluded
pairs (supervision, history) get a private route for that mentee that goes around the
excluded mentor. :func:`solve` computes a minimum-cost maximum flow with the
primal-dual method: Dijkstra on reduced costs, then a maximum flow on the zero-cost
edges, repeated (SciPy's compiled graph routines do the work). A minimum-cost maximum
flow is exactly objective (1) then (2), because every matched mentee pays ``best -
score`` once.

This module is pure: no Slack, no database.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np

from bot.domain.availability import utc_hours_of_week
from bot.domain.people import MAX_ATTENDING_YEARS, MAX_MENTOR_CAPACITY, MAX_PGY, CareerStage, Person

MENTEE_ROLES = frozenset({"mentee", "both"})
MENTOR_ROLES = frozenset({"mentor", "both"})

# Why a pair is not allowed (see pair_block_reason).
BLOCK_SAME_PERSON = "same_person"
BLOCK_STAGE = "stage_gap"
BLOCK_SUPERVISION = "supervision"
BLOCK_HISTORY = "recent_pair"
BLOCK_NOT_MENTEE = "not_a_mentee"
BLOCK_NOT_MENTOR = "not_a_mentor"
BLOCK_NO_STAGE = "no_career_stage"

# Why someone was left without a partner (Unmatched.code).
NO_CAREER_STAGE = "no_career_stage"
NO_MENTOR_AHEAD = "no_mentor_ahead"
ONLY_SUPERVISORS = "only_supervisors"
ONLY_PAST_PAIRS = "only_past_pairs"
ONLY_SUPERVISORS_OR_PAST_PAIRS = "only_supervisors_or_past_pairs"
MENTORS_AT_CAPACITY = "mentors_at_capacity"
NO_MENTEE_BEHIND = "no_mentee_behind"
ONLY_SUPERVISEES = "only_supervisees"
ONLY_PAST_MENTEES = "only_past_mentees"
ONLY_SUPERVISEES_OR_PAST_MENTEES = "only_supervisees_or_past_mentees"
MENTEES_MATCHED_ELSEWHERE = "mentees_matched_elsewhere"
ZERO_CAPACITY = "zero_capacity"


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class ScoreWeights:
    """Points a pair earns for each preference it meets (whole numbers, 0 switches one off)."""

    specialty: int = 3
    site: int = 2
    availability: int = 1

    def __post_init__(self) -> None:
        for name in ("specialty", "site", "availability"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"score weight {name} must be a whole number >= 0, got {value!r}")

    @property
    def best(self) -> int:
        return self.specialty + self.site + self.availability


@dataclass(frozen=True)
class MatchingRules:
    """The configurable rules of a round (see the module docstring).

    Gaps are inclusive (min, max) ranges: ``pgy_gap`` in PGY years, ``attending_gap``
    in years in practice, ``final_year_attending_gap`` in the mentor's years in
    practice. ``final_pgy_year`` / ``final_pgy_year_by_specialty`` give the PGY year
    in which a programme ends. ``cooldown_rounds=None`` never re-pairs; ``n`` allows a
    pair again once more than ``n`` rounds have passed.
    """

    pgy_gap: tuple[int, int] = (1, 2)
    attending_gap: tuple[int, int] = (2, 8)
    final_pgy_year: int | None = None
    final_pgy_year_by_specialty: Mapping[str, int] = field(default_factory=dict, hash=False)
    final_year_attending_gap: tuple[int, int] | None = None
    cooldown_rounds: int | None = None
    weights: ScoreWeights = ScoreWeights()

    def __post_init__(self) -> None:
        for name in ("pgy_gap", "attending_gap"):
            low, high = getattr(self, name)
            if not 1 <= low <= high:
                raise ValueError(f"{name} must be (min, max) with 1 <= min <= max, got {(low, high)}")
        if self.final_year_attending_gap is not None:
            low, high = self.final_year_attending_gap
            if not 0 <= low <= high:
                raise ValueError(f"final_year_attending_gap must be (min, max) with 0 <= min <= max, got {(low, high)}")
        if self.final_pgy_year is not None and not 1 <= self.final_pgy_year <= MAX_PGY:
            raise ValueError(f"final_pgy_year must be 1-{MAX_PGY}, got {self.final_pgy_year}")
        by_specialty = {}
        for specialty, year in self.final_pgy_year_by_specialty.items():
            if not 1 <= year <= MAX_PGY:
                raise ValueError(f"final PGY year for {specialty!r} must be 1-{MAX_PGY}, got {year}")
            by_specialty[_norm(specialty)] = year
        object.__setattr__(self, "final_pgy_year_by_specialty", MappingProxyType(by_specialty))
        if self.cooldown_rounds is not None and self.cooldown_rounds < 0:
            raise ValueError(f"cooldown_rounds must be >= 0 or None, got {self.cooldown_rounds}")

    def is_final_year(self, stage: CareerStage, specialty: str) -> bool:
        final = self.final_pgy_year_by_specialty.get(_norm(specialty), self.final_pgy_year)
        return stage.is_trainee and final is not None and stage.years >= final

    def mentor_stages(self, stage: CareerStage, specialty: str = "") -> tuple[CareerStage, ...]:
        """The career stages a mentor of someone at ``stage`` may have, nearest first."""
        if stage.is_trainee:
            low, high = self.pgy_gap
            stages = [CareerStage("PGY", y) for y in range(stage.years + low, min(stage.years + high, MAX_PGY) + 1)]
            if self.final_year_attending_gap is not None and self.is_final_year(stage, specialty):
                low, high = self.final_year_attending_gap
                stages += [CareerStage("ATTENDING", y) for y in range(low, min(high, MAX_ATTENDING_YEARS) + 1)]
            return tuple(stages)
        low, high = self.attending_gap
        top = min(stage.years + high, MAX_ATTENDING_YEARS)
        return tuple(CareerStage("ATTENDING", y) for y in range(stage.years + low, top + 1))

    def blocks_repeat(self, past_round: int, current_round: int) -> bool:
        """Whether a pair from ``past_round`` is still inside the cooldown."""
        return self.cooldown_rounds is None or current_round - past_round <= self.cooldown_rounds


def mentor_capacity(person: Person) -> int:
    """Mentee slots a person offers this round: 0 unless they mentor, at most 5."""
    if person.near_peer_role not in MENTOR_ROLES:
        return 0
    return max(0, min(person.mentor_capacity, MAX_MENTOR_CAPACITY))


# ---------------------------------------------------------------------- plain data


@dataclass(frozen=True, order=True)
class PastPair:
    mentee_id: str
    mentor_id: str
    round: int


@dataclass(frozen=True)
class Pair:
    mentee: str
    mentor: str
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Unmatched:
    user: str
    role: Literal["mentee", "mentor"]  # the side of the programme left without a partner
    code: str  # stable, for templates; see the module constants
    reason: str


@dataclass
class MatchResult:
    pairs: list[Pair]
    unmatched: list[Unmatched]
    stats: dict

    def to_dict(self) -> dict:
        return {
            "pairs": [
                {"mentee": p.mentee, "mentor": p.mentor, "score": p.score, "reasons": list(p.reasons)}
                for p in self.pairs
            ],
            "unmatched": [{"user": u.user, "role": u.role, "code": u.code, "reason": u.reason} for u in self.unmatched],
            "stats": self.stats,
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


# ------------------------------------------------------------------ pairwise rules


def recent_pairs(history: Iterable[PastPair], *, current_round: int, rules: MatchingRules) -> frozenset[frozenset[str]]:
    """Pairs (in either direction) that the cooldown still forbids."""
    return frozenset(
        frozenset((p.mentee_id, p.mentor_id))
        for p in history
        if p.mentee_id != p.mentor_id and rules.blocks_repeat(p.round, current_round)
    )


def pair_block_reason(
    mentee: Person, mentor: Person, *, rules: MatchingRules, recent: frozenset[frozenset[str]] = frozenset()
) -> str | None:
    """The first hard rule that forbids ``mentor`` mentoring ``mentee`` (a BLOCK_* code), or None."""
    if mentee.user_id == mentor.user_id:
        return BLOCK_SAME_PERSON
    if mentee.near_peer_role not in MENTEE_ROLES:
        return BLOCK_NOT_MENTEE
    if mentor_capacity(mentor) == 0:
        return BLOCK_NOT_MENTOR
    if mentee.career_stage is None or mentor.career_stage is None:
        return BLOCK_NO_STAGE
    if mentor.career_stage not in rules.mentor_stages(mentee.career_stage, mentee.specialty):
        return BLOCK_STAGE
    if mentee.supervises_or_is_supervised_by(mentor):
        return BLOCK_SUPERVISION
    if frozenset((mentee.user_id, mentor.user_id)) in recent:
        return BLOCK_HISTORY
    return None


def eligible_mentors(
    mentee: Person,
    candidates: Iterable[Person],
    *,
    rules: MatchingRules = MatchingRules(),
    history: Sequence[PastPair] = (),
    current_round: int,
) -> list[Person]:
    """Everyone in ``candidates`` who may mentor ``mentee`` this round, by user id."""
    recent = recent_pairs(history, current_round=current_round, rules=rules)
    allowed = [c for c in candidates if pair_block_reason(mentee, c, rules=rules, recent=recent) is None]
    return sorted(allowed, key=lambda p: p.user_id)


def _fit_score(same_specialty: bool, same_site: bool, common_hours: int, weights: ScoreWeights) -> int:
    return weights.specialty * same_specialty + weights.site * same_site + weights.availability * (common_hours > 0)


def _fit_reasons(mentee: Person, mentor: Person, same_specialty: bool, same_site: bool, common_hours: int) -> list[str]:
    reasons = [_stage_reason(mentee, mentor)]
    if same_specialty:
        reasons.append(f"same specialty ({mentor.specialty})")
    if same_site:
        reasons.append(f"same site ({mentor.site})")
    if common_hours:
        reasons.append(f"{common_hours} common hour{'s' if common_hours != 1 else ''} a week")
    return reasons


# ------------------------------------------------------------------- the round


@dataclass
class RoundInput:
    """The participants of one round, indexed, with what the graph needs to know.

    Mentees and mentors are indexed separately (someone who marked ``both`` is in
    each list). The graph works on small integers: a stage code (PGY-n is n,
    ATTENDING-n is 100 + n), specialty and site ids (0 when not given) and
    availability atoms (see :func:`_availability_atoms`).
    """

    current_round: int
    people_count: int
    not_opted_in: int
    paused: int
    unstaged: list[Person]  # opted in and active, but with no career stage on file
    mentees: list[Person]
    mentors: list[Person]
    capacities: list[int]
    targets: list[tuple[CareerStage, ...]]  # per mentee: the mentor stages allowed
    excluded: list[dict[int, str]]  # per mentee: mentor index -> BLOCK_SUPERVISION | BLOCK_HISTORY
    hours: dict[str, frozenset[int]]  # user id -> UTC hours of the week
    mentee_codes: list[tuple[int, int, int]]  # (stage, specialty, site)
    mentor_codes: list[tuple[int, int, int]]
    target_codes: list[tuple[int, ...]]
    mentee_atoms: list[tuple[int, ...]]
    mentor_atoms: list[frozenset[int]]


def match(
    people: Sequence[Person],
    *,
    history: Sequence[PastPair] = (),
    current_round: int,
    rules: MatchingRules = MatchingRules(),
    paused: Iterable[str] = (),
    week_of: date | None = None,
) -> MatchResult:
    """Pair mentees with mentors for ``current_round``: most mentees matched, then best score.

    ``paused`` holds user ids sitting this round out. Availability is compared in UTC
    for the week of ``week_of`` (default: this week), so daylight saving is that week's.
    The result depends only on the set of people, not on their order.
    """
    round_ = prepare_round(
        people, history=history, current_round=current_round, rules=rules, paused=paused, week_of=week_of
    )
    network = build_graph(round_, rules.weights)
    solution = solve(network)
    assignment = assign(network, solution.flows)
    pairs, counts = _describe_pairs(round_, assignment, history, rules.weights)
    unmatched = explain(round_, assignment)
    return MatchResult(pairs=pairs, unmatched=unmatched, stats=_stats(round_, pairs, unmatched, counts))


def prepare_round(
    people: Sequence[Person],
    *,
    history: Sequence[PastPair] = (),
    current_round: int,
    rules: MatchingRules = MatchingRules(),
    paused: Iterable[str] = (),
    week_of: date | None = None,
) -> RoundInput:
    """Who takes part this round, in which role, and which pairs the rules forbid."""
    everyone = sorted(people, key=lambda p: p.user_id)
    ids = [p.user_id for p in everyone]
    if len(set(ids)) != len(ids):
        duplicates = sorted(user for user, count in Counter(ids).items() if count > 1)
        raise ValueError(f"people must be unique by user_id; repeated: {', '.join(duplicates[:5])}")
    late = [p.round for p in history if p.round >= current_round]
    if late:
        raise ValueError(f"history has round {max(late)}, not before the current round {current_round}")

    paused_ids = frozenset(paused)
    opted_in = [p for p in everyone if p.near_peer_role in MENTEE_ROLES | MENTOR_ROLES]
    active = [p for p in opted_in if p.user_id not in paused_ids]
    staged = [p for p in active if p.career_stage is not None]
    mentees = [p for p in staged if p.near_peer_role in MENTEE_ROLES]
    mentors = [p for p in staged if p.near_peer_role in MENTOR_ROLES]
    capacities = [mentor_capacity(p) for p in mentors]
    targets = _stage_targets(mentees, rules)

    specialty_ids: dict[str, int] = {"": 0}
    site_ids: dict[str, int] = {"": 0}

    def codes(person: Person) -> tuple[int, int, int]:
        specialty = specialty_ids.setdefault(_norm(person.specialty), len(specialty_ids))
        site = site_ids.setdefault(_norm(person.site), len(site_ids))
        return _stage_code(person.career_stage), specialty, site  # type: ignore[arg-type]

    mentee_codes = [codes(p) for p in mentees]
    mentor_codes = [codes(p) for p in mentors]
    code_of_targets = {t: tuple(_stage_code(stage) for stage in t) for t in set(targets)}
    target_codes = [code_of_targets[t] for t in targets]

    hours = _hours_by_user(staged, week_of)
    mentee_atoms, mentor_atoms = _availability_atoms(mentees, mentors, hours)
    excluded = _exclusions(mentees, mentors, capacities, mentor_codes, target_codes, history, current_round, rules)

    return RoundInput(
        current_round=current_round,
        people_count=len(everyone),
        not_opted_in=len(everyone) - len(opted_in),
        paused=len(opted_in) - len(active),
        unstaged=[p for p in active if p.career_stage is None],
        mentees=mentees,
        mentors=mentors,
        capacities=capacities,
        targets=targets,
        excluded=excluded,
        hours=hours,
        mentee_codes=mentee_codes,
        mentor_codes=mentor_codes,
        target_codes=target_codes,
        mentee_atoms=[tuple(sorted(a)) for a in mentee_atoms],
        mentor_atoms=mentor_atoms,
    )


def _stage_code(stage: CareerStage) -> int:
    return stage.years if stage.is_trainee else 100 + stage.years  # PGY years stay below 100


def _stage_targets(mentees: list[Person], rules: MatchingRules) -> list[tuple[CareerStage, ...]]:
    """Each mentee's allowed mentor stages, worked out once per stage and specialty."""
    known: dict[tuple[CareerStage, str], tuple[CareerStage, ...]] = {}
    targets = []
    for person in mentees:
        key = (person.career_stage, _norm(person.specialty))
        if key not in known:
            known[key] = rules.mentor_stages(person.career_stage, person.specialty)  # type: ignore[arg-type]
        targets.append(known[key])
    return targets


def _exclusions(
    mentees: list[Person],
    mentors: list[Person],
    capacities: list[int],
    mentor_codes: list[tuple[int, int, int]],
    target_codes: list[tuple[int, ...]],
    history: Sequence[PastPair],
    current_round: int,
    rules: MatchingRules,
) -> list[dict[int, str]]:
    """Per mentee, the mentors at an allowed stage whom supervision or a recent pair rules out.

    Only these matter: a mentor at another stage is out of reach anyway.
    """
    mentor_index = {p.user_id: j for j, p in enumerate(mentors)}
    mentee_index = {p.user_id: i for i, p in enumerate(mentees)}
    target_sets = {t: frozenset(t) for t in set(target_codes)}
    excluded: list[dict[int, str]] = [{} for _ in mentees]

    def exclude(i: int, j: int, why: str) -> None:
        if capacities[j] and mentor_codes[j][0] in target_sets[target_codes[i]]:
            excluded[i].setdefault(j, why)

    for i, mentee in enumerate(mentees):
        for other in sorted(mentee.supervisor_ids):
            if other in mentor_index:
                exclude(i, mentor_index[other], BLOCK_SUPERVISION)
    for j, mentor in enumerate(mentors):
        for other in sorted(mentor.supervisor_ids):
            if other in mentee_index:
                exclude(mentee_index[other], j, BLOCK_SUPERVISION)
    for past in sorted(history):
        if past.mentee_id == past.mentor_id or not rules.blocks_repeat(past.round, current_round):
            continue
        for a, b in ((past.mentee_id, past.mentor_id), (past.mentor_id, past.mentee_id)):
            if a in mentee_index and b in mentor_index:
                exclude(mentee_index[a], mentor_index[b], BLOCK_HISTORY)
    return excluded


def _hours_by_user(people: list[Person], week_of: date | None) -> dict[str, frozenset[int]]:
    cache: dict[tuple, frozenset[int]] = {}
    hours = {}
    for person in people:
        key = (person.availability, person.timezone)
        if key not in cache:
            windows = person.availability
            cache[key] = utc_hours_of_week(windows, person.timezone, week_of) if windows else frozenset()
        hours[person.user_id] = cache[key]
    return hours


def _availability_atoms(
    mentees: list[Person], mentors: list[Person], hours: dict[str, frozenset[int]]
) -> tuple[list[frozenset[int]], list[frozenset[int]]]:
    """Replace hours by *atoms*: hours held by exactly the same mentees and mentors.

    Two people share an hour exactly when they share an atom, and there are far fewer
    atoms than hours (a two-hour window is usually one atom). Atoms that no mentee or
    no mentor holds can never earn the availability point and are dropped.
    """
    holders: dict[int, list[int]] = defaultdict(list)  # hour -> mentee i, or len(mentees) + mentor j
    for i, person in enumerate(mentees):
        for hour in hours[person.user_id]:
            holders[hour].append(i)
    first_mentor = len(mentees)
    for j, person in enumerate(mentors):
        for hour in hours[person.user_id]:
            holders[hour].append(first_mentor + j)
    atom_ids: dict[tuple[int, ...], int] = {}
    mentee_atoms: list[set[int]] = [set() for _ in mentees]
    mentor_atoms: list[set[int]] = [set() for _ in mentors]
    for hour in sorted(holders):
        signature = tuple(holders[hour])  # ascending: mentees first
        if signature[0] >= first_mentor or signature[-1] < first_mentor:
            continue
        atom = atom_ids.setdefault(signature, len(atom_ids))
        for index in signature:
            if index < first_mentor:
                mentee_atoms[index].add(atom)
            else:
                mentor_atoms[index - first_mentor].add(atom)
    return [frozenset(a) for a in mentee_atoms], [frozenset(a) for a in mentor_atoms]


# ------------------------------------------------------------------- the graph

# Hub kinds. A hub key is (kind, stage, specialty, site, hour), with _ANY where the
# kind does not narrow by that attribute: R = every mentor of a stage, P = one
# specialty, Q = one site, L = one specialty and one site. Children: R -> P -> L and
# Q -> L; an L hub's children are mentors.
_R, _P, _Q, _L = 0, 1, 2, 3
_ANY = -1
_LEVEL_SOURCE, _LEVEL_MENTEE, _LEVEL_ENTRANCE, _LEVEL_MENTOR, _LEVEL_SINK = 0, 1, 2, 6, 7
_HUB_LEVEL = (3, 4, 4, 5)  # every edge goes from a lower level to a higher one


@dataclass
class FlowNetwork:
    """A min-cost-flow instance: arrays of edges plus what the nodes stand for."""

    tails: np.ndarray
    heads: np.ndarray
    capacities: np.ndarray
    costs: np.ndarray
    levels: np.ndarray
    source: int
    sink: int
    mentee_of_node: dict[int, int]
    mentor_of_node: dict[int, int]

    @property
    def node_count(self) -> int:
        return len(self.levels)


class _GraphBuilder:
    """Builds the hub network described in the module docstring.

    Besides hubs there are shared *entrances*, keyed by (target stages, kind,
    specialty, site, hour): one edge from a mentee into an entrance reaches the same
    kind of hub at every stage that mentee may look to.
    """

    def __init__(self, round_: RoundInput, weights: ScoreWeights) -> None:
        self.round = round_
        self.weights = weights
        self.infinite = len(round_.mentees) + 1
        self.levels: list[int] = []
        self.tails: list[int] = []
        self.heads: list[int] = []
        self.capacities: list[int] = []
        self.costs: list[int] = []
        self.hubs: dict[tuple[int, int, int, int, int], int] = {}
        self.children: dict[tuple, list] = defaultdict(list)  # hub -> child hubs, or mentor indices under L
        self.entrances: dict[tuple, int | None] = {}
        self.shared_entries: dict[tuple, dict[int, int]] = {}
        self.mentor_nodes: dict[int, int] = {}
        self.mentee_nodes: dict[int, int] = {}
        self.source = self._node(_LEVEL_SOURCE)
        self.sink = self._node(_LEVEL_SINK)

    def _node(self, level: int) -> int:
        self.levels.append(level)
        return len(self.levels) - 1

    def _edge(self, tail: int, head: int, capacity: int, cost: int = 0) -> None:
        self.tails.append(tail)
        self.heads.append(head)
        self.capacities.append(capacity)
        self.costs.append(cost)

    def _attach(self, parent: tuple, child: tuple, child_node: int) -> bool:
        """Hang a new hub under ``parent`` (created if need be); True if ``parent`` is new too."""
        parent_node = self.hubs.get(parent)
        created = parent_node is None
        if created:
            parent_node = self.hubs[parent] = self._node(_HUB_LEVEL[parent[0]])
        self.children[parent].append(child)
        self._edge(parent_node, child_node, self.infinite)
        return created

    def build(self) -> FlowNetwork:
        for j, capacity in enumerate(self.round.capacities):
            if capacity:
                self._add_mentor(j, capacity)
        for i in range(len(self.round.mentees)):
            self._add_mentee(i)
        return FlowNetwork(
            tails=np.array(self.tails, dtype=np.int32),
            heads=np.array(self.heads, dtype=np.int32),
            capacities=np.array(self.capacities, dtype=np.int64),
            costs=np.array(self.costs, dtype=np.float64),
            levels=np.array(self.levels, dtype=np.int8),
            source=self.source,
            sink=self.sink,
            mentee_of_node={node: i for i, node in self.mentee_nodes.items()},
            mentor_of_node={node: j for j, node in self.mentor_nodes.items()},
        )

    def _add_mentor(self, j: int, capacity: int) -> None:
        stage, specialty, site = self.round.mentor_codes[j]
        node = self.mentor_nodes[j] = self._node(_LEVEL_MENTOR)
        self._edge(node, self.sink, capacity)
        atoms = sorted(self.round.mentor_atoms[j]) if self.weights.availability else []
        for hour in (_ANY, *atoms):
            leaf = (_L, stage, specialty, site, hour)
            leaf_node = self.hubs.get(leaf)
            if leaf_node is None:
                leaf_node = self.hubs[leaf] = self._node(_HUB_LEVEL[_L])
                by_specialty = (_P, stage, specialty, _ANY, hour)
                if self._attach(by_specialty, leaf, leaf_node):
                    self._attach((_R, stage, _ANY, _ANY, hour), by_specialty, self.hubs[by_specialty])
                if site:
                    self._attach((_Q, stage, _ANY, site, hour), leaf, leaf_node)
            self.children[leaf].append(j)
            self._edge(leaf_node, node, self.infinite)

    def _variants(self, i: int) -> list[tuple[int, int, int, int, int]]:
        """(kind, specialty, site, hour, score) of every kind of hub this mentee can enter."""
        w = self.weights
        _, specialty, site = self.round.mentee_codes[i]
        hours = [_ANY, *self.round.mentee_atoms[i]] if w.availability else [_ANY]
        variants = []
        for hour in hours:
            bonus = w.availability if hour != _ANY else 0
            variants.append((_R, _ANY, _ANY, hour, bonus))
            if specialty and w.specialty:
                variants.append((_P, specialty, _ANY, hour, w.specialty + bonus))
            if site and w.site:
                variants.append((_Q, _ANY, site, hour, w.site + bonus))
            if specialty and site and w.specialty and w.site:
                variants.append((_L, specialty, site, hour, w.specialty + w.site + bonus))
        return variants

    def _add_mentee(self, i: int) -> None:
        targets = self.round.target_codes[i]
        excluded = self.round.excluded[i]
        if excluded:
            entries = self._private_entries(i, targets, excluded)
        else:
            _, specialty, site = self.round.mentee_codes[i]
            profile = (targets, specialty, site, self.round.mentee_atoms[i])
            entries = self.shared_entries.get(profile)
            if entries is None:
                entries = self.shared_entries[profile] = self._shared_entries(i, targets)
        if entries:
            node = self.mentee_nodes[i] = self._node(_LEVEL_MENTEE)
            self._edge(self.source, node, 1)
            self.tails.extend([node] * len(entries))
            self.heads.extend(entries)
            self.capacities.extend([1] * len(entries))
            self.costs.extend(entries.values())

    def _shared_entries(self, i: int, targets: tuple[int, ...]) -> dict[int, int]:
        entries = {}
        best, known = self.weights.best, self.entrances
        for kind, specialty, site, hour, score in self._variants(i):
            entrance = known.get((targets, kind, specialty, site, hour), -1)
            if entrance == -1:
                entrance = self._entrance(targets, kind, specialty, site, hour)
            if entrance is not None:
                entries[entrance] = best - score
        return entries

    def _private_entries(self, i: int, targets: tuple[int, ...], excluded: dict[int, str]) -> dict[int, int]:
        """Entries for a mentee with excluded mentors: shared where possible, around them where not.

        Excluded mentors are all at target stages (see prepare_round).
        """
        codes, atoms = self.round.mentor_codes, self.round.mentor_atoms
        best = self.weights.best
        entries: dict[int, int] = {}  # first node after the mentee -> cheapest cost
        for kind, specialty, site, hour, score in self._variants(i):
            blocked = [
                j
                for j in excluded
                if (specialty == _ANY or codes[j][1] == specialty)
                and (site == _ANY or codes[j][2] == site)
                and (hour == _ANY or hour in atoms[j])
            ]
            if blocked:
                blocked_stages = {codes[j][0] for j in blocked}
                open_stages = tuple(t for t in targets if t not in blocked_stages)
                entrance = self._entrance(open_stages, kind, specialty, site, hour)
                firsts = [] if entrance is None else [entrance]
                for stage in targets:
                    hub = (kind, stage, specialty, site, hour)
                    if stage in blocked_stages and hub in self.hubs:
                        firsts += self._around(hub, [j for j in blocked if codes[j][0] == stage])
            else:
                entrance = self._entrance(targets, kind, specialty, site, hour)
                firsts = [] if entrance is None else [entrance]
            cost = best - score
            for first in firsts:
                if cost < entries.get(first, best + 1):
                    entries[first] = cost
        return entries

    def _entrance(self, targets: tuple[int, ...], kind: int, specialty: int, site: int, hour: int) -> int | None:
        """The shared node into this kind of hub at each of these stages (None if there is no such hub)."""
        key = (targets, kind, specialty, site, hour)
        node = self.entrances.get(key, -1)
        if node == -1:
            hubs = [self.hubs.get((kind, stage, specialty, site, hour)) for stage in targets]
            hubs = [hub for hub in hubs if hub is not None]
            node = self.entrances[key] = self._node(_LEVEL_ENTRANCE) if hubs else None
            for hub in hubs:
                self._edge(node, hub, self.infinite)  # type: ignore[arg-type]
        return node

    def _around(self, hub: tuple[int, int, int, int, int], blocked: list[int]) -> list[int]:
        """Nodes that together reach every mentor under ``hub`` except ``blocked`` (all under ``hub``)."""
        kind, stage, specialty, site, hour = hub
        if kind == _L:
            return [self.mentor_nodes[j] for j in self.children[hub] if j not in blocked]
        codes = self.round.mentor_codes
        hit: dict[tuple, list[int]] = defaultdict(list)  # child hub holding blocked mentors -> them
        for j in blocked:
            if kind == _R:
                child = (_P, stage, codes[j][1], _ANY, hour)
            elif kind == _P:
                child = (_L, stage, specialty, codes[j][2], hour)
            else:
                child = (_L, stage, codes[j][1], site, hour)
            hit[child].append(j)
        nodes = [self.hubs[child] for child in self.children[hub] if child not in hit]
        for child, inside in hit.items():
            nodes += self._around(child, inside)
        return nodes


def build_graph(round_: RoundInput, weights: ScoreWeights = ScoreWeights()) -> FlowNetwork:
    return _GraphBuilder(round_, weights).build()


# ------------------------------------------------------------------- the solver


@dataclass
class FlowSolution:
    flows: np.ndarray  # per edge
    potentials: np.ndarray  # per node; every residual edge has cost + p[tail] - p[head] >= 0
    phases: int


def solve(network: FlowNetwork) -> FlowSolution:
    """Flow on every edge of a minimum-cost maximum flow (primal-dual method).

    Potentials keep every residual edge's reduced cost >= 0, so Dijkstra finds the
    shortest augmenting distance; after the potentials move by that distance, all
    shortest augmenting paths use zero-reduced-cost edges only, and one maximum flow on
    those edges augments along all of them at once. Costs are whole numbers, so the
    distance grows by at least 1 per phase and the phases are few.
    """
    # Imported here: the web process loads SciPy's graph routines (~8 MB) only when a round is matched.
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra, maximum_flow

    tails, heads = network.tails, network.heads
    capacities, costs = network.capacities, network.costs
    n = network.node_count
    flow = np.zeros(len(tails), dtype=np.int64)
    potential = np.zeros(n)
    phases = 0
    while len(tails):
        forward = flow < capacities
        backward = flow > 0
        reduced = costs + potential[tails] - potential[heads]
        weights = np.concatenate([reduced[forward], -reduced[backward]])
        if weights.size and weights.min() < 0:
            raise RuntimeError("negative reduced cost: potentials lost their invariant")
        residual = csr_matrix(
            (
                weights,
                (np.concatenate([tails[forward], heads[backward]]), np.concatenate([heads[forward], tails[backward]])),
            ),
            shape=(n, n),
        )
        distance = dijkstra(residual, directed=True, indices=network.source)
        to_sink = distance[network.sink]
        if not np.isfinite(to_sink):
            break
        potential += np.minimum(distance, to_sink)
        reduced = costs + potential[tails] - potential[heads]
        tight = reduced == 0
        push, pull = forward & tight, backward & tight
        admissible = csr_matrix(
            (
                np.concatenate([(capacities - flow)[push], flow[pull]]).astype(np.int32),
                (np.concatenate([tails[push], heads[pull]]), np.concatenate([heads[push], tails[pull]])),
            ),
            shape=(n, n),
        )
        augmented = maximum_flow(admissible, network.source, network.sink)
        touched = np.flatnonzero(push | pull)
        flow[touched] += np.asarray(augmented.flow[tails[touched], heads[touched]]).ravel()
        phases += 1
    return FlowSolution(flows=flow, potentials=potential, phases=phases)


def assign(network: FlowNetwork, flows: np.ndarray) -> dict[int, int]:
    """Mentee index -> mentor index, by following the flow from each mentee to a mentor."""
    arrivals: dict[int, list[int]] = defaultdict(list)
    for node, mentee in network.mentee_of_node.items():
        arrivals[node].append(mentee)
    used = np.flatnonzero(flows > 0)
    used = used[np.argsort(network.levels[network.tails[used]], kind="stable")]
    assignment: dict[int, int] = {}
    for tail, head, amount in zip(network.tails[used].tolist(), network.heads[used].tolist(), flows[used].tolist()):
        if tail == network.source:
            continue
        moving, arrivals[tail] = arrivals[tail][:amount], arrivals[tail][amount:]
        if head == network.sink:
            mentor = network.mentor_of_node[tail]
            for mentee in moving:
                assignment[mentee] = mentor
        else:
            arrivals[head].extend(moving)
    return assignment


# ------------------------------------------------------------------ explanations


def explain(round_: RoundInput, assignment: dict[int, int]) -> list[Unmatched]:
    """A specific, kind reason for everyone the optimum left without a partner.

    In a maximum matching an unmatched mentee's allowed mentors are all full, and an
    idle mentor's allowed mentees all have mentors; otherwise the pair could be added.
    """
    mentors_at_stage = Counter(codes[0] for codes, capacity in zip(round_.mentor_codes, round_.capacities) if capacity)
    mentees_looking_at = Counter(stage for targets in round_.target_codes for stage in targets)
    exclusions_of_mentor: dict[int, list[str]] = defaultdict(list)
    for excluded in round_.excluded:
        for j, why in excluded.items():
            exclusions_of_mentor[j].append(why)

    unmatched = []
    for i, mentee in enumerate(round_.mentees):
        if i in assignment:
            continue
        ahead = sum(mentors_at_stage[stage] for stage in round_.target_codes[i])
        code = _blocked_code(ahead, list(round_.excluded[i].values()), mentee_side=True)
        allowed = ahead - len(round_.excluded[i])
        unmatched.append(Unmatched(mentee.user_id, "mentee", code, _mentee_reason(code, round_.targets[i], allowed)))

    mentee_counts = Counter(assignment.values())
    for j, mentor in enumerate(round_.mentors):
        if mentor.near_peer_role == "both" or mentee_counts[j]:
            continue  # someone who marked "both" is explained on the mentee side only
        if not round_.capacities[j]:
            code = ZERO_CAPACITY
        else:
            behind = mentees_looking_at[round_.mentor_codes[j][0]]
            code = _blocked_code(behind, exclusions_of_mentor[j], mentee_side=False)
        unmatched.append(Unmatched(mentor.user_id, "mentor", code, _MENTOR_REASONS[code]))
    unmatched += [_no_stage(person) for person in round_.unstaged]
    return sorted(unmatched, key=lambda u: u.user)


def _blocked_code(reachable: int, exclusions: list[str], *, mentee_side: bool) -> str:
    if reachable == 0:
        return NO_MENTOR_AHEAD if mentee_side else NO_MENTEE_BEHIND
    if len(exclusions) < reachable:
        return MENTORS_AT_CAPACITY if mentee_side else MENTEES_MATCHED_ELSEWHERE
    kinds = set(exclusions)
    if kinds == {BLOCK_SUPERVISION}:
        return ONLY_SUPERVISORS if mentee_side else ONLY_SUPERVISEES
    if kinds == {BLOCK_HISTORY}:
        return ONLY_PAST_PAIRS if mentee_side else ONLY_PAST_MENTEES
    return ONLY_SUPERVISORS_OR_PAST_PAIRS if mentee_side else ONLY_SUPERVISEES_OR_PAST_MENTEES


def _mentee_reason(code: str, targets: tuple[CareerStage, ...], allowed: int) -> str:
    if code == NO_MENTOR_AHEAD:
        if not targets:
            return "There is no later career stage for a near-peer mentor to be at, so no mentor was matched."
        return f"{_nobody_at(targets)} has offered to mentor this round."
    if code == MENTORS_AT_CAPACITY:
        mentors = "The one mentor who fits is" if allowed == 1 else f"All {allowed} mentors who fit are"
        return f"{mentors} already at capacity this round; you stay in the pool for the next one."
    return {
        ONLY_SUPERVISORS: "The only mentors at the right stage are your supervisors or people you supervise, "
        "and we keep those relationships out of mentoring.",
        ONLY_PAST_PAIRS: "The only mentors at the right stage are people you have already been paired with.",
        ONLY_SUPERVISORS_OR_PAST_PAIRS: "The only mentors at the right stage are your supervisors, people you "
        "supervise or people you have already been paired with.",
    }[code]


_MENTOR_REASONS = {
    ZERO_CAPACITY: "Your mentor capacity is set to 0, so no mentees were assigned.",
    NO_MENTEE_BEHIND: "No one at the stages you can mentor is looking for a mentor this round.",
    MENTEES_MATCHED_ELSEWHERE: "Everyone you could mentor already has a mentor this round; "
    "you stay in the pool for the next one.",
    ONLY_SUPERVISEES: "The only mentees at the right stage are people you supervise or who supervise you, "
    "and we keep those relationships out of mentoring.",
    ONLY_PAST_MENTEES: "The only mentees at the right stage are people you have already been paired with.",
    ONLY_SUPERVISEES_OR_PAST_MENTEES: "The only mentees at the right stage are people you supervise, who "
    "supervise you, or whom you have already been paired with.",
}


def _no_stage(person: Person) -> Unmatched:
    role = "mentee" if person.near_peer_role in MENTEE_ROLES else "mentor"
    return Unmatched(
        person.user_id,
        role,
        NO_CAREER_STAGE,
        "Your career stage is not on file, so we cannot tell who is a year or two ahead of or behind you.",
    )


# ------------------------------------------------------------------ results


def _describe_pairs(
    round_: RoundInput, assignment: dict[int, int], history: Sequence[PastPair], weights: ScoreWeights
) -> tuple[list[Pair], Counter]:
    """The pairs with their scores and reasons, and how many meet each preference."""
    last_round: dict[frozenset[str], int] = {}
    for past in history:
        key = frozenset((past.mentee_id, past.mentor_id))
        last_round[key] = max(past.round, last_round.get(key, past.round))
    pairs, counts = [], Counter()
    for i, j in assignment.items():
        mentee, mentor = round_.mentees[i], round_.mentors[j]
        _, mentee_specialty, mentee_site = round_.mentee_codes[i]
        _, mentor_specialty, mentor_site = round_.mentor_codes[j]
        same_specialty = mentee_specialty != 0 and mentee_specialty == mentor_specialty
        same_site = mentee_site != 0 and mentee_site == mentor_site
        common = len(round_.hours[mentee.user_id] & round_.hours[mentor.user_id])
        reasons = _fit_reasons(mentee, mentor, same_specialty, same_site, common)
        before = last_round.get(frozenset((mentee.user_id, mentor.user_id)))
        if before is not None:
            reasons.append(f"paired before in round {before}; the cooldown has passed")
        score = _fit_score(same_specialty, same_site, common, weights)
        pairs.append(Pair(mentee.user_id, mentor.user_id, float(score), tuple(reasons)))
        counts.update(
            same_specialty=same_specialty,
            same_site=same_site,
            common_availability=common > 0,
            repeat_pairs=before is not None,
        )
    pairs.sort(key=lambda p: (p.mentee, p.mentor))
    return pairs, counts


def _stats(round_: RoundInput, pairs: list[Pair], unmatched: list[Unmatched], counts: Counter) -> dict:
    total = sum(p.score for p in pairs)
    blocked = Counter(why for excluded in round_.excluded for why in excluded.values())
    return {
        "round": round_.current_round,
        "people": round_.people_count,
        "not_opted_in": round_.not_opted_in,
        "paused": round_.paused,
        "mentees": len(round_.mentees),
        "mentors": sum(1 for c in round_.capacities if c),
        "mentor_slots": sum(round_.capacities),
        "matched": len(pairs),
        "unmatched_mentees": sum(1 for u in unmatched if u.role == "mentee"),
        "total_score": total,
        "mean_score": round(total / len(pairs), 3) if pairs else 0.0,
        "same_specialty": counts["same_specialty"],
        "same_site": counts["same_site"],
        "common_availability": counts["common_availability"],
        "repeat_pairs": counts["repeat_pairs"],
        "blocked_by_supervision": blocked[BLOCK_SUPERVISION],
        "blocked_by_history": blocked[BLOCK_HISTORY],
    }


# ------------------------------------------------------------------ audit


@dataclass(frozen=True)
class Violation:
    mentee: str
    mentor: str
    rule: str  # a BLOCK_* code, "unknown_person", "over_capacity" or "two_mentors"


def check_pairs(
    pairs: Iterable[tuple[str, str]],
    people: Sequence[Person],
    *,
    history: Sequence[PastPair] = (),
    current_round: int,
    rules: MatchingRules = MatchingRules(),
) -> list[Violation]:
    """Every hard rule that a proposed list of (mentee, mentor) pairs breaks.

    For pairings made elsewhere (by hand, by another tool) and for benchmarks.
    """
    by_id = {p.user_id: p for p in people}
    recent = recent_pairs(history, current_round=current_round, rules=rules)
    violations = []
    load: dict[str, int] = defaultdict(int)
    mentors_of: dict[str, int] = defaultdict(int)
    for mentee_id, mentor_id in pairs:
        mentee, mentor = by_id.get(mentee_id), by_id.get(mentor_id)
        if mentee is None or mentor is None:
            violations.append(Violation(mentee_id, mentor_id, "unknown_person"))
            continue
        why = pair_block_reason(mentee, mentor, rules=rules, recent=recent)
        if why is not None:
            violations.append(Violation(mentee_id, mentor_id, why))
        load[mentor_id] += 1
        if load[mentor_id] > mentor_capacity(mentor) and why != BLOCK_NOT_MENTOR:
            violations.append(Violation(mentee_id, mentor_id, "over_capacity"))
        mentors_of[mentee_id] += 1
        if mentors_of[mentee_id] > 1:
            violations.append(Violation(mentee_id, mentor_id, "two_mentors"))
    return violations


# ------------------------------------------------------------------ wording


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _years(n: int) -> str:
    word = _WORDS[n] if 0 <= n < len(_WORDS) else str(n)
    return f"{word} year{'s' if n != 1 else ''}"


def _short_stage(stage: CareerStage) -> str:
    if stage.is_trainee:
        return f"PGY-{stage.years}"
    return f"attending ({stage.years} year{'s' if stage.years != 1 else ''} in practice)"


def _stage_reason(mentee: Person, mentor: Person) -> str:
    low, high = mentee.career_stage, mentor.career_stage
    assert low is not None and high is not None
    arrow = f"{_short_stage(high)} → {_short_stage(low)}"
    if low.track != high.track:
        return f"{arrow}: an early-career attending for a trainee in their final year"
    gap = high.years - low.years
    if low.is_trainee:
        return f"{arrow}: {_years(gap)} ahead"
    return f"{arrow}: {_years(gap)} further into practice"


def _nobody_at(stages: Sequence[CareerStage]) -> str:
    """'No one in PGY-3 or PGY-4', 'No attending with 5 to 11 years in practice', or both."""
    trainee_years = [s.years for s in stages if s.is_trainee]
    attending_years = [s.years for s in stages if not s.is_trainee]
    attendings = ""
    if attending_years:
        low, high = min(attending_years), max(attending_years)
        span = f"{low}" if low == high else f"{low} to {high}"
        attendings = f"attending with {span} year{'s' if high != 1 else ''} in practice"
    trainees = " or ".join(f"PGY-{y}" for y in trainee_years)
    if trainees and attendings:
        return f"No one in {trainees}, nor any {attendings},"
    return f"No one in {trainees}" if trainees else f"No {attendings}"

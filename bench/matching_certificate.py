"""Independent optimality checks for a near-peer round, in bounded memory.

Every allowed (mentee, mentor) pair is derived straight from the rules with NumPy, never
from the matcher's graph, and streamed a chunk at a time: at 50,000 people there are about
200 million of them, too many to hold at once. Two certificates are checked against every
allowed pair; by weak duality each proves optimality whatever algorithm found the pairing:

* **most mentees matched**: a cover, some mentees A and some mentors B such that every
  allowed pair has its mentee in A or its mentor in B. Any pairing matches at most
  ``|A| + sum of B's capacities`` mentees (each matched pair uses up one of A's mentees or
  a place of one of B's mentors), so a cover of exactly the matched count proves that no
  pairing matches more;
* **best score among those**: the solver's node potentials as a dual solution of the
  plain network source -> mentee -> mentor -> sink with cost ``best - score``: every
  residual edge must have a non-negative reduced cost.

The cover is found from the pairing itself (the mentees and mentors reachable from an
unmatched mentee by alternating paths); if an augmenting path exists, the cover found is
larger than the matched count and the check fails.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import date
from typing import Iterator, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_flow

from bot.domain.availability import utc_hours_of_week
from bot.domain.matching import MatchingRules, PastPair, assign, build_graph, prepare_round, solve
from bot.domain.people import Person

CHUNK_PAIRS = 2_000_000  # allowed pairs held at once: about 100 MB of working arrays
MAX_FLOW_PAIRS = 40_000_000  # above this, SciPy's max-flow over every pair no longer fits comfortably

Pairs = Sequence[tuple[str, str]]


class AllowedPairs:
    """Every allowed (mentee, mentor) pair, listed a chunk of mentees at a time.

    A mentee's mentors by career stage are one contiguous run of the mentors sorted by stage;
    supervisors, past pairs and the person themself are then taken out of that run.
    """

    def __init__(self, people: list[Person], history: list[PastPair], rules: MatchingRules, week_of: date) -> None:
        assert rules.final_year_attending_gap is None, "the independent lister covers same-track pairs only"
        self.mentees = [p for p in people if p.near_peer_role in ("mentee", "both")]
        self.mentors = [p for p in people if p.near_peer_role in ("mentor", "both") and min(p.mentor_capacity, 5) > 0]
        self.capacity = np.array([min(p.mentor_capacity, 5) for p in self.mentors], dtype=np.int64)
        self.width = len(self.mentors)

        def code(p: Person) -> int:
            return p.career_stage.years + (0 if p.career_stage.is_trainee else 1000)

        mentee_code = np.array([code(p) for p in self.mentees], dtype=np.int64)
        mentor_code = np.array([code(p) for p in self.mentors], dtype=np.int64)
        self.order = np.argsort(mentor_code, kind="stable")
        self.position = np.empty(self.width, dtype=np.int64)  # mentor -> place in the sorted run
        self.position[self.order] = np.arange(self.width)
        sorted_code = mentor_code[self.order]
        trainee = mentee_code < 1000
        low = mentee_code + np.where(trainee, rules.pgy_gap[0], rules.attending_gap[0])
        high = mentee_code + np.where(trainee, rules.pgy_gap[1], rules.attending_gap[1])
        high = np.where(trainee, np.minimum(high, 999), high)  # a trainee's mentor is a trainee
        self.start = np.searchsorted(sorted_code, low, "left")
        self.stop = np.maximum(np.searchsorted(sorted_code, high, "right"), self.start)

        self.mentee_index = {p.user_id: i for i, p in enumerate(self.mentees)}
        self.mentor_index = {p.user_id: j for j, p in enumerate(self.mentors)}
        forbidden: set[tuple[int, int]] = set()
        for i, p in enumerate(self.mentees):
            forbidden |= {(i, self.mentor_index[s]) for s in p.supervisor_ids if s in self.mentor_index}
            if p.user_id in self.mentor_index:
                forbidden.add((i, self.mentor_index[p.user_id]))
        for j, p in enumerate(self.mentors):
            forbidden |= {(self.mentee_index[s], j) for s in p.supervisor_ids if s in self.mentee_index}
        for past in history:
            for a, b in ((past.mentee_id, past.mentor_id), (past.mentor_id, past.mentee_id)):
                if a in self.mentee_index and b in self.mentor_index:
                    forbidden.add((self.mentee_index[a], self.mentor_index[b]))
        self.forbidden_of: dict[int, set[int]] = {}
        for i, j in forbidden:
            self.forbidden_of.setdefault(i, set()).add(j)
        self.blocked = np.unique(np.array([i * self.width + j for i, j in forbidden], dtype=np.int64))
        self._scores = _PairScores(self.mentees, self.mentors, week_of)

    def candidates(self) -> int:
        """Pairs allowed by career stage alone, before supervisors and past pairs are taken out."""
        return int((self.stop - self.start).sum())

    def chunks(self, max_pairs: int = CHUNK_PAIRS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(mentee indexes, mentor indexes) of every allowed pair, at most about ``max_pairs`` at a time."""
        counts = self.stop - self.start
        ends = np.cumsum(counts)
        first = 0
        while first < len(self.mentees):
            done = ends[first - 1] if first else 0
            last = max(int(np.searchsorted(ends, done + max_pairs, "right")), first + 1)
            run = counts[first:last]
            rows = np.repeat(np.arange(first, last, dtype=np.int64), run)
            offsets = np.arange(int(run.sum()), dtype=np.int64) - np.repeat(np.cumsum(run) - run, run)
            cols = self.order[np.repeat(self.start[first:last], run) + offsets]
            keep = ~_contains(self.blocked, rows * self.width + cols)
            yield rows[keep], cols[keep]
            first = last

    def __len__(self) -> int:
        return sum(len(rows) for rows, _ in self.chunks())

    def is_allowed(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether each (mentee, mentor) pair is allowed: stage gap, no supervision, no past pair."""
        place = self.position[cols]
        in_run = (self.start[rows] <= place) & (place < self.stop[rows])
        return in_run & ~_contains(self.blocked, rows * self.width + cols)

    def scores(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self._scores(rows, cols)

    def max_matched(self) -> int | None:
        """Most mentees that can be matched by SciPy's max-flow over every pair; None when too many to hold."""
        if self.candidates() > MAX_FLOW_PAIRS:
            return None
        rows, cols = (np.concatenate(a) for a in zip(*self.chunks()))
        ne, nr = len(self.mentees), len(self.mentors)
        source, sink = ne + nr, ne + nr + 1
        tails = np.concatenate([np.full(ne, source), rows, ne + np.arange(nr)])
        heads = np.concatenate([np.arange(ne), ne + cols, np.full(nr, sink)])
        capacity = np.concatenate([np.ones(ne + len(rows), dtype=np.int32), self.capacity.astype(np.int32)])
        graph = csr_matrix((capacity, (tails, heads)), shape=(sink + 1, sink + 1))
        return int(maximum_flow(graph, source, sink).flow_value)


class _PairScores:
    """3 same specialty + 2 same site + 1 shared hour in the week, per (mentee, mentor) pair."""

    def __init__(self, mentees: list[Person], mentors: list[Person], week_of: date) -> None:
        everyone = mentees + mentors
        self.offset = len(mentees)
        self.specialty = _ids([p.specialty for p in everyone])
        self.site = _ids([p.site for p in everyone])
        self.has_specialty = np.array([bool(p.specialty) for p in mentees])
        self.has_site = np.array([bool(p.site) for p in mentees])
        self.hours = np.zeros((len(everyone), 3), dtype=np.uint64)
        for n, p in enumerate(everyone):
            for hour in utc_hours_of_week(p.availability, p.timezone, week_of):
                self.hours[n, hour // 64] |= np.uint64(1) << np.uint64(hour % 64)

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        e, r = rows, cols + self.offset
        shared = ((self.hours[e] & self.hours[r]) != 0).any(axis=1)
        same_specialty = (self.specialty[e] == self.specialty[r]) & self.has_specialty[rows]
        same_site = (self.site[e] == self.site[r]) & self.has_site[rows]
        return 3 * same_specialty.astype(np.int64) + 2 * same_site + shared


def _ids(values: list[str]) -> np.ndarray:
    table: dict[str, int] = {}
    return np.array([table.setdefault(v.casefold(), len(table)) for v in values])


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


# ------------------------------------------------------------------- the pairing


@dataclass
class PairingCheck:
    """The hard rules on every chosen pair, checked without the matcher's code."""

    rows: np.ndarray
    cols: np.ndarray
    broken: int  # pairs not allowed, or with someone who is not a mentee / mentor this round
    overloaded: int  # mentees paired twice plus mentors above their capacity


def check_pairing(allowed: AllowedPairs, pairs: Pairs) -> PairingCheck:
    known = [(allowed.mentee_index[a], allowed.mentor_index[b]) for a, b in pairs
             if a in allowed.mentee_index and b in allowed.mentor_index]  # fmt: skip
    rows = np.array([i for i, _ in known], dtype=np.int64)
    cols = np.array([j for _, j in known], dtype=np.int64)
    broken = len(pairs) - len(known) + int(np.count_nonzero(~allowed.is_allowed(rows, cols)))
    mentee_uses = np.bincount(rows, minlength=len(allowed.mentees))
    load = np.bincount(cols, minlength=allowed.width)
    overloaded = int(np.maximum(mentee_uses - 1, 0).sum() + np.maximum(load - allowed.capacity, 0).sum())
    return PairingCheck(rows, cols, broken, overloaded)


# ---------------------------------------------------------- most mentees matched


@dataclass
class Cover:
    mentees: np.ndarray  # bool per mentee of AllowedPairs: in A
    mentors: np.ndarray  # bool per mentor: in B

    def size(self, capacity: np.ndarray) -> int:
        return int(np.count_nonzero(self.mentees) + capacity[self.mentors].sum())


@dataclass
class CoverCheck:
    size: int  # |A| + capacities of B: no pairing matches more
    matched: int
    uncovered: int  # allowed pairs with neither side in the cover

    @property
    def proves_most_matched(self) -> bool:
        return self.uncovered == 0 and self.size == self.matched


def find_cover(allowed: AllowedPairs, pairing: PairingCheck) -> Cover:
    """A = mentees not reachable from an unmatched mentee by alternating paths, B = mentors reachable.

    Each mentor is reached once: a union-find over the sorted run of mentors skips those
    already reached, so the search costs the people plus the forbidden pairs, not every pair.
    """
    mentees_of: dict[int, list[int]] = {}
    for i, j in zip(pairing.rows.tolist(), pairing.cols.tolist()):
        mentees_of.setdefault(j, []).append(i)
    reached_mentee = np.zeros(len(allowed.mentees), dtype=bool)
    reached_mentee[:] = True
    reached_mentee[pairing.rows] = False  # matched mentees are reached only through their mentor
    queue = deque(np.flatnonzero(reached_mentee).tolist())
    reached_mentor = np.zeros(allowed.width, dtype=bool)
    next_unreached = list(range(allowed.width + 1))  # union-find over sorted places

    def find(place: int) -> int:
        root = place
        while next_unreached[root] != root:
            root = next_unreached[root]
        while next_unreached[place] != root:
            next_unreached[place], place = root, next_unreached[place]
        return root

    order, start, stop = allowed.order.tolist(), allowed.start.tolist(), allowed.stop.tolist()
    while queue:
        i = queue.popleft()
        forbidden = allowed.forbidden_of.get(i, ())
        place = find(start[i])
        while place < stop[i]:
            j = order[place]
            if j not in forbidden:
                reached_mentor[j] = True
                next_unreached[place] = place + 1
                for other in mentees_of.get(j, ()):
                    if not reached_mentee[other]:
                        reached_mentee[other] = True
                        queue.append(other)
            place = find(place + 1)
    return Cover(mentees=~reached_mentee, mentors=reached_mentor)


def check_cover(allowed: AllowedPairs, cover: Cover, matched: int, max_pairs: int = CHUNK_PAIRS) -> CoverCheck:
    uncovered = 0
    for rows, cols in allowed.chunks(max_pairs):
        uncovered += int(np.count_nonzero(~cover.mentees[rows] & ~cover.mentors[cols]))
    return CoverCheck(size=cover.size(allowed.capacity), matched=matched, uncovered=uncovered)


# ------------------------------------------------------------ best score among those


@dataclass
class ScoreCertificate:
    checked: int  # allowed pairs whose reduced cost was checked
    violations: int  # residual edges with the wrong sign: 0 proves the score optimal
    nodes: int  # size of the matcher's hub network
    edges: int
    phases: int


def certify_score(
    people: list[Person],
    history: list[PastPair],
    rules: MatchingRules,
    current_round: int,
    week_of: date,
    allowed: AllowedPairs,
    pairs: Pairs,
    max_pairs: int = CHUNK_PAIRS,
) -> ScoreCertificate:
    """Check the solver's node potentials as a dual solution for the plain bipartite network.

    In the network source -> mentee -> mentor -> sink with cost ``best - score``, a
    flow is cheapest for its size exactly when some potentials give every residual
    edge a non-negative reduced cost: unmatched allowed pairs >= 0, matched pairs <= 0,
    and likewise the source and sink edges.
    """
    round_ = prepare_round(people, history=history, current_round=current_round, rules=rules, week_of=week_of)
    network = build_graph(round_, rules.weights)
    solution = solve(network)
    size = dict(nodes=network.node_count, edges=len(network.tails), phases=solution.phases)
    assignment = assign(network, solution.flows)
    solved = {(round_.mentees[i].user_id, round_.mentors[j].user_id) for i, j in assignment.items()}
    if solved != set(pairs):  # the potentials would belong to another pairing
        return ScoreCertificate(0, len(solved ^ set(pairs)), **size)
    pairing = check_pairing(allowed, pairs)
    if pairing.broken:
        return ScoreCertificate(0, pairing.broken, **size)
    potential = solution.potentials
    source_potential, sink_potential = potential[network.source], potential[network.sink]
    node_of_mentee = {round_.mentees[i].user_id: node for node, i in network.mentee_of_node.items()}
    node_of_mentor = {round_.mentors[j].user_id: node for node, j in network.mentor_of_node.items()}
    # a mentee with no node in the graph has no allowed mentor; it sits at the source's potential
    mentee_p = np.array([potential[node_of_mentee.get(p.user_id, network.source)] for p in allowed.mentees])
    mentor_p = np.array([potential[node_of_mentor[p.user_id]] for p in allowed.mentors])
    matched_keys = np.sort(pairing.rows * allowed.width + pairing.cols)

    checked = bad = 0
    for rows, cols in allowed.chunks(max_pairs):
        matched = _contains(matched_keys, rows * allowed.width + cols)
        reduced = rules.weights.best - allowed.scores(rows, cols) + mentee_p[rows] - mentor_p[cols]
        bad += int(np.count_nonzero((~matched & (reduced < 0)) | (matched & (reduced > 0))))
        checked += len(rows)

    has_mentor = np.zeros(len(allowed.mentees), dtype=bool)
    has_mentor[pairing.rows] = True
    load = np.bincount(pairing.cols, minlength=allowed.width)
    bad += int(np.count_nonzero(~has_mentor & (source_potential - mentee_p < 0)))
    bad += int(np.count_nonzero(has_mentor & (mentee_p - source_potential < 0)))
    bad += int(np.count_nonzero((load < allowed.capacity) & (mentor_p - sink_potential < 0)))
    bad += int(np.count_nonzero((load > 0) & (sink_potential - mentor_p < 0)))
    return ScoreCertificate(checked, bad, **size)

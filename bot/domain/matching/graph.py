"""The flow network whose minimum-cost maximum flow is the best pairing of a round.

Listing every allowed pair is too big for 10,000 people (some 8 million edges), so
:func:`build_graph` shares structure instead: a mentee's edge into a *hub* (the
mentors of one career stage, optionally narrowed to one specialty, one site and/or
one shared hour of availability) costs ``best score - the score that hub
guarantees``, and hubs fan out to the mentors they contain. The cheapest route from a
mentee to a mentor therefore costs exactly ``best - score(pair)``. Excluded pairs
(supervision, history) get a private route for that mentee that goes around the
excluded mentor.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from bot.domain.matching.participants import RoundInput
from bot.domain.matching.rules import ScoreWeights

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

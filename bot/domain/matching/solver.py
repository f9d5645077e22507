"""Solving the round's flow network, and reading the pairs off the flow.

:func:`solve` computes a minimum-cost maximum flow with the primal-dual method:
Dijkstra on reduced costs, then a maximum flow on the zero-cost edges, repeated
(SciPy's compiled graph routines do the work). A minimum-cost maximum flow is exactly
objective (1) then (2) of :mod:`bot.domain.matching.matcher`, because every matched
mentee pays ``best - score`` once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from bot.domain.matching.graph import FlowNetwork


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

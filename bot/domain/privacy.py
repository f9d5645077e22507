"""Small-cell and complementary suppression for published survey aggregates.

What is protected
-----------------
A report publishes several tables over the same respondents: the overall total,
one table per dimension (cohort, department, career stage) and some
cross-tables (department x career stage). Each shown cell gives its respondent
count and additive statistics (the sums behind a mean or a percentage, the sums
of squares behind a confidence interval). The attacker we defend against sees
every shown cell of every table, knows which cells are hidden, knows which
combinations of dimension values exist at all, and solves linear equations:
subtraction of shown cells from totals, of one segment from an overlapping one,
or any longer linear combination.

The guarantee: **no set of between 1 and k-1 respondents has a total that can
be derived**, where k is the anonymity threshold ``COMPASS_MIN_GROUP`` (default 5,
never below 3). That covers a small cell shown directly, a hidden cell recovered
from its row total, and the difference of two overlapping segments ("department"
minus "department x attending" leaving two residents). Every statistic of a
cell is hidden together, so one suppression pattern protects counts, sums and
sums of squares alike.

Algorithm
---------
Cells are sets of *fine cells*, the full cross-classification over every
dimension any table uses. A derivable quantity is a vector in the row space of
the shown cells' incidence matrix; a derivable set of respondents is such a
vector that is 0/1 over fine cells.

1. Primary suppression: hide every cell with fewer than k respondents.
2. Audit the shown cells for the smallest derivable set of fewer than k
   respondents:
   a. Group fine cells that belong to exactly the same shown cells into
      *atoms*; a derivable vector is constant on each atom, so only atoms with
      fewer than k respondents can make up a disclosure.
   b. Row-reduce the incidence matrix (exactly, modulo a large prime) with the
      large atoms ordered first. The rows whose pivot falls on a small atom span
      every derivable vector supported on small atoms alone. None means the
      table set is safe; this is the usual final certificate.
   c. A reduced row with a single entry is a determined atom; otherwise a
      small integer program (HiGHS, through its own bindings ``highspy``) finds
      the 0/1 derivable vector of least weight, if one weighs less than k.
3. Hide one more shown cell to break that derivation: among the cells every
   derivation needs (non-zero coefficient in the exact solution, in no linear
   dependency with other shown cells), the smallest; failing that, the
   smallest cell with a non-zero coefficient. "Smallest" orders by respondents,
   then finer tables first, then table order and key, so the result is
   deterministic and independent of input order.
4. Repeat from 2 until the audit finds nothing. Every round hides a cell, so it
   terminates.

Limits: a threshold cannot stop k-1 respondents of a cell pooling their own
answers to learn the k-th; tables from different months or different metrics
are not linked here (each is its own system of equations): ``bot.domain.publication``
links them (one pattern per month over every metric, the publication ledger, change
from baseline overall only, coarsened counts and estimates); a respondent count
of zero is not protected (an empty combination reveals no one's answer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

DEFAULT_MIN_GROUP = 5
MIN_GROUP_FLOOR = 3

# Exact linear algebra over GF(p): rationals whose reduction mod p misbehaves need
# p to divide a minor of a 0/1 matrix, which for p = 2^31 - 1 is vanishingly rare.
# Products of two residues stay below 2^62, inside int64.
_PRIME = 2_147_483_647
_SOLVER_SECONDS = 30.0

Table = tuple[str, ...]
CellId = tuple[Table, tuple[str, ...]]


def validate_min_group(value: int) -> int:
    """The anonymity threshold (``COMPASS_MIN_GROUP`` in settings); never below ``MIN_GROUP_FLOOR``.

    Settings validate it too; the domain checks again so no caller can pass less.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"the anonymity threshold must be a whole number, got {value!r}")
    if value < MIN_GROUP_FLOOR:
        raise ValueError(f"the anonymity threshold must be at least {MIN_GROUP_FLOOR}, got {value}")
    return value


@dataclass(frozen=True)
class PublishedCell:
    table: Table  # dimension names; () is the overall total
    key: tuple[str, ...]  # one value per dimension of the table
    respondents: int

    @property
    def id(self) -> CellId:
        return (self.table, self.key)


@dataclass(frozen=True)
class SuppressionPlan:
    min_group: int
    cells: tuple[PublishedCell, ...]
    hidden: frozenset[CellId] = field(default_factory=frozenset)

    def is_hidden(self, table: Sequence[str], key: Sequence[str]) -> bool:
        return (tuple(table), tuple(key)) in self.hidden

    @property
    def shown(self) -> tuple[PublishedCell, ...]:
        return tuple(cell for cell in self.cells if cell.id not in self.hidden)


def plan_suppression(
    fine_counts: Mapping[tuple[str, ...], int],
    dimensions: Sequence[str],
    tables: Sequence[Sequence[str]],
    min_group: int,
) -> SuppressionPlan:
    """Decide which cells of ``tables`` to hide.

    ``fine_counts`` maps a combination of values (one per name in ``dimensions``,
    in that order) to its number of distinct respondents; zero entries may be
    left out. Each table is a tuple of dimension names; ``()`` is the total.
    """
    k = validate_min_group(min_group)
    dimensions = tuple(dimensions)
    table_list = [tuple(table) for table in tables]
    for table in table_list:
        unknown = [name for name in table if name not in dimensions]
        if unknown or len(set(table)) != len(table):
            raise ValueError(f"table {table!r} must use distinct dimensions from {dimensions!r}")
    if len(set(table_list)) != len(table_list):
        raise ValueError("each table may be published only once")

    fine_keys, fine_sizes = _collapse(fine_counts, dimensions, table_list)
    cells, incidence = _published_cells(fine_keys, fine_sizes, dimensions, table_list)
    priority = _hiding_priority(cells, table_list)

    hidden = {index for index, cell in enumerate(cells) if cell.respondents < k}
    while True:
        shown = [index for index in range(len(cells)) if index not in hidden]
        disclosed = _smallest_disclosure(incidence[shown], fine_sizes, k)
        if disclosed is None:
            break
        hidden.add(shown[_cell_to_hide(incidence[shown], disclosed, [priority[i] for i in shown])])

    return SuppressionPlan(
        min_group=k,
        cells=tuple(cells),
        hidden=frozenset(cells[index].id for index in hidden),
    )


def _collapse(
    fine_counts: Mapping[tuple[str, ...], int],
    dimensions: tuple[str, ...],
    tables: list[Table],
) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """Sum away dimensions no table uses; keep non-empty combinations, sorted."""
    used = [i for i, name in enumerate(dimensions) if any(name in table for table in tables)]
    collapsed: dict[tuple[str, ...], int] = {}
    for key, count in fine_counts.items():
        if len(key) != len(dimensions):
            raise ValueError(f"fine cell {key!r} needs one value per dimension {dimensions!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"respondent count for {key!r} must be a non-negative integer, got {count!r}")
        if count:
            reduced = tuple(key[i] if i in used else "" for i in range(len(dimensions)))
            collapsed[reduced] = collapsed.get(reduced, 0) + count
    keys = sorted(collapsed)
    return keys, np.array([collapsed[key] for key in keys], dtype=np.int64)


def _published_cells(
    fine_keys: list[tuple[str, ...]],
    fine_sizes: np.ndarray,
    dimensions: tuple[str, ...],
    tables: list[Table],
) -> tuple[list[PublishedCell], np.ndarray]:
    cells: list[PublishedCell] = []
    rows: list[np.ndarray] = []
    for table in tables:
        positions = [dimensions.index(name) for name in table]
        members: dict[tuple[str, ...], list[int]] = {}
        for index, key in enumerate(fine_keys):
            members.setdefault(tuple(key[p] for p in positions), []).append(index)
        for key in sorted(members):
            row = np.zeros(len(fine_keys), dtype=np.int64)
            row[members[key]] = 1
            cells.append(PublishedCell(table, key, int(fine_sizes[members[key]].sum())))
            rows.append(row)
    incidence = np.array(rows, dtype=np.int64).reshape(len(rows), len(fine_keys))
    return cells, incidence


def _hiding_priority(cells: list[PublishedCell], tables: list[Table]) -> list[tuple]:
    """Smallest first; at equal size, cells of finer tables (they cost the reader least)."""
    table_rank = {table: rank for rank, table in enumerate(tables)}
    return [(cell.respondents, -len(cell.table), table_rank[cell.table], cell.key) for cell in cells]


def _smallest_disclosure(shown: np.ndarray, fine_sizes: np.ndarray, k: int) -> np.ndarray | None:
    """A 0/1 vector over fine cells, derivable from the shown rows, covering 1..k-1 respondents."""
    if shown.shape[0] == 0 or shown.shape[1] == 0:
        return None
    atom_columns, atom_of_fine = np.unique(shown.T, axis=0, return_inverse=True)
    atom_of_fine = atom_of_fine.reshape(-1)
    atom_sizes = np.bincount(atom_of_fine, weights=fine_sizes, minlength=len(atom_columns)).astype(np.int64)
    small = atom_sizes < k
    if not small.any():
        return None

    order = np.concatenate([np.flatnonzero(~small), np.flatnonzero(small)])
    first_small = int((~small).sum())
    reduced, pivots = _rref(atom_columns.T[:, order])
    small_pivot_rows = [row for row, column in enumerate(pivots) if column >= first_small]
    if not small_pivot_rows:
        return None

    basis = reduced[small_pivot_rows]
    # A basis row with every entry 1 is already a derivable set (a single atom, or a complement
    # such as a total minus its shown breakdowns); only when none weighs under k is the integer
    # program needed to look for combinations of rows.
    ordered_sizes = atom_sizes[order]
    ready = [row for row in basis if np.all(row[row != 0] == 1) and 1 <= int(ordered_sizes[row != 0].sum()) < k]
    if ready:
        lightest = min(ready, key=lambda row: (int(ordered_sizes[row != 0].sum()), tuple(np.sort(order[row != 0]))))
        chosen = [int(atom) for atom in order[lightest != 0]]
    else:
        exposed = np.sort(order[np.flatnonzero(basis.any(axis=0))])
        chosen = _least_derivable_atoms(atom_columns.T, atom_sizes, exposed, k)
        if chosen is None:
            return None
    return np.isin(atom_of_fine, chosen).astype(np.int64)


def _least_derivable_atoms(
    shown_by_atom: np.ndarray, atom_sizes: np.ndarray, exposed: np.ndarray, k: int
) -> list[int] | None:
    """Integer program: the lightest set of exposed atoms whose indicator is a combination of shown rows.

    Variables: a free coefficient per shown row, and a 0/1 choice per exposed
    atom. For every atom, the combination of shown rows must equal the choice
    (zero for atoms that cannot be chosen).
    """
    # Imported here: the solver costs every process memory and start-up time, and only
    # reports with overlapping small cells ever get this far.
    import highspy

    n_rows, n_atoms = shown_by_atom.shape
    n_exposed = len(exposed)
    sizes = atom_sizes[exposed].astype(float)
    start, index, value = _constraint_columns(shown_by_atom, exposed, sizes)
    # Columns: the shown rows' free coefficients, then the exposed atoms' 0/1 choices.
    cost = np.concatenate([np.zeros(n_rows), sizes])
    col_lower = np.concatenate([np.full(n_rows, -highspy.kHighsInf), np.zeros(n_exposed)])
    col_upper = np.concatenate([np.full(n_rows, highspy.kHighsInf), np.ones(n_exposed)])
    integrality = np.concatenate([np.zeros(n_rows), np.ones(n_exposed)]).astype(np.int32)
    # Rows: one equality per atom, then 1 <= weight <= k-1.
    row_lower = np.append(np.zeros(n_atoms), 1.0)
    row_upper = np.append(np.zeros(n_atoms), k - 1.0)

    solver = _quiet_solver()
    solver.passModel(
        n_rows + n_exposed, n_atoms + 1, len(index),
        int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize), 0.0,
        cost, col_lower, col_upper, row_lower, row_upper,
        start, index, value, integrality,
    )
    solver.run()

    feasible = int(highspy.SolutionStatus.kSolutionStatusFeasible)
    if solver.getInfo().primal_solution_status == feasible:
        choices = np.asarray(solver.getSolution().col_value[n_rows:])
        return [int(atom) for atom in exposed[choices > 0.5]]
    if solver.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
        return None  # proven: nothing under k is derivable
    # The solver gave up without an answer: treat every exposed atom as at risk,
    # which makes the caller hide another cell rather than publish an unchecked table.
    return [int(atom) for atom in exposed]


def _quiet_solver():
    """A fresh HiGHS instance (one per call: reports may run in parallel) that prints nothing."""
    import highspy

    # Not highspy.Highs: its __init__ registers a Python callback, and that call prints the
    # HiGHS banner before any option can be set. Its base class, the plain binding (listed
    # in highspy.__all__ since 1.7.1), has every method used here and registers nothing.
    solver = highspy._Highs()
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("time_limit", _SOLVER_SECONDS)
    return solver


def _constraint_columns(
    shown_by_atom: np.ndarray, exposed: np.ndarray, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise sparse constraints: one equality row per atom, then the weight row.

    A shown row's coefficient enters the equality of every atom it covers; an
    exposed atom's choice enters its own equality with -1 and the weight row
    with the atom's size.
    """
    n_rows, n_atoms = shown_by_atom.shape
    shown_row, atom = np.nonzero(shown_by_atom)  # row-major, so grouped by shown row
    choice_index = np.column_stack([exposed, np.full(len(exposed), n_atoms)]).ravel()
    choice_value = np.column_stack([np.full(len(exposed), -1.0), sizes]).ravel()
    per_column = np.concatenate([np.bincount(shown_row, minlength=n_rows), np.full(len(exposed), 2)])
    start = np.concatenate([[0], np.cumsum(per_column)[:-1]]).astype(np.int32)
    index = np.concatenate([atom, choice_index]).astype(np.int32)
    value = np.concatenate([shown_by_atom[shown_row, atom].astype(float), choice_value])
    return start, index, value


def _cell_to_hide(shown: np.ndarray, disclosed: np.ndarray, priority: list[tuple]) -> int:
    """Index (into ``shown``) of the shown cell whose hiding breaks the disclosure."""
    n_rows = shown.shape[0]
    reduced, pivots = _rref(np.column_stack([shown.T, disclosed]))
    if n_rows in pivots:
        # Not exactly derivable (the solver's tolerance was generous): hide the
        # smallest shown cell that overlaps the at-risk respondents.
        candidates = [row for row in range(n_rows) if shown[row] @ disclosed > 0] or list(range(n_rows))
        return min(candidates, key=lambda row: priority[row])

    coefficient = np.zeros(n_rows, dtype=np.int64)
    pivot_row = {column: row for row, column in enumerate(pivots)}
    for column, row in pivot_row.items():
        coefficient[column] = reduced[row, n_rows]
    free = [column for column in range(n_rows) if column not in pivot_row]
    # A row in no linear dependency with the others keeps its coefficient in every
    # derivation, so hiding it alone makes the disclosed set underivable.
    essential = [
        column
        for column, row in pivot_row.items()
        if coefficient[column] and not reduced[row, free].any()
    ]
    involved = [column for column in range(n_rows) if coefficient[column]]
    return min(essential or involved, key=lambda row: priority[row])


def _rref(matrix: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Reduced row echelon form over GF(p); returns the non-zero rows and pivot columns."""
    work = np.array(matrix, dtype=np.int64) % _PRIME
    n_rows, n_cols = work.shape
    pivots: list[int] = []
    row = 0
    for column in range(n_cols):
        if row == n_rows:
            break
        candidates = np.flatnonzero(work[row:, column])
        if candidates.size == 0:
            continue
        pivot = row + int(candidates[0])
        if pivot != row:
            work[[row, pivot]] = work[[pivot, row]]
        inverse = pow(int(work[row, column]), _PRIME - 2, _PRIME)
        work[row] = (work[row] * inverse) % _PRIME
        factors = work[:, column].copy()
        factors[row] = 0
        targets = np.flatnonzero(factors)
        if targets.size:
            work[targets] = (work[targets] - (factors[targets, None] * work[row]) % _PRIME) % _PRIME
        pivots.append(column)
        row += 1
    return work[:row], pivots

"""Suppression is proven against an attacker who sees every published table.

The attacker below is written independently of ``bot.domain.privacy``: exact rational
arithmetic (``fractions.Fraction``) instead of modular arithmetic, brute force
instead of an integer program. It knows the respondent counts and the sums of
every shown cell of every published table (overall, each dimension, each pair
of dimensions), knows which combinations of values exist, and solves for
anything it can by linear algebra.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import textwrap
from fractions import Fraction
from math import lcm
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import privacy
from bot.domain.privacy import (
    DEFAULT_MIN_GROUP,
    MIN_GROUP_FLOOR,
    PublishedCell,
    SuppressionPlan,
    plan_suppression,
    validate_min_group,
)

DIMS = ("cohort", "department", "stage")
ALL_TABLES = [()] + [(d,) for d in DIMS] + list(itertools.combinations(DIMS, 2))


def contains(cell: PublishedCell, fine_key: tuple[str, ...], dims: tuple[str, ...] = DIMS) -> bool:
    return all(fine_key[dims.index(name)] == value for name, value in zip(cell.table, cell.key))


class LinearAttacker:
    """Solves the published equations exactly. Unknowns: the non-empty fine cells."""

    def __init__(self, fine_counts: dict[tuple[str, ...], int], shown: list[PublishedCell], dims=DIMS):
        self.fine = sorted(key for key, n in fine_counts.items() if n > 0)
        self.counts = {key: fine_counts[key] for key in self.fine}
        self.dims = dims
        self.shown = shown
        matrix = [[Fraction(int(contains(cell, key, dims))) for key in self.fine] for cell in shown]
        self.rows, self.pivots = self._rref(matrix)
        self.null_space = self._null_space()

    @staticmethod
    def _rref(matrix):
        rows = [row[:] for row in matrix]
        pivots, r = [], 0
        n_cols = len(rows[0]) if rows else 0
        for c in range(n_cols):
            pivot = next((i for i in range(r, len(rows)) if rows[i][c] != 0), None)
            if pivot is None:
                continue
            rows[r], rows[pivot] = rows[pivot], rows[r]
            lead = rows[r][c]
            rows[r] = [x / lead for x in rows[r]]
            for i in range(len(rows)):
                if i != r and rows[i][c] != 0:
                    factor = rows[i][c]
                    rows[i] = [a - factor * b for a, b in zip(rows[i], rows[r])]
            pivots.append(c)
            r += 1
        return rows[:r], pivots

    def _null_space(self) -> dict[tuple[str, ...], tuple[int, ...]]:
        """Integer null-space coordinates of each fine cell: a set is derivable iff its rows sum to zero."""
        free = [c for c in range(len(self.fine)) if c not in self.pivots]
        basis = []
        for f in free:
            vector = [Fraction(0)] * len(self.fine)
            vector[f] = Fraction(1)
            for row, p in zip(self.rows, self.pivots):
                vector[p] = -row[f]
            scale = lcm(*(x.denominator for x in vector))
            basis.append([int(x * scale) for x in vector])
        return {key: tuple(vec[i] for vec in basis) for i, key in enumerate(self.fine)}

    def derivable(self, fine_keys) -> bool:
        total = [0] * len(next(iter(self.null_space.values()), ()))
        for key in fine_keys:
            total = [a + b for a, b in zip(total, self.null_space[key])]
        return not any(total)

    def recover_sum(self, fine_keys, shown_sums: dict) -> Fraction | None:
        """The attacker's estimate of the hidden total, or None when the equations leave it open."""
        target = [Fraction(int(key in fine_keys)) for key in self.fine]
        if not self.derivable(fine_keys):
            return None
        # Express the target as a combination of the shown rows by least squares on the exact system.
        coeffs = self._solve([[Fraction(int(contains(cell, key, self.dims))) for cell in self.shown] for key in self.fine], target)
        return sum(c * shown_sums[cell.id] for c, cell in zip(coeffs, self.shown))

    @staticmethod
    def _solve(matrix, rhs):
        augmented = [row + [b] for row, b in zip(matrix, rhs)]
        rows, pivots = LinearAttacker._rref(augmented)
        n = len(matrix[0])
        solution = [Fraction(0)] * n
        for row, p in zip(rows, pivots):
            assert p < n, "inconsistent system"
            solution[p] = row[n]
        return solution

    def small_disclosures(self, k: int) -> list[tuple[tuple[str, ...], ...]]:
        """Every derivable set of fine cells holding 1..k-1 respondents, by brute force."""
        small = [key for key in self.fine if self.counts[key] < k]
        found = []

        def extend(start, chosen, people):
            if chosen and self.derivable(chosen):
                found.append(tuple(chosen))
            for i in range(start, len(small)):
                n = self.counts[small[i]]
                if people + n < k:
                    extend(i + 1, chosen + [small[i]], people + n)

        extend(0, [], 0)
        return found


def attack(fine_counts, plan: SuppressionPlan, dims=DIMS):
    """What the attacker learns: derivable small sets, and hidden small cells it can pin down."""
    attacker = LinearAttacker(fine_counts, list(plan.shown), dims)
    k = plan.min_group
    recovered_cells = []
    for cell in plan.cells:
        if cell.id in plan.hidden and 0 < cell.respondents < k:
            members = [key for key in attacker.fine if contains(cell, key, dims)]
            if attacker.derivable(members):
                recovered_cells.append(cell.id)
    return attacker.small_disclosures(k), recovered_cells


def primary_only(fine_counts, tables, k, dims=DIMS) -> SuppressionPlan:
    """Naive suppression (hide small cells only) built from a real plan's cells, for comparison."""
    cells = plan_suppression(fine_counts, dims, tables, k).cells
    return SuppressionPlan(k, cells, frozenset(c.id for c in cells if c.respondents < k))


# ---------------------------------------------------------------- threshold setting


def test_threshold_defaults_to_five_and_never_goes_below_three():
    assert DEFAULT_MIN_GROUP == 5 and MIN_GROUP_FLOOR == 3
    assert validate_min_group(3) == 3
    for bad in (2, 0, -5, True, 4.5, "5"):
        with pytest.raises(ValueError, match="anonymity threshold"):
            validate_min_group(bad)


# ---------------------------------------------------------------- worked examples


def test_small_cells_are_hidden_and_large_ones_shown():
    fine = {("c1", "Medicine", "PGY"): 12, ("c1", "Surgery", "PGY"): 2}
    plan = plan_suppression(fine, DIMS, [(), ("department",)], 5)
    assert plan.is_hidden(("department",), ("Surgery",))
    # Overall minus Medicine would give Surgery's two people, so one of the two must go too.
    assert plan.is_hidden(("department",), ("Medicine",)) or plan.is_hidden((), ())
    disclosures, recovered = attack(fine, plan)
    assert disclosures == [] and recovered == []


def test_single_suppressed_cell_in_a_row_gets_a_complement():
    # Department x stage with both margins: one small cell per row would be recoverable.
    fine = {
        ("c", "Medicine", "PGY"): 2, ("c", "Medicine", "Attending"): 9, ("c", "Medicine", "Fellow"): 7,
        ("c", "Surgery", "PGY"): 8, ("c", "Surgery", "Attending"): 10, ("c", "Surgery", "Fellow"): 6,
        ("c", "Paeds", "PGY"): 6, ("c", "Paeds", "Attending"): 7, ("c", "Paeds", "Fellow"): 9,
    }
    tables = [(), ("department",), ("stage",), ("department", "stage")]
    naive = primary_only(fine, tables, 5)
    _, recovered = attack(fine, naive)
    assert (("department", "stage"), ("Medicine", "PGY")) in recovered  # the attack works on naive output

    plan = plan_suppression(fine, DIMS, tables, 5)
    assert len(plan.hidden) >= 4  # a rectangle of hidden cells, at least
    disclosures, recovered = attack(fine, plan)
    assert disclosures == [] and recovered == []


def test_overlapping_segments_cannot_be_subtracted():
    # Cardiology has 12 respondents, 10 of them attendings: Cardiology minus
    # Cardiology x Attending would expose two residents who are each hidden.
    fine = {
        ("c", "Cardiology", "Attending"): 10, ("c", "Cardiology", "PGY"): 1, ("c", "Cardiology", "Fellow"): 1,
        ("c", "Medicine", "Attending"): 11, ("c", "Medicine", "PGY"): 9, ("c", "Medicine", "Fellow"): 8,
    }
    tables = [(), ("department",), ("stage",), ("department", "stage")]
    naive = primary_only(fine, tables, 5)
    disclosures, _ = attack(fine, naive)
    assert (("c", "Cardiology", "Fellow"), ("c", "Cardiology", "PGY")) in disclosures

    plan = plan_suppression(fine, DIMS, tables, 5)
    assert attack(fine, plan) == ([], [])


def test_attacker_recovers_exact_sums_from_naive_output_and_nothing_from_the_plan():
    rng = random.Random(7)
    people = []
    layout = {("c1", "A", "PGY"): 6, ("c1", "A", "Att"): 1, ("c1", "B", "PGY"): 7, ("c1", "B", "Att"): 8,
              ("c1", "C", "PGY"): 5, ("c1", "C", "Att"): 6}
    for key, n in layout.items():
        people += [(key, rng.randint(0, 25) * 4) for _ in range(n)]

    def sums(plan):
        return {
            cell.id: sum(v for key, v in people if contains(cell, key))
            for cell in plan.shown
        }

    target = [("c1", "A", "Att")]
    true_sum = sum(v for key, v in people if key == target[0])
    naive = primary_only(layout, ALL_TABLES, 5)
    attacker = LinearAttacker(layout, list(naive.shown))
    assert attacker.recover_sum(target, sums(naive)) == true_sum

    plan = plan_suppression(layout, DIMS, ALL_TABLES, 5)
    attacker = LinearAttacker(layout, list(plan.shown))
    for key, n in layout.items():
        if n < 5:
            assert attacker.recover_sum([key], sums(plan)) is None
    assert attacker.small_disclosures(5) == []


def test_overall_below_threshold_hides_everything():
    fine = {("c", "A", "PGY"): 2, ("c", "B", "PGY"): 2}
    plan = plan_suppression(fine, DIMS, ALL_TABLES, 5)
    assert plan.shown == ()


def test_nothing_is_hidden_when_every_cell_is_large_and_safe():
    fine = {(c, d, s): 6 for c in ("c1", "c2") for d in ("A", "B") for s in ("PGY", "Att")}
    plan = plan_suppression(fine, DIMS, ALL_TABLES, 5)
    assert plan.hidden == frozenset()


def test_plan_is_deterministic_and_independent_of_input_order():
    rng = random.Random(3)
    fine = {}
    for _ in range(60):
        key = (rng.choice("xy"), rng.choice("ABCD"), rng.choice(["PGY", "Att", "Fel"]))
        fine[key] = fine.get(key, 0) + 1
    reordered = dict(reversed(list(fine.items())))
    first = plan_suppression(fine, DIMS, ALL_TABLES, 5)
    assert first == plan_suppression(reordered, DIMS, ALL_TABLES, 5)
    assert first == plan_suppression(fine, DIMS, list(ALL_TABLES), 5)


def test_unused_dimensions_are_summed_away():
    fine = {("c1", "A", "PGY"): 3, ("c2", "A", "PGY"): 3, ("c1", "B", "PGY"): 6}
    plan = plan_suppression(fine, DIMS, [(), ("department",)], 5)
    assert {c.key: c.respondents for c in plan.cells if c.table == ("department",)} == {("A",): 6, ("B",): 6}
    assert plan.hidden == frozenset()


def test_rejects_tables_over_unknown_dimensions_and_bad_counts():
    with pytest.raises(ValueError, match="table"):
        plan_suppression({("c", "A", "PGY"): 5}, DIMS, [("group",)], 5)
    with pytest.raises(ValueError, match="non-negative"):
        plan_suppression({("c", "A", "PGY"): -1}, DIMS, [()], 5)
    with pytest.raises(ValueError, match="one value per dimension"):
        plan_suppression({("c", "A"): 5}, DIMS, [()], 5)
    with pytest.raises(ValueError, match="at least 3"):
        plan_suppression({("c", "A", "PGY"): 5}, DIMS, [()], 2)


# ---------------------------------------------------------------- generated data sets

fine_tables = st.dictionaries(
    keys=st.tuples(st.sampled_from(["c1", "c2"]), st.sampled_from(["A", "B", "C"]), st.sampled_from(["PGY", "Att", "Fel"])),
    values=st.integers(min_value=1, max_value=9),
    min_size=1,
    max_size=18,
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(fine=fine_tables, k=st.sampled_from([3, 5]))
def test_attacker_with_every_table_and_pair_recovers_nothing_under_threshold(fine, k):
    plan = plan_suppression(fine, DIMS, ALL_TABLES, k)
    disclosures, recovered = attack(fine, plan)
    assert disclosures == [], f"derivable small sets: {disclosures}"
    assert recovered == []
    for cell in plan.shown:
        assert cell.respondents >= k


@settings(max_examples=40, deadline=None, derandomize=True)
@given(fine=fine_tables)
def test_attacker_on_department_stage_and_margins_recovers_nothing(fine):
    tables = [(), ("cohort",), ("department",), ("stage",), ("department", "stage")]
    plan = plan_suppression(fine, DIMS, tables, 5)
    assert attack(fine, plan) == ([], [])


def test_generated_naive_suppression_is_usually_broken():
    """The attacker has teeth: on the same kind of data, primary suppression alone leaks."""
    rng = random.Random(11)
    leaking = 0
    for _ in range(20):
        fine = {}
        for _ in range(rng.randint(20, 45)):
            key = (rng.choice(["c1", "c2"]), rng.choice("ABC"), rng.choice(["PGY", "Att", "Fel"]))
            fine[key] = fine.get(key, 0) + 1
        disclosures, recovered = attack(fine, primary_only(fine, ALL_TABLES, 5))
        leaking += bool(disclosures or recovered)
        assert attack(fine, plan_suppression(fine, DIMS, ALL_TABLES, 5)) == ([], [])
    assert leaking >= 15


# ---------------------------------------------------------------- the integer program


def null_space_coordinates(matrix) -> list[tuple[int, ...]]:
    """Per column, its coordinates in an integer basis of the null space.

    A 0/1 vector over the columns is a combination of the rows exactly when the
    coordinates of its columns sum to zero.
    """
    rows, pivots = LinearAttacker._rref([[Fraction(int(x)) for x in row] for row in matrix])
    n_cols = len(matrix[0])
    basis = []
    for free in (c for c in range(n_cols) if c not in pivots):
        vector = [Fraction(0)] * n_cols
        vector[free] = Fraction(1)
        for row, pivot in zip(rows, pivots):
            vector[pivot] = -row[free]
        scale = lcm(*(x.denominator for x in vector))
        basis.append([int(x * scale) for x in vector])
    return [tuple(vector[c] for vector in basis) for c in range(n_cols)]


def derivable(coordinates, atoms) -> bool:
    return not any(sum(coordinates[atom][i] for atom in atoms) for i in range(len(coordinates[0])))


def lightest_by_brute_force(shown_by_atom, atom_sizes, exposed, k) -> int | None:
    """Respondents in the lightest derivable set of exposed atoms holding 1..k-1, or None."""
    coordinates = null_space_coordinates(shown_by_atom)
    weights = [
        int(atom_sizes[list(subset)].sum())
        for count in range(1, k)
        for subset in itertools.combinations(exposed.tolist(), count)
        if atom_sizes[list(subset)].sum() < k and derivable(coordinates, subset)
    ]
    return min(weights, default=None)


def record_integer_programs(monkeypatch) -> list[tuple]:
    calls = []
    solve = privacy._least_derivable_atoms

    def recording(shown_by_atom, atom_sizes, exposed, k):
        answer = solve(shown_by_atom, atom_sizes, exposed, k)
        calls.append((shown_by_atom, atom_sizes, exposed, k, answer))
        return answer

    monkeypatch.setattr(privacy, "_least_derivable_atoms", recording)
    return calls


def test_integer_program_finds_the_lightest_derivable_set(monkeypatch):
    calls = record_integer_programs(monkeypatch)
    rng = random.Random(5)
    for _ in range(12):
        fine = {}
        for _ in range(rng.randint(5, 40)):
            key = (rng.choice(["c1", "c2"]), rng.choice("ABC"), rng.choice(["PGY", "Att", "Fel"]))
            fine[key] = fine.get(key, 0) + 1
        plan_suppression(fine, DIMS, ALL_TABLES, 5)

    # Only reductions without a single-entry row reach the solver; some of these must pick
    # a strict subset of the exposed atoms, so "all of them" cannot pass for an answer.
    assert any(answer and len(answer) < len(exposed) for _, _, exposed, _, answer in calls)
    for shown_by_atom, atom_sizes, exposed, k, answer in calls:
        lightest = lightest_by_brute_force(shown_by_atom, atom_sizes, exposed, k)
        if answer is None:
            assert lightest is None
            continue
        assert set(answer) <= set(exposed.tolist())
        assert int(atom_sizes[answer].sum()) == lightest
        assert derivable(null_space_coordinates(shown_by_atom), answer)


def test_integer_program_reports_nothing_derivable_as_none():
    # One shown row over two atoms of two respondents each: the only derivable 0/1 set
    # holds four, not under three.
    shown_by_atom = np.array([[1, 1]])
    assert privacy._least_derivable_atoms(shown_by_atom, np.array([2, 2]), np.array([0, 1]), 3) is None


def test_integer_program_that_gives_up_puts_every_exposed_atom_at_risk(monkeypatch):
    quiet_solver = privacy._quiet_solver

    def stopping_at_the_root():
        # Like running out of time: a limit is hit before any solution is found.
        solver = quiet_solver()
        solver.setOptionValue("presolve", "off")
        solver.setOptionValue("mip_max_nodes", 0)
        return solver

    monkeypatch.setattr(privacy, "_quiet_solver", stopping_at_the_root)
    shown_by_atom = np.array([[1, 1, 0], [0, 1, 1]])
    exposed = np.array([0, 1, 2])
    assert privacy._least_derivable_atoms(shown_by_atom, np.array([1, 3, 2]), exposed, 5) == [0, 1, 2]


def test_integer_program_answers_and_prints_nothing(capfd):
    # Rows {0,1} and {1,2} over atoms of 1, 3 and 2 respondents: their difference is not
    # 0/1, so the derivable sets are the rows themselves, holding four and five.
    shown_by_atom = np.array([[1, 1, 0], [0, 1, 1]])
    sizes = np.array([1, 3, 2])
    assert privacy._least_derivable_atoms(shown_by_atom, sizes, np.array([0, 1, 2]), 5) == [0, 1]
    assert privacy._least_derivable_atoms(shown_by_atom, sizes, np.array([0, 1, 2]), 4) is None
    assert capfd.readouterr() == ("", "")


def test_solver_prints_no_banner_and_needs_no_scipy():
    # HiGHS prints its banner once per process, so only a fresh interpreter shows it.
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from bot.domain.privacy import _least_derivable_atoms
        shown_by_atom = np.array([[1, 1, 0], [0, 1, 1]])
        assert _least_derivable_atoms(shown_by_atom, np.array([1, 3, 2]), np.array([0, 1, 2]), 5) == [0, 1]
        assert "scipy.optimize" not in sys.modules
        """
    )
    project = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")

"""The hinge loss's restricted programs by native/ipm_hinge.py against their conic form
(Clarabel), and end to end through the working set."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.backends import solve
from convexbench.certificates import certify
from convexbench.native import NativeOptions, solve_native
from convexbench.native.families import family_for
from convexbench.native.ipm_hinge import WeightedGram, solve_ipm_hinge
from convexbench.native.reduced import solve_reduced_loss
from convexbench.programs import make_program


def _program(model: str, seed: int, n: int = 60, d: int = 4, factor: float = 0.05):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.where(np.maximum(X @ rng.standard_normal((d, 3)), 0) @ rng.standard_normal(3)
                 + 0.1 * rng.standard_normal(n) >= 0, 1.0, -1.0)
    beta = factor * float(np.abs(X.T @ y).max())
    return make_program(model, X, y, beta, loss="hinge", patterns=20, seed=seed + 1)


def _objective(fam, cols, x, y, beta):
    z = fam.predict(cols, x)
    return float(np.maximum(0.0, 1.0 - y * z).sum()) + beta * float(fam.column_norms(x).sum())


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), model=st.sampled_from(["gated2", "relu2", "relu3"]),
       k=st.integers(1, 8), factor=st.sampled_from([0.01, 0.05, 0.2]))
def test_matches_the_conic_form(seed, model, k, factor):
    program = _program(model, seed, factor=factor)
    fam = family_for(program)
    rng = np.random.default_rng(seed)
    cols = np.sort(rng.choice(fam.n_columns, size=min(k, fam.n_columns), replace=False))
    which = np.zeros((len(cols), fam.R), dtype=bool)
    if fam.R:
        which[:, rng.choice(fam.R, size=min(6, fam.R), replace=False)] = True
    owner, rows = fam.cone_rows(cols, which)
    blocks = fam.prediction_blocks(cols)
    A = blocks.transpose(1, 0, 2).reshape(program.n, -1)
    ours = solve_ipm_hinge(WeightedGram(A), program.y, program.beta, fam.m, fam.d, owner, rows,
                           tol=1e-10)
    assert ours.ok, ours.status
    ref = solve_reduced_loss(A, program.y, "hinge", program.beta, fam.m, fam.d, owner, rows,
                             tol=1e-10)
    assert ref.ok, ref.status
    f_ours = _objective(fam, cols, ours.x, program.y, program.beta)
    f_ref = _objective(fam, cols, ref.x, program.y, program.beta)
    assert abs(f_ours - f_ref) <= 1e-7 * f_ref, (f_ours, f_ref)
    if len(owner):  # the selected cone rows hold
        values = np.einsum("ij,ij->i", rows, ours.x[owner])
        assert values.min() >= -1e-7 * max(1.0, float(np.abs(ours.x).max()))
    # the margins' multipliers are a hinge dual direction: -y alpha with alpha in [0, 1]
    alpha = -ours.direction * program.y
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0


def test_working_set_with_it_matches_clarabel_and_the_conic_route():
    """relu3 with the hinge loss: the same certified optimum through the hinge IPM as through
    Clarabel's restricted programs, and as Clarabel on the whole program."""
    program = _program("relu3", 3, n=80, factor=0.02)
    runs = [solve_native(program, NativeOptions(hinge_ipm_max_width=w)) for w in (4000, 0)]
    objectives = []
    for run in runs:
        assert run.status == "optimal", run.message
        cert = certify(program, run.solution)
        assert cert.holds(1e-6), cert
        objectives.append(cert.objective)
    ref = solve(program, "clarabel", "high")
    for objective in objectives:
        assert abs(objective - ref.objective) <= 1e-6 * ref.objective

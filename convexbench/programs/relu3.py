"""Three-layer parallel ReLU network as a convex program over atoms (MATH.md §3)."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from convexbench.errors import UserError
from convexbench.losses import Loss
from convexbench.networks import FORMS, ThreeLayerNetwork
from convexbench.programs.atoms import Atoms
from convexbench.programs.base import ConvexProgram, Solution
from convexbench.programs.cones import cone_support


class Relu3Program(ConvexProgram):
    """min L(sum_g D2g sum_j D1gj X (w_gj - w'_gj), y) + beta sum ||w_gj|| + ||w'_gj||.

    Solution blocks ``W`` and ``Wp`` have shape (G, m1, d).  ``form`` (A or B) selects how
    the solution is mapped back onto a network; both are exactly equivalent.
    """

    model = "relu3"
    pricing_exact = True  # prices are weak-duality upper bounds, tight to the SOCPs' 1e-10

    def __init__(
        self, X, y, atoms: Atoms, beta: float, loss: str | Loss = "squared", form: str = "A"
    ):
        super().__init__(X, y, beta, loss)
        if form not in FORMS:
            raise UserError(f"unknown regularizer form {form!r}; choose A or B")
        if form == "C":
            raise UserError(
                "form C (plain weight decay) is not equivalent to the convex program; "
                "it exists for the non-convex baselines only"
            )
        if atoms.first.shape[-1] != self.n or atoms.second.shape[-1] != self.n:
            raise UserError("the atoms were computed on data with a different number of rows")
        if len(atoms) == 0:
            raise UserError("no atom to build the program on")
        self.atoms = atoms
        self.form = form
        self.m1 = atoms.m1
        # (n, G, m1) masks and signs, and (n, G) second-layer masks
        self.first = np.ascontiguousarray(atoms.first.transpose(2, 0, 1)).astype(float)
        self.first_signs = atoms.signs[None, :, :] * (2.0 * self.first - 1.0)
        self.second = atoms.second.T.astype(float)

    @property
    def n_groups(self) -> int:
        return len(self.atoms)

    def block_shapes(self):
        shape = (self.n_groups, self.m1, self.d)
        return {"W": shape, "Wp": shape}

    def size(self):
        G, m1, d, n = self.n_groups, self.m1, self.d, self.n
        return {
            "variables": 2 * G * m1 * d,
            "soc_cones": 2 * G * m1,
            "linear_rows": 2 * G * (m1 + 1) * n,
        }

    def describe(self):
        out = super().describe()
        out.update({"m1": self.m1, "form": self.form, "n_atoms": self.n_groups})
        return out

    # -- numpy ---------------------------------------------------------------------------
    def _pre(self, B: np.ndarray) -> np.ndarray:
        """X w_gj for blocks (G, m1, d): shape (n, G, m1)."""
        return np.einsum("nd,gmd->ngm", self.X, B)

    def _second_layer_input(self, B: np.ndarray) -> np.ndarray:
        return np.einsum("ngm,ngm->ng", self.first, self._pre(B))

    def predict(self, solution: Solution) -> np.ndarray:
        H = self._second_layer_input(solution["W"])
        Hp = self._second_layer_input(solution["Wp"])
        return np.einsum("ng,ng->n", self.second, H - Hp)

    def group_norms(self, solution):
        return np.concatenate(
            [
                np.linalg.norm(solution["W"], axis=2).ravel(),
                np.linalg.norm(solution["Wp"], axis=2).ravel(),
            ]
        )

    def atom_norms(self, solution) -> np.ndarray:
        """T_g = sum_j ||w_gj|| for the positive then the negative atoms, shape (2G,)."""
        return np.concatenate(
            [
                np.linalg.norm(solution["W"], axis=2).sum(1),
                np.linalg.norm(solution["Wp"], axis=2).sum(1),
            ]
        )

    def n_active(self, solution, rel_tol: float = 1e-6) -> int:
        norms = self.atom_norms(solution)
        top = float(norms.max(initial=0.0))
        return int(np.sum(norms > rel_tol * top)) if top > 0 else 0

    def violation_rows(self, solution):
        """Per sample: first-layer violations plus the second-layer one, over all atoms.  A
        sub-network's output moves by at most their sum (each ReLU is 1-Lipschitz)."""
        total = np.zeros(self.n)
        signs2 = 2.0 * self.second - 1.0
        for name in ("W", "Wp"):
            pre = self._pre(solution[name])
            total += np.maximum(-self.first_signs * pre, 0.0).sum(axis=(1, 2))
            H = np.einsum("ngm,ngm->ng", self.first, pre)
            total += np.maximum(-signs2 * H, 0.0).sum(axis=1)
        return total

    def cone_violation(self, solution):
        worst = 0.0
        signs2 = 2.0 * self.second - 1.0
        for name in ("W", "Wp"):
            pre = self._pre(solution[name])
            worst = max(worst, float(np.max(-self.first_signs * pre, initial=0.0)))
            H = np.einsum("ngm,ngm->ng", self.first, pre)
            worst = max(worst, float(np.max(-signs2 * H, initial=0.0)))
        return worst

    def dual_pricing(self, lam, exact: bool = True, batch: int = 64):
        """max over atoms and signs of max { +-lam^T D2 sum_j D1j X q_j : q in the atom's cone,
        sum_j ||q_j|| <= 1 }.

        Branch and bound: the cone-free bound max_j ||X^T D1j D2 lam|| orders the atoms, the
        relaxation without the second-layer cone (an NNLS projection per neuron) prunes them,
        and the survivors are priced exactly in batches by one small SOCP each (solved with
        Clarabel to 1e-10).  With ``exact=False`` only the relaxation is used (a valid but
        loose bound).
        """
        weights = self.first * (self.second * lam[:, None])[:, :, None]  # (n, G, m1)
        Gm = np.einsum("ngm,nd->gmd", weights, self.X)  # (G, m1, d)
        cheap = np.linalg.norm(Gm, axis=2).max(axis=1)  # (G,), the same for both signs
        order = np.argsort(-cheap)
        best = 0.0
        pending: list[tuple[int, float]] = []
        for position, g in enumerate(order):
            if cheap[g] <= best:
                break
            for sign in (1.0, -1.0):
                relaxed = max(
                    cone_support(sign * Gm[g, j], self.first_signs[:, g, j][:, None] * self.X)
                    for j in range(self.m1)
                )
                if relaxed <= best:
                    continue
                if not exact:
                    best = relaxed
                    continue
                pending.append((g, sign))
            last = position == len(order) - 1 or cheap[order[position + 1]] <= best
            if pending and (len(pending) >= batch or last):
                best = max(best, float(self._exact_prices(lam, pending).max()))
                pending = []
        if pending:
            best = max(best, float(self._exact_prices(lam, pending).max()))
        return best

    def _exact_prices(self, lam: np.ndarray, items: list[tuple[int, float]]) -> np.ndarray:
        """Upper bounds on the exact prices of (atom, sign) pairs, from one SOCP separable
        across the pairs: its multipliers mu >= 0 of the cone rows give, by weak duality,
        price <= max_j ||X^T (c_j + A_j^T mu)|| for ANY mu >= 0, so the bound is a proof
        whatever the solver's accuracy (and tight when its multipliers are).  The SOCP sees X
        and lam divided by their largest entries (prices are homogeneous in both), so its
        tolerances, and so the bound's tightness, do not depend on the data's scale."""
        B, m1, n, d = len(items), self.m1, self.n, self.d
        size_x, size_lam = float(np.max(np.abs(self.X))), float(np.max(np.abs(lam)))
        if size_x == 0 or size_lam == 0:
            return np.zeros(B)
        Xn, lam_n = self.X / size_x, lam / size_lam
        atoms = np.array([g for g, _ in items])
        signs = np.array([s for _, s in items])
        first = self.first[:, atoms, :].reshape(n, B * m1)
        first_signs = self.first_signs[:, atoms, :].reshape(n, B * m1)
        second = self.second[:, atoms]
        agg = sp.csr_matrix(
            (np.ones(B * m1), (np.arange(B * m1), np.repeat(np.arange(B), m1))), shape=(B * m1, B)
        )
        coef = first * np.repeat(second * signs[None, :] * lam_n[:, None], m1, axis=1)
        Q = cp.Variable((d, B * m1))
        XQ = Xn @ Q
        constraints = [
            cp.multiply(first_signs, XQ) >= 0,
            cp.multiply(2.0 * second - 1.0, cp.multiply(first, XQ) @ agg) >= 0,
            agg.T @ cp.norm(Q, 2, axis=0) <= 1,
        ]
        problem = cp.Problem(cp.Maximize(cp.sum(cp.multiply(coef, XQ))), constraints)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                problem.solve(
                    solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10
                )
        except cp.error.SolverError:
            problem.value = None
        mu1, mu2 = constraints[0].dual_value, constraints[1].dual_value
        if mu1 is None or mu2 is None:  # fall back to the relaxation's bound
            return np.array(
                [
                    max(
                        cone_support(
                            s * (self.X.T @ (self.first[:, g, j] * self.second[:, g] * lam)),
                            self.first_signs[:, g, j][:, None] * self.X,
                        )
                        for j in range(m1)
                    )
                    for g, s in items
                ]
            )
        mu1 = np.maximum(np.nan_to_num(np.asarray(mu1, dtype=float)), 0.0)  # (n, B m1)
        mu2 = np.maximum(np.nan_to_num(np.asarray(mu2, dtype=float)), 0.0)  # (n, B)
        weights = (coef + first_signs * mu1
                   + first * np.repeat((2.0 * second - 1.0) * mu2, m1, axis=1))
        bounds = np.linalg.norm(Xn.T @ weights, axis=0)  # (B m1,)
        return bounds.reshape(B, m1).max(axis=1) * (size_x * size_lam)
    # -- cvxpy ---------------------------------------------------------------------------
    def _build_cvxpy(self):
        G, m1, d, n = self.n_groups, self.m1, self.d, self.n
        first = self.first.reshape(n, G * m1)
        first_signs = self.first_signs.reshape(n, G * m1)
        signs2 = 2.0 * self.second - 1.0
        # aggregation over the neurons of each atom: (G*m1, G)
        agg = sp.csr_matrix(
            (np.ones(G * m1), (np.arange(G * m1), np.repeat(np.arange(G), m1))), shape=(G * m1, G)
        )
        W = cp.Variable((d, G * m1), name="W")
        Wp = cp.Variable((d, G * m1), name="Wp")
        constraints = []
        outputs = []
        for var in (W, Wp):
            pre = self.X @ var
            H = cp.multiply(first, pre) @ agg
            constraints += [cp.multiply(first_signs, pre) >= 0, cp.multiply(signs2, H) >= 0]
            outputs.append(cp.sum(cp.multiply(self.second, H), axis=1))
        prediction = outputs[0] - outputs[1]
        penalty = cp.sum(cp.norm(W, 2, axis=0)) + cp.sum(cp.norm(Wp, 2, axis=0))
        loss_term, margin = self._loss_term(prediction)
        objective = loss_term + self.beta * penalty
        return self._model(objective, constraints, margin, {"W": W, "Wp": Wp}, prediction)

    def _from_variable_layout(self, name, value):
        return value.T.reshape(self.n_groups, self.m1, self.d)

    # -- the network ---------------------------------------------------------------------
    def reconstruct(self, solution: Solution, rel_tol: float = 0.0) -> ThreeLayerNetwork:
        """One sub-network per nonzero atom (MATH.md §3), scaled for form A or B."""
        W1s, w2s, w3s = [], [], []
        T_all = self.atom_norms(solution)
        cut = rel_tol * float(T_all.max(initial=0.0))
        for blocks, sign in ((solution["W"], 1.0), (solution["Wp"], -1.0)):
            norms = np.linalg.norm(blocks, axis=2)  # (G, m1)
            T = norms.sum(axis=1)
            keep = T > cut
            if not np.any(keep):
                continue
            blocks, norms, T = blocks[keep], norms[keep], T[keep]
            s = self.atoms.signs[keep]
            a = norms / T[:, None]
            root_a = np.sqrt(a)
            safe = np.where(root_a > 0, root_a, 1.0)
            U = s[:, :, None] * blocks / (T[:, None, None] * safe[:, :, None])  # (K, m1, d)
            U = np.where(root_a[:, :, None] > 0, U, 0.0)
            w2 = s * root_a
            if self.form == "B":
                scale = np.cbrt(T)
                W1s.append(U.transpose(0, 2, 1) * scale[:, None, None])
                w2s.append(w2 * scale[:, None])
                w3s.append(sign * scale)
            else:  # form A
                W1s.append(U.transpose(0, 2, 1))
                w2s.append(w2 * np.sqrt(T)[:, None])
                w3s.append(sign * np.sqrt(T))
        if not W1s:
            return ThreeLayerNetwork(
                np.zeros((1, self.d, self.m1)), np.zeros((1, self.m1)), np.zeros(1)
            )
        return ThreeLayerNetwork(np.concatenate(W1s), np.concatenate(w2s), np.concatenate(w3s))

    def nonconvex_objective(self, network: ThreeLayerNetwork) -> float:
        return network.objective(self.X, self.y, self.beta, self.loss, self.form)

    def from_network(self, network: ThreeLayerNetwork) -> Solution:
        """Convex blocks w_gj = |w3| w2_j u_j of a network whose atoms are the program's."""
        keys = {k.tobytes(): g for g, k in enumerate(self.atoms.keys())}
        from convexbench.programs.atoms import canonical_order

        sol = self.zero_solution()
        pre = np.einsum("nd,kdm->kmn", self.X, network.W1)
        first = pre >= 0
        h = np.einsum("kmn,km->kn", np.maximum(pre, 0), network.w2)
        signs = np.where(network.w2 >= 0, 1.0, -1.0)
        blocks = (
            np.abs(network.w3)[:, None, None]
            * network.w2[:, :, None]
            * network.W1.transpose(0, 2, 1)
        )  # (K, m1, d)
        order_first, order_signs = canonical_order(first, signs)
        for k in range(network.n_subnetworks):
            if network.w3[k] == 0 or not np.any(blocks[k]):
                continue
            # reorder this sub-network's neurons the way the atoms were canonicalized
            perm = _match_order(first[k], signs[k], order_first[k], order_signs[k])
            key = np.concatenate([order_first[k].ravel(), order_signs[k] > 0, h[k] >= 0])
            g = keys.get(key.tobytes())
            if g is None:
                if not (first[k] & (h[k] >= 0)).any():
                    continue
                raise ValueError("a sub-network's atom is not among the program's atoms")
            sol["W" if network.w3[k] > 0 else "Wp"][g] += blocks[k][perm]
        return sol


def _match_order(first, signs, sorted_first, sorted_signs) -> np.ndarray:
    used: set[int] = set()
    perm = []
    for f, s in zip(sorted_first, sorted_signs, strict=True):
        for j in range(len(signs)):
            if j not in used and signs[j] == s and np.array_equal(first[j], f):
                used.add(j)
                perm.append(j)
                break
    return np.array(perm)

"""Three-layer parallel ReLU network as a convex program over atoms (MATH.md §3)."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from convexbench.errors import UserError
from convexbench.losses import Loss
from convexbench.networks import FORMS, ThreeLayerNetwork
from convexbench.programs.atoms import Atoms
from convexbench.programs.base import ConvexProgram, Solution
from convexbench.programs.cones import atom_price, cone_price, cone_support

PRICE_TOL = 1e-10  # Clarabel's tolerances on one atom's pricing SOCP (price about 1)
PRICE_RTOL = 1e-9  # an atom's bound above its primal value by more is solved again
ZERO_PRICE = 1e-8  # a primal value below this fraction of the cone-free bound: a zero price
ZERO_PRICE_TOL = 1e-12  # tolerances of the second solve of a zero price (see _exact_prices)


class Relu3Program(ConvexProgram):
    """min L(sum_g D2g sum_j D1gj X (w_gj - w'_gj), y) + beta sum ||w_gj|| + ||w'_gj||.

    Solution blocks ``W`` and ``Wp`` have shape (G, m1, d).  ``form`` (A or B) selects how
    the solution is mapped back onto a network; both are exactly equivalent.
    """

    model = "relu3"
    pricing_exact = True  # prices are weak-duality bounds, within ~1e-8 of the price

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

    def dual_pricing(self, lam, exact: bool = True):
        """max over atoms and signs of max { +-lam^T D2 sum_j D1j X q_j : q in the atom's cone,
        sum_j ||q_j|| <= 1 }, or an upper bound on it that is a proof (weak duality).

        Branch and bound: the cone-free bound max_j ||X^T D1j D2 lam|| orders the atoms, the
        relaxation without the second-layer cone (an NNLS projection per neuron) prunes them,
        and the survivors are priced one at a time by :meth:`_exact_prices` (measured within
        about 1e-8 of each price), so that every exact price prunes the atoms after it.  With
        ``exact=False`` only the relaxation is used (a valid but loose bound).
        """
        weights = self.first * (self.second * lam[:, None])[:, :, None]  # (n, G, m1)
        Gm = np.einsum("ngm,nd->gmd", weights, self.X)  # (G, m1, d)
        cheap = np.linalg.norm(Gm, axis=2).max(axis=1)  # (G,), the same for both signs
        best = 0.0
        for g in np.argsort(-cheap):
            if cheap[g] <= best:
                break
            for sign in (1.0, -1.0):
                relaxed = max(
                    cone_support(sign * Gm[g, j], self.first_signs[:, g, j][:, None] * self.X)
                    for j in range(self.m1)
                )
                if relaxed <= best:
                    continue
                if exact:
                    relaxed = float(self._exact_prices(lam, [(g, sign)], best, [relaxed])[0])
                best = max(best, relaxed)
        return best

    def _exact_prices(self, lam: np.ndarray, items: list[tuple[int, float]],
                      best: float = 0.0, relaxed: list[float] | None = None) -> np.ndarray:
        """Upper bounds on the exact prices of (atom, sign) pairs, each a proof whatever the
        solver returns, and (measured) within about 1e-8 of the price.

        Per pair, the pricing SOCP max sum_j g_j^T q_j over sum_j ||q_j|| <= 1 and the atom's
        cone rows R q >= 0 is solved by Clarabel (:func:`_pricing_socp`); its multipliers
        mu >= 0 of the rows give, by weak duality, price <= max_j ||g_j + (R^T mu)_j|| for ANY
        mu >= 0, and :func:`_lagrange_bound` polishes them (the first-layer multipliers of
        each neuron by an exact NNLS projection), which can only lower the bound.  The SOCP
        sees unit cone rows (||x_i|| divided out, the same cone), rows implied by others
        dropped, and g divided by its size, so its tolerances, and so the bound's tightness,
        do not depend on the data's scale.  A pair whose bound is not proved to
        ``PRICE_RTOL`` of its primal value (or of ``best``, a price known to be reached, when
        larger) is solved again with g divided by that bound: a price far below the cone-free
        bound then gets the solver's full relative accuracy.  Each bound is finally the
        smaller of this one and the pair's relaxation without the second-layer cone
        (``relaxed``, computed when not given: an exact NNLS projection per neuron), which is
        exact for a price the first-layer cones already make zero; another unproved zero
        price (primal value below ``ZERO_PRICE`` of the cone-free bound) is solved once more
        at ``ZERO_PRICE_TOL``, which bounds it to about 1e-12 of the cone-free bound.
        """
        out = np.zeros(len(items))
        norms = np.linalg.norm(self.X, axis=1)
        ok = norms > 0  # zero rows of X constrain nothing
        Xu = self.X[ok] / norms[ok, None]
        for k, (g, sign) in enumerate(items):
            coef = sign * self.second[:, g] * lam
            G = (self.first[:, g, :] * coef[:, None]).T @ self.X  # (m1, d)
            size = float(np.linalg.norm(G, axis=1).max(initial=0.0))
            if size == 0 or not np.isfinite(size):
                out[k] = size
                continue
            rows1, rows2 = self._cone_rows(g, Xu, ok)
            bound, scale = np.inf, size
            for _ in range(2):
                Gs = G / scale
                primal, mu1, mu2 = _pricing_socp(Gs, rows1, rows2)
                primal *= scale
                bound = min(bound, _lagrange_bound(Gs, rows1, rows2, mu1, mu2) * scale)
                # proved to PRICE_RTOL of the larger of this price and ``best``
                if bound - max(primal, 0.0) <= PRICE_RTOL * max(bound, best):
                    break
                if primal <= ZERO_PRICE * size:
                    # a zero price up to the solver's absolute accuracy (about PRICE_TOL of
                    # the cone-free bound), which dividing G by the bound would blow up:
                    # solve it once more at ZERO_PRICE_TOL instead
                    _, mu1, mu2 = _pricing_socp(G / size, rows1, rows2, tol=ZERO_PRICE_TOL)
                    bound = min(bound,
                                _lagrange_bound(G / size, rows1, rows2, mu1, mu2) * size)
                    break
                scale = bound
            if relaxed is None:  # mu = 0 on the second-layer rows
                out[k] = min(bound, _lagrange_bound(G / size, rows1, rows2, None, None) * size)
            else:
                out[k] = min(bound, relaxed[k])
        return out

    def _cone_rows(self, g: int, Xu: np.ndarray, ok: np.ndarray
                   ) -> tuple[list[np.ndarray], np.ndarray]:
        """The cone of atom ``g`` on unit rows ``Xu`` (the rows ``ok`` of X, normalized):
        per neuron j the first-layer rows s_j (2 D1j - I) x_i, and the second-layer rows
        (2 D2 - I)_i [D1j_i x_i]_j, scaled to unit norm, without those implied by the
        first-layer rows (every active neuron's sign matching the row's: a sum of
        non-negative terms) or empty."""
        first, first_signs = self.first[ok, g, :], self.first_signs[ok, g, :]
        signs2 = 2.0 * self.second[ok, g] - 1.0
        rows1 = [first_signs[:, j, None] * Xu for j in range(self.m1)]
        implied = np.all((first == 0) | (first_signs == signs2[:, None]), axis=1)
        keep = ~implied
        active = first[keep]
        rows2 = ((signs2[keep] / np.sqrt(active.sum(axis=1)))[:, None, None]
                 * active[:, :, None] * Xu[keep, None, :]).reshape(-1, self.m1 * self.d)
        return rows1, rows2

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


def _pricing_socp(G: np.ndarray, rows1: list[np.ndarray], rows2: np.ndarray,
                  tol: float = PRICE_TOL
                  ) -> tuple[float, list[np.ndarray] | None, np.ndarray | None]:
    """max sum_j G_j^T q_j s.t. sum_j ||q_j|| <= 1, rows1[j] q_j >= 0, rows2 vec(q) >= 0, by
    Clarabel at ``tol`` (:func:`~convexbench.programs.cones.atom_price`, G taken as
    scaled by the caller): the primal value at its point (informative only: the point may be
    slightly infeasible) and the multipliers of the rows (None if it failed)."""
    rows = sp.vstack([sp.block_diag([sp.csr_matrix(r) for r in rows1]), sp.csr_matrix(rows2)])
    try:
        _, q, mu = atom_price(G, rows, tol=tol, threads=1, scale=1.0)
    except Exception:  # noqa: BLE001 - any failure leaves the relaxation's bound
        return 0.0, None, None
    primal = float(G.ravel() @ q.ravel()) if np.all(np.isfinite(q)) else 0.0
    if not np.all(np.isfinite(mu)):
        return primal, None, None
    mu = np.maximum(mu, 0.0)
    ends = np.cumsum([len(r) for r in rows1])
    return primal, np.split(mu[:ends[-1]], ends[:-1]), mu[ends[-1]:]


def _lagrange_bound(G: np.ndarray, rows1: list[np.ndarray], rows2: np.ndarray,
                    mu1: list[np.ndarray] | None, mu2: np.ndarray | None) -> float:
    """max_j ||G_j + rows1[j]^T mu1_j + (rows2^T mu2)_j||, an upper bound on the price for
    any mu >= 0 (weak duality), with each neuron's mu1_j improved: with mu2 fixed the terms
    are separable, and the best mu1_j >= 0 is the NNLS projection of
    h_j = G_j + (rows2^T mu2)_j onto the neuron's cone (``cone_price``, whose norm is that of
    h_j + rows1[j]^T mu' for some mu' >= 0 even when it stops early).  Without multipliers
    (mu2 = 0) this is the relaxation without the second-layer cone."""
    m, d = G.shape
    H = G + (rows2.T @ mu2).reshape(m, d) if mu2 is not None and len(mu2) else G
    terms = []
    for j in range(m):
        term = cone_price(H[j], rows1[j])[0]
        if mu1 is not None:
            term = min(term, float(np.linalg.norm(H[j] + rows1[j].T @ mu1[j])))
        terms.append(term)
    return max(terms)

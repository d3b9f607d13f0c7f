"""The programs seen as families of *columns* (groups) for the working-set solver.

A column is one group of the convex program with its sign: for two-layer ReLU the block v_i
(sign +1) or w_i (sign -1) of pattern i; for gated ReLU the block u_i; for three-layer ReLU
the m1 blocks of atom g with w_3 > 0 (sign +1) or w_3 < 0 (sign -1).  Each column has ``m``
blocks of ``d`` variables, a dense prediction operator A_c (n x m d, built only for the small
working set) and ``R`` cone rows K_c (R x m d, K_c x >= 0).  Everything over all columns
(pricing bounds, cone values) is computed matrix-free from X and the 0/1 masks.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from convexbench.native.atom_ipm import price_atoms
from convexbench.native.deadline import NEVER, Deadline
from convexbench.native.dense_gram import (
    Gram,
    LowRankGram,
    PackedGram,
    RowSamples,
    RowWeightedGram,
)
from convexbench.native.gram import SampleGram
from convexbench.native.pricing import halfspace_bounds, multiplier_bounds
from convexbench.programs.base import ConvexProgram, Solution
from convexbench.programs.cones import PRICE_GAP, VIOLATION_RTOL, cone_price
from convexbench.programs.gated2 import GatedRelu2Program
from convexbench.programs.relu2 import Relu2Program
from convexbench.programs.relu3 import Relu3Program

_CHUNK_ENTRIES = 1 << 16  # entries of an (n, chunk) pricing temporary
_MIN_CHUNK_ROWS = 64  # rows of A per rank update of a packed Gram matrix, at least


def _chunks(count: int, per_item: int) -> list[slice]:
    """Slices of ``range(count)`` with about ``_CHUNK_ENTRIES / per_item`` items each."""
    step = max(1, _CHUNK_ENTRIES // max(per_item, 1))
    return [slice(lo, min(lo + step, count)) for lo in range(0, count, step)]


class ColumnFamily:
    """Interface shared by the three programs (see the module docstring)."""

    n_columns: int
    m: int
    d: int
    R: int  # cone rows per column (0: unconstrained)

    def __init__(self, program: ConvexProgram):
        self.program = program
        self.X = program.X
        self.d = program.d
        self._x_norms = np.linalg.norm(self.X, axis=1)
        self.sample_gram = SampleGram(self.X)  # X X^T, built when a solve first needs it

    # -- working-set matrices ------------------------------------------------------------
    def prediction_blocks(self, cols: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        """Rows ``rows`` of A_c for the columns ``cols``: shape (k, rows, m d)."""
        raise NotImplementedError

    def gram(self, cols: np.ndarray, y: np.ndarray, budget: int = 1 << 16,
             weights: np.ndarray | None = None, dtype: type = np.float64,
             deadline: Deadline = NEVER) -> tuple[Gram, np.ndarray]:
        """A^T W A and A^T y for the stacked working-set columns (W = diag(weights), the
        identity by default).  Working sets up to twice as wide as the data has rows
        (N = k m d <= 2 n): H packed in one N x N array of ``dtype``, accumulated over row
        chunks so that at most ``budget`` entries of A (or 64 rows) exist at a time; wider ones:
        W^(1/2) A itself for the Woodbury solves of ``LowRankGram`` (it holds two n x N arrays
        and factors an n x n matrix: less memory and fewer flops from N ~ 2 n on).  The clock
        is read between row chunks (``DeadlineExpired`` once ``deadline`` has passed)."""
        k, md, n = len(cols), self.m * self.d, self.program.n
        root = None if weights is None else np.sqrt(weights)
        b = self.adjoint(cols, y)
        if k * md > 2 * n:
            return self._wide_gram(cols, root), b
        gram = PackedGram.empty(k * md, dtype)
        # rows per chunk: at least _MIN_CHUNK_ROWS (rank-4 updates of a wide H ran at a fifth
        # of the speed of rank-64 ones: an 18-minute build at N = 20 x 784 on n = 12000)
        step = max(_MIN_CHUNK_ROWS, budget // max(k * md, 1))
        buffer = np.empty((min(step, n), k * md), dtype=dtype)  # the only chunk of A
        for lo in range(0, n, step):
            deadline.check()
            rows = slice(lo, min(lo + step, n))
            flat = self.prediction_rows(cols, rows, buffer[:rows.stop - lo])
            if root is not None:
                flat *= root[rows, None]
            gram.add_rank_update(flat)
        gram.finish()
        return gram, b

    def _wide_gram(self, cols: np.ndarray, root: np.ndarray | None) -> LowRankGram:
        """The ``LowRankGram`` of W^(1/2) A (``root``: the diagonal of W^(1/2), or None)."""
        A = self.prediction_blocks(cols)  # (k, n, md)
        if root is not None:
            A *= root[None, :, None]
        return LowRankGram(A)

    def prediction_rows(self, cols: np.ndarray, rows: slice, out: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of the stacked operator A = [A_c] written into ``out`` (nb, k m d)."""
        blocks = self.prediction_blocks(cols, rows)  # (k, nb, md)
        out[...] = blocks.transpose(1, 0, 2).reshape(out.shape)
        return out

    def adjoint(self, cols: np.ndarray, z: np.ndarray) -> np.ndarray:
        """A^T z for the stacked working-set columns, shape (k m d,), over row chunks."""
        out = np.zeros((len(cols), self.m * self.d))
        for rows in _chunks(self.program.n, max(1, len(cols) * self.m * self.d)):
            out += np.einsum("knj,n->kj", self.prediction_blocks(cols, rows), z[rows])
        return out.ravel()

    def row_weights(self, cols: np.ndarray) -> np.ndarray:
        """For one-block columns whose operator is a row weighting of X (A_c = diag(a_c) X,
        gated ReLU): the (n, k) weights a_c; a NotImplementedError for the others."""
        raise NotImplementedError

    def cone_rows(self, cols: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of K_c selected by the boolean (k, R) array ``which``.

        Returns (owner, rows): the position in ``cols`` of each row and the rows (r, m d).
        """
        raise NotImplementedError

    def cone_row_samples(self, cols: np.ndarray, which: np.ndarray) -> RowSamples | None:
        """The rows of ``cone_rows`` as signed rows of X, when they are (two-layer ReLU:
        row i is sign[i] X[sample[i]]), for products through X; else None."""
        return None

    def cone_values(self, cols: np.ndarray, x: np.ndarray) -> np.ndarray:
        """K_c x_c for every cone row of every column: shape (k, R)."""
        raise NotImplementedError

    def row_norms(self, cols: np.ndarray) -> np.ndarray:
        """Norms of every cone row of every column: shape (k, R)."""
        raise NotImplementedError

    def multiplier_rows(self, col: int) -> np.ndarray:
        """The cone rows whose multipliers were positive at the column's last exact pricing
        (empty before one)."""
        return self._rows_of.get(int(col), np.zeros(0, np.int64))

    # -- pricing -------------------------------------------------------------------------
    def cheap_prices(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper bounds on the price of every column (cone dropped), and the gradients."""
        raise NotImplementedError

    def lower_prices(self, grads: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Lower bounds on the prices of all columns and the feasible points reaching them,
        or None when the family has none (the exact prices are then the only route)."""
        return None

    def exact_price(self, col: int, grads: np.ndarray, deadline: Deadline = NEVER
                    ) -> tuple[float, np.ndarray]:
        """The exact price of one column and a maximizer (m d,) (``DeadlineExpired`` when
        ``deadline`` passes inside it)."""
        raise NotImplementedError

    # columns priced exactly at once by ``exact_prices`` (1: ``exact_price`` one at a time)
    price_batch: int = 1

    def exact_prices(self, cols: np.ndarray, grads: np.ndarray, deadline: Deadline = NEVER
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Exact prices (k,) and maximizers (k, m d) of the columns ``cols``; raises
        ``DeadlineExpired`` once ``deadline`` has passed between two columns (or inside one
        column's pricing, where that pricing reads the clock)."""
        found = []
        for c in cols:
            deadline.check()
            found.append(self.exact_price(int(c), grads, deadline))
        return (np.array([p for p, _ in found]),
                np.array([u for _, u in found]).reshape(len(found), -1))

    pricing_exact: bool = True
    # columns added per pricing round: small rounds keep the restricted Newton matrix small
    # where pricing is cheap (two-layer: NNLS); relu3 prices by SOCPs and gains from more.
    # Measured (bench FULL sizes): gated2 0.74 -> 0.56 s, relu2 2.39 -> 2.29 s with 10
    # instead of 20; relu3 1.96 s with 20, 2.23 s with 10
    default_max_add: int = 10

    # the longest one exact pricing (a refined bound, or refined bound and exact prices of a
    # batch) has taken, in seconds: the working set starts none with less time left
    # (``working_set._price``)
    slowest_price: float = 0.0

    def refined_bound(self, col: int, grads: np.ndarray, deadline: Deadline = NEVER) -> float:
        """A tighter (still valid) upper bound on one column's price; inf if none
        (``DeadlineExpired`` when ``deadline`` passes inside it)."""
        return float("inf")

    has_projection: bool = False  # ``project`` gives projections (else it returns None)

    def project(self, col: int, v: np.ndarray, deadline: Deadline = NEVER
                ) -> np.ndarray | None:
        """The projection of ``v`` (m d) onto column ``col``'s cone {x : K_c x >= 0}, zero
        when it could not be computed to the rows' tolerance; None when the family has no
        projection (``native/repair.py``).  ``DeadlineExpired`` when ``deadline`` passes
        inside it."""
        return None

    def _init_cache(self) -> None:
        # w_c = K_c^T mu_c from the last exact pricing of column c: for any mu_c >= 0,
        # max over the group's ball of (g_c + w_c)^T u bounds its price (Lagrangian bound)
        self._w = np.zeros((self.n_columns, self.m * self.d))
        self._has_w = np.zeros(self.n_columns, dtype=bool)
        self._rows_of: dict[int, np.ndarray] = {}  # rows that mattered at the last pricing

    def remember_multipliers(self, cols: np.ndarray, owner: np.ndarray, rows: np.ndarray,
                             duals: np.ndarray) -> None:
        """Keep w_c = K_c^T mu_c for the columns ``cols`` of a restricted solve, its cone rows
        (owner, rows) and their multipliers mu >= 0: at the restricted optimum they bound the
        price of every column of the set by about beta, so that pricing need not solve their
        projections (uci:musk-1 relu3: 41 of 142 exact prices were of such columns)."""
        if len(owner):
            self._w[cols] = sp.csr_matrix((duals, (owner, np.arange(len(owner)))),
                                          shape=(len(cols), len(owner))) @ rows
        else:
            self._w[cols] = 0.0
        self._has_w[cols] = True

    def _remember(self, col: int, w: np.ndarray) -> None:
        self._w[col] = w
        self._has_w[col] = True

    # -- solutions -----------------------------------------------------------------------
    def to_solution(self, cols: np.ndarray, x: np.ndarray) -> Solution:
        raise NotImplementedError

    def from_solution(self, solution: Solution) -> tuple[np.ndarray, np.ndarray]:
        """(cols, x) of the nonzero columns of a solution in the program's layout."""
        raise NotImplementedError

    def predict(self, cols: np.ndarray, x: np.ndarray) -> np.ndarray:
        """sum_c A_c x_c."""
        if len(cols) == 0:
            return np.zeros(self.program.n)
        return np.einsum("knj,kj->n", self.prediction_blocks(cols), x)

    def column_predictions(self, cols: np.ndarray, x: np.ndarray) -> np.ndarray:
        """A_c x_c of every column, shape (k, n): the terms of :meth:`predict`."""
        out = np.zeros((len(cols), self.program.n))
        for i in range(len(cols)):
            out[i] = self.predict(cols[[i]], x[[i]])
        return out

    def column_norms(self, x: np.ndarray) -> np.ndarray:
        """sum_j ||x_cj|| per column, shape (k,)."""
        k = x.shape[0]
        return np.linalg.norm(x.reshape(k, self.m, self.d), axis=2).sum(axis=1)


class TwoLayerFamily(ColumnFamily):
    """Columns of relu2 (2P: V then W) and gated2 (P, no cone rows)."""

    has_projection = True

    def __init__(self, program: Relu2Program | GatedRelu2Program):
        super().__init__(program)
        self.gated = isinstance(program, GatedRelu2Program)
        self.P = program.n_groups
        self.m = 1
        self.n_columns = self.P if self.gated else 2 * self.P
        self.R = 0 if self.gated else program.n
        self.pricing_exact = True
        self.patterns = program.patterns  # (P, n) bool
        self.masks = program.masks  # (n, P) 0/1: cone signs are 2 masks - 1, never stored
        directions = None if self.gated else program.directions
        self._interior = None  # for lower_prices: U, K_p u_p (n, P), u_p in its cone (P,)
        if directions is not None:
            KU = (2.0 * self.masks - 1.0) * (self.X @ directions.T)
            self._interior = (directions, KU, np.all(KU >= 0, axis=0))
        self._init_cache()

    def _split(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = np.asarray(cols, dtype=np.int64)
        sign = np.where(cols < self.P, 1.0, -1.0)
        return cols % self.P, sign

    def prediction_blocks(self, cols, rows=slice(None)):
        p, s = self._split(cols)
        masks = self.patterns[p][:, rows] * s[:, None]  # (k, nb)
        return masks[:, :, None] * self.X[None, rows, :]

    def predict(self, cols, x):
        """sum_c s_c D_c X x_c with an (n, k) temporary only."""
        if len(cols) == 0:
            return np.zeros(self.program.n)
        p, s = self._split(cols)
        return np.einsum("nk,nk->n", self.masks[:, p], self.X @ (x * s[:, None]).T)

    def column_predictions(self, cols, x):
        """s_c D_c X x_c of every column, (k, n), from one product X x^T."""
        if len(cols) == 0:
            return np.zeros((0, self.program.n))
        p, s = self._split(cols)
        return (self.masks[:, p] * (self.X @ (x * s[:, None]).T)).T

    def row_weights(self, cols):
        p, s = self._split(cols)
        return self.masks[:, p] * s[None, :]

    def _wide_gram(self, cols, root):
        """A_c = diag(a_c) X: the row-weighted form (no n x N array; C in Hadamard form)."""
        coef = self.row_weights(cols)
        if root is not None:
            coef *= root[:, None]
        return RowWeightedGram(np.asarray(self.X, dtype=float), coef)

    def prediction_rows(self, cols, rows, out):
        p, s = self._split(cols)
        weights = self.patterns[p][:, rows].T * s[None, :]  # (nb, k)
        np.multiply(weights[:, :, None], self.X[rows][:, None, :],
                    out=out.reshape(out.shape[0], len(p), self.d))
        return out

    def adjoint(self, cols, z):
        return ((self.row_weights(cols) * z[:, None]).T @ self.X).ravel()

    def cone_rows(self, cols, which):
        rows = self.cone_row_samples(cols, which)
        return np.nonzero(which)[0], rows.sign[:, None] * self.X[rows.sample]

    def cone_row_samples(self, cols, which):
        p, _ = self._split(cols)
        owner, r = np.nonzero(which)
        return RowSamples(self.X, r, 2.0 * self.masks[r, p[owner]] - 1.0)

    def _cone_matrix(self, col: int) -> np.ndarray:
        """K_c (n x d): every cone row of column ``col``, the rows of X signed by its
        pattern."""
        p, _ = self._split(np.array([col]))
        return (2.0 * self.masks[:, p[0]] - 1.0)[:, None] * self.X

    def row_norms(self, cols):
        return np.broadcast_to(self._x_norms, (len(cols), self.R))

    def cone_values(self, cols, x):
        p, _ = self._split(cols)
        return (2.0 * self.masks[:, p].T - 1.0) * (x @ self.X.T)

    def cheap_prices(self, lam):
        G = self.masks.T @ (lam[:, None] * self.X)  # (P, d): X^T D_p lam
        norms = np.linalg.norm(G, axis=1)
        if self.gated:
            return norms, G
        row_norms = np.linalg.norm(self.X, axis=1)
        bounds = np.empty(2 * self.P)
        for cols in _chunks(self.P, self.program.n):  # (n, chunk) temporaries only
            vals = self.X @ G[cols].T  # the rows of each cone applied to its g
            np.negative(vals, out=vals, where=self.masks[:, cols] == 0)
            bounds[cols] = halfspace_bounds(norms[cols], vals, row_norms)
            np.negative(vals, out=vals)
            bounds[self.P:][cols] = halfspace_bounds(norms[cols], vals, row_norms)
        cached = np.flatnonzero(self._has_w)
        if len(cached):
            # multipliers of earlier exact pricings stay dual feasible: reuse them as bounds
            p, sg = self._split(cached)
            bounds[cached] = np.minimum(bounds[cached],
                                        multiplier_bounds(sg[:, None] * G[p], self._w[cached]))
        return bounds, G

    def lower_prices(self, grads):
        """Lower bounds on every column's price and the feasible points reaching them (2P, d),
        or None: for the cone of pattern p and a gradient g, z = g + t u_p with u_p a
        generating direction of the pattern (K_p u_p >= 0) and t the smallest value making
        K_p z >= 0 is in the cone, so price >= g^T z / ||z|| (-inf when no t exists: a
        row with K_p g < 0 and K_p u_p = 0, or when u_p is not in the cone: directions that
        no longer generate their pattern).  O(n d P), no projection."""
        if self._interior is None:
            return None
        U, KU, inside = self._interior  # no bound for p when u_p is not in its cone
        KG = (2.0 * self.masks - 1.0) * (self.X @ grads.T)  # (n, P)
        lows = np.full(2 * self.P, -np.inf)
        Z = np.zeros((2 * self.P, self.d))
        for sign, offset in ((1.0, 0), (-1.0, self.P)):
            Kg = sign * KG
            bad = Kg < 0
            with np.errstate(divide="ignore", invalid="ignore"):
                need = np.where(bad, -Kg / KU, 0.0)
            ok = ~np.any(bad & (KU <= 0), axis=0) & inside
            t = np.where(ok, need.max(axis=0, initial=0.0), 0.0)
            z = sign * grads + t[:, None] * U
            norms = np.linalg.norm(z, axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                low = np.einsum("pd,pd->p", sign * grads, z) / norms
            lows[offset:offset + self.P] = np.where(ok & (norms > 0), low, -np.inf)
            Z[offset:offset + self.P] = z
        return lows, Z

    def exact_price(self, col, grads, deadline=NEVER):
        if self.gated:
            g = grads[col]
            return float(np.linalg.norm(g)), g.copy()
        p, s = self._split(np.array([col]))
        A = self._cone_matrix(col)
        # warm: the NNLS starts from the rows of the column's last pricing
        price, u, rows, mu = cone_price(s[0] * grads[p[0]], A, warm=self._rows_of.get(int(col)),
                                        check=deadline.check)
        if len(rows):
            self._remember(col, A[rows].T @ mu)
        self._rows_of[int(col)] = rows
        return price, u

    def project(self, col, v, deadline=NEVER):
        if self.gated:
            return np.array(v, dtype=float)
        A = self._cone_matrix(col)
        # cone_price's projection: v + A^T mu (Moreau), or v itself when its NNLS gave up
        u = cone_price(np.asarray(v, dtype=float), A, warm=self._rows_of.get(int(col)),
                       check=deadline.check)[1]
        tol = VIOLATION_RTOL * float(np.linalg.norm(u)) * self._x_norms
        return u if np.all(A @ u >= -tol) else np.zeros_like(u)

    def to_solution(self, cols, x):
        p, s = self._split(cols)
        if self.gated:
            U = np.zeros((self.P, self.d))
            np.add.at(U, p, x)
            return {"U": U}
        V, W = np.zeros((self.P, self.d)), np.zeros((self.P, self.d))
        np.add.at(V, p[s > 0], x[s > 0])
        np.add.at(W, p[s < 0], x[s < 0])
        return {"V": V, "W": W}

    def from_solution(self, solution):
        blocks = [solution["U"]] if self.gated else [solution["V"], solution["W"]]
        x = np.concatenate([np.asarray(b, dtype=float) for b in blocks])
        cols = np.flatnonzero(np.linalg.norm(x, axis=1) > 0)
        return cols, x[cols]


class ThreeLayerFamily(ColumnFamily):
    """Columns of relu3: 2G atoms (w_3 > 0 then w_3 < 0), m1 blocks each."""

    pricing_exact = True
    default_max_add = 20
    price_batch = 8  # columns priced by one SOCP (``exact_prices``)
    row_generation = True  # False: every atom gets all its rows at once
    _ROW_STEP = 16  # rows added per atom and row-generation round, at most
    _ROW_ROUNDS = 8  # row-generation rounds before an atom gets all its rows
    _ROW_RTOL = 1e-9  # a row is violated below -_ROW_RTOL ||row|| (||q_j|| <= 1)

    def __init__(self, program: Relu3Program):
        super().__init__(program)
        self.G = program.n_groups
        self.m = program.m1
        self.n_columns = 2 * self.G
        self.n = program.n
        self.R = (self.m + 1) * self.n
        self._init_cache()
        self._start_rows: dict[int, np.ndarray] = {}  # rows active in the refined bound

    def _split(self, cols):
        cols = np.asarray(cols, dtype=np.int64)
        return cols % self.G, np.where(cols < self.G, 1.0, -1.0)

    def prediction_blocks(self, cols, rows=slice(None)):
        a, s = self._split(cols)
        prog = self.program
        w = prog.first[rows][:, a, :] * (prog.second[rows][:, a] * s[None, :])[:, :, None]
        X = self.X[rows]
        out = w.transpose(1, 0, 2)[:, :, :, None] * X[None, :, None, :]  # (k, nb, m, d)
        return out.reshape(len(a), X.shape[0], self.m * self.d)

    def predict(self, cols, x):
        """sum_c s_c D2 sum_j D1j X x_cj with (n, k, m) temporaries only."""
        if len(cols) == 0:
            return np.zeros(self.program.n)
        a, s = self._split(cols)
        prog = self.program
        pre = np.einsum("nd,kjd->nkj", self.X, x.reshape(len(a), self.m, self.d))
        h = np.einsum("nkj,nkj->nk", prog.first[:, a, :], pre)
        return np.einsum("nk,nk->n", prog.second[:, a] * s[None, :], h)

    def cone_rows(self, cols, which):
        a, _ = self._split(cols)
        owner, r = np.nonzero(which)
        prog, n, m, d = self.program, self.n, self.m, self.d
        layer, i = r // n, r % n
        rows = np.zeros((len(r), m, d))
        first = layer < m
        aj = a[owner]
        j1 = layer[first]
        rows[np.flatnonzero(first), j1, :] = (
            prog.first_signs[i[first], aj[first], j1][:, None] * self.X[i[first]]
        )
        sec = np.flatnonzero(~first)
        sign2 = 2.0 * prog.second[i[sec], aj[sec]] - 1.0
        coef = prog.first[i[sec], aj[sec], :] * sign2[:, None]  # (r2, m)
        rows[sec] = coef[:, :, None] * self.X[i[sec]][:, None, :]
        return owner, rows.reshape(len(r), m * d)

    def cone_values(self, cols, x):
        a, _ = self._split(cols)
        prog, k = self.program, len(a)
        pre = np.einsum("nd,kjd->knj", self.X, x.reshape(k, self.m, self.d))  # (k, n, m)
        fs = prog.first_signs[:, a, :].transpose(1, 0, 2)  # (k, n, m)
        first = prog.first[:, a, :].transpose(1, 0, 2)
        h = np.einsum("knj,knj->kn", first, pre)
        s2 = 2.0 * prog.second[:, a].T - 1.0
        return np.concatenate([(fs * pre).transpose(0, 2, 1).reshape(k, -1), s2 * h], axis=1)

    def cheap_prices(self, lam):
        prog = self.program
        n, G, m = prog.first.shape
        Gm = np.empty((G, m, self.d))
        pos, neg = np.empty((G, m)), np.empty((G, m))
        row_norms = np.linalg.norm(self.X, axis=1)
        for atoms in _chunks(G, n * m):  # (n, chunk, m) temporaries only
            w = prog.first[:, atoms] * (prog.second[:, atoms] * lam[:, None])[:, :, None]
            Gm[atoms] = np.einsum("ngm,nd->gmd", w, self.X)
            # sum_j ||q_j|| <= 1: the cone-free price is max_j ||g_j||; keeping only the most
            # violated first-layer row of each neuron gives the halfspace bound of each neuron
            norms = np.linalg.norm(Gm[atoms], axis=2).ravel()
            vals = (prog.first_signs[:, atoms] * np.einsum("nd,gjd->ngj", self.X, Gm[atoms])
                    ).reshape(n, -1)
            pos[atoms] = halfspace_bounds(norms, vals, row_norms).reshape(-1, m)
            np.negative(vals, out=vals)
            neg[atoms] = halfspace_bounds(norms, vals, row_norms).reshape(-1, m)
        bounds = np.concatenate([pos.max(axis=1), neg.max(axis=1)])
        cached = np.flatnonzero(self._has_w)
        if len(cached):
            a, sg = self._split(cached)
            shifted = (sg[:, None, None] * Gm[a] + self._w[cached].reshape(-1, m, self.d))
            lagrange = np.linalg.norm(shifted, axis=2).max(axis=1)
            bounds[cached] = np.minimum(bounds[cached], lagrange)
        return bounds, Gm

    def refined_bound(self, col, grads, deadline=NEVER):
        """Drop the second-layer cone: max_j of the first-layer cone price of neuron j.  The
        rows active in these projections start the row generation of ``exact_prices``."""
        a, s = self._split(np.array([col]))
        prog = self.program
        best = 0.0
        active = []
        for j in range(self.m):
            A = prog.first_signs[:, a[0], j][:, None] * self.X
            price, _, rows, _ = cone_price(s[0] * grads[a[0], j], A, check=deadline.check)
            best = max(best, price)
            active.append(j * self.n + rows)
        self._start_rows[int(col)] = np.concatenate(active)
        return best

    def exact_price(self, col, grads, deadline=NEVER):
        price, q = self.exact_prices(np.array([col]), grads, deadline)
        return float(price[0]), q[0]

    def row_norms(self, cols):
        """From X's row norms (no (k, R, m d) array of the rows themselves)."""
        return self._row_norms(self._split(cols)[0])

    def _row_norms(self, a: np.ndarray) -> np.ndarray:
        """Norms of the (m+1) n cone rows of atoms ``a``: shape (k, R)."""
        prog = self.program
        first = np.broadcast_to(self._x_norms, (len(a), self.m, self.n))
        second = self._x_norms * np.sqrt(prog.first[:, a, :].sum(axis=2).T)  # (k, n)
        return np.concatenate([first.reshape(len(a), -1), second], axis=1)

    def exact_prices(self, cols, grads, deadline=NEVER):
        """Exact prices and maximizers (k, m d) of the columns ``cols``: the atom SOCPs of all
        of them at once (``native.atom_ipm.price_atoms``: by our interior-point method for wide
        atoms, else by one block-separable Clarabel SOCP), by row generation.

        At the optimum only a few of an atom's (m+1) n cone rows matter.  Each atom starts
        from the rows whose multipliers were positive at its last exact pricing, the rows
        active in its ``refined_bound`` projections and the rows most violated by the
        cone-free maximizer; rows the maximizer violates are added until it violates none
        (then it is the maximizer over the whole cone and the price is exact).  The price of a
        program with fewer rows bounds the exact one from above, and its multipliers (zero on
        the rows left out) are multipliers of the whole cone: both stay valid whatever the
        rows.  An atom gets all its rows after ``_ROW_ROUNDS`` rounds, or when the solver did
        not prove its price on fewer rows (its Lagrangian bound and primal value apart by more
        than ``PRICE_GAP``: the rows chosen can make a worse-conditioned program),
        and is then priced as by ``programs.cones.atom_price``."""
        cols = np.asarray(cols, dtype=np.int64)
        a, s = self._split(cols)
        k, m, d = len(cols), self.m, self.d
        gs = s[:, None, None] * grads[a]  # (k, m, d)
        norms = self._row_norms(a)
        g_norms = np.linalg.norm(gs, axis=2)
        scale = g_norms.max(axis=1)
        which = np.zeros((k, self.R), dtype=bool)
        if not self.row_generation:
            which[:] = True
        # the cone-free maximizer puts the whole budget on the longest g_j
        top = np.argmax(g_norms, axis=1)
        q0 = np.zeros((k, m, d))
        live = scale > 0
        q0[live, top[live]] = gs[live, top[live]] / scale[live, None]
        vals = self.cone_values(cols, q0.reshape(k, m * d))
        for i, c in enumerate(cols):
            which[i, self._rows_of.get(int(c), [])] = True
            which[i, self._start_rows.pop(int(c), [])] = True
            worst = np.argsort(vals[i])[:self._ROW_STEP]
            which[i, worst[vals[i, worst] < -self._ROW_RTOL * norms[i, worst]]] = True
        prices, qs = np.zeros(k), np.zeros((k, m * d))
        todo = np.arange(k)
        for rounds in range(1, self._ROW_ROUNDS + 3):
            owner, rows = self.cone_rows(cols[todo], which[todo])
            blocks = np.split(rows, np.cumsum(np.bincount(owner, minlength=len(todo)))[:-1])
            found = price_atoms(list(gs[todo]), blocks, deadline)
            vals = self.cone_values(cols[todo], np.stack([q.ravel() for _, q, _ in found]))
            again = []
            for p, i in enumerate(todo):
                price, q, mu = found[p]
                w = blocks[p].T @ mu
                if not which[i].all():
                    bad = np.flatnonzero((vals[p] < -self._ROW_RTOL * norms[i]) & ~which[i])
                    lagrange = np.linalg.norm(gs[i] + w.reshape(m, d), axis=1).max()
                    unproved = not lagrange - float(gs[i].ravel() @ q.ravel()) <= (
                        PRICE_GAP * scale[i])
                    if unproved or len(bad):
                        if unproved or rounds > self._ROW_ROUNDS:
                            which[i] = True
                        else:
                            which[i, bad[np.argsort(vals[p, bad])[:self._ROW_STEP]]] = True
                        again.append(i)
                        continue
                prices[i], qs[i] = price, q.ravel()
                self._remember(int(cols[i]), w)
                # rows with a multiplier that matters start the next pricing of the column
                sel = np.flatnonzero(which[i])
                self._rows_of[int(cols[i])] = sel[mu * norms[i, sel] > 1e-6 * scale[i]]
            if not again:
                break
            todo = np.array(again)
        return prices, qs

    def to_solution(self, cols, x):
        a, s = self._split(cols)
        W = np.zeros((self.G, self.m, self.d))
        Wp = np.zeros_like(W)
        xb = x.reshape(len(a), self.m, self.d)
        np.add.at(W, a[s > 0], xb[s > 0])
        np.add.at(Wp, a[s < 0], xb[s < 0])
        return {"W": W, "Wp": Wp}

    def from_solution(self, solution):
        x = np.concatenate([solution["W"], solution["Wp"]]).reshape(2 * self.G, -1)
        cols = np.flatnonzero(np.linalg.norm(x, axis=1) > 0)
        return cols, x[cols]


def family_for(program: ConvexProgram) -> ColumnFamily:
    """The column family of a program (a TypeError for unknown programs)."""
    if isinstance(program, (Relu2Program, GatedRelu2Program)):
        return TwoLayerFamily(program)
    if isinstance(program, Relu3Program):
        return ThreeLayerFamily(program)
    raise TypeError(f"the native solver does not know programs of type {type(program).__name__}")

"""Nonnegative and second-order cones for the interior-point methods (``ipm.py``,
``sample_ipm.py``): Nesterov-Todd scaling, Jordan products and step lengths (Vandenberghe
2010, "The CVXOPT linear and quadratic cone program solvers").

Second-order blocks are arrays (B, d + 1), each row (t, x) with ||x|| <= t.
"""

from __future__ import annotations

import numpy as np

STEP_FRACTION = 0.99  # of the largest step that keeps the slacks and multipliers in their cones
MIN_STEP = 1e-12  # a shorter step means the Newton directions are no longer accurate


class Cones:
    """Nesterov-Todd scaling of the nonnegative rows and the second-order blocks."""

    def __init__(self, sl, zl, sq, zq):
        self.wl = np.sqrt(sl / zl)  # W = diag(wl)
        self.lam_l = np.sqrt(sl * zl)
        s_det = sq[:, 0] ** 2 - np.einsum("bi,bi->b", sq[:, 1:], sq[:, 1:])
        z_det = zq[:, 0] ** 2 - np.einsum("bi,bi->b", zq[:, 1:], zq[:, 1:])
        s_det, z_det = np.maximum(s_det, 1e-300), np.maximum(z_det, 1e-300)
        sbar = sq / np.sqrt(s_det)[:, None]
        zbar = zq / np.sqrt(z_det)[:, None]
        gamma = np.sqrt(np.maximum(0.5 * (1.0 + np.einsum("bi,bi->b", sbar, zbar)), 1e-300))
        w = sbar.copy()
        w[:, 0] += zbar[:, 0]
        w[:, 1:] -= zbar[:, 1:]
        w /= (2.0 * gamma)[:, None]
        self.w = w  # w^T J w = 1
        self.eta = (s_det / z_det) ** 0.25
        self.lam_q = self.scale_q(zq)

    # W v, W^{-1} v and W^{-2} v for the second-order blocks (v: (B, d+1))
    def _wbar(self, v: np.ndarray, inverse: bool) -> np.ndarray:
        w0, w1 = self.w[:, 0], self.w[:, 1:]
        sign = -1.0 if inverse else 1.0
        w1v = np.einsum("bi,bi->b", w1, v[:, 1:])
        out = np.empty_like(v)
        out[:, 0] = w0 * v[:, 0] + sign * w1v
        out[:, 1:] = (v[:, 1:] + (sign * v[:, 0] + w1v / (1.0 + w0))[:, None] * w1)
        return out

    def scale_q(self, v):
        return self.eta[:, None] * self._wbar(v, False)

    def unscale_q(self, v):
        return self._wbar(v, True) / self.eta[:, None]

    def slack_direction(self, vl, vq, dzl, dzq) -> tuple[np.ndarray, np.ndarray]:
        """ds = W (v - W dz) for the scaled complementarity right-hand side v."""
        return self.wl * (vl - self.wl * dzl), self.scale_q(vq - self.scale_q(dzq))

    def inv_sq_blocks(self, which: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """W^{-2} = (2 a a^T - J) / eta^2 (a = J w) per block, as its tt entry alpha, its xt
        column c and the Schur complement S = D - c c^T / alpha of its xx block D, which
        simplifies to (I - 2 w1 w1^T / (2 w0^2 - 1)) / eta^2 (positive definite); S for the
        blocks ``which`` only (all by default)."""
        w0, w1 = self.w[:, 0], self.w[:, 1:]
        sel = slice(None) if which is None else which
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            e2 = 1.0 / self.eta**2
            alpha = e2 * (2.0 * w0**2 - 1.0)
            c = -2.0 * (e2 * w0)[:, None] * w1
            ws = w1[sel]
            S = (-2.0 / (2.0 * w0[sel]**2 - 1.0))[:, None, None] * ws[:, :, None] * ws[:, None, :]
            S += np.eye(w1.shape[1])[None]
            S *= e2[sel, None, None]
        return alpha, c, S


def jordan(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    out = np.empty_like(u)
    out[:, 0] = np.einsum("bi,bi->b", u, v)
    out[:, 1:] = u[:, :1] * v[:, 1:] + v[:, :1] * u[:, 1:]
    return out


def jordan_solve(lam: np.ndarray, v: np.ndarray) -> np.ndarray:
    """x with lam o x = v (second-order blocks)."""
    l0, l1 = lam[:, 0], lam[:, 1:]
    det = l0**2 - np.einsum("bi,bi->b", l1, l1)
    out = np.empty_like(v)
    out[:, 0] = (l0 * v[:, 0] - np.einsum("bi,bi->b", l1, v[:, 1:])) / det
    out[:, 1:] = (v[:, 1:] - out[:, :1] * l1) / l0[:, None]
    return out


def max_step_q(s: np.ndarray, ds: np.ndarray) -> float:
    """Largest a with s + a ds in the second-order cones (s interior)."""
    if len(s) == 0:
        return np.inf
    a = ds[:, 0] ** 2 - np.einsum("bi,bi->b", ds[:, 1:], ds[:, 1:])
    b = s[:, 0] * ds[:, 0] - np.einsum("bi,bi->b", s[:, 1:], ds[:, 1:])
    c = s[:, 0] ** 2 - np.einsum("bi,bi->b", s[:, 1:], s[:, 1:])
    disc = b * b - a * c
    steps = np.full(len(s), np.inf)
    real = disc >= 0
    root = np.sqrt(np.where(real, disc, 0.0))
    q = -(b + np.copysign(root, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.where(a != 0, q / a, np.inf)
        r2 = np.where(q != 0, c / q, np.inf)
    for r in (r1, r2):
        r = np.where(real & (r > 0), r, np.inf)
        steps = np.minimum(steps, r)
    # leaving through the apex needs ds0 < 0; the quadratic root covers it
    return float(steps.min())


def max_step_l(s: np.ndarray, ds: np.ndarray) -> float:
    neg = ds < 0
    return float(np.min(-s[neg] / ds[neg])) if np.any(neg) else np.inf


def shift_into_cones(sl: np.ndarray, sq: np.ndarray) -> None:
    """s <- s + (1 + a) e when s is not strictly inside (CVXOPT's initial point rule)."""
    worst = -np.inf
    if len(sl):
        worst = max(worst, float(-sl.min()))
    if len(sq):
        worst = max(worst, float(np.max(np.linalg.norm(sq[:, 1:], axis=1) - sq[:, 0])))
    if worst >= -1e-8:
        sl += 1.0 + worst
        sq[:, 0] += 1.0 + worst


def max_step(sl, zl, sq, zq, dsl, dzl, dsq, dzq) -> float:
    """Largest a with (s, z) + a (ds, dz) in the cones."""
    return min(max_step_l(sl, dsl), max_step_l(zl, dzl), max_step_q(sq, dsq),
               max_step_q(zq, dzq))


def corrector_rhs(cones: Cones, sl, zl, sq, zq, dsl, dzl, dsq, dzq, mu: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Mehrotra's corrector: the scaled complementarity right-hand side v of the combined
    direction, lam o v = -lam o lam - (W^-1 ds_a) o (W dz_a) + sigma mu e, from the affine
    direction (ds_a, dz_a) at the point (s, z), with sigma = (1 - its step)^3."""
    sigma = (1.0 - min(1.0, max_step(sl, zl, sq, zq, dsl, dzl, dsq, dzq))) ** 3
    lam_l, lam_q = cones.lam_l, cones.lam_q
    cl = -lam_l * lam_l - (dsl / cones.wl) * (cones.wl * dzl) + sigma * mu
    cq = -jordan(lam_q, lam_q) - jordan(cones.unscale_q(dsq), cones.scale_q(dzq))
    cq[:, 0] += sigma * mu
    return cl / lam_l, jordan_solve(lam_q, cq)


def step_length(sl, zl, sq, zq, dsl, dzl, dsq, dzq) -> float | None:
    """min(1, STEP_FRACTION x the largest step in the cones), or None when it is not finite
    or below MIN_STEP (the Newton directions are no longer accurate)."""
    a = min(1.0, STEP_FRACTION * max_step(sl, zl, sq, zq, dsl, dzl, dsq, dzq))
    return a if np.isfinite(a) and a >= MIN_STEP else None

"""Shifted geometric means and Dolan-Moré performance profiles.

* Shifted geometric mean (Mittelmann's benchmarks): ``exp(mean(log(t + s))) - s``; the shift
  ``s`` (seconds) damps the weight of very short times.  Failed runs are charged at the time
  limit (:func:`charge_failures`).
* Performance profile (Dolan & Moré 2002): for problem ``p`` and solver ``k`` the ratio
  ``r[p, k] = t[p, k] / min_k t[p, k]`` (infinite for a failure); ``rho_k(tau)`` is the fraction
  of problems with ``r[p, k] <= tau``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def shifted_geometric_mean(values: Iterable[float], shift: float = 10.0) -> float:
    """``exp(mean(log(v + shift))) - shift`` over the finite values (NaN if none)."""
    if shift < 0:
        raise ValueError(f"shift must be non-negative, got {shift}")
    data = np.asarray(list(values), dtype=float)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return float("nan")
    if np.any(data < 0):
        raise ValueError("times must be non-negative")
    if shift == 0 and np.any(data == 0):
        return 0.0
    return float(np.exp(np.mean(np.log(data + shift))) - shift)


def charge_failures(times: Iterable[float], succeeded: Iterable[bool], time_limit: float
                    ) -> np.ndarray:
    """The times with every failure (or missing time) replaced by ``time_limit``."""
    data = np.asarray(list(times), dtype=float)
    ok = np.asarray(list(succeeded), dtype=bool)
    if data.shape != ok.shape:
        raise ValueError("times and succeeded must have the same length")
    charged = np.where(ok & np.isfinite(data), data, float(time_limit))
    return np.minimum(charged, float(time_limit)) if np.isfinite(time_limit) else charged


def performance_ratios(times: pd.DataFrame) -> pd.DataFrame:
    """Ratios to the best time per problem (rows: problems, columns: solvers).

    Failures are NaN or inf in ``times`` and get an infinite ratio; a problem no solver
    solved has all ratios infinite.
    """
    data = times.astype(float).where(np.isfinite(times.astype(float)), np.inf)
    data = data.where(data > 0, np.finfo(float).tiny)  # a zero time is the best possible
    best = data.min(axis=1)
    ratios = data.div(best.replace(np.inf, np.nan), axis=0)
    return ratios.fillna(np.inf)


def performance_profile(times: pd.DataFrame, taus: Iterable[float] | None = None
                        ) -> pd.DataFrame:
    """``rho_k(tau)`` for every solver ``k`` (columns) at the ratios ``tau`` (index)."""
    ratios = performance_ratios(times)
    finite = ratios.to_numpy()[np.isfinite(ratios.to_numpy())]
    if taus is None:
        top = float(finite.max()) if finite.size else 1.0
        taus = np.unique(np.concatenate([[1.0], finite, [max(top * 1.05, 1.05)]]))
    tau_values = np.asarray(sorted(taus), dtype=float)
    n_problems = max(len(ratios), 1)
    profile = {
        solver: [(ratios[solver] <= tau).sum() / n_problems for tau in tau_values]
        for solver in ratios.columns
    }
    return pd.DataFrame(profile, index=pd.Index(tau_values, name="tau"))

"""Synthetic data: planted ReLU teachers, low-rank inputs and the 2-D toys.

Names (every option has a default; ``n`` is the number of *training* rows and ``n_test``
defaults to ``n``):

* ``synthetic:teacher2[,n=100,d=10,width=4,noise=0.1,task=regression|binary,
  dist=gaussian|sphere,rank=R]`` -- inputs ``N(0, I_d)`` (or uniform on the unit sphere),
  target from a planted two-layer ReLU network ``f(x) = sum_j a_j relu(w_j . x)`` with unit
  ``w_j`` and alternating ``a_j = ±1``;
* ``synthetic:teacher3[,...]`` -- the same with a three-layer teacher
  ``a . relu(W2 relu(W1 x))``;
* ``synthetic:lowrank[,n=100,d=20,rank=3,...]`` -- teacher2 labels on rank-``r`` inputs
  (:func:`lowrank_gaussian`), for the complexity experiments;
* ``synthetic:spiral[,n=100,d=2,noise=0.0,turns=1.5]`` and
  ``synthetic:circles[,n=100,d=2,noise=0.05,factor=0.5]`` -- binary 2-D toys; ``d > 2``
  embeds the plane with a random orthonormal map.

Targets.  ``f`` is centred and scaled with the mean (regression) or median (binary) and the
std of ``f`` over an independent reference sample of 4096 inputs from the same distribution,
so the labelling rule does not depend on ``n``.  Regression: ``y = f~(x) + noise * eps``;
binary: ``y = sign(f~(x) + noise * eps)`` in ``{-1, +1}``.  Inputs are not standardized
(``std=train`` standardizes with training statistics).  Everything is a function of the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from convexbench.data.dataset import Dataset
from convexbench.data.registry import DatasetSpec, Options, family_table, registry, suggest
from convexbench.data.splits import rng_for, standardize
from convexbench.errors import UserError

__all__ = [
    "Teacher",
    "circles",
    "gaussian_inputs",
    "load",
    "lowrank_basis",
    "lowrank_gaussian",
    "planted_data",
    "planted_teacher",
    "spiral",
    "teacher_dataset",
]

N_REFERENCE = 4096
_T_TEACHER, _T_INPUTS, _T_NOISE, _T_BASIS, _T_EMBED = 0x7E1, 0x7E2, 0x7E3, 0x7E4, 0x7E5


@dataclass(frozen=True)
class Teacher:
    """A planted ReLU network: hidden layers ``layers[k]`` (out, in) and output ``a``."""

    layers: tuple[np.ndarray, ...]
    a: np.ndarray

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Outputs ``(n,)`` for inputs ``(n, d)``."""
        H = np.asarray(X, dtype=np.float64)
        for W in self.layers:
            H = np.maximum(H @ W.T, 0.0)
        return H @ self.a

    @property
    def depth(self) -> int:
        """Number of weight layers (hidden layers + output)."""
        return len(self.layers) + 1


def planted_teacher(d: int, width: int = 4, depth: int = 2, seed: int = 0) -> Teacher:
    """A random teacher: unit-norm first-layer rows, alternating ±1 output weights.

    For ``depth=3`` the middle layer is Gaussian with variance ``2 / width`` (He scaling).
    """
    if depth not in (2, 3):
        raise UserError(f"teacher depth must be 2 or 3, got {depth}")
    if d < 1 or width < 1:
        raise UserError("teacher needs d >= 1 and width >= 1")
    rng = rng_for(seed, _T_TEACHER)
    W1 = rng.standard_normal((width, d))
    W1 /= np.linalg.norm(W1, axis=1, keepdims=True)
    layers = [W1]
    if depth == 3:
        layers.append(rng.standard_normal((width, width)) * np.sqrt(2.0 / width))
    a = np.where(np.arange(width) % 2 == 0, 1.0, -1.0)
    return Teacher(layers=tuple(layers), a=a)


def planted_data(n: int, d: int, seed: int = 0, *, hidden: int = 4, noise: float = 0.1,
                 sphere: bool = False, bias: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Seeded regression data for benchmarks and tests: ``X ~ N(0, I_d)`` (rows scaled to the
    unit sphere with ``sphere``; a column of ones appended with ``bias``) and
    ``y = relu(X U) a + noise * eps`` from a Gaussian teacher with ``hidden`` neurons.

    One generator ``default_rng(seed)`` draws, in order, X, U (d', hidden), a and eps, so the
    same arguments give the same arrays on every machine.  (The dataset family
    ``synthetic:teacher2`` is the documented, normalized counterpart for experiments.)
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if sphere:
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    if bias:
        X = np.hstack([X, np.ones((n, 1))])
    U = rng.standard_normal((X.shape[1], hidden))
    a = rng.standard_normal(hidden)
    y = np.maximum(X @ U, 0.0) @ a + noise * rng.standard_normal(n)
    return X, y


def gaussian_inputs(n: int, d: int, seed: int = 0, dist: str = "gaussian") -> np.ndarray:
    """``(n, d)`` inputs, i.i.d. ``N(0, I_d)`` or uniform on the unit sphere (``dist``)."""
    return _inputs(n, d, rng_for(seed, _T_INPUTS), dist)


def _inputs(n: int, d: int, rng: np.random.Generator, dist: str) -> np.ndarray:
    X = rng.standard_normal((n, d))
    if dist == "sphere":
        X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)
    elif dist != "gaussian":
        raise UserError(f"dist must be gaussian or sphere, got {dist!r}")
    return X


def lowrank_basis(d: int, rank: int, seed: int = 0) -> np.ndarray:
    """A random ``(d, rank)`` matrix with orthonormal columns."""
    if not 1 <= rank < d:
        raise UserError(f"rank must satisfy 1 <= rank < d, got rank={rank}, d={d}")
    Q, _ = np.linalg.qr(rng_for(seed, _T_BASIS).standard_normal((d, rank)))
    return Q


def lowrank_gaussian(n: int, d: int, rank: int, seed: int = 0) -> np.ndarray:
    """``(n, d)`` Gaussian inputs of rank ``rank < d`` (for ``n >= rank``, almost surely).

    Rows are ``sqrt(d / rank) * U z`` with ``z ~ N(0, I_rank)`` and a random orthonormal
    ``U`` (:func:`lowrank_basis`), so ``E ||x||^2 = d`` as for full-rank ``N(0, I_d)``.
    """
    U = lowrank_basis(d, rank, seed)
    Z = rng_for(seed, _T_INPUTS).standard_normal((n, rank))
    return np.sqrt(d / rank) * Z @ U.T


def _embed(X2: np.ndarray, d: int, seed: int) -> np.ndarray:
    if d < 2:
        raise UserError(f"2-D toys need d >= 2, got d={d}")
    if d == 2:
        return X2
    Q, _ = np.linalg.qr(rng_for(seed, _T_EMBED).standard_normal((d, 2)))
    return X2 @ Q.T


def spiral(n: int, seed: int = 0, noise: float = 0.0, turns: float = 1.5
           ) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spiral arms in the unit disc: ``X (n, 2)``, ``y`` in ``{-1, +1}``.

    Arm ``k`` (``+1`` first, ``ceil(n/2)`` points) is ``r (cos(θ + kπ), sin(θ + kπ))`` with
    ``r = sqrt(u)``, ``θ = 2π · turns · r``, ``u ~ U(0, 1)``, plus Gaussian noise.
    """
    rng = rng_for(seed, _T_INPUTS)
    y = np.where(np.arange(n) < (n + 1) // 2, 1.0, -1.0)
    r = np.sqrt(rng.random(n))
    theta = 2.0 * np.pi * turns * r + np.where(y > 0, 0.0, np.pi)
    X = np.column_stack([r * np.cos(theta), r * np.sin(theta)])
    X += noise * rng_for(seed, _T_NOISE).standard_normal(X.shape)
    perm = rng_for(seed, _T_NOISE, 1).permutation(n)
    return X[perm], y[perm]


def circles(n: int, seed: int = 0, noise: float = 0.05, factor: float = 0.5
            ) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: inner (radius ``factor``) ``+1``, outer (radius 1) ``-1``."""
    if not 0.0 < factor < 1.0:
        raise UserError(f"factor must be in (0, 1), got {factor}")
    rng = rng_for(seed, _T_INPUTS)
    y = np.where(np.arange(n) < (n + 1) // 2, 1.0, -1.0)
    angle = 2.0 * np.pi * rng.random(n)
    radius = np.where(y > 0, factor, 1.0)
    X = radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    X += noise * rng_for(seed, _T_NOISE).standard_normal(X.shape)
    perm = rng_for(seed, _T_NOISE, 1).permutation(n)
    return X[perm], y[perm]


def teacher_dataset(
    n: int,
    d: int,
    *,
    depth: int = 2,
    width: int = 4,
    noise: float = 0.1,
    task: str = "regression",
    n_test: int | None = None,
    rank: int | None = None,
    dist: str = "gaussian",
    seed: int = 0,
    name: str | None = None,
) -> Dataset:
    """Train/test data labelled by a planted ReLU teacher (see module doc for the rule)."""
    if n < 1 or d < 1:
        raise UserError(f"need n >= 1 and d >= 1, got n={n}, d={d}")
    if task not in ("regression", "binary"):
        raise UserError(f"task must be regression or binary, got {task!r}")
    n_test = n if n_test is None else n_test
    total = n + n_test + N_REFERENCE
    if rank is None:
        X_all = _inputs(total, d, rng_for(seed, _T_INPUTS), dist)
    else:
        if dist != "gaussian":
            raise UserError("low-rank inputs are Gaussian; dist must be gaussian")
        U = lowrank_basis(d, rank, seed)
        X_all = np.sqrt(d / rank) * rng_for(seed, _T_INPUTS).standard_normal((total, rank)) @ U.T
    teacher = planted_teacher(d, width, depth, seed)
    f_all = teacher(X_all)
    f_ref = f_all[n + n_test :]
    scale = f_ref.std()
    scale = scale if scale > 0 else 1.0
    center = float(np.median(f_ref) if task == "binary" else f_ref.mean())
    target = (f_all[: n + n_test] - center) / scale
    target = target + noise * rng_for(seed, _T_NOISE).standard_normal(n + n_test)
    y = np.where(target >= 0, 1.0, -1.0) if task == "binary" else target
    X = X_all[: n + n_test]
    recipe = "lowrank" if rank is not None else f"teacher{depth}"
    meta: dict[str, Any] = {
        "family": "synthetic",
        "source": "generated",
        "sha256_ok": None,
        "recipe": recipe,
        "seed": seed,
        "options": {"n": n, "d": d, "depth": depth, "width": width, "noise": noise,
                    "task": task, "n_test": n_test, "rank": rank, "dist": dist},
        "split": f"first {n} generated rows train, next {n_test} test",
        "classes": [1, -1] if task == "binary" else None,
        "teacher": {"layers": [W.tolist() for W in teacher.layers], "a": teacher.a.tolist(),
                    "center": center, "scale": scale},
        "citation": family_table("synthetic")["citation"],
        "licence": family_table("synthetic")["licence"],
    }
    return Dataset(
        name=name or f"synthetic:{recipe}",
        X_train=X[:n], y_train=y[:n], X_test=X[n:], y_test=y[n:], task=task, meta=meta,
    )


def _toy(recipe: str, opts: Options, seed: int, name: str) -> Dataset:
    n = opts.integer("n", 100, minimum=2)
    n_test = opts.integer("n_test", n, minimum=1)
    d = opts.integer("d", 2, minimum=2)
    total = n + n_test
    if recipe == "spiral":
        noise = opts.real("noise", 0.0)
        turns = opts.real("turns", 1.5, minimum=0.1)
        X2, y = spiral(total, seed, noise=noise, turns=turns)
        extra = {"noise": noise, "turns": turns}
    else:
        noise = opts.real("noise", 0.05)
        factor = opts.real("factor", 0.5)
        X2, y = circles(total, seed, noise=noise, factor=factor)
        extra = {"noise": noise, "factor": factor}
    X = _embed(X2, d, seed)
    meta: dict[str, Any] = {
        "family": "synthetic", "source": "generated", "sha256_ok": None, "recipe": recipe,
        "seed": seed, "options": {"n": n, "n_test": n_test, "d": d, **extra},
        "split": f"first {n} generated rows train, next {n_test} test", "classes": [1, -1],
        "citation": family_table("synthetic")["citation"],
        "licence": family_table("synthetic")["licence"],
    }
    return Dataset(name=name, X_train=X[:n], y_train=y[:n], X_test=X[n:], y_test=y[n:],
                   task="binary", meta=meta)


_COMMON = {"n", "n_test", "d", "std"}
_ALLOWED = {
    "teacher2": _COMMON | {"width", "noise", "task", "dist", "rank"},
    "teacher3": _COMMON | {"width", "noise", "task", "dist", "rank"},
    "lowrank": _COMMON | {"width", "noise", "task", "rank"},
    "spiral": _COMMON | {"noise", "turns"},
    "circles": _COMMON | {"noise", "factor"},
}


def load(spec: DatasetSpec, seed: int = 0, *, allow_download: bool = True) -> Dataset:
    """Generate ``synthetic:<recipe>[,options]`` (see module doc)."""
    recipe = spec.name
    if recipe not in _ALLOWED:
        raise UserError(
            f"unknown synthetic recipe {recipe!r}{suggest(recipe, list(_ALLOWED))}; "
            f"recipes: {', '.join(_ALLOWED)}"
        )
    opts = Options(spec, _ALLOWED[recipe])
    defaults = registry("synthetic")["recipes"][recipe]
    if recipe in ("spiral", "circles"):
        data = _toy(recipe, opts, seed, spec.canonical)
    else:
        n = opts.integer("n", defaults["n"], minimum=1)
        d = opts.integer("d", defaults["d"], minimum=1)
        rank: int | None = None
        if recipe == "lowrank":
            rank = opts.integer("rank", defaults["rank"], minimum=1)
        elif opts.text("rank"):
            rank = opts.integer("rank", 1, minimum=1)
        data = teacher_dataset(
            n, d,
            depth=3 if recipe == "teacher3" else 2,
            width=opts.integer("width", 4, minimum=1),
            noise=opts.real("noise", 0.1),
            task=opts.choice("task", defaults["task"], ("regression", "binary")),
            n_test=opts.integer("n_test", n, minimum=1),
            rank=rank,
            dist=opts.choice("dist", "gaussian", ("gaussian", "sphere")),
            seed=seed,
            name=spec.canonical,
        )
        data.meta["recipe"] = recipe
    if opts.choice("std", "none", ("none", "train")) == "train":
        X_train, X_test, _ = standardize(data.X_train, data.X_test)
        meta = {**data.meta, "standardization": "train mean/std"}
        return Dataset(name=data.name, X_train=X_train, y_train=data.y_train, X_test=X_test,
                       y_test=data.y_test, task=data.task, meta=meta)
    data.meta["standardization"] = "none (inputs as generated)"
    data.meta["options"]["std"] = "none"
    return data


def info_without_loading(spec: DatasetSpec) -> dict[str, Any]:
    """Sizes implied by the spec (generation is cheap, so just generate)."""
    data = load(spec)
    return {"n_train": data.n_train, "n_test": data.n_test, "d": data.d,
            "classes": data.n_classes, "task": data.task}


def listing() -> list[dict[str, Any]]:
    """Rows of ``list_datasets``: one per recipe with its defaults."""
    rows = []
    for recipe, info in registry("synthetic")["recipes"].items():
        rows.append({"name": f"synthetic:{recipe}", "family": "synthetic",
                     "n": 2 * info["n"], "d": info["d"],
                     "classes": 2 if info["task"] == "binary" else 0, "task": info["task"],
                     "availability": "bundled", "description": info["description"]})
    return rows

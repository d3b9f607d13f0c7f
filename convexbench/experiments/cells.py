"""Expand a spec into cells: the unit of work the runner executes and the store records.

A cell is one convex solve, one non-convex training run or one exact pattern enumeration.
Its id is a hash of everything that determines its result (experiment, kind, dataset, model,
beta, method, seed, repetition and options), so the same spec always gives the same ids and a
resumed run can skip exactly the cells it has already finished.  Limits (time, memory) are
not part of the id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from convexbench.experiments.spec import ExperimentSpec, Spec

CELL_KINDS = ("convex", "baseline", "arrangement")


@dataclass(frozen=True)
class RunCell:
    """One unit of work.  ``options`` holds the remaining parameters as sorted pairs."""

    experiment: str
    kind: str  # convex | baseline | arrangement
    dataset: str
    model: str  # relu2 | gated2 | relu3 | "" for arrangement
    method: str  # backend name, "sgd"/"adam", or "enumerate"
    beta: float  # the value given in the spec (see beta_scale)
    beta_scale: str  # "n" or "absolute"
    seed: int
    repetition: int = 0
    options: tuple[tuple[str, Any], ...] = ()
    roles: tuple[str, ...] = ()
    time_limit: float | None = None
    memory_limit_mb: float | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The options as a dict."""
        return dict(self.options)

    def identity(self) -> dict[str, Any]:
        """Everything that determines the cell's result (what the id hashes)."""
        return {
            "experiment": self.experiment, "kind": self.kind, "dataset": self.dataset,
            "model": self.model, "method": self.method, "beta": self.beta,
            "beta_scale": self.beta_scale, "seed": self.seed, "repetition": self.repetition,
            "options": {k: v for k, v in self.options},
        }

    @property
    def cell_id(self) -> str:
        """A stable 16-hex-digit id (sha256 of the canonical JSON of :meth:`identity`)."""
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (stored next to the result)."""
        out = asdict(self)
        out["options"] = self.params
        out["roles"] = list(self.roles)
        out["cell_id"] = self.cell_id
        return out

    def label(self) -> str:
        """A short human-readable label (progress bars, error messages)."""
        return f"{self.experiment}/{self.kind}/{self.dataset}/{self.model}/{self.method}" \
               f"/beta={self.beta:g}/seed={self.seed}"


def _opts(**kwargs: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, v) for k, v in kwargs.items() if v is not None))


def expand_experiment(exp: ExperimentSpec) -> list[RunCell]:
    """The cells of one experiment, in a deterministic order."""
    base = dict(experiment=exp.name, roles=exp.roles, time_limit=exp.time_limit,
                memory_limit_mb=exp.memory_limit_mb)
    cells: list[RunCell] = []
    if exp.kind == "arrangement":
        for r in exp.ranks:
            for n in exp.ns:
                for seed in exp.seeds:
                    for rep in range(exp.repetitions):
                        cells.append(RunCell(
                            kind="arrangement", dataset=exp.dataset_template.format(n=n, r=r),
                            model="", method="enumerate", beta=0.0, beta_scale="absolute",
                            seed=seed, repetition=rep,
                            options=_opts(n=n, r=r, data_seed=exp.data_seed, limit=exp.limit),
                            **base))
        return cells
    for dataset in exp.datasets:
        for model in exp.models:
            # decreasing beta: a sweep on the native backend runs as a warm-started path
            # (experiments/execute.py); the order does not enter the cell ids
            for beta in sorted(exp.betas, reverse=True):
                common = dict(dataset=dataset, model=model, beta=beta,
                              beta_scale=exp.beta_scale)
                for backend in exp.backends:
                    for seed in exp.seeds:
                        for rep in range(exp.repetitions):
                            cells.append(RunCell(
                                kind="convex", method=backend, seed=seed, repetition=rep,
                                options=_opts(
                                    loss=exp.loss, patterns=exp.patterns,
                                    refine=exp.refine or None,
                                    m1=exp.m1 if model == "relu3" else None,
                                    form=exp.form if model == "relu3" else None,
                                    accuracy=exp.accuracy, data_seed=exp.data_seed,
                                    limit=exp.limit),
                                **common, **base))
                for gate_seed in _gate_seeds(exp, model):
                    cells += _baseline_cells(exp, model, gate_seed, common, base)
    return cells


def _gate_seeds(exp: ExperimentSpec, model: str) -> tuple[int | None, ...]:
    """The pattern seeds that baseline cells of ``model`` are made for.

    relu2/relu3 runs do not depend on the convex cells' patterns: one family (None).  A
    gated2 run trains the gated network with the gates of the convex cell of pattern seed s:
    one family per seed of the experiment (one only with ``patterns = "all"``, whose gates do
    not depend on the seed).  With column generation (``refine`` > 0) the convex cell's gates
    depend on its solve and cannot be rebuilt: no gated2 baseline cells then.
    """
    if model != "gated2":
        return (None,)
    if exp.refine:
        return ()
    seeds = tuple(dict.fromkeys(exp.seeds))
    return seeds[:1] if exp.patterns == "all" else seeds  # every pattern: the same gates


def _baseline_cells(exp: ExperimentSpec, model: str, gate_seed: int | None,
                    common: dict[str, Any], base: dict[str, Any]) -> list[RunCell]:
    """The SGD/Adam cells of one (dataset, model, beta).

    gated2 cells carry ``patterns``, ``pattern_seed`` (the convex cell's seed) and ``limit``
    so that ``execute.run_baseline`` rebuilds exactly the convex cell's gates; their width
    is the number of gates (``width`` unset).  relu2/relu3 options are as they always were
    (their cell ids must not change).
    """
    three, gated = model == "relu3", model == "gated2"
    cells: list[RunCell] = []
    for bl in exp.baselines:
        for seed in bl.seeds:
            for rep in range(bl.repetitions):
                cells.append(RunCell(
                    kind="baseline", method=bl.optimizer, seed=seed, repetition=rep,
                    options=_opts(
                        loss=exp.loss, iterations=bl.iterations,
                        width=None if three or gated else bl.width,
                        n_subnetworks=bl.n_subnetworks if three else None,
                        m1=exp.m1 if three else None,
                        form=(bl.form or exp.form) if three else None,
                        patterns=exp.patterns if gated else None,
                        pattern_seed=gate_seed if gated else None,
                        limit=exp.limit if gated else None,
                        lr=bl.lr, momentum=bl.momentum if bl.optimizer == "sgd" else None,
                        batch_size=bl.batch_size, init_scale=bl.init_scale,
                        data_seed=exp.data_seed, time_limit=bl.time_limit),
                    **common, **{**base, "time_limit": bl.time_limit or exp.time_limit}))
    return cells


def expand(spec: Spec) -> list[RunCell]:
    """All cells of a spec (ids are unique: a duplicate cell is listed once)."""
    seen: set[str] = set()
    cells: list[RunCell] = []
    for exp in spec.experiments:
        for cell in expand_experiment(exp):
            if cell.cell_id not in seen:
                seen.add(cell.cell_id)
                cells.append(cell)
    return cells

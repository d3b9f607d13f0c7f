"""Experiment specs: TOML files that describe a sweep, loaded into frozen dataclasses.

A spec is data, not code.  Layout (every key but ``name`` and the experiment lists is
optional)::

    name = "quick"
    description = "..."
    [defaults]                 # inherited by every experiment
    loss = "squared"
    accuracy = "medium"        # accuracy preset of the convex backends
    time_limit = 120.0         # seconds per cell
    memory_limit_mb = 4000     # per convex cell (isolated solve, when the backend layer can)
    data_seed = 0

    [[experiments]]
    name = "comparison"        # unique; part of every cell id
    roles = ["comparison"]     # what the report uses the cells for
    kind = "training"          # "training" (convex + baselines) or "arrangement"
    datasets = ["uci:blood"]
    models = ["relu2"]         # relu2 | gated2 | relu3
    betas = [0.05]
    beta_scale = "n"           # "n": beta = value * n_train;  "absolute": beta = value
    patterns = 50              # "all" (exact patterns / atoms) or a number of samples
    refine = 0                 # rounds of column generation after sampling (0: none)
    m1 = 2                     # relu3: neurons per sub-network
    form = "A"                 # relu3: regularizer form (A, B)
    backends = ["clarabel"]
    seeds = [0]                # seeds of pattern sampling
    repetitions = 1
    [[experiments.baselines]]  # non-convex runs for the same (dataset, model, beta); for
                               # gated2: the gated network with the convex cells' gates
                               # (one family per seed; none when refine > 0)
    optimizer = "sgd"          # sgd | adam
    seeds = [0, 1, 2, 3, 4]
    iterations = 2000
    width = 50                 # two-layer neurons (gated2: one per gate, width unused)
    n_subnetworks = 10         # three-layer sub-networks

    [[experiments]]
    name = "arrangement"
    kind = "arrangement"       # exact pattern enumeration against Cover's count
    dataset_template = "synthetic:teacher2,n={n},d={r}"
    ns = [10, 20, 40]
    ranks = [2, 3]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from convexbench.errors import UserError
from convexbench.names import DEFAULT_PRESET, LOSSES, MODELS, PRESET_NAMES

KINDS = ("training", "arrangement")
OPTIMIZERS = ("sgd", "adam")
BETA_SCALES = ("n", "absolute")
ROLES = ("comparison", "uci-table", "fmnist-table", "sparsity", "global", "backends",
         "arrangement")

_TOP_KEYS = {"name", "description", "defaults", "experiments"}
_DEFAULT_KEYS = {"loss", "accuracy", "time_limit", "memory_limit_mb", "data_seed", "limit"}
_EXPERIMENT_KEYS = _DEFAULT_KEYS | {
    "name", "roles", "kind", "datasets", "models", "betas", "beta_scale", "patterns", "refine",
    "m1",
    "form", "backends", "seeds", "repetitions", "baselines", "dataset_template", "ns", "ranks",
    "description",
}
_BASELINE_KEYS = {"optimizer", "seeds", "iterations", "width", "n_subnetworks", "lr",
                  "momentum", "batch_size", "form", "time_limit", "init_scale", "repetitions"}


@dataclass(frozen=True)
class BaselineSpec:
    """One family of non-convex runs (an optimizer with its settings and seeds)."""

    optimizer: str
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    iterations: int = 2000
    width: int = 50
    n_subnetworks: int = 10
    lr: float | None = None
    momentum: float = 0.9
    batch_size: int | None = None
    form: str | None = None  # three-layer form; None = the experiment's form
    time_limit: float | None = None
    init_scale: float = 1.0
    repetitions: int = 1


@dataclass(frozen=True)
class ExperimentSpec:
    """One block of cells: datasets x models x betas x (backends | baselines) x seeds."""

    name: str
    kind: str = "training"
    roles: tuple[str, ...] = ()
    description: str = ""
    datasets: tuple[str, ...] = ()
    models: tuple[str, ...] = ("relu2",)
    betas: tuple[float, ...] = (0.05,)
    beta_scale: str = "n"
    patterns: str | int = 50
    refine: int = 0
    m1: int = 2
    form: str = "A"
    backends: tuple[str, ...] = ("clarabel",)
    seeds: tuple[int, ...] = (0,)
    repetitions: int = 1
    baselines: tuple[BaselineSpec, ...] = ()
    loss: str = "squared"
    accuracy: str = DEFAULT_PRESET
    time_limit: float | None = None
    memory_limit_mb: float | None = None
    data_seed: int = 0
    limit: int | None = None
    dataset_template: str = "synthetic:teacher2,n={n},d={r}"
    ns: tuple[int, ...] = ()
    ranks: tuple[int, ...] = ()


@dataclass(frozen=True)
class Spec:
    """A whole sweep: a name, a description and its experiments."""

    name: str
    experiments: tuple[ExperimentSpec, ...]
    description: str = ""
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def experiment(self, name: str) -> ExperimentSpec:
        """The experiment called ``name``."""
        for exp in self.experiments:
            if exp.name == name:
                return exp
        raise KeyError(name)


def packaged_specs() -> dict[str, str]:
    """Names of the specs shipped in the package, mapped to their descriptions."""
    folder = resources.files("convexbench.experiments") / "specs"
    out: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            out[entry.name[:-5]] = str(data.get("description", ""))
    return out


def load_spec(spec: str | Path) -> Spec:
    """Load a spec from a file path or the name of a packaged spec (e.g. ``quick``)."""
    path = Path(spec)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UserError(f"spec file {str(spec)!r} does not exist")
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        entry = resources.files("convexbench.experiments") / "specs" / f"{spec}.toml"
        if not entry.is_file():
            known = ", ".join(packaged_specs()) or "none"
            raise UserError(f"no spec file {str(spec)!r} and no packaged spec of that name "
                            f"(packaged: {known})")
        text, source = entry.read_text(encoding="utf-8"), f"packaged:{spec}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"spec {source} is not valid TOML: {exc}") from None
    return parse_spec(data, source=source)


def parse_spec(data: dict[str, Any], source: str = "<dict>") -> Spec:
    """Validate a parsed TOML document and build the :class:`Spec`."""
    _unknown(data, _TOP_KEYS, f"spec {source}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise UserError(f"spec {source}: 'name' must be a non-empty string")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise UserError(f"spec {source}: [defaults] must be a table")
    _unknown(defaults, _DEFAULT_KEYS, f"spec {source} [defaults]")
    raw_experiments = data.get("experiments")
    if not isinstance(raw_experiments, list) or not raw_experiments:
        raise UserError(f"spec {source}: needs at least one [[experiments]] table")
    experiments = tuple(_experiment({**defaults, **raw}, source) for raw in raw_experiments)
    names = [e.name for e in experiments]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"spec {source}: duplicate experiment names {', '.join(duplicates)}")
    return Spec(name=name, experiments=experiments, description=str(data.get("description", "")),
                source=source, raw=data)


def _unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise UserError(f"{where}: unknown key(s) {', '.join(extra)}; allowed: "
                        f"{', '.join(sorted(allowed))}")


def _tuple(value: Any, kind: type, key: str, where: str) -> tuple:
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, kind) or isinstance(v, bool):
            raise UserError(f"{where}: {key} must hold {kind.__name__} values, got {v!r}")
        out.append(v)
    return tuple(out)


def _choice(value: Any, allowed: tuple[str, ...], key: str, where: str) -> str:
    if value not in allowed:
        raise UserError(f"{where}: {key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _positive(value: Any, key: str, where: str, kind: type = int) -> Any:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if not ok or (kind is int and not isinstance(value, int)):
        raise UserError(f"{where}: {key} must be a positive {kind.__name__}, got {value!r}")
    return kind(value)


def _optional_positive(table: dict, key: str, where: str, kind: type = float) -> Any:
    value = table.get(key)
    return None if value is None else _positive(value, key, where, kind)


def _experiment(raw: dict[str, Any], source: str) -> ExperimentSpec:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise UserError(f"spec {source}: every experiment needs a non-empty 'name'")
    where = f"spec {source}, experiment {name!r}"
    _unknown(raw, _EXPERIMENT_KEYS, where)
    kind = _choice(raw.get("kind", "training"), KINDS, "kind", where)
    roles = _tuple(raw.get("roles", []), str, "roles", where)
    for role in roles:
        _choice(role, ROLES, "roles", where)
    common = dict(
        name=name, kind=kind, roles=roles, description=str(raw.get("description", "")),
        loss=_choice(str(raw.get("loss", "squared")), LOSSES, "loss", where),
        accuracy=_choice(raw.get("accuracy", DEFAULT_PRESET), PRESET_NAMES, "accuracy", where),
        time_limit=_optional_positive(raw, "time_limit", where),
        memory_limit_mb=_optional_positive(raw, "memory_limit_mb", where),
        data_seed=int(raw.get("data_seed", 0)),
        limit=_optional_positive(raw, "limit", where, int),
        seeds=_tuple(raw.get("seeds", [0]), int, "seeds", where),
        repetitions=_positive(raw.get("repetitions", 1), "repetitions", where),
    )
    if kind == "arrangement":
        template = str(raw.get("dataset_template", ExperimentSpec.dataset_template))
        ns = _tuple(raw.get("ns", []), int, "ns", where)
        ranks = _tuple(raw.get("ranks", []), int, "ranks", where)
        if not ns or not ranks:
            raise UserError(f"{where}: an arrangement experiment needs 'ns' and 'ranks'")
        if "{n}" not in template or "{r}" not in template:
            raise UserError(f"{where}: dataset_template must contain {{n}} and {{r}}")
        return ExperimentSpec(dataset_template=template, ns=ns, ranks=ranks, **common)
    datasets = _tuple(raw.get("datasets", []), str, "datasets", where)
    if not datasets:
        raise UserError(f"{where}: 'datasets' must list at least one dataset name")
    models = _tuple(raw.get("models", ["relu2"]), str, "models", where)
    for model in models:
        _choice(model, MODELS, "models", where)
    betas = _tuple(raw.get("betas", [0.05]), float, "betas", where)
    if any(b <= 0 for b in betas):
        raise UserError(f"{where}: betas must be positive")
    patterns = raw.get("patterns", 50)
    if patterns != "all":
        patterns = _positive(patterns, "patterns ('all' or a positive integer)", where)
    form = _choice(raw.get("form", "A"), ("A", "B"), "form", where)
    baselines = tuple(_baseline(b, where, i) for i, b in enumerate(raw.get("baselines", [])))
    return ExperimentSpec(
        datasets=datasets, models=models, betas=betas,
        beta_scale=_choice(raw.get("beta_scale", "n"), BETA_SCALES, "beta_scale", where),
        patterns=patterns, m1=_positive(raw.get("m1", 2), "m1", where), form=form,
        refine=_nonnegative_int(raw.get("refine", 0), "refine", where),
        backends=_tuple(raw.get("backends", ["clarabel"]), str, "backends", where),
        baselines=baselines, **common,
    )


def _baseline(raw: Any, where: str, index: int) -> BaselineSpec:
    where = f"{where}, baselines[{index}]"
    if not isinstance(raw, dict):
        raise UserError(f"{where}: must be a table")
    _unknown(raw, _BASELINE_KEYS, where)
    batch = raw.get("batch_size")
    return BaselineSpec(
        optimizer=_choice(raw.get("optimizer"), OPTIMIZERS, "optimizer", where),
        seeds=_tuple(raw.get("seeds", [0, 1, 2, 3, 4]), int, "seeds", where),
        iterations=_positive(raw.get("iterations", 2000), "iterations", where),
        width=_positive(raw.get("width", 50), "width", where),
        n_subnetworks=_positive(raw.get("n_subnetworks", 10), "n_subnetworks", where),
        lr=_optional_positive(raw, "lr", where),
        momentum=float(raw.get("momentum", 0.9)),
        batch_size=None if batch is None else _positive(batch, "batch_size", where),
        form=None if raw.get("form") is None else _choice(raw["form"], ("A", "B", "C"),
                                                          "form", where),
        time_limit=_optional_positive(raw, "time_limit", where),
        init_scale=_positive(raw.get("init_scale", 1.0), "init_scale", where, float),
        repetitions=_positive(raw.get("repetitions", 1), "repetitions", where),
    )


def _nonnegative_int(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserError(f"{where}: {key} must be a non-negative integer, got {value!r}")
    return value

"""The native solver against the conic backends and scnn: instance specs and a time-to-accuracy
table (not a timed test).

    python -m convexbench.bench native [--quick | --mid | --real [--fashion] [--datasets LIST]]
        [--path FRACS]
        [--loss squared|hinge|logistic] [--conic LIST] [--no-conic] [--conic-timeout SECONDS]
        [--no-scnn] [--scnn-seconds SECONDS] [--accuracy PRESET] [--only TEXT]

Instances are planted by default (rows of X on the unit sphere, y from a ReLU teacher; the
default sizes, ``--mid`` or ``--quick``) at beta = 0.1 lambda_max, lambda_max = ||X^T y||_inf.
``--real`` measures what users run instead: the train splits of ``uci:pima``,
``uci:ionosphere`` and ``uci:breast-cancer-wisc-diag`` (relu2 and gated2, P = 100 sampled
patterns) and relu3 on ``uci:pima`` (m1 = 2, 50 sub-networks), each at beta / lambda_max =
1e-1, 1e-2 and 1e-3; ``--fashion`` adds full-size Fashion-MNIST T-shirt vs Shirt
(``fashion-mnist:0v6,n=6000``, 12000 x 784; gated2 and relu2, P = 100, beta = 1e-2
lambda_max; many minutes).  Real data comes from the package, the mirror in
``$CONVEXBENCH_DATA_DIR`` or the cache, never from a download: an instance whose data is not
there is skipped with a one-line message.  ``--path 1e-1,1e-2,1e-3`` runs every selected
instance at each of these beta / lambda_max (one row group per beta, the instance name ends
in ``beta=<frac>``), so the ratios along a regularization path come from one run.
``--datasets uci:a,uci:b`` replaces those three sets by others (each with relu2, gated2
and relu3): data a method was not tuned on.  ``--only TEXT`` keeps the instances whose name
(with its beta) contains TEXT.

Every method is a backend of the registry (``native``, the cvxpy conic backends, and when
installed ``scnn-rfista`` on gated2 / ``scnn-al`` on relu2, squared loss) and runs through the
path ``convexbench compare`` uses: :func:`convexbench.backends.run.run_backend` at an accuracy
preset (default ``medium``), isolated in a child process with a time limit, after an untimed
warm-up solve of a small planted instance of the same kind (so that the memory baseline holds
what a first solve loads for good: code, imported packages, BLAS buffers), answer certified by
``certify_run``, flattened by ``SolveResult.as_row``.  The table adds, per method, the time to
reach each of the ``low`` and ``medium`` presets' tolerances (1e-4, 1e-6): the first traced
iterate within that relative distance of the best certified objective and with a relative
violation within it (native and scnn report their iterates), else the solve time of the final
answer if its certificate holds at that tolerance (an interior-point method has no usable
intermediate iterate); and the ratios of those times to native's.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from tabulate import tabulate

from convexbench.arrays import lambda_max
from convexbench.backends import get_backend, get_preset, run_backend, safe_info
from convexbench.backends.base import SolveResult
from convexbench.backends.presets import PRESETS, Preset
from convexbench.backends.run import unavailable_result
from convexbench.data import ChecksumError, load_dataset, parse_name
from convexbench.data.synthetic import planted_data
from convexbench.errors import UnavailableError, UserError
from convexbench.names import LOSSES
from convexbench.programs import make_program
from convexbench.programs.base import ConvexProgram

BETA_FACTOR = 0.1  # planted instances: beta = BETA_FACTOR * lambda_max unless --path
REAL_PATH = (1e-1, 1e-2, 1e-3)  # --real without --path: beta / lambda_max of the UCI instances
FASHION_PATH = (1e-2,)  # and of the Fashion-MNIST ones
ACCURACIES = (PRESETS["low"].tol, PRESETS["medium"].tol)  # the time-to-accuracy levels
HIDDEN = 8  # teacher neurons of the planted data


@dataclass(frozen=True)
class Instance:
    """A planted instance (n x d, y from a teacher) or, with ``dataset``, the train split of
    that dataset (``load_dataset(dataset, seed)``; n and d come from the data, 0 here).  beta
    is ``beta_frac`` * lambda_max of the instance's data; :func:`at_beta` sets it and ends the
    name in ``beta=<frac>``."""

    name: str
    model: str
    n: int
    d: int
    groups: int  # sampled directions (two-layer) or sub-networks (three-layer)
    m1: int = 2
    seed: int = 0
    loss: str = "squared"  # planted hinge / logistic: labels sign(y - median y) of the teacher
    dataset: str | None = None
    beta_frac: float = BETA_FACTOR


def real(dataset: str, model: str, groups: int = 100, m1: int = 2) -> Instance:
    """The instance of ``model`` on the train split of ``dataset`` (named without its beta:
    :func:`at_beta` adds it)."""
    size = f"m1={m1} G={groups}" if model == "relu3" else f"P={groups}"
    return Instance(f"{dataset} {model} {size}", model, 0, 0, groups, m1, dataset=dataset)


def at_beta(inst: Instance, frac: float) -> Instance:
    """``inst`` at beta = ``frac`` * lambda_max, its name ending in ``beta=<frac>``."""
    return replace(inst, name=f"{inst.name} beta={_frac(frac)}", beta_frac=frac)


def _frac(frac: float) -> str:
    """1e-1, 2.5e-2, 1e0: the short form of a beta / lambda_max fraction."""
    mantissa, exponent = f"{frac:.3e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


FULL = (
    Instance("relu2 n=1000 d=20 P=500", "relu2", 1000, 20, 500),
    Instance("relu3 n=500 d=10 m1=2 G=500", "relu3", 500, 10, 500),
    Instance("gated2 n=1000 d=20 P=500", "gated2", 1000, 20, 500),
)
MID = (  # the conic solvers finish here, so the ratios are exact
    Instance("relu2 n=400 d=10 P=100", "relu2", 400, 10, 100),
    Instance("relu2 n=600 d=15 P=150", "relu2", 600, 15, 150),
    Instance("relu3 n=200 d=6 m1=2 G=150", "relu3", 200, 6, 150),
    Instance("gated2 n=600 d=15 P=150", "gated2", 600, 15, 150),
)
QUICK = (
    Instance("relu2 n=200 d=6 P=60", "relu2", 200, 6, 60),
    Instance("relu3 n=80 d=4 m1=2 G=60", "relu3", 80, 4, 60),
    Instance("gated2 n=200 d=6 P=60", "gated2", 200, 6, 60),
)
RELU3_GROUPS = 50  # sub-networks of the relu3 instances on real data
REAL_SETS = ("uci:pima", "uci:ionosphere", "uci:breast-cancer-wisc-diag")
REAL = tuple(real(dataset, model) for dataset in REAL_SETS
             for model in ("relu2", "gated2")) + (real("uci:pima", "relu3", RELU3_GROUPS),)


def real_instances(datasets: tuple[str, ...]) -> tuple[Instance, ...]:
    """``--datasets``: relu2 and gated2 (P = 100) and relu3 (``RELU3_GROUPS``) on each."""
    return tuple(inst for dataset in datasets
                 for inst in (real(dataset, "relu2"), real(dataset, "gated2"),
                              real(dataset, "relu3", RELU3_GROUPS)))
FASHION = tuple(real("fashion-mnist:0v6,n=6000", model) for model in ("gated2", "relu2"))
DEFAULT_CONIC = ("clarabel", "clarabel-qdldl", "ecos")
SCNN = ("scnn-rfista", "scnn-al")  # each solves one model (gated2 / relu2), squared loss


def build(inst: Instance) -> tuple[ConvexProgram, float]:
    """The instance's program and its beta (``beta_frac`` * lambda_max).  Planted: rows of X
    on the unit sphere, y from a ReLU teacher, patterns sampled with seed + 1.  Real: the
    dataset's train split (never downloaded: :class:`UnavailableError` when it is not
    local), patterns sampled with seed."""
    if inst.dataset is not None:
        data = load_dataset(inst.dataset, inst.seed, allow_download=False)
        X, y, pattern_seed = data.X_train, data.y_train, inst.seed
    else:
        X, y = planted_data(inst.n, inst.d, inst.seed, hidden=HIDDEN, sphere=True)
        if inst.loss != "squared":
            y = np.where(y >= np.median(y), 1.0, -1.0)
        pattern_seed = inst.seed + 1
    beta = inst.beta_frac * lambda_max(X, y)
    program = make_program(inst.model, X, y, beta, patterns=inst.groups, m1=inst.m1,
                           seed=pattern_seed, loss=inst.loss)
    return program, beta


def warm_up_instance(inst: Instance, d: int | None = None) -> Instance:
    """A small planted instance of the same model, loss and width (``d``: the data's)."""
    return Instance("warm-up", inst.model, 40, d or inst.d, 8, inst.m1, inst.seed, inst.loss)


def run_method(program: ConvexProgram, method: str, preset: Preset, time_limit: float,
               warm_up: ConvexProgram | None = None) -> SolveResult:
    """One method through the shared run path (isolated, warm-up, certified); an unavailable
    or unsupported backend is an ``unavailable`` result with the reason."""
    backend = get_backend(method)
    info = safe_info(backend)
    reason = None if info.available else info.message
    if reason is None:
        reason = backend.supports(program)
    if reason:
        return unavailable_result(method, info.version, preset, reason, time_limit)
    return run_backend(program, backend, preset, time_limit=time_limit, isolate=True,
                       warm_up=warm_up, version=info.version)


def time_to(result: SolveResult, reference: float, acc: float) -> float | None:
    """First time ``result`` is within ``acc`` of the reference objective with a relative
    violation within ``acc`` (traced iterates), else its solve time if its final certificate
    holds at ``acc`` and its objective is that close."""
    if not math.isfinite(reference):
        return None
    if result.trace:
        for t, objective, violation in result.trace:
            if abs(objective - reference) <= acc * abs(reference) and violation <= acc:
                return float(t)
        return None
    cert = result.certificate
    if cert is None or result.objective is None or not cert.holds(acc):
        return None
    if abs(result.objective - reference) > acc * abs(reference):
        return None
    return result.times.get("solve_call")


def _fmt(v: Any, spec: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def _acc(acc: float) -> str:
    return f"{acc:.0e}".replace("e-0", "e-")


def instance_rows(inst: Instance, methods: list[tuple[str, float]], preset: Preset
                  ) -> list[dict[str, Any]]:
    """Run ``methods`` ((backend, time limit) pairs, native first) on ``inst``; table rows."""
    try:
        program, beta = build(inst)
    except (UnavailableError, ChecksumError) as exc:
        print(f"\n## {inst.name}: skipped, data unavailable: {exc}", flush=True)
        return []
    except UserError as exc:  # an unknown dataset name
        print(f"\n## {inst.name}: skipped: {exc}", flush=True)
        return []
    print(f"\n## {inst.name}: n = {program.n}, d = {program.d}, beta = {beta:.6g} "
          f"(= {inst.beta_frac:g} ||X^T y||_inf), {program.n_groups} groups, "
          f"conic size {program.size()}", flush=True)
    warm_up, _ = build(warm_up_instance(inst, program.d))
    results = []
    for method, limit in methods:
        result = run_method(program, method, preset, limit, warm_up)
        results.append(result)
        if result.status == "unavailable":
            print(f"   {method}: skipped ({result.message})", flush=True)
        else:
            print(f"   {method}: {result.status} in {result.times['elapsed']:.2f} s, "
                  f"verified={result.verified}", flush=True)
    feasible = [r.certificate.objective for r in results if r.certificate is not None
                and r.certificate.finite and r.certificate.relative_violation <= ACCURACIES[-1]]
    reference = min(feasible) if feasible else math.nan
    rows = []
    for r in results:
        cert = r.certificate
        row = r.as_row(instance=inst.name, method=r.backend)
        row["rel_to_best"] = (None if r.objective is None or not math.isfinite(reference)
                              else (r.objective - reference) / abs(reference))
        for acc in ACCURACIES:
            row[f"certified_{_acc(acc)}"] = bool(cert is not None and cert.holds(acc))
            row[f"t_{_acc(acc)}"] = time_to(r, reference, acc)
        note = [] if r.iterations is None else [f"{r.iterations} iterations"]
        if r.message:
            note.append(r.message[:70])
        row["note"] = "; ".join(note)
        rows.append(row)
    native = rows[0]
    for row in rows:
        for acc in ACCURACIES:
            mine, theirs = native[f"t_{_acc(acc)}"], row[f"t_{_acc(acc)}"]
            row[f"ratio_{_acc(acc)}"] = theirs / mine if mine and theirs else None
    x_mb = (program.X.nbytes + _mask_bytes(program)) / 2**20
    if native["memory_mb"] is not None:
        native["note"] = "; ".join(filter(None, [
            native["note"], f"X+masks {x_mb:.1f} MB, memory/(X+masks) "
                            f"{native['memory_mb'] / x_mb:.1f}"]))
    _print_speed_up(rows, results)
    return rows


def _print_speed_up(rows: list[dict[str, Any]], results: list[SolveResult]) -> None:
    top = f"t_{_acc(ACCURACIES[-1])}"
    native = rows[0]
    conic = [r for r in rows[1:] if r[top] is not None and r["method"] not in SCNN]
    fastest = min(conic, key=lambda r: r[top]) if conic else None
    timed_out = [r for r in results[1:] if r.status == "time_limit" and r.backend not in SCNN]
    if fastest is None and timed_out and native[top]:
        limit = min(r.times["elapsed"] for r in timed_out)
        print(f"   no conic solver finished (stopped after {limit:.0f} s); the reference is "
              f"native's own certified point: speed-up >= {limit / native[top]:.1f}x")
    if fastest is not None:
        speed = fastest[top] / native[top] if native[top] else None
        print(f"   fastest conic to {_acc(ACCURACIES[-1])}: {fastest['method']} "
              f"{fastest[top]:.3g} s; native {_fmt(native[top])} s -> speed-up "
              f"{_fmt(speed)}x")


def _mask_bytes(program: ConvexProgram) -> int:
    if hasattr(program, "masks"):
        return int(program.masks.nbytes)
    return int(program.first.nbytes + program.second.nbytes)


def print_table(rows: list[dict[str, Any]]) -> None:
    levels = [_acc(acc) for acc in ACCURACIES]
    headers = (["instance", "method", "status", "wall_s", "solve_s", "objective",
                "rel_to_best", "cert_rel_gap", "violation"]
               + [f"certified_{a}" for a in levels] + [f"t_{a}" for a in levels]
               + [f"ratio_{a}" for a in levels] + ["memory_mb", "note"])
    table = []
    for r in rows:
        table.append(
            [r["instance"], r["method"], r["status"], _fmt(r["wall_s"]), _fmt(r["solve_s"]),
             _fmt(r["objective"], ".10g"), _fmt(r["rel_to_best"], ".2e"),
             _fmt(r["relative_gap"], ".1e"), _fmt(r["relative_violation"], ".1e")]
            + [r[f"certified_{a}"] for a in levels] + [_fmt(r[f"t_{a}"]) for a in levels]
            + [_fmt(r[f"ratio_{a}"], ".1f") for a in levels]
            + [_fmt(r["memory_mb"], ".0f"), r["note"]])
    print(tabulate(table, headers=headers))
    print("t_<tol>: time to the best certified objective within tol with a relative violation "
          "within tol (traced iterates of native and scnn; otherwise the solve time of a "
          "final answer certified at tol).  ratio = method's time / native's.  memory_mb: "
          "growth of the resident memory above the child's baseline after a warm-up solve.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convexbench.bench")
    parser.add_argument("backend", choices=["native"])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small instances (CI smoke)")
    size.add_argument("--mid", action="store_true",
                      help="mid-size instances (the conic solvers finish in minutes)")
    size.add_argument("--real", action="store_true",
                      help="instances on real data (UCI pima, ionosphere, "
                           "breast-cancer-wisc-diag) instead of planted ones, at "
                           "beta/lambda_max 1e-1,1e-2,1e-3 unless --path")
    parser.add_argument("--fashion", action="store_true",
                        help="with --real: add full-size Fashion-MNIST 0v6 (12000 x 784, "
                             "beta/lambda_max 1e-2 unless --path; many minutes)")
    parser.add_argument("--datasets", type=_names, default=None, metavar="LIST",
                        help="with --real: these datasets instead of UCI pima, ionosphere "
                             "and breast-cancer-wisc-diag (comma-separated names as "
                             "`convexbench datasets` lists them, e.g. "
                             "uci:tic-tac-toe,uci:credit-approval,fashion-mnist:0v6,n=250; a "
                             "key=value item belongs to the name before it), each with relu2 "
                             "and gated2 "
                             f"(P = 100) and relu3 ({RELU3_GROUPS} sub-networks)")
    parser.add_argument("--path", type=_fractions, default=None, metavar="FRACS",
                        help="comma-separated beta/lambda_max, e.g. 1e-1,1e-2,1e-3: every "
                             "instance at each (one row group per beta)")
    parser.add_argument("--no-conic", action="store_true", help="skip the conic solvers")
    parser.add_argument("--no-scnn", action="store_true", help="skip scnn even if installed")
    parser.add_argument("--scnn-seconds", type=float, default=None,
                        help="time limit of each scnn run (it stops there with its last "
                             "iterate, not certified); default 300, 20 with --quick")
    parser.add_argument("--conic-timeout", type=float, default=1800.0,
                        help="time limit of native and each conic run (seconds)")
    parser.add_argument("--accuracy", default="medium", choices=list(PRESETS),
                        help="the preset every method runs at (default medium)")
    parser.add_argument("--only", default=None, metavar="TEXT",
                        help="run the instances whose name contains TEXT (one substring, e.g. "
                             "relu3, gated2, P=100 for relu2 and gated2, beta=1e-2)")
    parser.add_argument("--loss", default="squared", choices=LOSSES,
                        help="the loss of every instance (hinge / logistic: labels "
                             "sign(y - median y); scnn is skipped)")
    parser.add_argument("--conic", default=",".join(DEFAULT_CONIC),
                        help="comma-separated conic backends (any of `convexbench backends`)")
    args = parser.parse_args(argv)
    if args.fashion and not args.real:
        parser.error("--fashion needs --real")
    if args.datasets and not args.real:
        parser.error("--datasets needs --real")
    preset = get_preset(args.accuracy)
    if args.scnn_seconds is None:
        args.scnn_seconds = 20.0 if args.quick else 300.0
    conic = [] if args.no_conic else [m.strip() for m in args.conic.split(",") if m.strip()]
    for name in conic:
        try:
            get_backend(name)
        except Exception as exc:
            parser.error(str(exc))
    methods = [("native", args.conic_timeout)] + [(m, args.conic_timeout) for m in conic]
    if args.no_scnn:
        print("scnn: skipped (--no-scnn)")
    else:
        info = safe_info(get_backend(SCNN[0]))
        print("scnn: " + (f"scnn-rfista (gated2) and scnn-al (relu2), {info.version}, "
                          f"time limit {args.scnn_seconds:g} s" if info.available
                          else f"skipped ({info.message})"))
        if info.available:
            methods += [(m, args.scnn_seconds) for m in SCNN]
    if args.real:
        chosen_real = real_instances(args.datasets) if args.datasets else REAL
        sets = [(chosen_real, REAL_PATH)] + ([(FASHION, FASHION_PATH)] if args.fashion else [])
    else:
        sets = [(QUICK if args.quick else MID if args.mid else FULL, None)]
    instances: tuple[Instance, ...] = ()
    for chosen, default_path in sets:
        fractions = args.path or default_path
        for inst in chosen:
            if args.loss != "squared":
                inst = replace(inst, name=f"{inst.name} {args.loss}", loss=args.loss)
            instances += (tuple(at_beta(inst, f) for f in fractions) if fractions
                          else (inst,))
    if args.only:
        kept = tuple(i for i in instances if args.only in i.name)
        if not kept:  # a typo or a list (--only relu2,gated2) would run nothing, silently
            models = sorted({i.model for i in instances})
            parser.error(f"--only {args.only!r} matches no instance name (a substring of "
                         f"names such as {instances[0].name!r}; models: {', '.join(models)})")
        instances = kept
    rows: list[dict[str, Any]] = []
    for inst in instances:
        program_methods = [(m, t) for m, t in methods
                           if m not in SCNN or _scnn_fits(m, inst)]
        rows += instance_rows(inst, program_methods, preset)
    print()
    print_table(rows)
    return 0


def _fractions(text: str) -> tuple[float, ...]:
    """``--path``: positive finite numbers, comma-separated; decreasing, no duplicates."""
    values = set()
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(
                f"a comma-separated list of positive numbers, got {item.strip()!r}")
        values.add(value)
    return tuple(sorted(values, reverse=True))


def _names(text: str) -> tuple[str, ...]:
    """``--datasets``: comma-separated dataset names of known families, no duplicates."""
    items: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if items and "=" in item and ":" not in item:
            items[-1] += "," + item  # an option of the name before (fashion-mnist:0v6,n=250)
        elif item:
            items.append(item)
    names = tuple(dict.fromkeys(items))
    if not names:
        raise argparse.ArgumentTypeError("a comma-separated list of dataset names")
    for name in names:
        try:
            parse_name(name)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def _scnn_fits(method: str, inst: Instance) -> bool:
    """scnn solves one model per method and the squared loss only: other rows are left out
    rather than listed as skipped."""
    from convexbench.backends.scnn import SCNN_METHODS

    return SCNN_METHODS[method][0] == inst.model and inst.loss == "squared"


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the native solver against the conic backends (not a timed test).

    python -m convexbench.bench native [--quick | --mid] [--conic-timeout SECONDS] [--no-conic]
                                       [--no-scnn] [--loss squared|hinge|logistic]

Solves the same instances (same data, same patterns/atoms, same beta) with the native backend,
Clarabel (default linear solver and direct_solve_method='qdldl'), ECOS and, when installed,
scnn (R-FISTA on gated ReLU, augmented Lagrangian on two-layer ReLU, given the same pattern
directions and lam = beta / n; see ``convexbench.bench_scnn``), certifies every
answer with ``convexbench.certificates.certify`` and prints wall times, objectives, relative
gaps to the best objective, violations, verification, each method's time to reach 1e-3 and
1e-6 relative objective accuracy (feasible to 1e-6), and time ratios against native.
Every method runs in a spawned child of its own (a timeout kills it; ECOS has no time limit of
its own), which also measures its peak memory above the child's baseline (taken after a small
warm-up solve and after touching the BLAS workspace; see ``_touch_blas_workspace``).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from dataclasses import dataclass, field, replace

import cvxpy as cp
import numpy as np
from tabulate import tabulate

from convexbench.backends.native import NativeBackend
from convexbench.backends.presets import get_preset
from convexbench.backends.resources import PeakMemory
from convexbench.certificates import certify
from convexbench.patterns import sample_patterns
from convexbench.programs import make_program
from convexbench.programs.base import ConvexProgram

BETA_FACTOR = 0.1  # beta = BETA_FACTOR * ||X^T y||_inf
ACCURACIES = (1e-3, 1e-6)
FEASIBLE = 1e-6  # relative violation allowed when reading times to accuracy


@dataclass(frozen=True)
class Instance:
    name: str
    model: str
    n: int
    d: int
    groups: int  # sampled directions (two-layer) or sub-networks (three-layer)
    m1: int = 2
    seed: int = 0
    loss: str = "squared"  # hinge / logistic: labels sign(y - median y) of the same teacher


FULL = (
    Instance("relu2 n=1000 d=20 P=500", "relu2", 1000, 20, 500),
    Instance("relu3 n=500 d=10 m1=2 G=500", "relu3", 500, 10, 500),
    Instance("gated2 n=1000 d=20 P=500", "gated2", 1000, 20, 500),
)
MID = (  # the issue's own measured sizes: conic solvers finish here, so ratios are exact
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


def planted_data(n: int, d: int, seed: int = 0, hidden: int = 8, noise: float = 0.1):
    """Rows of X on the unit sphere; y from a random ReLU teacher plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    U = rng.standard_normal((d, hidden))
    a = rng.standard_normal(hidden)
    y = np.maximum(X @ U, 0.0) @ a + noise * rng.standard_normal(n)
    return X, y


def build(inst: Instance) -> tuple[ConvexProgram, float]:
    X, y = planted_data(inst.n, inst.d, inst.seed)
    if inst.loss != "squared":
        y = np.where(y >= np.median(y), 1.0, -1.0)
    beta = BETA_FACTOR * float(np.abs(X.T @ y).max())
    program = make_program(inst.model, X, y, beta, patterns=inst.groups, m1=inst.m1,
                           seed=inst.seed + 1, loss=inst.loss)
    return program, beta


def gates_of(program: ConvexProgram, inst: Instance) -> np.ndarray | None:
    """The generating directions of a two-layer program's sampled patterns (scnn's input)."""
    if inst.model not in ("relu2", "gated2"):
        return None
    masks, gates = sample_patterns(program.X, inst.groups, seed=inst.seed + 1,
                                   return_directions=True)
    assert np.array_equal(masks, program.patterns), "patterns differ from the program's"
    return gates


SCNN = {"gated2": "rfista", "relu2": "al"}  # the solver scnn has for each program
SCNN_TOL = 1e-12  # scnn's own stopping tolerance: its default (1e-6) stops near 1e-4 relative
SCNN_MAX_ITERS = 1_000_000  # the time budget (--scnn-seconds) decides, not scnn's 10,000 cap


@dataclass
class Outcome:
    method: str
    status: str
    wall: float  # everything the method needs: build + compile + solve
    solve: float
    solution: dict | None
    trace: list[tuple[float, float, float]] = field(default_factory=list)
    peak_mb: float | None = None
    note: str = ""


# -- conic solvers in a child process ------------------------------------------------------
CONIC = {
    "clarabel": ("CLARABEL", {"tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8, "tol_feas": 1e-8}),
    "clarabel-qdldl": ("CLARABEL", {"tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8, "tol_feas": 1e-8,
                                    "direct_solve_method": "qdldl"}),
    "ecos": ("ECOS", {"abstol": 1e-8, "reltol": 1e-8, "feastol": 1e-8, "max_iters": 500}),
    # not run by default; the one that solved the full logistic programs here (Clarabel and
    # ECOS failed on them at every tolerance tried)
    "scs": ("SCS", {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000}),
}
DEFAULT_CONIC = ("clarabel", "clarabel-qdldl", "ecos")


def _run_method(program: ConvexProgram, method: str, gates: np.ndarray | None = None,
                time_limit: float = 600.0) -> tuple:
    """(status, wall, solve, solution, note, trace) of one method, in this process; trace
    points are (seconds, objective, violation)."""
    start = time.perf_counter()
    if method.startswith("scnn-"):
        from convexbench.bench_scnn import run_scnn

        model = "gated2" if "U" in program.block_shapes() else "relu2"
        out = run_scnn(program.X, program.y, program.beta, gates, model, method[5:],
                       tol=SCNN_TOL, max_seconds=time_limit, max_iters=SCNN_MAX_ITERS)
        scale = max(1.0, float(np.max(np.abs(program.y))))  # relative, as native's trace
        trace = [(t, program.objective(sol), program.cone_violation(sol) / scale)
                 for t, sol in out.trace]
        note = f"{out.iterations} iterations, scnn tol {SCNN_TOL:g}; {out.note}".rstrip("; ")
        return out.status, out.wall, out.solve, out.solution, note, trace
    if method == "native":
        raw = NativeBackend().run(program, get_preset("medium"))
        note = (f"{raw.iterations} outer, {raw.extra.get('n_columns')} cols, "
                f"{raw.extra.get('n_rows')} rows")
        return (raw.status, time.perf_counter() - start, raw.solve_seconds, raw.solution, note,
                raw.extra.get("trace", []))
    solver, options = CONIC[method]
    model = program.build_cvxpy()
    try:
        data, chain, inverse = model.problem.get_problem_data(solver, solver_opts=options)
        t0 = time.perf_counter()
        raw = chain.solve_via_data(model.problem, data, False, False, options)
        solve = time.perf_counter() - t0
        model.problem.unpack_results(raw, chain, inverse)
        status = str(model.problem.status)
        solution = program.solution_from_cvxpy(model) if model.problem.value is not None else None
    except (cp.error.SolverError, ValueError) as exc:
        return "error", time.perf_counter() - start, 0.0, None, str(exc)[:80], []
    return status, time.perf_counter() - start, solve, solution, "", []


def _child(program: ConvexProgram, warm_up: ConvexProgram, method: str, gates, warm_gates,
           time_limit: float, conn) -> None:
    """Run one method and report it with its peak memory above the child's baseline: the
    interpreter, the program's arrays and whatever a first solve loads for good (code, BLAS
    buffers; a tiny ``warm_up`` solve pays for those) are in the baseline."""
    _run_method(warm_up, method, warm_gates, time_limit)
    _touch_blas_workspace()
    with PeakMemory() as memory:
        result = _run_method(program, method, gates, time_limit)
    growth = None
    if memory.peak_mb is not None and memory.baseline_mb is not None:
        growth = max(0.0, memory.peak_mb - memory.baseline_mb)
    conn.send((*result, growth))


def _touch_blas_workspace(size: int = 1536) -> None:
    """Touch the BLAS libraries' workspace as a large product and factorization do, so that
    the baseline holds it.  OpenBLAS maps one fixed workspace per thread and touches its
    pages as the matrices grow: after the small warm-up, 2.7 MB more of it were touched
    during the native relu2 n=1000 solve, a cost of the library, not of the method.  One
    thread, as the native solver runs; the arrays live in pages of their own so that malloc
    is left as it was."""
    from scipy.linalg import blas, lapack
    from threadpoolctl import threadpool_limits

    from convexbench.native.xp import zeros_mapped

    with threadpool_limits(limits=1, user_api="blas"):
        a = zeros_mapped((size, size))
        a[:] = np.random.default_rng(0).standard_normal(size)[None, :]
        a[np.diag_indices(size)] += size
        c = zeros_mapped((size, size))
        np.matmul(a.T, a, out=c)  # numpy's BLAS
        blas.dsyrk(1.0, a, beta=0.0, c=c, trans=1, lower=1, overwrite_c=1)  # scipy's
        lapack.dpotrf(c, lower=1, overwrite_a=1)
        del a, c


def run_isolated(program: ConvexProgram, warm_up: ConvexProgram, method: str, timeout: float,
                 gates: tuple = (None, None), time_limit: float | None = None) -> Outcome:
    """One method in a fresh spawned child, killed after ``timeout`` seconds; ``time_limit``
    is the method's own budget, where it has one (scnn stops there with its last iterate)."""
    ctx = mp.get_context("spawn")  # fork after BLAS/Rayon threads can deadlock
    parent, child = ctx.Pipe(duplex=False)
    budget = timeout if time_limit is None else time_limit
    proc = ctx.Process(target=_child, args=(program, warm_up, method, *gates, budget, child),
                       daemon=True)
    start = time.perf_counter()
    proc.start()
    child.close()
    if parent.poll(timeout):
        status, wall, solve, solution, note, trace, peak = parent.recv()
        proc.join()
        return Outcome(method, status, wall, solve, solution, trace=trace, peak_mb=peak,
                       note=note)
    proc.kill()
    proc.join()
    return Outcome(method, "timeout", time.perf_counter() - start, float("nan"), None,
                   note=f"killed after {timeout:.0f} s")


def time_to(outcome: Outcome, reference: float, scale: float, acc: float,
            objective: float | None, violation: float | None) -> float | None:
    """First time the method is within ``acc`` of the reference objective and feasible."""
    if outcome.trace:
        for t, obj, viol in outcome.trace:
            if abs(obj - reference) <= acc * abs(reference) and viol <= FEASIBLE:
                return t
        return None
    if objective is None or violation is None:
        return None
    ok = abs(objective - reference) <= acc * abs(reference) and violation / scale <= FEASIBLE
    return outcome.solve if ok else None  # an IPM has no usable intermediate iterate


def _fmt(v: float | None, spec: str = ".3g") -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def bench_instance(inst: Instance, conic: bool, timeout: float,
                   methods: tuple[str, ...] = DEFAULT_CONIC, scnn: bool = False,
                   scnn_seconds: float = 300.0) -> list[dict]:
    program, beta = build(inst)
    size = program.size()
    print(f"\n## {inst.name}: beta = {beta:.6g} (= {BETA_FACTOR} ||X^T y||_inf), "
          f"{program.n_groups} groups, conic size {size}", flush=True)
    small = Instance("warm-up", inst.model, 40, inst.d, 8, inst.m1, inst.seed, inst.loss)
    warm_up, _ = build(small)
    outcomes = [run_isolated(program, warm_up, "native", timeout)]
    if conic:
        for method in methods:
            outcomes.append(run_isolated(program, warm_up, method, timeout))
            print(f"   {method}: {outcomes[-1].status} in {outcomes[-1].wall:.1f} s", flush=True)
    if scnn and inst.model in SCNN and inst.loss == "squared":
        method = f"scnn-{SCNN[inst.model]}"
        gates = (gates_of(program, inst), gates_of(warm_up, small))
        outcomes.append(run_isolated(program, warm_up, method, 2 * scnn_seconds + 120, gates,
                                     time_limit=scnn_seconds))
        print(f"   {method}: {outcomes[-1].status} in {outcomes[-1].wall:.1f} s", flush=True)
    scale = max(1.0, float(np.max(np.abs(program.y))))
    certs = {o.method: certify(program, o.solution) if o.solution is not None else None
             for o in outcomes}
    feasible = [c.objective for c in certs.values()
                if c is not None and c.finite and c.relative_violation <= FEASIBLE]
    reference = min(feasible) if feasible else float("nan")
    rows = []
    for o in outcomes:
        c = certs[o.method]
        obj = None if c is None else c.objective
        viol = None if c is None else c.max_violation
        times = {acc: time_to(o, reference, scale, acc, obj, viol) for acc in ACCURACIES}
        rows.append({
            "instance": inst.name, "method": o.method, "status": o.status, "wall_s": o.wall,
            "solve_s": o.solve, "objective": obj,
            "rel_to_best": None if obj is None else (obj - reference) / abs(reference),
            "cert_rel_gap": None if c is None else c.relative_gap,
            "violation": None if c is None else c.relative_violation,
            "verified_1e-6": bool(c is not None and c.holds(1e-6)),
            "t_1e-3": times[1e-3], "t_1e-6": times[1e-6], "peak_mb": o.peak_mb, "note": o.note,
        })
    native = rows[0]
    conic_rows = [r for r in rows[1:] if r["t_1e-6"] is not None
                  and not r["method"].startswith("scnn")]
    fastest = min(conic_rows, key=lambda r: r["t_1e-6"]) if conic_rows else None
    for r in rows:
        for acc in ("1e-3", "1e-6"):
            mine, theirs = native[f"t_{acc}"], r[f"t_{acc}"]
            r[f"ratio_{acc}"] = (theirs / mine) if mine and theirs else None
    x_mb = (program.X.nbytes + _mask_bytes(program)) / 2**20
    if native["peak_mb"] is not None:
        native["note"] += (f"; X+masks {x_mb:.1f} MB, peak/(X+masks) "
                           f"{native['peak_mb'] / x_mb:.1f}")
    timed_out = [o for o in outcomes[1:] if o.status == "timeout"]
    if conic and fastest is None and timed_out and native["t_1e-6"]:
        limit = min(o.wall for o in timed_out)
        print(f"   no conic solver finished (killed after {limit:.0f} s); the reference is "
              f"native's own certified point (gap {native['cert_rel_gap']:.1e}): speed-up "
              f">= {limit / native['t_1e-6']:.1f}x")
    if fastest is not None:
        print(f"   fastest conic to 1e-6: {fastest['method']} {fastest['t_1e-6']:.3g} s; "
              f"native {_fmt(native['t_1e-6'])} s -> speed-up "
              f"{_fmt(fastest['t_1e-6'] / native['t_1e-6'] if native['t_1e-6'] else None)}x")
    return rows


def _mask_bytes(program: ConvexProgram) -> int:
    if hasattr(program, "masks"):
        return int(program.masks.nbytes)
    return int(program.first.nbytes + program.second.nbytes)


def print_table(rows: list[dict]) -> None:
    headers = ["instance", "method", "status", "wall_s", "solve_s", "objective", "rel_to_best",
               "cert_rel_gap", "violation", "verified_1e-6", "t_1e-3", "t_1e-6", "ratio_1e-3",
               "ratio_1e-6", "peak_mb", "note"]
    table = []
    for r in rows:
        table.append([
            r["instance"], r["method"], r["status"], _fmt(r["wall_s"]), _fmt(r["solve_s"]),
            _fmt(r["objective"], ".10g"), _fmt(r["rel_to_best"], ".2e"),
            _fmt(r["cert_rel_gap"], ".1e"), _fmt(r["violation"], ".1e"), r["verified_1e-6"],
            _fmt(r["t_1e-3"]), _fmt(r["t_1e-6"]), _fmt(r["ratio_1e-3"], ".1f"),
            _fmt(r["ratio_1e-6"], ".1f"), _fmt(r["peak_mb"], ".0f"), r["note"],
        ])
    print(tabulate(table, headers=headers))
    print("ratio = method's time to the accuracy / native's (conic: solve time of its final "
          "answer; an interior-point method has no usable intermediate iterate).  peak_mb: "
          "growth of the resident memory (everything, solver heaps included) above the "
          "child's baseline with the program loaded.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convexbench.bench")
    parser.add_argument("backend", choices=["native"])
    parser.add_argument("--quick", action="store_true", help="small instances (CI smoke)")
    parser.add_argument("--mid", action="store_true",
                        help="the issue's mid-size instances (conic solvers finish in minutes)")
    parser.add_argument("--no-conic", action="store_true", help="skip the conic solvers")
    parser.add_argument("--no-scnn", action="store_true", help="skip scnn even if installed")
    parser.add_argument("--scnn-seconds", type=float, default=300.0,
                        help="time budget of each scnn run (it stops there with its last "
                             "iterate; a hard kill follows at twice the budget + 120 s)")
    parser.add_argument("--conic-timeout", type=float, default=1800.0)
    parser.add_argument("--only", default=None, help="run instances whose name contains this")
    parser.add_argument("--loss", default="squared", choices=["squared", "hinge", "logistic"],
                        help="the loss of every instance (hinge / logistic: labels "
                             "sign(y - median y); scnn is skipped)")
    parser.add_argument("--conic", default=",".join(DEFAULT_CONIC),
                        help=f"comma-separated conic methods among {', '.join(CONIC)}")
    args = parser.parse_args(argv)
    scnn = False
    if args.no_scnn:
        print("scnn: skipped (--no-scnn)")
    else:
        from convexbench.bench_scnn import scnn_available

        reason = scnn_available()
        scnn = reason is None
        print("scnn: " + ("R-FISTA (gated2) and augmented Lagrangian (relu2), tol "
                          f"{SCNN_TOL:g}" if scnn else f"skipped ({reason})"))
    instances = QUICK if args.quick else MID if args.mid else FULL
    if args.loss != "squared":
        instances = tuple(replace(i, name=f"{i.name} {args.loss}", loss=args.loss)
                          for i in instances)
    if args.only:
        instances = tuple(i for i in instances if args.only in i.name)
    methods = tuple(m for m in args.conic.split(",") if m)
    unknown = [m for m in methods if m not in CONIC]
    if unknown:
        parser.error(f"unknown conic methods {unknown}; choose among {', '.join(CONIC)}")
    rows: list[dict] = []
    for inst in instances:
        rows += bench_instance(inst, not args.no_conic, args.conic_timeout, methods, scnn,
                               args.scnn_seconds)
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

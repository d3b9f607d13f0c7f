"""Verdicts on the claims of MATH.md §5, computed from stored cells, with the numbers.

Each claim is a check that can fail, split into the parts the claim states (claim 4: "at
most n + 1 nonzero groups" and "falls as beta grows").  A part *holds* or *fails* when the
results hold cells that test it and is *missing* otherwise.  The verdict on the claim is

* ``fails`` when some part's evidence contradicts it,
* ``holds`` when every part has evidence and holds,
* ``partial`` when the parts with evidence hold and others have none,
* ``not tested`` when no part has evidence.

Missing evidence never makes a claim fail.  Every threshold is relative and scale-invariant:
a difference is divided by the magnitude of the objective itself (no ``max(1, .)`` floor,
which makes a check absolute, and vacuous, for objectives below 1); see
:func:`relative_difference` and :func:`relative_margin` for an objective of exactly 0.
Tolerances come from the accuracy presets (``convexbench/backends/presets.py``) of the cells.

The public API is :func:`evaluate_claims`, returning :class:`ClaimResult` objects, with
:func:`claims_frame`, :func:`verdict_counts` and :func:`claims_summary` to present them, and
the frame helpers :func:`cells_with_role`, :func:`compare_to_nonconvex` and :func:`gated_note`
the report uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from convexbench.experiments.spec import ExperimentSpec

HOLDS, PARTIAL, NOT_TESTED, FAILS = "holds", "partial", "not tested", "fails"
VERDICTS = (HOLDS, PARTIAL, NOT_TESTED, FAILS)

PRESET_FACTOR = 10.0  # claims 1 and 5 allow this many times the accuracy preset's tolerance
SLOPE_TOL = 0.1  # |fitted log-log slope - (r - 1)| (a slope is already scale-free)
MIN_SWEEP_BETAS = 3  # a beta sweep needs this many betas to show a trend
DEFAULT_ACCURACY = ExperimentSpec.accuracy  # the spec's default preset (cells without one)


@dataclass(frozen=True)
class ClaimPart:
    """One statement inside a claim: ``ok`` is None when no cell tests it."""

    name: str
    ok: bool | None
    note: str = ""  # for a missing part: what evidence would test it

    @property
    def status(self) -> str:
        return "missing" if self.ok is None else (HOLDS if self.ok else FAILS)


@dataclass(frozen=True)
class ClaimResult:
    """The verdict on one claim of MATH.md §5, the evidence in words and the numbers."""

    id: str  # "1", "2a", "2b", "3", "4", "5"
    title: str
    verdict: str  # holds | partial | not tested | fails
    evidence: str
    numbers: dict[str, Any] = field(default_factory=dict)
    parts: tuple[ClaimPart, ...] = ()
    details: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    @property
    def number(self) -> str:
        """The claim's number (same as ``id``)."""
        return self.id

    @property
    def summary(self) -> str:
        """The evidence text (same as ``evidence``)."""
        return self.evidence

    @property
    def missing(self) -> tuple[ClaimPart, ...]:
        """The parts no cell tested."""
        return tuple(p for p in self.parts if p.ok is None)


def verdict_of(parts: list[ClaimPart] | tuple[ClaimPart, ...]) -> str:
    """fails if any part fails; else not tested / partial / holds by how many have evidence."""
    if any(p.ok is False for p in parts):
        return FAILS
    tested = [p for p in parts if p.ok is not None]
    if not tested:
        return NOT_TESTED
    return PARTIAL if len(tested) < len(parts) else HOLDS


def _result(id_: str, title: str, parts: list[ClaimPart], evidence: str = "",
            numbers: dict[str, Any] | None = None,
            details: pd.DataFrame | None = None, extra: str = "") -> ClaimResult:
    """The claim's result; the evidence names the missing parts, then ``extra`` follows."""
    missing = [p for p in parts if p.ok is None]
    tested = len(missing) < len(parts)
    if not tested:
        evidence = ("No evidence: " + "; ".join(dict.fromkeys(p.note or p.name for p in parts))
                    + ".")
    elif missing:
        evidence = (evidence.rstrip(".") + ". Not tested (no evidence in these results): "
                    + "; ".join(f"{p.name} ({p.note})" if p.note else p.name
                                for p in missing) + ".")
    evidence += extra
    numbers = dict(numbers or {})
    numbers["parts"] = {p.name: p.status for p in parts}
    return ClaimResult(id_, title, verdict_of(parts), evidence, numbers, tuple(parts), details)


# --- scale-invariant measures ------------------------------------------------------------


def relative_difference(value: Any, reference: Any) -> Any:
    """``|value - reference| / |reference|``, elementwise; no floor on ``|reference|``.

    For ``reference == 0`` it is 0 when ``value`` is 0 too and ``inf`` otherwise; NaN in
    either gives NaN.  Returns a float for scalars, an array otherwise.
    """
    v = np.asarray(value, dtype=float)
    r = np.asarray(reference, dtype=float)
    diff = np.abs(v - r)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(diff == 0, 0.0, diff / np.abs(r))
    return float(out) if out.ndim == 0 else out


def relative_margin(value: Any, reference: Any) -> Any:
    """``(value - reference) / |reference|``, elementwise; no floor on ``|reference|``.

    For ``reference == 0`` it is 0 when ``value`` is 0 too and +-inf (the sign of
    ``value``) otherwise; NaN in either gives NaN.
    """
    v = np.asarray(value, dtype=float)
    r = np.asarray(reference, dtype=float)
    diff = v - r
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(diff == 0, 0.0, diff / np.abs(r))
    return float(out) if out.ndim == 0 else out


def preset_tolerance(name: Any = None) -> float:
    """The tolerance of accuracy preset ``name`` (the spec's default when missing)."""
    from convexbench.backends.presets import get_preset

    if name is None or (isinstance(name, float) and np.isnan(name)):
        name = DEFAULT_ACCURACY
    return get_preset(str(name)).tol


def _tolerance_text(presets: Any, factor: float = 1.0) -> str:
    names = sorted({name for p in presets for name in str(p).split(", ")})
    scale = f"{factor:g} x " if factor != 1 else ""
    return (f"{scale}the accuracy preset's tolerance: "
            + ", ".join(f"{n} {factor * preset_tolerance(n):g}" for n in names))


# --- frame helpers -----------------------------------------------------------------------


def cells_with_role(df: pd.DataFrame, role: str) -> pd.DataFrame:
    """The cells whose experiment lists ``role`` (an empty frame when none)."""
    if df.empty or "roles" not in df:
        return df.iloc[0:0]
    return df[df["roles"].apply(lambda roles: role in roles)]


def _ok(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    if df.empty or "kind" not in df or "status" not in df:
        return df.iloc[0:0]
    return df[(df["kind"] == kind) & (df["status"] == "ok")]


def _col(df: pd.DataFrame, name: str, default: Any = np.nan) -> pd.Series:
    return df[name] if name in df else pd.Series(default, index=df.index)


def _accuracy(df: pd.DataFrame) -> pd.Series:
    return _col(df, "opt_accuracy", DEFAULT_ACCURACY).fillna(DEFAULT_ACCURACY).astype(str)


def verified_convex(df: pd.DataFrame) -> pd.DataFrame:
    """The convex cells that finished (status ok) with a verified answer (the suite's
    independent certificate) and a finite objective: the only ones reported as optima."""
    conv = _ok(df, "convex")
    if conv.empty:
        return conv
    conv = conv[_col(conv, "verified", False).fillna(False).astype(bool)]
    return conv[np.isfinite(pd.to_numeric(_col(conv, "objective"), errors="coerce"))]


def compare_to_nonconvex(df: pd.DataFrame, exact_only: bool = False) -> pd.DataFrame:
    """Per (experiment, dataset, model, beta): the verified convex optimum vs SGD/Adam runs.

    Runs are matched to convex cells of the same model: relu2/relu3 runs train the ReLU
    network, gated2 runs the gated network with the program's gates (the runs of every
    pattern seed against the smallest optimum over those seeds, a valid lower bound for each).
    ``margin`` is :func:`relative_margin` of the best run's final objective against the
    convex optimum (negative: a run ended below it); ``tolerance`` is the accuracy preset's
    tolerance of the convex solve.
    """
    conv = verified_convex(df)
    base = _ok(df, "baseline")
    if exact_only and not conv.empty:
        conv = conv[_col(conv, "exact_patterns", False).fillna(False).astype(bool)]
    rows = []
    keys = ["experiment", "dataset", "model", "beta_spec"]
    if conv.empty or base.empty:
        return pd.DataFrame()
    runs_by_key = base.set_index(keys).sort_index()
    for key, group in conv.groupby(keys):
        try:
            runs = runs_by_key.loc[[key]]
        except KeyError:
            continue
        convex = float(group["objective"].min())
        gap = float(_col(group, "relative_gap", 0.0).fillna(0.0).max())
        finals = runs["objective"].astype(float)
        best = float(finals.min())
        rows.append(
            {
                "experiment": key[0],
                "dataset": key[1],
                "model": key[2],
                "beta": float(group["beta"].iloc[0]),
                "beta_spec": key[3],
                "n": int(group["n_train"].iloc[0]),
                "convex_objective": convex,
                "convex_relative_gap": gap,
                "tolerance": max(preset_tolerance(a) for a in _accuracy(group)),
                "accuracy": ", ".join(sorted(set(_accuracy(group)))),
                "groups": int(group["n_patterns"].iloc[0]),
                "runs": int(finals.notna().sum()),
                "best_nonconvex": best,
                "median_nonconvex": float(finals.median()),
                "sgd_runs": int((runs["method"] == "sgd").sum()),
                "adam_runs": int((runs["method"] == "adam").sum()),
                "margin": relative_margin(best, convex),
            }
        )
    return pd.DataFrame(rows)


# --- the claims --------------------------------------------------------------------------


def claim_equivalence(df: pd.DataFrame) -> ClaimResult:
    """Claim 1: the reconstructed network's objective equals the convex optimum."""
    title = "Equivalence"

    def eligible(cells: pd.DataFrame) -> pd.DataFrame:
        if cells.empty:
            return cells
        cells = cells[cells["model"].isin(["relu2", "relu3"])]
        return cells[(cells["model"] == "relu2") | _col(cells, "opt_form", "A").isin(["A", "B"])]

    conv = eligible(verified_convex(df))
    if not conv.empty:
        conv = conv[_col(conv, "nonconvex_objective").notna()]
    attempted = eligible(df[df["kind"] == "convex"] if "kind" in df else df.iloc[0:0])
    unused = len(attempted) - len(conv)
    part = "the reconstructed network's objective equals the convex optimum"
    if conv.empty:
        note = "no verified relu2/relu3 (form A/B) convex cell with a reconstructed network"
        extra = (f" {unused} relu2/relu3 convex cells failed, were not verified or have no "
                 f"reconstructed network." if unused else "")
        return _result("1", title, [ClaimPart(part, None, note)], extra=extra)
    rel = pd.Series(relative_difference(conv["nonconvex_objective"], conv["objective"]),
                    index=conv.index)
    tol = PRESET_FACTOR * _accuracy(conv).map(preset_tolerance)
    within = rel <= tol
    details = conv[
        ["dataset", "model", "method", "beta", "objective", "nonconvex_objective"]
    ].assign(relative_difference=rel, tolerance=tol)
    worst = float(rel.max())
    smallest = float(conv["objective"].abs().min())
    models = ", ".join(f"{m} form A/B" if m == "relu3" else m for m in sorted(set(conv["model"])))
    return _result(
        "1",
        title,
        [ClaimPart(part, bool(within.all()))],
        f"{int(within.sum())}/{len(rel)} verified convex solves ({models}): "
        f"the reconstructed network's non-convex objective matches the convex objective; "
        f"largest |network - convex| / |convex| {worst:.2e} "
        f"(tolerance {_tolerance_text(_accuracy(conv), PRESET_FACTOR)}; "
        f"smallest |convex objective| {smallest:.3g})"
        + (f"; {unused} relu2/relu3 convex cells not counted (failed, not verified or no "
           f"reconstructed network)" if unused else "")
        + ".",
        {
            "cells": len(rel),
            "not_counted": unused,
            "within_tolerance": int(within.sum()),
            "max_relative_difference": worst,
            "tolerance": float(tol.max()),
            "min_abs_objective": smallest,
        },
        details,
    )


GATED_NOTE = (
    " For gated2 the non-convex model is the gated ReLU network whose gates are fixed to the "
    "program's sign patterns (one neuron per gate, trained with weight decay): its global "
    "optimum equals the gated2 convex optimum, so no run can end below it."
)


def gated_note(comp: pd.DataFrame) -> str:
    """:data:`GATED_NOTE` when ``comp`` (rows with a ``model``) has gated2 rows, else ""."""
    if comp.empty or "model" not in comp or not (comp["model"] == "gated2").any():
        return ""
    return GATED_NOTE


def _global_part(comp: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per setting: the allowance below the convex optimum and whether the margin keeps it."""
    allowed = comp["tolerance"] + comp["convex_relative_gap"]
    return allowed, comp["margin"] >= -allowed


def _not_counted(cells: pd.DataFrame, comp: pd.DataFrame) -> str:
    """The settings of ``cells`` with a convex cell that ``comp`` has no row for, as text."""
    keys = ["experiment", "dataset", "model", "beta_spec"]
    if cells.empty or "kind" not in cells:
        return ""
    conv = cells[cells["kind"] == "convex"]
    measured = set() if comp.empty else set(comp[keys].itertuples(index=False, name=None))
    missing = sorted({f"{k[1]} {k[2]} (spec beta {k[3]:g})" for k in conv.groupby(keys).groups
                      if k not in measured})
    if not missing:
        return ""
    return (f" Not counted ({len(missing)} setting(s) without a verified convex solve or a "
            f"finished run): {'; '.join(missing)}.")


def claim_global(df: pd.DataFrame) -> tuple[ClaimResult, ClaimResult]:
    """Claim 2: no SGD/Adam run ends below the convex optimum (a: all patterns; b: sampled)."""
    title_a = "Global optimality (all patterns, tiny data)"
    part_a = "no SGD/Adam run ends below the convex optimum over every pattern"
    cells_a = cells_with_role(df, "global")
    tiny = compare_to_nonconvex(cells_a, exact_only=True)
    if not tiny.empty:
        tiny = tiny[tiny["runs"] > 0]
    if tiny.empty:
        note = "no exact (all patterns) verified convex solve with finished non-convex runs"
        a = _result("2a", title_a, [ClaimPart(part_a, None, note)],
                    extra=_not_counted(cells_a, tiny))
    else:
        allowed, holds = _global_part(tiny)
        tiny = tiny.assign(allowed_below=allowed, holds=holds)
        parts = "; ".join(
            f"{r.dataset} {r.model} beta={r.beta:g}: convex {r.convex_objective:.6g} "
            f"({r.groups} {'atoms' if r.model == 'relu3' else 'patterns'}), best of {r.runs} "
            f"runs {r.best_nonconvex:.6g}"
            for r in tiny.itertuples()
        )
        a = _result(
            "2a",
            title_a,
            [ClaimPart(part_a, bool(holds.all()))],
            f"{int(holds.sum())}/{len(tiny)} settings, {int(tiny['runs'].sum())} SGD/Adam "
            f"runs; smallest relative margin (best run - convex) / |convex| "
            f"{tiny['margin'].min():.2e} (allowed below: "
            f"{_tolerance_text(tiny['accuracy'])}, plus the certified relative gap). {parts}."
            + gated_note(tiny),
            {
                "settings": len(tiny),
                "holding": int(holds.sum()),
                "runs": int(tiny["runs"].sum()),
                "min_margin": float(tiny["margin"].min()),
                "tolerance": float(tiny["tolerance"].max()),
                "max_allowed_below": float(allowed.max()),
            },
            tiny,
            _not_counted(cells_a, tiny),
        )
    title_b = "Convex (sampled patterns + column generation) at or below non-convex runs"
    part_b = "the convex optimum with sampled patterns is at or below the non-convex runs"
    cells_b = cells_with_role(df, "comparison")
    comp = compare_to_nonconvex(cells_b, exact_only=False)
    if not comp.empty:
        comp = comp[comp["runs"] > 0]
    if comp.empty:
        note = "no comparison cells (role 'comparison') with a verified convex solve and runs"
        return a, _result("2b", title_b, [ClaimPart(part_b, None, note)],
                          extra=_not_counted(cells_b, comp))
    allowed, holds = _global_part(comp)
    comp = comp.assign(allowed_below=allowed, holds=holds)
    below = comp[~holds]
    worst = below.sort_values("margin").head(3)
    gated_below = int((below["model"] == "gated2").sum())
    extra = (
        ""
        if below.empty
        else " Above the best run: "
        + "; ".join(
            f"{r.dataset} {r.model} (convex {r.convex_objective:.5g} vs best "
            f"{r.best_nonconvex:.5g}, median {r.median_nonconvex:.5g})"
            for r in worst.itertuples()
        )
        + (" ..." if len(below) > 3 else "")
        + (
            ". An optimum over a subset of patterns is an upper bound on the global optimum "
            "(attained by a real network), not the optimum itself, so this can happen when "
            "sampling and column generation miss the patterns the trained networks use."
            if len(below) > gated_below else "."
        )
        + (
            " A gated2 run below the convex optimum with the same gates contradicts the "
            "certificate (no sampling explains it)." if gated_below else ""
        )
    )
    b = _result(
        "2b",
        title_b,
        [ClaimPart(part_b, bool(holds.all()))],
        f"{int(holds.sum())}/{len(comp)} comparison settings have the convex optimum "
        f"(sampled patterns, refined by column generation where the spec says so) "
        f"at or below the best of {int(comp['runs'].min())}-"
        f"{int(comp['runs'].max())} SGD/Adam runs; relative margins (best run - convex) / "
        f"|convex| from {comp['margin'].min():.2e} to {comp['margin'].max():.2e} (allowed "
        f"below: {_tolerance_text(comp['accuracy'])}, plus the certified relative gap)."
        f"{gated_note(comp)}{extra}",
        {
            "settings": len(comp),
            "holding": int(holds.sum()),
            "min_margin": float(comp["margin"].min()),
            "max_margin": float(comp["margin"].max()),
            "tolerance": float(comp["tolerance"].max()),
        },
        comp,
        _not_counted(cells_b, comp),
    )
    return a, b


def claim_patterns(df: pd.DataFrame) -> ClaimResult:
    """Claim 3: exact enumeration gives Cover's count; the growth in n has degree r - 1."""
    title = "Pattern counts"
    part_count = "exact enumeration reproduces Cover's count"
    part_slope = "the growth in n has degree r - 1"
    arr = _ok(df, "arrangement")
    if arr.empty:
        return _result("3", title, [ClaimPart(part_count, None, "no arrangement cells"),
                                    ClaimPart(part_slope, None, "no arrangement cells")])
    equal = arr["n_patterns"] == arr["cover_count"]
    slopes = []
    for rank, group in arr.groupby("rank"):
        group = group.sort_values("n")
        if group["n"].nunique() < 2:
            continue
        top = group[group["n"] >= np.sort(group["n"].unique())[-3:][0]]  # the 3 largest n
        slope = float(np.polyfit(np.log(top["n"]), np.log(top["n_patterns"]), 1)[0])
        slopes.append(
            {
                "rank": int(rank),
                "slope": slope,
                "expected": int(rank) - 1,
                "ns": ", ".join(str(int(v)) for v in top["n"]),
            }
        )
    slope_df = pd.DataFrame(slopes)
    slope_ok = (
        None
        if slope_df.empty
        else bool(((slope_df["slope"] - slope_df["expected"]).abs() <= SLOPE_TOL).all())
    )
    text = "; ".join(
        f"r={s['rank']}: slope {s['slope']:.3f} (expected {s['expected']}, n = {s['ns']})"
        for s in slopes
    )
    details = arr[["n", "d", "rank", "n_patterns", "cover_count"]].sort_values(["rank", "n"])
    return _result(
        "3",
        title,
        [
            ClaimPart(part_count, bool(equal.all())),
            ClaimPart(part_slope, slope_ok, "no rank enumerated at 2 or more values of n"),
        ],
        f"{int(equal.sum())}/{len(arr)} exact enumerations equal Cover's count C(n, r)"
        + (f"; fitted log-log slopes of the count in n: {text} (tolerance {SLOPE_TOL})"
           if slopes else "")
        + ".",
        {
            "enumerations": len(arr),
            "equal_to_cover": int(equal.sum()),
            "slopes": slopes,
            "slope_tolerance": SLOPE_TOL,
        },
        details,
    )


def claim_sparsity(df: pd.DataFrame) -> ClaimResult:
    """Claim 4: nonzero groups <= n + 1 (two-layer) and falling as beta grows."""
    from scipy.stats import spearmanr

    title = "Sparsity"
    part_bound = "at most n + 1 nonzero groups (two-layer)"
    part_trend = "falls as beta grows"
    conv = verified_convex(df)
    if not conv.empty:
        conv = conv[conv["model"] == "relu2"]
    sweep = verified_convex(cells_with_role(df, "sparsity"))
    trends = []
    for (dataset, model), group in (sweep.groupby(["dataset", "model"]) if not sweep.empty
                                    else ()):
        group = group.groupby("beta")["n_active"].median().sort_index()
        if len(group) < MIN_SWEEP_BETAS:
            continue
        rho = float(spearmanr(group.index, group.values).statistic)
        trends.append(
            {
                "dataset": dataset,
                "model": model,
                "betas": len(group),
                "rho": rho,
                "first": int(group.iloc[0]),
                "last": int(group.iloc[-1]),
                "falls": bool(rho < 0 and group.iloc[-1] < group.iloc[0]),
            }
        )
    trend_part = ClaimPart(
        part_trend,
        all(t["falls"] for t in trends) if trends else None,
        f"no beta sweep: no verified convex cells of role 'sparsity' at {MIN_SWEEP_BETAS} or "
        f"more betas",
    )
    trend_text = "; ".join(
        f"{t['dataset']}: {t['first']} -> {t['last']} nonzero groups over "
        f"{t['betas']} betas (Spearman rho {t['rho']:.2f})"
        for t in trends
    )
    numbers: dict[str, Any] = {"trends": trends}
    if conv.empty:
        bound_part = ClaimPart(part_bound, None, "no verified relu2 convex cell")
        text = "no verified relu2 convex cell"
        details = None
    else:
        bound_ok = conv["n_active"] <= conv["n_train"] + 1
        ratio = float((conv["n_active"] / (conv["n_train"] + 1)).max())
        bound_part = ClaimPart(part_bound, bool(bound_ok.all()))
        text = (f"{int(bound_ok.sum())}/{len(conv)} verified two-layer solves have at most "
                f"n + 1 nonzero groups (largest ratio to n + 1: {ratio:.2f})")
        numbers.update(cells=len(conv), within_bound=int(bound_ok.sum()), max_ratio=ratio)
        details = conv[["dataset", "beta", "n_train", "n_patterns", "n_active"]]
    return _result(
        "4",
        title,
        [bound_part, trend_part],
        text + (f"; {trend_text}" if trend_text else "") + ".",
        numbers,
        details,
    )


def claim_backends(df: pd.DataFrame) -> ClaimResult:
    """Claim 5: every backend reporting success is verified, and objectives agree."""
    title = "Backends agree"
    part_verified = "every backend reporting success returns a verified point"
    part_agree = "their objectives agree to the accuracy requested"
    cells = cells_with_role(df, "backends")
    cells = cells[cells["kind"] == "convex"] if not cells.empty else cells
    if cells.empty:
        note = "no backend comparison cells (role 'backends')"
        return _result("5", title, [ClaimPart(part_verified, None, note),
                                    ClaimPart(part_agree, None, note)])
    ran = cells[cells["status"] == "ok"]
    skipped = sorted(set(cells.loc[cells["status"] != "ok", "method"]))
    reported = ran[_col(ran, "solve_status", "") == "optimal"]
    verified = _col(reported, "verified", False).fillna(False).astype(bool)
    rows = []
    agreeing = reported[verified]
    agreeing = agreeing[np.isfinite(pd.to_numeric(agreeing["objective"], errors="coerce"))]
    for key, group in agreeing.groupby(["dataset", "model", "beta_spec", "seed"]):
        if len(group) < 2:
            continue
        ref = float(group["objective"].median())
        tol = PRESET_FACTOR * max(preset_tolerance(a) for a in _accuracy(group))
        spread = float(np.max(relative_difference(group["objective"], ref)))
        rows.append(
            {
                "dataset": key[0],
                "model": key[1],
                "backends": ", ".join(sorted(group["method"])),
                "objective": ref,
                "relative_spread": spread,
                "tolerance": tol,
                "agree": spread <= tol,
            }
        )
    agree = pd.DataFrame(rows)
    backends = sorted(set(reported["method"]))
    worst = float(agree["relative_spread"].max()) if not agree.empty else float("nan")
    parts = [
        ClaimPart(part_verified, bool(verified.all()) if len(reported) else None,
                  "no backend reported an optimal solve"),
        ClaimPart(part_agree, bool(agree["agree"].all()) if not agree.empty else None,
                  "no setting with two or more verified backends"),
    ]
    text = (
        f"backends {', '.join(backends) or 'none'}: {int(verified.sum())}/{len(reported)} "
        f"solves reported optimal were verified"
        + (
            f"; {int(agree['agree'].sum())}/{len(agree)} settings agree, largest relative "
            f"objective spread max |objective - median| / |median| {worst:.2e} (tolerance "
            f"{_tolerance_text(_accuracy(reported), PRESET_FACTOR)})"
            if not agree.empty
            else ""
        )
        + "."
    )
    not_run = f" Not run (unavailable or failed): {', '.join(skipped)}." if skipped else ""
    return _result(
        "5",
        title,
        parts,
        text,
        {
            "backends": backends,
            "solves": len(reported),
            "verified": int(verified.sum()),
            "settings": len(agree),
            "max_relative_spread": worst,
            "tolerance": float(agree["tolerance"].max()) if not agree.empty else float("nan"),
            "not_run": skipped,
        },
        agree,
        not_run,
    )


# --- the public API ----------------------------------------------------------------------


def evaluate_claims(df: pd.DataFrame) -> list[ClaimResult]:
    """Every claim of MATH.md §5, in order, from a frame of stored cells (may be empty)."""
    a, b = claim_global(df)
    return [claim_equivalence(df), a, b, claim_patterns(df), claim_sparsity(df),
            claim_backends(df)]


def claims_frame(claims: list[ClaimResult]) -> pd.DataFrame:
    """One row per claim: claim, title, verdict, evidence."""
    return pd.DataFrame(
        [{"claim": c.id, "title": c.title, "verdict": c.verdict, "evidence": c.evidence}
         for c in claims],
        columns=["claim", "title", "verdict", "evidence"],
    )


def verdict_counts(claims: list[ClaimResult]) -> dict[str, int]:
    """How many claims got each verdict (every verdict listed, in :data:`VERDICTS` order)."""
    return {v: sum(c.verdict == v for c in claims) for v in VERDICTS}


def claims_summary(claims: list[ClaimResult]) -> str:
    """One line, e.g. ``5 hold, 1 partial, 0 not tested, 0 fail``."""
    counts = verdict_counts(claims)
    return (f"{counts[HOLDS]} hold, {counts[PARTIAL]} partial, {counts[NOT_TESTED]} not tested, "
            f"{counts[FAILS]} fail")


VERDICT_LEGEND = (
    "Verdicts: **holds**: every part of the claim was tested and holds; **partial**: the "
    "parts with evidence hold and the others were not measured by these results (named in "
    "the evidence); **not tested**: no evidence; **fails**: some evidence contradicts the "
    "claim. Missing evidence is never a failure. Thresholds are relative to the objective "
    "itself (no floor) and use the accuracy presets' tolerances."
)

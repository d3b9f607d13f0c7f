"""Verdicts on the claims of MATH.md §5, computed from stored cells, with the numbers.

Each claim is a check that can fail.  A verdict is ``holds`` or ``fails`` when the results
hold cells that test it, and ``not tested`` otherwise.  Tolerances are stated in each claim's
``numbers`` so a reader can judge them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

EQUIVALENCE_RTOL = 1e-5  # |network objective - convex objective| / max(1, |convex|)
GLOBAL_RTOL = 1e-6  # allowance below the convex optimum (plus its certified relative gap)
SLOPE_TOL = 0.1  # |fitted log-log slope - (r - 1)|
AGREE_FACTOR = 10.0  # backends agree to AGREE_FACTOR x the accuracy preset's tolerance
PRESET_TOL = {"low": 1e-4, "medium": 1e-6, "high": 1e-8}


@dataclass(frozen=True)
class Claim:
    """The verdict on one claim and the numbers behind it."""

    number: str
    title: str
    verdict: str  # holds | fails | not tested
    summary: str
    numbers: dict[str, Any] = field(default_factory=dict)
    details: pd.DataFrame | None = field(default=None, compare=False, repr=False)


def _verdict(ok: bool | None) -> str:
    return "not tested" if ok is None else ("holds" if ok else "fails")


def _role(df: pd.DataFrame, role: str) -> pd.DataFrame:
    if df.empty or "roles" not in df:
        return df.iloc[0:0]
    return df[df["roles"].apply(lambda roles: role in roles)]


def _ok(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    if df.empty:
        return df
    return df[(df["kind"] == kind) & (df["status"] == "ok")]


def _col(df: pd.DataFrame, name: str, default: Any = np.nan) -> pd.Series:
    return df[name] if name in df else pd.Series(default, index=df.index)


def _verified_convex(df: pd.DataFrame) -> pd.DataFrame:
    conv = _ok(df, "convex")
    if conv.empty:
        return conv
    return conv[_col(conv, "verified", False).fillna(False).astype(bool)]


def claim_equivalence(df: pd.DataFrame) -> Claim:
    """Claim 1: the reconstructed network's objective equals the convex optimum."""
    conv = _verified_convex(df)
    if not conv.empty:
        conv = conv[conv["model"].isin(["relu2", "relu3"])]
        conv = conv[(conv["model"] == "relu2") | _col(conv, "opt_form", "A").isin(["A", "B"])]
    if conv.empty or "nonconvex_objective" not in conv:
        return Claim("1", "Equivalence", "not tested", "no verified relu2/relu3 convex cell")
    rel = (conv["nonconvex_objective"] - conv["objective"]).abs() / np.maximum(
        1.0, conv["objective"].abs()
    )
    details = conv[
        ["dataset", "model", "method", "beta", "objective", "nonconvex_objective"]
    ].assign(relative_difference=rel)
    ok = bool((rel <= EQUIVALENCE_RTOL).all())
    worst = float(rel.max())
    return Claim(
        "1",
        "Equivalence",
        _verdict(ok),
        f"{int((rel <= EQUIVALENCE_RTOL).sum())}/{len(rel)} verified convex solves "
        f"(relu2, relu3 form A/B): the reconstructed network's non-convex objective matches "
        f"the convex objective; largest relative difference {worst:.2e} "
        f"(tolerance {EQUIVALENCE_RTOL:g}).",
        {"cells": len(rel), "max_relative_difference": worst, "tolerance": EQUIVALENCE_RTOL},
        details,
    )


def _compare(df: pd.DataFrame, exact_only: bool) -> pd.DataFrame:
    """Per (experiment, dataset, model, beta): convex optimum vs the non-convex runs."""
    conv = _verified_convex(df)
    base = _ok(df, "baseline")
    if exact_only and not conv.empty:
        conv = conv[_col(conv, "exact_patterns", False).fillna(False).astype(bool)]
    rows = []
    keys = ["experiment", "dataset", "model", "beta_spec"]
    if conv.empty or base.empty:
        return pd.DataFrame()
    for key, group in conv.groupby(keys):
        runs = base.set_index(keys).sort_index()
        try:
            runs = runs.loc[[key]]
        except KeyError:
            continue
        convex = float(group["objective"].min())
        gap = float(_col(group, "relative_gap", 0.0).fillna(0.0).max())
        finals = runs["objective"].astype(float)
        rows.append(
            {
                "experiment": key[0],
                "dataset": key[1],
                "model": key[2],
                "beta": float(group["beta"].iloc[0]),
                "n": int(group["n_train"].iloc[0]),
                "convex_objective": convex,
                "convex_relative_gap": gap,
                "groups": int(group["n_patterns"].iloc[0]),
                "runs": int(finals.notna().sum()),
                "best_nonconvex": float(finals.min()),
                "median_nonconvex": float(finals.median()),
                "sgd_runs": int((runs["method"] == "sgd").sum()),
                "adam_runs": int((runs["method"] == "adam").sum()),
                "margin": (float(finals.min()) - convex) / max(1.0, abs(convex)),
            }
        )
    return pd.DataFrame(rows)


def claim_global(df: pd.DataFrame) -> tuple[Claim, Claim]:
    """Claim 2: no SGD/Adam run ends below the convex optimum (a: all patterns; b: sampled)."""
    tiny = _compare(_role(df, "global"), exact_only=True)
    if tiny.empty:
        a = Claim(
            "2a",
            "Global optimality (all patterns, tiny data)",
            "not tested",
            "no exact convex solve with non-convex runs",
        )
    else:
        allowed = GLOBAL_RTOL + tiny["convex_relative_gap"]
        ok = bool((tiny["margin"] >= -allowed).all())
        parts = "; ".join(
            f"{r.dataset} {r.model} beta={r.beta:g}: convex {r.convex_objective:.6g} "
            f"({r.groups} {'atoms' if r.model == 'relu3' else 'patterns'}), best of {r.runs} "
            f"runs {r.best_nonconvex:.6g}"
            for r in tiny.itertuples()
        )
        a = Claim(
            "2a",
            "Global optimality (all patterns, tiny data)",
            _verdict(ok),
            f"{len(tiny)} settings, {int(tiny['runs'].sum())} SGD/Adam runs; smallest "
            f"relative margin (best run - convex) {tiny['margin'].min():.2e} "
            f"(allowed below: {GLOBAL_RTOL:g} + certified gap). {parts}.",
            {
                "settings": len(tiny),
                "runs": int(tiny["runs"].sum()),
                "min_margin": float(tiny["margin"].min()),
                "tolerance": GLOBAL_RTOL,
            },
            tiny,
        )
    comp = _compare(_role(df, "comparison"), exact_only=False)
    if comp.empty:
        b = Claim(
            "2b",
            "Convex (sampled patterns + column generation) at or below non-convex runs",
            "not tested",
            "no comparison cells",
        )
    else:
        allowed = GLOBAL_RTOL + comp["convex_relative_gap"]
        holds = comp["margin"] >= -allowed
        below = comp[~holds]
        worst = below.sort_values("margin").head(3)
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
            )
        )
        b = Claim(
            "2b",
            "Convex (sampled patterns + column generation) at or below non-convex runs",
            _verdict(bool(holds.all())),
            f"{int(holds.sum())}/{len(comp)} comparison settings have the convex optimum "
            f"(sampled patterns, refined by column generation where the spec says so) "
            f"at or below the best of {int(comp['runs'].min())}-"
            f"{int(comp['runs'].max())} SGD/Adam runs.{extra}",
            {
                "settings": len(comp),
                "holding": int(holds.sum()),
                "min_margin": float(comp["margin"].min()),
                "max_margin": float(comp["margin"].max()),
            },
            comp,
        )
    return a, b


def claim_patterns(df: pd.DataFrame) -> Claim:
    """Claim 3: exact enumeration gives Cover's count; the growth in n has degree r - 1."""
    arr = _ok(df, "arrangement")
    if arr.empty:
        return Claim("3", "Pattern counts", "not tested", "no arrangement cells")
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
    slope_ok = bool(
        slope_df.empty or ((slope_df["slope"] - slope_df["expected"]).abs() <= SLOPE_TOL).all()
    )
    ok = bool(equal.all()) and slope_ok and not slope_df.empty
    text = "; ".join(
        f"r={s['rank']}: slope {s['slope']:.3f} (expected {s['expected']}, n = {s['ns']})"
        for s in slopes
    )
    details = arr[["n", "d", "rank", "n_patterns", "cover_count"]].sort_values(["rank", "n"])
    return Claim(
        "3",
        "Pattern counts",
        _verdict(ok),
        f"{int(equal.sum())}/{len(arr)} exact enumerations equal Cover's count "
        f"C(n, r); fitted log-log slopes of the count in n: {text} "
        f"(tolerance {SLOPE_TOL}).",
        {
            "enumerations": len(arr),
            "equal_to_cover": int(equal.sum()),
            "slopes": slopes,
            "slope_tolerance": SLOPE_TOL,
        },
        details,
    )


def claim_sparsity(df: pd.DataFrame) -> Claim:
    """Claim 4: nonzero groups <= n + 1 (two-layer) and falling as beta grows."""
    from scipy.stats import spearmanr

    conv = _verified_convex(df)
    if not conv.empty:
        conv = conv[conv["model"] == "relu2"]
    if conv.empty:
        return Claim("4", "Sparsity", "not tested", "no verified relu2 convex cell")
    bound_ok = conv["n_active"] <= conv["n_train"] + 1
    sweep = _verified_convex(_role(df, "sparsity"))
    trends = []
    for (dataset, model), group in sweep.groupby(["dataset", "model"]):
        group = group.groupby("beta")["n_active"].median().sort_index()
        if len(group) < 3:
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
    trend_ok = bool(trends) and all(t["falls"] for t in trends)
    ok = bool(bound_ok.all()) and trend_ok
    text = "; ".join(
        f"{t['dataset']}: {t['first']} -> {t['last']} nonzero groups over "
        f"{t['betas']} betas (Spearman rho {t['rho']:.2f})"
        for t in trends
    )
    ratio = float((conv["n_active"] / (conv["n_train"] + 1)).max())
    return Claim(
        "4",
        "Sparsity",
        _verdict(ok),
        f"{int(bound_ok.sum())}/{len(conv)} verified two-layer solves have at most "
        f"n + 1 nonzero groups (largest ratio to n + 1: {ratio:.2f}); "
        f"{text or 'no beta sweep'}.",
        {
            "cells": len(conv),
            "within_bound": int(bound_ok.sum()),
            "max_ratio": ratio,
            "trends": trends,
        },
        conv[["dataset", "beta", "n_train", "n_patterns", "n_active"]],
    )


def claim_backends(df: pd.DataFrame) -> Claim:
    """Claim 5: every backend reporting success is verified, and objectives agree."""
    cells = _role(df, "backends")
    cells = cells[cells["kind"] == "convex"] if not cells.empty else cells
    if cells.empty:
        return Claim("5", "Backends agree", "not tested", "no backend comparison cells")
    ran = cells[cells["status"] == "ok"]
    skipped = sorted(set(cells.loc[cells["status"] != "ok", "method"]))
    reported = ran[_col(ran, "solve_status", "") == "optimal"]
    verified = _col(reported, "verified", False).fillna(False).astype(bool)
    rows = []
    for key, group in reported[verified].groupby(["dataset", "model", "beta_spec", "seed"]):
        ref = float(group["objective"].median())
        tol = AGREE_FACTOR * PRESET_TOL.get(str(group["opt_accuracy"].iloc[0]), 1e-6)
        spread = float((group["objective"] - ref).abs().max() / max(1.0, abs(ref)))
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
    ok = bool(verified.all()) and not agree.empty and bool(agree["agree"].all())
    backends = sorted(set(reported["method"]))
    return Claim(
        "5",
        "Backends agree",
        _verdict(ok),
        f"backends {', '.join(backends)}: {int(verified.sum())}/{len(reported)} "
        f"solves reported optimal were verified; largest relative objective spread "
        f"{(agree['relative_spread'].max() if not agree.empty else float('nan')):.2e} "
        f"(tolerance {AGREE_FACTOR:g} x the preset's)"
        + (f"; not run (unavailable or failed): {', '.join(skipped)}" if skipped else "")
        + ".",
        {
            "backends": backends,
            "solves": len(reported),
            "verified": int(verified.sum()),
            "not_run": skipped,
        },
        agree,
    )


def evaluate_claims(df: pd.DataFrame) -> list[Claim]:
    """Every claim of MATH.md §5, in order."""
    a, b = claim_global(df)
    return [claim_equivalence(df), a, b, claim_patterns(df), claim_sparsity(df), claim_backends(df)]


def claims_frame(claims: list[Claim]) -> pd.DataFrame:
    """One row per claim: number, claim, verdict, evidence."""
    return pd.DataFrame(
        [
            {"claim": c.number, "title": c.title, "verdict": c.verdict, "evidence": c.summary}
            for c in claims
        ]
    )

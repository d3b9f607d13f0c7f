"""gated2 baseline cells: the packaged specs keep every existing cell id, gated2 cells carry
what rebuilds the convex cell's gates, and ``run_baseline`` trains with exactly those gates."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from convexbench import training
from convexbench.experiments import expand, load_spec, parse_spec
from convexbench.experiments.execute import execute_cell, gated_program, load_data, run_convex

# sha256 of "\n".join(sorted(cell ids)) of expand(load_spec(name)), computed with the code of
# commit 7275b1c (before gated2 had baselines) by
#   ids = sorted(c.cell_id for c in expand(load_spec(name)))
#   hashlib.sha256("\n".join(ids).encode()).hexdigest()
# Adding gated2 baselines must keep each of these ids: only gated2 baseline cells are new.
IDS_BEFORE = {
    "quick": (181, "4e03228ffa6215d516aeedefc63555b86cbddd038fb98194eaa45447ed1c7282"),
    "full": (1069, "4405dd032995aa8ae2bc5c2064277388c9f582d5db4dff78ab44b59a84b50177"),
}
RELU_BASELINE_OPTIONS = {"loss", "iterations", "width", "n_subnetworks", "m1", "form", "lr",
                         "momentum", "batch_size", "init_scale", "data_seed", "time_limit"}


def _is_new(cell) -> bool:
    return cell.kind == "baseline" and cell.model == "gated2"


@pytest.mark.parametrize("name", sorted(IDS_BEFORE))
def test_packaged_specs_keep_every_cell_id(name: str) -> None:
    cells = expand(load_spec(name))
    old = sorted(c.cell_id for c in cells if not _is_new(c))
    count, digest = IDS_BEFORE[name]
    assert len(old) == count
    assert hashlib.sha256("\n".join(old).encode()).hexdigest() == digest
    for cell in cells:  # relu2/relu3 baselines: the options they always had
        if cell.kind == "baseline" and not _is_new(cell):
            assert set(cell.params) <= RELU_BASELINE_OPTIONS, cell.params


def test_full_spec_gets_gated2_baselines_with_the_convex_cells_gates() -> None:
    cells = expand(load_spec("full"))
    new = [c for c in cells if _is_new(c)]
    convex = [c for c in cells if c.kind == "convex" and c.model == "gated2"]
    assert len(convex) == 1 and len(new) == 4  # fashion-mnist-full: 2 SGD + 2 Adam seeds
    assert {(c.method, c.seed) for c in new} == {("sgd", 0), ("sgd", 1), ("adam", 0),
                                                 ("adam", 1)}
    conv = convex[0].params
    for cell in new:
        opts = cell.params
        assert "width" not in opts  # one neuron per gate
        assert opts["patterns"] == conv["patterns"] and opts["pattern_seed"] == convex[0].seed
        assert opts.get("limit") == conv.get("limit")
        assert opts["data_seed"] == conv["data_seed"] and opts["loss"] == conv["loss"]
        assert (cell.experiment, cell.dataset, cell.beta) == (
            convex[0].experiment, convex[0].dataset, convex[0].beta)


def _spec(**experiment) -> dict:
    exp = {"name": "g", "roles": ["comparison"], "datasets": ["synthetic:teacher2,n=30,d=3"],
           "models": ["gated2", "relu2"], "patterns": 10, "seeds": [0, 1],
           "baselines": [{"optimizer": "adam", "seeds": [0, 1], "iterations": 100,
                          "width": 7}]}
    exp.update(experiment)
    return {"name": "s", "experiments": [exp]}


def test_gated2_baselines_per_pattern_seed_none_with_refine_one_family_with_all() -> None:
    cells = expand(parse_spec(_spec()))
    gated = [c for c in cells if _is_new(c)]
    assert sorted((c.params["pattern_seed"], c.seed) for c in gated) == [
        (0, 0), (0, 1), (1, 0), (1, 1)]
    relu = [c for c in cells if c.kind == "baseline" and c.model == "relu2"]
    assert len(relu) == 2 and all(c.params["width"] == 7 for c in relu)
    assert len({c.cell_id for c in cells}) == len(cells)
    refined = expand(parse_spec(_spec(refine=3)))  # the refined gates come from the solve
    assert not [c for c in refined if _is_new(c)]
    assert len([c for c in refined if c.kind == "baseline"]) == 2
    every = expand(parse_spec(_spec(patterns="all")))  # every pattern: seed-free gates
    assert sorted(c.params["pattern_seed"] for c in every if _is_new(c)) == [0, 0]


@pytest.fixture
def _one_blas_thread():
    with threadpool_limits(1):
        yield


@pytest.mark.usefixtures("_one_blas_thread")
def test_run_baseline_trains_with_the_gates_of_the_convex_cell(monkeypatch) -> None:
    spec = _spec(datasets=["synthetic:teacher2,n=40,d=3,task=binary"], models=["gated2"],
                 betas=[0.02], backends=["clarabel"], accuracy="high",
                 baselines=[{"optimizer": "sgd", "seeds": [0], "iterations": 1500},
                            {"optimizer": "adam", "seeds": [0], "iterations": 6000,
                             "lr": 0.03}])
    cells = expand(parse_spec(spec))
    built = []  # the programs run_convex builds
    make = training.make_program

    def recording(*args, **kwargs):
        built.append(make(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(training, "make_program", recording)
    for seed in (0, 1):
        conv = next(c for c in cells if c.kind == "convex" and c.seed == seed)
        record = run_convex(conv)
        assert record["verified"] and record["gap_exact"]
        program = built[-1]
        runs = [c for c in cells if _is_new(c) and c.params["pattern_seed"] == seed]
        assert len(runs) == 2
        ds = load_data(conv.dataset, 0)
        rebuilt = gated_program(runs[0], ds.X_train, ds.y_train, record["beta_effective"])
        np.testing.assert_array_equal(rebuilt.patterns, program.patterns)
        np.testing.assert_array_equal(rebuilt.gates, program.gates)
        lower = record["dual_value"]
        for cell in runs:
            result = execute_cell(cell)
            assert result.status == "ok", result.error
            rec = result.record
            assert rec["width"] == record["n_patterns"]
            assert rec["beta_effective"] == record["beta_effective"]
            assert rec["objective"] >= lower - 1e-10 * abs(lower), (rec["objective"], lower)
            assert rec["best_objective"] <= rec["objective"] + 1e-12
            assert len(rec["trace_objective"]) == len(rec["trace_seconds"]) > 2
            assert 0.5 <= rec["train_accuracy"] <= 1 and 0 <= rec["test_accuracy"] <= 1
            if cell.method == "adam":  # the long Adam run reaches the convex optimum
                assert rec["objective"] <= 1.02 * record["objective"]
    assert not np.array_equal(built[0].patterns, built[1].patterns)  # seeds matter

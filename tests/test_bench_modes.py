"""The bench's real-data instances (``--real``) and regularization paths (``--path``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from convexbench.arrays import lambda_max
from convexbench.bench import native as bench
from convexbench.data import load_dataset
from convexbench.programs.gated2 import GatedRelu2Program
from convexbench.programs.relu2 import Relu2Program
from convexbench.programs.relu3 import Relu3Program

MIRROR = Path(os.environ.get("CONVEXBENCH_DATA_DIR", "/work/shared/data"))


@pytest.fixture
def local_data(monkeypatch):
    """The data mirror in CONVEXBENCH_DATA_DIR (default /work/shared/data); skip without it."""
    if not MIRROR.is_dir():
        pytest.skip(f"no data mirror at {MIRROR}")
    monkeypatch.setenv("CONVEXBENCH_DATA_DIR", str(MIRROR))


def _real(dataset: str, model: str) -> bench.Instance:
    return next(i for i in bench.REAL if i.dataset == dataset and i.model == model)


def test_real_instances_build_from_the_train_split(local_data):
    data = load_dataset("uci:pima", allow_download=False)
    scale = lambda_max(data.X_train, data.y_train)
    for model, kind in (("relu2", Relu2Program), ("gated2", GatedRelu2Program),
                        ("relu3", Relu3Program)):
        inst = bench.at_beta(_real("uci:pima", model), 1e-2)
        assert inst.name.startswith(f"uci:pima {model} ") and inst.name.endswith(" beta=1e-2")
        program, beta = bench.build(inst)
        assert isinstance(program, kind)
        assert (program.n, program.d) == data.X_train.shape == (576, 8)
        np.testing.assert_array_equal(program.X, data.X_train)
        assert beta == pytest.approx(1e-2 * scale, rel=1e-12)
        assert program.beta == pytest.approx(beta, rel=1e-12)
    assert bench.at_beta(_real("uci:pima", "relu2"), 1e-1).name == "uci:pima relu2 P=100 beta=1e-1"


def test_path_sets_beta_on_planted_instances_too():
    inst = bench.Instance("gated2 n=60 d=3 P=10", "gated2", 60, 3, 10)
    (_, beta_default), (_, beta_path) = bench.build(inst), bench.build(bench.at_beta(inst, 1e-3))
    assert beta_path == pytest.approx(beta_default * 1e-3 / bench.BETA_FACTOR, rel=1e-12)
    assert bench._fractions("1e-3, 1e-1,1e-1") == (1e-1, 1e-3)


def test_unavailable_data_is_one_line_and_skipped(offline_data, capsys):
    inst = bench.at_beta(_real("uci:breast-cancer-wisc-diag", "gated2"), 1e-1)
    assert bench.instance_rows(inst, [("native", 60.0)], bench.get_preset("medium")) == []
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"## {inst.name}: skipped, data unavailable") and "\n" not in out


def test_bench_real_path_end_to_end(local_data, capsys):
    assert bench.main(["native", "--real", "--only", "uci:pima gated2", "--path", "1e-1",
                       "--no-conic", "--no-scnn"]) == 0
    out = capsys.readouterr().out
    assert "## uci:pima gated2 P=100 beta=1e-1: n = 576, d = 8" in out
    rows = [line for line in out.splitlines() if line.startswith("uci:pima")]
    assert len(rows) == 1  # one instance, one beta, native only
    assert " native " in rows[0] and "optimal" in rows[0] and "True" in rows[0]


def test_datasets_option_runs_other_sets_and_skips_unknown_names(local_data, capsys):
    """``--datasets`` replaces the three default sets: every model on each named set; an
    unknown UCI name is one skipped line, an unknown family a usage error."""
    insts = bench.real_instances(("uci:energy-y1", "uci:blood"))
    assert [(i.dataset, i.model) for i in insts] == [
        (d, m) for d in ("uci:energy-y1", "uci:blood") for m in ("relu2", "gated2", "relu3")]
    assert insts[2].groups == bench.RELU3_GROUPS
    assert bench.main(["native", "--real", "--datasets", "uci:no-such-set,uci:energy-y1",
                       "--only", "gated2", "--path", "1e-1", "--no-conic", "--no-scnn"]) == 0
    out = capsys.readouterr().out
    assert "## uci:no-such-set gated2 P=100 beta=1e-1: skipped: unknown UCI dataset" in out
    rows = [line for line in out.splitlines() if line.startswith("uci:")]
    assert len(rows) == 1 and rows[0].startswith("uci:energy-y1 gated2")
    assert "optimal" in rows[0] and "True" in rows[0]
    for argv in (["--datasets", "uci:blood"], ["--real", "--datasets", "nope:x"]):
        with pytest.raises(SystemExit) as exc:
            bench.main(["native", *argv])
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--datasets needs --real" in err and "unknown dataset family 'nope'" in err


def test_datasets_option_keeps_the_options_of_each_name():
    """Dataset names carry their options after commas (fashion-mnist:0v6,n=250): a key=value
    item of ``--datasets`` belongs to the name before it."""
    assert bench._names("uci:blood,fold=2,fashion-mnist:0v6,n=250,size=7, uci:pima") == (
        "uci:blood,fold=2", "fashion-mnist:0v6,n=250,size=7", "uci:pima")
    assert bench._names("uci:pima,uci:pima") == ("uci:pima",)


def test_only_matching_no_instance_is_a_usage_error(capsys):
    """``--only`` is one substring: a list or a typo that matches nothing is a one-line usage
    error, not an empty run."""
    with pytest.raises(SystemExit) as exc:
        bench.main(["native", "--quick", "--only", "relu2,gated2", "--no-conic", "--no-scnn"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--only 'relu2,gated2' matches no instance name" in err and "gated2" in err

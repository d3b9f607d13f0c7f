"""Specs, cells, the results store, the runner (resume, interrupt, kill, dask) and claims."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convexbench.analysis.claims import evaluate_claims
from convexbench.errors import UserError
from convexbench.experiments import ResultsStore, expand, load_spec, parse_spec, run_spec
from convexbench.experiments.store import CellResult, frame

SMALL = """
name = "small"
[defaults]
time_limit = 60
[[experiments]]
name = "global2"
roles = ["global"]
datasets = ["synthetic:teacher2,n=10,d=2"]
models = ["relu2"]
betas = [0.02]
patterns = "all"
[[experiments.baselines]]
optimizer = "adam"
seeds = [0, 1, 2]
iterations = 200
width = 10
[[experiments.baselines]]
optimizer = "sgd"
seeds = [0, 1]
iterations = 200
width = 10
[[experiments]]
name = "arrangement"
roles = ["arrangement"]
kind = "arrangement"
ns = [10, 20, 40]
ranks = [2]
"""


@pytest.fixture
def small_spec(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def _ids_once(results: Path, spec_path: Path) -> None:
    rows = ResultsStore(results).rows()
    ids = [r["cell_id"] for r in rows]
    expected = {c.cell_id for c in expand(load_spec(spec_path))}
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]


def test_packaged_specs_load_and_expand() -> None:
    for name in ("quick", "full"):
        cells = expand(load_spec(name))
        assert len({c.cell_id for c in cells}) == len(cells) > 50
    quick = load_spec("quick")
    assert all(not d.startswith("openml:") for e in quick.experiments for d in e.datasets)


def test_spec_validation_errors() -> None:
    with pytest.raises(UserError, match="unknown key"):
        parse_spec({"name": "x", "experiments": [{"name": "a", "datasets": ["u:x"],
                                                   "colour": 1}]})
    with pytest.raises(UserError, match="models"):
        parse_spec({"name": "x", "experiments": [{"name": "a", "datasets": ["uci:blood"],
                                                   "models": ["relu9"]}]})
    with pytest.raises(UserError, match="duplicate"):
        parse_spec({"name": "x", "experiments": [{"name": "a", "datasets": ["uci:blood"]},
                                                  {"name": "a", "datasets": ["uci:blood"]}]})
    with pytest.raises(UserError, match="no spec file"):
        load_spec("no-such-spec")


def test_cell_ids_are_stable(small_spec: Path) -> None:
    first = [c.cell_id for c in expand(load_spec(small_spec))]
    second = [c.cell_id for c in expand(load_spec(small_spec))]
    assert first == second and len(set(first)) == len(first) == 1 + 5 + 3


def test_store_never_duplicates(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    cell = {"experiment": "e", "kind": "convex"}
    assert store.write(cell, CellResult("abc", "ok", {"objective": 1.0}))
    assert not store.write(cell, CellResult("abc", "ok", {"objective": 2.0}))
    assert store.count() == 1 and store.rows()[0]["record"]["objective"] == 1.0


def test_interrupt_then_resume_runs_every_cell_once(small_spec: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    done: list[str] = []

    def stop_after_three(cell, result):
        done.append(cell.cell_id)
        if len(done) == 3:
            raise KeyboardInterrupt

    first = run_spec(small_spec, results, progress=False, on_cell=stop_after_three)
    assert first.interrupted and first.n_run == 3 and not first.complete
    assert ResultsStore(results).count() == 3
    second = run_spec(small_spec, results, jobs=2, progress=False)
    assert not second.interrupted and second.n_skipped == 3 and second.complete
    assert second.n_run == second.n_cells - 3
    _ids_once(results, small_spec)
    third = run_spec(small_spec, results, progress=False)
    assert third.n_run == 0 and third.n_skipped == third.n_cells
    claims = {c.number: c for c in evaluate_claims(frame(results))}
    assert claims["1"].verdict == "holds"
    assert claims["2a"].verdict == "holds", claims["2a"].summary
    assert claims["3"].verdict == "holds", claims["3"].summary
    assert claims["5"].verdict == "not tested"
    # n + 1 bound measured, no beta sweep: missing evidence is "partial", never "fails"
    assert claims["4"].verdict == "partial", claims["4"].summary
    assert "no beta sweep" in claims["4"].evidence
    runs = ResultsStore(results).runs()
    assert len(runs) == 3 and runs[0]["interrupted"] == 1
    assert runs[0]["provenance"]["packages"]["numpy"]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("signum,jobs,started_ignoring", [
    (signal.SIGINT, 2, False), (signal.SIGKILL, 1, False), (signal.SIGTERM, 2, False),
    # a background job of a non-interactive shell starts with SIGINT ignored
    (signal.SIGINT, 1, True),
])
def test_killed_process_resumes(small_spec: Path, tmp_path: Path, signum: int,
                                jobs: int, started_ignoring: bool) -> None:
    results = tmp_path / "results"
    env = {**os.environ, "CONVEXBENCH_TEST_CELL_SLEEP": "0.4"}
    cmd = [sys.executable, "-m", "convexbench", "run", str(small_spec), "--out", str(results),
           "--jobs", str(jobs), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_ignore_sigint if started_ignoring else None)
    deadline = time.time() + 60
    while time.time() < deadline:
        if (results / "results.sqlite").exists() and ResultsStore(results).count() >= 2:
            break
        time.sleep(0.1)
    proc.send_signal(signum)
    proc.communicate(timeout=60)
    stored = ResultsStore(results).count()
    assert 2 <= stored < len(expand(load_spec(small_spec)))
    if signum != signal.SIGKILL:  # a graceful stop: the run is recorded as interrupted
        assert proc.returncode != 0 or ResultsStore(results).runs()[0]["interrupted"] == 1
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    _ids_once(results, small_spec)


def test_dask_executor_with_local_cluster(small_spec: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            summary = run_spec(small_spec, tmp_path / "r", executor="dask", scheduler=client,
                               progress=False)
    assert summary.complete and summary.n_errors == 0
    _ids_once(tmp_path / "r", small_spec)


def test_failed_cell_is_stored_as_error(tmp_path: Path) -> None:
    spec = parse_spec({"name": "bad", "experiments": [
        {"name": "a", "datasets": ["synthetic:teacher2,n=10,d=2"], "patterns": 5,
         "backends": ["no-such-backend"]}]})
    summary = run_spec(spec, tmp_path, progress=False)
    assert summary.n_errors == 1
    row = ResultsStore(tmp_path).rows()[0]
    assert row["status"] == "error" and "no-such-backend" in row["error"]
    again = run_spec(spec, tmp_path, progress=False)
    assert again.n_run == 0
    retried = run_spec(spec, tmp_path, progress=False, retry_errors=True)
    assert retried.n_run == 1 and ResultsStore(tmp_path).count() == 1


def test_run_cli_errors(tmp_path: Path) -> None:
    from convexbench.cli import main

    assert main(["run", "no-such-spec", "--out", str(tmp_path)]) == 2
    assert main(["report", str(tmp_path / "empty")]) == 2


def test_native_beta_sweep_runs_as_a_warm_started_path(tmp_path: Path) -> None:
    """A beta sweep on the native backend: cells in decreasing beta, each (but the first)
    warm-started from the previous beta's solution, every cell certified and stored; a
    resumed run finds nothing left to do."""
    from convexbench.experiments import execute

    execute._PATHS.clear()
    spec = parse_spec({"name": "path", "experiments": [
        {"name": "sweep", "roles": ["sparsity"], "datasets": ["synthetic:teacher2,n=40,d=3"],
         "betas": [0.01, 0.1, 0.03], "patterns": 30, "backends": ["native"]}]})
    assert [c.beta for c in expand(spec)] == [0.1, 0.03, 0.01]
    summary = run_spec(spec, tmp_path, progress=False)
    assert summary.complete and summary.n_errors == 0
    df = frame(tmp_path).sort_values("beta", ascending=False)
    assert df["verified"].astype(bool).all()
    starts = df["warm_start_beta"].tolist()
    assert (starts[0] is None or starts[0] != starts[0]) and starts[1:] == [0.1, 0.03]
    assert run_spec(spec, tmp_path, progress=False).n_run == 0

"""Experiments as data: specs, cells, the results store, provenance and the runner."""

from convexbench.experiments.cells import RunCell, expand
from convexbench.experiments.runner import RunSummary, run_spec
from convexbench.experiments.spec import Spec, load_spec, packaged_specs, parse_spec
from convexbench.experiments.store import CellResult, ResultsStore

__all__ = ["CellResult", "ResultsStore", "RunCell", "RunSummary", "Spec", "expand",
           "load_spec", "packaged_specs", "parse_spec", "run_spec"]

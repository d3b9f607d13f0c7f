"""Sign patterns and atoms: exact enumeration and sampling, counts and times."""

from __future__ import annotations

from convexbench.patterns import enumerate_patterns, sample_patterns
from convexbench.programs.atoms import sample_atoms

from ._common import M1, pin_threads, planted_data

N_SAMPLES = 1000  # random directions (sub-networks for atoms) drawn by the sampled methods


class Patterns:
    """``enumerate_patterns`` (exact) vs ``sample_patterns`` (1000 directions)."""

    params = ([50, 200], [2, 3], ["exact", "sampled"])
    param_names = ["n", "d", "method"]
    number = 1
    repeat = (1, 5, 10.0)
    warmup_time = 0.0
    timeout = 120

    def setup(self, n, d, method):
        pin_threads()
        self.X, _ = planted_data(n, d)

    def _count(self, method) -> int:
        if method == "exact":
            return enumerate_patterns(self.X).n_patterns
        return int(sample_patterns(self.X, N_SAMPLES, seed=0).shape[0])

    def time_patterns(self, n, d, method):
        self._count(method)

    def track_n_patterns(self, n, d, method):
        return self._count(method)

    track_n_patterns.unit = "patterns"


class Atoms:
    """Distinct relu3 atoms read off 1000 random sub-networks of width 2."""

    params = ([50, 200], [5, 10])
    param_names = ["n", "d"]
    number = 1
    repeat = (1, 5, 10.0)
    warmup_time = 0.0

    def setup(self, n, d):
        pin_threads()
        self.X, _ = planted_data(n, d)

    def _count(self) -> int:
        return len(sample_atoms(self.X, N_SAMPLES, M1, seed=0))

    def time_sample_atoms(self, n, d):
        self._count()

    def track_n_atoms(self, n, d):
        return self._count()

    track_n_atoms.unit = "atoms"

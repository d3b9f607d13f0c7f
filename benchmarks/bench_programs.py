"""Program construction (``make_program`` + ``build_cvxpy``) and cvxpy compilation."""

from __future__ import annotations

from convexbench.backends.cvxpy_conic import SOLVERS
from convexbench.programs import Relu3Program, make_program
from convexbench.programs.atoms import sample_atoms

from ._common import BETA, M1, MODELS, backend_available, make, pin_threads, planted_data


class Build:
    """``make_program`` (pattern/atom sampling) then ``build_cvxpy``, before compilation."""

    params = ([100, 200], [5, 10], [100, 1000])
    param_names = ["n", "d", "patterns"]
    number = 1
    repeat = (1, 5, 10.0)
    warmup_time = 0.0
    timeout = 120

    def setup(self, n, d, patterns):
        pin_threads()
        self.X, self.y = planted_data(n, d)

    def _build(self, model, patterns):
        program = make_program(model, self.X, self.y, BETA, patterns=patterns, m1=M1)
        return program.build_cvxpy()

    def time_build_relu2(self, n, d, patterns):
        self._build("relu2", patterns)

    def time_build_gated2(self, n, d, patterns):
        self._build("gated2", patterns)

    def time_build_relu3(self, n, d, patterns):
        self._build("relu3", patterns)


class BuildRelu3Atoms:
    """The relu3 program on exactly ``atoms`` distinct atoms (issue 7: 1000 atoms, n = 200,
    d = 10, m1 = 2 must build in under 2 s before compilation)."""

    params = ([1000], [200], [10], [2])
    param_names = ["atoms", "n", "d", "m1"]
    number = 1
    repeat = (1, 5, 10.0)
    warmup_time = 0.0
    timeout = 120

    def setup(self, atoms, n, d, m1):
        pin_threads()
        self.X, self.y = planted_data(n, d)
        samples = atoms
        while True:
            found = sample_atoms(self.X, samples, m1, seed=0)
            if len(found) >= atoms:
                break
            samples *= 2
        self.atoms = found.take(list(range(atoms)))

    def _build(self):
        return Relu3Program(self.X, self.y, self.atoms, BETA).build_cvxpy()

    def time_build_relu3(self, atoms, n, d, m1):
        self._build()

    def peakmem_build_relu3(self, atoms, n, d, m1):
        self._build()


def _cvxpy_solver(backend: str) -> str:
    if backend not in SOLVERS or not backend_available(backend):
        raise NotImplementedError(f"cvxpy solver {backend} is not available")
    return SOLVERS[backend].cvxpy_name


class Compile:
    """cvxpy compilation of a built program: ``problem.get_problem_data(solver)``.

    Setup builds a fresh cvxpy problem before every timed call (no cvxpy caching)."""

    params = (list(MODELS), [50, 200], ["clarabel", "ecos", "scs"])
    param_names = ["model", "patterns", "backend"]
    number = 1
    repeat = (1, 5, 10.0)
    warmup_time = 0.0
    timeout = 120

    def setup(self, model, patterns, backend):
        pin_threads()
        self.solver = _cvxpy_solver(backend)
        self.model = make(model, 100, 5, patterns).build_cvxpy()

    def time_compile(self, model, patterns, backend):
        self.model.problem.get_problem_data(self.solver)


class CompileMemory:
    """Peak memory of building and compiling a program (200 sampled patterns/atoms)."""

    params = (list(MODELS),)
    param_names = ["model"]
    timeout = 120

    def setup(self, model):
        pin_threads()
        self.program = make(model, 100, 5, 200)

    def peakmem_compile(self, model):
        self.program.build_cvxpy().problem.get_problem_data("CLARABEL")

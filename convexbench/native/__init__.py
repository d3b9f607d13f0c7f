"""convexbench's native solver: working-set column generation with exact cone pricing and
accurate restricted solves (squared loss: a dense primal-dual interior-point method on the
small reduced program, ``ipm.py``, with a warm-started active-set Newton method first for
gated ReLU, ``newton.py``, and Clarabel as a fallback; logistic: proximal Newton with those
solvers, ``logistic.py``; hinge: an interior-point method with the slacks eliminated,
``ipm_hinge.py``, Clarabel for wide working sets); for gated ReLU up to a
few thousand samples, an interior-point method on the whole program in sample space
(``sample_ipm.py``: n x n Newton systems; squared, hinge and logistic losses), which takes
over from the working set as soon as a pricing finds the optimum dense; plus FISTA for
gated ReLU.  Data with more features than samples is solved in the row space of X
(``row_space.py``).

Entry points: :func:`solve_native` (one program), :func:`solve_path` (a decreasing beta path
with warm starts).  The backend wrapper is ``convexbench.backends.native.NativeBackend``.
"""

from convexbench.native.api import solve_native, solve_path, unsupported_reason
from convexbench.native.working_set import NativeOptions, NativeRun

__all__ = ["NativeOptions", "NativeRun", "solve_native", "solve_path",
           "unsupported_reason"]

"""convexbench's native solver: working-set column generation with exact cone pricing and
accurate restricted solves (a dense primal-dual interior-point method on the small reduced
program, ``ipm.py``; Clarabel as a fallback), plus FISTA for gated ReLU.

Entry points: :func:`solve_native` (one program), :func:`solve_path` (a decreasing beta path
with warm starts).  The backend wrapper is ``convexbench.backends.native.NativeBackend``.
"""

from convexbench.native.api import SUPPORTED_LOSSES, solve_native, solve_path, unsupported_reason
from convexbench.native.working_set import NativeOptions, NativeRun

__all__ = ["SUPPORTED_LOSSES", "NativeOptions", "NativeRun", "solve_native", "solve_path",
           "unsupported_reason"]

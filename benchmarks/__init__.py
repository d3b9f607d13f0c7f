"""asv benchmarks of convexbench (see benchmarks/README.md).

Importing this package pins the BLAS/OpenMP thread counts before numpy is loaded, so every
benchmark process runs single-threaded unless ``CONVEXBENCH_BENCH_THREADS`` says otherwise.
"""

import os

_THREADS = os.environ.get("CONVEXBENCH_BENCH_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = _THREADS

"""``python -m convexbench.bench native ...`` (see :mod:`convexbench.bench.native`)."""

import sys

from convexbench.bench.native import main

sys.exit(main())

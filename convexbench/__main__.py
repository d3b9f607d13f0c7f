"""``python -m convexbench``."""

from convexbench.cli import main

raise SystemExit(main())

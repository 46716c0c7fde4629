"""``python -m probapprox``."""

from probapprox.cli import main

raise SystemExit(main())

"""``python -m agent.sim`` = ``scripts/simulate``."""

import sys

from agent.sim.cli import main

sys.exit(main())

"""An accelerated clock: maps wall time to scenario (epoch) time and back.

``sim = sim_start + (wall - wall_start) * speedup``. The simulator writes scenario second
``tau`` at wall time ``wall_start + tau / speedup``; a test maps the wall-clock timestamps the
real sources put on their readings through :meth:`ScaledClock.sim`, so rules see scenario time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ScaledClock:
    sim_start: float  # epoch seconds of scenario second 0
    speedup: float = 1.0
    wall_start: float = field(default_factory=time.time)

    def sim(self, wall: float) -> float:
        return self.sim_start + (wall - self.wall_start) * self.speedup

    def wall(self, sim: float) -> float:
        return self.wall_start + (sim - self.sim_start) / self.speedup

    def now(self) -> float:
        """Scenario epoch time now."""
        return self.sim(time.time())

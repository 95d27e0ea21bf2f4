"""Hypothesis profiles for the parser fuzzers (issue 9 item 3).

``ci`` (default): a short run in the normal test suite (``FUZZ_EXAMPLES`` per property, 200).
``long``: ``scripts/fuzz`` sets ``HYPOTHESIS_PROFILE=long`` and ``FUZZ_EXAMPLES`` from
``--examples``. No example database is written (the suite leaves no files behind).
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
             HealthCheck.function_scoped_fixture]

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=timedelta(seconds=2),  # a parser that hangs on one input fails, it does not stall
    database=None,
    suppress_health_check=_SUPPRESS,
    print_blob=True,
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "1000000")),
    deadline=timedelta(seconds=2),
    database=None,
    suppress_health_check=_SUPPRESS,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

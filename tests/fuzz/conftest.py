"""Hypothesis profiles for the parser fuzzers (issue 9 item 3).

``ci`` (default): a short run in the normal test suite (``FUZZ_EXAMPLES`` per property, 200).
``long``: ``scripts/fuzz`` sets ``HYPOTHESIS_PROFILE=long`` and ``FUZZ_EXAMPLES`` from
``--examples``. No example database is written; hypothesis' caches go to a temporary
directory (the suite leaves no files in the tree).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis caches (constants, not examples) go to a temporary directory, not ./.hypothesis.
_HOME = tempfile.mkdtemp(prefix="hypothesis-")
set_hypothesis_home_dir(_HOME)
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)

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

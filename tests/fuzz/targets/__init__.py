"""Coverage-guided fuzz targets (atheris / libFuzzer), one module per parser.

Each module is a harness: run it as ``python -m tests.fuzz.targets.NAME --work DIR [libFuzzer
flags]`` (``scripts/fuzz --engine atheris`` does, one target at a time). It asserts the same
contract as the parser's hypothesis property in ``tests/fuzz/test_fuzz_*.py`` (it calls that
module's ``check_*`` function), is seeded from the real inputs in the repository, and imports
the agent (and the stand-in cloud) under ``atheris.instrument_imports`` so libFuzzer sees
their coverage. See ``_harness.py`` for the input layout and the work directory.
"""

from __future__ import annotations

# Harness modules, in the order scripts/fuzz runs them; each name is the parser's counter
# name in docs/reliability.md "Fuzzing".
TARGETS: tuple[str, ...] = (
    "nmea", "can_lines", "candump_file", "j1939_decoder", "elm327_reply", "elm327_assemble",
    "at_lines", "at_exchange", "mmcli_json", "config_file", "config_env", "orders",
    "cloud_validators", "cloud_auth",
)

"""Run the tests/fuzz properties with the ``long`` hypothesis profile and print, per property,
the inputs tried and whether it failed (docs/reliability.md "Fuzzing").

The CI suite runs the same properties with the short ``ci`` profile (200 examples each).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class _Recorder:
    """Per test: inputs tried (the fuzz budget counter's delta), duration, outcome."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._before: dict[str, int] = {}
        self._t0 = 0.0

    def _tried(self) -> dict[str, int]:
        mod = sys.modules.get("tests.fuzz.budget")
        return dict(mod.TRIED) if mod is not None else {}

    def pytest_runtest_setup(self, item: Any) -> None:
        self._before = self._tried()
        self._t0 = time.monotonic()

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when != "call" and not (report.when == "setup" and report.failed):
            return
        after = self._tried()
        delta = {k: v - self._before.get(k, 0) for k, v in after.items()
                 if v != self._before.get(k, 0)}
        first = ""
        if report.failed:
            text = str(report.longrepr)
            lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
            first = (lines[0] if lines else text.splitlines()[-1])[:160]
        self.rows.append({"test": report.nodeid.split("::")[-1],
                          "module": report.nodeid.split("::")[0].rsplit("/", 1)[-1],
                          "parser": ",".join(sorted(delta)) or "-",
                          "inputs": sum(delta.values()), "failed": report.failed,
                          "seconds": time.monotonic() - self._t0, "error": first})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=1_000_000,
                    help="max_examples per property (hypothesis stops earlier if a strategy "
                         "runs out of distinct inputs); default 1,000,000")
    ap.add_argument("-k", dest="select", default="", help="pytest -k expression (one parser)")
    args = ap.parse_args()
    os.environ["HYPOTHESIS_PROFILE"] = "long"
    os.environ["FUZZ_EXAMPLES"] = str(args.examples)
    sys.path.insert(0, str(ROOT))
    import pytest

    rec = _Recorder()
    argv = [str(ROOT / "tests" / "fuzz"), "-q", "-p", "no:cacheprovider", "-o", "timeout=0",
            "-W", "ignore::DeprecationWarning", "--no-header", "-rN"]
    if args.select:
        argv += ["-k", args.select]
    t0 = time.monotonic()
    code = pytest.main(argv, plugins=[rec])
    total = time.monotonic() - t0
    print(f"\nfuzz: profile=long max_examples={args.examples} wall={total:.0f}s")
    print(f"{'property':46} {'parser':18} {'inputs':>10} {'seconds':>8}  result")
    for r in rec.rows:
        if r["test"].startswith("test_regression"):
            continue
        result = "FAILED " + r["error"] if r["failed"] else "ok"
        print(f"{r['module'][10:-3] + '::' + r['test'][5:]:46} {r['parser']:18} "
              f"{r['inputs']:>10,} {r['seconds']:>8.1f}  {result}")
    by_parser: dict[str, list[int]] = {}
    for r in rec.rows:
        if r["parser"] != "-":
            agg = by_parser.setdefault(r["parser"], [0, 0])
            agg[0] += r["inputs"]
            agg[1] += int(r["failed"])
    print(f"\n{'parser':18} {'inputs':>10} failures")
    for name, (inputs, failures) in sorted(by_parser.items()):
        print(f"{name:18} {inputs:>10,} {failures}")
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())

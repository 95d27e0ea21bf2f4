"""Parser fuzzing, long setting (docs/reliability.md "Fuzzing"), with either engine.

``--engine hypothesis`` (default): the tests/fuzz properties with the ``long`` hypothesis
profile; prints, per property, the inputs tried and whether it failed. The CI suite runs the
same properties with the short ``ci`` profile (200 examples each).

``--engine atheris``: the coverage-guided harnesses of tests/fuzz/targets, each in its own
process, one at a time (``python -m tests.fuzz.targets.NAME --work DIR -runs=N ...``); prints
per parser the inputs libFuzzer executed (``stat::number_of_executed_units``), the crashes
(artifacts written to ``DIR/crashes``: uncaught exceptions, failed asserts, timeouts, out of
memory) and the wall time; exits 1 on any crash. Logs in ``DIR/logs``. The CI suite runs the
same harnesses for a few thousand inputs each (tests/fuzz/test_fuzz_targets.py).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.targets import TARGETS  # noqa: E402

_EXECUTED = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_DONE = re.compile(r"^#(\d+)\s+DONE", re.MULTILINE)
_PROGRESS = re.compile(r"^#(\d+)\s", re.MULTILINE)


def executed_units(log: str) -> int:
    """Inputs libFuzzer executed, from its final stats (or its last status line)."""
    for pattern in (_EXECUTED, _DONE, _PROGRESS):
        found = pattern.findall(log)
        if found:
            return int(found[-1])
    return 0


def run_target(name: str, work: Path, runs: int, timeout_s: int, max_seconds: int,  # noqa: PLR0917
               extra: list[str]) -> dict[str, Any]:
    """One harness in its own process; its inputs executed, crashes and wall time."""
    crashes = work / "crashes"
    before = set(crashes.glob(f"{name}-*")) if crashes.exists() else set()
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    cmd = [sys.executable, "-m", f"tests.fuzz.targets.{name}", "--work", str(work),
           f"-runs={runs}", f"-timeout={timeout_s}", *extra]
    if max_seconds:
        cmd.append(f"-max_total_time={max_seconds}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.monotonic()
    with log_path.open("w") as log:
        code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.monotonic() - t0
    text = log_path.read_text(errors="replace")
    found = sorted(set(crashes.glob(f"{name}-*")) - before) if crashes.exists() else []
    return {"name": name, "inputs": executed_units(text), "crashes": len(found) or int(code != 0),
            "artifacts": [str(p) for p in found], "seconds": wall, "code": code,
            "log": str(log_path)}


def atheris_main(args: argparse.Namespace) -> int:
    names = [n for n in TARGETS if not args.select or any(
        k.strip() and k.strip() in n for k in args.select.split(","))]
    if not names:
        print(f"fuzz: no target matches {args.select!r}; targets: {', '.join(TARGETS)}",
              file=sys.stderr)
        return 2
    work = Path(args.work).resolve()
    print(f"fuzz: engine=atheris runs={args.runs:,} timeout={args.timeout}s/input "
          f"work={work}", flush=True)
    print(f"{'parser':18} {'inputs':>12} {'crashes':>7} {'seconds':>8}  exec/s", flush=True)
    rows = []
    t0 = time.monotonic()
    for name in names:
        r = run_target(name, work, args.runs, args.timeout, args.max_seconds, args.libfuzzer)
        rows.append(r)
        rate = r["inputs"] / r["seconds"] if r["seconds"] else 0
        note = ""
        if r["crashes"]:
            note = "  CRASH " + (" ".join(r["artifacts"]) or f"exit {r['code']}, {r['log']}")
        print(f"{name:18} {r['inputs']:>12,} {r['crashes']:>7} {r['seconds']:>8.0f}  "
              f"{rate:>6,.0f}{note}", flush=True)
    total = sum(r["inputs"] for r in rows)
    crashed = sum(r["crashes"] for r in rows)
    print(f"{'total':18} {total:>12,} {crashed:>7} {time.monotonic() - t0:>8.0f}", flush=True)
    short = [r["name"] for r in rows if r["inputs"] < args.runs and not r["crashes"]]
    if short:
        print(f"fuzz: under {args.runs:,} inputs (time limit): {', '.join(short)}", flush=True)
    return 1 if crashed else 0


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
    ap.add_argument("--engine", choices=["hypothesis", "atheris"], default="hypothesis")
    ap.add_argument("--examples", type=int, default=1_000_000,
                    help="hypothesis: max_examples per property (hypothesis stops earlier if "
                         "a strategy runs out of distinct inputs); default 1,000,000")
    ap.add_argument("--runs", type=int, default=1_000_000,
                    help="atheris: inputs per target (libFuzzer -runs); default 1,000,000")
    ap.add_argument("--timeout", type=int, default=5,
                    help="atheris: seconds one input may take (a hang is a crash); default 5")
    ap.add_argument("--max-seconds", type=int, default=0,
                    help="atheris: stop a target after this many seconds (0: no limit)")
    ap.add_argument("--work", default=str(ROOT / "var" / "fuzz"),
                    help="atheris: corpus, crash artifacts and logs (default var/fuzz)")
    ap.add_argument("-k", dest="select", default="",
                    help="hypothesis: pytest -k expression; atheris: target names (substring, "
                         f"comma-separated) of: {', '.join(TARGETS)}")
    ap.add_argument("libfuzzer", nargs="*", default=[],
                    help="atheris: more libFuzzer flags, after --, e.g. -- -max_len=512")
    args = ap.parse_args()
    if args.engine == "atheris":
        return atheris_main(args)
    os.environ["HYPOTHESIS_PROFILE"] = "long"
    os.environ["FUZZ_EXAMPLES"] = str(args.examples)
    import pytest

    rec = _Recorder()
    argv = [str(ROOT / "tests" / "fuzz"), "-q", "-p", "no:cacheprovider", "-o", "timeout=0",
            "--ignore", str(ROOT / "tests" / "fuzz" / "test_fuzz_targets.py"),  # atheris CI
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

"""The common part of every atheris harness: seeds, work directory, libFuzzer flags.

``python -m tests.fuzz.targets.NAME --work DIR [libFuzzer flags ...]``:

* the seed corpus (``seeds()`` of the target: real inputs from the repository) is written
  once to ``DIR/corpus/NAME/`` and handed to libFuzzer as its corpus directory (libFuzzer
  adds the new-coverage inputs it finds there, so a later run starts from them);
* crashes, timeouts and out-of-memory inputs go to ``DIR/crashes/NAME-*``
  (``-artifact_prefix``); re-run one with ``python -m tests.fuzz.targets.NAME FILE``;
* defaults unless given: ``-timeout=5`` (seconds per input: a hang is a crash),
  ``-rss_limit_mb=2048``, ``-max_len`` of the target, ``-print_final_stats=1``
  (``stat::number_of_executed_units``, read by ``scripts/fuzz``).

Inputs that carry parameters besides the payload (chunk size, command, key) take them from a
fixed-size header read with ``atheris.FuzzedDataProvider``, so seeds are a header plus a real
sample and libFuzzer mutates both.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[3]
TESTDATA = ROOT.parent / "shared" / "testdata"  # ../shared beside the repo (tests/conftest.py)


def header(data: bytes, size: int) -> tuple[atheris.FuzzedDataProvider, bytes]:
    """The first ``size`` bytes as a FuzzedDataProvider (parameters), the rest (payload)."""
    return atheris.FuzzedDataProvider(data[:size].ljust(size, b"\0")), data[size:]


def _write_seeds(corpus: Path, seeds: Iterable[bytes], max_len: int) -> int:
    corpus.mkdir(parents=True, exist_ok=True)
    n = 0
    for whole in seeds:
        seed = whole[:max_len]
        path = corpus / ("seed-" + hashlib.sha1(seed).hexdigest()[:16])
        if not path.exists():
            path.write_bytes(seed)
        n += 1
    return n


def main(name: str, test_one_input: Callable[[bytes], None], seeds: Callable[[], Iterable[bytes]],
         max_len: int = 4096) -> None:
    logging.disable(logging.CRITICAL)  # parsers log what they drop; the fuzzer wants speed
    argv = list(sys.argv)
    work: Path | None = None
    if "--work" in argv:
        i = argv.index("--work")
        work = Path(argv[i + 1])
        del argv[i : i + 2]
    flags = [a for a in argv[1:] if a.startswith("-")]
    given = {f.split("=", 1)[0] for f in flags}
    defaults = {"-timeout": "5", "-rss_limit_mb": "2048", "-max_len": str(max_len),
                "-print_final_stats": "1"}
    extra = [f"{k}={v}" for k, v in defaults.items() if k not in given]
    if work is not None:
        corpus = work / "corpus" / name
        n = _write_seeds(corpus, seeds(), max_len)
        (work / "crashes").mkdir(parents=True, exist_ok=True)
        if "-artifact_prefix" not in given:
            extra.append(f"-artifact_prefix={work / 'crashes'}/{name}-")
        print(f"fuzz target {name}: {n} seeds in {corpus}", file=sys.stderr, flush=True)
        argv.append(str(corpus))
    atheris.Setup([argv[0], *extra, *argv[1:]], test_one_input)
    atheris.Fuzz()

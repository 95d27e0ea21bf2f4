"""``edge-agent outbox [--config FILE] [--json] [--requeue ID]`` (also ``diag outbox``):
what the outbox holds, lane by lane.

Reads through a read-only connection, so it is safe while the agent runs (WAL readers never
block the writer) and changes nothing: rows in flight stay in flight, nothing is recovered.
``--requeue ID`` puts a dead letter back in line: through the running agent when one answers
(it owns the outbox), else by opening the outbox itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from agent.config import AgentConfig, load_config
from agent.events import Priority
from agent.store import database
from agent.store.api import DeadLetter, OutboxStats
from agent.store.outbox import ReadOnlyOutbox

DEAD_LETTERS_SHOWN = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="TOML config file")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of text")
    parser.add_argument("--requeue", type=int, metavar="ID", default=None,
                        help="send the dead letter with this id again")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.requeue is not None:
        return _requeue(cfg, args.requeue)
    db, stats, letters = _read(cfg)
    if args.json:
        print(json.dumps(_as_json(db, stats, letters), indent=2))
    else:
        print(render(db, stats, letters))
    return 0


def _requeue(cfg: AgentConfig, row_id: int) -> int:
    from agent.diag.status import ask

    answer = ask(cfg, {"cmd": "requeue", "id": row_id})
    if answer is None:  # no agent: the outbox is ours to open (its lock says if not)
        from agent.store.outbox import Outbox

        with Outbox.from_settings(cfg.storage, cfg.device.identity()) as outbox:
            done = outbox.requeue_dead_letter(row_id)
    elif "error" in answer:
        print(f"edge-agent: {answer['error']}")
        return 1
    else:
        done = bool(answer["requeued"])
    print(f"dead letter {row_id}: " + ("requeued" if done else "no such dead letter"))
    return 0 if done else 1


def read_outbox(cfg: AgentConfig) -> dict[str, Any]:
    """The outbox as a JSON-able document (``edge-agent status`` when no agent runs)."""
    return _as_json(*_read(cfg))


def _read(cfg: AgentConfig) -> tuple[Path, OutboxStats, list[DeadLetter]]:
    data_dir = cfg.storage.data_dir
    with ReadOnlyOutbox(data_dir, max_bytes=cfg.storage.max_bytes) as outbox:
        stats = outbox.stats()
        letters = outbox.dead_letters(DEAD_LETTERS_SHOWN)
    return data_dir / database.DB_NAME, stats, letters


def stats_doc(stats: OutboxStats) -> dict[str, Any]:
    """Outbox statistics as JSON, lanes by name (shared with the running agent's status)."""
    doc = dataclasses.asdict(stats)
    doc["pending"] = {_lane(p): n for p, n in sorted(stats.pending.items())}
    doc["evicted"] = {_lane(p): n for p, n in sorted(stats.evicted.items())}
    doc["refused"] = {_lane(p): n for p, n in sorted(stats.refused.items())}
    doc["oldest_pending_ms"] = {_lane(p): n for p, n in sorted(stats.oldest_pending_ms.items())}
    doc["quarantined"] = list(stats.quarantined)
    return doc


def _as_json(db: Path, stats: OutboxStats, letters: list[DeadLetter]) -> dict[str, Any]:
    doc = stats_doc(stats)
    doc["database"] = str(db)
    doc["dead_letter_list"] = [dataclasses.asdict(d) for d in letters]
    return doc


def render(db: Path, stats: OutboxStats, letters: list[DeadLetter]) -> str:
    """The human-readable report (one screen)."""
    out = [f"outbox         {db}", f"next sequence  {stats.next_sequence}", ""]
    now_ms = time.time_ns() // 1_000_000
    out.append(f"{'lane':<14}{'pending':>10}{'evicted':>10}  oldest pending")
    for lane in Priority:
        oldest = stats.oldest_pending_ms.get(lane)
        age = "" if oldest is None else f"  {_age(now_ms - oldest)}"
        out.append(f"{_lane(lane):<14}{stats.pending.get(lane, 0):>10}"
                   f"{stats.evicted.get(lane, 0):>10}{age}")
    out.append(f"{'in flight':<14}{stats.in_flight:>10}")
    out.append("")
    share = 100.0 * stats.used_bytes / stats.max_bytes if stats.max_bytes else 0.0
    out.append(f"stored bytes   {_size(stats.used_bytes)} of the {_size(stats.max_bytes)} cap "
               f"({share:.1f} %); on disk {_size(stats.bytes_on_disk)}")
    flags = []
    if stats.over_cap:
        flags.append("OVER CAP (only alarms left to keep)")
    if stats.disk_full:
        flags.append("DISK FULL (the disk reserve is lent out; new events refused)")
    out.append(f"state          {', '.join(flags) if flags else 'ok'}")
    out.append(f"dead letters   {stats.dead_letters}")
    for d in letters:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(d.failed_ms / 1000))
        out.append(f"  seq {d.sequence_number} {d.ulid} {_lane(d.priority)} {when}: {d.error}")
    if stats.dead_letters > len(letters):
        out.append(f"  ... {stats.dead_letters - len(letters)} older not shown")
    out.append(f"quarantined    {len(stats.quarantined)}")
    out.extend(f"  {name}" for name in stats.quarantined)
    return "\n".join(out)


def _lane(priority: int) -> str:
    try:
        return Priority(priority).name
    except ValueError:
        return str(priority)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _age(ms: int) -> str:
    s = max(0, ms) // 1000
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"

"""Fault campaign: the real agent process killed with SIGKILL at random moments while the
stand-in cloud storms it with 500 / 429 / slow / dropped-connection faults, then an accounting.

``scripts/faults [--kills N] [--seconds S] [--seed N] [--no-sigterm] [--keep DIR]``
(docs/reliability.md, "Fault campaign"). One JSON summary on stdout; exit status 1 when an
event was lost or duplicated, the outbox failed ``PRAGMA integrity_check``, the agent did not
drain or a SIGTERM stop failed.

Accounting (after the agent drained and stopped):

- committed: ``meta.next_seq - 1`` of the outbox (every committed event took one
  ``sequenceNumber`` in the transaction that stored it; a killed transaction takes none);
- at cloud: the cloud store's rows for the device (read-only ``cloud.sqlite3``);
- lost: committed sequence numbers neither at the cloud nor still in the outbox (pending or
  dead-lettered) nor evicted by the byte cap;
- duplicated: one sequence number under two ulids at the cloud (the cloud de-duplicates by
  ulid; ``redeliveries`` counts those, expected after ``drop_after``/kills before the ack);
- gaps: missing numbers in the cloud's ``sequenceNumber``s between their min and max.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for p in (REPO / "scripts", REPO):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import httpx  # noqa: E402
from standin_cloud import CloudConfig, CloudServer  # noqa: E402

from agent.sources.gnss.replay import NmeaPty  # noqa: E402
from agent.sources.gnss.synth import EpochSpec, epoch_sentences  # noqa: E402

DEVICE = "862798050833538"  # the agent's default identity (deviceSource)
CLIENT_ID = "fault-campaign"
CLIENT_SECRET = "Fault-Campaign-Secret-7d2e41"
ADMIN_TOKEN = "fault-campaign-admin-0b6f3c9a"
KINDS = ("500", "429", "slow", "drop", "drop_after")


class Receiver:
    """A 5 Hz GNSS receiver on a pty, driving north: a periodic position every epoch or two."""

    def __init__(self, pty: NmeaPty, speed_mps: float = 30.0) -> None:
        self.pty, self.speed_mps = pty, speed_mps
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        lat, lon = 43.2389, 76.8897
        while not self.stop.wait(0.2):
            spec = EpochSpec(dt.datetime.now(dt.UTC), lat, lon, speed_mps=self.speed_mps,
                             track=0.0)
            for sentence in epoch_sentences(spec, gsv=False):
                with contextlib.suppress(OSError):  # nobody reading between agents
                    self.pty.write(sentence)
            lat += self.speed_mps * 0.2 / 111_320.0

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


class Cloud:
    def __init__(self, data_dir: Path) -> None:
        cfg = CloudConfig(data_dir=data_dir, clients={CLIENT_ID: CLIENT_SECRET},
                          admin_token=ADMIN_TOKEN)
        self.data_dir = data_dir
        self.server = CloudServer(cfg)
        self.http = httpx.Client(headers={"X-Admin-Token": ADMIN_TOKEN}, timeout=10)

    @property
    def url(self) -> str:
        return self.server.url

    def storm(self, kind: str, rnd: random.Random) -> dict[str, Any]:
        rule: dict[str, Any] = {"kind": kind, "count": rnd.randint(3, 30)}
        if kind == "429":
            rule["retry_after"] = round(rnd.uniform(0.1, 1.0), 2)
        elif kind == "slow":
            rule["delay_s"] = round(rnd.uniform(0.3, 2.0), 2)
        self.http.delete(f"{self.url}/admin/faults").raise_for_status()
        self.http.post(f"{self.url}/admin/faults", json=rule).raise_for_status()
        return rule

    def clear(self) -> None:
        self.http.delete(f"{self.url}/admin/faults").raise_for_status()

    def injected(self) -> dict[str, int]:
        r = self.http.get(f"{self.url}/admin/faults")
        r.raise_for_status()
        return dict(r.json()["injected"])

    def rows(self) -> list[tuple[str, int, int]]:
        """(ulid, seq, deliveries) of the device's events, read-only from the cloud's store."""
        db = (self.data_dir / "cloud.sqlite3").resolve()
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            return [(str(u), int(s), int(d)) for u, s, d in conn.execute(
                "SELECT ulid, seq, deliveries FROM events WHERE device_source = ?", (DEVICE,))]
        finally:
            conn.close()


class Outbox:
    """Read-only views of the agent's outbox (safe while it runs or after a SIGKILL)."""

    def __init__(self, data_dir: Path) -> None:
        self.db = (data_dir / "outbox.sqlite3").resolve()

    def _q(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.db.is_file():
            return []
        conn = sqlite3.connect(f"{self.db.as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def integrity(self) -> str:
        rows = self._q("PRAGMA integrity_check")
        return "ok" if not rows else "; ".join(str(r[0]) for r in rows)

    def committed(self) -> int:
        rows = self._q("SELECT value FROM meta WHERE key = 'next_seq'")
        return int(rows[0][0]) - 1 if rows else 0

    def pending(self) -> int:
        rows = self._q("SELECT COUNT(*) FROM events")
        return int(rows[0][0]) if rows else 0

    def held_seqs(self) -> set[int]:
        return {int(s) for (s,) in self._q(
            "SELECT seq FROM events UNION ALL SELECT seq FROM dead_letters")}

    def dead_letters(self) -> int:
        rows = self._q("SELECT COUNT(*) FROM dead_letters")
        return int(rows[0][0]) if rows else 0

    def evicted(self) -> int:
        rows = self._q("SELECT COALESCE(SUM(count), 0) FROM evictions")
        return int(rows[0][0]) if rows else 0


def write_config(work: Path, cloud_url: str, gnss: Path) -> Path:
    cfg = work / "agent.toml"
    cfg.write_text(f"""
[cloud]
url = "{cloud_url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
backoff_initial_s = 0.05
backoff_max_s = 0.5
timeout_s = 5.0

[storage]
data_dir = "{work / 'data'}"

[runtime]
control_socket = "{work / 'ctl.sock'}"

[rules]
tracking_distance_m = 5

[vehicle.gnss]
backend = "serial"
port = "{gnss}"
""")
    return cfg


def run_campaign(kills: int = 10, *, seconds: float | None = None, seed: int | None = None,
                 sigterm: bool = True, work: Path | None = None,
                 progress: Any = None) -> dict[str, Any]:
    """Run one campaign; return the summary (``summary["ok"]`` is the verdict)."""
    seed = random.randrange(2**32) if seed is None else seed
    rnd = random.Random(seed)
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="ea-faults-", dir="/tmp")) if work is None else work
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    log = (work / "agent.log").open("ab")
    outbox = Outbox(work / "data")
    t0 = time.monotonic()
    deadline = None if seconds is None else t0 + seconds
    summary: dict[str, Any] = {"seed": seed, "kills_requested": kills, "work_dir": str(work)}
    proc: subprocess.Popen[bytes] | None = None
    bad_integrity: list[str] = []
    sigterm_runs: list[dict[str, Any]] = []

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(cfg)],
                                stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)

    pty = NmeaPty(link=work / "gnss")
    cloud = Cloud(work / "cloud")
    cloud.server.start()
    try:
        cfg = write_config(work, cloud.url, pty.path)
        with Receiver(pty):
            done = 0
            while done < kills and (deadline is None or time.monotonic() < deadline):
                kind = KINDS[done % len(KINDS)]
                proc = start()
                time.sleep(rnd.uniform(0.0, 0.5))
                cloud.storm(kind, rnd)
                time.sleep(rnd.uniform(0.1, 3.0))  # any moment: start-up, commit, upload, ack
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc = None
                done += 1
                check = outbox.integrity()
                if check != "ok":
                    bad_integrity.append(f"after kill {done}: {check}")
                if progress:
                    progress(f"kill {done} ({kind}) committed={outbox.committed()} "
                             f"pending={outbox.pending()}")
            summary["kills"] = done
            if sigterm:
                for kind in KINDS:
                    with contextlib.suppress(FileNotFoundError):
                        (work / "ctl.sock").unlink()  # stale after a SIGKILL
                    proc = start()
                    # SIGTERM once it is up (its control socket exists): before its handlers
                    # are installed SIGTERM ends it by default disposition, which proves nothing.
                    ready = time.monotonic() + 60
                    while not (work / "ctl.sock").exists() and time.monotonic() < ready:
                        time.sleep(0.05)
                    time.sleep(rnd.uniform(0.2, 1.0))
                    cloud.storm(kind, rnd)
                    time.sleep(rnd.uniform(0.3, 1.5))
                    began = time.monotonic()
                    proc.send_signal(signal.SIGTERM)
                    try:
                        rc = proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        rc = proc.wait()
                    proc = None
                    sigterm_runs.append({"fault": kind, "exit": rc,
                                         "stop_s": round(time.monotonic() - began, 2)})
                    if progress:
                        progress(f"SIGTERM under {kind}: exit {rc}")
            # Drain: no faults, the agent runs until the outbox is empty, then SIGTERM.
            cloud.clear()
            proc = start()
            drain_deadline = time.monotonic() + 60
            time.sleep(1.0)
            while outbox.pending() > 0 and time.monotonic() < drain_deadline:
                time.sleep(0.2)
        # The receiver stopped: no new positions while the agent stops.
        proc.send_signal(signal.SIGTERM)
        try:
            final_rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            final_rc = proc.wait()
        proc = None
        injected = cloud.injected()
        rows = cloud.rows()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        cloud.server.stop()
        cloud.http.close()
        pty.close()
        log.close()

    committed = outbox.committed()
    held = outbox.held_seqs()
    seqs_at_cloud: dict[int, set[str]] = {}
    for ulid, seq, _ in rows:
        seqs_at_cloud.setdefault(seq, set()).add(ulid)
    lost = sorted(s for s in range(1, committed + 1)
                  if s not in seqs_at_cloud and s not in held)
    evicted = outbox.evicted()
    duplicated = sorted(s for s, u in seqs_at_cloud.items() if len(u) > 1)
    gaps = (sorted(set(range(min(seqs_at_cloud), max(seqs_at_cloud) + 1)) - set(seqs_at_cloud))
            if seqs_at_cloud else [])
    integrity = outbox.integrity()
    if integrity != "ok":
        bad_integrity.append(f"final: {integrity}")
    pending = outbox.pending()
    summary.update({
        "seconds": round(time.monotonic() - t0, 1),
        "faults_injected": injected,
        "sigterm": sigterm_runs,
        "final_stop_exit": final_rc,
        "events_committed": committed,
        "events_at_cloud": len(rows),
        "redeliveries_deduplicated_by_cloud": sum(d - 1 for _, _, d in rows),
        "pending_in_outbox": pending,
        "dead_letters": outbox.dead_letters(),
        "evicted": evicted,
        "lost": max(0, len(lost) - evicted),  # evicted by the byte cap: by design
        "lost_seqs": lost[:50],
        "duplicated": len(duplicated),
        "duplicated_seqs": duplicated[:50],
        "sequence_gaps": len(gaps),
        "integrity_checks": summary.get("kills", 0) + 1,
        "integrity": "ok" if not bad_integrity else bad_integrity[:10],
    })
    summary["ok"] = bool(
        summary["lost"] == 0 and not duplicated and not bad_integrity and pending == 0
        and final_rc == 0 and all(r["exit"] == 0 for r in sigterm_runs)
    )
    if own_work and summary["ok"]:
        shutil.rmtree(work, ignore_errors=True)
        summary["work_dir"] = None
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/faults", description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=10, help="SIGKILLs (default 10)")
    ap.add_argument("--seconds", type=float, default=None,
                    help="stop killing after S seconds even if fewer kills were made")
    ap.add_argument("--seed", type=int, default=None, help="random seed (printed)")
    ap.add_argument("--no-sigterm", action="store_true", help="skip SIGTERM under each fault")
    ap.add_argument("--work", type=Path, default=None,
                    help="keep the agent's data, log and cloud here (default: a temp dir, "
                         "removed when the campaign passes)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    if args.kills < 0:
        ap.error("--kills must be >= 0")

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    summary = run_campaign(args.kills, seconds=args.seconds, seed=args.seed,
                           sigterm=not args.no_sigterm, work=args.work,
                           progress=None if args.quiet else progress)
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

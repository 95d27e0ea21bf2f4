"""Fault campaign: the real agent process under faults, then an accounting per phase.

``scripts/faults [--phases kills,orders,sigterm,disk,corrupt] [--kills N] [--seconds S]
[--broker-restarts N] [--seed N] [--work DIR]`` (docs/reliability.md, "Fault campaign").
One JSON summary on stdout; exit status 1 when any phase failed.

Phases:

- ``kills``: SIGKILL at random moments while the stand-in cloud storms the agent with
  500 / 429 / slow / dropped-connection faults, then a drain. Accounting (after the drain):
  committed (``meta.next_seq - 1``), at cloud (the cloud store's rows), lost (committed, neither
  at the cloud nor held by the outbox nor evicted), duplicated (one ``sequenceNumber`` under two
  ulids at the cloud), gaps, ``PRAGMA integrity_check`` after every kill;
- ``orders`` (with ``kills``): a mosquitto of its own on a free port, the cloud's MQTT side,
  signed orders issued while the agent is being killed (and while it is down), the broker
  killed or stopped and restarted ``--broker-restarts`` times (once with its persistence
  wiped). Accounting: orders issued / executed exactly once (one event 13 at the cloud, journal
  and cloud status terminal) / duplicated (two events 13) / missing;
- ``sigterm``: SIGTERM under each fault kind (exit status, stop time);
- ``disk``: the agent's data dir on a small tmpfs (``unshare -rm``; 3 and 12 MiB by default),
  filled to the brim while it runs with the cloud refusing: it must keep running, raise one
  storage-fault event, store every alarm and hardware event (periodic positions may be evicted
  or refused), recover once the space is freed, and deliver everything it committed;
- ``corrupt``: the outbox database damaged between two runs (zero-length, truncated, garbage
  header, a garbage page in the middle, a garbage ``-wal``, unreadable): the agent must start,
  move a corrupt database aside and report it (hardware event 11), keep working and deliver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import re
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

from agent.events import HardwareEventType  # noqa: E402
from agent.runtime.control import request  # noqa: E402
from agent.sim.orders_config import orders_toml  # noqa: E402
from agent.sources.gnss.replay import NmeaPty  # noqa: E402
from agent.sources.gnss.synth import EpochSpec, epoch_sentences  # noqa: E402
from tests.orders.broker import Broker  # noqa: E402  (mosquitto on a free loopback port)

DEVICE = "862798050833538"  # the agent's default identity (deviceSource)
CLIENT_ID = "fault-campaign"
CLIENT_SECRET = "Fault-Campaign-Secret-7d2e41"
ADMIN_TOKEN = "fault-campaign-admin-0b6f3c9a"
KINDS = ("500", "429", "slow", "drop", "drop_after")
PHASES = ("kills", "orders", "sigterm", "disk", "corrupt")
# Orders are signed by the cloud and checked by the agent (docs/orders.md "Signing").
ORDER_KEY = bytes.fromhex("5f0c2b9e41d7a3866e1f09b2c4d8a7e3b1f6052d9c8e7a4b3f2e1d0c9b8a7f60")
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "REJECTED", "EXPIRED"})
ORDER_EXECUTED = int(HardwareEventType.ORDER_EXECUTED)
STORAGE_FAULT = int(HardwareEventType.STORAGE_FAULT)


class Receiver:
    """A 5 Hz GNSS receiver on a pty, driving north: a periodic position every epoch or two.

    ``speeds`` (m/s, one per second, cycled) varies the speed, e.g. for speeding alarms;
    ``pause(s)`` stops the sentences for ``s`` seconds (a GNSS outage)."""

    def __init__(self, pty: NmeaPty, speed_mps: float = 30.0,
                 speeds: tuple[float, ...] | None = None) -> None:
        self.pty, self.speed_mps = pty, speed_mps
        self.speeds = speeds
        self.stop = threading.Event()
        self.paused_until = 0.0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def pause(self, seconds: float) -> None:
        self.paused_until = time.monotonic() + seconds

    def _run(self) -> None:
        lat, lon = 43.2389, 76.8897
        t0 = time.monotonic()
        while not self.stop.wait(0.2):
            speed = self.speed_mps
            if self.speeds:
                speed = self.speeds[int(time.monotonic() - t0) % len(self.speeds)]
            lat += speed * 0.2 / 111_320.0
            if time.monotonic() < self.paused_until:
                continue
            spec = EpochSpec(dt.datetime.now(dt.UTC), lat, lon, speed_mps=speed, track=0.0)
            for sentence in epoch_sentences(spec, gsv=False):
                with contextlib.suppress(OSError):  # nobody reading between agents
                    self.pty.write(sentence)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


class Cloud:
    def __init__(self, data_dir: Path, mqtt_url: str | None = None) -> None:
        cfg = CloudConfig(data_dir=data_dir, clients={CLIENT_ID: CLIENT_SECRET},
                          admin_token=ADMIN_TOKEN, mqtt_url=mqtt_url,
                          mqtt_client_id=f"fault-campaign-cloud-{os.getpid()}",
                          order_key=ORDER_KEY if mqtt_url else None)
        self.data_dir = data_dir
        self.server = CloudServer(cfg)
        self.http = httpx.Client(headers={"X-Admin-Token": ADMIN_TOKEN}, timeout=10)

    def __enter__(self) -> Cloud:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.http.close()

    @property
    def url(self) -> str:
        return self.server.url

    def storm(self, kind: str, rnd: random.Random, count: int | None = None) -> dict[str, Any]:
        rule: dict[str, Any] = {"kind": kind, "count": count or rnd.randint(3, 30)}
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

    def _q(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = (self.data_dir / "cloud.sqlite3").resolve()
        if not db.is_file():
            return []
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def rows(self) -> list[tuple[str, int, int]]:
        """(ulid, seq, deliveries) of the device's events, read-only from the cloud's store."""
        return [(str(u), int(s), int(d)) for u, s, d in self._q(
            "SELECT ulid, seq, deliveries FROM events WHERE device_source = ?", (DEVICE,))]

    def hardware_events(self, kind: int) -> list[tuple[str, int, dict[str, Any]]]:
        """(ulid, seq, hardwareEvent) of the device's hardware events of type ``kind``."""
        found = []
        for ulid, seq, envelope in self._q(
                "SELECT ulid, seq, envelope FROM events WHERE device_source = ? "
                "AND envelope LIKE '%hardwareEvent%'", (DEVICE,)):
            hw = json.loads(envelope).get("hardwareEvent") or {}
            if hw.get("HardwareEventType") == kind:
                found.append((str(ulid), int(seq), hw))
        return found

    def lanes(self) -> dict[str, int]:
        """The device's events at the cloud by outbox lane (``agent.events.Priority``)."""
        out: dict[str, int] = {}
        for (envelope,) in self._q("SELECT envelope FROM events WHERE device_source = ?",
                                   (DEVICE,)):
            lane = lane_of(json.loads(envelope))
            out[lane] = out.get(lane, 0) + 1
        return out

    def order_statuses(self) -> dict[str, str]:
        return {str(u): str(s) for u, s in self._q(
            "SELECT order_ulid, status FROM orders WHERE device_source = ?", (DEVICE,))}

    def order(self, rnd: random.Random) -> str:
        """A harmless, exactly-once-checkable order: a config value, a drivercoach switch or
        the simulated door lock (every one ends SUCCEEDED with an event 13)."""
        dev = f"{self.url}/order/devices/{DEVICE}"
        pick = rnd.randrange(3)
        if pick == 0:
            r = self.http.post(f"{self.url}/order/devices/config", json={
                "devices": [DEVICE],
                "orders": [{"config": "MAX_SPEED_KMH", "value": rnd.randint(80, 120)}]})
            r.raise_for_status()
            return str(r.json()["devices"][0]["successfulOrders"][0]["orderUlid"])
        if pick == 1:
            state = rnd.choice(("ON", "OFF"))
            r = self.http.post(f"{dev}/command/drivercoach/inertial/{state}")
        else:
            r = self.http.post(f"{dev}/command",
                               json={"command": rnd.choice(("LOCKDOOR", "UNLOCKDOOR"))})
        r.raise_for_status()
        return str(r.json()["orderUlid"])


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

    def evicted_by_lane(self) -> dict[int, int]:
        return {int(p): int(n) for p, n in self._q("SELECT priority, count FROM evictions")}

    def journal(self) -> dict[str, str]:
        """orderUlid -> status of the order journal (tables in the outbox's database)."""
        try:
            return {str(u): str(s) for u, s in self._q("SELECT ulid, status FROM order_journal")}
        except sqlite3.OperationalError:  # no journal table: orders never enabled
            return {}


def lane_of(envelope: dict[str, Any]) -> str:
    """The outbox lane (``Priority`` name) an envelope was stored in (agent.events)."""
    if envelope.get("hardwareEvent"):
        return "HARDWARE"
    if envelope.get("visionEvent"):
        return "VISION"
    kind = (envelope.get("telemetryEvent") or {}).get("telemetryEventType")
    return "PERIODIC" if kind == 1 else "TELEMETRY" if kind == 2 else "ALARM"


def write_config(work: Path, cloud_url: str, gnss: Path, *, data_dir: Path | None = None,
                 rules: str = "tracking_distance_m = 5", orders: str = "") -> Path:
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
data_dir = "{data_dir or work / 'data'}"

[runtime]
control_socket = "{work / 'ctl.sock'}"

[rules]
{rules}

[vehicle.gnss]
backend = "serial"
port = "{gnss}"
{orders}
""")
    return cfg


def orders_section(work: Path, broker_url: str) -> str:
    """``[orders]``: the campaign's broker, quick reconnects, signed orders required, the
    simulated actuators, Wi-Fi and reboot keeping their state in ``work``."""
    key_file = work / "order.key"
    key_file.write_text(ORDER_KEY.hex() + "\n")
    key_file.chmod(0o600)
    return orders_toml(work, broker_url, key_file=key_file)


class AgentRunner:
    """Starts ``python -m agent run`` (optionally wrapped, e.g. by nsenter), asks its status."""

    def __init__(self, work: Path, cfg: Path, log: Any, wrap: list[str] | None = None) -> None:
        self.work, self.cfg, self.log, self.wrap = work, cfg, log, wrap or []
        self.sock = work / "ctl.sock"
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), self.env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        with contextlib.suppress(FileNotFoundError):
            self.sock.unlink()  # stale after a SIGKILL
        self.proc = subprocess.Popen(
            [*self.wrap, sys.executable, "-m", "agent", "run", "--config", str(self.cfg)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, env=self.env)
        return self.proc

    def wait_up(self, timeout: float = 60.0) -> bool:
        """Until its control socket exists (its signal handlers are installed by then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sock.exists():
                return True
            if self.proc is not None and self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def status(self) -> dict[str, Any] | None:
        try:
            return asyncio.run(request(self.sock, {"cmd": "status"}, 10.0))
        except (OSError, TimeoutError, ValueError):
            return None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -9

    def kill_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def restart_broker(broker: Broker, how: str) -> None:
    """Stop the broker (``kill``: SIGKILL; ``stop``: SIGTERM; ``wipe``: SIGTERM and its
    persistence deleted: every session and queued message lost) and start it again."""
    if how == "kill" and broker.proc is not None:
        broker.proc.kill()
        broker.proc.wait()
        broker.proc = None
    broker.stop()
    if how == "wipe":
        for f in broker.dir.glob("*.db"):
            f.unlink()
    time.sleep(0.3)
    broker.start()


def run_campaign(kills: int = 10, *, seconds: float | None = None, seed: int | None = None,
                 sigterm: bool = True, work: Path | None = None, progress: Any = None,
                 orders: bool = False, broker_restarts: int = 0) -> dict[str, Any]:
    """Kills (+ orders and broker restarts), SIGTERMs, drain; the summary (``"ok"``)."""
    seed = random.randrange(2**32) if seed is None else seed
    rnd = random.Random(seed)
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="ea-faults-", dir="/tmp")) if work is None else work
    work.mkdir(parents=True, exist_ok=True)
    log = (work / "agent.log").open("ab")
    outbox = Outbox(work / "data")
    t0 = time.monotonic()
    deadline = None if seconds is None else t0 + seconds
    summary: dict[str, Any] = {"seed": seed, "kills_requested": kills, "work_dir": str(work)}
    bad_integrity: list[str] = []
    sigterm_runs: list[dict[str, Any]] = []
    issued: list[str] = []
    order_errors: list[str] = []
    restarts: list[str] = []
    broker: Broker | None = None
    if orders:
        broker = Broker(work / "mqtt")
        broker.start()
    restart_at = {round((k + 1) * kills / (broker_restarts + 1)) for k in range(broker_restarts)}
    ways = ["wipe", "kill", "stop"]

    def order() -> None:
        try:
            issued.append(cloud.order(rnd))
        except httpx.HTTPError as exc:
            order_errors.append(str(exc))

    def nap(total: float) -> None:
        """Sleep ``total`` s; with orders, issue 0-3 of them at random moments meanwhile."""
        n = rnd.randint(0, 3) if orders else 0
        cuts = sorted(rnd.uniform(0, total) for _ in range(n))
        last = 0.0
        for cut in cuts:
            time.sleep(cut - last)
            order()
            last = cut
        time.sleep(total - last)

    pty = NmeaPty(link=work / "gnss")
    cloud = Cloud(work / "cloud", broker.url if broker else None)
    cloud.server.start()
    runner = AgentRunner(work, work / "agent.toml", log)
    try:
        write_config(work, cloud.url, pty.path,
                     orders=orders_section(work, broker.url) if broker else "")
        with Receiver(pty):
            done = 0
            while done < kills and (deadline is None or time.monotonic() < deadline):
                kind = KINDS[done % len(KINDS)]
                runner.start()
                time.sleep(rnd.uniform(0.0, 0.5))
                cloud.storm(kind, rnd)
                nap(rnd.uniform(0.1, 3.0))  # any moment: start-up, commit, upload, ack, order
                runner.stop(signal.SIGKILL)
                done += 1
                check = outbox.integrity()
                if check != "ok":
                    bad_integrity.append(f"after kill {done}: {check}")
                if orders and rnd.random() < 0.3:
                    order()  # while the agent is down
                if broker is not None and done in restart_at:
                    how = ways[len(restarts) % len(ways)]
                    restart_broker(broker, how)
                    restarts.append(how)
                if progress:
                    progress(f"kill {done} ({kind}) committed={outbox.committed()} "
                             f"pending={outbox.pending()} orders={len(issued)}"
                             + (f" broker {restarts[-1]}" if done in restart_at else ""))
            summary["kills"] = done
            if sigterm:
                for kind in KINDS:
                    runner.start()
                    # SIGTERM once it is up (its control socket exists): before its handlers
                    # are installed SIGTERM ends it by default disposition, which proves nothing.
                    runner.wait_up()
                    time.sleep(rnd.uniform(0.2, 1.0))
                    cloud.storm(kind, rnd)
                    time.sleep(rnd.uniform(0.3, 1.5))
                    began = time.monotonic()
                    rc = runner.stop(signal.SIGTERM)
                    sigterm_runs.append({"fault": kind, "exit": rc,
                                         "stop_s": round(time.monotonic() - began, 2)})
                    if progress:
                        progress(f"SIGTERM under {kind}: exit {rc}")
            # Drain: no faults, the agent runs until the outbox is empty (and every order is
            # final at the cloud), then SIGTERM.
            cloud.clear()
            runner.start()
            drain_deadline = time.monotonic() + (120 if orders else 60)
            if orders:  # and a few to the agent as it comes up and runs
                nap(1.0)
                order()
            time.sleep(1.0)
            while time.monotonic() < drain_deadline:
                open_orders = [u for u, s in cloud.order_statuses().items()
                               if s not in TERMINAL]
                if outbox.pending() == 0 and not open_orders:
                    break
                time.sleep(0.2)
            if orders:
                time.sleep(1.0)  # the last statuses and events 13 settle
                while outbox.pending() > 0 and time.monotonic() < drain_deadline:
                    time.sleep(0.2)
        # The receiver stopped: no new positions while the agent stops.
        final_rc = runner.stop(signal.SIGTERM)
        injected = cloud.injected()
        rows = cloud.rows()
        statuses = cloud.order_statuses()
        executed = cloud.hardware_events(ORDER_EXECUTED)
    finally:
        runner.kill_quietly()
        cloud.server.stop()
        cloud.http.close()
        pty.close()
        log.close()
        if broker is not None:
            broker.stop()

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
    ok = bool(
        summary["lost"] == 0 and not duplicated and not bad_integrity and pending == 0
        and final_rc == 0 and all(r["exit"] == 0 for r in sigterm_runs)
    )
    if orders:
        summary["orders"] = account_orders(issued, statuses, outbox.journal(), executed,
                                           restarts=restarts, errors=order_errors)
        ok = ok and summary["orders"]["ok"]
    summary["ok"] = ok
    if own_work and summary["ok"]:
        shutil.rmtree(work, ignore_errors=True)
        summary["work_dir"] = None
    return summary


def account_orders(issued: list[str], at_cloud: dict[str, str], journal: dict[str, str],
                   executed: list[tuple[str, int, dict[str, Any]]], *, restarts: list[str],
                   errors: list[str]) -> dict[str, Any]:
    """Each issued order: its events 13 at the cloud (by ``OriginalUlid``, distinct event
    ulids), its status at the cloud and in the device's journal."""
    events: dict[str, set[str]] = {}
    for ulid, _, hw in executed:
        events.setdefault(str(hw.get("OriginalUlid")), set()).add(ulid)
    once = [u for u in issued if len(events.get(u, ())) == 1
            and at_cloud.get(u) in TERMINAL and journal.get(u) == at_cloud.get(u)]
    duplicated = [u for u in issued if len(events.get(u, ())) > 1]
    missing = [u for u in issued if u not in events]
    mismatched = {u: [at_cloud.get(u), journal.get(u)] for u in issued
                  if at_cloud.get(u) != journal.get(u) or at_cloud.get(u) not in TERMINAL}
    statuses: dict[str, int] = {}
    for u in issued:
        statuses[str(at_cloud.get(u))] = statuses.get(str(at_cloud.get(u)), 0) + 1
    unknown = sorted(set(events) - set(issued))
    return {
        "issued": len(issued),
        "executed_exactly_once": len(once),
        "duplicated": len(duplicated),
        "duplicated_orders": duplicated[:20],
        "missing": len(missing),
        "missing_orders": missing[:20],
        "status_at_cloud": statuses,
        "cloud_and_journal_disagree": dict(list(mismatched.items())[:20]),
        "events_13_for_orders_not_issued": len(unknown),
        "broker_restarts": restarts,
        "issue_errors": errors[:10],
        "ok": bool(issued) and len(once) == len(issued) and not duplicated and not missing
        and not mismatched and not unknown and not errors,
    }


# --- full disk and tiny partitions ------------------------------------------------------------

# Speeding alarms (ALARM lane) every few seconds from the receiver's speed pattern, GNSS-lost
# alarms from its pauses, a periodic position every epoch.
DISK_RULES = """tracking_distance_m = 1
speeding_min_duration_s = 1
speeding_end_duration_s = 1
gnss_lost_after_s = 1
gnss_restored_after_s = 0.5"""
DISK_SPEEDS = (30.0, 30.0, 30.0, 12.0, 12.0)  # 108 km/h, then 43 km/h: MAX_SPEED_KMH is 90


def tmpfs_unavailable() -> str | None:
    """Why a private tmpfs cannot be mounted here (None: it can)."""
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"no {tool}"
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, text=True,
                           check=False)
    return None if probe.returncode == 0 else f"unshare -rm: {probe.stderr.strip()[:200]}"


class Tmpfs:
    """A tmpfs of ``size_mib`` on ``mount``, seen only inside a private user+mount namespace
    held by a ``sleep`` process. The agent runs inside it (``wrap``); the campaign reaches the
    files through ``/proc/<holder>/root`` (``outside``)."""

    def __init__(self, mount: Path, size_mib: int) -> None:
        mount.mkdir(parents=True, exist_ok=True)
        self.mount = mount
        self.proc = subprocess.Popen(
            ["unshare", "-rm", "sh", "-c",
             f'mount -t tmpfs -o size={size_mib}m tmpfs "{mount}" && echo ready '
             "&& exec sleep 86400"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            self.proc.wait()
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise RuntimeError(f"cannot mount a tmpfs: {err.strip()}")

    def outside(self, path: Path) -> Path:
        return Path(f"/proc/{self.proc.pid}/root") / path.relative_to("/")

    @property
    def wrap(self) -> list[str]:
        return ["nsenter", "-t", str(self.proc.pid), "-U", "-m", "--preserve-credentials",
                f"--wd={REPO}", "--"]

    def free_bytes(self) -> int:
        st = os.statvfs(self.outside(self.mount))
        return st.f_bavail * st.f_frsize

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


def fill_to_the_brim(path: Path) -> int:
    """Write ``path`` until the filesystem says ENOSPC (64 KiB, then 4 KiB, then 512 B)."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 512):
            block = os.urandom(size)
            while True:
                try:
                    n = os.write(fd, block)
                except OSError:
                    break
                written += n
                if n < size:
                    break
    finally:
        os.close(fd)
    return written


def copy_out(src_dir: Path, dst_dir: Path) -> None:
    """The (stopped) agent's database, -wal and -shm, out of the namespace for reading."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        src = src_dir / f"outbox.sqlite3{suffix}"
        if src.exists():
            shutil.copyfile(src, dst_dir / src.name)


def delivery(outbox: Outbox, cloud: Cloud) -> dict[str, Any]:
    """Committed vs at the cloud for one run (the agent stopped)."""
    rows = cloud.rows()
    seqs: dict[int, set[str]] = {}
    for ulid, seq, _ in rows:
        seqs.setdefault(seq, set()).add(ulid)
    committed = outbox.committed()
    held = outbox.held_seqs()
    first = min(seqs) if seqs else committed + 1  # nothing delivered: nothing to compare
    missing = [s for s in range(first, committed + 1) if s not in seqs and s not in held]
    evicted = outbox.evicted()
    return {
        "events_committed": committed,
        "events_at_cloud": len(rows),
        "pending_in_outbox": outbox.pending(),
        "evicted_by_lane": {_lane_name(p): n for p, n in outbox.evicted_by_lane().items()},
        "lost": max(0, len(missing) - evicted),
        "duplicated": sum(1 for u in seqs.values() if len(u) > 1),
        "integrity": outbox.integrity(),
    }


def _lane_name(priority: int) -> str:
    from agent.events import Priority

    try:
        return Priority(priority).name
    except ValueError:
        return str(priority)


def disk_case(work: Path, size_mib: int, rnd: random.Random, full_s: float, *,
              pile_up: bool = True, progress: Any = None) -> dict[str, Any]:
    """The agent's data dir on a ``size_mib`` tmpfs: run, cloud refusing (``pile_up``: for
    0.8 ``full_s`` first, so positions are pending when the disk fills (enough for the alarms
    of ``full_s``); else filled at once, with an empty outbox), fill the partition to the
    brim while it runs (alarms, positions, a GNSS outage meanwhile), free the space, let it
    recover and drain, SIGTERM; then the accounting."""
    work.mkdir(parents=True, exist_ok=True)
    fs = Tmpfs(work / "mnt", size_mib)
    data = fs.mount / "data"
    found: dict[str, Any] = {"partition_mib": size_mib, "positions_pending_when_filled": pile_up}
    log = (work / "agent.log").open("ab")
    pty = NmeaPty(link=work / "gnss")
    runner = AgentRunner(work, work / "agent.toml", log, wrap=fs.wrap)
    down_while: list[str] = []
    try:
        with Cloud(work / "cloud") as cloud, Receiver(pty, speeds=DISK_SPEEDS) as rx:
            write_config(work, cloud.url, pty.path, data_dir=data, rules=DISK_RULES)
            runner.start()
            found["started"] = runner.wait_up()
            if not found["started"]:
                raise RuntimeError(f"the agent did not start: see {work / 'agent.log'}")
            time.sleep(3.0)
            st = runner.status() or {}
            found["free_bytes_running"] = fs.free_bytes()
            found["committed_before_full"] = (st.get("outbox") or {}).get("next_sequence", 1) - 1
            cloud.storm("500", rnd, count=10**9)  # nothing leaves: positions pile up
            time.sleep(max(5.0, 0.8 * full_s) if pile_up else 0.2)
            found["filler_bytes"] = fill_to_the_brim(fs.outside(fs.mount / "filler"))
            doc = (runner.status() or {}).get("outbox") or {}
            found["pending_when_filled"] = doc.get("pending", {})
            if progress:
                progress(f"disk {size_mib} MiB: filled {found['filler_bytes']} bytes to the brim")
            seen_full = False
            refused: dict[str, int] = {}
            evicted: dict[str, int] = {}
            episodes = 0
            periodic_left = 10**9
            most_in_flight = 0
            began = time.monotonic()
            paused = False
            while time.monotonic() - began < full_s:
                time.sleep(0.5)
                if not paused and time.monotonic() - began > full_s / 3:
                    rx.pause(3.0)  # GNSS lost + restored alarms while the disk is full
                    paused = True
                if not runner.alive():
                    down_while.append("exited while the disk was full")
                    break
                doc = (runner.status() or {}).get("outbox") or {}
                if doc.get("disk_full"):
                    seen_full = True
                    refused, evicted = doc.get("refused", {}), doc.get("evicted", {})
                    episodes = max(episodes, int(doc.get("disk_full_episodes", 0)))
                    periodic_left = min(periodic_left, doc.get("pending", {}).get("PERIODIC", 0))
                    most_in_flight = max(most_in_flight, int(doc.get("in_flight", 0)))
            found.update({"disk_full_seen": seen_full, "refused_by_lane": refused,
                          "most_in_flight_while_full": most_in_flight,
                          "fewest_periodic_pending_while_full": periodic_left,
                          "evicted_by_lane_while_full": evicted, "episodes": episodes,
                          "alive_while_full": runner.alive()})
            # Free the space and let the cloud take everything again.
            fs.outside(fs.mount / "filler").unlink()
            cloud.clear()
            freed = time.monotonic()
            recovered = None
            drained = False
            while time.monotonic() - freed < 90 and runner.alive():
                doc = (runner.status() or {}).get("outbox") or {}
                if recovered is None and doc and not doc.get("disk_full"):
                    recovered = round(time.monotonic() - freed, 1)
                if (recovered is not None and doc and not any(doc.get("pending", {}).values())
                        and not doc.get("in_flight")):
                    drained = True
                    break
                time.sleep(0.5)
            found["recovered_after_s"] = recovered
            found["drained"] = drained
            committed_at_recovery = ((runner.status() or {}).get("outbox") or {}).get(
                "next_sequence", 1) - 1
            time.sleep(2.0)  # positions stored again after the recovery
            rx.stop.set()
            time.sleep(0.3)
            committed_later = ((runner.status() or {}).get("outbox") or {}).get(
                "next_sequence", 1) - 1
            found["stored_after_recovery"] = committed_later - committed_at_recovery
            found["alive_at_end"] = runner.alive()
            found["stop_exit"] = runner.stop(signal.SIGTERM)
            copy_out(fs.outside(data), work / "outbox-copy")
            outbox = Outbox(work / "outbox-copy")
            found.update(delivery(outbox, cloud))
            faults = cloud.hardware_events(STORAGE_FAULT)
            found["storage_fault_events"] = [hw.get("Details", "") for _, _, hw in faults][:5]
            found["at_cloud_by_lane"] = cloud.lanes()
    finally:
        runner.kill_quietly()
        pty.close()
        log.close()
        fs.close()
    # With positions pending, alarms and hardware events evict them and are never refused, and
    # the storage-fault event reaches the cloud. With nothing below them left to evict, the
    # outbox keeps the room lent to the uplink instead (docs/outbox.md): refusals and hardware
    # evictions are then reported, not failures.
    kept = pile_up and not found["refused_by_lane"].get("ALARM") and not found[
        "refused_by_lane"].get("HARDWARE") and bool(found.get("storage_fault_events"))
    found["ok"] = bool(
        found.get("started") and found.get("disk_full_seen") and not down_while
        and found.get("alive_while_full") and found.get("alive_at_end")
        and (kept or not pile_up) and found.get("recovered_after_s") is not None
        and found.get("drained") and found.get("stored_after_recovery", 0) > 0
        and found.get("stop_exit") == 0 and found.get("lost") == 0
        and found.get("duplicated") == 0 and found.get("integrity") == "ok"
    )
    if down_while:
        found["failures"] = down_while
    return found


DISK_CASES = ("3MiB", "12MiB", "3MiB-empty")


def run_disk_phase(work: Path, cases: tuple[str, ...] = DISK_CASES, *, full_s: float = 10.0,
                   seed: int = 0, progress: Any = None) -> dict[str, Any]:
    """``cases``: ``<N>MiB`` (positions pending when the partition fills) or ``<N>MiB-empty``
    (filled at once: nothing below the alarms to evict)."""
    why = tmpfs_unavailable()
    if why is not None:
        return {"skipped": f"no private tmpfs on this machine ({why})", "ok": True}
    rnd = random.Random(seed)
    out: dict[str, Any] = {}
    for name in cases:
        size = int(name.split("MiB")[0])
        out[name] = disk_case(work / name, size, rnd, full_s, pile_up=not name.endswith("-empty"),
                              progress=progress)
        if progress:
            progress(f"disk {name}: {json.dumps(out[name])}")
    cases_ok = all(c["ok"] for c in out.values())
    return {"cases": out, "ok": cases_ok}


# --- corrupt database at start-up -------------------------------------------------------------

CORRUPTIONS = ("zero_length", "truncated", "garbage_header", "garbage_page", "garbage_wal",
               "garbage_shm", "unreadable")
# Whether the agent must move something aside and report it with hardware event 11: the
# database, or a garbage -wal alone (the database kept).
QUARANTINE_EXPECTED = {"zero_length": False, "truncated": True, "garbage_header": True,
                       "garbage_page": True, "garbage_wal": True, "garbage_shm": False,
                       "unreadable": True}
# Damage to the -wal/-shm is done to what a SIGKILL left (the commits still in the -wal);
# damage to the database file to a checkpointed copy (everything in the main file).
ON_KILLED = frozenset({"garbage_wal", "garbage_shm"})


def corrupt(db: Path, how: str, rnd: random.Random) -> str:
    """Damage the (stopped) agent's database; a line saying what was done."""
    size = db.stat().st_size
    page = 4096
    if how == "zero_length":
        db.write_bytes(b"")
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        return f"{size} -> 0 bytes"
    if how == "truncated":
        keep = size * 2 // 3 + 123  # not on a page boundary
        os.truncate(db, keep)
        return f"{size} -> {keep} bytes"
    if how == "garbage_header":
        with db.open("r+b") as f:
            f.write(rnd.randbytes(100))
        return "first 100 bytes random"
    if how == "garbage_page":
        pages = size // page
        n = max(2, pages // 2)
        with db.open("r+b") as f:
            f.seek(n * page)
            f.write(rnd.randbytes(page))
        return f"page {n + 1} of {pages} random"
    if how in ("garbage_wal", "garbage_shm"):
        suffix = how[len("garbage_"):]
        target = Path(f"{db}-{suffix}")
        was = target.stat().st_size if target.exists() else 0
        target.write_bytes(rnd.randbytes(was or 32 * 1024))
        return f"-{suffix} of {was} bytes overwritten with random bytes"
    if how == "unreadable":
        db.chmod(0)
        return "mode 000"
    raise ValueError(how)


def corrupt_case(work: Path, base: Path, how: str, rnd: random.Random, *, run_s: float,
                 before: dict[str, Any]) -> dict[str, Any]:
    """Start the agent on a damaged copy of ``base`` (a data dir), with a cloud of its own."""
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    shutil.copytree(base, data, dirs_exist_ok=True)
    found: dict[str, Any] = {"damage": corrupt(data / "outbox.sqlite3", how, rnd)}
    wrap: list[str] = []
    if how == "unreadable" and os.geteuid() == 0:
        # Root reads a mode-000 file anyway: the agent runs as "nobody" in a user namespace of
        # its own, where root's files look like its own (owner permissions apply, 000 denies).
        wrap = ["unshare", "-U", "--map-user=65534", "--map-group=65534", "--"]
        found["run_as"] = "uid 65534 in a user namespace owning the files"
    log = (work / "agent.log").open("ab")
    pty = NmeaPty(link=work / "gnss")
    runner = AgentRunner(work, work / "agent.toml", log, wrap=wrap)
    try:
        with Cloud(work / "cloud") as cloud, Receiver(pty):
            write_config(work, cloud.url, pty.path, data_dir=data)
            runner.start()
            found["started"] = runner.wait_up()
            time.sleep(run_s)
            st = runner.status() or {}
            found["quarantined"] = (st.get("outbox") or {}).get("quarantined", [])
            found["alive"] = runner.alive()
            found["stop_exit"] = runner.stop(signal.SIGTERM)
            found.update(delivery(Outbox(data), cloud))
            rows = cloud.rows()
            new = sorted(s for u, s, _ in rows if u not in before["ulids"])
            found["earlier_pending_delivered"] = sum(1 for u, _, _ in rows
                                                     if u in before["pending_ulids"])
            found["first_new_seq"] = new[0] if new else None
            found["sequence_continued"] = bool(new) and new[0] > before["committed"]
            found["storage_fault_events"] = [
                hw.get("Details", "") for _, _, hw in cloud.hardware_events(STORAGE_FAULT)][:3]
    finally:
        runner.kill_quietly()
        pty.close()
        log.close()
    expect = QUARANTINE_EXPECTED[how]
    intact = not expect and how != "zero_length"  # the data must all be there
    found["quarantine_expected"] = expect
    found["ok"] = bool(
        found.get("started") and found.get("alive") and found.get("stop_exit") == 0
        and bool(found["quarantined"]) == expect
        and bool(found["storage_fault_events"]) == expect
        and found["events_at_cloud"] > 0 and found["lost"] == 0 and found["duplicated"] == 0
        and found["integrity"] == "ok" and found["pending_in_outbox"] == 0
        and (not intact or (found["sequence_continued"]
                            and found["earlier_pending_delivered"] == len(before["pending_ulids"])))
    )
    return found


def run_corrupt_phase(work: Path, cases: tuple[str, ...] = CORRUPTIONS, *, run_s: float = 3.0,
                      seed: int = 0, progress: Any = None) -> dict[str, Any]:
    """One run makes a real database (events delivered, then some left pending under a 500
    storm, SIGKILL); every case starts the agent on a damaged copy of it."""
    rnd = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    base = work / "base"
    base.mkdir(exist_ok=True)
    log = (base / "agent.log").open("ab")
    pty = NmeaPty(link=base / "gnss")
    runner = AgentRunner(base, base / "agent.toml", log)
    try:
        with Cloud(base / "cloud") as cloud, Receiver(pty):
            write_config(base, cloud.url, pty.path)
            runner.start()
            runner.wait_up()
            time.sleep(run_s)
            cloud.storm("500", rnd, count=10**9)  # the last events stay in the outbox
            time.sleep(2.0)
            runner.stop(signal.SIGKILL)
            delivered = {u for u, _, _ in cloud.rows()}
    finally:
        runner.kill_quietly()
        pty.close()
        log.close()
    killed = base / "data"
    clean = work / "base-checkpointed"
    shutil.copytree(killed, clean)
    conn = sqlite3.connect(clean / "outbox.sqlite3")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    conn.close()  # the last connection: the -wal is folded in and removed
    outbox = Outbox(killed)
    pending = {str(u) for (u,) in outbox._q("SELECT ulid FROM events")}
    before = {"committed": outbox.committed(), "ulids": delivered | pending,
              "pending_ulids": pending}
    result: dict[str, Any] = {"base_database": {
        "committed": before["committed"], "pending": len(pending),
        "wal_bytes": (killed / "outbox.sqlite3-wal").stat().st_size,
        "checkpointed_bytes": (clean / "outbox.sqlite3").stat().st_size}}
    for how in cases:
        result[how] = corrupt_case(work / how, killed if how in ON_KILLED else clean, how, rnd,
                                   run_s=run_s, before=before)
        if progress:
            progress(f"corrupt {how}: {json.dumps(result[how])}")
    result["ok"] = all(result[how]["ok"] for how in cases)
    return result


# --- command line -------------------------------------------------------------------------------

QUICK: dict[str, Any] = {"kills": 5, "broker_restarts": 1, "disk_cases": ("3MiB",), "full_s": 6.0,
         "corrupt_run_s": 2.5}
LONG: dict[str, Any] = {"kills": 150, "broker_restarts": 6, "disk_cases": DISK_CASES,
                        "full_s": 15.0, "corrupt_run_s": 4.0}


def run_phases(phases: tuple[str, ...], *, kills: int, seconds: float | None, seed: int,
               broker_restarts: int, disk_cases: tuple[str, ...], full_s: float,
               corrupt_run_s: float, corruptions: tuple[str, ...] = CORRUPTIONS,
               work: Path | None = None, progress: Any = None) -> dict[str, Any]:
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="ea-faults-", dir="/tmp")) if work is None else work
    t0 = time.monotonic()
    out: dict[str, Any] = {"seed": seed, "phases": list(phases), "work_dir": str(work)}
    if {"kills", "orders", "sigterm"} & set(phases):
        out["kills"] = run_campaign(
            kills if {"kills", "orders"} & set(phases) else 0, seconds=seconds, seed=seed,
            sigterm="sigterm" in phases, work=work / "kills", progress=progress,
            orders="orders" in phases, broker_restarts=broker_restarts)
    if "disk" in phases:
        out["disk"] = run_disk_phase(work / "disk", disk_cases, full_s=full_s, seed=seed,
                                     progress=progress)
    if "corrupt" in phases:
        out["corrupt"] = run_corrupt_phase(work / "corrupt", corruptions, run_s=corrupt_run_s,
                                           seed=seed, progress=progress)
    out["seconds"] = round(time.monotonic() - t0, 1)
    out["ok"] = all(out[p]["ok"] for p in ("kills", "disk", "corrupt") if p in out)
    if own_work and out["ok"]:
        shutil.rmtree(work, ignore_errors=True)
        out["work_dir"] = None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/faults", description=__doc__.split("\n\n")[0])
    ap.add_argument("--phases", default=",".join(PHASES),
                    help=f"comma-separated, of {','.join(PHASES)} (default: all)")
    ap.add_argument("--quick", action="store_true",
                    help="CI settings: 5 kills, 1 broker restart, a 3 MiB partition, short runs")
    ap.add_argument("--long", action="store_true",
                    help="docs settings: 150 kills, 6 broker restarts, 3 and 12 MiB partitions")
    ap.add_argument("--kills", type=int, default=None, help="SIGKILLs (default 10)")
    ap.add_argument("--seconds", type=float, default=None,
                    help="stop killing after S seconds even if fewer kills were made")
    ap.add_argument("--broker-restarts", type=int, default=None,
                    help="broker kills/restarts during the kill phase (orders; default 2)")
    ap.add_argument("--disk-cases", default=None,
                    help="disk-phase partitions: <N>MiB (positions pending when it fills) or "
                         f"<N>MiB-empty (default {','.join(DISK_CASES)})")
    ap.add_argument("--corruptions", default=",".join(CORRUPTIONS),
                    help=f"corrupt-phase cases (default {','.join(CORRUPTIONS)})")
    ap.add_argument("--seed", type=int, default=None, help="random seed (printed)")
    ap.add_argument("--no-sigterm", action="store_true", help="skip SIGTERM under each fault")
    ap.add_argument("--work", type=Path, default=None,
                    help="keep the agents' data, logs and clouds here (default: a temp dir, "
                         "removed when the campaign passes)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    phases = tuple(p for p in args.phases.split(",") if p)
    if bad := [p for p in phases if p not in PHASES]:
        ap.error(f"unknown phase(s) {','.join(bad)}: choose from {','.join(PHASES)}")
    if args.no_sigterm:
        phases = tuple(p for p in phases if p != "sigterm")
    corruptions = tuple(c for c in args.corruptions.split(",") if c)
    if bad := [c for c in corruptions if c not in CORRUPTIONS]:
        ap.error(f"unknown corruption(s) {','.join(bad)}: choose from {','.join(CORRUPTIONS)}")
    preset: dict[str, Any] = QUICK if args.quick else LONG if args.long else {
        "kills": 10, "broker_restarts": 2, "disk_cases": DISK_CASES, "full_s": 10.0,
        "corrupt_run_s": 3.0}
    kills = preset["kills"] if args.kills is None else args.kills
    if kills < 0:
        ap.error("--kills must be >= 0")
    restarts = preset["broker_restarts"] if args.broker_restarts is None else args.broker_restarts
    disk_cases = (preset["disk_cases"] if args.disk_cases is None
                  else tuple(c for c in args.disk_cases.split(",") if c))
    if bad := [c for c in disk_cases if not re.fullmatch(r"[1-9][0-9]*MiB(-empty)?", c)]:
        ap.error(f"bad disk case(s) {','.join(bad)}: <N>MiB or <N>MiB-empty")

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    seed = random.randrange(2**32) if args.seed is None else args.seed
    summary = run_phases(phases, kills=kills, seconds=args.seconds, seed=seed,
                         broker_restarts=restarts, disk_cases=disk_cases, full_s=preset["full_s"],
                         corrupt_run_s=preset["corrupt_run_s"], corruptions=corruptions,
                         work=args.work, progress=None if args.quiet else progress)
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

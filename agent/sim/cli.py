"""``scripts/simulate``: play a scenario onto ptys, print its events, render its streams,
or replay a gpsd capture.

    scripts/simulate run SCENARIO --speedup 10 --nmea /tmp/sim/gnss --slcan /tmp/sim/can \\
        --obd /tmp/sim/obd --power-dir /tmp/sim/power --motion-dir /tmp/sim/iio
    scripts/simulate events SCENARIO [--json]
    scripts/simulate render SCENARIO --nmea out.nmea --slcan out.slcan
    scripts/simulate replay ../shared/testdata/gpsd/ublox-m8030.log --link /tmp/sim/gnss
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.errors import AgentError
from agent.events import DeviceIdentity, HardwareDetail, TelemetryDetail, to_envelope
from agent.sim.clock import ScaledClock
from agent.sim.j1939 import FrameRenderer, slcan_line
from agent.sim.nmea import epoch_sentences
from agent.sim.pure import run_scenario
from agent.sim.replay import replay_capture
from agent.sim.runner import ScenarioPlayer
from agent.sim.scenario import Scenario, load_scenario
from agent.sim.truth import simulate

DEMO_IDENTITY = DeviceIdentity("862798050833538", "01GXRRKM43W02X5JZDSMZHAJJY")


def _wait_interruptibly(done: threading.Event) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set() and not done.is_set():
        stop.wait(0.2)


def cmd_run(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario)
    if args.start_now:  # live demo: receiver time = host time, so fixes are current
        sc = sc.model_copy(update={"start": datetime.now(UTC) + timedelta(seconds=args.delay)})
    for p in (args.nmea, args.slcan, args.obd, args.modem):
        if p is not None:
            p.parent.mkdir(parents=True, exist_ok=True)
    clock = ScaledClock(sim_start=sc.start_epoch, speedup=args.speedup,
                        wall_start=time.time() + args.delay)  # fmt: skip
    player = ScenarioPlayer(sc, clock, nmea_link=args.nmea, slcan_link=args.slcan,
                            obd_link=args.obd, power_dir=args.power_dir,
                            motion_dir=args.motion_dir, modem_link=args.modem,
                            actuators_file=args.actuators)  # fmt: skip
    print(f"scenario {sc.name!r}: {sc.duration_s:g} s at x{args.speedup:g} "
          f"= {sc.duration_s / args.speedup:.1f} s wall, starting in {args.delay:g} s")  # fmt: skip
    links = (("nmea", args.nmea), ("slcan", args.slcan), ("obd", args.obd),
             ("power", args.power_dir), ("motion", args.motion_dir), ("modem", args.modem),
             ("actuators", args.actuators))  # fmt: skip
    for name, p in links:
        if p is not None:
            print(f"  {name}: {p}")
    sys.stdout.flush()
    player.start()
    try:
        _wait_interruptibly(player.done)
    finally:
        player.stop()
    print(f"played to t={player.position:g} s; worst lag {player.max_lag_s * 1000:.1f} ms")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario)
    for seq, ev in enumerate(run_scenario(sc), start=1):
        if args.json:
            print(json.dumps(to_envelope(ev, DEMO_IDENTITY, seq), separators=(",", ":")))
            continue
        d = ev.detail
        t = ev.timestamp_ms / 1000 - sc.start_epoch
        if isinstance(d, TelemetryDetail):
            what = f"telemetry {int(d.event_type):2d} {d.event_type.name:<20} {dict(d.extra)}"
        elif isinstance(d, HardwareDetail):
            what = f"hardware  {int(d.event_type):2d} {d.event_type.name:<20} {d.details}"
        else:
            what = repr(d)
        print(f"{t:9.2f}  {what}  speed={ev.context.speed_kmh} ign={int(ev.context.ignition_on)}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario)
    render_files(sc, args.nmea, args.slcan)
    return 0


def render_files(sc: Scenario, nmea: Path | None, slcan: Path | None) -> None:
    """Write the scenario's streams to files (a capture for ``edge-agent diag nmea|can``)."""
    dt = 1.0 / sc.can_hz
    gnss_every = max(1, round(1.0 / (sc.gnss_hz * dt)))
    slow_every = max(1, round(1.0 / dt))
    frames = FrameRenderer()
    v = sc.vehicle
    with (
        open(nmea, "wb") if nmea else open("/dev/null", "wb") as fn,
        open(slcan, "wb") if slcan else open("/dev/null", "wb") as fc,
    ):
        for i, tr in enumerate(simulate(sc, dt)):
            epoch = sc.start_epoch + tr.t
            if i % gnss_every == 0 and "gnss" not in tr.unplugged:
                sentences = epoch_sentences(
                    tr, epoch, satellites=v.satellites, hdop=v.hdop, altitude_m=v.altitude_m
                )
                fn.write(b"".join(sentences))
            if "can" not in tr.unplugged:
                batch = frames.fast(tr) + (frames.slow(tr) if i % slow_every == 0 else [])
                fc.write(b"".join(slcan_line(c, d) for c, d in batch))


def cmd_replay(args: argparse.Namespace) -> int:
    args.link.parent.mkdir(parents=True, exist_ok=True)
    pty, player, rate = replay_capture(args.capture, args.link, speedup=args.speedup,
                                       repeat=args.loop)  # fmt: skip
    print(f"replaying {args.capture.name} ({rate:g} epochs/s recorded, x{args.speedup:g}) "
          f"on {args.link}")  # fmt: skip
    sys.stdout.flush()
    try:
        _wait_interruptibly(player.finished)
    finally:
        player.stop()
        pty.close()
    print(f"{player.written} epochs written, {player.dropped} dropped")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simulate", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="play a scenario onto ptys and power-input files")
    r.add_argument("scenario", type=Path)
    r.add_argument("--speedup", type=float, default=1.0, help="scenario seconds per wall second")
    r.add_argument("--delay", type=float, default=1.0, help="wall seconds before scenario t=0")
    r.add_argument("--start-now", action="store_true",
                   help="scenario starts now (receiver clock = host clock), not at its 'start'")
    r.add_argument("--nmea", type=Path, help="symlink to create for the GNSS pty")
    r.add_argument("--slcan", type=Path, help="symlink to create for the SLCAN pty")
    r.add_argument("--obd", type=Path, help="symlink to create for the ELM327 pty")
    r.add_argument("--power-dir", type=Path, help="directory for the power/IO input files")
    r.add_argument("--motion-dir", type=Path,
                   help="directory for the simulated IIO motion sensor (scenarios with [motion])")
    r.add_argument("--modem", type=Path, help="symlink to create for the modem's AT pty")
    r.add_argument("--actuators", type=Path,
                   help="the agent's simulated actuator state file, read back: a cut relay "
                        "stops the engine, the door lock locks the doors")
    r.set_defaults(func=cmd_run)
    e = sub.add_parser("events", help="run a scenario through the rules, print its events")
    e.add_argument("scenario", type=Path)
    e.add_argument("--json", action="store_true", help="one V3 envelope per line")
    e.set_defaults(func=cmd_events)
    w = sub.add_parser("render", help="write a scenario's NMEA and SLCAN streams to files")
    w.add_argument("scenario", type=Path)
    w.add_argument("--nmea", type=Path)
    w.add_argument("--slcan", type=Path)
    w.set_defaults(func=cmd_render)
    c = sub.add_parser("replay", help="replay a gpsd capture on a pty at its recorded rate")
    c.add_argument("capture", type=Path)
    c.add_argument("--link", type=Path, required=True)
    c.add_argument("--speedup", type=float, default=1.0)
    c.add_argument("--loop", action="store_true")
    c.set_defaults(func=cmd_replay)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except AgentError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2

"""The simulated vehicle: a scenario rendered into ground truth, one sample per time step.

Pure and deterministic. The driver follows the route (turning at most ``lateral_ms2``), moves
the speed toward the plan's target at the step's ``accel_ms2``, and performs the scripted harsh
manoeuvres. Everything the output renderers (NMEA, SLCAN, power inputs, readings) need is in
:class:`Truth`, so the streams are consistent with each other by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agent.sim.scenario import Harsh, Scenario
from agent.vehicle.geo import bearing_deg, destination, haversine_m, signed_heading_delta_deg

GnssState = str  # "ok" | "no_fix" | "silent" | "jammed"


@dataclass(frozen=True, slots=True)
class Truth:
    t: float  # scenario seconds
    lat: float
    lon: float
    heading: float  # degrees, 0 north, clockwise
    speed_mps: float
    accel_long: float  # m/s², + forward
    accel_lat: float  # m/s², + left
    ignition: bool
    ignition_on_t: float | None  # scenario second the ignition last came on (None: off)
    rpm: float
    odometer_m: float
    fuel_pct: float
    supply_v: float
    backup_v: float
    door_open: bool
    sos: bool
    dtcs: tuple[str, ...]
    gnss: GnssState
    unplugged: frozenset[str]
    case_open: bool = False  # the device's case (tamper) switch
    locked: bool = False  # central locking
    # The modem's radio (coverage windows) and the tyres: (location, kPa, °C, leak Pa/s).
    registered: bool = True
    csq: int = 20
    tyres: tuple[tuple[int, float, float, float], ...] = ()

    @property
    def speed_kmh(self) -> float:
        return self.speed_mps * 3.6


def _active(harsh: list[Harsh], t: float) -> Harsh | None:
    for h in harsh:
        if h.t <= t < h.t + h.duration_s:
            return h
    return None


def _tyres(sc: Scenario, t: float) -> tuple[tuple[int, float, float, float], ...]:
    """Each tyre's pressure, temperature and leakage rate at ``t`` (leaks are linear)."""
    spec = sc.tyres
    out = []
    for axle in range(spec.axles):
        for pos in range(2):
            loc = axle << 4 | pos
            kpa, leak = spec.pressure_kpa, 0.0
            for lk in sc.tyre_leak:
                if lk.location == loc and t >= lk.t:
                    kpa = max(lk.floor_kpa, kpa - lk.kpa_per_min * (t - lk.t) / 60.0)
                    leak = lk.kpa_per_min * 1000.0 / 60.0 if kpa > lk.floor_kpa else 0.0
            out.append((loc, kpa, spec.temperature_c, leak))
    return tuple(out)


ENGINE_CUT_DECEL_MS2 = 3.0  # the engine stopped by the relay: the vehicle rolls to a stop


@dataclass(frozen=True, slots=True)
class Actuated:
    """What the agent's actuators hold now (read back by the player): the fuel-cut relay and
    the door lock. ``None`` = not driven: the scenario's own plan decides."""

    engine_cut: bool = False
    locked: bool | None = None


def simulate(sc: Scenario, dt: float = 0.1,
             actuated: Callable[[], Actuated] | None = None) -> Iterator[Truth]:
    """Truth samples at ``0, dt, 2 dt, ...`` up to and including ``duration_s``.

    ``actuated`` (read every step) closes the loop with the agent's actuators: a cut relay
    stops the engine (no rpm, the vehicle rolls to a stop and cannot drive off), the door lock
    drives the central locking."""
    v = sc.vehicle
    lat, lon = sc.route[0]
    target_i = 1 if len(sc.route) > 1 else None
    heading = bearing_deg(lat, lon, *sc.route[1]) if target_i is not None else 0.0
    speed = 0.0
    odometer = v.odometer_km * 1000.0
    fuel = v.fuel_pct
    ignition = False
    ignition_on_t: float | None = None
    target_speed = 0.0
    accel_rate = 1.5
    rpm_override: float | None = None
    door = False
    locked = False
    sos = False
    plan = list(sc.plan)
    n = round(sc.duration_s / dt)
    for i in range(n + 1):
        t = i * dt
        # Plan steps due by now (a step exactly at t applies to this sample).
        while plan and plan[0].t <= t + 1e-9:
            p = plan.pop(0)
            if p.ignition is not None and p.ignition != ignition:
                ignition_on_t = t if p.ignition else None
            ignition = p.ignition if p.ignition is not None else ignition
            if p.speed_kmh is not None:
                target_speed = p.speed_kmh / 3.6
                accel_rate = p.accel_ms2
            if p.rpm is not None:
                rpm_override = None if p.rpm < 0 else p.rpm
            door = p.door_open if p.door_open is not None else door
            locked = p.locked if p.locked is not None else locked
            sos = p.sos if p.sos is not None else sos
            fuel = p.fuel_pct if p.fuel_pct is not None else fuel
        act = actuated() if actuated is not None else Actuated()
        if act.locked is not None:
            locked = act.locked
        # Longitudinal: harsh manoeuvre or the plan's ramp (a cut engine only rolls out).
        h = _active(sc.harsh, t)
        if h is not None and h.kind == "accel":
            a = h.ms2
        elif h is not None and h.kind == "brake":
            a = -min(h.ms2, speed / dt)
        elif act.engine_cut:
            a = -min(ENGINE_CUT_DECEL_MS2, speed / dt)
        else:
            gap = target_speed - speed
            a = math.copysign(min(accel_rate, abs(gap) / dt), gap) if gap else 0.0
        # Lateral: harsh corner, else steer toward the next waypoint within lateral_ms2.
        if h is not None and h.kind == "corner" and speed > 0.5:
            yaw = h.ms2 / speed * (1.0 if h.direction == "right" else -1.0)  # rad/s
        else:
            yaw = 0.0
            if target_i is not None and speed > 0.1:
                tl = sc.route[target_i]
                capture = max(15.0, speed * speed / sc.lateral_ms2 * 1.2)
                if haversine_m(lat, lon, *tl) < capture:
                    target_i += 1
                    if target_i >= len(sc.route):
                        target_i = 0 if sc.loop else None
                if target_i is not None:
                    want = bearing_deg(lat, lon, *sc.route[target_i])
                    err = math.radians(signed_heading_delta_deg(heading, want))
                    max_yaw = sc.lateral_ms2 / speed
                    yaw = max(-max_yaw, min(max_yaw, err / dt))
        rpm = (
            0.0 if act.engine_cut
            else rpm_override
            if rpm_override is not None
            else (v.idle_rpm + v.rpm_per_kmh * speed * 3.6 if ignition else 0.0)
        )
        cut = any(w.start <= t < w.end for w in sc.power_cut)
        supply = 0.0 if cut else (v.charging_v if ignition and rpm > 0 else v.battery_v)
        outage = next((o.mode for o in sc.gnss_outage if o.start <= t < o.end), "ok")
        unplugged = frozenset(u.source for u in sc.unplug if u.start <= t < u.end)
        window = next((c for c in sc.coverage if c.start <= t < c.end), None)
        registered = window is None or window.mode == "weak"
        csq = sc.cellular.csq if window is None else window.csq
        tyres = _tyres(sc, t)
        dtcs: tuple[str, ...] = ()
        for d in sc.dtc:
            if d.t <= t:
                dtcs = tuple(d.codes)
        yield Truth(
            t=round(t, 6), lat=lat, lon=lon, heading=heading % 360.0, speed_mps=speed,
            accel_long=a, accel_lat=-yaw * speed, ignition=ignition,
            ignition_on_t=ignition_on_t, rpm=rpm,
            odometer_m=odometer, fuel_pct=fuel, supply_v=supply, backup_v=v.backup_v,
            door_open=door, sos=sos, dtcs=dtcs, gnss=outage, unplugged=unplugged,
            case_open=any(w.start <= t < w.end for w in sc.case_open), locked=locked,
            registered=registered, csq=csq, tyres=tyres,
        )  # fmt: skip
        # Integrate to the next step.
        new_speed = max(0.0, speed + a * dt)
        step = (speed + new_speed) / 2 * dt
        heading = (heading + math.degrees(yaw * dt)) % 360.0
        if step > 0:
            lat, lon = destination(lat, lon, heading, step)
        odometer += step
        fuel = max(0.0, fuel - v.fuel_l_per_100km * step / 100_000.0 / v.tank_l * 100.0)
        speed = new_speed

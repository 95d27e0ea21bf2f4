"""Telemetry rule thresholds (the ``[rules]`` section); changeable at run time by config orders.

Every tunable of the telemetry rules and of the vehicle status flags lives here, in km/h, m/s²,
metres, volts, percent and seconds, with where its default comes from. The model validates on
assignment; a config order builds a new object with :meth:`RuleThresholds.with_changes` (which
validates every field and the cross-field constraints) and hands it to
``TelemetryEngine.update_thresholds``; the rules read the object on every step, so a change
applies from the next reading or tick. The config key of a field is its name in upper case
(``max_speed_kmh`` → ``MAX_SPEED_KMH``, CONTRACT.md §5).

Sources: "Teltonika" = Teltonika FM1100/FMB defaults quoted in DESIGN-NOTES.md §3;
"etrack" = seed 004; "dashboard" = seed 001; "project" = a project decision (docs/rules.md says
why).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from agent.section import StrictModel

G = 9.80665  # standard gravity, m/s²

# Vibration and tamper alarms share one shock counter (agent.rules.security): this many shocks
# within this long make an alarm.
ShockCount = Annotated[int, Field(ge=1, le=100)]
ShockWindowS = Annotated[float, Field(ge=1, le=600)]


class RuleThresholds(StrictModel):
    # --- drivercoach groups (CONTRACT.md §4 order `drivercoach`) ----------------------------
    drivercoach_telemetry: bool = True  # speeding, speed zones, idling, over-revving
    drivercoach_inertial: bool = True  # harsh acceleration/braking/cornering, collision
    drivercoach_tracking: bool = True  # periodic positions

    # --- speeding -----------------------------------------------------------------------------
    max_speed_kmh: int = Field(90, ge=0, le=300)  # MAX_SPEED_KMH; Teltonika default 90; 0 = off
    # Speed must exceed the limit by more than this to count (GNSS speed noise ~1 km/h); project.
    speeding_tolerance_kmh: float = Field(0.0, ge=0, le=50)
    # An episode starts after this long above limit + tolerance (project; Geotab-like 5 s).
    speeding_min_duration_s: float = Field(5.0, ge=0, le=300)
    # ...and ends after this long at or below the limit itself (hysteresis = tolerance); project.
    speeding_end_duration_s: float = Field(3.0, ge=0, le=300)

    # --- harsh driving (Teltonika FM1100 eco-driving) ----------------------------------------
    harsh_acceleration_ms2: float = Field(0.25 * G, ge=0.5, le=20)  # Teltonika 0.25 g
    harsh_braking_ms2: float = Field(0.35 * G, ge=0.5, le=20)  # Teltonika 0.35 g
    # Project: 0.30 g, between the two Teltonika defaults (lateral comfort limit ~0.3 g).
    harsh_cornering_ms2: float = Field(0.30 * G, ge=0.5, le=20)
    harsh_min_speed_kmh: float = Field(10.0, ge=0, le=200)  # Teltonika: checked >= 10 km/h
    cornering_min_speed_kmh: float = Field(30.0, ge=0, le=200)  # Teltonika: cornering >= 30 km/h
    # An episode ends when the value falls below this fraction of its threshold (hysteresis).
    harsh_release_ratio: float = Field(0.8, gt=0, le=1)  # project
    # IMU samples are low-pass filtered with this time constant before thresholding; project
    # (road bumps last ~50 ms, a manoeuvre several hundred ms).
    imu_filter_tau_s: float = Field(0.2, ge=0, le=5)
    # Speed-derivative fallback: the derivative is taken over at least this long; project.
    derivative_window_s: float = Field(1.0, gt=0, le=10)

    # --- collision ------------------------------------------------------------------------
    # Horizontal IMU magnitude (unfiltered); 4 g is the crash threshold of WreckWatch
    # (White et al. 2011); project default.
    collision_ms2: float = Field(4.0 * G, ge=G, le=30 * G)
    collision_refractory_s: float = Field(10.0, ge=0, le=600)  # one event per impact; project
    # The peak is taken over this long after the crossing, then the event goes (stamped at the
    # crossing); crash pulses last 70-150 ms (NHTSA crash tests); project.
    collision_window_s: float = Field(0.15, ge=0, le=2)

    # --- motion sensor: calibration and parked security (agent.vehicle.motion) ----------------
    # Still = RMS of the dynamic acceleration (|a - low-passed gravity|) over 1 s below this;
    # a MEMS accelerometer's noise is ~0.05 m/s² RMS at 100 Hz, an idling engine 0.2-1; project.
    motion_still_ms2: float = Field(0.15, ge=0.01, le=5)
    # Parked (ignition off) and still this long: the gravity reference of this park is learned
    # (tilt reference) and folded into the mounting calibration; project.
    mount_learn_s: float = Field(5.0, ge=1, le=600)
    # Security alarms (vibration, lifted, tamper by power cut or shocks) arm this long after the
    # ignition went off (the driver leaving) and only while the doors are not known unlocked;
    # project.
    arm_delay_s: float = Field(30.0, ge=0, le=3600)
    # Vibration (etrack 4): shocks of dynamic acceleration >= this, counted at most every 0.2 s;
    # this many within the window while armed = one alarm, then quiet for the refractory; project.
    vibration_ms2: float = Field(1.0, ge=0.1, le=50)
    vibration_count: ShockCount = 5
    vibration_window_s: ShockWindowS = 10.0
    vibration_refractory_s: float = Field(60.0, ge=0, le=3600)
    # Free fall / drop (etrack 21): |a| below this for at least freefall_min_s (0.2 s = a 20 cm
    # drop); MEMS free-fall detectors use 0.3-0.5 g for >= 100 ms (ST AN3308); project.
    freefall_ms2: float = Field(0.3 * G, ge=0.5, le=8)
    freefall_min_s: float = Field(0.2, ge=0.05, le=5)
    freefall_refractory_s: float = Field(10.0, ge=0, le=600)
    # Lifted (dashboard vehicle-lifted): while armed, gravity turned this far from this park's
    # reference for tilt_hold_s (a tow truck lifting one axle tilts a car 5-15 deg; people
    # getting in roll it < 2 deg); project.
    tilt_lifted_deg: float = Field(5.0, ge=1, le=45)
    # Fallen (dashboard vehicle-fallen, etrack 21): gravity this far from the mounting's "up"
    # for tilt_hold_s, at any time (a two-wheeler on its side is ~90 deg); project.
    tilt_fallen_deg: float = Field(60.0, ge=20, le=180)
    tilt_hold_s: float = Field(3.0, ge=0, le=600)
    # Tamper (hardware 12, etrack 18): the case switch open this long (switch bounce ~10 ms);
    # project.
    tamper_case_debounce_s: float = Field(0.5, ge=0, le=60)
    # ... or this many shocks of >= tamper_shock_ms2 within the window while armed (prying,
    # hammering at the device; a single bump is vibration or collision); project.
    tamper_shock_ms2: float = Field(2.0 * G, ge=2, le=200)
    tamper_shock_count: ShockCount = 3
    tamper_shock_window_s: ShockWindowS = 10.0
    # One tamper alarm per cause within this long (the case switch: per opening); project.
    tamper_refractory_s: float = Field(300.0, ge=0, le=86400)

    # --- motion / idling / towing ---------------------------------------------------------
    # At or below this the vehicle counts as stopped (GNSS speed jitter when parked); project.
    stopped_speed_kmh: float = Field(3.0, ge=0, le=30)
    idle_timeout_s: float = Field(300.0, ge=10, le=7200)  # Teltonika excessive idling 5 min
    # Ignition off and moving at least this fast for this long = towing / illegal moving.
    towing_speed_kmh: float = Field(10.0, ge=1, le=100)  # project (etrack carMoveAlarm)
    towing_min_duration_s: float = Field(10.0, ge=0, le=600)  # project
    # A towing episode ends after this long stopped (a new episode may then start).
    towing_end_s: float = Field(60.0, ge=0, le=3600)  # project

    # --- periodic tracking (Teltonika defaults) ---------------------------------------------
    tracking_moving_period_s: float = Field(300.0, ge=1, le=86400)  # Teltonika 300 s moving
    tracking_stopped_period_s: float = Field(3600.0, ge=1, le=86400)  # Teltonika 3600 s stopped
    tracking_distance_m: float = Field(100.0, ge=0, le=100_000)  # Teltonika 100 m; 0 = off
    tracking_heading_deg: float = Field(10.0, ge=0, le=180)  # Teltonika 10 deg; 0 = off
    tracking_speed_change_kmh: float = Field(10.0, ge=0, le=300)  # Teltonika 10 km/h; 0 = off
    # Course is noise at walking pace; heading changes count only above this speed; project.
    tracking_heading_min_speed_kmh: float = Field(10.0, ge=0, le=200)

    # --- GNSS ---------------------------------------------------------------------------------
    gnss_lost_after_s: float = Field(10.0, ge=1, le=3600)  # no valid fix this long = lost
    gnss_restored_after_s: float = Field(3.0, ge=0, le=600)  # valid fixes this long = restored
    # Jamming suspected: used satellites fell from >= this to 0 visible within the window
    # while the receiver kept talking (a tunnel fades over seconds; a jammer is abrupt).
    gnss_jam_min_satellites: int = Field(6, ge=1, le=64)
    gnss_jam_window_s: float = Field(3.0, gt=0, le=60)

    # --- geofences ----------------------------------------------------------------------------
    # Enter when inside, exit only when this far outside (kills chatter on the boundary).
    geofence_hysteresis_m: float = Field(20.0, ge=0, le=1000)  # project (~2 x GNSS CEP)

    # --- engine / fuel / doors --------------------------------------------------------------
    over_rev_rpm: float = Field(4000.0, ge=500, le=12000)  # project (petrol cars; trucks ~2200)
    over_rev_min_duration_s: float = Field(3.0, ge=0, le=300)  # project
    over_rev_hysteresis_rpm: float = Field(200.0, ge=0, le=2000)  # project
    # Sudden fuel drop (theft): smoothed level fell this much within the window; project.
    fuel_drop_pct: float = Field(10.0, ge=1, le=100)
    fuel_drop_window_s: float = Field(300.0, ge=10, le=86400)
    # Fuel level is the median of this window (slosh and sender noise); project.
    fuel_smoothing_s: float = Field(30.0, ge=0, le=600)

    # --- power (hardware events) --------------------------------------------------------------
    power_cut_voltage_v: float = Field(5.25, ge=0, le=30)  # DESIGN-NOTES: unplug < 5.25 V
    power_cut_debounce_s: float = Field(2.0, ge=0.1, le=60)  # DESIGN-NOTES: for 1-3 s
    power_restore_hysteresis_v: float = Field(0.5, ge=0, le=10)  # project
    low_vehicle_battery_v: float = Field(11.8, ge=5, le=32)  # 12 V lead-acid ~40 % SoC; project
    low_backup_battery_v: float = Field(3.5, ge=2.5, le=4.5)  # Li-ion cell near empty; project
    # Cranking dips last seconds; a low battery must stay low this long; project.
    low_battery_debounce_s: float = Field(60.0, ge=0, le=3600)
    low_battery_hysteresis_v: float = Field(0.3, ge=0, le=5)  # project

    # --- status document flags (seed 003 Is* flags: thresholds not defined there) ------------
    low_fuel_pct: float = Field(15.0, ge=0, le=100)  # IsLowFuel; project (fuel-light ~15 %)
    low_evb_pct: float = Field(20.0, ge=0, le=100)  # IsLowEVB; project
    lost_contact_s: float = Field(300.0, ge=10, le=86400)  # IsLostContact: offline this long
    # IsInternetWeak: signal below this. 30 % = CSQ < 10 (below about -93 dBm) with
    # ModemManager's CSQ normalisation (csq * 100 // 31); project.
    weak_signal_pct: int = Field(30, ge=0, le=100)
    # chargestatus 1 = alternator charging: supply at or above this (12 V system); project.
    charging_voltage_v: float = Field(13.2, ge=0, le=32)

    # --- cellular network (modem) --------------------------------------------------------------
    # Not registered (home/roaming) for this long = network lost (36); a cell handover or a
    # tunnel lasts seconds, so a minute; project.
    network_lost_after_s: float = Field(60.0, ge=1, le=3600)
    network_restored_after_s: float = Field(10.0, ge=0, le=600)  # registered again this long

    # --- tyres (J1939 TIRE, PGN 65268; etrack 11-14) ------------------------------------------
    # Truck tyres run at ~800-850 kPa cold. Low: a 20 % loss (UN R141 TPMS warns at 20 %);
    # high: above 950 kPa (TIRE's pressure field ends at 1000 kPa). 0 = that check off; the
    # TPMS's own verdict (SPN 2587) counts too. Car fleets set ~180 / ~300. Project.
    tyre_low_pressure_kpa: float = Field(650.0, ge=0, le=1000)
    tyre_high_pressure_kpa: float = Field(950.0, ge=0, le=1000)
    tyre_pressure_hysteresis_kpa: float = Field(20.0, ge=0, le=200)  # re-arm margin; project
    # Tyre (air) temperature; aftermarket TPMS warn at 80-90 °C; project.
    tyre_high_temperature_c: float = Field(90.0, ge=20, le=200)
    tyre_temperature_hysteresis_c: float = Field(5.0, ge=0, le=50)  # project
    # Leak: the TPMS's air leakage rate (SPN 2586) at or above this (20 Pa/s = 72 kPa/h), its
    # "tyre leak detected" status (SPN 1698), or the pressure fell tyre_leak_drop_kpa within
    # tyre_leak_window_s (for sensors that send no leakage rate); project.
    tyre_leak_pa_s: float = Field(20.0, ge=0.1, le=6425)
    tyre_leak_drop_kpa: float = Field(40.0, ge=1, le=1000)
    tyre_leak_window_s: float = Field(600.0, ge=10, le=86400)
    # A tyre condition must hold this long (TIRE comes every 10 s: two reports); project.
    tyre_alarm_debounce_s: float = Field(15.0, ge=0, le=600)

    @model_validator(mode="after")
    def _consistent(self) -> RuleThresholds:
        if self.low_vehicle_battery_v <= self.power_cut_voltage_v:
            raise ValueError("low_vehicle_battery_v must be above power_cut_voltage_v")
        if self.tilt_fallen_deg <= self.tilt_lifted_deg:
            raise ValueError("tilt_fallen_deg must be above tilt_lifted_deg")
        if 0 < self.tyre_high_pressure_kpa <= self.tyre_low_pressure_kpa:
            raise ValueError("tyre_high_pressure_kpa must be above tyre_low_pressure_kpa")
        return self

    def with_changes(self, **changes: Any) -> RuleThresholds:
        """A validated copy with ``changes`` applied (``model_copy`` would skip validation)."""
        return RuleThresholds.model_validate({**self.model_dump(), **changes})

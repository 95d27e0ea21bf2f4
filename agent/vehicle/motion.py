"""The motion sensor folded into the vehicle state: mounting calibration and motion features.

Pure (timestamps only, no clock, no I/O), fed by :meth:`VehicleState.apply` with every
:class:`~agent.sources.readings.MotionSample`.

Frames. The source delivers samples after the installer's axis map, so x is *nominally*
forward, y left, z up. A box is rarely mounted level, though: a 10° pitch puts
9.81 × sin 10° = 1.7 m/s² of gravity on "forward", which is most of a harsh-acceleration
threshold. :class:`MountingCalibration` learns the direction of gravity while the vehicle is
parked (ignition off) and the sensor still, and rotates the nominal frame by the smallest
rotation that brings that direction onto +z. Forward keeps the installer's heading; only the tilt
is removed. One park on a slope would bake the slope in, so the mounting's gravity is the
running mean of the references of the last parks (slopes average out), while the tilt reference
for "lifted" is this park's own.

Features, per sample (O(1) each):

* ``forward``, ``left``, ``up``: the sample in the vehicle frame (``up`` includes gravity);
* ``magnitude``: |a| (frame independent: free fall);
* ``dynamic``: |a − g_lp|, the acceleration beyond the low-passed gravity (τ 0.5 s) in any
  direction (vibration, shocks);
* stillness over 1 s blocks: the RMS of ``dynamic`` below ``motion_still_ms2`` (and, with a
  gyroscope, a mean rate below 0.05 rad/s);
* tilt angles of the low-passed gravity from this park's reference and from the mounting's up.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from agent.sources.readings import MotionSample

if TYPE_CHECKING:
    from agent.rules.settings import RuleThresholds

Vec = tuple[float, float, float]
Mat = tuple[Vec, Vec, Vec]

G = 9.80665
IDENTITY: Mat = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
BLOCK_S = 1.0  # stillness is judged over blocks this long
GRAVITY_TAU_S = 0.5  # low-pass of the gravity direction (tilt, dynamic acceleration)
GRAVITY_CLIP_MS2 = 2.0  # a sample pulls the low-pass at most this far from its estimate
STILL_GYRO_RADS = 0.05  # mean |ω| over a block below this (when a gyroscope reports)
# A parked reference must look like gravity: |mean a| within this of 1 g.
GRAVITY_TOLERANCE_MS2 = 1.5
MOUNT_MEMORY = 20  # the mounting's gravity is the mean of the last ~this many parks


def norm(v: Vec) -> float:
    return math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])


def angle_deg(a: Vec, b: Vec) -> float:
    """The angle between two vectors, degrees (0 if either is zero)."""
    na, nb = norm(a), norm(b)
    if na == 0.0 or nb == 0.0:
        return 0.0
    c = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) / (na * nb)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def rotation_to_up(g: Vec) -> Mat:
    """The smallest rotation taking the direction of ``g`` onto +z (Rodrigues' formula)."""
    n = norm(g)
    if n == 0.0:
        return IDENTITY
    ux, uy, uz = g[0] / n, g[1] / n, g[2] / n
    # axis k = u × z = (uy, -ux, 0); sin = |k|, cos = uz
    kx, ky = uy, -ux
    s2 = kx * kx + ky * ky
    c = uz
    if s2 < 1e-18:
        if c > 0:
            return IDENTITY
        return ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))  # upside down: 180° about x
    f = (1.0 - c) / s2
    # R = I + [k]x + f [k]x², with k = (kx, ky, 0)
    return (
        (1.0 - f * ky * ky, f * kx * ky, ky),
        (f * kx * ky, 1.0 - f * kx * kx, -kx),
        (-ky, kx, 1.0 - f * s2),
    )


def apply(m: Mat, v: Vec) -> Vec:
    return (
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    )


class MountingCalibration:
    """The rotation from the nominal (installer's) frame to the vehicle's forward/left/up.

    ``add_park(g)`` folds in the gravity reference of one park; until the first one the nominal
    frame is trusted as it is (``calibrated`` False). ``restore(g)`` sets a gravity remembered
    from an earlier run.
    """

    __slots__ = ("gravity", "parks", "rotation")

    def __init__(self) -> None:
        self.gravity: Vec | None = None  # mean parked gravity in the nominal frame
        self.parks = 0
        self.rotation: Mat = IDENTITY

    @property
    def calibrated(self) -> bool:
        return self.gravity is not None

    def add_park(self, g: Vec) -> None:
        self.parks += 1
        if self.gravity is None:
            self.gravity = g
        else:
            w = 1.0 / min(self.parks, MOUNT_MEMORY)
            self.gravity = (
                self.gravity[0] + w * (g[0] - self.gravity[0]),
                self.gravity[1] + w * (g[1] - self.gravity[1]),
                self.gravity[2] + w * (g[2] - self.gravity[2]),
            )
        self.rotation = rotation_to_up(self.gravity)

    def restore(self, g: Vec) -> None:
        self.gravity = g
        self.parks = max(self.parks, 1)
        self.rotation = rotation_to_up(g)

    def to_vehicle(self, v: Vec) -> Vec:
        return apply(self.rotation, v)

    @property
    def mounting_tilt_deg(self) -> float:
        """How far the box is from level (the angle the calibration removes)."""
        return 0.0 if self.gravity is None else angle_deg(self.gravity, (0.0, 0.0, 1.0))


class MotionState:
    """The motion sensor's contribution to the vehicle state (see the module docstring)."""

    def __init__(self) -> None:
        self.calibration = MountingCalibration()
        self.t: float | None = None  # time of the last sample
        self.samples = 0
        self.forward = 0.0
        self.left = 0.0
        self.up = 0.0
        self.magnitude = 0.0
        self.dynamic = 0.0
        self.gravity_lp: Vec | None = None  # low-passed acceleration, nominal frame
        self.park_ref: Vec | None = None  # gravity of this park (tilt reference)
        self.park_ref_t: float | None = None
        self.still = False  # the last complete block was still
        self.still_since: float | None = None  # start of the current run of still blocks
        self.activity_ms2 = 0.0  # RMS dynamic acceleration of the last block
        # the block being accumulated
        self._block_t0: float | None = None
        self._n = 0
        self._sum_dyn2 = 0.0
        self._sum_gyro = 0.0
        self._n_gyro = 0
        self._sum: list[float] = [0.0, 0.0, 0.0]
        # the current run of still blocks (while parked): mean vector
        self._run_sum: list[float] = [0.0, 0.0, 0.0]
        self._run_n = 0
        self._run_t0: float | None = None  # start of the current run of parked still blocks
        self._block_parked = True  # every sample of the block was parked
        self._was_parked = False

    # --- input ------------------------------------------------------------------------------

    def apply(self, m: MotionSample, *, parked: bool, th: RuleThresholds) -> None:
        t = m.t
        a: Vec = (m.ax, m.ay, m.az)
        self.samples += 1
        if parked and not self._was_parked:
            self._new_park()
        self._was_parked = parked
        g = self.gravity_lp
        prev_t = self.t
        if g is None or prev_t is None:
            g = a
        # beyond gravity as low-passed up to the previous sample
        dx, dy, dz = a[0] - g[0], a[1] - g[1], a[2] - g[2]
        dyn = math.sqrt(dx * dx + dy * dy + dz * dz)
        if prev_t is not None:
            dt = t - prev_t
            if dt > 0:
                # A shock moves the gravity estimate by at most GRAVITY_CLIP_MS2 × k, so a knock
                # does not leave a tail of "dynamic" acceleration behind it.
                k = 1.0 - math.exp(-dt / GRAVITY_TAU_S)
                if dyn > GRAVITY_CLIP_MS2:
                    k *= GRAVITY_CLIP_MS2 / dyn
                g = (g[0] + k * dx, g[1] + k * dy, g[2] + k * dz)
        self.dynamic = dyn
        self.gravity_lp = g
        self.t = t if prev_t is None else max(prev_t, t)
        self.magnitude = math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])
        r = self.calibration.rotation
        self.forward = r[0][0] * a[0] + r[0][1] * a[1] + r[0][2] * a[2]
        self.left = r[1][0] * a[0] + r[1][1] * a[1] + r[1][2] * a[2]
        self.up = r[2][0] * a[0] + r[2][1] * a[1] + r[2][2] * a[2]
        self._accumulate(t, a, m, parked, th)

    def _new_park(self) -> None:
        self.park_ref = None
        self.park_ref_t = None
        self._run_sum = [0.0, 0.0, 0.0]
        self._run_n = 0
        self._run_t0 = None

    def _accumulate(
        self, t: float, a: Vec, m: MotionSample, parked: bool, th: RuleThresholds
    ) -> None:
        if self._block_t0 is None:
            self._block_t0 = t
        elif t - self._block_t0 >= BLOCK_S:
            self._close_block(t, th)
            self._block_t0 = t
            self._block_parked = True
        self._block_parked = self._block_parked and parked
        self._n += 1
        self._sum_dyn2 += self.dynamic * self.dynamic
        self._sum[0] += a[0]
        self._sum[1] += a[1]
        self._sum[2] += a[2]
        if m.gx is not None and m.gy is not None and m.gz is not None:
            self._sum_gyro += math.sqrt(m.gx * m.gx + m.gy * m.gy + m.gz * m.gz)
            self._n_gyro += 1

    def _close_block(self, t: float, th: RuleThresholds) -> None:
        n = self._n
        if n:
            self.activity_ms2 = math.sqrt(self._sum_dyn2 / n)
            mean: Vec = (self._sum[0] / n, self._sum[1] / n, self._sum[2] / n)
            gyro_still = self._n_gyro == 0 or self._sum_gyro / self._n_gyro < STILL_GYRO_RADS
            still = (
                self.activity_ms2 < th.motion_still_ms2
                and gyro_still
                and abs(norm(mean) - G) <= GRAVITY_TOLERANCE_MS2
            )
            if still and not self.still:
                self.still_since = self._block_t0
            self.still = still
            if not still:
                self.still_since = None
            if not (still and self._block_parked):
                self._run_sum = [0.0, 0.0, 0.0]
                self._run_n = 0
                self._run_t0 = None
            elif self.park_ref is None:
                if self._run_t0 is None:
                    self._run_t0 = self._block_t0 if self._block_t0 is not None else t
                self._run_sum[0] += self._sum[0]
                self._run_sum[1] += self._sum[1]
                self._run_sum[2] += self._sum[2]
                self._run_n += n
                if t - self._run_t0 >= th.mount_learn_s:
                    rn = self._run_n
                    ref: Vec = (self._run_sum[0] / rn, self._run_sum[1] / rn, self._run_sum[2] / rn)
                    self.park_ref = ref
                    self.park_ref_t = t
                    self.calibration.add_park(ref)
        self._n = 0
        self._sum_dyn2 = 0.0
        self._sum = [0.0, 0.0, 0.0]
        self._sum_gyro = 0.0
        self._n_gyro = 0

    # --- derived ----------------------------------------------------------------------------

    @property
    def present(self) -> bool:
        return self.t is not None

    @property
    def tilt_from_park_deg(self) -> float | None:
        """The low-passed gravity's angle from this park's reference (None before it)."""
        if self.park_ref is None or self.gravity_lp is None:
            return None
        return angle_deg(self.gravity_lp, self.park_ref)

    @property
    def tilt_from_up_deg(self) -> float | None:
        """The low-passed gravity's angle from the mounting's up (the nominal z before any
        calibration)."""
        if self.gravity_lp is None:
            return None
        up = self.calibration.gravity or (0.0, 0.0, 1.0)
        return angle_deg(self.gravity_lp, up)

    def diagnostics(self) -> dict[str, object]:
        cal = self.calibration
        return {
            "samples": self.samples,
            "calibrated": cal.calibrated,
            "parks_learned": cal.parks,
            "mounting_tilt_deg": round(cal.mounting_tilt_deg, 2),
            "mount_gravity": [round(x, 3) for x in cal.gravity] if cal.gravity else None,
            "park_reference": [round(x, 3) for x in self.park_ref] if self.park_ref else None,
            "still": self.still,
            "activity_ms2": round(self.activity_ms2, 3),
            "tilt_from_park_deg": _round(self.tilt_from_park_deg),
            "tilt_from_up_deg": _round(self.tilt_from_up_deg),
        }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)

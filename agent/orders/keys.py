"""The config keys a ``config`` order may change (CONTRACT.md §5), mapped onto the settings.

* every field of :class:`~agent.rules.settings.RuleThresholds` (section ``rules``), key = its
  name in upper case (``max_speed_kmh`` → ``MAX_SPEED_KMH``), range = the field's own;
* the driver-monitoring thresholds fleets tune (section ``dms``), key = ``DMS_`` + name in
  upper case, range = the field's own narrowed by :data:`DMS_BOUNDS` (the model leaves some
  open above; an order must not set a 10-hour microsleep);
* ``AUTOMATICRECOGNITION`` (section ``vision``, field ``automaticrecognition``): driver face
  capture on/off; the order type ``automaticrecognition`` and the value ``"S"``/``"N"`` map
  onto it.

Keys are matched case-insensitively. Values are checked strictly (a string is not a number, a
number is not a bool; an int is accepted for a float). :func:`check` validates one value on its
own; cross-field rules (``low_vehicle_battery_v`` > ``power_cut_voltage_v``...) are checked by
whoever applies the change against the whole settings object. docs/orders.md lists the table
(a test keeps it in step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from agent.dms.settings import DmsSettings
from agent.rules.settings import RuleThresholds


@dataclass(frozen=True, slots=True)
class KeySpec:
    key: str
    section: str  # "rules" | "dms" | "vision"
    field: str
    default: Any
    kind: str  # "int" | "float" | "bool"
    low: float | None
    high: float | None
    adapter: TypeAdapter[Any]

    def describe_range(self) -> str:
        if self.kind == "bool":
            return "true/false"
        lo = "" if self.low is None else f"{self.low:g}"
        hi = "" if self.high is None else f"{self.high:g}"
        return f"{lo}..{hi}"


# DMS fields open to config orders, with the upper (and lower) bounds an order may set.
DMS_BOUNDS: Final[Mapping[str, tuple[float, float]]] = {
    "perclos_threshold": (0.01, 0.99),
    "perclos_window_s": (10.0, 600.0),
    "microsleep_s": (0.5, 10.0),
    "sleep_s": (1.0, 30.0),
    "distraction_s": (0.5, 30.0),
    "yaw_threshold_deg": (5.0, 90.0),
    "pitch_down_threshold_deg": (5.0, 90.0),
    "pitch_up_threshold_deg": (5.0, 90.0),
    "glance_total_s": (1.0, 120.0),
    "glance_window_s": (5.0, 600.0),
    "yawn_s": (0.5, 30.0),
    "no_driver_s": (1.0, 600.0),
    "blocked_s": (1.0, 600.0),
    "min_alert_speed_kmh": (0.0, 200.0),
    "drowsiness_persist_s": (0.0, 60.0),
    "repeat_suppress_s": (0.0, 3600.0),
}

AUTOMATIC_RECOGNITION_KEY: Final = "AUTOMATICRECOGNITION"
DRIVERCOACH_KEYS: Final[Mapping[str, str]] = {
    "telemetry": "DRIVERCOACH_TELEMETRY",
    "inertial": "DRIVERCOACH_INERTIAL",
    "tracking": "DRIVERCOACH_TRACKING",
}

_STRICT = ConfigDict(strict=True, allow_inf_nan=False)


def _kind(info: FieldInfo) -> str:
    ann = info.annotation
    if ann is bool:
        return "bool"
    if ann is int:
        return "int"
    if ann is float:
        return "float"
    raise TypeError(f"unsupported config field type {ann!r}")


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low = high = None
    for m in info.metadata:
        for name in ("ge", "gt"):
            v = getattr(m, name, None)
            if v is not None:
                low = float(v)
        for name in ("le", "lt"):
            v = getattr(m, name, None)
            if v is not None:
                high = float(v)
    return low, high


def _spec(key: str, section: str, name: str, model: type[BaseModel],
          bounds: tuple[float, float] | None = None) -> KeySpec:
    info = model.model_fields[name]
    kind = _kind(info)
    low, high = _bounds(info)
    metadata: list[Any] = list(info.metadata)
    if bounds is not None:
        low = bounds[0] if low is None else max(low, bounds[0])
        high = bounds[1] if high is None else min(high, bounds[1])
        metadata += [Ge(low), Le(high)]
    ann: Any = Annotated[info.annotation, *metadata] if metadata else info.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(ann, config=_STRICT)
    return KeySpec(key, section, name, info.default, kind, low, high, adapter)


def _table() -> dict[str, KeySpec]:
    table: dict[str, KeySpec] = {}
    for name in RuleThresholds.model_fields:
        table[name.upper()] = _spec(name.upper(), "rules", name, RuleThresholds)
    for name, bounds in DMS_BOUNDS.items():
        key = f"DMS_{name.upper()}"
        table[key] = _spec(key, "dms", name, DmsSettings, bounds)
    table[AUTOMATIC_RECOGNITION_KEY] = KeySpec(
        AUTOMATIC_RECOGNITION_KEY, "vision", "automaticrecognition", False, "bool", None, None,
        TypeAdapter(bool, config=_STRICT))
    return table


KEYS: Final[Mapping[str, KeySpec]] = _table()


class KeyRefusedError(ValueError):
    pass


def lookup(key: Any) -> KeySpec:
    if not isinstance(key, str) or not key:
        raise KeyRefusedError("config key must be a non-empty string")
    spec = KEYS.get(key.upper())
    if spec is None:
        raise KeyRefusedError("unknown key")
    return spec


def check(key: Any, value: Any) -> tuple[KeySpec, Any]:
    """(spec, validated value) or :class:`KeyRefusedError` with a short reason for the detail."""
    spec = lookup(key)
    if spec.key == AUTOMATIC_RECOGNITION_KEY and value in ("S", "N"):
        value = value == "S"
    try:
        return spec, spec.adapter.validate_python(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] in ("greater_than_equal", "less_than_equal", "greater_than",
                           "less_than"):
            raise KeyRefusedError(f"{value!r} out of range {spec.describe_range()}") from None
        article = "an" if spec.kind == "int" else "a"
        raise KeyRefusedError(f"{value!r} is not {article} {spec.kind}") from None

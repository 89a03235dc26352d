"""The wheel-legged robot's unmodelled effects as gapbench gaps.

The real robot (``envs.wheel_legged``) carries each effect at its physical size, stored in its own
MjModel as an MJCF ``<custom><numeric>`` field that the env reads every step. A gap sets one field on
one env instance through gapbench's ``apply_to_model`` hook, so ``dead_zone:0.0`` is the real robot
without its dead zone, and the idealised simulator is the composition that removes every effect::

    make_sim("wheel-legged-stand", IDEALISED_SIM)   # the simulator
    make_sim("wheel-legged-stand", "dead_zone:0.0")  # the real robot less one effect

Each gap's value is the effect's size, so ``gapbench gaps measure`` can report each one alone and
all together, and a user can dial one effect up or down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .gaps import Gap, register_gap_alias, register_gap_kind
from .wheel_legged import IDEAL_WHEEL_FRICTION


def _in_range(kind: str, field: str, value: float, low: float, high: float, *,
              open_low: bool = False) -> float:
    value = float(value)
    ok = math.isfinite(value) and (low < value if open_low else low <= value) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ValueError(f"gap {kind}: {field} must be in {bracket}{low}, {high}], got {value!r}")
    return value


def _set_effect(model, kind: str, field: str, value: float) -> None:
    try:
        model.numeric(field).data[0] = value
    except KeyError:
        raise ValueError(f"gap {kind} applies only to the wheel-legged tasks: this model has no "
                         f"'{field}' parameter") from None


@dataclass(frozen=True)
class DeadZone(Gap):
    """The wheel motors' torque dead band, as a fraction of peak torque (real robot: 0.05)."""

    fraction: float
    kind: ClassVar[str] = "dead_zone"
    usage: ClassVar[str] = "dead_zone:<fraction of peak torque, 0-0.5>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction", _in_range(self.kind, "fraction", self.fraction, 0.0, 0.5))

    def apply_to_model(self, model, task: str) -> None:
        _set_effect(model, self.kind, "dead_zone", self.fraction)

    def __str__(self) -> str:
        return f"dead_zone:{self.fraction!r}"


@dataclass(frozen=True)
class EncoderPlay(Gap):
    """Half the gear play between motor and wheel, in radians, seen by the motor-side encoders
    that odometry reads (real robot: 0.5 degrees = 0.00873 rad)."""

    radians: float
    kind: ClassVar[str] = "encoder_play"
    usage: ClassVar[str] = "encoder_play:<rad, 0-0.1>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "radians", _in_range(self.kind, "radians", self.radians, 0.0, 0.1))

    def apply_to_model(self, model, task: str) -> None:
        _set_effect(model, self.kind, "encoder_play", self.radians)

    def __str__(self) -> str:
        return f"encoder_play:{self.radians!r}"


@dataclass(frozen=True)
class WheelFriction(Gap):
    """The fresh tyre's sliding friction coefficient on the floor (real robot: 0.8; a simulator's
    default, and the idealised simulator: 1.0)."""

    mu: float
    kind: ClassVar[str] = "wheel_friction"
    usage: ClassVar[str] = "wheel_friction:<mu, 0-5>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", _in_range(self.kind, "mu", self.mu, 0.0, 5.0, open_low=True))

    def apply_to_model(self, model, task: str) -> None:
        _set_effect(model, self.kind, "wheel_friction", self.mu)

    def __str__(self) -> str:
        return f"wheel_friction:{self.mu!r}"


@dataclass(frozen=True)
class FrictionWear(Gap):
    """How much lower the friction can be on a run: each episode's coefficient is
    mu * (1 - fraction * u), u ~ U(0, 1) drawn at reset (real robot: 0.3)."""

    fraction: float
    kind: ClassVar[str] = "friction_wear"
    usage: ClassVar[str] = "friction_wear:<fraction, 0-0.9>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction", _in_range(self.kind, "fraction", self.fraction, 0.0, 0.9))

    def apply_to_model(self, model, task: str) -> None:
        _set_effect(model, self.kind, "friction_wear", self.fraction)

    def __str__(self) -> str:
        return f"friction_wear:{self.fraction!r}"


# One per field of the model's <custom> block, in the same order (tests/test_wheel_legged.py checks).
WHEEL_LEGGED_GAPS: tuple[type[Gap], ...] = (DeadZone, EncoderPlay, WheelFriction, FrictionWear)

# The idealised simulator: the real robot with every unmodelled effect removed.
IDEALISED_SIM_GAPS = (DeadZone(0.0), EncoderPlay(0.0), WheelFriction(IDEAL_WHEEL_FRICTION), FrictionWear(0.0))
IDEALISED_SIM = "+".join(str(gap) for gap in IDEALISED_SIM_GAPS)
# One effect at a time, for `gapbench gaps measure` and for studying each alone.
SINGLE_EFFECT_GAPS = tuple(IDEALISED_SIM.split("+"))

for kind in WHEEL_LEGGED_GAPS:
    register_gap_kind(kind)
register_gap_alias("wheel_legged_sim", IDEALISED_SIM)

"""Dynamics gaps: what makes the simulator differ from the real env.

Every gap is a small frozen dataclass with a canonical string form (``gravity:2.0``,
``friction:0.3``, ``joint_noise:1.0``, ``velocity_offset:0.1``, ``none``, and compositions joined
by ``+``). A gap acts on *one* env instance: physics gaps edit that instance's own ``MjModel`` in
memory (Gymnasium compiles a fresh model per ``make``, so nothing is shared), and action gaps
perturb the action that instance executes. No asset file is ever written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

# What the control cost of an action gap is charged on.
#   "commanded": the action the agent chose. The reward stays the same function r(s, a) in sim
#                and real, so the gap is a pure dynamics gap, as the paper's analysis assumes.
#   "executed":  the perturbed, unclipped action that reaches the env, which is what the authors'
#                code does (gym computes the cost on whatever action it is handed).
CostOn = Literal["commanded", "executed"]
_COST_CHOICES = ("commanded", "executed")


class Gap:
    """Base class. Subclasses override the hooks they need."""

    kind: ClassVar[str]
    usage: ClassVar[str]

    def apply_to_model(self, model) -> None:
        """Edit this env's own MjModel in place (physics gaps)."""

    def executed_action(self, action: np.ndarray, qvel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The action the simulator actually executes when the agent commands ``action``."""
        return action

    @property
    def perturbs_action(self) -> bool:
        return False

    @property
    def cost_on(self) -> CostOn:
        return "commanded"

    def parts(self) -> tuple[Gap, ...]:
        return (self,)


def _positive(kind: str, name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"gap {kind}: {name} must be a positive finite number, got {value!r}")
    return value


def _non_negative(kind: str, name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"gap {kind}: {name} must be a non-negative finite number, got {value!r}")
    return value


def _cost(kind: str, value: str) -> CostOn:
    if value not in _COST_CHOICES:
        raise ValueError(f"gap {kind}: control cost must be one of {_COST_CHOICES}, got {value!r}")
    return value  # type: ignore[return-value]


class _ActionGap(Gap):
    """A gap on the executed action, of one size (`magnitude`) and with a control-cost choice."""

    cost: CostOn

    @property
    def magnitude(self) -> float:
        raise NotImplementedError

    @property
    def perturbs_action(self) -> bool:
        return True

    @property
    def cost_on(self) -> CostOn:
        return self.cost

    def __str__(self) -> str:
        suffix = "" if self.cost == "commanded" else f":{self.cost}"
        return f"{self.kind}:{self.magnitude!r}{suffix}"


@dataclass(frozen=True)
class NoGap(Gap):
    """The real dynamics: the simulator is exact."""

    kind: ClassVar[str] = "none"
    usage: ClassVar[str] = "none"

    def __str__(self) -> str:
        return "none"

    def parts(self) -> tuple[Gap, ...]:
        return ()


@dataclass(frozen=True)
class Gravity(Gap):
    """Gravity times ``scale`` (the paper uses 2.0)."""

    scale: float
    kind: ClassVar[str] = "gravity"
    usage: ClassVar[str] = "gravity:<scale>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _positive(self.kind, "scale", self.scale))

    def apply_to_model(self, model) -> None:
        model.opt.gravity[:] = model.opt.gravity * self.scale

    def __str__(self) -> str:
        return f"gravity:{self.scale!r}"


@dataclass(frozen=True)
class Friction(Gap):
    """Every friction coefficient of every geom times ``scale`` (the paper uses 0.3).

    The floor is scaled too: MuJoCo combines two touching geoms' friction with a max, so scaling
    only the robot leaves the contact friction at the floor's value and the gap vanishes.
    """

    scale: float
    kind: ClassVar[str] = "friction"
    usage: ClassVar[str] = "friction:<scale>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _positive(self.kind, "scale", self.scale))

    def apply_to_model(self, model) -> None:
        model.geom_friction[:] = model.geom_friction * self.scale

    def __str__(self) -> str:
        return f"friction:{self.scale!r}"


@dataclass(frozen=True)
class JointNoise(_ActionGap):
    """Gaussian noise N(0, std^2) added to every executed action dimension (the paper uses 1.0).

    MuJoCo clamps the control to the actuators' range, so the physics sees the clipped noisy
    action. The agent and its replay buffer only ever see the commanded action.
    """

    std: float
    cost: CostOn = "commanded"
    kind: ClassVar[str] = "joint_noise"
    usage: ClassVar[str] = "joint_noise:<std>[:commanded|executed]"

    def __post_init__(self) -> None:
        object.__setattr__(self, "std", _non_negative(self.kind, "std", self.std))
        _cost(self.kind, self.cost)

    @property
    def magnitude(self) -> float:
        return self.std

    def executed_action(self, action, qvel, rng):
        return action + self.std * rng.standard_normal(action.shape)


@dataclass(frozen=True)
class VelocityOffset(_ActionGap):
    """The test environment of the paper's Figure 3: an action offset that grows with speed.

    The executed action is ``a + k * |v_x| * 1``, where ``v_x`` is the torso's forward velocity
    (``qvel[0]``) in the state the action is taken from, and ``1`` is the all-ones vector. At rest
    the simulator is exact; the faster the robot runs, the further its joints are pushed off the
    commanded torques, so the true dynamics gap u(s, a) grows with x-velocity.
    """

    k: float
    cost: CostOn = "commanded"
    kind: ClassVar[str] = "velocity_offset"
    usage: ClassVar[str] = "velocity_offset:<k>[:commanded|executed]"

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", _non_negative(self.kind, "k", self.k))
        _cost(self.kind, self.cost)

    @property
    def magnitude(self) -> float:
        return self.k

    def executed_action(self, action, qvel, rng):
        return action + self.k * abs(float(qvel[0]))


@dataclass(frozen=True)
class Composite(Gap):
    """Several gaps at once, e.g. ``gravity:2.0+joint_noise:0.5``; applied left to right."""

    members: tuple[Gap, ...]
    kind: ClassVar[str] = "+"
    usage: ClassVar[str] = "<gap>+<gap>"

    def __post_init__(self) -> None:
        costs = {g.cost_on for g in self.members if g.perturbs_action}
        if len(costs) > 1:
            raise ValueError("gap: composed action gaps must charge the control cost on the same action")

    def apply_to_model(self, model) -> None:
        for gap in self.members:
            gap.apply_to_model(model)

    def executed_action(self, action, qvel, rng):
        for gap in self.members:
            action = gap.executed_action(action, qvel, rng)
        return action

    @property
    def perturbs_action(self) -> bool:
        return any(g.perturbs_action for g in self.members)

    @property
    def cost_on(self) -> CostOn:
        return next((g.cost_on for g in self.members if g.perturbs_action), "commanded")

    def parts(self) -> tuple[Gap, ...]:
        return self.members

    def __str__(self) -> str:
        return "+".join(str(g) for g in self.members)


_KINDS: dict[str, type[Gap]] = {
    cls.kind: cls for cls in (NoGap, Gravity, Friction, JointNoise, VelocityOffset)
}
# The three gaps of the paper's Table 1.
PAPER_GAPS = ("gravity:2.0", "friction:0.3", "joint_noise:1.0")


def gap_kinds() -> list[type[Gap]]:
    return list(_KINDS.values())


def gap_usage() -> str:
    return ", ".join(cls.usage for cls in _KINDS.values()) + "; combine with '+'"


def _parse_one(text: str) -> Gap:
    name, _, rest = text.strip().partition(":")
    cls = _KINDS.get(name)
    if cls is None:
        raise ValueError(f"unknown gap {name!r} in {text!r}; valid gaps: {gap_usage()}")
    args = [a for a in rest.split(":")] if rest else []
    if cls is NoGap:
        if args:
            raise ValueError(f"gap 'none' takes no value, got {text!r}; valid gaps: {gap_usage()}")
        return NoGap()
    if not args or len(args) > (2 if cls in (JointNoise, VelocityOffset) else 1):
        raise ValueError(f"bad gap {text!r}: expected {cls.usage}; valid gaps: {gap_usage()}")
    try:
        value = float(args[0])
    except ValueError:
        raise ValueError(f"bad gap {text!r}: {args[0]!r} is not a number; expected {cls.usage}") from None
    return cls(value, *args[1:])  # type: ignore[call-arg]


def parse_gap(gap: Gap | str) -> Gap:
    """Parse ``gravity:2.0``-style text (or pass a Gap through). Errors list the valid gaps."""
    if isinstance(gap, Gap):
        return gap
    if not isinstance(gap, str) or not gap.strip():
        raise ValueError(f"bad gap {gap!r}; valid gaps: {gap_usage()}")
    parts = [_parse_one(p) for p in gap.split("+")]
    parts = [p for p in parts if not isinstance(p, NoGap)]
    if not parts:
        return NoGap()
    return parts[0] if len(parts) == 1 else Composite(tuple(parts))

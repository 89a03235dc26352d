"""Dynamics gaps: what makes the simulator differ from the real env.

Every gap is a small frozen dataclass with a canonical string form (``gravity:2.0``,
``friction:0.3``, ``joint_noise:1.0``, ``velocity_offset:0.1``, ``none``, and compositions joined
by ``+``). A gap acts on *one* env instance: physics gaps edit that instance's own ``MjModel`` in
memory (Gymnasium compiles a fresh model per ``make``, so nothing is shared), geometry gaps
(morphology) edit the task's model description in memory and compile a model for that instance
alone, and action gaps perturb the action that instance executes. No asset file is ever written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import mujoco
import numpy as np

from .morphology import edit_limbs, limb_for_geom
from .odrl_levels import (KINEMATIC_LEVELS, MORPHOLOGY_LEVEL_NAMES, MORPHOLOGY_PARTS, kinematic_joints,
                          morphology_level)

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

    def apply_to_model(self, model, task: str) -> None:
        """Edit this env's own MjModel in place (physics gaps). ``task`` names the registered task,
        for gaps whose targets (a joint group, a limb) are named per task."""

    @property
    def rebuilds_model(self) -> bool:
        """Whether the gap changes geometry, which only a recompiled model can carry (masses,
        inertias and attached bodies follow the geoms when MuJoCo compiles)."""
        return False

    def edit_spec(self, spec, reference, task: str) -> None:
        """Edit the task's model description (an MjSpec of its XML, in memory) before this env's
        model is compiled from it; ``reference`` is the unedited spec compiled. Every gap's
        `edit_spec` runs before any gap's `apply_to_model`, whatever their order in a composition,
        so a scale gap (mass, friction) acts on the rebuilt model instead of being overwritten."""

    def executed_action(self, action: np.ndarray, qvel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The action the simulator actually executes when the agent commands ``action``."""
        return action

    @property
    def action_delay(self) -> int:
        """Control steps between a command and the joints receiving it (applied before
        `executed_action`, so noise perturbs the delayed command as it reaches the motors)."""
        return 0

    def observed(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """What the policy sees when the true observation is ``obs`` (sensor gaps)."""
        return obs

    @property
    def perturbs_observation(self) -> bool:
        return False

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


def _in_unit_interval(kind: str, name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or not 0 < value <= 1:
        raise ValueError(f"gap {kind}: {name} must be in (0, 1], got {value!r}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


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
class _ScaleGap(Gap):
    """A physics gap of one factor on a model quantity, printed as ``<kind>:<scale>``."""

    scale: float
    allows_zero: ClassVar[bool] = False  # a factor of 0 switches the quantity off (damping)

    def __post_init__(self) -> None:
        check = _non_negative if self.allows_zero else _positive
        object.__setattr__(self, "scale", check(self.kind, "scale", self.scale))

    def __str__(self) -> str:
        return f"{self.kind}:{self.scale!r}"


@dataclass(frozen=True)
class Gravity(_ScaleGap):
    """Gravity times ``scale`` (the paper uses 2.0)."""

    kind: ClassVar[str] = "gravity"
    usage: ClassVar[str] = "gravity:<scale>"

    def apply_to_model(self, model, task) -> None:
        model.opt.gravity[:] = model.opt.gravity * self.scale


@dataclass(frozen=True)
class Friction(_ScaleGap):
    """Every friction coefficient of every geom times ``scale`` (the paper uses 0.3).

    The floor is scaled too: MuJoCo combines two touching geoms' friction with a max, so scaling
    only the robot leaves the contact friction at the floor's value and the gap vanishes.
    """

    kind: ClassVar[str] = "friction"
    usage: ClassVar[str] = "friction:<scale>"

    def apply_to_model(self, model, task) -> None:
        model.geom_friction[:] = model.geom_friction * self.scale


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


def _joint_ids(model, names: tuple[str, ...], kind: str) -> list[int]:
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name) for name in names]
    missing = [name for name, i in zip(names, ids) if i < 0]
    if missing:
        valid = [model.joint(i).name for i in range(model.njnt)]
        raise ValueError(f"gap {kind}: no joint {missing} in this model; joints: {valid}")
    return ids


@dataclass(frozen=True)
class Kinematic(Gap):
    """A "broken joint": the ranges of a part's joints times ``scale`` (ODRL's kinematic shift).

    ``part`` is one of ODRL's per-task parts (halfcheetah foot/thigh, hopper foot/leg, walker2d
    foot/thigh, ant ankle/hip; envs/odrl_levels.py) or a joint's own name. The range shrinks about
    its end nearest zero (zero itself when the range contains it), which reproduces every ODRL XML:
    the joint keeps its neutral pose and loses reach. ``easy``/``medium``/``hard`` are ODRL's 0.8,
    0.5 and 0.2.
    """

    part: str
    scale: float
    kind: ClassVar[str] = "kinematic"
    usage: ClassVar[str] = "kinematic:<part or joint>:<scale|easy|medium|hard>"

    def __post_init__(self) -> None:
        if not self.part or not self.part.replace("_", "").isalnum():
            raise ValueError(f"gap kinematic: part must be a joint or part name, got {self.part!r}")
        object.__setattr__(self, "scale", _in_unit_interval(self.kind, "scale", self.scale))

    @classmethod
    def from_args(cls, args: list[str]) -> Kinematic:
        if len(args) != 2:
            raise ValueError(f"expected {cls.usage}")
        part, level = args
        return cls(part, KINEMATIC_LEVELS[level] if level in KINEMATIC_LEVELS else _number(level))

    def apply_to_model(self, model, task) -> None:
        for j in _joint_ids(model, kinematic_joints(task, self.part), self.kind):
            if not model.jnt_limited[j]:
                raise ValueError(f"gap kinematic: joint {model.joint(j).name!r} has no range to shrink")
            low, high = model.jnt_range[j]
            anchor = 0.0 if low <= 0.0 <= high else (low if abs(low) < abs(high) else high)
            model.jnt_range[j] = anchor + self.scale * (model.jnt_range[j] - anchor)

    def __str__(self) -> str:
        return f"kinematic:{self.part}:{self.scale!r}"


_MORPH_MAX = 4.0  # beyond 4x a limb is another robot, not a gap


def _morph_factor(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or not 0 < value <= _MORPH_MAX:
        raise ValueError(f"gap morphology: {name} must be in (0, {_MORPH_MAX:g}], got {value!r}")
    return value


@dataclass(frozen=True)
class Morphology(Gap):
    """A limb's length (and radius) scaled and the model rebuilt in memory (ODRL's morphology shift).

    ``part`` is one of ODRL's per-task parts (halfcheetah torso/thigh, hopper torso/foot, walker2d
    torso/leg, ant alllegs/halflegs; envs/odrl_levels.py) or a capsule geom's own name. ``length``
    is a factor, or ``easy``/``medium``/``hard``: ODRL's files for that task and part, resolved when
    the gap is applied (hopper's torso grows, halfcheetah's shrinks). ``radius`` scales the capsules'
    radius (numeric form only; a named level sets its own). What hangs off a limb's end moves with
    that end, so nothing else about the robot changes; mass and inertia follow the new geometry,
    as they do when MuJoCo compiles ODRL's XML.
    """

    part: str
    length: float | str
    radius: float = 1.0
    kind: ClassVar[str] = "morphology"
    usage: ClassVar[str] = "morphology:<part or geom>:<easy|medium|hard|length[:radius]>"

    def __post_init__(self) -> None:
        if not self.part or not self.part.replace("_", "").isalnum():
            raise ValueError(f"gap morphology: part must be a part or geom name, got {self.part!r}")
        if isinstance(self.length, str) and self.length in MORPHOLOGY_LEVEL_NAMES:
            if self.radius != 1.0:
                raise ValueError(f"gap morphology: radius: a named level ({self.length}) sets its own "
                                 "radius; give length:radius as numbers instead")
        else:
            try:
                length = _number(self.length) if isinstance(self.length, str) else self.length
            except ValueError:
                raise ValueError(f"gap morphology: length must be one of {MORPHOLOGY_LEVEL_NAMES} or a "
                                 f"number in (0, {_MORPH_MAX:g}], got {self.length!r}") from None
            object.__setattr__(self, "length", _morph_factor("length", length))
        object.__setattr__(self, "radius", _morph_factor("radius", self.radius))

    @classmethod
    def from_args(cls, args: list[str]) -> Morphology:
        if len(args) == 2:
            return cls(args[0], args[1])
        if len(args) == 3:
            try:
                radius = _number(args[2])
            except ValueError:
                raise ValueError(f"gap morphology: radius must be a number in (0, {_MORPH_MAX:g}], "
                                 f"got {args[2]!r}") from None
            return cls(args[0], args[1], radius)
        raise ValueError(f"expected {cls.usage}")

    @property
    def rebuilds_model(self) -> bool:
        return True

    def edit_spec(self, spec, reference, task) -> None:
        parts = MORPHOLOGY_PARTS.get(task, {})
        if self.part in parts:
            elements = parts[self.part]
        else:
            if mujoco.mj_name2id(reference, mujoco.mjtObj.mjOBJ_GEOM, self.part) < 0:
                geoms = [reference.geom(i).name for i in range(reference.ngeom) if reference.geom(i).name]
                raise ValueError(f"gap morphology: no part or geom {self.part!r} on {task}; "
                                 f"parts: {list(parts) or 'none'}; geoms: {geoms}")
            elements = (limb_for_geom(reference, self.part, self.kind),)
        if isinstance(self.length, str):
            lengths, radius = morphology_level(task, self.part, self.length)
        else:
            lengths, radius = (self.length,) * len(elements), self.radius
        edit_limbs(spec, reference, elements, lengths, radius, self.kind)

    def __str__(self) -> str:
        length = self.length if isinstance(self.length, str) else repr(self.length)
        suffix = "" if self.radius == 1.0 else f":{self.radius!r}"
        return f"morphology:{self.part}:{length}{suffix}"


@dataclass(frozen=True)
class Mass(Gap):
    """Mass and rotational inertia of one body (or of every body) times ``scale``.

    Inertia scales with the mass, as it does for a body of the same shape and a denser material, so
    only the amount of matter changes. ``mass:<body>:<scale>`` names the body."""

    scale: float
    body: str = ""  # "" = every body
    kind: ClassVar[str] = "mass"
    usage: ClassVar[str] = "mass:[<body>:]<scale>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _positive(self.kind, "scale", self.scale))

    @classmethod
    def from_args(cls, args: list[str]) -> Mass:
        if len(args) == 1:
            return cls(_number(args[0]))
        if len(args) == 2:
            return cls(_number(args[1]), args[0])
        raise ValueError(f"expected {cls.usage}")

    def apply_to_model(self, model, task) -> None:
        if self.body:
            ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, self.body)]
            if ids[0] < 0:
                valid = [model.body(i).name for i in range(1, model.nbody)]
                raise ValueError(f"gap mass: no body {self.body!r} in this model; bodies: {valid}")
        else:
            ids = list(range(1, model.nbody))  # body 0 is the static world
        for b in ids:
            model.body_mass[b] *= self.scale
            model.body_inertia[b] *= self.scale

    def __str__(self) -> str:
        return f"mass:{self.body}:{self.scale!r}" if self.body else f"mass:{self.scale!r}"


@dataclass(frozen=True)
class Actuator(_ScaleGap):
    """Every motor's strength (its gear, torque per unit of control) times ``scale``.

    A weaker or stronger motor than the model's, as with a worn or a different gearbox."""

    kind: ClassVar[str] = "actuator"
    usage: ClassVar[str] = "actuator:<scale>"

    def apply_to_model(self, model, task) -> None:
        model.actuator_gear[:, 0] *= self.scale


@dataclass(frozen=True)
class Damping(_ScaleGap):
    """Every joint's damping times ``scale`` (viscous friction in the joints)."""

    kind: ClassVar[str] = "damping"
    usage: ClassVar[str] = "damping:<scale>"
    allows_zero: ClassVar[bool] = True

    def apply_to_model(self, model, task) -> None:
        model.dof_damping[:] = model.dof_damping * self.scale


@dataclass(frozen=True)
class ActionDelay(_ActionGap):
    """The command reaches the joints ``steps`` control steps late.

    Until then the motors hold the previous commands, starting each episode from zero torque. A
    classic sim-to-real gap (bus latency, a slow controller loop) that no peer benchmark has.

    The control cost is charged on the commanded action by default, as for the other action gaps.
    """

    steps: int
    cost: CostOn = "commanded"
    kind: ClassVar[str] = "action_delay"
    usage: ClassVar[str] = "action_delay:<steps>[:commanded|executed]"

    def __post_init__(self) -> None:
        steps = self.steps
        if isinstance(steps, float) and steps.is_integer():
            steps = int(steps)
        if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= 1000:
            raise ValueError(f"gap action_delay: steps must be an integer from 1 to 1000, got {self.steps!r}")
        object.__setattr__(self, "steps", steps)
        _cost(self.kind, self.cost)

    @property
    def magnitude(self) -> int:
        return self.steps

    @property
    def action_delay(self) -> int:
        return self.steps


@dataclass(frozen=True)
class ObsNoise(Gap):
    """Gaussian sensor noise N(0, std^2) on every dimension of what the policy observes.

    The physics and the reward are untouched; the agent and its replay buffer see the noisy reading."""

    std: float
    kind: ClassVar[str] = "obs_noise"
    usage: ClassVar[str] = "obs_noise:<std>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "std", _positive(self.kind, "std", self.std))

    def observed(self, obs, rng):
        return obs + self.std * rng.standard_normal(obs.shape)

    @property
    def perturbs_observation(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"obs_noise:{self.std!r}"



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

    def apply_to_model(self, model, task: str) -> None:
        for gap in self.members:
            gap.apply_to_model(model, task)

    @property
    def rebuilds_model(self) -> bool:
        return any(g.rebuilds_model for g in self.members)

    def edit_spec(self, spec, reference, task: str) -> None:
        for gap in self.members:
            gap.edit_spec(spec, reference, task)

    def executed_action(self, action, qvel, rng):
        for gap in self.members:
            action = gap.executed_action(action, qvel, rng)
        return action

    @property
    def perturbs_action(self) -> bool:
        return any(g.perturbs_action for g in self.members)

    @property
    def action_delay(self) -> int:
        return sum(g.action_delay for g in self.members)

    def observed(self, obs, rng):
        for gap in self.members:
            obs = gap.observed(obs, rng)
        return obs

    @property
    def perturbs_observation(self) -> bool:
        return any(g.perturbs_observation for g in self.members)

    @property
    def cost_on(self) -> CostOn:
        return next((g.cost_on for g in self.members if g.perturbs_action), "commanded")

    def parts(self) -> tuple[Gap, ...]:
        return self.members

    def __str__(self) -> str:
        return "+".join(str(g) for g in self.members)


_KINDS: dict[str, type[Gap]] = {
    cls.kind: cls
    for cls in (NoGap, Gravity, Friction, JointNoise, VelocityOffset, Kinematic, Morphology, Mass, Actuator,
                Damping, ActionDelay, ObsNoise)
}
# The three gaps of the paper's Table 1.
PAPER_GAPS = ("gravity:2.0", "friction:0.3", "joint_noise:1.0")


# Readable names for long compositions; a gap parsed from an alias prints as its composition.
_ALIASES: dict[str, str] = {}


def register_gap_kind(cls: type[Gap]) -> type[Gap]:
    """Make a task family's own gap kind parseable (e.g. the wheel-legged robot's motor effects)."""
    if cls.kind in _KINDS:
        raise ValueError(f"gap kind {cls.kind!r} is already registered")
    _KINDS[cls.kind] = cls
    return cls


def register_gap_alias(name: str, gap: str) -> None:
    if name in _ALIASES or name in _KINDS:
        raise ValueError(f"gap name {name!r} is already taken")
    _ALIASES[name] = gap


def gap_aliases() -> dict[str, str]:
    return dict(_ALIASES)


def gap_kinds() -> list[type[Gap]]:
    return list(_KINDS.values())


def gap_usage() -> str:
    return ", ".join(cls.usage for cls in _KINDS.values()) + "; combine with '+'"


def _from_args(cls: type[Gap], args: list[str]) -> Gap:
    """The default argument rule: a number, then at most one more field (a cost choice)."""
    if cls is NoGap:
        if args:
            raise ValueError("gap 'none' takes no value")
        return NoGap()
    if not args or len(args) > (2 if issubclass(cls, _ActionGap) else 1):
        raise ValueError(f"expected {cls.usage}")
    return cls(_number(args[0]), *args[1:])  # type: ignore[call-arg]


def _parse_one(text: str) -> Gap:
    name, _, rest = text.strip().partition(":")
    cls = _KINDS.get(name)
    if cls is None:
        raise ValueError(f"unknown gap {name!r} in {text!r}; valid gaps: {gap_usage()}")
    args = rest.split(":") if rest else []
    try:
        return cls.from_args(args) if hasattr(cls, "from_args") else _from_args(cls, args)
    except ValueError as error:
        raise ValueError(f"bad gap {text!r}: {error}; valid gaps: {gap_usage()}") from None


def parse_gap(gap: Gap | str) -> Gap:
    """Parse ``gravity:2.0``-style text (or pass a Gap through). Errors list the valid gaps."""
    if isinstance(gap, Gap):
        return gap
    if not isinstance(gap, str) or not gap.strip():
        raise ValueError(f"bad gap {gap!r}; valid gaps: {gap_usage()}")
    parts = [_parse_one(p) for p in _ALIASES.get(gap.strip(), gap).split("+")]
    parts = [p for p in parts if not isinstance(p, NoGap)]
    if not parts:
        return NoGap()
    _reject_repeats(gap, parts)
    return parts[0] if len(parts) == 1 else Composite(tuple(parts))


def _reject_repeats(text: str, parts: list[Gap]) -> None:
    """One simulator is one cell: `gravity:2.0+gravity:3.0` would be `gravity:6.0` under another
    name, so a kind given twice for the same target (a body, a joint group) is an error."""
    seen: dict[tuple[str, str], Gap] = {}
    for part in parts:
        slot = (part.kind, getattr(part, "part", getattr(part, "body", "")))
        if slot in seen:
            target = f" for {slot[1]!r}" if slot[1] else ""
            raise ValueError(f"bad gap {text!r}: {part.kind}{target} is given twice ({seen[slot]} and {part}); "
                             "give each kind once, with the combined value")
        seen[slot] = part

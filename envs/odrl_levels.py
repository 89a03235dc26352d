"""ODRL's named shift levels (OffDynamicsRL/off-dynamics-rl, NeurIPS 2024 D&B), as gapbench gaps.

ODRL ships one hand-edited XML per task x shift x level. Read from its assets (HEAD 34bba73):

* kinematic ("broken joint", env names ``<task>-kinematic-<part>jnt``): the joint ranges of a part
  shrunk to 0.8x, 0.5x and 0.2x at easy, medium and hard, about the end of the range nearest zero
  (zero itself when the range contains it). E.g. halfcheetah bfoot -.4 .. .785 -> -.08 .. .157 at
  hard, hopper leg -150 .. 0 -> -120 .. 0 at easy, ant ankle_1 30 .. 70 -> 30 .. 38 at hard.
* gravity and friction at 0.1, 0.5, 2.0 and 5.0 are gapbench's `gravity:<s>` and `friction:<s>`.
* morphology (env names ``<task>-morph-<part>``): a limb's length, and on hopper also its radius,
  changed per task, part and level. ODRL's files and the factors gapbench derives from them are in
  `MORPHOLOGY_LEVELS` below and in docs/odrl-shifts.md.

The parts below are ODRL's sub-types, each with the joints (kinematic) or limbs (morphology) its
XMLs edit.
"""

from __future__ import annotations

import math

from .morphology import Element, Knee, Limb

KINEMATIC_LEVELS: dict[str, float] = {"easy": 0.8, "medium": 0.5, "hard": 0.2}
ODRL_SCALES = (0.1, 0.5, 2.0, 5.0)  # ODRL's gravity and friction levels

KINEMATIC_PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    "halfcheetah": {"foot": ("bfoot", "ffoot"), "thigh": ("bthigh", "fthigh")},
    "hopper": {"foot": ("foot_joint",), "leg": ("leg_joint",)},
    "walker2d": {"foot": ("foot_joint", "foot_left_joint"), "thigh": ("thigh_joint", "thigh_left_joint")},
    "ant": {"ankle": ("ankle_1", "ankle_2", "ankle_3", "ankle_4"), "hip": ("hip_1", "hip_2", "hip_3", "hip_4")},
}


def kinematic_joints(task: str, part: str) -> tuple[str, ...]:
    """The joints of a named part on a task, or a single joint named directly."""
    parts = KINEMATIC_PARTS.get(task, {})
    return parts.get(part, (part,))


def odrl_gap_strings(task: str) -> list[tuple[str, str]]:
    """Every ODRL locomotion environment of a task, as (ODRL env name and level, gapbench gap)."""
    rows = []
    for kind in ("gravity", "friction"):
        rows += [(f"{task}-{kind} {s}", f"{kind}:{s}") for s in ODRL_SCALES]
    for part in KINEMATIC_PARTS.get(task, {}):
        rows += [(f"{task}-kinematic-{part}jnt {level}", f"kinematic:{part}:{level}") for level in KINEMATIC_LEVELS]
    for part in MORPHOLOGY_PARTS.get(task, {}):
        rows += [(f"{task}-morph-{part} {level}", f"morphology:{part}:{level}")
                 for level in MORPHOLOGY_LEVEL_NAMES]
    return rows


# ODRL's morphology parts: the limbs each `<task>_morph_<part>_<level>.xml` changes, and the joint
# each limb is scaled about (the point ODRL's files keep in place).
MORPHOLOGY_PARTS: dict[str, dict[str, tuple[Element, ...]]] = {
    # torso: the capsule -.5 .. .5 about its centre (the root hinge), head and hips at its ends.
    # thigh: both thighs about their hips, the shins at their ends.
    "halfcheetah": {"torso": (Limb("torso", "rooty"),),
                    "thigh": (Limb("bthigh", "bthigh"), Limb("fthigh", "fthigh"))},
    # torso: the top end goes up, the hip end (thigh_joint) stays. foot: about the ankle (foot_joint).
    "hopper": {"torso": (Limb("torso_geom", "thigh_joint"),), "foot": (Limb("foot_geom", "foot_joint"),)},
    # leg: both knees move down their legs, the feet stay.
    "walker2d": {"torso": (Limb("torso_geom", "thigh_joint"),),
                 "leg": (Knee("leg_joint", "thigh_geom", "leg_geom"),
                         Knee("leg_left_joint", "thigh_left_geom", "leg_left_geom"))},
    # the lower legs (ankle capsules) about the ankles: all four, or the front two.
    "ant": {"alllegs": tuple(Limb(f"{geom}_ankle_geom", f"ankle_{k}")
                             for k, geom in enumerate(("left", "right", "third", "fourth"), start=1)),
            "halflegs": (Limb("left_ankle_geom", "ankle_1"), Limb("right_ankle_geom", "ankle_2"))},
}


def _ratio(end: tuple[float, float], base_half_length: float) -> float:
    """ODRL's fromto ``0 0 0 x 0 z`` capsule length over the base capsule's (twice its half-length)."""
    return math.hypot(*end) / (2 * base_half_length)


# level -> (one length factor per limb of the part, the radius factor), each read off ODRL's XMLs
# against its base file (half_cheetah.xml, hopper.xml, walker2d.xml, ant.xml):
#   halfcheetah torso: fromto -.5 .. .5 -> -.4 .. .4, -.25 .. .25, -.1 .. .1.
#   halfcheetah thigh: bthigh (half-length .145) -> fromto 0 .. (.11, -.11), (.08, -.08), (.02, -.02);
#                      fthigh (.133) -> (-.09, -.1), (-.07, -.08), (-.04, -.05). ODRL also rewrites both
#                      shins and re-aims both thighs; gapbench takes the thighs' lengths only.
#   hopper and walker2d torso: top 1.45 -> 1.53, 1.69, 1.85 over the hip at 1.05;
#                              radius .05 -> .075, .1, .125.
#   hopper foot: fromto -.13 .. .26 -> x .8, .6, .4 about the ankle at 0; radius .06 -> .048, .036, .024.
#   walker2d leg: knee .6 -> .5, .35, .2 over the foot at .1 (shin .5 -> .4, .25, .1; thigh grows to match).
#   ant ankles: fromto 0 .. (.4, .4) -> (.32, .32), (.2, .2), (.08, .08); radius unchanged.
_TORSO_UP = {"easy": ((1.2,), 1.5), "medium": ((1.6,), 2.0), "hard": ((2.0,), 2.5)}
MORPHOLOGY_LEVELS: dict[str, dict[str, dict[str, tuple[tuple[float, ...], float]]]] = {
    "halfcheetah": {
        "torso": {"easy": ((0.8,), 1.0), "medium": ((0.5,), 1.0), "hard": ((0.2,), 1.0)},
        "thigh": {"easy": ((_ratio((0.11, -0.11), 0.145), _ratio((-0.09, -0.1), 0.133)), 1.0),
                  "medium": ((_ratio((0.08, -0.08), 0.145), _ratio((-0.07, -0.08), 0.133)), 1.0),
                  "hard": ((_ratio((0.02, -0.02), 0.145), _ratio((-0.04, -0.05), 0.133)), 1.0)},
    },
    "hopper": {"torso": _TORSO_UP,
               "foot": {"easy": ((0.8,), 0.8), "medium": ((0.6,), 0.6), "hard": ((0.4,), 0.4)}},
    "walker2d": {"torso": _TORSO_UP,
                 "leg": {"easy": ((0.8, 0.8), 1.0), "medium": ((0.5, 0.5), 1.0), "hard": ((0.2, 0.2), 1.0)}},
    "ant": {"alllegs": {"easy": ((0.8,) * 4, 1.0), "medium": ((0.5,) * 4, 1.0), "hard": ((0.2,) * 4, 1.0)},
            "halflegs": {"easy": ((0.8,) * 2, 1.0), "medium": ((0.5,) * 2, 1.0), "hard": ((0.2,) * 2, 1.0)}},
}
MORPHOLOGY_LEVEL_NAMES = ("easy", "medium", "hard")


def morphology_level(task: str, part: str, level: str) -> tuple[tuple[float, ...], float]:
    """ODRL's (length factors, radius factor) for a named level of a part on a task."""
    levels = MORPHOLOGY_LEVELS.get(task, {}).get(part)
    if levels is None:
        named = ", ".join(MORPHOLOGY_LEVELS.get(task, {})) or "none"
        raise ValueError(f"gap morphology: ODRL has no level {level!r} for part {part!r} on {task}; "
                         f"its parts there: {named} (or give a number)")
    return levels[level]


def morphology_parts_text(task: str) -> str:
    """One line of a task's ODRL morphology parts, their limbs and their easy/medium/hard factors,
    for listings: ``torso (torso_geom: length 1.2/1.6/2x, radius 1.5/2/2.5x); ...``."""
    described = []
    for part, elements in MORPHOLOGY_PARTS.get(task, {}).items():
        levels = [MORPHOLOGY_LEVELS[task][part][name] for name in MORPHOLOGY_LEVEL_NAMES]
        limbs = ", ".join(e.geom if isinstance(e, Limb) else f"{e.lower} below a moving knee"
                          for e in elements)
        lengths = "/".join(f"{lengths[0]:.3g}" if len(set(lengths)) == 1 else
                           "(" + ", ".join(f"{x:.3g}" for x in lengths) + ")" for lengths, _ in levels)
        radii = {radius for _, radius in levels}
        radius = "" if radii == {1.0} else ", radius " + "/".join(f"{r:.3g}" for _, r in levels) + "x"
        described.append(f"{part} ({limbs}: length {lengths}x{radius})")
    return "; ".join(described)

"""ODRL's named shift levels (OffDynamicsRL/off-dynamics-rl, NeurIPS 2024 D&B), as gapbench gaps.

ODRL ships one hand-edited XML per task x shift x level. Read from its assets (HEAD 34bba73):

* kinematic ("broken joint", env names ``<task>-kinematic-<part>jnt``): the joint ranges of a part
  shrunk to 0.8x, 0.5x and 0.2x at easy, medium and hard, about the end of the range nearest zero
  (zero itself when the range contains it). E.g. halfcheetah bfoot -.4 .. .785 -> -.08 .. .157 at
  hard, hopper leg -150 .. 0 -> -120 .. 0 at easy, ant ankle_1 30 .. 70 -> 30 .. 38 at hard.
* gravity and friction at 0.1, 0.5, 2.0 and 5.0 are gapbench's `gravity:<s>` and `friction:<s>`.

The parts below are ODRL's sub-types, each with the joints its XMLs edit.
"""

from __future__ import annotations

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
    return rows

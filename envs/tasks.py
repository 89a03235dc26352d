"""The task registry: one line per MuJoCo locomotion task.

A task fixes the Gymnasium env the *real* world runs, its dimensions, and the D4RL reference
returns that turn a return into a normalised score. Adding a task is one `register` call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Importing the robot registers its Gymnasium ids, which `make_real` builds by name.
from .wheel_legged import GYM_IDS as WHEEL_LEGGED_GYM_IDS
from .wheel_legged import MAX_EPISODE_STEPS as WHEEL_LEGGED_EPISODE_STEPS
from .wheel_legged import TASKS as WHEEL_LEGGED_TASKS


@dataclass(frozen=True)
class TaskSpec:
    name: str
    gym_id: str
    obs_dim: int
    act_dim: int
    ref_min_score: float  # D4RL's random-policy return (REF_MIN_SCORE)
    ref_max_score: float  # D4RL's expert return (REF_MAX_SCORE)
    x_velocity_obs_index: int  # where the torso's forward velocity sits in the observation
    max_episode_steps: int = 1000
    make_kwargs: dict[str, Any] = field(default_factory=dict)
    # For the episode traces of the final evaluation (the paper's Figure 2(c)-(d)): where the body's
    # tilt sits in the observation, and the forward velocity the task asks for (None: not that kind of task).
    tilt_obs_index: int | None = None
    target_velocity: float | None = None
    # D4RL's medium level for this task: the normalised mean return of D4RL's <task>-medium-v2 *data*
    # (the stochastic policy's episodes), which the dataset recipe's medium policy aims at
    # (benchmark/data/generation.py). None: no published figure (ant) or not a D4RL task (the
    # wheel-legged robot, whose data is the scripted operator's). Sources:
    # results/reference/datasets/d4rl-figures.md and d4rl-figures-locomotion.md.
    d4rl_medium_score: float | None = None
    # The spread (population std over episodes) of that data's returns: how far from its mean D4RL's own
    # medium episodes lie. The recipe's medium pick reads it as the width of "at D4RL's level". None: no
    # published figure.
    d4rl_medium_return_std: float | None = None

    def normalized_score(self, ret: float) -> float:
        """D4RL's normalised score, on the 0-100 scale the papers report."""
        return 100.0 * (ret - self.ref_min_score) / (self.ref_max_score - self.ref_min_score)

    def return_of_score(self, score: float) -> float:
        """The return that has D4RL-normalised score ``score`` (the inverse of `normalized_score`)."""
        return self.ref_min_score + score / 100.0 * (self.ref_max_score - self.ref_min_score)


# The dataset recipe's medium level on a task without `d4rl_medium_score` (ant; the wheel-legged tasks,
# whose data is the operator's and never reads it): the level the recipe used on every task before
# levels were per task, HalfCheetah's. Keeping it keeps the recorded recipes, and so the identities,
# of the committed runs on those tasks.
DEFAULT_MEDIUM_SCORE = 40.0

_TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    if spec.name in _TASKS:
        raise ValueError(f"task {spec.name!r} is already registered")
    _TASKS[spec.name] = spec
    return spec


def get_task(name: str) -> TaskSpec:
    try:
        return _TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(_TASKS))}") from None


def task_names() -> list[str]:
    return list(_TASKS)


# Observation = qpos without the root x position, then qvel, so the root x velocity is the first
# qvel entry. Reference scores are D4RL's (d4rl/infos.py) for the v2 datasets.
# Medium levels: D4RL's medium-v2 data's mean return, normalised with these reference scores, to one
# decimal as D4RL's tables print normalised scores (the return means are third-party measurements of
# D4RL's files, quoted in results/reference/datasets/d4rl-figures*.md).
# halfcheetah-medium-v2 returns 4770.33 ± 355.75, normalised 40.68; the level stays 40, the recipe's
# level before levels were per task, because the committed generation checkpoint
# (results/reference/datasets/generation/, tag ...-m40) and every HalfCheetah run are at m40, and moving
# to 40.7 would rename that recipe and orphan both.
register_task(TaskSpec("halfcheetah", "HalfCheetah-v5", 17, 6, -280.178953, 12135.0, 8, d4rl_medium_score=40.0,
                       d4rl_medium_return_std=355.75))
# hopper-medium-v2: mean return 1422.06 ± 378.95 (Decision Transformer's download log of D4RL's file) -> 44.32.
register_task(TaskSpec("hopper", "Hopper-v5", 11, 3, -20.272305, 3234.3, 5, d4rl_medium_score=44.3,
                       d4rl_medium_return_std=378.95))
# walker2d-medium-v2: mean return 2852.09 ± 1095.44 (the same log) -> 62.09.
register_task(TaskSpec("walker2d", "Walker2d-v5", 17, 6, 1.629008, 4592.3, 8, d4rl_medium_score=62.1,
                       d4rl_medium_return_std=1095.44))
# D4RL's ant-v2 observed contact forces (111 dims); Gymnasium v5 cannot reproduce that layout, so
# the v5 ant leaves them out (27 dims) and D4RL ant files do not load for it. No public source found
# gives ant-medium-v2's return statistics, so ant has no medium level and the recipe's default applies.
register_task(
    TaskSpec("ant", "Ant-v5", 27, 8, -325.6, 3879.7, 13,
             make_kwargs={"include_cfrc_ext_in_observation": False})
)

# The paper's wheel-legged robot (docs/wheel-legged.md): obs (theta, theta_dot, x, x_dot), forward velocity
# at index 3. Reference returns: a uniformly random policy and the noiseless LQR on the real robot,
# 100 episodes each (envs/wheel_legged_operator.py, `reference_returns`).
register_task(TaskSpec("wheel-legged-stand", WHEEL_LEGGED_GYM_IDS["stand"], 4, 2, 9.174945, 952.553476, 3,
                       WHEEL_LEGGED_EPISODE_STEPS, tilt_obs_index=0,
                       target_velocity=WHEEL_LEGGED_TASKS["stand"].target_velocity))
register_task(TaskSpec("wheel-legged-move", WHEEL_LEGGED_GYM_IDS["move"], 4, 2, 6.667227, 926.071155, 3,
                       WHEEL_LEGGED_EPISODE_STEPS, tilt_obs_index=0,
                       target_velocity=WHEEL_LEGGED_TASKS["move"].target_velocity))

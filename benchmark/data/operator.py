"""The wheel-legged robot's "human" data: the scripted operator driving the real robot.

The paper's real-robot dataset is "100,000 human-controlled transitions" per task, not a SAC
policy's rollouts, so these tasks get their own dataset kind, `human`, made by the scripted operator
of `envs/wheel_legged_operator.py` in the real env and cached in D4RL format like the generated
D4RL-style datasets, with the operator's recipe (settings, seed, LQR gain) in the metadata.
The recipe's `size` is the number of transitions and its `seed` the operator's and the resets'
seed; its SAC `budget` plays no part.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from gapbench import envs
from gapbench.envs.wheel_legged_operator import OPERATOR_VERSION, operator_transitions

(KIND,) = envs.OPERATOR_KINDS  # "human"
GENERATOR = "gapbench-operator"


def path(task: str, recipe) -> Path:
    """The cache file; its tag holds only what the data depends on: size, seed, operator version."""
    return envs.generated_path(task, KIND, f"n{recipe.size}-s{recipe.seed}-op{OPERATOR_VERSION}")


def generate(task: str, recipe, target: Path) -> Path:
    """Record the operator's transitions in the real robot (a task without an operator fails here)."""
    spec = envs.get_task(task)
    data = operator_transitions(envs.make_real(task), task, recipe.size, recipe.seed)
    return envs.save_d4rl(data, target, {"task": task, "env": spec.gym_id, "kind": KIND,
                                         "generator": GENERATOR, "recipe": asdict(recipe)})

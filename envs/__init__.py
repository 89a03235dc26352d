"""Tasks, dynamics gaps and offline datasets. This layer imports nothing from the others."""

from gapbench.envs.offline_data import Transitions, load_d4rl, save_d4rl
from gapbench.envs.discovery import D4RL_KINDS, DATASET_KINDS, GENERATED_KINDS, OPERATOR_KINDS, d4rl_dir, d4rl_path, gapbench_data_dir, generated_path
from gapbench.envs.gaps import (PAPER_GAPS, ActionDelay, Actuator, Composite, Damping, Friction, Gap, Gravity, JointNoise,
                                Kinematic, Mass, Morphology, NoGap, ObsNoise, VelocityOffset, parse_gap)
from gapbench.envs import wheel_legged_gaps  # registers the robot's motor and tyre effects as gap kinds
from gapbench.envs.make import make_real, make_sim
from gapbench.envs.minari_adapter import load_minari
from gapbench.envs.measure import GapMeasure, measure_gap
from gapbench.envs.state import get_env_state, set_env_state
from gapbench.envs.tasks import DEFAULT_MEDIUM_SCORE, TaskSpec, get_task, register_task, task_names
from gapbench.envs.d4rl_file import DatasetError
from gapbench.envs.offline_data import DatasetSummary, check_d4rl

__all__ = [
    "D4RL_KINDS", "DATASET_KINDS", "DEFAULT_MEDIUM_SCORE", "GENERATED_KINDS", "OPERATOR_KINDS", "PAPER_GAPS", "ActionDelay", "Actuator", "Composite", "Damping", "DatasetError", "DatasetSummary", "Friction", "Gap",
    "GapMeasure", "Gravity", "JointNoise", "Kinematic", "Mass", "Morphology", "NoGap", "ObsNoise", "TaskSpec", "Transitions", "VelocityOffset",
    "check_d4rl", "d4rl_dir", "d4rl_path", "gapbench_data_dir", "generated_path", "get_env_state", "get_task",
    "load_d4rl", "load_minari", "make_real", "make_sim", "measure_gap", "parse_gap", "register_task",
    "save_d4rl", "set_env_state", "task_names", "wheel_legged_gaps",
]

"""Where offline datasets live: D4RL downloads first, then gapbench's cache of generated ones."""

from __future__ import annotations

import os
from pathlib import Path

# The D4RL datasets the paper uses, by their D4RL names (halfcheetah-<kind>-v2).
D4RL_KINDS = ("medium", "medium-replay", "medium-expert")
# What gapbench can generate with D4RL's recipe; "expert" is the second half of medium-expert.
GENERATED_KINDS = ("medium", "medium-replay", "expert", "medium-expert")
# The wheel-legged robot's "human-controlled transitions": the scripted operator in the real robot.
OPERATOR_KINDS = ("human",)
DATASET_KINDS = GENERATED_KINDS + OPERATOR_KINDS


def d4rl_dir() -> Path:
    return Path(os.environ.get("D4RL_DATASET_DIR", "~/.d4rl/datasets")).expanduser()


def d4rl_path(task: str, kind: str) -> Path:
    """D4RL's download file name, e.g. halfcheetah_medium_replay-v2.hdf5."""
    return d4rl_dir() / f"{task}_{kind.replace('-', '_')}-v2.hdf5"


def gapbench_data_dir() -> Path:
    return Path(os.environ.get("GAPBENCH_DATA", "~/.cache/gapbench")).expanduser()


def generated_path(task: str, kind: str, recipe_tag: str) -> Path:
    """A generated dataset's cache file; the tag names the recipe (size, budget, seed, medium level)."""
    return gapbench_data_dir() / "datasets" / f"{task}-{kind}-{recipe_tag}.hdf5"

"""Offline datasets in D4RL's HDF5 format, as learners consume them.

The file holds flat arrays ``observations``, ``actions``, ``rewards``, ``terminals`` and optionally
``timeouts`` and ``next_observations``, one row per environment step. Loading follows D4RL's
``qlearning_dataset``:

* a row flagged ``timeouts`` ends its episode by the time limit and is dropped (D4RL's loader
  pairs it with row i+1, which belongs to the next episode);
* ``terminals`` become the done flag, so a terminal transition does not bootstrap;
* without a ``timeouts`` key (v0 files) an episode is cut every ``max_episode_steps`` steps.

Where D4RL's loader is wrong, this one is right: it uses the stored ``next_observations`` when
the file has them (D4RL re-derives them from row i+1), and then keeps the file's final row
(D4RL's ``range(N-1)`` drops it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from gapbench.envs.d4rl_file import DatasetError, read_d4rl_arrays, write_d4rl_arrays
from gapbench.envs.tasks import get_task


@dataclass(eq=False)
class Transitions:
    """Row i is one transition (s, a, r, s', done)."""

    observations: np.ndarray  # (N, obs_dim) float32
    actions: np.ndarray  # (N, act_dim) float32
    rewards: np.ndarray  # (N,) float32
    next_observations: np.ndarray  # (N, obs_dim) float32
    terminals: np.ndarray  # (N,) bool: the episode truly ended, so s' is not bootstrapped
    timeouts: np.ndarray  # (N,) bool: the time limit cut the episode after this row
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def obs_dim(self) -> int:
        return self.observations.shape[1]

    @property
    def act_dim(self) -> int:
        return self.actions.shape[1]

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "metadata"}

    def equals(self, other: Transitions) -> bool:
        """Bitwise equality of every array (and its dtype) and of the metadata."""
        mine, theirs = self.arrays(), other.arrays()
        same = all(mine[k].dtype == theirs[k].dtype and np.array_equal(mine[k], theirs[k]) for k in mine)
        return same and self.metadata == other.metadata

    @staticmethod
    def concatenate(parts: list[Transitions], metadata: dict[str, Any] | None = None) -> Transitions:
        arrays = {k: np.concatenate([p.arrays()[k] for p in parts]) for k in parts[0].arrays()}
        return Transitions(**arrays, metadata=dict(metadata or {}))


def load_d4rl(
    path: str | Path,
    *,
    task: str | None = None,
    max_episode_steps: int = 1000,
    drop_timeouts: bool = True,
) -> Transitions:
    """Load and validate a D4RL-format file; raises `DatasetError` naming the file and problem.

    With ``task`` the observation and action sizes are checked against it. ``drop_timeouts=False``
    keeps the time-limit rows, as the H2O authors' loader does; that needs ``next_observations``.
    """
    raw = read_d4rl_arrays(path, **_dims(task))
    return _qlearning(path, raw, get_task(task).max_episode_steps if task else max_episode_steps, drop_timeouts)


def _dims(task: str | None) -> dict[str, int]:
    if task is None:
        return {}
    spec = get_task(task)
    return {"obs_dim": spec.obs_dim, "act_dim": spec.act_dim}


def _qlearning(path, raw: dict[str, Any], max_episode_steps: int, drop_timeouts: bool) -> Transitions:
    n = len(raw["rewards"])
    terminals = raw["terminals"]
    timeouts = raw["timeouts"] if "timeouts" in raw else time_limit_ends(terminals, max_episode_steps)
    if "next_observations" in raw:
        next_obs = raw["next_observations"]
        keep = np.ones(n, bool)
    else:
        next_obs = np.concatenate([raw["observations"][1:], raw["observations"][-1:]])
        keep = np.arange(n) < n - 1  # the last row has no successor in the file
    if drop_timeouts:
        keep &= ~timeouts
    elif "next_observations" not in raw:
        raise DatasetError(path, "keeping time-limit rows needs stored next_observations")
    if not keep.any():
        raise DatasetError(path, "no usable transitions after removing time-limit rows")
    return Transitions(
        observations=raw["observations"][keep],
        actions=raw["actions"][keep],
        rewards=raw["rewards"][keep],
        next_observations=next_obs[keep],
        terminals=terminals[keep],
        timeouts=timeouts[keep],
        metadata=raw["metadata"],
    )


def time_limit_ends(terminals: np.ndarray, max_episode_steps: int) -> np.ndarray:
    """For files without `timeouts`: the step where the time limit would cut each episode."""
    n = len(terminals)
    index = np.arange(n)
    starts = np.zeros(n, np.int64)
    starts[1:] = np.where(terminals[:-1], index[1:], 0)
    starts = np.maximum.accumulate(starts)
    return ((index - starts) % max_episode_steps == max_episode_steps - 1) & ~terminals


def save_d4rl(transitions: Transitions, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write D4RL format; `load_d4rl(path, drop_timeouts=False)` gives the transitions back exactly.

    Scalar metadata is stored as it is, anything else as JSON text, under ``metadata/``.
    """
    arrays = {
        "observations": transitions.observations.astype(np.float32),
        "actions": transitions.actions.astype(np.float32),
        "rewards": transitions.rewards.astype(np.float32),
        "next_observations": transitions.next_observations.astype(np.float32),
        "terminals": transitions.terminals.astype(bool),
        "timeouts": transitions.timeouts.astype(bool),
    }
    return write_d4rl_arrays(path, arrays, {**transitions.metadata, **(metadata or {})})


@dataclass(frozen=True)
class DatasetSummary:
    path: str
    rows: int
    transitions: int  # rows a learner uses, after the time-limit handling
    obs_dim: int
    act_dim: int
    episodes: int  # complete episodes, ended by a terminal or the time limit
    partial_rows: int  # rows after the last episode end
    return_mean: float
    return_std: float
    return_min: float
    return_max: float
    normalized_mean: float | None  # D4RL-normalised score of the mean return, 0-100
    has_next_observations: bool
    has_timeouts: bool
    metadata: dict[str, Any]


def check_d4rl(path: str | Path, task: str | None = None) -> DatasetSummary:
    """Validate a file (keys, shapes against the task, dtypes, finite values, episode structure)."""
    spec = get_task(task) if task is not None else None
    limit = spec.max_episode_steps if spec else 1000
    raw = read_d4rl_arrays(path, **_dims(task))
    terminals = raw["terminals"]
    ends = terminals | (raw["timeouts"] if "timeouts" in raw else time_limit_ends(terminals, limit))
    boundaries = np.flatnonzero(ends) + 1
    lengths = np.diff(np.concatenate([[0], boundaries, [len(ends)]]))  # the unfinished tail too
    if len(lengths) and lengths.max() > limit:
        raise DatasetError(path, f"an episode runs {int(lengths.max())} steps, longer than the time limit of {limit}")
    if len(boundaries):
        complete = raw["rewards"][: boundaries[-1]].astype(np.float64)
        returns = np.add.reduceat(complete, np.concatenate([[0], boundaries[:-1]]))
        stats = (returns.mean(), returns.std(), returns.min(), returns.max())
    else:
        returns, stats = np.array([]), (float("nan"),) * 4
    rows = len(raw["rewards"])
    return DatasetSummary(
        path=str(path),
        rows=rows,
        transitions=len(_qlearning(path, raw, limit, drop_timeouts=True)),
        obs_dim=raw["observations"].shape[1],
        act_dim=raw["actions"].shape[1],
        episodes=len(returns),
        partial_rows=rows - (int(boundaries[-1]) if len(boundaries) else 0),
        return_mean=float(stats[0]),
        return_std=float(stats[1]),
        return_min=float(stats[2]),
        return_max=float(stats[3]),
        normalized_mean=spec.normalized_score(float(stats[0])) if spec and len(returns) else None,
        has_next_observations="next_observations" in raw,
        has_timeouts="timeouts" in raw,
        metadata=raw["metadata"],
    )

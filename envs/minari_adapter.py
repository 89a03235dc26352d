"""A local Minari dataset as `Transitions` (optional: ``pip install gapbench[minari]``).

Minari stores each episode's T+1 observations, so every step's next observation is known,
including the step where the time limit cut the episode. Those rows are therefore kept, flagged
in ``timeouts`` (D4RL files drop them only because their next observation is missing).
"""

from __future__ import annotations

import numpy as np

from gapbench.envs.offline_data import Transitions


def load_minari(dataset_id: str) -> Transitions:
    """Load a dataset already on disk (``$MINARI_DATASETS_PATH``); nothing is downloaded."""
    try:
        import minari
    except ImportError:
        raise ImportError("the Minari adapter needs `pip install gapbench[minari]`") from None
    dataset = minari.load_dataset(dataset_id, download=False)
    parts = {k: [] for k in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")}
    for episode in dataset.iterate_episodes():
        obs = np.asarray(episode.observations, np.float32)
        parts["observations"].append(obs[:-1])
        parts["next_observations"].append(obs[1:])
        parts["actions"].append(np.asarray(episode.actions, np.float32))
        parts["rewards"].append(np.asarray(episode.rewards, np.float32))
        parts["terminals"].append(np.asarray(episode.terminations, bool))
        parts["timeouts"].append(np.asarray(episode.truncations, bool) & ~np.asarray(episode.terminations, bool))
    if not parts["rewards"]:
        raise ValueError(f"Minari dataset {dataset_id!r} has no episodes")
    return Transitions(
        **{k: np.concatenate(v) for k, v in parts.items()},
        metadata={"source": f"minari:{dataset_id}", "minari_total_episodes": int(dataset.total_episodes)},
    )

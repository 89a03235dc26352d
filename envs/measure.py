"""How wrong is a simulator? Compare one-step predictions of sim and real from the same states."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gapbench.envs.gaps import Gap, parse_gap
from gapbench.envs.make import make_real, make_sim
from gapbench.envs.state import put_in_state


@dataclass(frozen=True)
class GapMeasure:
    task: str
    gap: str
    samples: int
    mean: float  # mean over samples of the RMS (over dimensions) of the normalised difference
    max: float  # the largest such per-sample difference
    per_dim_mean: np.ndarray  # mean |difference| / std, per observation dimension


def visited_states(task: str, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(qpos, qvel, action) triples from uniformly random rollouts of the real env."""
    env = make_real(task, seed=seed)
    rng = np.random.default_rng(seed)
    base = env.unwrapped
    low, high = env.action_space.low, env.action_space.high
    qpos, qvel, actions = [], [], []
    env.reset(seed=seed)
    for _ in range(samples):
        action = rng.uniform(low, high).astype(np.float32)
        qpos.append(base.data.qpos.copy())
        qvel.append(base.data.qvel.copy())
        actions.append(action)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return np.array(qpos), np.array(qvel), np.array(actions)


def measure_gap(task: str, gap: Gap | str, samples: int = 1000, seed: int = 0) -> GapMeasure:
    """From the same real states, take the same actions in real and sim and compare next states.

    Differences are divided per dimension by the spread of the real next states, so a number
    near 0 means the simulator predicts the real step, and near 1 means it is off by about the
    typical variation of that state variable.
    """
    gap = parse_gap(gap)
    qpos, qvel, actions = visited_states(task, samples, seed)
    # The same seed on both sides: an env with per-episode randomness (the wheel-legged robot's tyre wear)
    # then draws the same episode in both, so only the gap differs.
    real, sim = make_real(task, seed=seed), make_sim(task, gap, seed=seed)
    real_next, sim_next = [], []
    for p, v, a in zip(qpos, qvel, actions):
        for env, out in ((real, real_next), (sim, sim_next)):
            put_in_state(env, p, v)
            out.append(env.step(a)[0])
    real_next, sim_next = np.array(real_next, np.float64), np.array(sim_next, np.float64)
    scale = np.maximum(real_next.std(axis=0), 1e-6)
    normalised = (sim_next - real_next) / scale
    per_sample = np.sqrt(np.mean(normalised**2, axis=1))
    return GapMeasure(
        task=task,
        gap=str(gap),
        samples=samples,
        mean=float(per_sample.mean()),
        max=float(per_sample.max()),
        per_dim_mean=np.abs(normalised).mean(axis=0),
    )

"""Do the methods learn? Slow checks (`-m slow`) that CI runs too.

SAC(sim) on HalfCheetah-v5 (no gap) must clearly beat a uniformly random policy within a small
budget, and CQL(real) on a small hand-made dataset must beat the mean return of the behaviour
policy that logged it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import envs
from algos import get_method
from benchmark.train import Training, TrainConfig

pytestmark = pytest.mark.slow
EVAL_SEED = 7_000


def random_policy_return(episodes: int = 3) -> float:
    env = envs.make_real("halfcheetah")
    rng = np.random.default_rng(0)
    totals = []
    for i in range(episodes):
        env.reset(seed=EVAL_SEED + i)
        total, done = 0.0, False
        while not done:
            _, reward, term, trunc, _ = env.step(rng.uniform(-1, 1, 6).astype(np.float32))
            total, done = total + reward, term or trunc
        totals.append(total)
    return float(np.mean(totals))


@pytest.fixture(scope="module")
def trained_sac():
    torch.set_num_threads(1)
    cfg = TrainConfig(steps=6000, eval_every=3000, eval_episodes=1, final_eval_episodes=3, eval_seed=EVAL_SEED,
                      log_every=1000, checkpoint_every=10**9)
    training = Training(get_method("sac"), {}, cfg, "halfcheetah", envs.NoGap(), None, [0])
    result = training.run()
    return training.agent, result["final_return"][0]


def test_sac_clearly_beats_a_random_policy(trained_sac):
    _, sac_return = trained_sac
    random_return = random_policy_return()
    assert sac_return > random_return + 500, (sac_return, random_return)


def behaviour_data(agent, steps: int, noise: float, seed: int = 0) -> envs.Transitions:
    """The trained SAC policy's mean action plus heavy Gaussian noise: mediocre, but informative."""
    env = envs.make_real("halfcheetah")
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")}
    obs = env.reset(seed=seed)[0]
    for _ in range(steps):
        mean = agent.act(torch.as_tensor(obs)[None, None], deterministic=True)[0, 0].numpy()
        action = np.clip(mean + noise * rng.standard_normal(6), -1, 1).astype(np.float32)
        nxt, reward, term, trunc, _ = env.step(action)
        for key, value in zip(rows, (obs, action, reward, nxt, term, trunc)):
            rows[key].append(value)
        obs = env.reset()[0] if term or trunc else nxt
    return envs.Transitions(**{k: np.asarray(v, bool if k in ("terminals", "timeouts") else np.float32)
                               for k, v in rows.items()})


def test_cql_beats_the_behaviour_data(trained_sac, tmp_path):
    agent, _ = trained_sac
    data = behaviour_data(agent, steps=10_000, noise=0.8)
    behaviour_mean = float(data.rewards.sum() / 10)  # 10 whole episodes of 1000 steps
    cfg = TrainConfig(steps=2000, updates_per_epoch=1000, eval_every=1000, eval_episodes=1, final_eval_episodes=3,
                      eval_seed=EVAL_SEED, log_every=500, checkpoint_every=10**9)
    training = Training(get_method("cql"), {"batch_size": 64}, cfg, "halfcheetah", None, data, [0])
    cql_return = training.run()["final_return"][0]
    assert cql_return > behaviour_mean + 100, (cql_return, behaviour_mean)

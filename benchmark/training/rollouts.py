"""Simulator rollouts for training and deterministic real-env evaluation, for a population."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gapbench import envs
from gapbench.algos import Agent, Layout, PopulationRNG, ReplayBuffer, derive_seed
from gapbench.envs import Gap


class SimCollector:
    """One simulator env per population member, stepped in lockstep with one batched policy call.

    Episodes continue across epochs and restart at the time limit or on termination. The stored
    done flag is the true termination only: a time-limit cut still bootstraps.
    """

    def __init__(self, task: str, gap: Gap, seeds: list[int], layout: Layout, device: str):
        self.layout, self.device = layout, device
        self.envs = [envs.make_sim(task, gap) for _ in seeds]
        self.obs = np.stack([env.reset(seed=derive_seed(s, "sim-env") % 2**32)[0] for env, s in zip(self.envs, seeds)])
        self.rng = PopulationRNG(seeds, "rollout", device)
        self.steps = 0

    def collect(self, agent: Agent, buffer: ReplayBuffer, steps: int) -> None:
        for _ in range(steps):
            obs = torch.as_tensor(self.obs, device=self.device).unsqueeze(1)
            actions = agent.act(obs, deterministic=False, rng=self.rng)[:, 0].float().cpu().numpy()
            results = [env.step(a) for env, a in zip(self.envs, actions)]
            next_obs = np.stack([r[0] for r in results])
            rewards = np.array([r[1] for r in results], np.float32)
            terminated = np.array([r[2] for r in results])
            buffer.add(self.layout.pack(self.obs, actions, rewards, next_obs, terminated))
            for k, (_, _, term, trunc, _) in enumerate(results):
                if term or trunc:
                    next_obs[k] = self.envs[k].reset()[0]
            self.obs = next_obs
            self.steps += 1

    def state(self) -> dict[str, Any]:
        return {"envs": [envs.get_env_state(env) for env in self.envs], "obs": self.obs.copy(),
                "rng": self.rng.state(), "steps": self.steps}

    def set_state(self, state: dict[str, Any]) -> None:
        for env, env_state in zip(self.envs, state["envs"]):
            envs.set_env_state(env, env_state)
        self.obs, self.steps = state["obs"], state["steps"]
        self.rng.set_state(state["rng"])


@dataclass(frozen=True)
class Evaluation:
    """Undiscounted returns [K, episodes], and each member's first episode step by step: its
    observations [K, T + 1, obs_dim] and actions [K, T, act_dim], NaN after an episode that fell."""

    returns: np.ndarray
    observations: np.ndarray
    actions: np.ndarray
    lengths: np.ndarray  # [K] steps of each member's first episode


class Evaluator:
    """Deterministic episodes in the real env with fixed seeds, the same for every member and call;
    given a gap, in that simulator instead (the same initial states: both reset from the same seeds).

    All members' episodes run side by side, so each env step is one batched policy call.
    """

    def __init__(self, task: str, members: int, episodes: int, base_seed: int, device: str,
                 gap: Gap | None = None):
        self.task, self.base_seed, self.device = envs.get_task(task), base_seed, device
        make = (lambda: envs.make_real(task)) if gap is None else (lambda: envs.make_sim(task, gap))
        self.envs = [[make() for _ in range(episodes)] for _ in range(members)]

    def returns(self, agent: Agent) -> np.ndarray:
        """Undiscounted returns [K, episodes]."""
        return self.run(agent).returns

    @torch.no_grad()
    def run(self, agent: Agent) -> Evaluation:
        k, e = len(self.envs), len(self.envs[0])
        horizon = self.task.max_episode_steps
        observations = np.full((k, horizon + 1, self.task.obs_dim), np.nan, np.float32)
        actions = np.full((k, horizon, self.task.act_dim), np.nan, np.float32)
        lengths = np.zeros(k, np.int64)
        obs = np.stack([[env.reset(seed=self.base_seed + i)[0] for i, env in enumerate(row)] for row in self.envs])
        observations[:, 0] = obs[:, 0]
        totals = np.zeros((k, e))
        running = np.ones((k, e), bool)
        while running.any():
            acts = agent.act(torch.as_tensor(obs, device=self.device), deterministic=True).float().cpu().numpy()
            for i in range(k):
                for j in range(e):
                    if not running[i, j]:
                        continue
                    obs[i, j], reward, terminated, truncated, _ = self.envs[i][j].step(acts[i, j])
                    totals[i, j] += reward
                    running[i, j] = not (terminated or truncated)
                    if j == 0 and lengths[i] < horizon:
                        actions[i, lengths[i]] = acts[i, 0]
                        lengths[i] += 1
                        observations[i, lengths[i]] = obs[i, 0]
        return Evaluation(totals, observations, actions, lengths)

"""The interface every method implements, and what the training loop tells it at construction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import math

import numpy as np
import torch
from torch import nn

from gapbench.algos.core.batch import Batch
from gapbench.algos.core.critic import CriticLayout
from gapbench.algos.core.rng import PopulationRNG

Source = Literal["real", "sim"]
Metrics = dict[str, torch.Tensor]  # name -> per-member values [K]


@dataclass(frozen=True)
class RealDataStats:
    """Statistics of the real dataset: its states, for methods that perturb or normalise states,
    and, where the caller gives the rewards, the spread of its episode returns."""

    size: int
    obs_mean: np.ndarray
    obs_std: np.ndarray
    obs_cov: np.ndarray
    # max - min of the dataset's episode returns (None: not given); IQL's authors scale rewards by
    # 1000 / this on locomotion
    return_range: float | None = None

    @staticmethod
    def of(observations: np.ndarray, rewards: np.ndarray | None = None, next_observations: np.ndarray | None = None,
           terminals: np.ndarray | None = None) -> RealDataStats:
        obs = np.asarray(observations, np.float64)
        spread = None
        if rewards is not None:
            if next_observations is None or terminals is None:
                raise ValueError("the return range needs next_observations and terminals with the rewards")
            spread = return_range(obs, np.asarray(rewards, np.float64), np.asarray(next_observations, np.float64),
                                  np.asarray(terminals, bool))
        return RealDataStats(len(obs), obs.mean(0), obs.std(0), np.atleast_2d(np.cov(obs, rowvar=False)), spread)


def return_range(obs: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray, terminals: np.ndarray) -> float:
    """max - min episode return of a flat dataset, its episodes cut as IQL's authors cut them.

    An episode ends at a terminal row or where the next row does not start from this row's next
    state (a time-limit cut, whose row a D4RL loader may have dropped), and at the last row.
    """
    ends = terminals.copy()
    ends[:-1] |= np.linalg.norm(obs[1:] - next_obs[:-1], axis=-1) > 1e-6
    ends[-1] = True
    episode = np.concatenate([[0], np.cumsum(ends)[:-1]])  # row i belongs to episode[i]
    returns = np.bincount(episode, weights=rewards)
    return float(returns.max() - returns.min())


@dataclass(frozen=True)
class AgentSpec:
    obs_dim: int
    act_dim: int
    seeds: Sequence[int]  # one population member per seed
    device: str = "cpu"
    real_stats: RealDataStats | None = None
    # How the critic scores several actions per state (TwinQ): the same numbers to fp32 rounding either
    # way, so it is not part of a run's identity; the training loop picks the faster for its CPU.
    critic_layout: CriticLayout = "split"

    @property
    def population(self) -> int:
        return len(self.seeds)


class Agent(nn.Module):
    """A population of K agents (one per seed) behind one interface.

    Subclasses set ``Config`` (a dataclass) and ``sources`` (which data the method learns from:
    "sim" rollouts, the "real" dataset, or both), build a ``policy`` and implement `batch_sizes` and
    `update`.
    The training loop draws, per member, ``batch_sizes()[source]`` rows from each source and
    calls ``update(real, sim)`` with a `Batch` for each source the method uses (else None). The
    grid runner reads ``sources`` to skip the axes a method ignores.
    """

    Config: ClassVar[type]
    sources: ClassVar[frozenset[Source]]

    def __init__(self, config: Any, spec: AgentSpec):
        super().__init__()
        self.config, self.spec = config, spec
        self.rng = PopulationRNG(spec.seeds, "agent", spec.device)

    def batch_sizes(self) -> dict[Source, int]:
        """Rows per member per update from each source in ``sources``."""
        raise NotImplementedError

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool, rng: PopulationRNG | None = None) -> torch.Tensor:
        """Actions [K, N, act_dim] for observations [K, N, obs_dim], from ``self.policy``.

        Every method here acts with a `TanhGaussianPolicy` called ``policy``; one that acts
        otherwise overrides this.
        """
        if deterministic:
            return self.policy.deterministic(obs)
        return self.policy(obs, rng or self.rng)[0]

    def update(self, real: Batch | None, sim: Batch | None) -> Metrics:
        raise NotImplementedError

    def diagnostics(self, sim: Batch, rng: PopulationRNG) -> Metrics:
        """Per-sample values [K, N] on a sim batch that the loop saves now and then (none by default).

        Draw any noise from ``rng``, the caller's stream, so that a diagnostic never changes the
        run's own random numbers.
        """
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def state_dict(self, *args, **kwargs):
        """Networks, optimiser states and the random streams: all a run needs to resume exactly."""
        state = {"modules": super().state_dict(*args, **kwargs), "rng": self.rng.state()}
        state["optimizers"] = {name: opt.state_dict() for name, opt in self.optimizers().items()}
        state["extra"] = self.extra_state()
        return state

    def load_state_dict(self, state, strict: bool = True):
        result = super().load_state_dict(state["modules"], strict=strict)
        self.rng.set_state(state["rng"])
        for name, opt in self.optimizers().items():
            opt.load_state_dict(state["optimizers"][name])
        self.load_extra_state(state["extra"])
        return result

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass


def cosine_decay(base_lr: float, step: int, decay_steps: int) -> float:
    """The learning rate after `step` optimiser steps: base * (1 + cos(pi * step / decay_steps)) / 2,
    then 0 once `decay_steps` have passed (optax's cosine_decay_schedule, as IQL's authors use it)."""
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(step, decay_steps) / decay_steps))


def adam(groups: list[dict], device: str) -> torch.optim.Adam:
    """Adam with torch's defaults; the fused kernel where the device has one (exact, faster)."""
    return torch.optim.Adam(groups, fused=torch.device(device).type in ("cpu", "cuda"))


def adam_step(optimizer: torch.optim.Optimizer, loss_per_member: torch.Tensor) -> None:
    """One optimiser step on a population's losses [K]. Members share no parameter, so the gradient of
    the sum gives each member exactly its own loss's gradient; groups the loss does not reach have no
    gradient and Adam skips them."""
    optimizer.zero_grad(set_to_none=True)
    loss_per_member.sum().backward()
    optimizer.step()

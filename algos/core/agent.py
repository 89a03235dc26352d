"""The interface every method implements, and what the training loop tells it at construction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from gapbench.algos.core.batch import Batch
from gapbench.algos.core.rng import PopulationRNG

Source = Literal["real", "sim"]
Metrics = dict[str, torch.Tensor]  # name -> per-member values [K]


@dataclass(frozen=True)
class RealDataStats:
    """Statistics of the real dataset's states, for methods that perturb or normalise states."""

    size: int
    obs_mean: np.ndarray
    obs_std: np.ndarray
    obs_cov: np.ndarray

    @staticmethod
    def of(observations: np.ndarray) -> RealDataStats:
        obs = np.asarray(observations, np.float64)
        return RealDataStats(len(obs), obs.mean(0), obs.std(0), np.atleast_2d(np.cov(obs, rowvar=False)))


@dataclass(frozen=True)
class AgentSpec:
    obs_dim: int
    act_dim: int
    seeds: Sequence[int]  # one population member per seed
    device: str = "cpu"
    real_stats: RealDataStats | None = None

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


def adam(groups: list[dict], device: str) -> torch.optim.Adam:
    """Adam with torch's defaults; the fused kernel where the device has one (exact, faster)."""
    return torch.optim.Adam(groups, fused=torch.device(device).type in ("cpu", "cuda"))

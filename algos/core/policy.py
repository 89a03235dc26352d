"""The tanh-Gaussian policy, parametrised as in the authors' code (SimpleSAC).

log_std = m * raw + o, where the multiplier m and offset o are *learnable* per-member scalars
that start at 1 and -1; it is clamped to [-20, 2]. The action is tanh of a reparameterised
Gaussian sample, and its log-probability carries the tanh change of variables.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gapbench.algos.core.nets import MLP
from gapbench.algos.core.rng import PopulationRNG

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class TanhGaussianPolicy(nn.Module):
    def __init__(self, members: int, obs_dim: int, act_dim: int, hidden: tuple[int, ...],
                 log_std_multiplier: float, log_std_offset: float):
        super().__init__()
        self.act_dim = act_dim
        self.trunk = MLP(members, (obs_dim, *hidden, 2 * act_dim))
        self.log_std_multiplier = nn.Parameter(torch.full((members, 1, 1), float(log_std_multiplier)))
        self.log_std_offset = nn.Parameter(torch.full((members, 1, 1), float(log_std_offset)))

    def initialise(self, rng: PopulationRNG) -> None:
        self.trunk.initialise(rng, last_layer_gain=1e-2)

    def mean_and_log_std(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.trunk(obs).split(self.act_dim, dim=-1)
        log_std = (self.log_std_multiplier * raw + self.log_std_offset).clamp(-20.0, 2.0)
        return mean, log_std

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mean_and_log_std(obs)[0])

    def forward(self, obs: torch.Tensor, rng: PopulationRNG,
                samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample for obs [K, N, obs_dim]: (action [K, N, act], log pi [K, N]).

        With ``samples=M``: M actions per state, (action [K, N, M, act], log pi [K, N, M]), from one
        evaluation of the network per state (CQL's sampled actions; the authors' code repeats each
        state M times instead, which gives the same numbers at M times the cost).
        """
        mean, log_std = self.mean_and_log_std(obs)
        if samples is None:
            eps = rng.normal(*mean.shape[1:], dtype=mean.dtype)
        else:
            mean, log_std = mean.unsqueeze(2), log_std.unsqueeze(2)
            eps = rng.normal(obs.shape[1], samples, self.act_dim, dtype=mean.dtype)
        pre_tanh = mean + log_std.exp() * eps
        gaussian_log_prob = (-0.5 * eps.square() - log_std - _LOG_SQRT_2PI).sum(-1)
        # log|d tanh(x)/dx| = log(1 - tanh(x)^2), in the stable form torch's TanhTransform uses
        tanh_correction = (2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh))).sum(-1)
        return torch.tanh(pre_tanh), gaussian_log_prob - tanh_correction

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
        """log pi(a|s) of given actions (clipped just inside (-1, 1) so atanh stays finite)."""
        mean, log_std = self.mean_and_log_std(obs)
        action = action.clamp(-1 + eps, 1 - eps)
        pre_tanh = torch.atanh(action)
        z = (pre_tanh - mean) / log_std.exp()
        gaussian_log_prob = (-0.5 * z.square() - log_std - _LOG_SQRT_2PI).sum(-1)
        tanh_correction = (2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh))).sum(-1)
        return gaussian_log_prob - tanh_correction


class GaussianPolicy(nn.Module):
    """N(tanh(mu(s)), sigma^2) with a learnable, state-independent log sigma: IQL's policy.

    As in the IQL authors' code (`NormalTanhPolicy` with ``tanh_squash_distribution=False`` and
    ``state_dependent_std=False``): tanh bounds the *mean*, not the sample, so the density of a
    dataset action on the bound +-1 is finite and needs no clipping; log sigma starts at
    `log_std_init` and is clipped to `log_std_bounds` in every forward pass. Samples are clipped to
    [-1, 1], as the authors clip the actions they sample.
    """

    def __init__(self, members: int, obs_dim: int, act_dim: int, hidden: tuple[int, ...],
                 log_std_init: float, log_std_bounds: tuple[float, float]):
        super().__init__()
        self.act_dim, self.log_std_bounds = act_dim, tuple(log_std_bounds)
        self.trunk = MLP(members, (obs_dim, *hidden, act_dim))
        self.log_std = nn.Parameter(torch.full((members, 1, act_dim), float(log_std_init)))

    def initialise(self, rng: PopulationRNG) -> None:
        self.trunk.initialise(rng, last_layer_gain=1e-2)  # the output init every policy here shares

    def mean_and_log_std(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tanh(self.trunk(obs))
        return mean, self.log_std.clamp(*self.log_std_bounds).expand_as(mean)

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """The mean, tanh(mu(s)): the authors evaluate with temperature 0, i.e. the mean."""
        return torch.tanh(self.trunk(obs))

    def forward(self, obs: torch.Tensor, rng: PopulationRNG) -> tuple[torch.Tensor, torch.Tensor]:
        """A sample, clipped to [-1, 1], and the log-density of the unclipped sample: [K, N, A], [K, N]."""
        mean, log_std = self.mean_and_log_std(obs)
        eps = rng.normal(*mean.shape[1:], dtype=mean.dtype)
        log_prob = (-0.5 * eps.square() - log_std - _LOG_SQRT_2PI).sum(-1)
        return (mean + log_std.exp() * eps).clamp(-1.0, 1.0), log_prob

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log pi(a|s) [K, N] of given actions [K, N, A] under the diagonal Gaussian."""
        mean, log_std = self.mean_and_log_std(obs)
        z = (action - mean) / log_std.exp()
        return (-0.5 * z.square() - log_std - _LOG_SQRT_2PI).sum(-1)


class DeterministicPolicy(nn.Module):
    """a = tanh(mu(s)): TD3's actor. Every layer has PyTorch's default init, as in the TD3+BC code."""

    def __init__(self, members: int, obs_dim: int, act_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.trunk = MLP(members, (obs_dim, *hidden, act_dim))

    def initialise(self, rng: PopulationRNG) -> None:
        self.trunk.initialise(rng, last_layer_gain=None)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.trunk(obs))

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return self(obs)

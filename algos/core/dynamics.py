"""A probabilistic dynamics ensemble with a leading population axis: E Gaussian networks per member.

Each network maps a normalised (s, a) to a diagonal Gaussian over (r, s' - s). This is the
ensemble of MBPO's code, which VGDF's authors reuse (`model/dynamics.py`): Swish MLPs, log-variances
softly bounded to [min, max] with softplus, a Gaussian negative log-likelihood per network (the
mean over rows and outputs of (mu - y)^2 / var + log var), and an L2 penalty on each layer's
weights with its own coefficient. Member k's E networks are rows kE .. kE + E - 1 of one batched
MLP, so one baddbmm per layer runs all K x E networks, and member k's networks are initialised from
member k's stream only.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gapbench.algos.core.nets import MLP
from gapbench.algos.core.rng import PopulationRNG


class GaussianEnsemble(nn.Module):
    def __init__(self, members: int, ensemble: int, obs_dim: int, act_dim: int, hidden: tuple[int, ...],
                 log_var_bounds: tuple[float, float], weight_decay: tuple[float, ...]):
        super().__init__()
        if len(weight_decay) != len(hidden) + 1:
            raise ValueError(f"the dynamics ensemble has {len(hidden) + 1} layers but {len(weight_decay)} "
                             f"weight-decay coefficients ({list(weight_decay)}); give one per layer")
        self.members, self.ensemble, self.obs_dim = members, ensemble, obs_dim
        out_dim = obs_dim + 1  # (r, s' - s)
        self.net = MLP(members, (obs_dim + act_dim, *hidden, 2 * out_dim), copies=ensemble, activation="swish")
        self.weight_decay = tuple(float(c) for c in weight_decay)
        self.register_buffer("min_log_var", torch.full((out_dim,), float(log_var_bounds[0])))
        self.register_buffer("max_log_var", torch.full((out_dim,), float(log_var_bounds[1])))
        # the inputs' normaliser, (x - mean) / std, set from the data the ensemble learns
        self.register_buffer("input_mean", torch.zeros(obs_dim + act_dim))
        self.register_buffer("input_std", torch.ones(obs_dim + act_dim))

    def initialise(self, rng: PopulationRNG) -> None:
        """The authors' init: weights from a normal of std 1 / (2 sqrt(fan_in)) truncated at two stds,
        zero biases; member k's E networks in order from member k's stream."""
        with torch.no_grad():
            for e in range(self.members * self.ensemble):
                generator = rng.generators[e // self.ensemble]
                for layer in self.net.layers:
                    fan_in = layer.weight.shape[1]
                    std = 1.0 / (2.0 * math.sqrt(fan_in))
                    weight = torch.empty(layer.weight.shape[1:], device=generator.device)
                    nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std, generator=generator)
                    layer.weight[e].copy_(weight)
                    layer.bias[e].zero_()

    def set_normaliser(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """The inputs' mean and std (a std under 1e-12 counts as 1, as the authors' scaler has it)."""
        std = torch.as_tensor(std, dtype=torch.float32)
        self.input_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.input_std.copy_(torch.where(std < 1e-12, torch.ones_like(std), std))

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log var) [K, E, N, 1 + obs_dim] of (r, s' - s).

        obs [K, N, obs_dim] and action [K, N, act_dim] give every network the same rows;
        [K, E, N, ...] gives network e its own rows.
        """
        x = (torch.cat([obs, action], dim=-1) - self.input_mean) / self.input_std
        k, e = self.members, self.ensemble
        if x.dim() == 3:
            x = x.unsqueeze(1).expand(k, e, *x.shape[1:])
        n = x.shape[2]
        out = self.net(x.reshape(k * e, n, -1)).view(k, e, n, -1)
        mean, log_var = out.chunk(2, dim=-1)
        log_var = self.max_log_var - nn.functional.softplus(self.max_log_var - log_var)
        log_var = self.min_log_var + nn.functional.softplus(log_var - self.min_log_var)
        return mean, log_var

    def targets(self, obs: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """The labels (r, s' - s) [..., 1 + obs_dim]."""
        return torch.cat([reward.unsqueeze(-1), next_obs - obs], dim=-1)

    def decay(self) -> torch.Tensor:
        """sum over layers of c_l * |W_l|^2 / 2 over each member's E networks [K]."""
        k = self.members
        return sum(c * layer.weight.view(k, -1).square().sum(1) / 2.0
                   for c, layer in zip(self.weight_decay, self.net.layers))

    def loss(self, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
             next_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, NLL, MSE), each [K], on rows [K, E, N, ...], network e on its own rows.

        NLL: the sum over the E networks of mean((mu - y)^2 exp(-log var)) + mean(log var), the means over
        rows and outputs; the loss adds the weight decay; MSE (mean over networks, rows and outputs)
        is for logging.
        """
        mean, log_var = self(obs, action)
        labels = self.targets(obs, reward, next_obs)
        error = (mean - labels).square()
        nll = (error * torch.exp(-log_var) + log_var).mean((2, 3)).sum(1)
        return nll + self.decay(), nll.detach(), error.detach().mean((1, 2, 3))

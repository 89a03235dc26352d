"""Twin Q-functions as one network: member k's two critics are rows 2k and 2k+1 of each layer."""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import nn

from gapbench.algos.core.nets import MLP
from gapbench.algos.core.rng import PopulationRNG


# How Q(s, a_1..a_M) is computed for M actions per state (CQL's sampled actions). Both give the same
# numbers to fp32 rounding; which is faster depends on the CPU and the precision (docs/performance.md):
#   "split":  [s, a] W = s W_s + a W_a, the state's part once per state, then broadcast over the M actions;
#   "repeat": each state repeated M times beside its actions, one GEMM over [s, a], as the authors' code does.
CriticLayout = Literal["split", "repeat"]
CRITIC_LAYOUTS: tuple[str, ...] = get_args(CriticLayout)


class TwinQ(nn.Module):
    def __init__(self, members: int, obs_dim: int, act_dim: int, hidden: tuple[int, ...],
                 layout: CriticLayout = "split"):
        super().__init__()
        if layout not in CRITIC_LAYOUTS:
            raise ValueError(f"critic layout must be one of {CRITIC_LAYOUTS}, got {layout!r}")
        self.members, self.layout = members, layout
        self.net = MLP(members, (obs_dim + act_dim, *hidden, 1), copies=2)

    def initialise(self, rng: PopulationRNG, last_layer_gain: float | None = 1e-2) -> None:
        """The authors' (SimpleSAC) small Xavier output layer by default; None: PyTorch's default
        everywhere, as TD3+BC's code has."""
        self.net.initialise(rng, last_layer_gain=last_layer_gain)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """obs [K, N, obs_dim], action [K, N, act_dim] -> Q [K, 2, N].

        With several actions per state, action [K, N, M, act_dim] -> Q [K, 2, N, M], in `self.layout`.
        """
        k, n, obs_dim = obs.shape
        if action.dim() == obs.dim():
            return self.net(self._twice(torch.cat([obs, action], dim=-1))).view(k, 2, n)
        m = action.shape[2]
        if self.layout == "repeat":
            rows = torch.cat([obs.unsqueeze(2).expand(k, n, m, obs_dim), action], dim=-1).view(k, n * m, -1)
            return self.net(self._twice(rows)).view(k, 2, n, m)
        first = self.net.layers[0]
        h_state = torch.baddbmm(first.bias, self._twice(obs), first.weight[:, :obs_dim])  # [2K, N, H]
        h_action = torch.bmm(self._twice(action.reshape(k, n * m, -1)), first.weight[:, obs_dim:])
        h = (h_action.view(2 * k, n, m, -1) + h_state.unsqueeze(2)).view(2 * k, n * m, -1)
        return self.net.after_first_layer(h).view(k, 2, n, m)

    @staticmethod
    def _twice(x: torch.Tensor) -> torch.Tensor:
        """[K, N, d] -> [2K, N, d]: member k's input for both of its critics (rows 2k and 2k+1)."""
        k, n, d = x.shape
        return x.unsqueeze(1).expand(k, 2, n, d).reshape(2 * k, n, d)

    def first(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Q_1(s, a) [K, N], each member's first critic alone (rows 2k): what TD3's actor maximises,
        at half the cost of both."""
        h = torch.cat([obs, action], dim=-1)
        for i, layer in enumerate(self.net.layers):
            if i:
                h = self.net.activation(h)
            h = torch.baddbmm(layer.bias[0::2], h, layer.weight[0::2])
        return h.squeeze(-1)

    def min(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """min(Q1, Q2) [K, N]."""
        return self(obs, action).min(dim=1).values


class StateValue(nn.Module):
    """V(s), one network per member: IQL's value function (and any method that needs one)."""

    def __init__(self, members: int, obs_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.net = MLP(members, (obs_dim, *hidden, 1))

    def initialise(self, rng: PopulationRNG) -> None:
        self.net.initialise(rng, last_layer_gain=1e-2)  # the same output init as the critics

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [K, N, obs_dim] -> V [K, N]."""
        return self.net(obs).squeeze(-1)


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """L_2^tau(u) = |tau - 1(u < 0)| * u^2, elementwise, for u = Q - V: the expectile regression that
    fits a StateValue in IQL and H2O+ (tau = 1/2 gives half the squared error, V the mean of Q)."""
    weight = torch.where(diff > 0, expectile, 1.0 - expectile)
    return weight * diff.square()


@torch.no_grad()
def soft_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau online, in one fused call."""
    torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), tau)

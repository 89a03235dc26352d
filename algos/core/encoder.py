"""State and state-action encoders (TD7's, used by PAR): z_s = AvgL1Norm(f(s)), z_sa = g(z_s, a).

g is trained to predict the next state's representation, ||g(f(s), a) - f(s')||^2 with f(s')
held fixed, so on the data it was trained on, the deviation of g(f(s), a) from f(s') measures how
far a transition's dynamics are from those data's. Both are ELU MLPs with PyTorch's default init,
as in the PAR authors' code; AvgL1Norm divides z_s by its mean absolute entry, which keeps the
representation's scale fixed and so rules out the trivial solution z = 0.
"""

from __future__ import annotations

import torch
from torch import nn

from gapbench.algos.core.nets import MLP
from gapbench.algos.core.rng import PopulationRNG


def avg_l1_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x / mean_i |x_i| over the last axis (the denominator at least eps)."""
    return x / x.abs().mean(-1, keepdim=True).clamp(min=eps)


class StateActionEncoder(nn.Module):
    def __init__(self, members: int, obs_dim: int, act_dim: int, hidden: tuple[int, ...], z_dim: int):
        super().__init__()
        self.state = MLP(members, (obs_dim, *hidden, z_dim), activation="elu")
        self.state_action = MLP(members, (z_dim + act_dim, *hidden, z_dim), activation="elu")

    def initialise(self, rng: PopulationRNG) -> None:
        self.state.initialise(rng)
        self.state_action.initialise(rng)

    def zs(self, obs: torch.Tensor) -> torch.Tensor:
        """z_s [K, N, z] for states [K, N, obs]."""
        return avg_l1_norm(self.state(obs))

    def zsa(self, zs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.state_action(torch.cat([zs, action], dim=-1))

    def deviation(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """mean_j (z_sa(s, a) - z_s(s'))_j^2 per transition [K, N]: PAR's representation mismatch."""
        zs, next_zs = self.zs(torch.cat([obs, next_obs], dim=1)).split(obs.shape[1], dim=1)  # one call for both
        return (self.zsa(zs, action) - next_zs).square().mean(-1)

    def loss(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """The encoders' loss per member [K]: the mean squared error of g(f(s), a) against a fixed f(s')."""
        with torch.no_grad():
            next_zs = self.zs(next_obs)
        return (self.zsa(self.zs(obs), action) - next_zs).square().mean((1, 2))

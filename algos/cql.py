"""CQL(real): conservative Q-learning, CQL(H), on the real dataset only.

The regulariser pushes down a soft maximum of Q over sampled actions and pulls up Q at the
dataset action, per state (Kumar et al. 2020, Eq. 3 of the H2O paper):

    R_j(s) = temp * logsumexp_k[(Q_j(s, a_k) - log mu(a_k|s)) / temp] - Q_j(s, a_data)

with 10 uniform actions (density 0.5^|A|), 10 actions from pi(.|s) and 10 from pi(.|s'), all
evaluated at s and importance-weighted by their sampling densities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gapbench.algos.core.actor_critic import ActorCritic, ActorCriticConfig
from gapbench.algos.core.batch import Batch
from gapbench.algos.core.config import ranged
from gapbench.algos.registry import register


@dataclass
class CQLConfig(ActorCriticConfig):
    batch_size: int = ranged(256, ge=1)
    min_q_weight: float = ranged(2.0, ge=0)  # the authors' CQL baseline (H2Oplus conservative_sac_main.py)
    n_actions: int = ranged(10, ge=1)  # per kind: uniform, pi(.|s) and pi(.|s')
    importance_sample: bool = True
    temperature: float = ranged(1.0, gt=0)
    clip_diff: tuple[float, float] = ranged((-math.inf, math.inf), ordered=True)


def cql_regulariser(q_data: torch.Tensor, q_uniform: torch.Tensor, q_current: torch.Tensor,
                    q_next: torch.Tensor, log_pi_current: torch.Tensor, log_pi_next: torch.Tensor,
                    act_dim: int, config: CQLConfig) -> torch.Tensor:
    """CQL(H) per critic and member: q_data [K, 2, B]; the sampled Qs [K, 2, B, n]; log pis [K, B, n].

    Returns [K, 2]: the batch mean of the clipped per-state gap.
    """
    if config.importance_sample:
        uniform_log_density = act_dim * math.log(0.5)
        candidates = torch.cat([q_uniform - uniform_log_density,
                                q_next - log_pi_next.unsqueeze(1),
                                q_current - log_pi_current.unsqueeze(1)], dim=-1)
    else:
        candidates = torch.cat([q_uniform, q_data.unsqueeze(-1), q_next, q_current], dim=-1)
    soft_max = torch.logsumexp(candidates / config.temperature, dim=-1) * config.temperature
    return (soft_max - q_data).clamp(*config.clip_diff).mean(-1)


class CQL(ActorCritic):
    Config = CQLConfig
    sources = frozenset({"real"})

    def batch_sizes(self):
        return {"real": self.config.batch_size}

    def update(self, real: Batch, sim):
        c, b, n = self.config, len(real), self.config.n_actions
        target = self.td_target(real)
        policy_loss, alpha_loss, metrics = self.actor_losses(real.obs)
        with torch.no_grad():  # the sampled actions are constants of the critic loss
            a_uniform = self.rng.uniform(b, n, self.spec.act_dim, low=-1.0, high=1.0)
            a_current, log_pi_current = self.policy(real.obs, self.rng, samples=n)  # [K, B, n, A], [K, B, n]
            a_next, log_pi_next = self.policy(real.next_obs, self.rng, samples=n)
        q_data = self.critic(real.obs, real.act)  # [K, 2, B]
        # Every sampled action is scored at s, n per state: [K, 2, B, n]. One critic call per kind, not
        # one for all 1 + 3n actions: at K x 2 x 7936 rows the activations leave the CPU's cache.
        q_uniform, q_current, q_next = (self.critic(real.obs, a) for a in (a_uniform, a_current, a_next))
        bellman = self.squared_errors(q_data, target).mean(-1).sum(1)
        gap = cql_regulariser(q_data, q_uniform, q_current, q_next, log_pi_current, log_pi_next,
                              self.spec.act_dim, c)
        regulariser = c.min_q_weight * gap.sum(1)
        self.step(policy_loss + alpha_loss + bellman + regulariser)
        metrics.update({"q/bellman_loss": bellman.detach(), "q/cql_regulariser": regulariser.detach(),
                        "q/mean": q_data.detach().mean((1, 2)), "q/target_mean": target.mean(-1)})
        return metrics


register("cql", CQL, label="CQL(real)", role="baseline",
         summary="conservative Q-learning, CQL(H), on the real dataset only (ignores the simulator)")

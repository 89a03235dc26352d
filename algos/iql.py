"""IQL(real): implicit Q-learning (Kostrikov, Nair & Levine, ICLR 2022) on the real dataset only.

IQL never queries Q at an action the dataset does not hold. Each update, in the authors' order:

  1. V(s) by expectile regression on the target critic at the dataset action (Eq. 5):
         L_V = E_D[ L_2^tau( min_j Q_target_j(s, a) - V(s) ) ],   L_2^tau(u) = |tau - 1(u < 0)| u^2
     with tau = `expectile` (0.7 on locomotion), so V approaches an upper expectile of Q over the
     dataset's actions: a "max" over in-support actions only;
  2. with the *updated* V, the policy by advantage-weighted regression (Eq. 7):
         L_pi = -E_D[ min(exp(beta * A(s, a)), max_weight) * log pi(a|s) ],  A = min_j Q_target_j(s, a) - V(s)
  3. and Q(s, a) by the TD error against V at the next state (Eq. 6):
         L_Q = E_D[ sum_j (r + gamma (1 - done) V(s') - Q_j(s, a))^2 ]
  4. then the Polyak update of the target critic.

Deviations from the paper and the authors' code are config fields, listed in docs/fidelity.md.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch

from gapbench.algos.core.agent import Agent, AgentSpec, Metrics, adam, adam_step, cosine_decay
from gapbench.algos.core.batch import Batch
from gapbench.algos.core.config import ranged
from gapbench.algos.core.critic import StateValue, TwinQ, expectile_loss, soft_update
from gapbench.algos.core.policy import GaussianPolicy
from gapbench.algos.registry import register


@dataclass
class IQLConfig:
    """Defaults: the authors' locomotion config (configs/mujoco_config.py) and learner, see docs/fidelity.md."""

    hidden: tuple[int, ...] = ranged((256, 256), ge=1)
    discount: float = ranged(0.99, ge=0, le=1)
    batch_size: int = ranged(256, ge=1)
    policy_lr: float = ranged(3e-4, gt=0)  # the authors' actor_lr, the start of its cosine decay
    qf_lr: float = ranged(3e-4, gt=0)  # critic_lr
    value_lr: float = ranged(3e-4, gt=0)
    soft_target_update_rate: float = ranged(5e-3, gt=0, le=1)  # the authors' tau (not the expectile)
    target_update_period: int = ranged(1, ge=1)
    expectile: float = ranged(0.7, gt=0, lt=1)  # tau of L_2^tau; 0.5 makes V the mean of Q (SARSA-like)
    advantage_beta: float = ranged(3.0, ge=0)  # beta of exp(beta * A); the authors call it temperature
    max_weight: float = ranged(100.0, gt=0)  # exp(beta * A) is clipped here
    # "cosine": the authors' actor learning rate, policy_lr * (1 + cos(pi t / T)) / 2 over T =
    # actor_lr_decay_steps actor steps (their runs are 1M updates long), 0 after; "constant": the paper's text
    actor_lr_schedule: Literal["cosine", "constant"] = "cosine"
    actor_lr_decay_steps: int = ranged(1_000_000, ge=1)
    policy_log_std_init: float = ranged(0.0)  # the authors' state-independent log sigma starts at 0
    policy_log_std_bounds: tuple[float, float] = ranged((-5.0, 2.0), ordered=True)
    # Rewards are multiplied by this before the TD target. The authors scale locomotion rewards by
    # 1000 / (max - min episode return of the dataset); None does that from AgentSpec.real_stats
    # (the training loop gives it the dataset's rewards); 1.0 leaves them as logged (docs/fidelity.md).
    reward_scale: float | None = ranged(1.0, gt=0)


class IQL(Agent):
    Config = IQLConfig
    sources = frozenset({"real"})  # offline: trained once per dataset, shown under every gap

    def __init__(self, config: IQLConfig, spec: AgentSpec):
        super().__init__(config, spec)
        k, c = spec.population, config
        self.policy = GaussianPolicy(k, spec.obs_dim, spec.act_dim, c.hidden, c.policy_log_std_init,
                                     c.policy_log_std_bounds)
        self.critic = TwinQ(k, spec.obs_dim, spec.act_dim, c.hidden, spec.critic_layout)
        self.value = StateValue(k, spec.obs_dim, c.hidden)
        for net in (self.policy, self.critic, self.value):  # member k from seed k's own stream
            net.initialise(self.rng)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.reward_scale = self._reward_scale(c, spec)
        self.to(spec.device)
        # One fused Adam, stepped twice per update (V, then policy and Q): a group whose parameters
        # have no gradient in a step is skipped by Adam, so each network gets exactly its own steps.
        self.optimizer = adam([{"params": list(self.value.parameters()), "lr": c.value_lr},
                               {"params": list(self.policy.parameters()), "lr": c.policy_lr},
                               {"params": list(self.critic.parameters()), "lr": c.qf_lr}], spec.device)
        self.policy_group = self.optimizer.param_groups[1]
        self.num_updates = 0

    @staticmethod
    def _reward_scale(c: IQLConfig, spec: AgentSpec) -> float:
        if c.reward_scale is not None:
            return c.reward_scale
        stats = spec.real_stats
        if stats is None or stats.return_range is None:
            raise ValueError("iql: reward_scale=None needs the real dataset's episode returns "
                             "(AgentSpec.real_stats.return_range); set reward_scale to a number instead")
        if stats.return_range <= 0:
            raise ValueError(f"iql: the dataset's episode returns all equal ({stats.return_range}); "
                             "set reward_scale to a number")
        return 1000.0 / stats.return_range

    def batch_sizes(self):
        return {"real": self.config.batch_size}

    def optimizers(self):
        return {"iql": self.optimizer}

    def extra_state(self):
        return {"num_updates": self.num_updates}

    def load_extra_state(self, state):
        self.num_updates = state["num_updates"]

    def actor_lr(self) -> float:
        """The policy's learning rate for the current update (the authors' cosine schedule)."""
        c = self.config
        if c.actor_lr_schedule == "cosine":
            return cosine_decay(c.policy_lr, self.num_updates, c.actor_lr_decay_steps)
        return c.policy_lr

    def advantage_weights(self, advantage: torch.Tensor) -> torch.Tensor:
        """min(exp(beta * A), max_weight), the AWR weights of Eq. 7."""
        c = self.config
        return torch.exp(c.advantage_beta * advantage).clamp(max=c.max_weight)

    def update(self, real: Batch, sim: Batch | None) -> Metrics:
        c = self.config
        # 1. V(s): expectile regression on the target critic's min Q at the dataset action
        with torch.no_grad():
            q_target = self.target_critic.min(real.obs, real.act)  # [K, B]
        v = self.value(real.obs)
        value_loss = expectile_loss(q_target - v, c.expectile).mean(-1)  # [K]
        adam_step(self.optimizer, value_loss)

        # 2-3. the policy and Q, both from the just-updated V (the authors' order)
        with torch.no_grad():  # V(s) and V(s') in one call
            v_new, next_v = self.value(torch.cat([real.obs, real.next_obs], dim=1)).split(len(real), dim=1)
            advantage = q_target - v_new
            weights = self.advantage_weights(advantage)
            target = real.rew * self.reward_scale + (1.0 - real.done) * c.discount * next_v
        policy_loss = -(weights * self.policy.log_prob(real.obs, real.act)).mean(-1)
        q = self.critic(real.obs, real.act)  # [K, 2, B]
        q_loss = (q - target.unsqueeze(1)).square().mean(-1).sum(1)
        lr = self.actor_lr()
        self.policy_group["lr"] = lr
        adam_step(self.optimizer, policy_loss + q_loss)  # disjoint: the policy loss sees no Q or V gradient

        self.num_updates += 1
        if self.num_updates % c.target_update_period == 0:
            soft_update(self.target_critic, self.critic, c.soft_target_update_rate)
        return {"v/loss": value_loss.detach(), "v/mean": v.detach().mean(-1),
                "policy/loss": policy_loss.detach(), "policy/lr": torch.full_like(value_loss, lr).detach(),
                "iql/advantage_mean": advantage.mean(-1), "iql/weight_mean": weights.mean(-1),
                "iql/weight_clipped": (weights >= c.max_weight).float().mean(-1),
                "q/loss": q_loss.detach(), "q/mean": q.detach().mean((1, 2)), "q/target_mean": target.mean(-1)}


register("iql", IQL, label="IQL(real)", role="field",
         summary="implicit Q-learning: expectile V, advantage-weighted policy, on the real dataset only")

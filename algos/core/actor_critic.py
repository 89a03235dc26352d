"""The SAC machinery every method here shares: policy, twin critic, temperature, one optimiser step.

A method's `update` builds its losses from these pieces and hands their sum to `step`. Every
forward pass of an update runs before any parameter moves, as in the authors' code: the target
actions, the actor loss and any regulariser all see the pre-update policy and critic. Because the
actor loss treats the critic as frozen and the critic loss sees only detached actions, one
backward of the summed losses gives each network exactly its own loss's gradient, and one fused
Adam steps them all. Members never share a gradient: losses are summed over members.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from gapbench.algos.core.agent import Agent, AgentSpec, Metrics, adam, adam_step
from gapbench.algos.core.batch import Batch
from gapbench.algos.core.config import ranged
from gapbench.algos.core.critic import TwinQ, soft_update
from gapbench.algos.core.nets import frozen
from gapbench.algos.core.policy import TanhGaussianPolicy


@dataclass
class ActorCriticConfig:
    """Defaults are the authors' (SimpleSAC / H2O), see docs/fidelity.md."""

    hidden: tuple[int, ...] = ranged((256, 256), ge=1)
    discount: float = ranged(0.99, ge=0, le=1)
    policy_lr: float = ranged(3e-4, gt=0)  # also the temperature's learning rate, as in the authors' code
    qf_lr: float = ranged(3e-4, gt=0)
    soft_target_update_rate: float = ranged(5e-3, gt=0, le=1)
    target_update_period: int = ranged(1, ge=1)
    use_automatic_entropy_tuning: bool = True
    alpha_multiplier: float = ranged(1.0, ge=0)  # alpha = exp(log_alpha) * multiplier (or the multiplier if not tuned)
    target_entropy: float | None = ranged(None)  # None: -|A|
    backup_entropy: bool = False  # subtract alpha * log pi(a'|s') inside the TD target
    policy_log_std_multiplier: float = ranged(1.0, gt=0)
    policy_log_std_offset: float = ranged(-1.0)


class ActorCritic(Agent):
    Config = ActorCriticConfig

    def __init__(self, config: ActorCriticConfig, spec: AgentSpec):
        super().__init__(config, spec)
        k, c = spec.population, config
        self.policy = TanhGaussianPolicy(k, spec.obs_dim, spec.act_dim, c.hidden,
                                         c.policy_log_std_multiplier, c.policy_log_std_offset)
        self.critic = TwinQ(k, spec.obs_dim, spec.act_dim, c.hidden, spec.critic_layout)
        self.policy.initialise(self.rng)
        self.critic.initialise(self.rng)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        if c.use_automatic_entropy_tuning:
            self.log_alpha = torch.nn.Parameter(torch.zeros(k))
        else:  # a fixed temperature: nothing to learn (a buffer keeps the checkpoint's keys unchanged)
            self.register_buffer("log_alpha", torch.zeros(k))
        self.target_entropy = -float(spec.act_dim) if c.target_entropy is None else c.target_entropy
        self.to(spec.device)
        groups = [
            {"params": list(self.policy.parameters()), "lr": c.policy_lr},
            {"params": list(self.critic.parameters()), "lr": c.qf_lr},
        ]
        if c.use_automatic_entropy_tuning:
            groups.append({"params": [self.log_alpha], "lr": c.policy_lr})
        self.optimizer = adam(groups, spec.device)
        self.num_updates = 0

    def optimizers(self):
        return {"actor_critic": self.optimizer}

    def extra_state(self):
        return {"num_updates": self.num_updates}

    def load_extra_state(self, state):
        self.num_updates = state["num_updates"]

    # ---------------------------------------------------------------- loss pieces

    def alpha(self) -> torch.Tensor:
        """The entropy temperature per member [K] (lambda in the paper's Algorithm 1)."""
        if self.config.use_automatic_entropy_tuning:
            return self.log_alpha.exp() * self.config.alpha_multiplier
        return torch.full_like(self.log_alpha, self.config.alpha_multiplier)

    def actor_losses(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Metrics]:
        """SAC's policy improvement (Alg. 1 line 7) and temperature losses on states [K, N, obs]."""
        action, log_pi = self.policy(states, self.rng)
        alpha = self.alpha().detach()[:, None]
        with frozen(self.critic):
            q_new = self.critic.min(states, action)
        policy_loss = (alpha * log_pi - q_new).mean(-1)
        if self.config.use_automatic_entropy_tuning:
            alpha_loss = -(self.log_alpha[:, None] * (log_pi + self.target_entropy).detach()).mean(-1)
        else:
            alpha_loss = torch.zeros_like(policy_loss)
        metrics = {"policy/loss": policy_loss.detach(), "policy/log_pi": log_pi.detach().mean(-1),
                   "alpha/value": alpha[:, 0], "alpha/loss": alpha_loss.detach()}
        return policy_loss, alpha_loss, metrics

    @torch.no_grad()
    def td_target(self, batch: Batch, reward: torch.Tensor | None = None) -> torch.Tensor:
        """y = r + gamma (1 - done) [min target Q(s', a') (- alpha log pi(a'|s'))], a' ~ pi(s')."""
        next_action, next_log_pi = self.policy(batch.next_obs, self.rng)
        next_q = self.target_critic.min(batch.next_obs, next_action)
        if self.config.backup_entropy:
            next_q = next_q - self.alpha()[:, None] * next_log_pi
        reward = batch.rew if reward is None else reward
        return reward + (1.0 - batch.done) * self.config.discount * next_q

    @staticmethod
    def squared_errors(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(Q_j(s, a) - y)^2 per critic: q [K, 2, N], target [K, N] -> [K, 2, N]."""
        return (q - target.unsqueeze(1)).square()

    def step(self, loss_per_member: torch.Tensor) -> None:
        """One Adam step on the summed losses, then the soft target update every `period` steps."""
        adam_step(self.optimizer, loss_per_member)
        self.num_updates += 1
        if self.num_updates % self.config.target_update_period == 0:
            soft_update(self.target_critic, self.critic, self.config.soft_target_update_rate)

    # ---------------------------------------------------------------- plain SAC

    def sac_update(self, batch: Batch, policy_states: torch.Tensor, reward: torch.Tensor | None = None,
                   real_rows: int = 0) -> Metrics:
        """Standard SAC on one batch (Eq. 1 and 2), as used by SAC(sim), DARC and DARC+.

        `real_rows`: how many of the batch's first rows are real data (DARC+'s mixed batch). Their squared
        TD errors and the sim rows' are then logged apart, under H2O's names: on offline rows the critic
        bootstraps on actions the data never took, and a critic that diverges there shows it first."""
        target = self.td_target(batch, reward)
        policy_loss, alpha_loss, metrics = self.actor_losses(policy_states)
        q = self.critic(batch.obs, batch.act)
        errors = self.squared_errors(q, target)
        q_loss = errors.mean(-1).sum(1)
        self.step(policy_loss + alpha_loss + q_loss)
        metrics.update({"q/loss": q_loss.detach(), "q/mean": q.detach().mean((1, 2)),
                        "q/target_mean": target.mean(-1)})
        if real_rows:
            errors = errors.detach()
            metrics["q/bellman_real"] = errors[..., :real_rows].mean(-1).sum(1)
            metrics["q/bellman_sim"] = errors[..., real_rows:].mean(-1).sum(1)
        return metrics

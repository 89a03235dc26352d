"""TD3+BC(real): TD3 with a behaviour-cloning term (Fujimoto & Gu, NeurIPS 2021), on the real dataset only.

TD3 (twin critics, target policy smoothing, delayed actor and target updates) with one change to
the actor loss, on states normalised by the dataset's mean and std (Sec. 5 of the paper):

    pi = argmax_pi E_D[ lambda * Q_1(s, pi(s)) - (pi(s) - a)^2 ],   lambda = alpha / mean_D |Q_1(s, pi(s))|

lambda is taken over the minibatch and treated as a constant (no gradient), so the Q term has a
scale set by alpha whatever the scale of the rewards. Each update, in the authors' order:

  1. the critics, with the target y = r + gamma (1 - done) min_j Q_target_j(s', a'),
     a' = clip(pi_target(s') + clip(N(0, policy_noise^2), -noise_clip, noise_clip), -1, 1);
  2. every `policy_delay` updates, the actor on the loss above, with the *just-updated* critic,
     then the Polyak update of both targets.

Deviations from the paper and the authors' code are config fields, listed in docs/fidelity.md.
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
from gapbench.algos.core.policy import DeterministicPolicy
from gapbench.algos.core.rng import PopulationRNG
from gapbench.algos.registry import register


@dataclass
class TD3BCConfig:
    """Defaults: the authors' TD3_BC.py and main.py, see docs/fidelity.md."""

    hidden: tuple[int, ...] = ranged((256, 256), ge=1)
    discount: float = ranged(0.99, ge=0, le=1)
    batch_size: int = ranged(256, ge=1)
    policy_lr: float = ranged(3e-4, gt=0)
    qf_lr: float = ranged(3e-4, gt=0)
    soft_target_update_rate: float = ranged(5e-3, gt=0, le=1)  # tau, for the actor's and the critic's targets
    alpha: float = ranged(2.5, ge=0)  # lambda = alpha / mean |Q|; 0 is pure behaviour cloning
    policy_noise: float = ranged(0.2, ge=0)  # std of the target policy smoothing noise (actions in [-1, 1])
    noise_clip: float = ranged(0.5, ge=0)  # ... clipped to +-noise_clip
    policy_delay: int = ranged(2, ge=1)  # the actor and both targets step every policy_delay updates
    normalise_states: bool = True  # (s - mean) / (std + state_std_eps) over the dataset, in training and acting
    state_std_eps: float = ranged(1e-3, ge=0)
    # Std of the Gaussian noise on act(deterministic=False), TD3's exploration noise (the authors'
    # expl_noise). Offline, only a stochastic rollout (e.g. a data-collecting run) ever uses it.
    exploration_noise: float = ranged(0.1, ge=0)


class TD3BC(Agent):
    Config = TD3BCConfig
    sources = frozenset({"real"})  # offline: trained once per dataset, shown under every gap

    def __init__(self, config: TD3BCConfig, spec: AgentSpec):
        super().__init__(config, spec)
        k, c = spec.population, config
        self.policy = DeterministicPolicy(k, spec.obs_dim, spec.act_dim, c.hidden)
        self.critic = TwinQ(k, spec.obs_dim, spec.act_dim, c.hidden, spec.critic_layout)
        self.policy.initialise(self.rng)
        self.critic.initialise(self.rng, last_layer_gain=None)  # PyTorch's default, as the authors' nn.Linear
        self.target_policy = copy.deepcopy(self.policy).requires_grad_(False)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        mean, std = self._state_moments(c, spec)
        self.register_buffer("obs_mean", mean)
        self.register_buffer("obs_std", std)
        self.to(spec.device)
        # One fused Adam, stepped twice on delayed updates (critic, then actor): a group without
        # gradients in a step is skipped, so each network gets exactly its own Adam steps.
        self.optimizer = adam([{"params": list(self.critic.parameters()), "lr": c.qf_lr},
                               {"params": list(self.policy.parameters()), "lr": c.policy_lr}], spec.device)
        self.num_updates = 0
        # The actor's metrics of its last step, reported on the updates in between, so the logging
        # window's mean is over actor steps only.
        self.last_actor_metrics = {name: torch.zeros(k, device=spec.device)
                                   for name in ("policy/loss", "policy/lambda", "policy/bc_mse", "policy/q")}

    @staticmethod
    def _state_moments(c: TD3BCConfig, spec: AgentSpec) -> tuple[torch.Tensor, torch.Tensor]:
        if not c.normalise_states:
            return torch.zeros(spec.obs_dim), torch.ones(spec.obs_dim)
        if spec.real_stats is None:
            raise ValueError("td3+bc normalises states by the real dataset's (AgentSpec.real_stats); "
                             "set normalise_states=False to train without")
        stats = spec.real_stats
        return (torch.as_tensor(stats.obs_mean, dtype=torch.float32),
                torch.as_tensor(stats.obs_std + c.state_std_eps, dtype=torch.float32))

    def normalise(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.obs_mean) / self.obs_std

    def batch_sizes(self):
        return {"real": self.config.batch_size}

    def optimizers(self):
        return {"td3_bc": self.optimizer}

    def extra_state(self):
        return {"num_updates": self.num_updates, "last_actor_metrics": {n: v.clone() for n, v in
                                                                        self.last_actor_metrics.items()}}

    def load_extra_state(self, state):
        self.num_updates = state["num_updates"]
        self.last_actor_metrics = {n: v.clone().to(self.obs_mean.device) for n, v in state["last_actor_metrics"].items()}

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool, rng: PopulationRNG | None = None) -> torch.Tensor:
        action = self.policy(self.normalise(obs))
        if deterministic:
            return action
        noise = (rng or self.rng).normal(*action.shape[1:], dtype=action.dtype)
        return (action + self.config.exploration_noise * noise).clamp(-1.0, 1.0)

    @torch.no_grad()
    def smoothed_target_action(self, next_obs: torch.Tensor) -> torch.Tensor:
        """a' = clip(pi_target(s') + clip(eps, -c, c), -1, 1), eps ~ N(0, policy_noise^2): TD3's smoothing."""
        c = self.config
        target_action = self.target_policy(next_obs)
        noise = (self.rng.normal(*target_action.shape[1:]) * c.policy_noise).clamp(-c.noise_clip, c.noise_clip)
        return (target_action + noise).clamp(-1.0, 1.0)

    def actor_loss(self, obs: torch.Tensor, data_action: torch.Tensor) -> tuple[torch.Tensor, Metrics]:
        """-lambda * mean Q_1(s, pi(s)) + mean (pi(s) - a)^2 per member, lambda = alpha / mean |Q_1| (no gradient)."""
        pi = self.policy(obs)
        with frozen(self.critic):  # the actor gets dQ/da, the critic no weight gradient
            q_pi = self.critic.first(obs, pi)  # Q_1 only, as the authors' critic.Q1
        lam = self.config.alpha / q_pi.detach().abs().mean(-1)  # [K]
        bc = (pi - data_action).square().mean((1, 2))  # F.mse_loss: the mean over rows and action dims
        loss = -lam * q_pi.mean(-1) + bc
        return loss, {"policy/loss": loss.detach(), "policy/lambda": lam, "policy/bc_mse": bc.detach(),
                      "policy/q": q_pi.detach().mean(-1)}

    def update(self, real: Batch, sim: Batch | None) -> Metrics:
        c = self.config
        obs, next_obs = self.normalise(real.obs), self.normalise(real.next_obs)
        self.num_updates += 1
        with torch.no_grad():
            next_q = self.target_critic.min(next_obs, self.smoothed_target_action(next_obs))
            target = real.rew + (1.0 - real.done) * c.discount * next_q
        q = self.critic(obs, real.act)  # [K, 2, B]
        q_loss = (q - target.unsqueeze(1)).square().mean(-1).sum(1)
        adam_step(self.optimizer, q_loss)
        if self.num_updates % c.policy_delay == 0:  # the delayed actor step, with the updated critic
            loss, self.last_actor_metrics = self.actor_loss(obs, real.act)
            adam_step(self.optimizer, loss)
            soft_update(self.target_critic, self.critic, c.soft_target_update_rate)
            soft_update(self.target_policy, self.policy, c.soft_target_update_rate)
        return {"q/loss": q_loss.detach(), "q/mean": q.detach().mean((1, 2)), "q/target_mean": target.mean(-1),
                **self.last_actor_metrics}


register("td3+bc", TD3BC, label="TD3+BC(real)", role="field",
         summary="TD3 with a normalised behaviour-cloning term in the actor loss, on the real dataset only")

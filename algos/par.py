"""PAR: policy adaptation by capturing representation mismatch (Lyu, Bai, Yang, Lu & Li, ICML 2024).

PAR learns representations in the *target* domain only and uses them only as a reward penalty:
neither the policy nor the critic sees them. Here the target domain is the real robot, known through
its offline dataset, and the source domain is the simulator (H2O's setting). Each update, in the
authors' order (their online PAR, `algo/PAR.py`, with the target replay buffer replaced by the real
dataset):

  1. every `encoder_update_period` updates, one step of the encoders on real transitions:
         min || g(f(s), a) - f(s') ||^2,   f(s') fixed,   z_s = f(s) = AvgL1Norm(...), z_sa = g(z_s, a);
  2. the sim rewards are penalised by the representation mismatch under the *target* encoders:
         r~ = r - beta * mean_j (g'(f'(s), a) - f'(s'))_j^2        (sim transitions only)
  3. SAC on the sim and real transitions together: the critic step (entropy in the backup, a fixed
     temperature), the Polyak update of the target critic and the target encoders, then the actor
     step with the *just-updated* critic.

The original's setting (online target interaction, here: a real env to roll out in) is outside
gapbench's interface, which gives every method a fixed real dataset; docs/fidelity.md says what
that changes. Deviations from the paper and the authors' code are config fields listed there.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from gapbench.algos.core.actor_critic import ActorCritic, ActorCriticConfig
from gapbench.algos.core.agent import AgentSpec, Metrics, adam_step
from gapbench.algos.core.batch import Batch
from gapbench.algos.core.config import ranged
from gapbench.algos.core.critic import soft_update
from gapbench.algos.core.encoder import StateActionEncoder
from gapbench.algos.core.rng import PopulationRNG
from gapbench.algos.registry import register


@dataclass
class PARConfig(ActorCriticConfig):
    """Defaults: the authors' online PAR (config/*.yaml, train.py), see docs/fidelity.md."""

    use_automatic_entropy_tuning: bool = False  # the authors' temperature_opt: False ...
    alpha_multiplier: float = ranged(0.2, ge=0)  # ... with alpha fixed at 0.2
    backup_entropy: bool = True  # alpha log pi(a'|s') inside the TD target, as the authors' critic
    policy_log_std_offset: float = ranged(0.0)  # the authors' log sigma is the network's raw output
    sim_batch_size: int = ranged(128, ge=1)  # the authors' batch_size, drawn from each domain
    real_batch_size: int = ranged(128, ge=1)
    penalty_beta: float = ranged(0.5, ge=0)  # beta of the reward penalty (train.py's default; the paper tunes per task)
    encoder_hidden: tuple[int, ...] = ranged((256, 256), ge=1)
    encoder_dim: int = ranged(256, ge=1)  # the size of z_s and z_sa
    encoder_lr: float = ranged(3e-4, gt=0)  # the authors' actor_lr
    encoder_batch_size: int = ranged(64, ge=1)  # real rows per encoder step (batch_size // 2)
    encoder_update_period: int = ranged(200, ge=1)  # updates between encoder steps
    # Std of the Gaussian noise added to the policy's sample on sim rollouts (act(deterministic=False)),
    # as the authors' train.py adds N(0, 0.2^2) to every source-domain action
    exploration_noise: float = ranged(0.2, ge=0)


class PAR(ActorCritic):
    Config = PARConfig
    sources = frozenset({"real", "sim"})

    def __init__(self, config: PARConfig, spec: AgentSpec):
        super().__init__(config, spec)
        c = config
        self.encoder = StateActionEncoder(spec.population, spec.obs_dim, spec.act_dim, c.encoder_hidden,
                                          c.encoder_dim)
        self.encoder.initialise(self.rng)
        self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.encoder.to(spec.device)
        self.target_encoder.to(spec.device)
        self.optimizer.add_param_group({"params": list(self.encoder.parameters()), "lr": c.encoder_lr})
        self.last_encoder_loss = torch.zeros(spec.population, device=spec.device)

    def batch_sizes(self):
        c = self.config
        return {"real": c.real_batch_size + c.encoder_batch_size, "sim": c.sim_batch_size}

    def extra_state(self):
        return {**super().extra_state(), "last_encoder_loss": self.last_encoder_loss.clone()}

    def load_extra_state(self, state):
        super().load_extra_state(state)
        self.last_encoder_loss = state["last_encoder_loss"].clone().to(self.last_encoder_loss.device)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool, rng: PopulationRNG | None = None) -> torch.Tensor:
        if deterministic:
            return self.policy.deterministic(obs)
        rng = rng or self.rng
        action = self.policy(obs, rng)[0]
        noise = rng.normal(*action.shape[1:], dtype=action.dtype)
        return (action + self.config.exploration_noise * noise).clamp(-1.0, 1.0)

    @torch.no_grad()
    def penalty(self, sim: Batch) -> torch.Tensor:
        """beta * the target encoders' representation mismatch, per sim transition [K, B]."""
        return self.config.penalty_beta * self.target_encoder.deviation(*sim.transitions())

    def update(self, real: Batch, sim: Batch) -> Metrics:
        c = self.config
        real_q, real_encoder = real.split(c.real_batch_size)
        self.num_updates += 1
        if self.num_updates % c.encoder_update_period == 0:  # 1. the encoders, on real transitions
            encoder_loss = self.encoder.loss(*real_encoder.transitions())
            adam_step(self.optimizer, encoder_loss)
            self.last_encoder_loss = encoder_loss.detach()

        penalty = self.penalty(sim)  # 2. the sim rewards' penalty
        batch = Batch.cat(sim, real_q)  # sim first, then real, as the authors concatenate
        reward = torch.cat([sim.rew - penalty, real_q.rew], dim=1)
        target = self.td_target(batch, reward)  # 3. SAC: the critic ...
        q = self.critic(batch.obs, batch.act)
        q_loss = self.squared_errors(q, target).mean(-1).sum(1)
        adam_step(self.optimizer, q_loss)
        if self.num_updates % c.target_update_period == 0:  # ... the targets ...
            soft_update(self.target_critic, self.critic, c.soft_target_update_rate)
            soft_update(self.target_encoder, self.encoder, c.soft_target_update_rate)
        policy_loss, alpha_loss, metrics = self.actor_losses(batch.obs)  # ... and the actor, with the new critic
        adam_step(self.optimizer, policy_loss + alpha_loss)
        return metrics | {"par/penalty_mean": penalty.mean(-1), "par/penalty_max": penalty.max(-1).values,
                          "par/encoder_loss": self.last_encoder_loss, "q/loss": q_loss.detach(),
                          "q/mean": q.detach().mean((1, 2)), "q/target_mean": target.mean(-1)}

    @torch.no_grad()
    def diagnostics(self, sim: Batch, rng: PopulationRNG) -> Metrics:
        """The reward penalty and min Q per sim transition: where PAR sees the dynamics differ."""
        return {"penalty": self.penalty(sim), "q": self.critic.min(sim.obs, sim.act)}


register("par", PAR, label="PAR", role="field",
         summary="SAC on sim + real data, sim rewards penalised by a real-data representation's mismatch")

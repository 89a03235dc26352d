"""VGDF: cross-domain policy adaptation via value-guided data filtering (Xu et al., NeurIPS 2023).

VGDF shares a source transition (s, a, r, s') only where its value target agrees with the values
the *target* domain would give from (s, a). An ensemble of E Gaussian dynamics models of the target
domain imagines E target next states from (s, a); their values r_e + gamma Q'(s'_e, pi(s'_e)) are
fitted by a Gaussian, and the source target r + gamma Q'(s', a') is scored by its likelihood under
it ("Fictitious Value Proximity"). Only the source rows whose likelihood is above the batch's
`filter_quantile` quantile enter the critic's loss. Here the target domain is the real robot, known
through its offline dataset, and the source domain is the simulator (H2O's setting). Each update,
in the authors' order (`agent/vgdf.py`, `script/train_vgdf.py`, the target buffer replaced by the
real dataset):

  1. every `model_update_period` updates, one Adam step of the dynamics ensemble on real rows, each
     network on rows of its own (Gaussian NLL of (r, s' - s) plus weight decay);
  2. the critic: y = r + gamma (1 - d) (min Q'(s', a') - alpha log pi(a'|s')) on real and sim rows;
     the real rows' squared errors in full, the sim rows' times the filter's 0/1 gate (once
     `filter_start` updates have passed; every row before); gradient norm clipped per member;
  3. every `policy_update_period` updates, with the just-updated critic: the policy (min of the two
     critics) and the *optimistic* policy (their max), on the sim then real states, each clipped;
  4. the Polyak update of the target critic.

The simulator is rolled out with the optimistic policy's samples (`act(deterministic=False)`); the
real env is evaluated with the policy's mean. The original's setting (online target interaction,
the ensemble refitted on a growing target buffer) is outside gapbench's interface, which gives every
method a fixed real dataset; docs/fidelity.md says what that changes. Deviations from the paper and
the authors' code are config fields listed there.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Literal

import torch

from gapbench.algos.core.actor_critic import ActorCritic, ActorCriticConfig
from gapbench.algos.core.agent import AgentSpec, Metrics
from gapbench.algos.core.batch import Batch
from gapbench.algos.core.config import ranged
from gapbench.algos.core.critic import soft_update
from gapbench.algos.core.dynamics import GaussianEnsemble
from gapbench.algos.core.grad_clip import clip_grad_norm_per_member
from gapbench.algos.core.nets import frozen
from gapbench.algos.core.rng import PopulationRNG
from gapbench.algos.registry import register

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_STD_EPS = 1e-8  # added to the fictitious values' std, as the authors' Normal(mean, std + 1e-8)


@dataclass
class VGDFConfig(ActorCriticConfig):
    """Defaults: the authors' config/vgdf/*.yaml and train_vgdf.py's arguments, see docs/fidelity.md."""

    use_automatic_entropy_tuning: bool = False  # the authors' alpha: 0.2 (not None) in every config ...
    alpha_multiplier: float = ranged(0.2, ge=0)  # ... a fixed temperature
    backup_entropy: bool = True  # - alpha log pi(a'|s') in both domains' TD targets
    policy_log_std_offset: float = ranged(0.0)  # the authors' log sigma is the network's raw output
    sim_batch_size: int = ranged(128, ge=1)  # the authors' batch_size, drawn from each domain
    real_batch_size: int = ranged(128, ge=1)
    policy_update_period: int = ranged(2, ge=1)  # training_delay: both policies step every 2nd update
    grad_clip_norm: float = ranged(100.0, gt=0)  # ac_gradient_clip, per network and member
    # likelihood_gate_threshold: sim rows whose likelihood is not above this quantile of the batch's
    # are dropped, so 1 - 0.75 = 25% are kept (train_vgdf.py's --data_sharing_ratio, default 0.75)
    filter_quantile: float = ranged(0.75, ge=0, le=1)
    filter_start: int = ranged(100_000, ge=0)  # start_gate_src_sample: updates that keep every sim row
    optimistic_exploration: bool = True  # roll the simulator out with the optimistic policy (not --no_optimistic)
    # The imagined outcome the fictitious values use: the authors' code takes mean + variance of each
    # network's Gaussian ("mean_plus_variance"); "mean" drops the variance; "sample" draws mean + std * N(0, 1)
    imagined_next_state: Literal["mean_plus_variance", "mean", "sample"] = "mean_plus_variance"
    model_ensemble_size: int = ranged(7, ge=2)  # train_vgdf.py's --ensemble_size (a std needs two)
    model_hidden: tuple[int, ...] = ranged((200, 200, 200, 200), ge=1)
    model_weight_decay: tuple[float, ...] = ranged((2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4), ge=0)  # one per layer
    model_log_var_bounds: tuple[float, float] = ranged((-10.0, 0.5), ordered=True)
    model_lr: float = ranged(1e-3, gt=0)
    model_batch_size: int = ranged(256, ge=1)  # real rows per network per model step
    model_update_period: int = ranged(1, ge=1)  # updates between model steps


class VGDF(ActorCritic):
    Config = VGDFConfig
    sources = frozenset({"real", "sim"})

    def __init__(self, config: VGDFConfig, spec: AgentSpec):
        super().__init__(config, spec)
        c, k = config, spec.population
        if spec.real_stats is None:
            raise ValueError("VGDF normalises the dynamics ensemble's inputs by the real dataset's states "
                             "(AgentSpec.real_stats)")
        self.optimistic_policy = copy.deepcopy(self.policy)
        self.optimistic_policy.initialise(self.rng)  # its own weights, drawn after the policy's and critics'
        self.dynamics = GaussianEnsemble(k, c.model_ensemble_size, spec.obs_dim, spec.act_dim, c.model_hidden,
                                         c.model_log_var_bounds, c.model_weight_decay)
        self.dynamics.initialise(self.rng)
        stats = spec.real_stats
        # the dataset's states as the authors' scaler fits the target buffer's; the actions, in [-1, 1], as they are
        self.dynamics.set_normaliser(
            torch.cat([torch.as_tensor(stats.obs_mean, dtype=torch.float32), torch.zeros(spec.act_dim)]),
            torch.cat([torch.as_tensor(stats.obs_std, dtype=torch.float32), torch.ones(spec.act_dim)]))
        self.optimistic_policy.to(spec.device)
        self.dynamics.to(spec.device)
        self.optimizer.add_param_group({"params": list(self.optimistic_policy.parameters()), "lr": c.policy_lr})
        self.optimizer.add_param_group({"params": list(self.dynamics.parameters()), "lr": c.model_lr})
        zeros = torch.zeros(k, device=spec.device)
        # the last model and actor steps' metrics, reported on the updates between them
        self.last = {name: zeros.clone() for name in (
            "vgdf/model_nll", "vgdf/model_mse", "policy/loss", "policy/log_pi", "policy/grad_norm",
            "optimistic_policy/loss", "optimistic_policy/grad_norm", "alpha/value", "alpha/loss")}

    def batch_sizes(self):
        c = self.config
        return {"real": c.real_batch_size + c.model_ensemble_size * c.model_batch_size, "sim": c.sim_batch_size}

    def extra_state(self):
        return {**super().extra_state(), "last": {n: v.clone() for n, v in self.last.items()}}

    def load_extra_state(self, state):
        super().load_extra_state(state)
        self.last = {n: v.clone().to(self.log_alpha.device) for n, v in state["last"].items()}

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool, rng: PopulationRNG | None = None) -> torch.Tensor:
        if deterministic:
            return self.policy.deterministic(obs)
        policy = self.optimistic_policy if self.config.optimistic_exploration else self.policy
        return policy(obs, rng or self.rng)[0]

    def _step(self, loss_per_member: torch.Tensor, clipped: tuple[torch.nn.Module, ...] = ()) -> list[torch.Tensor]:
        """One Adam step (groups this loss does not reach are skipped), each network in `clipped`
        clipped to the gradient norm first, member by member; returns their norms."""
        self.optimizer.zero_grad(set_to_none=True)
        loss_per_member.sum().backward()  # a sum over members: each gets only its own gradient
        k = self.spec.population
        norms = [clip_grad_norm_per_member(m.parameters(), self.config.grad_clip_norm, k) for m in clipped]
        self.optimizer.step()
        return norms

    # ---------------------------------------------------------------- the filter

    @torch.no_grad()
    def fictitious_values(self, sim: Batch, rng: PopulationRNG) -> torch.Tensor:
        """r_e + gamma (1 - d) min Q'(s'_e, pi(s'_e)) [K, E, B] for the E networks' imagined outcomes of
        the sim (s, a): pi the policy's mean action, d the sim row's own done flag."""
        c = self.config
        mean, log_var = self.dynamics(sim.obs, sim.act)  # [K, E, B, 1 + obs]
        if c.imagined_next_state == "mean_plus_variance":
            outcome = mean + log_var.exp()
        elif c.imagined_next_state == "sample":
            outcome = mean + (0.5 * log_var).exp() * rng.normal(*mean.shape[1:], dtype=mean.dtype)
        else:
            outcome = mean
        k, e, b, _ = outcome.shape
        next_obs = (sim.obs.unsqueeze(1) + outcome[..., 1:]).reshape(k, e * b, -1)
        value = self.target_critic.min(next_obs, self.policy.deterministic(next_obs)).view(k, e, b)
        return outcome[..., 0] + (1.0 - sim.done).unsqueeze(1) * c.discount * value

    @torch.no_grad()
    def likelihood(self, sim: Batch, compare: torch.Tensor, rng: PopulationRNG) -> tuple[torch.Tensor, torch.Tensor]:
        """(the likelihood of each sim row's value target `compare` [K, B] under N(mean, std + 1e-8) of its
        fictitious values, |mean - compare|): Fictitious Value Proximity."""
        values = self.fictitious_values(sim, rng)
        mean, std = values.mean(1), values.std(1)  # over the E networks; std unbiased, as torch.std
        scale = std + _STD_EPS
        likelihood = torch.exp(-0.5 * ((compare - mean) / scale).square() - scale.log() - _LOG_SQRT_2PI)
        return likelihood, (mean - compare).abs()

    @staticmethod
    def gate(likelihood: torch.Tensor, quantile: float) -> torch.Tensor:
        """1.0 where a row's likelihood is above the `quantile` quantile of its member's batch (linear
        interpolation, torch.quantile's), else 0.0 [K, B]."""
        threshold = torch.quantile(likelihood, quantile, dim=-1, keepdim=True)
        return (likelihood > threshold).to(likelihood.dtype)

    @torch.no_grad()
    def targets(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(the TD target with the entropy term, the same without it: the value target VGDF compares) [K, N]."""
        next_action, next_log_pi = self.policy(batch.next_obs, self.rng)
        next_q = self.target_critic.min(batch.next_obs, next_action)
        bootstrap = (1.0 - batch.done) * self.config.discount
        entropy = self.alpha()[:, None] * next_log_pi if self.config.backup_entropy else 0.0
        return batch.rew + bootstrap * (next_q - entropy), batch.rew + bootstrap * next_q

    # ---------------------------------------------------------------- the update

    def update(self, real: Batch, sim: Batch) -> Metrics:
        c = self.config
        real_q, real_model = real.split(c.real_batch_size)
        step = self.num_updates  # this update's index, from 0
        if step % c.model_update_period == 0:  # 1. the dynamics ensemble, each network on its own rows
            k, e = self.spec.population, c.model_ensemble_size
            rows = Batch(*(x.reshape(k, e, c.model_batch_size, *x.shape[2:]) for x in (
                real_model.obs, real_model.act, real_model.rew, real_model.next_obs, real_model.done)))
            loss, nll, mse = self.dynamics.loss(rows.obs, rows.act, rows.rew, rows.next_obs)
            self._step(loss)
            self.last["vgdf/model_nll"], self.last["vgdf/model_mse"] = nll, mse

        batch = Batch.cat(real_q, sim)  # target then source rows, as the authors compute them
        target, compare = self.targets(batch)
        n_real = c.real_batch_size
        likelihood, difference = self.likelihood(sim, compare[:, n_real:], self.rng)
        if step >= c.filter_start:
            accept = self.gate(likelihood, c.filter_quantile)
        else:
            accept = torch.ones_like(likelihood)
        q = self.critic(batch.obs, batch.act)  # 2. the critic
        errors = self.squared_errors(q, target)  # [K, 2, N]
        q_loss_real = errors[..., :n_real].mean(-1).sum(1)
        q_loss_sim = (accept.unsqueeze(1) * errors[..., n_real:]).mean(-1).sum(1)  # the mean over all sim rows
        (q_norm,) = self._step(q_loss_real + q_loss_sim, (self.critic,))

        if step % c.policy_update_period == 0:  # 3. both policies, with the just-updated critic
            states = torch.cat([sim.obs, real_q.obs], dim=1)  # source then target states, as the authors'
            policy_loss, alpha_loss, metrics = self.actor_losses(states)
            action, log_pi = self.optimistic_policy(states, self.rng)
            with frozen(self.critic):
                q_max = self.critic(states, action).max(dim=1).values
            optimistic_loss = (self.alpha().detach()[:, None] * log_pi - q_max).mean(-1)
            policy_norm, optimistic_norm = self._step(policy_loss + alpha_loss + optimistic_loss,
                                                      (self.policy, self.optimistic_policy))
            self.last.update(metrics)
            self.last.update({"optimistic_policy/loss": optimistic_loss.detach(), "policy/grad_norm": policy_norm,
                              "optimistic_policy/grad_norm": optimistic_norm})

        self.num_updates += 1
        if self.num_updates % c.target_update_period == 0:  # 4. the target critic
            soft_update(self.target_critic, self.critic, c.soft_target_update_rate)
        return {**self.last, "q/loss": (q_loss_real + q_loss_sim).detach(), "q/loss_real": q_loss_real.detach(),
                "q/loss_sim": q_loss_sim.detach(), "q/grad_norm": q_norm, "q/mean": q.detach().mean((1, 2)),
                "q/target_mean": target.mean(-1), "vgdf/accept_ratio": accept.mean(-1),
                "vgdf/likelihood_mean": likelihood.mean(-1), "vgdf/value_difference_mean": difference.mean(-1)}

    @torch.no_grad()
    def diagnostics(self, sim: Batch, rng: PopulationRNG) -> Metrics:
        """Per sim transition: the likelihood of its value target under the fictitious values, the
        value difference, whether the filter keeps it, and min Q."""
        next_action, _ = self.policy(sim.next_obs, rng)
        compare = sim.rew + (1.0 - sim.done) * self.config.discount * self.target_critic.min(sim.next_obs, next_action)
        likelihood, difference = self.likelihood(sim, compare, rng)
        return {"likelihood": likelihood, "value_difference": difference,
                "accepted": self.gate(likelihood, self.config.filter_quantile), "q": self.critic.min(sim.obs, sim.act)}


register("vgdf", VGDF, label="VGDF", role="field",
         summary="SAC on real + sim data, sim rows kept only where a real-data dynamics ensemble's values agree "
                 "(value-guided data filtering)")

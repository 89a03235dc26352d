"""H2O+: hybrid offline-and-online RL with dynamics gaps, improved (Niu et al., ICRA 2025, arXiv 2309.12716).

H2O+ drops H2O's value regulariser (the omega-weighted push-down of sim Q-values). It anchors the
critic with an in-sample value V learned on the real data instead, as IQL does, and blends that
anchor with the usual online backup. The symbols are those of the authors' code (t6-thu/H2Oplus,
`SimpleSAC/h2oplus.py`): real transitions come from d^{pi_beta}_M (the offline dataset of the real
MDP M), sim transitions from d^pi_M^ (rollouts of the current policy in the simulator M^), and the
policy improves on their mixture d_f. Each update, in the authors' order:

  1. one step of the classifiers D_sa, D_sas on real vs sim (s, a, s'), as in H2O and DARC;
  2. with the just-updated classifiers, the dynamics ratio of each sim transition,
         w(s, a, s') = clip( P_M(s'|s,a) / P_M^(s'|s,a), 1e-5, 1 );
  3. two Bellman backups for every real and sim transition, from the pre-update networks:
         exploration  B_explore Q = r + gamma (1 - done) [min_j Q_target_j(s', a') - alpha log pi(a'|s')],
                      a' ~ pi(s')
         exploitation B_exploit Q = r + gamma (1 - done) V(s')
     and the mixed backup with the exploitation coefficient lambda,
         y = lambda B_exploit Q + (1 - lambda) B_explore Q;
  4. the critic loss, the sim Bellman error importance-weighted by the dynamics ratio:
         L_Q = sum_j ( E_{d^{pi_beta}_M}[(Q_j - y)^2] + E_{d^pi_M^}[w (Q_j - y)^2] );
  5. SAC's policy and temperature losses on the real states followed by the sim states (d_f);
  6. the in-sample value on the real data only, by expectile regression on the target critic:
         L_V = E_{d^{pi_beta}_M}[ L_2^tau( min_j Q_target_j(s, a) - V(s) ) ];
  7. the optimiser steps (alpha, V, pi, Q in the authors' code), then the soft target update.

Every loss of steps 3-6 reads only pre-update parameters and their gradients are disjoint (the critic
is frozen in the actor loss, the targets are detached), so one backward of their sum and one fused
Adam step equal the authors' four steps.

With `warmup_steps` > 0 the first updates are the authors' optional real-data pretraining instead:
V as in step 6, Q on the exploitation backup alone (real data only), and the policy by
advantage-weighted regression,
         L_pi = -E_{d^{pi_beta}_M}[ min(exp(beta (min_j Q_j(s, a) - V(s))), max_weight) log pi(a|s) ],
with the *online* critics' min, as the authors write it; neither the classifiers nor alpha move then.
The authors' default is no warm-up.

Deviations from the paper and the authors' code, and the variants not built here (the DICE ratio
estimator with a dynamics model, the auto-tuned lambda, the sparse value loss), are in
docs/fidelity.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gapbench.algos.core.actor_critic import ActorCritic, ActorCriticConfig
from gapbench.algos.core.agent import AgentSpec, Metrics
from gapbench.algos.core.batch import Batch
from gapbench.algos.core.classifiers import ClassifierConfig, DomainClassifierTrainer
from gapbench.algos.core.config import ranged
from gapbench.algos.core.critic import StateValue, expectile_loss
from gapbench.algos.core.rng import PopulationRNG
from gapbench.algos.registry import register


@dataclass
class H2OPlusConfig(ActorCriticConfig, ClassifierConfig):
    """Defaults: the authors' `H2OPLUS.get_default_config` and `h2o+_main.py`, see docs/fidelity.md."""

    backup_entropy: bool = True  # the authors' backup_policy_entropy: alpha log pi(a'|s') inside B_explore
    real_batch_size: int = ranged(128, ge=1)  # batch_size 256 x (1 - batch_sim_ratio 0.5)
    sim_batch_size: int = ranged(128, ge=1)  # batch_size 256 x batch_sim_ratio 0.5
    value_lr: float = ranged(3e-4, gt=0)  # the authors' vf_lr
    exploit_coeff: float = ranged(0.5, ge=0, le=1)  # lambda: 1 = the in-sample backup only, 0 = SAC's
    expectile: float = ranged(0.5, gt=0, lt=1)  # tau of L_2^tau (the authors' `quantile`); 1/2: V = mean of Q
    # The authors' use_real_blended_target / use_sim_blended_target: False gives the real transitions
    # the exploitation backup alone, the sim transitions the exploration backup alone.
    real_blended_target: bool = True
    sim_blended_target: bool = True
    dynamics_ratio_weight: bool = True  # the authors' use_td_target_ratio; False: unweighted sim errors
    # the authors' clip_dynamics_ratio_min / _max
    dynamics_ratio_clip: tuple[float, float] = ranged((1e-5, 1.0), ge=0, ordered=True)
    # The optional real-data pretraining (the runner's warmup_steps, 0 by default): AWR policy extraction
    warmup_steps: int = ranged(0, ge=0)
    advantage_beta: float = ranged(1.0, ge=0)  # beta of exp(beta A): the authors' `temperature`
    max_weight: float = ranged(100.0, gt=0)  # exp(beta A) is clipped here


class H2OPlus(ActorCritic):
    Config = H2OPlusConfig
    sources = frozenset({"real", "sim"})

    def __init__(self, config: H2OPlusConfig, spec: AgentSpec):
        super().__init__(config, spec)
        self.value = StateValue(spec.population, spec.obs_dim, config.hidden)
        self.value.initialise(self.rng)  # after the policy and the critic: member k from seed k's stream
        self.value.to(spec.device)
        self.optimizer.add_param_group({"params": list(self.value.parameters()), "lr": config.value_lr})
        self.classifiers = DomainClassifierTrainer(spec, config.hidden, config, self.rng)

    def optimizers(self):
        return {**super().optimizers(), "classifiers": self.classifiers.optimizer}

    def batch_sizes(self):
        c = self.config
        return {"real": c.real_batch_size + c.classifier_batch_size,
                "sim": c.sim_batch_size + c.classifier_batch_size}

    def in_warmup(self) -> bool:
        """One of the first `warmup_steps` updates? (The authors': total_steps <= warmup_steps.)"""
        return self.num_updates < self.config.warmup_steps

    # ------------------------------------------------------------ the pieces, each per member

    @torch.no_grad()
    def dynamics_ratio(self, sim: Batch) -> torch.Tensor:
        """w = clip(P_M(s'|s,a) / P_M^(s'|s,a)) per sim transition [K, B]; 1 without the weight."""
        if not self.config.dynamics_ratio_weight:
            return torch.ones_like(sim.rew)
        return self.classifiers.log_ratio_real_over_sim(sim).exp().clamp(*self.config.dynamics_ratio_clip)

    @torch.no_grad()
    def exploit_backup(self, batch: Batch, next_v: torch.Tensor) -> torch.Tensor:
        """B_exploit Q = r + gamma (1 - done) V(s'), the in-sample backup [K, B]."""
        return batch.rew + (1.0 - batch.done) * self.config.discount * next_v

    def value_loss(self, real: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(L_V per member [K], V(s) [K, B]): expectile regression of V on min_j Q_target_j at the data."""
        with torch.no_grad():
            q_target = self.target_critic.min(real.obs, real.act)
        v = self.value(real.obs)
        return expectile_loss(q_target - v, self.config.expectile).mean(-1), v

    def mixed_targets(self, real: Batch, sim: Batch) -> tuple[torch.Tensor, torch.Tensor, Metrics]:
        """y on the real and on the sim transitions [K, B]: lambda B_exploit + (1 - lambda) B_explore."""
        c = self.config
        lam = c.exploit_coeff
        explore_real, explore_sim = self.td_target(real), self.td_target(sim)  # a' ~ pi: real first, as H2O
        with torch.no_grad():  # V(s') of both batches in one call
            next_v = self.value(torch.cat([real.next_obs, sim.next_obs], dim=1))
        exploit_real = self.exploit_backup(real, next_v[:, : len(real)])
        exploit_sim = self.exploit_backup(sim, next_v[:, len(real):])
        y_real = lam * exploit_real + (1 - lam) * explore_real if c.real_blended_target else exploit_real
        y_sim = lam * exploit_sim + (1 - lam) * explore_sim if c.sim_blended_target else explore_sim
        metrics = {"h2o+/explore_target_real": explore_real.mean(-1),
                   "h2o+/exploit_target_real": exploit_real.mean(-1),
                   "h2o+/explore_target_sim": explore_sim.mean(-1),
                   "h2o+/exploit_target_sim": exploit_sim.mean(-1),
                   "q/target_real_mean": y_real.mean(-1), "q/target_sim_mean": y_sim.mean(-1)}
        return y_real, y_sim, metrics

    def losses(self, real: Batch, sim: Batch) -> tuple[dict[str, torch.Tensor], Metrics]:
        """Every loss term of one H2O+ update (steps 2-6), per member [K], from the pre-update networks."""
        w = self.dynamics_ratio(sim)
        y_real, y_sim, metrics = self.mixed_targets(real, sim)
        policy_loss, alpha_loss, more = self.actor_losses(torch.cat([real.obs, sim.obs], dim=1))  # d_f
        q_real = self.critic(real.obs, real.act)  # [K, 2, B_real]
        q_sim = self.critic(sim.obs, sim.act)  # [K, 2, B_sim]
        bellman_real = self.squared_errors(q_real, y_real).mean(-1).sum(1)
        bellman_sim = (w.unsqueeze(1) * self.squared_errors(q_sim, y_sim)).mean(-1).sum(1)
        value_loss, v = self.value_loss(real)
        terms = {"bellman_real": bellman_real, "bellman_sim": bellman_sim, "policy": policy_loss,
                 "alpha": alpha_loss, "value": value_loss}
        metrics |= more | {"h2o+/dynamics_ratio_mean": w.mean(-1), "h2o+/dynamics_ratio_std": w.std(-1),
                           "q/real_mean": q_real.detach().mean((1, 2)),
                           "q/sim_mean": q_sim.detach().mean((1, 2)),
                           "q/bellman_real": bellman_real.detach(), "q/bellman_sim": bellman_sim.detach(),
                           "v/loss": value_loss.detach(), "v/mean": v.detach().mean(-1)}
        return terms, metrics

    def advantage_weights(self, real: Batch) -> torch.Tensor:
        """min(exp(beta (min_j Q_j(s, a) - V(s))), max_weight) per real transition [K, B], online critics."""
        c = self.config
        with torch.no_grad():
            advantage = self.critic.min(real.obs, real.act) - self.value(real.obs)
            return torch.exp(c.advantage_beta * advantage).clamp(max=c.max_weight)

    def warmup_losses(self, real: Batch) -> tuple[dict[str, torch.Tensor], Metrics]:
        """The pretraining update's terms: AWR policy, exploitation-only Q and V, on real data only."""
        weights = self.advantage_weights(real)
        policy_loss = -(weights * self.policy.log_prob(real.obs, real.act)).mean(-1)
        with torch.no_grad():
            y_real = self.exploit_backup(real, self.value(real.next_obs))
        q_real = self.critic(real.obs, real.act)
        bellman_real = self.squared_errors(q_real, y_real).mean(-1).sum(1)
        value_loss, v = self.value_loss(real)
        terms = {"bellman_real": bellman_real, "policy": policy_loss, "value": value_loss}
        metrics = {"policy/loss": policy_loss.detach(), "h2o+/awr_weight_mean": weights.mean(-1),
                   "h2o+/awr_weight_clipped": (weights >= self.config.max_weight).float().mean(-1),
                   "q/real_mean": q_real.detach().mean((1, 2)), "q/bellman_real": bellman_real.detach(),
                   "q/target_real_mean": y_real.mean(-1), "v/loss": value_loss.detach(),
                   "v/mean": v.detach().mean(-1)}
        return terms, metrics

    def update(self, real: Batch, sim: Batch) -> Metrics:
        """One update. A logging window that straddles the end of the warm-up averages each phase's own
        metrics over the whole window; a warm-up of whole windows (`log_every`) keeps them apart."""
        if self.in_warmup():
            terms, metrics = self.warmup_losses(real.slice(0, self.config.real_batch_size))
        else:
            real_q, sim_q, metrics = self.classifiers.train_on_tails(real, sim)  # step 1
            terms, more = self.losses(real_q, sim_q)  # steps 2-6, with the just-updated classifiers
            metrics |= more
        self.step(sum(terms.values()))  # step 7
        return metrics

    @torch.no_grad()
    def diagnostics(self, sim: Batch, rng: PopulationRNG) -> Metrics:
        """The clipped dynamics ratio and min Q per sim transition: how much H2O+ trusts each sample."""
        return {"dynamics_ratio": self.dynamics_ratio(sim), "q": self.critic.min(sim.obs, sim.act)}


register("h2o+", H2OPlus, label="H2O+", role="field",
         summary="H2O's authors' follow-up: IQL-style in-sample V blended into the TD target, dynamics-ratio "
                 "weighted sim Bellman error, no value regulariser")

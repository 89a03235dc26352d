"""H2O: dynamics-aware hybrid offline-and-online RL (Niu et al., NeurIPS 2022).

Each update, following Algorithm 1:

  lines 4-5  train the classifiers D_sas, D_sa on real vs simulated (s, a, s');
  line 6     one critic step on the dynamics-aware policy evaluation objective, Eq. 6 + Eq. 8:

      beta * ( log sum_{(s,a) in B} omega(s,a) exp Q(s,a)  -  E_{(s,a) in D}[Q(s,a)] )     Eq. 6
    + E_D[(Q - B^pi Q)^2]  +  E_B[ dynamics_ratio(s,a,s') * (Q - B^pi Q)^2 ]              Eq. 8

      where omega = u / sum u over the sim minibatch B, and the dynamics gap
      u(s,a) = KL(P_sim(.|s,a) || P_real(.|s,a)) is estimated (Sec. 4.4) by averaging the
      classifiers' log(P_sim/P_real) over N next states drawn from N(s'_sim, Sigma_D);
      dynamics_ratio = P_real(s'|s,a) / P_sim(s'|s,a) comes from the same classifiers (Eq. 7);
  line 7     one SAC policy step on the mixed real and simulated states;
  lines 8-9  the soft target update.

The ablations of Table 2 are this class with switches, registered under their own names.
Deviations from the paper and from the authors' code are config fields, listed in docs/fidelity.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from gapbench.algos.core.actor_critic import ActorCritic, ActorCriticConfig
from gapbench.algos.core.agent import Metrics
from gapbench.algos.core.batch import Batch
from gapbench.algos.core.config import ranged
from gapbench.algos.core.classifiers import ClassifierConfig, DomainClassifierTrainer
from gapbench.algos.core.rng import PopulationRNG
from gapbench.algos.registry import register


@dataclass
class H2OConfig(ActorCriticConfig, ClassifierConfig):
    real_batch_size: int = ranged(128, ge=1)
    sim_batch_size: int = ranged(128, ge=1)
    beta: float = ranged(0.01, ge=0)  # weight of the value regulariser, Eq. 6
    # --- the switches of Table 2
    adaptive_omega: bool = True  # False: uniform omega = 1/|B| ("-a")
    dynamics_ratio_weight: bool = True  # False: unweighted sim Bellman error ("-dr")
    value_regulariser: bool = True  # False: no Eq. 6 term at all ("-reg")
    # --- u(s, a), Sec. 4.4
    n_next_state_samples: int = ranged(10, ge=1)  # N
    # "dataset_cov": N(s', Sigma_D) with the dataset's full state covariance (the paper);
    # "dataset_std": its diagonal only; "padded_buffer_std": the authors' code, whose per-dimension
    # std is taken over a buffer that is 1/(1 + padded_buffer_ratio) data and the rest zeros.
    next_state_noise: Literal["dataset_cov", "dataset_std", "padded_buffer_std"] = "dataset_cov"
    next_state_noise_scale: float = ranged(1.0, ge=0)
    padded_buffer_ratio: float = ranged(10.0, ge=0)
    u_clip: tuple[float, float] = ranged((1e-45, 10.0), ge=0, ordered=True)  # negative KL estimates get (almost) zero weight
    # --- Eq. 6 and Eq. 8 as the authors implement them
    regulariser: Literal["log_sum_exp", "weighted_mean"] = "log_sum_exp"  # weighted_mean: Eq. 10
    log_sum_exp_temperature: float = ranged(1.0, gt=0)
    regulariser_clip: tuple[float, float] = ranged((-1000.0, 1000.0), ordered=True)
    dynamics_ratio_clip: tuple[float, float] = ranged((1e-5, 1.0), ge=0, ordered=True)  # the authors only ever down-weight
    bellman_scale: float = ranged(1.0, gt=0)  # the paper's Eq. 8 has 1/2 on both terms; the authors' code has 1


def weighted_log_sum_exp(q: torch.Tensor, omega: torch.Tensor, temperature: float) -> torch.Tensor:
    """T * log sum_i omega_i exp(Q_i / T) over the minibatch: q [K, 2, B], omega [K, B] -> [K, 2].

    Samples with omega = 0 contribute exp(-inf) = 0.
    """
    return temperature * torch.logsumexp(q / temperature + omega.log().unsqueeze(1), dim=-1)


class H2O(ActorCritic):
    Config = H2OConfig
    sources = frozenset({"real", "sim"})

    def __init__(self, config: H2OConfig, spec):
        super().__init__(config, spec)
        self.classifiers = DomainClassifierTrainer(spec, config.hidden, config, self.rng)
        # u's next-state samples have their own stream, so the switches never shift other noise.
        self.next_state_rng = PopulationRNG(spec.seeds, "h2o/next-states", spec.device)
        self.register_buffer("next_state_noise_factor", self._noise_factor(config, spec))

    @staticmethod
    def _noise_factor(c: H2OConfig, spec) -> torch.Tensor:
        """L with s'_k = s' + eps_k @ L^T, eps_k ~ N(0, I): the covariance of the perturbation."""
        stats = spec.real_stats
        if stats is None:
            raise ValueError("H2O needs statistics of the real dataset (AgentSpec.real_stats)")
        if c.next_state_noise == "dataset_cov":
            jitter = 1e-6 * np.eye(len(stats.obs_cov))
            factor = np.linalg.cholesky(stats.obs_cov + jitter)
        elif c.next_state_noise == "dataset_std":
            factor = np.diag(stats.obs_std + 1e-3)
        elif c.next_state_noise == "padded_buffer_std":
            f = 1.0 / (1.0 + c.padded_buffer_ratio)
            padded_var = f * stats.obs_std**2 + f * (1 - f) * stats.obs_mean**2
            factor = np.diag(np.sqrt(padded_var) + 1e-3)
        else:
            raise ValueError(f"unknown next_state_noise {c.next_state_noise!r}")
        # on the agent's device: ActorCritic's `self.to(device)` ran before this buffer existed
        return torch.as_tensor(c.next_state_noise_scale * factor, dtype=torch.float32, device=spec.device)

    def optimizers(self):
        return {**super().optimizers(), "classifiers": self.classifiers.optimizer}

    def extra_state(self):
        return {**super().extra_state(), "next_state_rng": self.next_state_rng.state()}

    def load_extra_state(self, state):
        super().load_extra_state(state)
        self.next_state_rng.set_state(state["next_state_rng"])

    def batch_sizes(self):
        c = self.config
        return {"real": c.real_batch_size + c.classifier_batch_size,
                "sim": c.sim_batch_size + c.classifier_batch_size}

    # ------------------------------------------------------------ the dynamics gap, Sec. 4.2-4.4

    @torch.no_grad()
    def dynamics_ratio(self, sim: Batch) -> torch.Tensor:
        """P_real(s'|s,a) / P_sim(s'|s,a) per sim transition [K, B], clipped; 1 under "-dr"."""
        if not self.config.dynamics_ratio_weight:
            return torch.ones_like(sim.rew)
        return self.classifiers.log_ratio_real_over_sim(sim).exp().clamp(*self.config.dynamics_ratio_clip)

    @torch.no_grad()
    def u(self, sim: Batch, rng: PopulationRNG | None = None) -> torch.Tensor:
        """u(s,a) = E_{s'~N(s'_sim, Sigma_D)} log P_sim(s'|s,a) / P_real(s'|s,a), per sim sample [K, B]."""
        k, b, obs_dim = sim.next_obs.shape
        n = self.config.n_next_state_samples
        eps = (rng or self.next_state_rng).normal(b, n, obs_dim)
        s_next = sim.next_obs.unsqueeze(2) + eps @ self.next_state_noise_factor.T  # [K, B, N, obs]
        s = sim.obs.unsqueeze(2).expand(-1, -1, n, -1)
        a = sim.act.unsqueeze(2).expand(-1, -1, n, -1)
        log_sim_over_real = -self.classifiers.pair.log_ratio_real_over_sim(
            s.reshape(k, b * n, -1), a.reshape(k, b * n, -1), s_next.reshape(k, b * n, -1))
        # In fp32 whatever the autocast: the clip's floor 1e-45 is 0 in bf16, and a batch whose every
        # u is at most 0 would then give omega = 0/0 instead of fp32's uniform 1/|B|.
        return log_sim_over_real.float().view(k, b, n).mean(-1).clamp(*self.config.u_clip)

    @torch.no_grad()
    def omega(self, sim: Batch, rng: PopulationRNG | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(omega, u): omega = u / sum over the sim minibatch (Sec. 4.2); uniform under "-a"."""
        if not self.config.adaptive_omega:
            u = torch.ones_like(sim.rew)
        else:
            u = self.u(sim, rng)
        return u / u.sum(-1, keepdim=True), u

    # ------------------------------------------------------------ Eq. 6 + Eq. 8 and the actor

    def losses(self, real: Batch, sim: Batch) -> tuple[dict[str, torch.Tensor], Metrics]:
        """Every loss term of one update, per member [K], from the pre-update networks."""
        c = self.config
        dynamics_ratio = self.dynamics_ratio(sim)
        y_real, y_sim = self.td_target(real), self.td_target(sim)
        policy_loss, alpha_loss, metrics = self.actor_losses(torch.cat([real.obs, sim.obs], dim=1))
        q_real = self.critic(real.obs, real.act)  # [K, 2, B_real]
        q_sim = self.critic(sim.obs, sim.act)  # [K, 2, B_sim]

        # Eq. 8: the real Bellman error, plus the sim Bellman error weighted by the dynamics ratio
        bellman_real = c.bellman_scale * self.squared_errors(q_real, y_real).mean(-1).sum(1)
        weighted = dynamics_ratio.unsqueeze(1) * self.squared_errors(q_sim, y_sim)
        bellman_sim = c.bellman_scale * weighted.mean(-1).sum(1)

        # Eq. 6: beta * (log sum omega exp Q over sim samples - mean real Q)
        terms = {"bellman_real": bellman_real, "bellman_sim": bellman_sim,
                 "policy": policy_loss, "alpha": alpha_loss}
        if c.value_regulariser:
            omega, u = self.omega(sim)
            if c.regulariser == "log_sum_exp":
                pushed_down = weighted_log_sum_exp(q_sim, omega, c.log_sum_exp_temperature)
            else:
                pushed_down = (omega.unsqueeze(1) * q_sim).sum(-1)
            pulled_up = q_real.mean(-1)
            terms["regulariser"] = c.beta * (pushed_down - pulled_up).clamp(*c.regulariser_clip).sum(1)
            metrics |= {"h2o/u_mean": u.mean(-1), "h2o/u_std": u.std(-1),
                        "h2o/omega_std": omega.std(-1), "h2o/omega_max": omega.max(-1).values,
                        "h2o/pushed_down_q": pushed_down.detach().mean(1)}
        else:
            terms["regulariser"] = torch.zeros_like(bellman_real)
        metrics |= {"h2o/dynamics_ratio_mean": dynamics_ratio.mean(-1),
                    "h2o/dynamics_ratio_std": dynamics_ratio.std(-1),
                    "q/real_mean": q_real.detach().mean((1, 2)), "q/sim_mean": q_sim.detach().mean((1, 2)),
                    "q/bellman_real": bellman_real.detach(), "q/bellman_sim": bellman_sim.detach(),
                    "q/regulariser": terms["regulariser"].detach()}
        return terms, metrics

    def update(self, real: Batch, sim: Batch) -> Metrics:
        real_q, sim_q, metrics = self.classifiers.train_on_tails(real, sim)  # Alg. 1, lines 4-5
        terms, more = self.losses(real_q, sim_q)  # with the just-updated classifiers
        self.step(sum(terms.values()))  # lines 6-9
        return metrics | more

    @torch.no_grad()
    def diagnostics(self, sim: Batch, rng: PopulationRNG) -> Metrics:
        """u(s,a), omega and min Q on a sim batch: the data of the paper's Figure 3."""
        omega, u = self.omega(sim, rng)
        return {"u": u, "omega": omega, "q": self.critic.min(sim.obs, sim.act)}


register("h2o", H2O, label="H2O", role="baseline",
         summary="dynamics-aware hybrid offline-and-online RL: adaptive regulariser + dynamics-ratio Bellman")
register("h2o-a", H2O, label="H2O-a", role="ablation", overrides={"adaptive_omega": False},
         summary="H2O with a uniform omega instead of the adaptive u(s,a)-based one")
register("h2o-dr", H2O, label="H2O-dr", role="ablation", overrides={"dynamics_ratio_weight": False},
         summary="H2O without the dynamics-ratio weight on the sim Bellman error")
register("h2o-a-dr", H2O, label="H2O-a-dr", role="ablation",
         overrides={"adaptive_omega": False, "dynamics_ratio_weight": False},
         summary="H2O with uniform omega and no dynamics-ratio weight")
register("h2o-reg", H2O, label="H2O-reg", role="ablation", overrides={"value_regulariser": False},
         summary="H2O without the value regulariser; the modified Bellman error is kept")
register("h2o-reg-dr", H2O, label="H2O-reg-dr", role="ablation",
         overrides={"value_regulariser": False, "dynamics_ratio_weight": False},
         summary="H2O with neither the value regulariser nor the dynamics-ratio weight")

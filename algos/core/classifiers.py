"""The domain classifiers of DARC and H2O, and the dynamics ratio they estimate.

Two classifiers say whether a transition came from the real data (class 0) or the simulator
(class 1): D_sa looks at (s, a) and D_sas at (s, a, s'). As in DARC and the authors' code:

* each outputs two logits bounded by ``logit_bound * tanh`` (2 in the authors' code);
* D_sas is a residual on D_sa: p(domain | s, a, s') = softmax(l_sas + l_sa);
* inputs get Gaussian noise while the classifiers train, never when they are queried;
* the two cross-entropies are summed and back-propagated together, so D_sa also receives the
  gradient of the D_sas loss.

By Bayes' rule (paper Eq. 7) the dynamics ratio is
    log P_real(s'|s,a) / P_sim(s'|s,a)
        = [log p(real|s,a,s') - log p(sim|s,a,s')] - [log p(real|s,a) - log p(sim|s,a)],
which with the residual form reduces to the difference of D_sas's residual logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gapbench.algos.core.agent import adam, adam_step
from gapbench.algos.core.batch import Batch
from gapbench.algos.core.config import ranged
from gapbench.algos.core.nets import MLP
from gapbench.algos.core.rng import PopulationRNG

REAL, SIM = 0, 1


@dataclass
class ClassifierConfig:
    """Config fields of the methods that train the classifiers (DARC, DARC+, H2O)."""

    classifier_lr: float = ranged(3e-4, gt=0)
    classifier_noise_std: float = ranged(0.1, ge=0)  # Gaussian noise on every classifier input, training only
    classifier_logit_bound: float = ranged(2.0, gt=0)  # logits = bound * tanh(.), the authors' undocumented 2
    classifier_batch_size: int = ranged(256, ge=1)  # per domain, drawn apart from the Q batch


class DomainClassifiers(nn.Module):
    def __init__(self, members: int, obs_dim: int, act_dim: int, hidden: tuple[int, ...], logit_bound: float):
        super().__init__()
        self.logit_bound = logit_bound
        self.d_sa = MLP(members, (obs_dim + act_dim, *hidden, 2))
        self.d_sas = MLP(members, (2 * obs_dim + act_dim, *hidden, 2))

    def initialise(self, rng: PopulationRNG) -> None:
        self.d_sa.initialise(rng)
        self.d_sas.initialise(rng)

    def logits(self, s: torch.Tensor, a: torch.Tensor, s_next: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(l_sa, l_sas) [K, N, 2], where l_sas = residual + l_sa."""
        l_sa = self.logit_bound * torch.tanh(self.d_sa(torch.cat([s, a], dim=-1)))
        residual = self.logit_bound * torch.tanh(self.d_sas(torch.cat([s, a, s_next], dim=-1)))
        return l_sa, residual + l_sa

    def log_ratio_real_over_sim(self, s: torch.Tensor, a: torch.Tensor, s_next: torch.Tensor) -> torch.Tensor:
        """log P_real(s'|s,a) - log P_sim(s'|s,a), Eq. 7, for [K, N] transitions.

        Eq. 7 is [log p(real|s,a,s') - log p(sim|s,a,s')] - [log p(real|s,a) - log p(sim|s,a)], and a
        difference of log-softmax entries is the difference of the logits. With l_sas = residual + l_sa
        the l_sa terms cancel, so this is residual_real - residual_sim and D_sa need not run here
        (it still shapes the residual through the training loss). The authors' code evaluates both
        classifiers and gets the same number up to float rounding.
        """
        residual = self.logit_bound * torch.tanh(self.d_sas(torch.cat([s, a, s_next], dim=-1)))
        return residual[..., REAL] - residual[..., SIM]

    def loss(self, real: tuple[torch.Tensor, ...], sim: tuple[torch.Tensor, ...], noise_std: float,
             rng: PopulationRNG) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Summed cross-entropy of both classifiers on noisy (s, a, s') of each domain, per member [K]."""
        loss_sa = loss_sas = 0.0
        for label, transitions in ((REAL, real), (SIM, sim)):
            noisy = [x + noise_std * rng.normal(*x.shape[1:], dtype=x.dtype) for x in transitions]
            l_sa, l_sas = self.logits(*noisy)
            loss_sa = loss_sa - F.log_softmax(l_sa, dim=-1)[..., label].mean(-1)
            loss_sas = loss_sas - F.log_softmax(l_sas, dim=-1)[..., label].mean(-1)
        metrics = {"classifier/sa_loss": loss_sa.detach(), "classifier/sas_loss": loss_sas.detach()}
        return loss_sa + loss_sas, metrics


class DomainClassifierTrainer(nn.Module):
    """The classifier pair with its own optimiser: one step per agent update (Alg. 1, lines 4-5)."""

    def __init__(self, spec, hidden: tuple[int, ...], config: ClassifierConfig, rng: PopulationRNG):
        super().__init__()
        self.noise_std, self.rng = config.classifier_noise_std, rng
        self.batch_size = config.classifier_batch_size
        self.pair = DomainClassifiers(spec.population, spec.obs_dim, spec.act_dim, hidden,
                                      config.classifier_logit_bound)
        self.pair.initialise(rng)
        self.pair.to(spec.device)
        self.optimizer = adam([{"params": list(self.pair.parameters()), "lr": config.classifier_lr}],
                              spec.device)

    def train_on_tails(self, real, sim) -> tuple[Batch, Batch, dict[str, torch.Tensor]]:
        """One step on the last `classifier_batch_size` rows of each Batch; the rows before are returned.

        A method asks the loop for its Q/policy rows plus these rows (see `batch_sizes`), so the
        classifiers always see transitions the Q-function does not.
        """
        real_q, real_c = real.split(len(real) - self.batch_size)
        sim_q, sim_c = sim.split(len(sim) - self.batch_size)
        return real_q, sim_q, self.train_step(real_c, sim_c)

    def train_step(self, real, sim) -> dict[str, torch.Tensor]:
        """Real (s, a, s') against simulated (s, a, s'), both Batches [K, B]."""
        loss, metrics = self.pair.loss(real.transitions(), sim.transitions(), self.noise_std, self.rng)
        adam_step(self.optimizer, loss)
        return metrics

    @torch.no_grad()
    def log_ratio_real_over_sim(self, batch) -> torch.Tensor:
        """log P_real(s'|s,a) / P_sim(s'|s,a) for each transition of a Batch [K, B]."""
        return self.pair.log_ratio_real_over_sim(*batch.transitions())

"""DARC (Eysenbach et al. 2021): SAC in the simulator with a dynamics-corrected reward.

The classifiers learn real dataset transitions against simulated ones; each sim reward becomes

    r~ = r + clamp(log P_real(s'|s,a) / P_sim(s'|s,a), -10, 10),

so transitions the real world would not produce are penalised. Q and pi learn from sim data only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gapbench.algos.core.actor_critic import ActorCritic, ActorCriticConfig
from gapbench.algos.core.batch import Batch
from gapbench.algos.core.config import ranged
from gapbench.algos.core.classifiers import ClassifierConfig, DomainClassifierTrainer
from gapbench.algos.registry import register


@dataclass
class DARCConfig(ActorCriticConfig, ClassifierConfig):
    batch_size: int = ranged(256, ge=1)  # simulated transitions per Q/policy step
    backup_entropy: bool = True  # as the authors' DARC baseline (H2Oplus darc.py)
    reward_correction_clip: float = ranged(10.0, gt=0)


class DARC(ActorCritic):
    Config = DARCConfig
    sources = frozenset({"real", "sim"})  # real data trains the classifiers only

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.classifiers = DomainClassifierTrainer(spec, config.hidden, config, self.rng)

    def optimizers(self):
        return {**super().optimizers(), "classifiers": self.classifiers.optimizer}

    def batch_sizes(self):
        c = self.config
        return {"real": c.classifier_batch_size, "sim": c.batch_size + c.classifier_batch_size}

    def corrected_reward(self, sim: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        clip = self.config.reward_correction_clip
        correction = self.classifiers.log_ratio_real_over_sim(sim).clamp(-clip, clip)
        return sim.rew + correction, correction

    def update(self, real: Batch, sim: Batch):
        _, sim_q, metrics = self.classifiers.train_on_tails(real, sim)  # all of `real` is theirs
        reward, correction = self.corrected_reward(sim_q)
        metrics |= self.sac_update(sim_q, policy_states=sim_q.obs, reward=reward)
        metrics["darc/reward_correction"] = correction.mean(-1)
        return metrics


register("darc", DARC, label="DARC", role="baseline",
         summary="SAC in the simulator with the reward corrected by real-vs-sim domain classifiers")

"""DARC+ (H2O paper, Sec. 6.2): DARC whose Q-function and policy also learn from the real data.

Each Q step uses a mixed batch of real and simulated transitions; only the simulated rewards get
DARC's correction, and the policy improves on the mixed states. It shows what naively combining
offline and online learning under DARC does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gapbench.algos.core.batch import Batch
from gapbench.algos.core.config import ranged
from gapbench.algos.darc import DARC, DARCConfig
from gapbench.algos.registry import register


@dataclass
class DARCPlusConfig(DARCConfig):
    real_batch_size: int = ranged(128, ge=1)
    batch_size: int = ranged(128, ge=1)  # simulated transitions per Q/policy step


class DARCPlus(DARC):
    Config = DARCPlusConfig

    def batch_sizes(self):
        c = self.config
        return {"real": c.real_batch_size + c.classifier_batch_size,
                "sim": c.batch_size + c.classifier_batch_size}

    def update(self, real: Batch, sim: Batch):
        real_q, sim_q, metrics = self.classifiers.train_on_tails(real, sim)
        sim_reward, correction = self.corrected_reward(sim_q)
        mixed = Batch.cat(real_q, sim_q)
        reward = torch.cat([real_q.rew, sim_reward], dim=1)  # the correction is for sim samples only
        metrics |= self.sac_update(mixed, policy_states=mixed.obs, reward=reward,
                                   real_rows=real_q.rew.shape[1])
        metrics["darc/reward_correction"] = correction.mean(-1)
        return metrics


register("darc+", DARCPlus, label="DARC+", role="baseline",
         summary="DARC whose Q-function and policy also learn from the real data (mixed batches)")

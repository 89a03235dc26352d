"""SAC(sim): soft actor-critic trained in the simulator only, evaluated in the real env."""

from __future__ import annotations

from dataclasses import dataclass

from gapbench.algos.core.actor_critic import ActorCritic, ActorCriticConfig
from gapbench.algos.core.config import ranged
from gapbench.algos.registry import register


@dataclass
class SACConfig(ActorCriticConfig):
    batch_size: int = ranged(256, ge=1)
    backup_entropy: bool = True  # the authors' SAC baseline (H2Oplus sac.py) backs up the entropy


class SAC(ActorCritic):
    Config = SACConfig
    sources = frozenset({"sim"})

    def batch_sizes(self):
        return {"sim": self.config.batch_size}

    def update(self, real, sim):
        return self.sac_update(sim, policy_states=sim.obs)


register("sac", SAC, label="SAC(sim)", role="baseline",
         summary="SAC on simulator rollouts only (ignores the real dataset)")

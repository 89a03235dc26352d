"""BC(real): behaviour cloning on the real dataset, the worked example of docs/adding-a-baseline.md.

It answers "how much of a method's score is just imitating the logged real-world policy?", a
floor that CQL(real) and H2O should beat. It learns from the real dataset only, so the grid
trains it once per dataset and shows it under every gap.

The loss is the negative log-likelihood of the dataset actions under the same tanh-Gaussian
policy the other methods use, not an MSE on tanh(mean):

* it is the BC of the authors' SimpleSAC lineage (their `bc` mode maximises
  ``policy.log_prob(s, a_data)``), so the comparison uses the authors' policy class as is;
* it trains the whole policy, the learnable log-std multiplier and offset included, so
  ``act(deterministic=False)`` samples a fitted spread rather than the untrained initial one;
* its mean still converges to (atanh of) the conditional action mean, so the deterministic
  evaluation action, tanh(mean), is a sensible imitation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gapbench.algos.core.agent import Agent, AgentSpec, Metrics, adam, adam_step
from gapbench.algos.core.batch import Batch
from gapbench.algos.core.config import ranged
from gapbench.algos.core.policy import TanhGaussianPolicy
from gapbench.algos.registry import register


@dataclass
class BCConfig:
    hidden: tuple[int, ...] = ranged((256, 256), ge=1)  # the same policy network as every other method
    policy_lr: float = ranged(3e-4, gt=0)
    batch_size: int = ranged(256, ge=1)  # real transitions per update
    policy_log_std_multiplier: float = ranged(1.0, gt=0)  # the authors' initial values of the learnable scalars
    policy_log_std_offset: float = ranged(-1.0)
    # Dataset actions are clipped to +-(1 - action_eps) before atanh: D4RL actions can sit on the
    # bound, where the tanh-Gaussian density is infinite and the loss would not be finite.
    action_eps: float = ranged(1e-6, gt=0, lt=1)


class BC(Agent):
    Config = BCConfig
    sources = frozenset({"real"})  # no "sim": the grid trains it once per dataset, for every gap

    def __init__(self, config: BCConfig, spec: AgentSpec):
        super().__init__(config, spec)
        c = config
        self.policy = TanhGaussianPolicy(spec.population, spec.obs_dim, spec.act_dim, c.hidden,
                                         c.policy_log_std_multiplier, c.policy_log_std_offset)
        self.policy.initialise(self.rng)  # member k from seed k's own stream, whatever K is
        self.to(spec.device)
        self.optimizer = adam([{"params": list(self.policy.parameters()), "lr": c.policy_lr}], spec.device)

    def batch_sizes(self):
        return {"real": self.config.batch_size}

    def optimizers(self):
        return {"policy": self.optimizer}  # so state_dict() carries Adam's moments for exact resumes

    def update(self, real: Batch, sim: Batch | None) -> Metrics:
        log_prob = self.policy.log_prob(real.obs, real.act, eps=self.config.action_eps)  # [K, B]
        loss = -log_prob.mean(-1)  # [K]: one loss per member
        with torch.no_grad():  # a readable diagnostic, from the pre-update policy like every metric here
            mse = (self.policy.deterministic(real.obs) - real.act).square().mean((1, 2))
        adam_step(self.optimizer, loss)
        return {"bc/loss": loss.detach(), "bc/deterministic_mse": mse}


register("bc", BC, label="BC(real)", role="extra",
         summary="behaviour cloning (max log-likelihood of dataset actions) on the real dataset only")

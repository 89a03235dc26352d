"""BC(real), the worked example of docs/adding-a-baseline.md: its loss, its config, and that it learns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.distributions import Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from gapbench import algos
from gapbench.algos.bc import BC, BCConfig
from tests.algos_support import LAYOUT, OBS_DIM, make, spec, to_batch, transitions


def test_registered_as_an_extra_method_on_the_real_data_only():
    method = algos.get_method("bc")
    assert (method.agent, method.label, method.role) == (BC, "BC(real)", "extra")
    agent = make("bc")
    assert agent.sources == {"real"}  # so the grid trains it once per dataset, not once per gap


def test_loss_is_the_negative_log_likelihood_of_the_dataset_actions():
    agent = make("bc", seeds=(0, 1), batch_size=20)
    real = to_batch(transitions(np.random.default_rng(0), 2, 20, "real"))
    with torch.no_grad():
        mean, log_std = (t.double() for t in agent.policy.mean_and_log_std(real.obs))
    dist = TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform()])
    expected = -dist.log_prob(real.act.double()).sum(-1).mean(-1)
    metrics = agent.update(real, None)
    torch.testing.assert_close(metrics["bc/loss"].double(), expected, rtol=1e-5, atol=1e-5)
    expected_mse = (torch.tanh(mean) - real.act.double()).square().mean((1, 2))
    torch.testing.assert_close(metrics["bc/deterministic_mse"].double(), expected_mse, rtol=1e-5, atol=1e-6)


def test_every_config_field_has_an_effect():
    names = {f.name for f in dataclasses.fields(BCConfig)}
    assert names == {"hidden", "policy_lr", "batch_size", "policy_log_std_multiplier",
                     "policy_log_std_offset", "action_eps"}
    agent = make("bc", hidden=(7, 5), policy_lr=0.01, batch_size=9, policy_log_std_multiplier=0.5,
                 policy_log_std_offset=-2.0, action_eps=1e-3)
    assert [tuple(layer.weight.shape[1:]) for layer in agent.policy.trunk.layers] == [(3, 7), (7, 5), (5, 4)]
    assert agent.optimizer.param_groups[0]["lr"] == 0.01
    assert agent.batch_sizes() == {"real": 9}
    assert agent.policy.log_std_multiplier.item() == 0.5 and agent.policy.log_std_offset.item() == -2.0
    # actions on the bound: the density is clipped at 1 - eps, so the loss is finite and eps matters
    rows = transitions(np.random.default_rng(1), 1, 9, "real")
    rows[..., OBS_DIM : OBS_DIM + 2] = 1.0
    losses = []
    for eps in (1e-3, 1e-6):
        agent = make("bc", action_eps=eps)
        losses.append(agent.update(to_batch(rows), None)["bc/loss"].item())
    assert all(np.isfinite(losses)) and losses[0] != losses[1]


def test_user_overrides_are_type_checked():
    method = algos.get_method("bc")
    assert method.config({"batch_size": 64, "policy_lr": 1}).policy_lr == 1.0  # an int is a fine float
    with pytest.raises(ValueError, match="batch_size"):
        method.config({"batch_size": 1.5})
    with pytest.raises(ValueError, match="no config field 'lr'"):
        method.config({"lr": 1e-3})


def test_imitates_a_deterministic_behaviour_policy():
    """Data from a tanh-Gaussian behaviour policy a = tanh(s W + 0.1 e), the way D4RL's SAC
    behaviour policies act: BC's deterministic action must approach tanh(s W)."""
    gen = np.random.default_rng(2)
    w = gen.normal(size=(OBS_DIM, 2))
    s = gen.normal(size=(4000, OBS_DIM))
    a = np.tanh(s @ w + 0.1 * gen.normal(size=(4000, 2)))
    rows = LAYOUT.pack(s, a, np.zeros(4000), s, np.zeros(4000))
    agent = BC(BCConfig(hidden=(32, 32), policy_lr=3e-3, batch_size=128), spec(seeds=(0,)))
    probe = torch.as_tensor(gen.normal(size=(1, 500, OBS_DIM)), dtype=torch.float32)
    target = torch.tanh(probe @ torch.as_tensor(w, dtype=torch.float32))
    error_before = (agent.act(probe, deterministic=True) - target).square().mean().item()
    for _ in range(600):
        batch = rows[gen.integers(0, 4000, size=(1, 128))]
        agent.update(to_batch(batch), None)
    error_after = (agent.act(probe, deterministic=True) - target).square().mean().item()
    assert error_after < 0.1 * error_before and error_after < 0.02, (error_before, error_after)
    # the stochastic policy narrowed around the data too (its std is learnt, as in SimpleSAC)
    samples = agent.act(probe, deterministic=False)
    assert (samples - target).square().mean().item() < 0.05

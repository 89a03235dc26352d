"""IQL(real), term by term against independent computations: the expectile loss on hand-picked
values, the value, actor and critic losses of one update rebuilt sample by sample from the networks
before and after its value step, the authors' cosine actor schedule, the Gaussian policy's density
and the dataset's return range behind the authors' reward normalisation."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from gapbench.algos import AgentSpec, RealDataStats, get_method
from gapbench.algos.core.agent import return_range
from gapbench.algos.core.critic import expectile_loss
from gapbench.algos.iql import IQL
from tests.algos_support import batch_rows, feed, make, spec, to_batch, transitions


def test_iql_is_registered_as_an_offline_field_baseline():
    method = get_method("iql")
    assert (method.agent, method.label, method.role) == (IQL, "IQL(real)", "field")
    assert IQL.sources == {"real"}
    c = method.config()  # the authors' locomotion defaults
    assert (c.expectile, c.advantage_beta, c.max_weight, c.soft_target_update_rate) == (0.7, 3.0, 100.0, 0.005)
    assert (c.policy_lr, c.qf_lr, c.value_lr, c.actor_lr_schedule) == (3e-4, 3e-4, 3e-4, "cosine")


def test_expectile_loss_on_hand_picked_values():
    """|tau - 1(u < 0)| u^2 with tau = 0.7: positive errors weigh 0.7, negative ones 0.3."""
    u = torch.tensor([-2.0, -0.5, 0.0, 1.0, 3.0])
    expected = torch.tensor([0.3 * 4.0, 0.3 * 0.25, 0.0, 0.7 * 1.0, 0.7 * 9.0])
    torch.testing.assert_close(expectile_loss(u, 0.7), expected)
    torch.testing.assert_close(expectile_loss(u, 0.5), 0.5 * u.square())  # tau 1/2: half the squared error
    # the minimiser of the mean loss over a sample is its tau-expectile: above the mean for tau > 1/2
    sample = torch.tensor([0.0, 0.0, 0.0, 10.0])
    grid = torch.linspace(0, 10, 10001)
    best = grid[expectile_loss(sample[None] - grid[:, None], 0.9).mean(-1).argmin()]
    # the 0.9-expectile m solves 0.9 * (10 - m) = 0.1 * 3m, so m = 9 / 1.2 = 7.5
    assert abs(float(best) - 7.5) < 1e-3


def _agent(**overrides):
    """Two members; large learning rates so that one value step visibly moves V."""
    base = {"value_lr": 0.05, "advantage_beta": 2.0, "max_weight": 10.0, "discount": 0.9, "reward_scale": 0.5}
    agent = make("iql", seeds=(3, 4), **{**base, **overrides})
    with torch.no_grad():  # spread Q and V out so that advantages, weights and the clip all vary
        for net in (agent.critic.net, agent.value.net, agent.target_critic.net):
            net.layers[-1].weight.mul_(200.0)
    return agent


def test_one_update_equals_a_sample_by_sample_computation():
    agent = _agent()
    k, b = 2, agent.config.batch_size
    policy, value, target_critic = (copy.deepcopy(m) for m in (agent.policy, agent.value, agent.target_critic))
    real = to_batch(transitions(np.random.default_rng(0), k, b, "real"))
    metrics = agent.update(real, None)
    new_value = agent.value  # V after the update's value step, the only step that moved it

    def q_target(m, i):
        with torch.no_grad():
            q = target_critic(real.obs[:, i : i + 1], real.act[:, i : i + 1])[m, :, 0].double()
        return float(q.min())

    def v(net, m, states):
        with torch.no_grad():
            return float(net(states)[m, 0])

    clipped = 0
    for m in range(k):
        value_loss = actor_loss = target_mean = 0.0
        with torch.no_grad():
            mean, _ = policy.mean_and_log_std(real.obs)
            std = policy.log_std.clamp(-5.0, 2.0).exp()[m, 0].double()
        for i in range(b):
            s, s_next = real.obs[:, i : i + 1], real.next_obs[:, i : i + 1]
            u = q_target(m, i) - v(value, m, s)
            value_loss += (0.7 if u > 0 else 0.3) * u * u / b
            advantage = q_target(m, i) - v(new_value, m, s)
            weight = min(math.exp(2.0 * advantage), 10.0)
            clipped += weight == 10.0
            log_prob = float(Normal(mean[m, i].double(), std).log_prob(real.act[m, i].double()).sum())
            actor_loss += -weight * log_prob / b
            y = 0.5 * float(real.rew[m, i]) + 0.9 * (1 - float(real.done[m, i])) * v(new_value, m, s_next)
            target_mean += y / b  # the TD target; its squared error is the next test's
        torch.testing.assert_close(metrics["v/loss"][m].double(), torch.tensor(value_loss, dtype=torch.float64),
                                   rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(metrics["policy/loss"][m].double(), torch.tensor(actor_loss, dtype=torch.float64),
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(metrics["q/target_mean"][m].double(), torch.tensor(target_mean, dtype=torch.float64),
                                   rtol=1e-5, atol=1e-5)
    assert 0 < clipped < k * b  # the clip at max_weight was exercised, and not everywhere


def test_the_critic_loss_is_the_squared_td_error_against_the_new_v():
    """L_Q = sum_j mean (r * scale + gamma (1 - d) V_new(s') - Q_j(s, a))^2, from the pre-update critic."""
    agent = _agent()
    critic = copy.deepcopy(agent.critic)
    real = to_batch(transitions(np.random.default_rng(1), 2, agent.config.batch_size, "real"))
    metrics = agent.update(real, None)
    with torch.no_grad():
        y = 0.5 * real.rew.double() + 0.9 * (1 - real.done.double()) * agent.value(real.next_obs).double()
        q = critic(real.obs, real.act).double()
    expected = sum(((q[:, j] - y) ** 2).mean(-1) for j in range(2))
    torch.testing.assert_close(metrics["q/loss"].double(), expected, rtol=1e-5, atol=1e-5)


def test_using_the_pre_update_v_would_give_another_actor_loss():
    """The order matters at these settings, so the sample-by-sample test above can tell the orders apart."""
    agent = _agent()
    value = copy.deepcopy(agent.value)
    real = to_batch(transitions(np.random.default_rng(0), 2, agent.config.batch_size, "real"))
    agent.update(real, None)
    with torch.no_grad():
        assert (agent.value(real.obs) - value(real.obs)).abs().max() > 0.05


def test_the_actor_learning_rate_follows_the_authors_cosine_decay():
    """lr_t = lr (1 + cos(pi t / T)) / 2 for update t = 0, 1, ..., then 0: optax's cosine_decay_schedule."""
    agent = make("iql", actor_lr_decay_steps=4, policy_lr=1e-3)
    gen = np.random.default_rng(2)
    rates = [float(feed(agent, batch_rows(agent, gen))["policy/lr"][0]) for _ in range(6)]
    expected = [1e-3 * (1 + math.cos(math.pi * min(t, 4) / 4)) / 2 for t in range(6)]
    np.testing.assert_allclose(rates, expected, rtol=1e-6, atol=1e-12)
    assert rates[4] == rates[5] == 0.0
    policy = copy.deepcopy(agent.policy)  # with a zero rate, the policy no longer moves
    feed(agent, batch_rows(agent, gen))
    assert all(torch.equal(p, q) for p, q in zip(policy.parameters(), agent.policy.parameters()))
    constant = make("iql", actor_lr_schedule="constant", policy_lr=1e-3)
    constant_rates = [float(feed(constant, batch_rows(constant, gen))["policy/lr"][0]) for _ in range(3)]
    assert constant_rates == pytest.approx([1e-3] * 3, rel=1e-6) and constant.policy_group["lr"] == 1e-3


def test_the_gaussian_policy_density_and_its_deterministic_action():
    agent = make("iql", seeds=(0, 1), policy_log_std_init=-0.7)
    obs = torch.randn(2, 5, 3)
    act = torch.rand(2, 5, 2) * 2 - 1
    act[0, 0] = torch.tensor([1.0, -1.0])  # dataset actions on the bound have a finite density
    with torch.no_grad():
        mean = torch.tanh(agent.policy.trunk(obs))
        expected = Normal(mean, math.exp(-0.7)).log_prob(act).sum(-1)
        torch.testing.assert_close(agent.policy.log_prob(obs, act), expected)
        torch.testing.assert_close(agent.act(obs, deterministic=True), mean)
        sample = agent.act(obs, deterministic=False)
    assert sample.shape == (2, 5, 2) and sample.abs().max() <= 1.0 and not torch.equal(sample, mean)
    low = make("iql", policy_log_std_init=-9.0)  # clipped to the authors' bound of -5
    torch.testing.assert_close(low.policy.mean_and_log_std(obs[:1])[1], torch.full((1, 5, 2), -5.0))


def test_the_return_range_cuts_episodes_at_terminals_and_at_discontinuities():
    obs = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [20.0]])
    next_obs = np.array([[1.0], [2.0], [3.0], [11.0], [12.0], [21.0]])  # row 2 -> 3: a time-limit cut
    rewards = np.array([1.0, 2.0, 3.0, -4.0, 0.5, 7.0])
    terminals = np.array([False, False, False, False, True, False])  # row 4 ends an episode by termination
    # episodes: rows 0-2 (6.0), rows 3-4 (-3.5), row 5 (7.0, the last row)
    assert return_range(obs, rewards, next_obs, terminals) == pytest.approx(7.0 - -3.5)
    stats = RealDataStats.of(obs, rewards, next_obs, terminals)
    assert stats.return_range == pytest.approx(10.5) and RealDataStats.of(obs).return_range is None


def test_reward_scale_none_takes_the_authors_1000_over_the_return_range_or_fails():
    """Never a silent fallback: without the dataset's returns, None is an error."""
    rows = transitions(np.random.default_rng(3), 1, 50, "real")[0]
    obs, rew, next_obs = rows[:, :3], rows[:, 5], rows[:, 6:9]
    with_returns = AgentSpec(3, 2, [0], "cpu", RealDataStats.of(obs, rew, next_obs, np.zeros(50, bool)))
    agent = get_method("iql").make(with_returns, {"reward_scale": None, "hidden": (8,)})
    assert agent.reward_scale == pytest.approx(1000.0 / with_returns.real_stats.return_range)
    with pytest.raises(ValueError, match="return_range"):
        get_method("iql").make(spec(), {"reward_scale": None, "hidden": (8,)})


@pytest.mark.parametrize("bad", [{"expectile": 1.0}, {"expectile": 0.0}, {"max_weight": 0},
                                 {"advantage_beta": -1}, {"actor_lr_schedule": "linear"},
                                 {"policy_log_std_bounds": [2.0, -5.0]}])
def test_bad_overrides_are_rejected(bad):
    with pytest.raises(ValueError):
        get_method("iql").config(bad)

"""TD3+BC(real), term by term against independent computations: lambda = alpha / mean |Q| by hand
(and without a gradient), the target policy smoothing noise and its clip, the TD target of a full
update from replayed noise on normalised states, the delayed actor and target updates, and the
actor step's use of the just-updated critic."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from gapbench.algos import PopulationRNG, get_method
from gapbench.algos.td3_bc import TD3BC
from tests.algos_support import batch_rows, feed, make, real_observations, to_batch, transitions


def test_td3_bc_is_registered_as_an_offline_field_baseline():
    method = get_method("td3+bc")
    assert (method.agent, method.label, method.role) == (TD3BC, "TD3+BC(real)", "field")
    assert TD3BC.sources == {"real"}
    c = method.config()  # the authors' defaults
    assert (c.alpha, c.policy_noise, c.noise_clip, c.policy_delay) == (2.5, 0.2, 0.5, 2)
    assert (c.soft_target_update_rate, c.policy_lr, c.qf_lr, c.batch_size, c.normalise_states) == (
        0.005, 3e-4, 3e-4, 256, True)


def test_states_are_normalised_by_the_dataset_mean_and_std_plus_eps():
    agent = make("td3+bc", seeds=(0, 1))
    obs = real_observations()
    np.testing.assert_allclose(agent.obs_mean.numpy(), obs.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(agent.obs_std.numpy(), obs.std(0) + 1e-3, rtol=1e-5)
    x = torch.as_tensor(obs[:10]).expand(2, -1, -1)
    expected = torch.tanh(agent.policy.trunk((x - torch.as_tensor(obs.mean(0))) / torch.as_tensor(obs.std(0) + 1e-3)))
    torch.testing.assert_close(agent.act(x, deterministic=True), expected, rtol=1e-5, atol=1e-6)
    plain = make("td3+bc", normalise_states=False)
    torch.testing.assert_close(plain.act(x[:1], deterministic=True), plain.policy(x[:1]))


def test_lambda_is_alpha_over_the_mean_absolute_q_and_carries_no_gradient():
    agent = make("td3+bc", seeds=(0, 1), alpha=1.7)
    with torch.no_grad():  # Q values of both signs and of a scale far from 1
        agent.critic.net.layers[-1].weight.mul_(300.0)
        agent.critic.net.layers[-1].bias.fill_(-0.4)
    real = to_batch(transitions(np.random.default_rng(0), 2, 6, "real"))
    obs = agent.normalise(real.obs)
    loss, metrics = agent.actor_loss(obs, real.act)

    # by hand, member by member, row by row
    for m in range(2):
        with torch.no_grad():
            pi = agent.policy(obs)[m].double()
            q1 = [float(agent.critic(obs[:, i : i + 1], agent.policy(obs)[:, i : i + 1])[m, 0, 0]) for i in range(6)]
        lam = 1.7 / (sum(abs(q) for q in q1) / 6)
        bc = float(((pi - real.act[m].double()) ** 2).sum()) / (6 * 2)
        expected = -lam * sum(q1) / 6 + bc
        assert float(metrics["policy/lambda"][m]) == pytest.approx(lam, rel=1e-5)
        assert float(loss[m].detach()) == pytest.approx(expected, rel=1e-5, abs=1e-6)
        assert float(metrics["policy/bc_mse"][m]) == pytest.approx(bc, rel=1e-5, abs=1e-7)

    # the gradient treats lambda as a constant: the same as the loss with lambda frozen to a number
    grads = torch.autograd.grad(loss.sum(), list(agent.policy.parameters()))
    lam = metrics["policy/lambda"].detach()
    pi = agent.policy(obs)
    q1 = agent.critic(obs, pi)[:, 0]
    frozen = (-lam * q1.mean(-1) + (pi - real.act).square().mean((1, 2))).sum()
    for got, want in zip(grads, torch.autograd.grad(frozen, list(agent.policy.parameters()))):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    pi = agent.policy(obs)  # and differs from the loss in which lambda's own gradient flows
    q1 = agent.critic(obs, pi)[:, 0]
    live = (-(1.7 / q1.abs().mean(-1)) * q1.mean(-1) + (pi - real.act).square().mean((1, 2))).sum()
    live_grads = torch.autograd.grad(live, list(agent.policy.parameters()))
    assert any(not torch.allclose(g, h, rtol=1e-3, atol=1e-6) for g, h in zip(grads, live_grads))
    loss, _ = agent.actor_loss(obs, real.act)  # and the critic's weights are not in the actor loss's graph
    assert all(g is None for g in torch.autograd.grad(loss.sum(), list(agent.critic.parameters()), allow_unused=True))


def test_the_first_critic_alone_is_the_twin_critic_s_first_row():
    agent = make("td3+bc", seeds=(0, 1, 2))
    obs, act = torch.randn(3, 9, 3), torch.rand(3, 9, 2) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(agent.critic.first(obs, act), agent.critic(obs, act)[:, 0], rtol=1e-6, atol=1e-7)


def test_target_policy_smoothing_noise_is_clipped_before_it_is_added():
    agent = make("td3+bc", seeds=(0, 1), policy_noise=2.0, noise_clip=0.3)
    replay = PopulationRNG([0, 1], "agent")
    replay.set_state(agent.rng.state())
    next_obs = torch.randn(2, 200, 3)
    smoothed = agent.smoothed_target_action(next_obs)
    with torch.no_grad():
        mu = agent.target_policy(next_obs)
    eps = replay.normal(200, 2)
    noise = np.clip(2.0 * eps.numpy(), -0.3, 0.3)
    expected = np.clip(mu.numpy() + noise, -1.0, 1.0)
    np.testing.assert_allclose(smoothed.numpy(), expected, rtol=0, atol=1e-6)
    assert (np.abs(2.0 * eps.numpy()) > 0.3).mean() > 0.5  # the clip was exercised
    assert np.abs(smoothed.numpy() - mu.numpy()).max() <= 0.3 + 1e-6


def test_one_update_s_td_target_from_replayed_noise_on_normalised_states():
    agent = make("td3+bc", seeds=(2, 3), discount=0.8)
    replay = PopulationRNG([2, 3], "agent")
    replay.set_state(agent.rng.state())
    target_policy, target_critic = copy.deepcopy(agent.target_policy), copy.deepcopy(agent.target_critic)
    real = to_batch(transitions(np.random.default_rng(1), 2, 6, "real"))
    metrics = agent.update(real, None)
    mean, std = real_observations().mean(0), real_observations().std(0) + 1e-3
    s_next = torch.as_tensor((real.next_obs.numpy() - mean) / std, dtype=torch.float32)
    with torch.no_grad():
        a_next = (target_policy(s_next) + (0.2 * replay.normal(6, 2)).clamp(-0.5, 0.5)).clamp(-1, 1)
        q_next = target_critic(s_next, a_next).min(1).values
    y = real.rew + 0.8 * (1 - real.done) * q_next
    torch.testing.assert_close(metrics["q/target_mean"], y.mean(-1), rtol=1e-5, atol=1e-5)


def test_the_actor_and_both_targets_move_every_policy_delay_updates_by_polyak():
    agent = make("td3+bc", seeds=(0, 1), policy_delay=3, soft_target_update_rate=0.2)
    gen = np.random.default_rng(2)
    for step in range(1, 8):
        policy = [p.detach().clone() for p in agent.policy.parameters()]
        targets = [p.detach().clone() for p in (*agent.target_policy.parameters(), *agent.target_critic.parameters())]
        feed(agent, batch_rows(agent, gen))
        moved = [not torch.equal(a, b) for a, b in zip(policy, agent.policy.parameters())]
        assert all(moved) if step % 3 == 0 else not any(moved), step
        online = [*agent.policy.parameters(), *agent.critic.parameters()]
        new = [*agent.target_policy.parameters(), *agent.target_critic.parameters()]
        for old, now, live in zip(targets, new, online):
            expected = 0.8 * old + 0.2 * live.detach() if step % 3 == 0 else old
            torch.testing.assert_close(now, expected, rtol=1e-6, atol=1e-7)


def test_the_actor_step_uses_the_just_updated_critic():
    """policy/q is mean Q_1(s, pi(s)) under the critic *after* this update's critic step (the authors' order)."""
    agent = make("td3+bc", seeds=(0, 1), qf_lr=0.05)
    gen = np.random.default_rng(3)
    feed(agent, batch_rows(agent, gen))  # update 1: critic only
    policy, critic_before = copy.deepcopy(agent.policy), copy.deepcopy(agent.critic)
    real = to_batch(batch_rows(agent, gen)["real"])
    metrics = agent.update(real, None)  # update 2: critic, then actor
    obs = agent.normalise(real.obs)
    with torch.no_grad():
        after = agent.critic(obs, policy(obs))[:, 0].mean(-1)
        before = critic_before(obs, policy(obs))[:, 0].mean(-1)
    torch.testing.assert_close(metrics["policy/q"], after, rtol=1e-5, atol=1e-6)
    assert (after - before).abs().min() > 1e-3  # the two orders are told apart


def test_between_actor_steps_the_actor_metrics_repeat_the_last_step_s():
    agent = make("td3+bc", policy_delay=2)
    gen = np.random.default_rng(4)
    first = feed(agent, batch_rows(agent, gen))
    assert float(first["policy/lambda"][0]) == 0.0  # no actor step yet
    second, third = feed(agent, batch_rows(agent, gen)), feed(agent, batch_rows(agent, gen))
    assert float(second["policy/lambda"][0]) > 0 and torch.equal(second["policy/loss"], third["policy/loss"])


def test_exploration_noise_only_on_stochastic_actions():
    agent = make("td3+bc", exploration_noise=0.3)
    obs = torch.randn(1, 500, 3)
    spread = (agent.act(obs, deterministic=False) - agent.act(obs, deterministic=True)).std()
    assert 0.2 < float(spread) < 0.35  # about 0.3, a little less where the clip to [-1, 1] binds


@pytest.mark.parametrize("bad", [{"alpha": -1}, {"policy_delay": 0}, {"noise_clip": -0.1}, {"policy_noise": -1}])
def test_bad_overrides_are_rejected(bad):
    with pytest.raises(ValueError):
        get_method("td3+bc").config(bad)

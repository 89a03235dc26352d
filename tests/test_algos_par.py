"""PAR, term by term against independent computations: the reward penalty of a hand-set encoder in
numpy, the encoder loss and its schedule, a full update's TD target (penalised sim rewards, plain
real ones), the actor step's use of the just-updated critic, the target encoders' Polyak average."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from gapbench.algos import PopulationRNG, get_method
from gapbench.algos.core.encoder import avg_l1_norm
from gapbench.algos.par import PAR
from tests.algos_support import batch_rows, feed, make, to_batch, transitions


def test_par_is_registered_as_a_field_baseline_using_both_sources():
    method = get_method("par")
    assert (method.agent, method.label, method.role) == (PAR, "PAR", "field")
    assert PAR.sources == {"real", "sim"}
    c = method.config()  # the authors' online PAR
    assert (c.penalty_beta, c.alpha_multiplier, c.use_automatic_entropy_tuning, c.backup_entropy) == (0.5, 0.2, False, True)
    assert (c.sim_batch_size, c.real_batch_size, c.encoder_batch_size, c.encoder_update_period) == (128, 128, 64, 200)
    assert (c.encoder_dim, c.encoder_hidden, c.soft_target_update_rate) == (256, (256, 256), 0.005)


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _numpy_mlp(mlp, k: int, x: np.ndarray) -> np.ndarray:
    """Member k's ELU MLP in float64 numpy: x W + b per layer, ELU between layers."""
    layers = mlp.layers
    for i, layer in enumerate(layers):
        x = x @ layer.weight[k].detach().double().numpy() + layer.bias[k, 0].detach().double().numpy()
        if i < len(layers) - 1:
            x = _elu(x)
    return x


def _numpy_penalty(encoder, k: int, s, a, s_next, beta: float) -> np.ndarray:
    def zs(x):
        h = _numpy_mlp(encoder.state, k, x)
        return h / np.maximum(np.abs(h).mean(-1, keepdims=True), 1e-8)

    zsa = _numpy_mlp(encoder.state_action, k, np.concatenate([zs(s), a], -1))
    return beta * ((zsa - zs(s_next)) ** 2).mean(-1)


def _hand_set(encoder, seed: int) -> None:
    """Weights of a scale that puts the ELUs on both of their branches."""
    gen = np.random.default_rng(seed)
    with torch.no_grad():
        for mlp in (encoder.state, encoder.state_action):
            for layer in mlp.layers:
                layer.weight.copy_(torch.as_tensor(gen.normal(size=layer.weight.shape) * 0.8))
                layer.bias.copy_(torch.as_tensor(gen.normal(size=layer.bias.shape) * 0.5))


def test_the_penalty_of_a_hand_set_encoder_equals_a_numpy_computation():
    agent = make("par", seeds=(0, 1), penalty_beta=1.7)
    _hand_set(agent.target_encoder, 1)
    sim = to_batch(transitions(np.random.default_rng(2), 2, 9, "sim"))
    penalty = agent.penalty(sim)
    for k in range(2):
        s, a, s2 = (x[k].double().numpy() for x in sim.transitions())
        np.testing.assert_allclose(penalty[k].numpy(), _numpy_penalty(agent.target_encoder, k, s, a, s2, 1.7),
                                   rtol=1e-4, atol=1e-6)
    assert penalty.std() > 0.1  # the transitions differ in cost: no constant passes


def test_avg_l1_norm_gives_a_mean_absolute_entry_of_one():
    x = torch.tensor([[2.0, -6.0, 4.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(avg_l1_norm(x), torch.tensor([[0.5, -1.5, 1.0], [0.0, 0.0, 0.0]]))


def test_the_encoder_steps_every_period_on_the_real_rows_set_aside_for_it():
    agent = make("par", seeds=(0, 1), encoder_update_period=3, encoder_lr=1e-2)
    gen = np.random.default_rng(3)
    for step in range(1, 8):
        before = copy.deepcopy(agent.encoder)
        rows = batch_rows(agent, gen)
        metrics = feed(agent, rows)
        moved = [not torch.equal(p, q) for p, q in zip(before.parameters(), agent.encoder.parameters())]
        assert all(moved) if step % 3 == 0 else not any(moved), step
        if step % 3 == 0:  # its loss: the MSE of g(f(s), a) against f(s') on the encoder's real rows
            real = to_batch(rows["real"][:, agent.config.real_batch_size:])
            for k in range(2):
                s, a, s2 = (x[k].double().numpy() for x in real.transitions())
                expected = _numpy_penalty(before, k, s, a, s2, 1.0).mean()
                assert float(metrics["par/encoder_loss"][k]) == pytest.approx(expected, rel=1e-4, abs=1e-7)


def test_the_td_target_penalises_the_sim_rewards_only():
    """discount 0: the TD target is the reward, r - penalty for sim rows and r for real rows."""
    agent = make("par", seeds=(0, 1), discount=0.0, penalty_beta=3.0)
    _hand_set(agent.target_encoder, 4)
    rows = batch_rows(agent, np.random.default_rng(5))
    sim, real = to_batch(rows["sim"]), to_batch(rows["real"][:, : agent.config.real_batch_size])
    expected = []
    for k in range(2):
        penalty = _numpy_penalty(agent.target_encoder, k, *(x[k].double().numpy() for x in sim.transitions()), 3.0)
        assert penalty.min() > 0.01  # the penalty is not negligible here
        rewards = np.concatenate([sim.rew[k].double().numpy() - penalty, real.rew[k].double().numpy()])
        expected.append(rewards.mean())
    metrics = feed(agent, rows)
    np.testing.assert_allclose(metrics["q/target_mean"].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_the_actor_step_uses_the_just_updated_critic():
    """policy/loss = mean(alpha log pi(a~|s) - min Q_new(s, a~)) over the sim then real states, with a~
    replayed from the agent's stream (after the TD target's a') and Q_new the critic after this update."""
    agent = make("par", seeds=(0, 1), qf_lr=0.05)
    rows = batch_rows(agent, np.random.default_rng(6))
    sim, real = to_batch(rows["sim"]), to_batch(rows["real"][:, : agent.config.real_batch_size])
    states = torch.cat([sim.obs, real.obs], dim=1)
    policy, old_critic = copy.deepcopy(agent.policy), copy.deepcopy(agent.critic)
    replay = PopulationRNG([0, 1], "agent")
    replay.set_state(agent.rng.state())
    metrics = feed(agent, rows)
    n = states.shape[1]
    replay.normal(n, 2)  # a' of the TD target
    eps = replay.normal(n, 2)
    with torch.no_grad():
        mean, log_std = policy.mean_and_log_std(states)
        pre_tanh = mean + log_std.exp() * eps
        action = torch.tanh(pre_tanh)
        log_pi = torch.distributions.Normal(mean, log_std.exp()).log_prob(pre_tanh).sum(-1) - torch.log1p(
            -action.square()).sum(-1)
        new = (0.2 * log_pi - agent.critic.min(states, action)).mean(-1)
        old = (0.2 * log_pi - old_critic.min(states, action)).mean(-1)
    torch.testing.assert_close(metrics["policy/loss"], new, rtol=1e-4, atol=1e-5)
    assert (new - old).abs().min() > 1e-3  # the two orders are told apart


def test_the_target_encoders_are_the_polyak_average_after_each_update():
    agent = make("par", seeds=(0, 1), soft_target_update_rate=0.2, encoder_update_period=2)
    gen = np.random.default_rng(7)
    for _ in range(4):
        target = [p.detach().clone() for p in agent.target_encoder.parameters()]
        feed(agent, batch_rows(agent, gen))
        for old, new, online in zip(target, agent.target_encoder.parameters(), agent.encoder.parameters()):
            torch.testing.assert_close(new, 0.8 * old + 0.2 * online.detach(), rtol=1e-6, atol=1e-7)


def test_sim_rollouts_add_exploration_noise_to_the_policy_s_sample():
    agent = make("par", exploration_noise=0.5)
    obs = torch.randn(1, 2000, 3)
    rng = PopulationRNG([0], "rollout-test")
    replay = PopulationRNG([0], "rollout-test")
    noisy = agent.act(obs, deterministic=False, rng=rng)
    sample = agent.policy(obs, replay)[0]
    expected = (sample + 0.5 * replay.normal(2000, 2)).clamp(-1, 1)
    torch.testing.assert_close(noisy, expected)
    torch.testing.assert_close(agent.act(obs, deterministic=True), agent.policy.deterministic(obs))


@pytest.mark.parametrize("bad", [{"penalty_beta": -1}, {"encoder_update_period": 0}, {"encoder_dim": 0}])
def test_bad_overrides_are_rejected(bad):
    with pytest.raises(ValueError):
        get_method("par").config(bad)

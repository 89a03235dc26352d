"""VGDF, term by term against independent computations: the dynamics ensemble's Gaussian NLL in numpy,
the Fictitious Value Proximity likelihood and the quantile filter by a brute-force loop over rows and
networks, the filtered critic loss in closed form, the order of the steps (critic, then both policies
with the just-updated critic), their schedules, per-member gradient clipping against torch's own, and
a fitted ensemble's filter keeping the sim rows whose dynamics are the real ones."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from gapbench.algos import PopulationRNG, get_method
from gapbench.algos.core.grad_clip import clip_grad_norm_per_member
from gapbench.algos.vgdf import VGDF
from tests.algos_support import ACT_DIM, OBS_DIM, batch_rows, feed, make, parameters, to_batch, transitions

E = 7  # the authors' ensemble size, kept in the tiny agents


def test_vgdf_is_registered_as_a_field_baseline_with_the_authors_defaults():
    method = get_method("vgdf")
    assert (method.agent, method.label, method.role) == (VGDF, "VGDF", "field")
    assert VGDF.sources == {"real", "sim"}
    c = method.config()  # config/vgdf/*.yaml with train_vgdf.py's defaults
    assert (c.filter_quantile, c.filter_start, c.model_ensemble_size) == (0.75, 100_000, 7)
    assert c.optimistic_exploration and c.imagined_next_state == "mean_plus_variance"
    assert (c.sim_batch_size, c.real_batch_size, c.policy_update_period, c.grad_clip_norm) == (128, 128, 2, 100.0)
    assert (c.alpha_multiplier, c.use_automatic_entropy_tuning, c.backup_entropy) == (0.2, False, True)
    assert (c.model_hidden, c.model_lr, c.model_batch_size, c.model_log_var_bounds) == (
        (200, 200, 200, 200), 1e-3, 256, (-10.0, 0.5))
    assert c.model_weight_decay == (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4)
    assert (c.hidden, c.policy_lr, c.qf_lr, c.soft_target_update_rate) == ((256, 256), 3e-4, 3e-4, 0.005)


# ------------------------------------------------------------------ the dynamics ensemble


def _softplus(x):
    return np.logaddexp(0.0, x)


def _numpy_ensemble(dynamics, k: int, e: int, s: np.ndarray, a: np.ndarray):
    """Network e of member k in float64 numpy: normalised input, Swish layers, soft-bounded log var."""
    x = (np.concatenate([s, a], -1) - dynamics.input_mean.double().numpy()) / dynamics.input_std.double().numpy()
    layers = dynamics.net.layers
    row = k * dynamics.ensemble + e
    for i, layer in enumerate(layers):
        x = x @ layer.weight[row].detach().double().numpy() + layer.bias[row, 0].detach().double().numpy()
        if i < len(layers) - 1:
            x = x / (1.0 + np.exp(-x))
    out = x.shape[-1] // 2
    mean, log_var = x[..., :out], x[..., out:]
    high, low = dynamics.max_log_var.double().numpy(), dynamics.min_log_var.double().numpy()
    log_var = high - _softplus(high - log_var)
    log_var = low + _softplus(log_var - low)
    return mean, log_var


def _numpy_model_loss(dynamics, k: int, rows: np.ndarray) -> float:
    """sum_e [mean((mu - y)^2 / var) + mean(log var)] over network e's own rows, + sum_l c_l |W_l|^2 / 2."""
    total = 0.0
    for e in range(dynamics.ensemble):
        r = rows[e]
        s, a, rew, s2 = r[:, :OBS_DIM], r[:, OBS_DIM:OBS_DIM + ACT_DIM], r[:, OBS_DIM + ACT_DIM], r[:, -OBS_DIM - 1:-1]
        mean, log_var = _numpy_ensemble(dynamics, k, e, s, a)
        labels = np.concatenate([rew[:, None], s2 - s], -1)
        total += ((mean - labels) ** 2 * np.exp(-log_var)).mean() + log_var.mean()
        for c, layer in zip(dynamics.weight_decay, dynamics.net.layers):
            total += c * (layer.weight[k * dynamics.ensemble + e].detach().double().numpy() ** 2).sum() / 2
    return total


def test_the_model_step_s_loss_is_the_gaussian_nll_by_hand_each_network_on_its_own_rows():
    agent = make("vgdf", seeds=(0, 1), model_update_period=3)
    gen = np.random.default_rng(1)
    with torch.no_grad():  # log variances away from zero and from the bounds, so every term counts
        agent.dynamics.net.layers[-1].bias[:, 0, OBS_DIM + 1:].uniform_(-3.0, 0.0)
    for step in range(4):
        before = copy.deepcopy(agent.dynamics)
        rows = batch_rows(agent, gen)
        metrics = feed(agent, rows)
        moved = [not torch.equal(p, q) for p, q in zip(before.parameters(), agent.dynamics.parameters())]
        assert all(moved) if step % 3 == 0 else not any(moved), step
        if step % 3 == 0:
            model_rows = rows["real"][:, agent.config.real_batch_size:].reshape(2, E, agent.config.model_batch_size, -1)
            for k in range(2):
                expected = _numpy_model_loss(before, k, model_rows[k].astype(np.float64))
                decay = sum(c * (layer.weight[k * E:(k + 1) * E].detach().double() ** 2).sum().item() / 2
                            for c, layer in zip(before.weight_decay, before.net.layers))
                assert float(metrics["vgdf/model_nll"][k]) == pytest.approx(expected - decay, rel=1e-5)
                # and the loss it stepped on, decay included, from the pre-update ensemble
                obs, act, rew, nxt = (torch.as_tensor(model_rows[k:k + 1, ..., sl]) for sl in (
                    slice(0, OBS_DIM), slice(OBS_DIM, OBS_DIM + ACT_DIM), OBS_DIM + ACT_DIM, slice(-OBS_DIM - 1, -1)))
                two = lambda x: torch.cat([x, x]) if x is not None else x  # noqa: E731  (the population has K=2)
                loss, _, _ = before.loss(two(obs), two(act), two(rew), two(nxt))
                assert float(loss[k].detach()) == pytest.approx(expected, rel=1e-5)


def test_the_ensemble_initialises_each_member_from_its_own_stream_with_the_authors_truncated_normal():
    pair, single = make("vgdf", seeds=(3, 4)), make("vgdf", seeds=(4,))
    for a, b in zip(pair.dynamics.net.layers, single.dynamics.net.layers):
        assert torch.equal(a.weight[E:], b.weight) and torch.equal(a.bias[E:], b.bias)
        std = 1.0 / (2.0 * math.sqrt(a.weight.shape[1]))
        weight = a.weight.detach()
        # a normal truncated at two stds has a std of 0.88 of the untruncated one's
        assert weight.abs().max() <= 2 * std and float(weight.std()) == pytest.approx(0.88 * std, rel=0.25)
        assert not a.bias.any()


def test_a_weight_decay_per_layer_is_required():
    with pytest.raises(ValueError, match="weight-decay"):
        make("vgdf", model_weight_decay=(1e-4, 1e-4))


# ------------------------------------------------------------------ Fictitious Value Proximity


def _hand_set_constant_ensemble(agent, k: int, means: np.ndarray, log_vars: np.ndarray) -> None:
    """Network e of member k predicts (r, s' - s) ~ N(means[e], exp(log_vars[e])) whatever (s, a)."""
    last = agent.dynamics.net.layers[-1]
    with torch.no_grad():
        for e in range(E):
            last.weight[k * E + e].zero_()
            last.bias[k * E + e, 0] = torch.as_tensor(np.concatenate([means[e], log_vars[e]]), dtype=torch.float32)


def _brute_force_values(agent, k: int, sim, noise: np.ndarray | None) -> np.ndarray:
    """Fictitious values [E, B] row by row and network by network, from single-row network calls."""
    c = agent.config
    b = sim.obs.shape[1]
    values = np.zeros((E, b))
    for e in range(E):
        for i in range(b):
            s, a = sim.obs[k, i].double().numpy(), sim.act[k, i].double().numpy()
            mean, log_var = _numpy_ensemble(agent.dynamics, k, e, s[None], a[None])
            outcome = mean[0]
            if c.imagined_next_state == "mean_plus_variance":
                outcome = outcome + np.exp(log_var[0])
            elif c.imagined_next_state == "sample":
                outcome = outcome + np.exp(0.5 * log_var[0]) * noise[k, e, i]
            s_next = torch.zeros(agent.spec.population, 1, OBS_DIM)
            s_next[k, 0] = torch.as_tensor(s + outcome[1:], dtype=torch.float32)
            with torch.no_grad():
                a_next = agent.policy.deterministic(s_next)
                q = agent.target_critic(s_next, a_next)[k, :, 0].double().numpy()
            values[e, i] = outcome[0] + (1.0 - float(sim.done[k, i])) * c.discount * q.min()
    return values


def _brute_force_quantile(values: list[float], q: float) -> float:
    """The linear-interpolation quantile: sorted values, position q (n - 1)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


@pytest.mark.parametrize("mode", ["mean_plus_variance", "mean", "sample"])
def test_the_likelihood_and_the_filter_equal_a_brute_force_loop(mode):
    """A hand-set ensemble (each network its own constant Gaussian over (r, s' - s)), the agent's own
    critics and policy: per row and network the imagined value r_e + gamma (1 - d) min Q'(s'_e, pi(s'_e)),
    their mean and unbiased std, a Gaussian density, and the rows above the 0.75 quantile."""
    agent = make("vgdf", seeds=(0, 1), imagined_next_state=mode, discount=0.9)
    gen = np.random.default_rng(2)
    for k in range(2):
        _hand_set_constant_ensemble(agent, k, gen.normal(size=(E, OBS_DIM + 1)) * 0.5,
                                    gen.uniform(-3.0, -0.5, size=(E, OBS_DIM + 1)))
    with torch.no_grad():  # make Q vary over states, so each imagined state's value differs
        for layer in agent.target_critic.net.layers:
            layer.weight.mul_(10.0)
    sim = to_batch(transitions(gen, 2, 12, "sim"))
    compare = torch.as_tensor(gen.normal(size=(2, 12)) * 0.3, dtype=torch.float32)
    rng, replay = PopulationRNG([0, 1], "fvp-test"), PopulationRNG([0, 1], "fvp-test")
    likelihood, difference = agent.likelihood(sim, compare, rng)
    accept = agent.gate(likelihood, 0.75)
    noise = replay.normal(E, 12, OBS_DIM + 1).double().numpy() if mode == "sample" else None
    for k in range(2):
        values = _brute_force_values(agent, k, sim, noise)
        expected, distance = [], []
        for i in range(12):
            column = values[:, i]
            mean = sum(column) / E
            std = math.sqrt(sum((v - mean) ** 2 for v in column) / (E - 1)) + 1e-8
            x = float(compare[k, i])
            expected.append(math.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi)))
            distance.append(abs(mean - x))
        np.testing.assert_allclose(likelihood[k].numpy(), expected, rtol=1e-4, atol=1e-30)
        np.testing.assert_allclose(difference[k].numpy(), distance, rtol=1e-4, atol=1e-5)
        threshold = _brute_force_quantile(expected, 0.75)
        kept = [1.0 if v > threshold else 0.0 for v in expected]
        assert accept[k].tolist() == kept
        assert sum(kept) == 3  # 12 distinct likelihoods: the 3 above the 0.75 quantile
    assert likelihood.std() > 0.01  # the rows differ: no constant passes


def test_the_gate_keeps_rows_strictly_above_the_quantile():
    likelihood = torch.tensor([[0.1, 0.4, 0.2, 0.3, 0.9, 0.5, 0.7, 0.8]])
    torch.testing.assert_close(VGDF.gate(likelihood, 0.75), torch.tensor([[0.0, 0, 0, 0, 1, 0, 0, 1]]))
    torch.testing.assert_close(VGDF.gate(likelihood, 0.0), (likelihood > 0.1).float())
    assert not VGDF.gate(likelihood, 1.0).any()
    assert not VGDF.gate(torch.zeros(1, 8), 0.5).any()  # all likelihoods underflowed: nothing is kept


def _constant_reward_ensemble(agent, gen) -> None:
    """Every network predicts a constant reward (its own) with a small variance: with discount 0 the
    fictitious values are these rewards, so the likelihood has a closed form in each row's reward."""
    for k in range(agent.spec.population):
        means = np.zeros((E, OBS_DIM + 1))
        means[:, 0] = gen.normal(size=E) * 0.5 + 1.0
        _hand_set_constant_ensemble(agent, k, means, np.full((E, OBS_DIM + 1), -6.0))


def test_the_critic_loss_counts_every_real_row_and_only_the_kept_sim_rows():
    """discount 0: targets are rewards, so the sim rows' likelihood is N(r; m, s) with m, s the mean and
    std of the networks' (mean + variance) rewards; the loss is sum_j [mean_real (Q_j - r)^2 +
    (1/B) sum_sim gate (Q_j - r)^2], from the pre-update critic."""
    agent = make("vgdf", seeds=(0, 1), discount=0.0, filter_start=0)
    gen = np.random.default_rng(3)
    _constant_reward_ensemble(agent, gen)
    rows = batch_rows(agent, gen)
    c = agent.config
    real, sim = to_batch(rows["real"][:, :c.real_batch_size]), to_batch(rows["sim"])
    critic = copy.deepcopy(agent.critic)
    last = agent.dynamics.net.layers[-1].bias.detach()[:, 0].view(2, E, -1).double()
    metrics = feed(agent, rows)
    for k in range(2):
        log_var = last[k, :, OBS_DIM + 1]
        log_var = 0.5 - torch.nn.functional.softplus(0.5 - log_var)
        log_var = -10.0 + torch.nn.functional.softplus(log_var + 10.0)
        rewards = (last[k, :, 0] + log_var.exp()).tolist()
        m = sum(rewards) / E
        s = math.sqrt(sum((r - m) ** 2 for r in rewards) / (E - 1)) + 1e-8
        lik = [math.exp(-0.5 * ((float(r) - m) / s) ** 2) / (s * math.sqrt(2 * math.pi)) for r in sim.rew[k]]
        threshold = _brute_force_quantile(lik, c.filter_quantile)
        gate = torch.tensor([1.0 if v > threshold else 0.0 for v in lik], dtype=torch.float64)
        with torch.no_grad():
            q_real, q_sim = critic(real.obs, real.act)[k].double(), critic(sim.obs, sim.act)[k].double()
        loss_real = ((q_real - real.rew[k].double()) ** 2).mean(-1).sum()
        loss_sim = (gate * (q_sim - sim.rew[k].double()) ** 2).mean(-1).sum()
        assert float(metrics["q/loss_real"][k]) == pytest.approx(float(loss_real), rel=1e-5)
        assert float(metrics["q/loss_sim"][k]) == pytest.approx(float(loss_sim), rel=1e-5)
        assert float(metrics["vgdf/accept_ratio"][k]) == pytest.approx(float(gate.mean()))
        assert 0 < gate.sum() < len(gate)  # the filter drops some rows and keeps some


def test_every_sim_row_counts_until_filter_start():
    agent = make("vgdf", seeds=(0,), filter_start=3, sim_batch_size=8, discount=0.0)
    gen = np.random.default_rng(4)
    _constant_reward_ensemble(agent, gen)  # likelihoods in closed form, none of them underflows
    ratios = [float(feed(agent, batch_rows(agent, gen))["vgdf/accept_ratio"][0]) for _ in range(5)]
    assert ratios == [1.0, 1.0, 1.0, 0.25, 0.25]  # from update 3 on: 8 rows, the 2 above the 0.75 quantile


def test_a_fitted_ensemble_keeps_the_sim_rows_whose_dynamics_are_real():
    """The ensemble learns the real transitions; half of a sim batch follows the real dynamics, half
    the simulator's shifted ones (s' + 0.3), and the critic values states by their sum. The filter
    (keeping 50%) must keep mostly the real-dynamics rows: that is the point of the method."""
    agent = make("vgdf", seeds=(0,), discount=0.9, model_hidden=(32, 32), model_weight_decay=(1e-5, 1e-5, 1e-5),
                 imagined_next_state="mean")
    gen = np.random.default_rng(5)
    optimizer = torch.optim.Adam(agent.dynamics.parameters(), lr=3e-3)
    for _ in range(600):  # the model alone, on real transitions, each network its own rows
        batch = to_batch(transitions(gen, 1, E * 32, "real"))
        loss, _, _ = agent.dynamics.loss(*(x.reshape(1, E, 32, *x.shape[2:]) for x in (
            batch.obs, batch.act, batch.rew, batch.next_obs)))
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
    with torch.no_grad():  # Q'(s, a) = sum(s) for both target critics, exactly
        first, *middle, last = agent.target_critic.net.layers
        for layer in agent.target_critic.net.layers:
            layer.weight.zero_()
            layer.bias.zero_()
        first.weight[:, :OBS_DIM, 0] = 1.0
        first.weight[:, :OBS_DIM, 1] = -1.0
        for layer in middle:
            layer.weight[:, 0, 0] = layer.weight[:, 1, 1] = 1.0
        last.weight[:, 0, 0], last.weight[:, 1, 0] = 1.0, -1.0
    sim = to_batch(np.concatenate([transitions(gen, 1, 32, "real"), transitions(gen, 1, 32, "sim")], axis=1))
    compare = sim.rew + (1.0 - sim.done) * 0.9 * sim.next_obs.sum(-1)
    likelihood, _ = agent.likelihood(sim, compare, agent.rng)
    kept = VGDF.gate(likelihood, 0.5)[0]
    assert kept[:32].sum() >= 28 and kept[32:].sum() <= 4, (kept[:32].sum(), kept[32:].sum())


# ------------------------------------------------------------------ the steps and their order


def test_the_policies_step_with_the_just_updated_critic_every_second_update():
    """policy/loss = mean(alpha log pi - min Q_new) and optimistic_policy/loss = mean(alpha log pi_o -
    max Q_new) over the sim then real states, their actions replayed from the agent's stream (after
    the TD target's a'), Q_new the critic after this update's critic step."""
    agent = make("vgdf", seeds=(0, 1), qf_lr=0.05)
    rows = batch_rows(agent, np.random.default_rng(6))
    c = agent.config
    sim, real = to_batch(rows["sim"]), to_batch(rows["real"][:, :c.real_batch_size])
    states = torch.cat([sim.obs, real.obs], dim=1)
    policy, optimistic, old_critic = (copy.deepcopy(m) for m in (agent.policy, agent.optimistic_policy, agent.critic))
    replay = PopulationRNG([0, 1], "agent")
    replay.set_state(agent.rng.state())
    metrics = feed(agent, rows)
    n = states.shape[1]
    replay.normal(c.real_batch_size + c.sim_batch_size, ACT_DIM)  # a' of the TD targets

    def sample(net):
        eps = replay.normal(n, ACT_DIM)
        mean, log_std = net.mean_and_log_std(states)
        pre_tanh = mean + log_std.exp() * eps
        action = torch.tanh(pre_tanh)
        log_pi = torch.distributions.Normal(mean, log_std.exp()).log_prob(pre_tanh).sum(-1) - torch.log1p(
            -action.square()).sum(-1)
        return action, log_pi

    with torch.no_grad():
        action, log_pi = sample(policy)
        o_action, o_log_pi = sample(optimistic)
        new = (0.2 * log_pi - agent.critic(states, action).min(1).values).mean(-1)
        old = (0.2 * log_pi - old_critic(states, action).min(1).values).mean(-1)
        new_optimistic = (0.2 * o_log_pi - agent.critic(states, o_action).max(1).values).mean(-1)
    torch.testing.assert_close(metrics["policy/loss"], new, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(metrics["optimistic_policy/loss"], new_optimistic, rtol=1e-4, atol=1e-5)
    assert (new - old).abs().min() > 1e-3  # the two orders are told apart

    gen = np.random.default_rng(7)
    for step in range(1, 6):  # update 0 above stepped them; then updates 2 and 4, the critic every time
        before = parameters(agent)
        feed(agent, batch_rows(agent, gen))
        after = parameters(agent)
        for name in ("policy", "optimistic_policy"):
            moved = [not torch.equal(before[p], after[p]) for p in before if p.startswith(name + ".")]
            assert all(moved) if step % 2 == 0 else not any(moved), (name, step)
        assert all(not torch.equal(before[p], after[p]) for p in before if p.startswith("critic."))


def test_gradient_clipping_per_member_is_torch_s_clip_for_each_member_alone():
    gen = torch.Generator().manual_seed(8)
    shapes = [(3, 4, 5), (6, 1, 5), (3, 1, 1)]  # member-major, the second with two copies per member
    params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen) * 3.0
    params[0].grad[1] *= 0.01  # member 1's norm is under the bound, the others' over it
    params[1].grad[2:4] *= 0.01
    params[2].grad[1] *= 0.01
    singles = []
    for k in range(3):
        member = [torch.nn.Parameter(torch.zeros(p.grad.reshape(3, -1)[k].shape)) for p in params]
        for m, p in zip(member, params):
            m.grad = p.grad.reshape(3, -1)[k].clone()
        singles.append((float(torch.nn.utils.clip_grad_norm_(member, 2.0)), [m.grad for m in member]))
    norms = clip_grad_norm_per_member(params, 2.0, 3)
    for k, (norm, grads) in enumerate(singles):
        assert float(norms[k]) == pytest.approx(norm, rel=1e-6)
        for p, g in zip(params, grads):
            torch.testing.assert_close(p.grad.reshape(3, -1)[k], g, rtol=1e-6, atol=1e-7)
    assert norms[1] < 2.0 < min(norms[0], norms[2])


def test_the_critic_gradient_is_clipped_at_the_configured_norm():
    """With a tiny bound the critic's first Adam step is unchanged (Adam divides by the gradient's
    scale), but its second moment sees the clipped gradient: exp_avg_sq is (bound / norm)^2 times
    the unclipped run's."""
    runs = {}
    for bound in (1e-3, 1e9):
        agent = make("vgdf", seeds=(0,), grad_clip_norm=bound)
        metrics = feed(agent, batch_rows(agent, np.random.default_rng(9)))
        weight = agent.critic.net.layers[0].weight
        runs[bound] = (float(metrics["q/grad_norm"][0]), agent.optimizer.state[weight]["exp_avg_sq"].clone())
    norm = runs[1e9][0]
    assert norm == runs[1e-3][0] > 1e-3
    torch.testing.assert_close(runs[1e-3][1], runs[1e9][1] * (1e-3 / (norm + 1e-6)) ** 2, rtol=1e-4, atol=0)


def test_sim_rollouts_use_the_optimistic_policy_and_evaluation_the_policy_s_mean():
    obs = torch.randn(1, 50, OBS_DIM)
    for optimistic in (True, False):
        agent = make("vgdf", optimistic_exploration=optimistic)
        rng, replay = PopulationRNG([0], "rollout-test"), PopulationRNG([0], "rollout-test")
        expected = (agent.optimistic_policy if optimistic else agent.policy)(obs, replay)[0]
        torch.testing.assert_close(agent.act(obs, deterministic=False, rng=rng), expected)
        torch.testing.assert_close(agent.act(obs, deterministic=True), agent.policy.deterministic(obs))
    assert not torch.equal(agent.optimistic_policy.trunk.layers[0].weight, agent.policy.trunk.layers[0].weight)


def test_k3_with_the_filter_on_equals_three_single_seed_runs():
    """The generic population test runs before filter_start; here every update filters, with sampled
    imagined outcomes (the member's own noise)."""
    overrides = {"filter_start": 0, "imagined_next_state": "sample", "policy_update_period": 1}
    population = make("vgdf", seeds=(11, 22, 33), **overrides)
    singles = [make("vgdf", seeds=(s,), **overrides) for s in (11, 22, 33)]
    gen = np.random.default_rng(10)
    for _ in range(6):
        rows = batch_rows(population, gen)
        metrics = feed(population, rows)
        for k, agent in enumerate(singles):
            single = feed(agent, {s: r[k:k + 1] for s, r in rows.items()})
            for key in ("vgdf/accept_ratio", "vgdf/likelihood_mean", "q/loss", "policy/loss"):
                torch.testing.assert_close(metrics[key][k:k + 1], single[key], rtol=1e-4, atol=1e-5, msg=key)


@pytest.mark.parametrize("bad", [{"filter_quantile": 1.5}, {"model_ensemble_size": 1}, {"filter_start": -1},
                                 {"model_log_var_bounds": [0.5, -10.0]}, {"grad_clip_norm": 0},
                                 {"imagined_next_state": "median"}])
def test_bad_overrides_are_rejected(bad):
    with pytest.raises(ValueError):
        get_method("vgdf").config(bad)

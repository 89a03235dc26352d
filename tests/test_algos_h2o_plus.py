"""H2O+, term by term against independent computations: every loss of an update rebuilt sample by
sample in float64 numpy from the networks' weights (the mixed exploit/explore target, the dynamics
ratio as the authors compute it from both classifiers' softmaxes, the weighted sim Bellman error, the
expectile V, SAC's actor on real then sim states) under each switch; the classifier step's place
before the ratio; and the optional AWR warm-up with its weights, its exploitation-only target and
the networks it leaves alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from gapbench.algos import PopulationRNG, get_method
from gapbench.algos.h2o_plus import H2OPlus
from tests.algos_support import (ACT_DIM, batch_rows, feed, make, parameters, set_affine_logits, to_batch,
                                 transitions)

SEEDS = (3, 4)


def test_h2o_plus_is_registered_as_a_field_baseline_with_the_authors_defaults():
    method = get_method("h2o+")
    assert (method.agent, method.label, method.role) == (H2OPlus, "H2O+", "field")
    assert H2OPlus.sources == {"real", "sim"}
    c = method.config()  # H2OPLUS.get_default_config() and h2o+_main.py
    assert (c.exploit_coeff, c.expectile, c.backup_entropy) == (0.5, 0.5, True)
    assert c.dynamics_ratio_clip == (1e-5, 1.0)
    assert (c.real_batch_size, c.sim_batch_size, c.classifier_batch_size) == (128, 128, 256)
    assert c.classifier_noise_std == 0.1
    assert (c.real_blended_target, c.sim_blended_target, c.dynamics_ratio_weight) == (True, True, True)
    assert (c.warmup_steps, c.advantage_beta, c.max_weight, c.classifier_logit_bound) == (0, 1.0, 100.0, 2.0)
    assert (c.policy_lr, c.qf_lr, c.value_lr, c.classifier_lr, c.discount, c.soft_target_update_rate) == (
        3e-4, 3e-4, 3e-4, 3e-4, 0.99, 5e-3)
    assert c.target_entropy is None and c.use_automatic_entropy_tuning  # -|A|, as the runner sets it


# ------------------------------------------------------------------ numpy forwards of the networks


def _mlp(mlp, row: int, x: np.ndarray) -> np.ndarray:
    """Row `row` of a batched ReLU MLP (member k, or critic j of member k at 2k + j) in float64."""
    layers = mlp.layers
    for i, layer in enumerate(layers):
        x = x @ layer.weight[row].detach().double().numpy() + layer.bias[row, 0].detach().double().numpy()
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


def _q(critic, k: int, s, a) -> np.ndarray:
    """[2, N]: member k's two critics."""
    return np.stack([_mlp(critic.net, 2 * k + j, np.concatenate([s, a], -1))[:, 0] for j in range(2)])


def _v(value, k: int, s) -> np.ndarray:
    return _mlp(value.net, k, s)[:, 0]


def _policy_sample(policy, k: int, s, eps):
    """(a, log pi(a|s)) of the tanh-Gaussian for given standard-normal draws, in float64."""
    out = _mlp(policy.trunk, k, s)
    mean, raw = out[:, :ACT_DIM], out[:, ACT_DIM:]
    m = policy.log_std_multiplier[k, 0, 0].item()
    o = policy.log_std_offset[k, 0, 0].item()
    log_std = np.clip(m * raw + o, -20.0, 2.0)
    pre_tanh = mean + np.exp(log_std) * eps
    a = np.tanh(pre_tanh)
    log_pi = (-0.5 * eps**2 - log_std - 0.5 * np.log(2 * np.pi) - np.log(1.0 - a**2)).sum(-1)
    return a, log_pi


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _ratio(pair, k: int, s, a, s2, bound: float = 2.0) -> np.ndarray:
    """P_M/P_M^ as the authors' real_sim_dynamics_ratio: p_sas(real) p_sa(sim) / (p_sas(sim) p_sa(real)),
    with p_sas the softmax of the summed logits."""
    l_sa = bound * np.tanh(_mlp(pair.d_sa, k, np.concatenate([s, a], -1)))
    l_sas = bound * np.tanh(_mlp(pair.d_sas, k, np.concatenate([s, a, s2], -1))) + l_sa
    p_sa, p_sas = _softmax(l_sa), _softmax(l_sas)
    return p_sas[:, 0] * p_sa[:, 1] / (p_sas[:, 1] * p_sa[:, 0])


def _numpy(batch, k: int):
    return tuple(x[k].double().numpy() for x in (batch.obs, batch.act, batch.rew, batch.next_obs, batch.done))


def _spread_out(agent, gen) -> None:
    """Q, V and the dynamics ratio of a size that makes every term and the clip matter."""
    with torch.no_grad():
        for net in (agent.critic.net, agent.target_critic.net, agent.value.net):
            net.layers[-1].weight.mul_(80.0)
        agent.log_alpha.copy_(torch.tensor([-1.2, 0.4]))
    for k in range(2):  # D_sas's residual logits follow the action, so the ratio falls on both sides of 1
        residual = np.zeros((8, 2))
        residual[3:5] = gen.normal(size=(2, 1)) * np.array([[1.0, -1.0]])
        set_affine_logits(agent.classifiers.pair.d_sa, k, gen.normal(size=(5, 2)) * 0.4, gen.normal(size=2))
        set_affine_logits(agent.classifiers.pair.d_sas, k, residual, gen.normal(size=2) * 0.1)


# ------------------------------------------------------------------ the H2O+ update, term by term

CASES = {
    "defaults": {},
    "lambda 0.8, tau 0.7": {"exploit_coeff": 0.8, "expectile": 0.7},
    "lambda 0 (SAC's backup)": {"exploit_coeff": 0.0},
    "unblended targets": {"real_blended_target": False, "sim_blended_target": False},
    "no ratio, no entropy backup": {"dynamics_ratio_weight": False, "backup_entropy": False},
    "a wider ratio clip": {"dynamics_ratio_clip": (0.3, 1.5)},
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_loss_term_equals_a_sample_by_sample_computation(case):
    overrides = CASES[case]
    agent = make("h2o+", seeds=SEEDS, discount=0.9, **overrides)
    c = agent.config
    gen = np.random.default_rng(7)
    _spread_out(agent, gen)
    real = to_batch(transitions(gen, 2, c.real_batch_size, "real"))
    sim = to_batch(transitions(gen, 2, c.sim_batch_size, "sim"))
    with torch.no_grad():  # centre V on the real data's target Q, so that Q - V takes both signs
        gap = agent.target_critic.min(real.obs, real.act).mean(-1) - agent.value(real.obs).mean(-1)
        agent.value.net.layers[-1].bias.add_(gap.view(2, 1, 1))
    replay = PopulationRNG(list(SEEDS), "agent")
    replay.set_state(agent.rng.state())
    terms, metrics = agent.losses(real, sim)
    # the draws, in the agent's order: a' on the real s', a' on the sim s', then the actor's a~
    eps_real = replay.normal(len(real), ACT_DIM).double().numpy()
    eps_sim = replay.normal(len(sim), ACT_DIM).double().numpy()
    eps_actor = replay.normal(len(real) + len(sim), ACT_DIM).double().numpy()

    lam, gamma = c.exploit_coeff, 0.9
    saw_exploit_differ = False
    for k in range(2):
        alpha = float(np.exp(agent.log_alpha[k].item()))

        def targets(batch, eps, blended, alone):
            s, a, r, s2, d = _numpy(batch, k)
            a2, log_pi2 = _policy_sample(agent.policy, k, s2, eps[k])
            entropy = alpha * log_pi2 if c.backup_entropy else 0.0
            soft_q = _q(agent.target_critic, k, s2, a2).min(0) - entropy
            explore = r + gamma * (1 - d) * soft_q  # B_explore Q
            exploit = r + gamma * (1 - d) * _v(agent.value, k, s2)  # B_exploit Q
            mixed = lam * exploit + (1 - lam) * explore
            return (mixed if blended else {"exploit": exploit, "explore": explore}[alone]), explore, exploit

        y_real, explore_real, exploit_real = targets(real, eps_real, c.real_blended_target, "exploit")
        y_sim, _, _ = targets(sim, eps_sim, c.sim_blended_target, "explore")
        saw_exploit_differ |= np.abs(explore_real - exploit_real).max() > 0.05

        s, a, *_ = _numpy(sim, k)
        raw = _ratio(agent.classifiers.pair, k, s, a, _numpy(sim, k)[3])
        w = np.clip(raw, *c.dynamics_ratio_clip) if c.dynamics_ratio_weight else np.ones_like(raw)
        if c.dynamics_ratio_weight:  # the clip binds for some samples and not for others
            assert (raw > c.dynamics_ratio_clip[1]).any() and (raw < c.dynamics_ratio_clip[1]).any(), raw
        bellman_sim = sum((w * (_q(agent.critic, k, s, a)[j] - y_sim) ** 2).mean() for j in range(2))
        s, a, *_ = _numpy(real, k)
        bellman_real = sum(((_q(agent.critic, k, s, a)[j] - y_real) ** 2).mean() for j in range(2))

        # L_V: expectile regression of V(s) on min_j Q_target_j(s, a), real data only
        u = _q(agent.target_critic, k, s, a).min(0) - _v(agent.value, k, s)
        value_loss = (np.where(u > 0, c.expectile, 1 - c.expectile) * u**2).mean()
        assert (u > 0).any() and (u < 0).any()

        # SAC's actor on d_f: the real states, then the sim states
        states = np.concatenate([_numpy(real, k)[0], _numpy(sim, k)[0]])
        a_new, log_pi = _policy_sample(agent.policy, k, states, eps_actor[k])
        policy_loss = (alpha * log_pi - _q(agent.critic, k, states, a_new).min(0)).mean()
        alpha_loss = -(agent.log_alpha[k].item() * (log_pi - ACT_DIM)).mean()

        expected = {"bellman_real": bellman_real, "bellman_sim": bellman_sim, "value": value_loss,
                    "policy": policy_loss, "alpha": alpha_loss}
        for name, value in expected.items():
            assert float(terms[name][k].detach()) == pytest.approx(value, rel=1e-4, abs=1e-5), (case, name, k)
        assert float(metrics["h2o+/dynamics_ratio_mean"][k]) == pytest.approx(w.mean(), rel=1e-5)
    assert set(terms) == {"bellman_real", "bellman_sim", "value", "policy", "alpha"}  # no value regulariser
    assert saw_exploit_differ  # the two backups differ, so lambda and the switches are seen


def test_the_classifiers_step_before_the_ratio_is_taken():
    """The ratio of a full update is the *just-updated* classifiers' on the Q rows; the classifier
    step uses the rows after them."""
    agent = make("h2o+", seeds=SEEDS, classifier_lr=0.05)
    c = agent.config
    rows = batch_rows(agent, np.random.default_rng(8))
    sim = to_batch(rows["sim"][:, : c.sim_batch_size])
    before = [_ratio(agent.classifiers.pair, k, *(_numpy(sim, k)[i] for i in (0, 1, 3))) for k in range(2)]
    metrics = feed(agent, rows)
    for k in range(2):
        after = np.clip(_ratio(agent.classifiers.pair, k, *(_numpy(sim, k)[i] for i in (0, 1, 3))), 1e-5, 1.0)
        assert float(metrics["h2o+/dynamics_ratio_mean"][k]) == pytest.approx(after.mean(), rel=1e-5)
        assert abs(after.mean() - np.clip(before[k], 1e-5, 1.0).mean()) > 1e-3  # the two orders differ


# ------------------------------------------------------------------ the optional AWR warm-up


def _log_prob(policy, k: int, s, a) -> np.ndarray:
    """log pi(a|s) by torch.distributions, on actions clipped to +-(1 - 1e-6) as the authors' log_prob."""
    out = torch.as_tensor(_mlp(policy.trunk, k, s))
    mean, raw = out[:, :ACT_DIM], out[:, ACT_DIM:]
    m, o = policy.log_std_multiplier[k, 0, 0].item(), policy.log_std_offset[k, 0, 0].item()
    log_std = (m * raw + o).clamp(-20, 2)
    dist = TransformedDistribution(Normal(mean, log_std.exp()), TanhTransform())
    return dist.log_prob(torch.as_tensor(a).clamp(-1 + 1e-6, 1 - 1e-6)).sum(-1).numpy()


def test_the_warm_up_is_awr_with_the_exploitation_backup_and_leaves_classifiers_and_alpha_alone():
    agent = make("h2o+", seeds=SEEDS, warmup_steps=2, discount=0.9, advantage_beta=2.0, max_weight=0.5)
    c = agent.config
    gen = np.random.default_rng(9)
    _spread_out(agent, gen)
    clipped = unclipped = 0
    for update in range(1, 4):
        rows = batch_rows(agent, gen)
        real = to_batch(rows["real"][:, : c.real_batch_size])
        before = parameters(agent)
        expected = []
        for k in range(2):
            s, a, r, s2, d = _numpy(real, k)
            q = _q(agent.critic, k, s, a).min(0)  # the online critics, as the authors' warm-up
            weights = np.minimum(np.exp(2.0 * (q - _v(agent.value, k, s))), 0.5)
            clipped += int((weights >= 0.5).sum())
            unclipped += int((weights < 0.5).sum())
            policy_loss = -(weights * _log_prob(agent.policy, k, s, a)).mean()
            y = r + 0.9 * (1 - d) * _v(agent.value, k, s2)  # B_exploit Q alone
            bellman = sum(((_q(agent.critic, k, s, a)[j] - y) ** 2).mean() for j in range(2))
            expected.append((policy_loss, bellman, weights.mean()))
        metrics = feed(agent, rows)
        after = parameters(agent)
        warm = update <= 2
        assert ("h2o+/awr_weight_mean" in metrics) == warm and ("h2o+/dynamics_ratio_mean" in metrics) != warm
        if warm:
            for k, (policy_loss, bellman, mean_weight) in enumerate(expected):
                assert float(metrics["policy/loss"][k]) == pytest.approx(policy_loss, rel=1e-4, abs=1e-5)
                assert float(metrics["q/bellman_real"][k]) == pytest.approx(bellman, rel=1e-4, abs=1e-5)
                assert float(metrics["h2o+/awr_weight_mean"][k]) == pytest.approx(mean_weight, rel=1e-4)
        for name, value in after.items():
            moved = not torch.equal(value, before[name])
            if name.startswith(("classifiers", "log_alpha")):
                assert moved != warm, (update, name)  # still during the warm-up, trained after it
            elif not name.startswith("target_"):
                assert moved, (update, name)
    assert clipped and unclipped  # the clip at max_weight bound for some samples only


@pytest.mark.parametrize("bad", [{"exploit_coeff": 1.5}, {"expectile": 1.0}, {"warmup_steps": -1},
                                 {"dynamics_ratio_clip": [1.0, 0.5]}, {"max_weight": 0}, {"value_lr": 0}])
def test_bad_overrides_are_rejected(bad):
    with pytest.raises(ValueError):
        get_method("h2o+").config(bad)

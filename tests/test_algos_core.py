"""The shared pieces of `algos.core` against independent computations: layers, policy, targets,
the weighted log-sum-exp of Eq. 6, the CQL(H) regulariser, and H2O's next-state perturbation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from gapbench.algos import PopulationRNG
from gapbench.algos.core.critic import CRITIC_LAYOUTS, TwinQ, soft_update
from gapbench.algos.core.nets import BatchedLinear
from gapbench.algos.core.policy import TanhGaussianPolicy
from gapbench.algos.cql import CQLConfig, cql_regulariser
from gapbench.algos.h2o import weighted_log_sum_exp
from tests.algos_support import make, real_observations, to_batch, transitions


@pytest.fixture(autouse=True)
def _fixed_torch_seed():
    """The random inputs below come from torch's global generator: the same ones on every run."""
    torch.manual_seed(0)


def test_batched_linear_is_one_plain_linear_per_member():
    layer = BatchedLinear(3, 4, 5)
    layer.weight.data.normal_()
    layer.bias.data.normal_()
    x = torch.randn(3, 7, 4)
    for k in range(3):
        expected = torch.nn.functional.linear(x[k], layer.weight[k].T, layer.bias[k, 0])
        torch.testing.assert_close(layer(x)[k], expected)


def test_a_q_head_sums_its_products_in_fp32_and_under_bf16_autocast_rounds_only_them():
    """A one-output layer over several members (the Q head) is a row-wise dot product. In fp32 it is
    the plain linear layer. Under bf16 autocast its inputs are bf16 and its weight is taken in bf16, as
    autocast takes every GEMM's; each product is rounded to bf16 and the sum is fp32, so Q stays fp32.
    The expected values are a float64 loop that rounds exactly there; an fp32 product (the old head)
    is off by about 2^-9 of a product, a thousand times the tolerance."""
    layer = BatchedLinear(2, 64, 1)
    layer.weight.data.normal_()
    layer.bias.data.normal_()
    x = torch.randn(2, 9, 64)
    for k in range(2):
        torch.testing.assert_close(layer(x)[k], torch.nn.functional.linear(x[k], layer.weight[k].T, layer.bias[k, 0]))

    x16 = x.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = layer(x16)
    assert got.dtype == torch.float32
    w16 = layer.weight.detach().bfloat16().double()
    expected = torch.empty(2, 9, 1, dtype=torch.float64)
    for k, n in itertools.product(range(2), range(9)):
        products = [(x16[k, n, i].double() * w16[k, i, 0]).bfloat16().double() for i in range(64)]
        expected[k, n, 0] = sum(products) + layer.bias[k, 0, 0].double()
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=2e-5)

    got.sum().backward()  # the weight's gradient arrives in fp32, close to the exact Σ_n x[k, n]
    assert layer.weight.grad.dtype == torch.float32
    torch.testing.assert_close(layer.weight.grad, x16.double().sum(1, keepdim=True).transpose(1, 2).float(),
                               rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("layout", CRITIC_LAYOUTS)
def test_twin_q_scores_several_actions_per_state_as_a_loop_over_them(layout):
    """Q(s, a_1..a_M) in either layout equals one single-action call per (state, action), and its
    gradients the loop's: the layouts are two ways of computing the same numbers."""
    k, n, m, obs_dim, act_dim = 2, 5, 3, 4, 2
    critic = TwinQ(k, obs_dim, act_dim, (8, 8), layout)
    critic.initialise(PopulationRNG([0, 1], "init"), last_layer_gain=1.0)  # a head large enough to show a wrong term
    obs, actions = torch.randn(k, n, obs_dim), torch.randn(k, n, m, act_dim)
    got = critic(obs, actions)
    assert got.shape == (k, 2, n, m)
    loop = torch.stack([critic(obs, actions[:, :, j]) for j in range(m)], dim=-1)
    torch.testing.assert_close(got, loop, rtol=1e-6, atol=1e-6)
    grads = torch.autograd.grad(got.square().sum(), list(critic.parameters()))
    loop_grads = torch.autograd.grad(loop.square().sum(), list(critic.parameters()))
    for g, expected in zip(grads, loop_grads, strict=True):
        torch.testing.assert_close(g, expected, rtol=1e-5, atol=1e-6)


def test_an_unknown_critic_layout_is_refused_by_name():
    with pytest.raises(ValueError, match="critic layout must be one of \\('split', 'repeat'\\), got 'fused'"):
        TwinQ(1, 3, 2, (4,), "fused")


def test_soft_update_is_polyak_averaging():
    online, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in target.parameters()]
    soft_update(target, online, 0.1)
    for old, new, theta in zip(before, target.parameters(), online.parameters()):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * theta)


def _policy(members=2, obs_dim=3, act_dim=2):
    policy = TanhGaussianPolicy(members, obs_dim, act_dim, (8,), log_std_multiplier=1.3, log_std_offset=-0.4)
    policy.trunk.initialise(PopulationRNG(range(members), "test"))  # default init: means far from 0
    return policy


def test_tanh_gaussian_sample_log_prob_matches_torch_distributions():
    policy = _policy()
    obs = torch.randn(2, 50, 3)
    rng = PopulationRNG([0, 1], "policy")
    replay = PopulationRNG([0, 1], "policy")
    action, log_pi = policy(obs, rng)
    mean, log_std = policy.mean_and_log_std(obs)
    eps = replay.normal(50, 2)
    pre_tanh = mean + log_std.exp() * eps
    torch.testing.assert_close(action, torch.tanh(pre_tanh))
    # cache_size=1: torch inverts tanh from the cached pre-tanh value, as the authors' code does
    tanh = TanhTransform(cache_size=1)
    dist = TransformedDistribution(Normal(mean.double(), log_std.exp().double()), [tanh])
    expected = dist.log_prob(tanh(pre_tanh.double())).sum(-1)
    torch.testing.assert_close(log_pi.double(), expected, rtol=1e-5, atol=1e-4)


def test_tanh_gaussian_log_prob_of_given_actions_matches_torch_distributions():
    policy = _policy()
    obs = torch.randn(2, 50, 3)
    action = torch.rand(2, 50, 2) * 1.8 - 0.9  # inside (-1, 1), where atanh is well conditioned
    mean, log_std = policy.mean_and_log_std(obs)
    dist = TransformedDistribution(Normal(mean.double(), log_std.exp().double()), [TanhTransform()])
    expected = dist.log_prob(action.double()).sum(-1)
    torch.testing.assert_close(policy.log_prob(obs, action).double(), expected, rtol=1e-5, atol=1e-4)


def test_log_std_is_the_learnable_affine_map_of_the_raw_output_clamped():
    policy = _policy()
    with torch.no_grad():
        policy.log_std_multiplier[1] = 50.0  # drives member 1 into both clamps
    obs = torch.randn(2, 40, 3)
    raw = policy.trunk(obs)[..., 2:]
    _, log_std = policy.mean_and_log_std(obs)
    expected = (policy.log_std_multiplier.detach() * raw + policy.log_std_offset.detach()).clamp(-20, 2)
    torch.testing.assert_close(log_std, expected)
    assert log_std[1].max() == 2.0 and log_std[1].min() == -20.0


@pytest.mark.parametrize("backup_entropy", [False, True])
def test_td_target_closed_form(backup_entropy):
    agent = make("sac", seeds=(3, 4), backup_entropy=backup_entropy, discount=0.9)
    with torch.no_grad():
        agent.log_alpha.copy_(torch.tensor([0.3, -0.7]))
    batch = to_batch(transitions(np.random.default_rng(0), 2, 6, "sim"))
    replay = PopulationRNG([3, 4], "agent")
    replay.set_state(agent.rng.state())
    y = agent.td_target(batch)

    eps = replay.normal(6, 2).double()
    mean, log_std = (t.double() for t in agent.policy.mean_and_log_std(batch.next_obs))
    pre_tanh = mean + log_std.exp() * eps
    next_action = torch.tanh(pre_tanh)
    log_pi = (Normal(mean, log_std.exp()).log_prob(pre_tanh) - torch.log1p(-next_action.square())).sum(-1)
    q1, q2 = agent.target_critic(batch.next_obs, next_action.float()).double().unbind(1)
    soft_value = torch.minimum(q1, q2)
    if backup_entropy:
        soft_value = soft_value - torch.tensor([math.exp(0.3), math.exp(-0.7)]).double()[:, None] * log_pi
    expected = batch.rew.double() + 0.9 * (1 - batch.done.double()) * soft_value
    torch.testing.assert_close(y.double(), expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ Eq. 6's weighted log-sum-exp


def _brute_force_weighted_lse(q: np.ndarray, omega: np.ndarray, temperature: float) -> np.ndarray:
    k_members, critics, b = q.shape
    out = np.zeros((k_members, critics))
    for k, j in itertools.product(range(k_members), range(critics)):
        total = 0.0
        for i in range(b):
            total += omega[k, i] * math.exp(q[k, j, i] / temperature)
        out[k, j] = temperature * math.log(total)
    return out


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_weighted_log_sum_exp_equals_a_loop_over_the_batch(temperature):
    gen = np.random.default_rng(1)
    q = gen.normal(scale=3.0, size=(2, 2, 9))
    u = gen.random((2, 9))
    u[0, [1, 4, 5]] = 0.0  # zero dynamics gap: these samples must drop out, not give NaN
    u[1, 8] = 0.0
    omega = u / u.sum(-1, keepdims=True)
    q_t = torch.tensor(q, dtype=torch.float32, requires_grad=True)
    got = weighted_log_sum_exp(q_t, torch.tensor(omega, dtype=torch.float32), temperature)
    np.testing.assert_allclose(got.detach().numpy(), _brute_force_weighted_lse(q, omega, temperature),
                               rtol=1e-5, atol=1e-5)
    got.sum().backward()
    grad = q_t.grad.numpy()
    assert np.isfinite(grad).all()
    assert (grad[0][:, [1, 4, 5]] == 0).all() and (grad[1][:, 8] == 0).all()  # zero weight, zero push-down


def test_weighted_log_sum_exp_with_uniform_omega_is_log_mean_exp():
    q = torch.randn(1, 2, 16) * 4
    omega = torch.full((1, 16), 1 / 16)
    expected = torch.log(torch.exp(q.double()).mean(-1))
    torch.testing.assert_close(weighted_log_sum_exp(q, omega, 1.0).double(), expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ the CQL(H) regulariser


@pytest.mark.parametrize("importance_sample", [True, False])
@pytest.mark.parametrize("clip", [(-math.inf, math.inf), (-0.5, 0.7)])
def test_cql_regulariser_equals_a_per_state_computation(importance_sample, clip):
    k_members, b, n, act_dim, temp = 2, 3, 2, 2, 0.7
    gen = np.random.default_rng(2)
    q_data = gen.normal(size=(k_members, 2, b))
    q_uniform, q_current, q_next = (gen.normal(size=(k_members, 2, b, n)) for _ in range(3))
    log_pi_current, log_pi_next = (gen.normal(size=(k_members, b, n)) for _ in range(2))
    config = CQLConfig(importance_sample=importance_sample, temperature=temp, clip_diff=clip)
    tensors = [torch.tensor(x, dtype=torch.float32) for x in
               (q_data, q_uniform, q_current, q_next, log_pi_current, log_pi_next)]
    got = cql_regulariser(*tensors, act_dim=act_dim, config=config).numpy()

    expected = np.zeros((k_members, 2))
    for k, j in itertools.product(range(k_members), range(2)):
        gaps = []
        for s in range(b):
            if importance_sample:  # each sampled Q minus the log density it was sampled with
                values = [q_uniform[k, j, s, i] - act_dim * math.log(0.5) for i in range(n)]
                values += [q_next[k, j, s, i] - log_pi_next[k, s, i] for i in range(n)]
                values += [q_current[k, j, s, i] - log_pi_current[k, s, i] for i in range(n)]
            else:  # the plain soft maximum over every candidate, the data action included
                values = [q_uniform[k, j, s, i] for i in range(n)] + [q_data[k, j, s]]
                values += [q_next[k, j, s, i] for i in range(n)] + [q_current[k, j, s, i] for i in range(n)]
            soft_max = temp * math.log(sum(math.exp(v / temp) for v in values))
            gaps.append(min(max(soft_max - q_data[k, j, s], clip[0]), clip[1]))
        expected[k, j] = sum(gaps) / b
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ H2O's next-state perturbation


@pytest.mark.parametrize("scale", [1.0, 0.5])
@pytest.mark.parametrize("mode", ["dataset_cov", "dataset_std", "padded_buffer_std"])
def test_next_state_noise_covariance_closed_forms(mode, scale):
    obs = real_observations().astype(np.float64)
    agent = make("h2o", next_state_noise=mode, next_state_noise_scale=scale)
    factor = agent.next_state_noise_factor.double().numpy()
    covariance = factor @ factor.T  # s'_k = s' + L eps_k has covariance L L^T

    centred = obs - obs.mean(0)
    if mode == "dataset_cov":  # the paper's Sigma_D (plus the code's 1e-6 jitter for Cholesky)
        expected = centred.T @ centred / (len(obs) - 1) + 1e-6 * np.eye(3)
    elif mode == "dataset_std":  # its diagonal, with the authors' 1e-3 added to the std
        expected = np.diag((np.sqrt((centred**2).mean(0)) + 1e-3) ** 2)
    else:  # the authors' code: the std of a buffer that is 1 part data and 10 parts zeros
        buffer = np.concatenate([obs, np.zeros((10 * len(obs), 3))])
        padded_std = buffer.std(0) + 1e-3
        f = 1 / 11  # and the closed form it equals: sigma^2 = f Var + f (1 - f) Mean^2
        closed_form = np.sqrt(f * obs.var(0) + f * (1 - f) * obs.mean(0) ** 2) + 1e-3
        np.testing.assert_allclose(padded_std, closed_form)
        expected = np.diag(padded_std**2)
    np.testing.assert_allclose(covariance, scale**2 * expected, rtol=1e-5, atol=1e-7)


def test_padded_buffer_ratio_is_the_zero_rows_per_data_row():
    obs = real_observations().astype(np.float64)
    agent = make("h2o", next_state_noise="padded_buffer_std", padded_buffer_ratio=3.0)
    buffer = np.concatenate([obs, np.zeros((3 * len(obs), 3))])
    np.testing.assert_allclose(agent.next_state_noise_factor.double().numpy(), np.diag(buffer.std(0) + 1e-3),
                               rtol=1e-5)


"""Every registered method through the common interface: what learns, what must not, the H2O
ablation switches term by term, CQL's full update, and exact resumption from a state_dict."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from gapbench.algos import PopulationRNG, get_method
from tests.algos_support import (H2O_FAMILY, METHOD_NAMES, batch_rows, feed, make, member, parameters, round_trip,
                           set_affine_logits, to_batch, transitions)

CLASSIFIER_METHODS = {"darc", "darc+", *H2O_FAMILY}
_ACTOR_CRITIC = {"policy", "critic", "target_critic", "log_alpha"}
# The top-level parameter groups each method owns. A new method adds its line here: the test
# below then checks that all of them learn, and that nothing else exists that could.
PARAMETER_GROUPS = {"bc": {"policy"}, "sac": _ACTOR_CRITIC, "cql": _ACTOR_CRITIC,
                    **{name: _ACTOR_CRITIC | {"classifiers"} for name in CLASSIFIER_METHODS},
                    "iql": {"policy", "critic", "target_critic", "value"},
                    "td3+bc": {"policy", "critic", "target_critic", "target_policy"},
                    "par": {"policy", "critic", "target_critic", "encoder", "target_encoder"},  # alpha is fixed
                    "h2o+": _ACTOR_CRITIC | {"classifiers", "value"},
                    "vgdf": {"policy", "critic", "target_critic", "optimistic_policy", "dynamics"}}  # alpha is fixed
OFFLINE = {"cql", "bc", "iql", "td3+bc"}  # the real dataset only
# Methods whose target critic moves every `target_update_period` updates (TD3+BC's move with its
# delayed actor instead: tests/test_algos_td3_bc.py).
PERIODIC_TARGETS = [n for n in METHOD_NAMES
                    if "target_update_period" in {f.name for f in dataclasses.fields(get_method(n).agent.Config)}]


def test_all_ten_methods_the_worked_example_and_the_field_s_baselines_are_registered():
    assert {"sac", "cql", "darc", "darc+", "bc", "iql", "td3+bc", "par", "vgdf", *H2O_FAMILY} <= set(METHOD_NAMES)
    sources = {name: make(name).sources for name in METHOD_NAMES}
    assert sources["sac"] == {"sim"} and all(sources[name] == {"real"} for name in OFFLINE)
    assert all(sources[name] == {"real", "sim"} for name in (*CLASSIFIER_METHODS, "par", "vgdf"))
    for name, agent_sources in sources.items():  # the runner draws exactly the sources a method declares
        assert set(make(name).batch_sizes()) == agent_sources, name


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_200_updates_on_a_tiny_batch_learn_what_they_should_and_nothing_else(name):
    assert name in PARAMETER_GROUPS, f"add {name!r} and its parameter groups to PARAMETER_GROUPS"
    agent = make(name, seeds=(0, 1))
    k = 2
    groups = {n.split(".")[0] for n, _ in agent.named_parameters()}
    assert groups == PARAMETER_GROUPS[name]  # e.g. SAC and CQL own no classifiers
    rows = batch_rows(agent, np.random.default_rng(0))  # one fixed batch, over and over
    before, buffers = parameters(agent), {n: b.clone() for n, b in agent.named_buffers()}
    trainable = {id(p) for opt in agent.optimizers().values() for g in opt.param_groups for p in g["params"]}
    for step in range(200):
        metrics = feed(agent, rows)
        for key, value in metrics.items():
            assert value.shape == (k,), key
            assert torch.isfinite(value).all(), (step, key, value)
    after = parameters(agent)
    for pname, value in after.items():
        assert torch.isfinite(value).all(), pname
        for m in range(k):
            assert not torch.equal(member(value, m, k), member(before[pname], m, k)), f"{pname}[{m}] froze"
    for pname, p in agent.named_parameters():  # targets move by Polyak averaging only, never by Adam
        assert (id(p) in trainable) == (not pname.startswith("target_")), pname
    for bname, value in agent.named_buffers():  # e.g. H2O's next-state noise factor is a constant
        assert torch.equal(value, buffers[bname]), bname


def test_every_method_with_a_target_critic_is_checked_for_its_polyak_average():
    assert set(PERIODIC_TARGETS) == {n for n in METHOD_NAMES if n not in ("bc", "td3+bc")}


@pytest.mark.parametrize("name", PERIODIC_TARGETS)
def test_target_critic_is_the_polyak_average_after_each_update(name):
    agent = make(name, seeds=(0, 1), soft_target_update_rate=0.2, target_update_period=2)
    gen = np.random.default_rng(1)
    for step in range(1, 5):
        target_before = [p.detach().clone() for p in agent.target_critic.parameters()]
        feed(agent, batch_rows(agent, gen))
        pairs = zip(target_before, agent.target_critic.parameters(), agent.critic.parameters())
        for old, new, online in pairs:
            expected = 0.8 * old + 0.2 * online.detach() if step % 2 == 0 else old
            torch.testing.assert_close(new, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_state_dict_round_trip_resumes_bit_exactly(name):
    """Save after 5 updates, load into a fresh agent built from *other* seeds, continue both."""
    agent = make(name, seeds=(0, 1))
    gen = np.random.default_rng(2)
    for _ in range(5):
        feed(agent, batch_rows(agent, gen))
    resumed = make(name, seeds=(7, 8))  # everything seed-dependent must come from the checkpoint
    resumed.load_state_dict(round_trip(agent.state_dict()))
    for _ in range(5):
        rows = batch_rows(agent, gen)
        metrics, resumed_metrics = feed(agent, rows), feed(resumed, rows)
        for key in metrics:
            assert torch.equal(metrics[key], resumed_metrics[key]), key
    for (pname, p), (_, q) in zip(agent.named_parameters(), resumed.named_parameters()):
        assert torch.equal(p, q), pname


# ------------------------------------------------------------------ H2O's ablation switches


def _ablation_setup(name: str):
    """`name` and H2O with identical parameters, noise streams and hand-set classifiers.

    discount 0 makes the TD target the reward, so each Bellman term has a closed form in Q;
    every switch sits outside the target, so this hides nothing the switches could change.
    """
    h2o = make("h2o", seeds=(0, 1), discount=0.0)
    gen = np.random.default_rng(3)
    for k in range(2):
        a_sas = gen.normal(size=(8, 2)) * 0.3
        set_affine_logits(h2o.classifiers.pair.d_sa, k, gen.normal(size=(5, 2)) * 0.3, gen.normal(size=2))
        set_affine_logits(h2o.classifiers.pair.d_sas, k, a_sas, np.array([-0.4, 0.4]))
    with torch.no_grad():  # make Q differ across samples, so uniform and adaptive omega differ
        for layer in h2o.critic.net.layers:
            layer.weight.mul_(30.0)
    ablation = make(name, seeds=(0, 1), discount=0.0)
    ablation.load_state_dict(round_trip(h2o.state_dict()))
    real = to_batch(transitions(gen, 2, 5, "real"))
    sim = to_batch(transitions(gen, 2, 7, "sim"))
    return h2o, ablation, real, sim


def _bellman(agent, batch, weight=None) -> torch.Tensor:
    """sum_j mean_i w_i (Q_j(s_i, a_i) - r_i)^2, the TD target being r when discount is 0."""
    with torch.no_grad():
        q = agent.critic(batch.obs, batch.act).double()
    w = torch.ones_like(batch.rew.double()) if weight is None else weight
    return (w.unsqueeze(1) * (q - batch.rew.double().unsqueeze(1)).square()).mean(-1).sum(1)


def _log_mean_exp_regulariser(agent, real, sim) -> torch.Tensor:
    """Uniform omega: beta * sum_j (log mean_i exp Q_j(sim_i) - mean real Q_j) (paper Sec. 6.4)."""
    with torch.no_grad():
        q_sim = agent.critic(sim.obs, sim.act).double()
        q_real = agent.critic(real.obs, real.act).double()
    return agent.config.beta * (torch.log(torch.exp(q_sim).mean(-1)) - q_real.mean(-1)).sum(1)


@pytest.mark.parametrize("name", ["h2o-a", "h2o-dr", "h2o-a-dr", "h2o-reg", "h2o-reg-dr"])
def test_each_ablation_switch_changes_exactly_its_term(name):
    h2o, ablation, real, sim = _ablation_setup(name)
    expected_terms, _ = h2o.losses(real, sim)
    terms, _ = ablation.losses(real, sim)
    switches = get_method(name).overrides
    changed = set()
    if switches.get("dynamics_ratio_weight") is False:
        changed.add("bellman_sim")
    if switches.get("adaptive_omega") is False or switches.get("value_regulariser") is False:
        changed.add("regulariser")
    assert set(terms) == set(expected_terms) == {"bellman_real", "bellman_sim", "regulariser", "policy",
                                                  "alpha"}
    for term in set(terms) - changed:  # same parameters, same noise: bit for bit the same
        assert torch.equal(terms[term], expected_terms[term]), term
    for term in changed:
        assert not torch.allclose(terms[term], expected_terms[term], rtol=1e-3), term

    # and what each changed term became, from its closed form
    log_w = h2o.classifiers.pair.log_ratio_real_over_sim(*sim.transitions()).detach().double()
    ratio = log_w.exp().clamp(1e-5, 1.0)
    torch.testing.assert_close(expected_terms["bellman_sim"].double(), _bellman(h2o, sim, ratio),
                               rtol=1e-5, atol=1e-6)
    if "bellman_sim" in changed:
        torch.testing.assert_close(terms["bellman_sim"].double(), _bellman(h2o, sim), rtol=1e-5, atol=1e-6)
    if switches.get("value_regulariser") is False:
        assert torch.equal(terms["regulariser"], torch.zeros(2))
    elif switches.get("adaptive_omega") is False:
        torch.testing.assert_close(terms["regulariser"].double(), _log_mean_exp_regulariser(h2o, real, sim),
                                   rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(expected_terms["bellman_real"].double(), _bellman(h2o, real),
                               rtol=1e-5, atol=1e-6)


def test_h2o_reg_dr_still_trains_the_classifiers_it_does_not_use():
    """As the authors' code does: the classifier step sits outside the switches."""
    agent = make("h2o-reg-dr", seeds=(0,))
    before = parameters(agent.classifiers)
    feed(agent, batch_rows(agent, np.random.default_rng(4)))
    assert all(not torch.equal(before[n], p) for n, p in agent.classifiers.named_parameters())


# ------------------------------------------------------------------ CQL's full update


def test_cql_update_regulariser_equals_a_per_state_computation():
    """The update's regulariser, rebuilt state by state from the pre-update networks and the same
    random draws (the TD target's a', the actor's a~, then the uniform, pi(s) and pi(s') actions)."""
    agent = make("cql", seeds=(4, 5), batch_size=3, n_actions=2, min_q_weight=1.7, temperature=0.8)
    k_members, b, n, act_dim = 2, 3, 2, 2
    policy, critic = copy.deepcopy(agent.policy), copy.deepcopy(agent.critic)
    replay = PopulationRNG([4, 5], "agent")
    replay.set_state(agent.rng.state())
    real = to_batch(transitions(np.random.default_rng(5), k_members, b, "real"))
    metrics = agent.update(real, None)

    replay.normal(b, act_dim), replay.normal(b, act_dim)  # a' for the TD target, a~ for the actor
    uniform = replay.uniform(b, n, act_dim, low=-1.0, high=1.0).double()
    eps_current = replay.normal(b * n, act_dim).double().view(k_members, b, n, act_dim)
    eps_next = replay.normal(b * n, act_dim).double().view(k_members, b, n, act_dim)

    def sample(states, eps):  # tanh-Gaussian actions and their log-densities, in float64
        with torch.no_grad():
            mean, log_std = (t.double() for t in policy.mean_and_log_std(states))
        pre_tanh = mean + log_std.exp() * eps
        action = torch.tanh(pre_tanh)
        log_density = Normal(mean, log_std.exp()).log_prob(pre_tanh) - torch.log1p(-action.square())
        return action, log_density.sum(-1)

    def q(k, state, action):  # both critics of member k at one (s, a)
        s = torch.zeros(k_members, 1, state.shape[-1])
        a = torch.zeros(k_members, 1, act_dim)
        s[k, 0], a[k, 0] = state, action.float()
        with torch.no_grad():
            return critic(s, a)[k, :, 0].double()

    expected = torch.zeros(k_members, dtype=torch.float64)
    for k in range(k_members):
        for j in range(2):
            gaps = []
            for i in range(b):
                s = real.obs[k, i]
                a_cur, lp_cur = sample(s.view(1, 1, -1).expand(k_members, n, -1), eps_current[:, i])
                s_next = real.next_obs[k, i]
                a_next, lp_next = sample(s_next.view(1, 1, -1).expand(k_members, n, -1), eps_next[:, i])
                values = [q(k, s, uniform[k, i, m])[j] - act_dim * math.log(0.5) for m in range(n)]
                values += [q(k, s, a_next[k, m])[j] - lp_next[k, m] for m in range(n)]
                values += [q(k, s, a_cur[k, m])[j] - lp_cur[k, m] for m in range(n)]
                soft_max = 0.8 * math.log(sum(math.exp(v / 0.8) for v in values))
                gaps.append(soft_max - q(k, s, real.act[k, i])[j])
            expected[k] += 1.7 * sum(gaps) / b
    torch.testing.assert_close(metrics["q/cql_regulariser"].double(), expected, rtol=1e-5, atol=1e-5)

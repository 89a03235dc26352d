"""Seeds as a population: K members in one agent are K independent runs that share arithmetic only.

Member k of `AgentSpec(seeds=[a, b, c])` must train exactly as a K=1 agent with seed k does when
both see the same batches, and nothing one member sees may reach another member's parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.algos_support import H2O_FAMILY, METHOD_NAMES, batch_rows, feed, make, member, parameters, to_batch

SEEDS = (11, 22, 33)


@pytest.mark.parametrize(("name", "layout"), [*((name, "split") for name in METHOD_NAMES),
                                              ("cql", "repeat")])  # CQL alone scores several actions per state
def test_k3_population_equals_three_single_seed_runs(name, layout):
    """Tolerance 1e-6 absolute on parameters after 10 updates. One batched GEMM may round
    differently from three single ones (float32), and Adam's normalised steps can amplify that;
    the measured worst difference over all methods is 3e-8, so 1e-6 leaves room for other BLAS
    builds while any real coupling (a wrong slice, a shared statistic) shows up at 1e-3 or more.
    Each critic layout the training loop may pick keeps its members apart."""
    population = make(name, seeds=SEEDS, critic_layout=layout)
    singles = [make(name, seeds=(seed,), critic_layout=layout) for seed in SEEDS]
    initial = parameters(population)
    for k, agent in enumerate(singles):  # the initialisation comes from each member's own seed
        for pname, value in agent.named_parameters():
            assert torch.equal(member(initial[pname], k, 3).view_as(value), value), (pname, k)
    gen = np.random.default_rng(0)
    for _ in range(10):
        rows = batch_rows(population, gen)  # [3, B, width] per source: row k goes to member k
        metrics = feed(population, rows)
        for k, agent in enumerate(singles):
            single_metrics = feed(agent, {source: r[k : k + 1] for source, r in rows.items()})
            for key, value in single_metrics.items():
                torch.testing.assert_close(metrics[key][k : k + 1], value, rtol=1e-4, atol=1e-5, msg=key)
    pop = parameters(population)
    for k, agent in enumerate(singles):
        for pname, value in parameters(agent).items():
            torch.testing.assert_close(member(pop[pname], k, 3).view_as(value), value, rtol=0, atol=1e-6,
                                       msg=f"{pname} member {k}")


@pytest.mark.parametrize("poison", [np.nan, 1e6])
@pytest.mark.parametrize("name", METHOD_NAMES)
def test_a_poisoned_member_leaves_the_others_untouched(name, poison):
    """Member 1 gets NaN (or huge) batches; members 0 and 2 must match a clean run bit for bit."""
    clean, poisoned = make(name, seeds=SEEDS), make(name, seeds=SEEDS)
    gen = np.random.default_rng(1)
    for _ in range(3):
        rows = batch_rows(clean, gen)
        bad = {source: r.copy() for source, r in rows.items()}
        for r in bad.values():
            r[1] = poison
        feed(clean, rows)
        feed(poisoned, bad)
    ok, bad = parameters(clean), parameters(poisoned)
    for pname in ok:
        for k in (0, 2):
            assert torch.equal(member(ok[pname], k, 3), member(bad[pname], k, 3)), (pname, k)
    assert any(not torch.equal(member(ok[p], 1, 3), member(bad[p], 1, 3)) for p in ok)  # member 1 did see it


@pytest.mark.parametrize("name", H2O_FAMILY)
def test_gradients_of_one_members_loss_stay_in_that_member(name):
    """d(loss of member 0)/d(parameters of members 1, 2) is exactly zero, for every H2O term."""
    agent = make(name, seeds=SEEDS)
    rows = batch_rows(agent, np.random.default_rng(2))
    c = agent.config
    real = to_batch(rows["real"]).slice(0, c.real_batch_size)
    sim = to_batch(rows["sim"]).slice(0, c.sim_batch_size)
    terms, _ = agent.losses(real, sim)
    classifier_loss, _ = agent.classifiers.pair.loss(real.transitions(), sim.transitions(), 0.1, agent.rng)
    total = sum(terms.values())[0] + classifier_loss[0]
    agent.zero_grad(set_to_none=False)
    total.backward()
    grads = {n: p.grad for n, p in agent.named_parameters() if p.grad is not None}
    assert any(member(g, 0, 3).abs().sum() > 0 for g in grads.values())
    for pname, grad in grads.items():
        for k in (1, 2):
            assert torch.equal(member(grad, k, 3), torch.zeros_like(member(grad, k, 3))), (pname, k)

"""`gapbench perf` and the plain reference it times gapbench against. Nothing here asserts on speed.

The speed comparison is only meaningful if the reference computes what gapbench computes, so the
reference is checked against gapbench's own update, parameter by parameter; and the command is run
through the console script on a tiny setting to check the shape of what it prints.
"""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest
import torch
from tests.algos_support import ACT_DIM, OBS_DIM, batch_rows, make, to_batch
from tests.cli_support import run_cli

from gapbench.algos.core.critic import CRITIC_LAYOUTS
from gapbench.benchmark.host import cpu_features
from gapbench.benchmark.perf.reference import REFERENCE_METHODS, make_reference, split_rows
from gapbench.benchmark.training.precision import critic_layout


def _linear_weights(sequential) -> list[torch.Tensor]:
    return [m.weight for m in sequential if isinstance(m, torch.nn.Linear)]


SIMPLE_SAC_FAMILY = ("sac", "cql", "darc", "h2o")
FIELD_REFERENCES = ("iql", "td3+bc", "par", "h2o+", "vgdf")


def test_every_reference_is_checked_against_gapbench():
    assert set(REFERENCE_METHODS) == {*SIMPLE_SAC_FAMILY, *FIELD_REFERENCES}


@pytest.mark.parametrize("layout", CRITIC_LAYOUTS)
@pytest.mark.parametrize("name", SIMPLE_SAC_FAMILY)
def test_the_reference_update_is_gapbench_s_update_written_plainly(name, layout):
    """Same initial parameters, same random streams, same batches: after 10 updates every parameter
    agrees to 1e-6 (measured: 1.5e-7; a missing or extra loss term shows up at 1e-4 or more), in
    each critic layout the training loop may pick."""
    agent = make(name, seeds=(5,), critic_layout=layout)
    assert agent.critic.layout == layout
    noise = agent.next_state_noise_factor.numpy() if name == "h2o" else None
    reference = make_reference(name, agent.config, OBS_DIM, ACT_DIM, 5, noise)
    reference.copy_from(agent)
    assert reference.batch_sizes() == agent.batch_sizes()
    gen = np.random.default_rng(0)
    for _ in range(10):
        rows = batch_rows(agent, gen)
        agent.update(*(to_batch(rows[s]) if s in rows else None for s in ("real", "sim")))
        batches = {s: split_rows(torch.as_tensor(r[0]), OBS_DIM, ACT_DIM) for s, r in rows.items()}
        reference.train(batches.get("real"), batches.get("sim"))

    def close(gapbench_weight: torch.Tensor, reference_weight: torch.Tensor, what: str) -> None:
        torch.testing.assert_close(gapbench_weight.T, reference_weight.detach(), rtol=0, atol=1e-6, msg=what)

    for layer, weight in zip(agent.policy.trunk.layers, _linear_weights(reference.policy.base_network), strict=True):
        close(layer.weight[0], weight, "policy")
    for j, (qf, target) in enumerate(((reference.qf1, reference.target_qf1), (reference.qf2, reference.target_qf2))):
        for layer, weight in zip(agent.critic.net.layers, _linear_weights(qf.network), strict=True):
            close(layer.weight[j], weight, f"critic {j}")
        for layer, weight in zip(agent.target_critic.net.layers, _linear_weights(target.network), strict=True):
            close(layer.weight[j], weight, f"target critic {j}")
    torch.testing.assert_close(agent.log_alpha.detach()[0], reference.log_alpha.constant.detach(), rtol=0, atol=1e-6)
    if hasattr(reference, "classifiers"):
        for mlp, net in ((agent.classifiers.pair.d_sa, reference.classifiers.d_sa.network),
                         (agent.classifiers.pair.d_sas, reference.classifiers.d_sas.network)):
            for layer, weight in zip(mlp.layers, _linear_weights(net), strict=True):
                close(layer.weight[0], weight, "classifier")


@pytest.mark.parametrize("name", FIELD_REFERENCES)
def test_the_field_s_reference_updates_are_gapbench_s_written_plainly(name):
    """IQL, TD3+BC, PAR and H2O+: same parameters, streams and batches, 10 updates (5 TD3+BC actor steps,
    3 PAR encoder steps, 4 H2O+ warm-up updates then 6 of H2O+ itself), every parameter and target
    within 1e-6; a short cosine decay, so the IQL reference's schedule is checked too."""
    overrides = {"iql": {"actor_lr_decay_steps": 6}, "h2o+": {"warmup_steps": 4},
                 "vgdf": {"filter_start": 3, "model_update_period": 2}}.get(name, {})  # VGDF filters from update 3
    agent = make(name, seeds=(5,), **overrides)
    moments = (agent.obs_mean.numpy(), agent.obs_std.numpy()) if name == "td3+bc" else None
    reference = make_reference(name, agent.config, OBS_DIM, ACT_DIM, 5, state_moments=moments)
    reference.copy_from(agent)
    assert reference.batch_sizes() == agent.batch_sizes()
    gen = np.random.default_rng(0)
    for _ in range(10):
        rows = batch_rows(agent, gen)
        agent.update(*(to_batch(rows[s]) if s in rows else None for s in ("real", "sim")))
        batches = {s: split_rows(torch.as_tensor(reference.prepare_rows(r[0])), OBS_DIM, ACT_DIM)
                   for s, r in rows.items()}
        reference.train(batches.get("real"), batches.get("sim"))

    def close(mlp, sequential, e: int, what: str) -> None:
        for layer, weight in zip(mlp.layers, _linear_weights(sequential), strict=True):
            torch.testing.assert_close(layer.weight[e].T, weight.detach(), rtol=0, atol=1e-6, msg=what)

    if name == "iql":
        close(agent.policy.trunk, reference.policy.base_network, 0, "policy")
        torch.testing.assert_close(agent.policy.log_std.detach()[0, 0], reference.policy.log_std.detach(),
                                   rtol=0, atol=1e-6)
        close(agent.value.net, reference.vf, 0, "value")
    elif name == "td3+bc":
        close(agent.policy.trunk, reference.actor, 0, "actor")
        close(agent.target_policy.trunk, reference.actor_target, 0, "target actor")
    elif name == "vgdf":
        close(agent.policy.trunk, reference.policy.base_network, 0, "policy")
        close(agent.optimistic_policy.trunk, reference.optimistic_policy.base_network, 0, "optimistic policy")
        for layer, mine in zip(agent.dynamics.net.layers, reference.dynamics.layers, strict=True):
            torch.testing.assert_close(layer.weight[:mine.weight.shape[0]], mine.weight.detach(), rtol=0, atol=1e-6)
    elif name == "h2o+":
        close(agent.policy.trunk, reference.policy.base_network, 0, "policy")
        close(agent.value.net, reference.vf, 0, "value")
        close(agent.classifiers.pair.d_sa, reference.classifiers.d_sa.network, 0, "classifier d_sa")
        close(agent.classifiers.pair.d_sas, reference.classifiers.d_sas.network, 0, "classifier d_sas")
        torch.testing.assert_close(agent.log_alpha.detach()[0], reference.log_alpha.constant.detach(), rtol=0, atol=1e-6)
    else:
        close(agent.policy.trunk, reference.policy.base_network, 0, "policy")
        for mine, theirs in ((agent.encoder, reference.encoder), (agent.target_encoder, reference.encoder_target)):
            close(mine.state, theirs.zs_network, 0, "state encoder")
            close(mine.state_action, theirs.zsa_network, 0, "state-action encoder")
    for j, (qf, target) in enumerate(((reference.qf1, reference.target_qf1), (reference.qf2, reference.target_qf2))):
        close(agent.critic.net, qf.network, j, f"critic {j}")
        close(agent.target_critic.net, target.network, j, f"target critic {j}")


def _table(output: str, title: str) -> list[list[str]]:
    """The rows of a `tabulate` table printed after the line that starts with `title`."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 3:]:  # title, header, dashes
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def test_bf16_perf_times_one_autocast_region_per_update_as_training_runs_them():
    """`gapbench perf --precision bf16` must time the update a bf16 training run makes: each update in
    its own autocast region, as the training loop enters it. Autocast keeps the bf16 copy of a weight
    until its outermost region ends, so one region around many updates (how perf once timed them)
    runs every update after the first on the first update's weights and skips their recasts."""
    from gapbench.benchmark.perf.measure import Workload

    def after_three(precision: str, one_region: bool) -> torch.Tensor:
        work = Workload("sac", data_rows=2000, reference=False, precision=precision)
        with torch.autocast("cpu", dtype=torch.bfloat16) if one_region else contextlib.nullcontext():
            for _ in range(3):
                work.update()
        return torch.cat([p.detach().flatten() for p in work.agent.parameters()])

    per_update = after_three("bf16", one_region=False)
    assert not torch.equal(per_update, after_three("fp32", one_region=False))  # bf16 is on
    assert torch.equal(per_update, after_three("bf16", one_region=False))  # and deterministic
    assert not torch.equal(per_update, after_three("fp32", one_region=True))  # the stale-copy region differs


def test_gapbench_perf_prints_every_section_and_a_target_table(tmp_path):
    out = tmp_path / "perf.json"
    proc = run_cli("perf", "--methods", "sac", "--seconds", "0.2", "--blocks", "2", "--population", "1,2",
                   "--dataset-size", "3000", "--sim-buffer", "2000", "--json", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for section in ("1. update speed", "2. population", "3. local executor", "4. data and memory", "targets"):
        assert section in text, section
    speed = _table(text, "1. update speed")
    assert [row[0] for row in speed] == ["sac"] and len(speed[0]) == 5
    assert re.fullmatch(r"[\d.]+x \[[\d.]+x-[\d.]+x\]", speed[0][3])  # the ratio, median [min-max]

    targets = _table(text, "targets")
    measures = [row[0] for row in targets]
    assert all(row[-1] in ("PASS", "FAIL", "n/a") for row in targets), targets
    assert measures[:2] == ["sac update vs plain reference", "sac population K=1 vs plain reference"]
    assert any(m.startswith("local executor") for m in measures)
    # not full size, so the load and memory rows are reported without a verdict
    assert [row[-1] for row in targets if row[0].startswith(("dataset load", "peak RSS"))] == ["n/a", "n/a"]
    import json

    raw = json.loads(out.read_text())
    assert set(raw["updates"]) == {"sac"} and len(raw["updates"]["sac"]["ratio"]) == 2
    assert raw["memory"]["dataset_rows"] > 0 and raw["memory"]["peak_gib"] > 0
    # the layout the training loop would pick here, named where a reader compares CPUs
    expected = critic_layout("fp32", "cpu", cpu_features()["flags"])
    assert raw["critic_layout"] == expected and f"critic layout {expected}," in text.splitlines()[0]


def test_gapbench_perf_rejects_unknown_methods_and_sections():
    proc = run_cli("perf", "--methods", "sac,ppo")
    assert proc.returncode == 2 and "ppo" in proc.stderr and "sac, cql, darc, h2o, iql, td3+bc, par" in proc.stderr
    proc = run_cli("perf", "--skip", "gpu")
    assert proc.returncode == 2 and "gpu" in proc.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", REFERENCE_METHODS)
def test_updates_run_on_cuda_with_every_tensor_there(name):
    """The GPU path: agent, batches and reference all on the device; nothing falls back to the CPU."""
    from gapbench.benchmark.perf.measure import Workload

    work = Workload(name, population=3, device="cuda", data_rows=5000)
    for _ in range(3):
        work.update()
    work.reference_update()
    torch.cuda.synchronize()
    assert all(p.is_cuda for p in work.agent.parameters())
    assert all(torch.isfinite(p).all() for p in work.agent.parameters())

"""Helpers shared by the tests of `algos/`: tiny agents, synthetic batches, member slices.

Everything is small on purpose (3-d states, 2-d actions, 16-unit layers) so that hundreds of
updates of every method run in seconds on a CPU, while the arithmetic is the full-size one.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import torch

from gapbench import algos
from gapbench.algos import AgentSpec, Batch, Layout, RealDataStats
from gapbench.algos.core.nets import MLP

OBS_DIM, ACT_DIM = 3, 2
LAYOUT = Layout(OBS_DIM, ACT_DIM)
METHOD_NAMES = [m.name for m in algos.methods()]
H2O_FAMILY = [m.name for m in algos.methods() if m.agent is algos.get_method("h2o").agent]

# Small values for whichever of these fields a method's config has.
_TINY = {"hidden": (16, 16), "batch_size": 6, "real_batch_size": 5, "sim_batch_size": 7,
         "classifier_batch_size": 4, "n_actions": 3, "n_next_state_samples": 4,
         "encoder_hidden": (16, 16), "encoder_dim": 8, "encoder_batch_size": 4, "encoder_update_period": 3,
         "model_hidden": (16, 16), "model_weight_decay": (2.5e-5, 5e-5, 1e-4), "model_batch_size": 4}


def real_observations(n: int = 400, seed: int = 123) -> np.ndarray:
    """States of a made-up real dataset, correlated and off-centre so that mean, std and
    covariance all matter to the H2O next-state perturbation."""
    rng = np.random.default_rng(seed)
    mix = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.3, 0.2, 0.5]])
    return (rng.normal(size=(n, OBS_DIM)) @ mix + np.array([2.0, -1.0, 0.5])).astype(np.float32)


def spec(seeds=(0,), obs_dim: int = OBS_DIM, act_dim: int = ACT_DIM, observations=None,
         critic_layout: str = "split") -> AgentSpec:
    obs = real_observations() if observations is None else observations
    return AgentSpec(obs_dim=obs_dim, act_dim=act_dim, seeds=list(seeds), real_stats=RealDataStats.of(obs),
                     critic_layout=critic_layout)


def tiny_overrides(name: str, **extra) -> dict:
    fields = {f.name for f in dataclasses.fields(algos.get_method(name).agent.Config)}
    return {**{k: v for k, v in _TINY.items() if k in fields}, **extra}


def make(name: str, seeds=(0,), critic_layout: str = "split", **overrides):
    """A registered method (its ablation switches included) with a tiny config."""
    return algos.get_method(name).make(spec(seeds, critic_layout=critic_layout), tiny_overrides(name, **overrides))


def transitions(rng: np.random.Generator, k: int, b: int, domain: str) -> np.ndarray:
    """Packed rows [k, b, width]; the simulator's next states are shifted, so classifiers can tell."""
    s = rng.normal(size=(k, b, OBS_DIM)) + np.array([2.0, -1.0, 0.5])
    a = np.tanh(rng.normal(size=(k, b, ACT_DIM)))
    s_next = s + 0.1 * np.concatenate([a, a[..., :1]], -1)[..., :OBS_DIM] + 0.05 * rng.normal(size=s.shape)
    if domain == "sim":
        s_next = s_next + 0.3
    r = -np.square(a).sum(-1) + s_next[..., 0]
    done = rng.random((k, b)) < 0.1
    return LAYOUT.pack(s, a, r, s_next, done)


def to_batch(rows: np.ndarray) -> Batch:
    return Batch.unpack(torch.as_tensor(np.ascontiguousarray(rows)), LAYOUT)


def batch_rows(agent, rng: np.random.Generator, k: int | None = None) -> dict[str, np.ndarray]:
    """One update's rows for each source the agent uses, as numpy [K, B, width]."""
    k = agent.spec.population if k is None else k
    return {source: transitions(rng, k, size, source) for source, size in agent.batch_sizes().items()}


def feed(agent, rows: dict[str, np.ndarray]):
    """Call `update` with Batches built from packed rows (None for an unused source)."""
    real, sim = rows.get("real"), rows.get("sim")
    return agent.update(None if real is None else to_batch(real), None if sim is None else to_batch(sim))


def member(tensor: torch.Tensor, k: int, members: int) -> torch.Tensor:
    """Member k's slice of any population tensor (leading axis K, or K*copies for the twin critic)."""
    return tensor.detach().reshape(members, -1)[k]


def parameters(agent) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in agent.named_parameters()}


def round_trip(state):
    """Through bytes, as a checkpoint file would be: no tensor can alias the live agent."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer)


def set_affine_logits(mlp: MLP, k: int, weight: np.ndarray, bias: np.ndarray) -> None:
    """Make member k's ReLU MLP compute exactly ``x @ weight + bias`` (weight [in, 2]).

    The first layer writes +z and -z for each output, the middle layers copy them, and the last
    layer adds relu(z) - relu(-z) = z: a hand-set classifier whose logits have a closed form.
    """
    w = torch.as_tensor(weight, dtype=torch.float32)
    first, *middle, last = mlp.layers
    with torch.no_grad():
        for layer in mlp.layers:
            layer.weight[k].zero_()
            layer.bias[k].zero_()
        for j in range(2):
            first.weight[k][:, 2 * j] = w[:, j]
            first.weight[k][:, 2 * j + 1] = -w[:, j]
        for layer in middle:
            for i in range(4):
                layer.weight[k][i, i] = 1.0
        for j in range(2):
            last.weight[k][2 * j, j] = 1.0
            last.weight[k][2 * j + 1, j] = -1.0
        last.bias[k][0] = torch.as_tensor(bias, dtype=torch.float32)

"""Networks with a leading member axis: one tensor holds the weights of every population member.

A layer computes ``x @ W + b`` for all members with one ``baddbmm``. That is the same arithmetic
as a plain ``nn.Linear`` per member, so K=1 costs what a one-seed network costs; ``torch.func.vmap``
was measured 25% slower at K=1 on this CPU (reference/perf-cpu.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from gapbench.algos.core.rng import PopulationRNG


class BatchedLinear(nn.Module):
    """E independent linear layers: x [E, N, in] -> [E, N, out]."""

    def __init__(self, members: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(members, 1, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members, _, out_features = self.weight.shape
        if out_features == 1 and members > 1:
            # A Q-value head. A batched GEMM with one output column runs at about 1 GFLOP/s on CPU:
            # its forward is 4x slower than this row-wise dot product (docs/performance.md).
            weight = self.weight.transpose(1, 2)
            if x.dtype != weight.dtype:
                # Under bf16 autocast: the weight in x's dtype, as autocast gives every GEMM, so that
                # the [E, N, in] products stay bf16 rather than being promoted to an fp32 copy (half
                # the memory traffic, forward and backward); the sum, and so Q, stays fp32.
                weight = weight.to(x.dtype)
            return (x * weight).sum(-1, keepdim=True, dtype=self.bias.dtype) + self.bias
        return torch.baddbmm(self.bias, x, self.weight)

    def init_member(self, e: int, generator: torch.Generator, last_layer_gain: float | None) -> None:
        """PyTorch's nn.Linear default, or (for an output layer) the authors' small Xavier init.

        The values are drawn on the generator's device and copied, so a module still on the CPU can
        be initialised from a CUDA run's streams.
        """
        fan_in, fan_out = self.weight.shape[1:]

        def uniform(shape, bound: float) -> torch.Tensor:
            return torch.empty(shape, device=generator.device).uniform_(-bound, bound, generator=generator)

        with torch.no_grad():
            if last_layer_gain is None:
                bound = 1.0 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) reduces to this
                self.weight[e].copy_(uniform(self.weight[e].shape, bound))
                self.bias[e].copy_(uniform(self.bias[e].shape, bound))
            else:
                bound = last_layer_gain * math.sqrt(6.0 / (fan_in + fan_out))
                self.weight[e].copy_(uniform(self.weight[e].shape, bound))
                self.bias[e].zero_()


_ACTIVATIONS = {"relu": torch.relu_, "elu": torch.nn.functional.elu_,
                "swish": lambda x: torch.nn.functional.silu(x, inplace=True)}  # x * sigmoid(x), MBPO's dynamics


class MLP(nn.Module):
    """ReLU (or ELU, or Swish) MLP over E members. ``copies`` networks per population member share its RNG stream."""

    def __init__(self, members: int, sizes: Sequence[int], copies: int = 1, activation: str = "relu"):
        super().__init__()
        self.members, self.copies = members, copies
        self.activation = _ACTIVATIONS[activation]
        self.layers = nn.ModuleList(
            BatchedLinear(members * copies, i, o) for i, o in zip(sizes[:-1], sizes[1:])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after_first_layer(self.layers[0](x))

    def after_first_layer(self, h: torch.Tensor) -> torch.Tensor:
        """The rest of the network, from the first layer's output (before its activation; overwritten).

        The activations run in place on each layer's fresh output: one activation buffer less to fill
        per layer, which matters when the activations do not fit in the CPU's cache.
        """
        for layer in self.layers[1:]:
            h = layer(self.activation(h))
        return h

    def initialise(self, rng: PopulationRNG, last_layer_gain: float | None = None) -> None:
        """Member k's copies are initialised in order from member k's own stream."""
        for e in range(self.members * self.copies):
            generator = rng.generators[e // self.copies]
            for i, layer in enumerate(self.layers):
                gain = last_layer_gain if i == len(self.layers) - 1 else None
                layer.init_member(e, generator, gain)


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Compute through a module without building gradients for its parameters.

    Used for the critic inside the actor loss: the actor still gets d(Q)/d(action), but the
    backward pass skips the critic's weight gradients, which the actor loss must not touch.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)

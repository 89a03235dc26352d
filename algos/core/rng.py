"""One random stream per population member.

Member k's stream is seeded from its own seed only, so a seed gives the same run whether it
trains alone (K=1, one process per seed on a CPU) or inside a population (K>1 on a GPU), and
whatever its position in the population.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for a named stream of a run seed (e.g. 'agent', 'replay', 'rollout')."""
    digest = hashlib.sha256(f"{int(seed)}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class PopulationRNG:
    def __init__(self, seeds: Sequence[int], stream: str, device: torch.device | str = "cpu"):
        self.seeds = [int(s) for s in seeds]
        self.device = torch.device(device)
        self.generators = []
        for seed in self.seeds:
            g = torch.Generator(device=self.device)
            g.manual_seed(derive_seed(seed, stream))
            self.generators.append(g)

    def __len__(self) -> int:
        return len(self.generators)

    def _stack(self, draw) -> torch.Tensor:
        if len(self.generators) == 1:
            return draw(self.generators[0]).unsqueeze(0)
        return torch.stack([draw(g) for g in self.generators])

    def normal(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Standard normal noise of shape [K, *shape]."""
        return self._stack(lambda g: torch.randn(shape, generator=g, device=self.device, dtype=dtype))

    def uniform(self, *shape: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        return self._stack(lambda g: torch.empty(shape, device=self.device).uniform_(low, high, generator=g))

    def integers(self, high: int | Sequence[int], *shape: int) -> torch.Tensor:
        """Uniform integers in [0, high) of shape [K, *shape]; `high` may differ per member."""
        highs = [int(high)] * len(self.generators) if isinstance(high, int) else [int(h) for h in high]
        draws = [torch.randint(h, shape, generator=g, device=self.device) for g, h in zip(self.generators, highs)]
        return draws[0].unsqueeze(0) if len(draws) == 1 else torch.stack(draws)

    def state(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self.generators]

    def set_state(self, states: list[torch.Tensor]) -> None:
        for g, s in zip(self.generators, states):
            g.set_state(s)

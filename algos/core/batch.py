"""Batches and replay storage: one packed tensor per store, one gather per batch.

A row packs (s, a, r, s', done) into one float vector, so a batch of B rows for each of K
members is a single indexed gather. Fields are then views of that gather, never copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gapbench.algos.core.rng import PopulationRNG


@dataclass(frozen=True)
class Layout:
    obs_dim: int
    act_dim: int

    @property
    def width(self) -> int:
        return 2 * self.obs_dim + self.act_dim + 2

    def pack(self, obs, act, rew, next_obs, done) -> np.ndarray:
        """Rows [..., width] from numpy arrays with matching leading shapes."""
        return np.concatenate(
            [obs, act, np.asarray(rew)[..., None], next_obs, np.asarray(done, np.float32)[..., None]], axis=-1
        ).astype(np.float32, copy=False)  # a 2M-row dataset is 336 MB: never hold it twice


@dataclass(frozen=True)
class Batch:
    """Views of a packed [K, B, width] tensor."""

    obs: torch.Tensor  # [K, B, obs_dim]
    act: torch.Tensor  # [K, B, act_dim]
    rew: torch.Tensor  # [K, B]
    next_obs: torch.Tensor  # [K, B, obs_dim]
    done: torch.Tensor  # [K, B], 1.0 where the episode truly ended (no bootstrap)

    @staticmethod
    def unpack(rows: torch.Tensor, layout: Layout) -> Batch:
        o, a = layout.obs_dim, layout.act_dim
        return Batch(
            obs=rows[..., :o],
            act=rows[..., o : o + a],
            rew=rows[..., o + a],
            next_obs=rows[..., o + a + 1 : 2 * o + a + 1],
            done=rows[..., -1],
        )

    def __len__(self) -> int:
        return self.rew.shape[-1]

    def slice(self, start: int, stop: int) -> Batch:
        """Rows [start, stop) of every member, as views."""
        return Batch(self.obs[:, start:stop], self.act[:, start:stop], self.rew[:, start:stop],
                     self.next_obs[:, start:stop], self.done[:, start:stop])

    def split(self, rows: int) -> tuple[Batch, Batch]:
        """(the first `rows` rows, the rest) of every member, as views."""
        return self.slice(0, rows), self.slice(rows, len(self))

    def transitions(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.obs, self.act, self.next_obs

    @staticmethod
    def cat(first: Batch, second: Batch) -> Batch:
        return Batch(*(torch.cat([x, y], dim=1) for x, y in zip(
            (first.obs, first.act, first.rew, first.next_obs, first.done),
            (second.obs, second.act, second.rew, second.next_obs, second.done))))


class FixedDataset:
    """The real dataset, shared by all members; each member draws its own indices."""

    def __init__(self, rows: np.ndarray, layout: Layout, device: torch.device | str):
        self.layout = layout
        self.rows = torch.as_tensor(rows, device=device)

    def __len__(self) -> int:
        return len(self.rows)

    def sample(self, rng: PopulationRNG, batch_size: int) -> Batch:
        index = rng.integers(len(self.rows), batch_size)  # [K, B]
        rows = self.rows.index_select(0, index.flatten())  # whole-row copies: faster than rows[index]
        return Batch.unpack(rows.view(*index.shape, -1), self.layout)


class ReplayBuffer:
    """A FIFO of simulator transitions, one slice per member, filled in lockstep."""

    def __init__(self, members: int, capacity: int, layout: Layout, device: torch.device | str):
        self.layout, self.capacity = layout, capacity
        self.rows = torch.zeros(members, capacity, layout.width, device=device)
        self.first_row = torch.arange(members, device=device).unsqueeze(1) * capacity  # of each member, flat
        self.position = 0  # next row to write
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, rows: np.ndarray | torch.Tensor) -> None:
        """One new row per member: rows [K, width]."""
        self.rows[:, self.position] = torch.as_tensor(rows, device=self.rows.device)
        self.position = (self.position + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: PopulationRNG, batch_size: int) -> Batch:
        index = rng.integers(self.size, batch_size)  # [K, B]
        # one gather of whole rows from the flat [K * capacity, width] view, member k's rows at k * capacity
        rows = self.rows.view(-1, self.layout.width).index_select(0, (index + self.first_row).flatten())
        return Batch.unpack(rows.view(*index.shape, -1), self.layout)

    def state_dict(self) -> dict:
        return {"rows": self.rows[:, : self.size].clone(), "position": self.position, "size": self.size}

    def load_state_dict(self, state: dict) -> None:
        self.size, self.position = state["size"], state["position"]
        self.rows[:, : self.size] = state["rows"]

"""The numeric precision of an update: the one autocast region that training and `gapbench perf` share."""

from __future__ import annotations

import contextlib
from typing import Literal

import torch

Precision = Literal["fp32", "bf16"]


def update_region(precision: Precision, device: str) -> contextlib.AbstractContextManager:
    """The context one update runs in: bf16 autocast, or nothing for fp32.

    Enter a fresh region for every update, never one around many: autocast caches the bf16 copy of
    each weight until its outermost region ends, so a region spanning several optimiser steps would
    update with stale bf16 weights.
    """
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    if precision == "fp32":
        return contextlib.nullcontext()
    raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")

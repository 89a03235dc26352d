"""The numeric precision of an update: the one autocast region that training and `gapbench perf` share,
and the critic layout that is fastest at that precision on this CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Literal

import torch

from gapbench.algos.core.critic import CriticLayout
from gapbench.benchmark.host import cpu_features

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


def critic_layout(precision: Precision, device: str, cpu_flags: Sequence[str]) -> CriticLayout:
    """The faster TwinQ layout for this update (both give the same numbers to fp32 rounding).

    Measured with CQL, the one method that scores several actions per state (docs/performance.md,
    "The critic's layout"): repeating each state beside its actions is faster in bf16 on the AMD
    EPYC with AVX512_BF16 and on the Intel Xeon, and in fp32 on the Intel Xeon (AMX, the flag that
    tells it from the EPYCs); in fp32 on the EPYC with AVX-512 the two tie, and "split" stays, the layout
    every committed fp32 run used. On the first EPYC (AVX2 only) "repeat" is 5-7% faster in fp32, but
    "split" already passes its target there (1.05x the reference) and keeps the committed fp32 runs
    made on that CPU (CI's) reproducible bit for bit, so it stays; that CPU emulates bf16, which it
    should not run. On CUDA "split" was the one measured.
    """
    if torch.device(device).type == "cpu" and (precision == "bf16" or "amx_tile" in cpu_flags):
        return "repeat"
    return "split"


def critic_layout_here(precision: Precision, device: str) -> CriticLayout:
    """`critic_layout` for this machine's CPU: the one call the training loop and `gapbench perf` share."""
    return critic_layout(precision, device, cpu_features()["flags"])

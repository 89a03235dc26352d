"""The machine's part in a run's numbers: the CPU's model and the instruction sets that change its
floating point.

Two CPUs with the same model name ("AMD EPYC") can differ in AVX-512 and native bf16, and torch picks
its kernels, hence its rounding, by them. So a run records which of these flags its CPU had and which
kernels torch dispatched to, and results from different CPU kinds can be told apart afterwards.
"""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path

import torch

# The flags (as /proc/cpuinfo spells them) that decide torch's CPU kernels and bf16's speed.
NUMERIC_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def _cpuinfo() -> list[str]:
    with contextlib.suppress(OSError):
        return Path("/proc/cpuinfo").read_text().splitlines()
    return []


def cpu_model() -> str:
    for line in _cpuinfo():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_features() -> dict[str, object]:
    """{"flags": the NUMERIC_FLAGS the CPU has, "torch": the kernel set torch dispatches to}.

    "flags" is empty where /proc/cpuinfo cannot be read (not Linux); "torch" is always known.
    """
    flags: set[str] = set()
    for line in _cpuinfo():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return {"flags": [f for f in NUMERIC_FLAGS if f in flags], "torch": torch.backends.cpu.get_cpu_capability()}


def native_bf16(features: dict[str, object]) -> str | None:
    """The instructions that compute bf16 products natively (fp32 accumulation) on this CPU, if any:
    "AMX" (tiles), "AVX512_BF16" (dot products), or None, where oneDNN emulates bf16 at about a
    tenth of fp32's speed (docs/performance.md)."""
    flags = features["flags"]
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX512_BF16"
    return None


def cpu_text() -> str:
    """One line for a report: 'AMD EPYC (avx2 fma avx512f avx512_bf16; torch AVX512)'."""
    features = cpu_features()
    return f"{cpu_model()} ({' '.join(features['flags']) or 'flags unknown'}; torch {features['torch']})"

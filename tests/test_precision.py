"""The update region shared by training and `gapbench perf`."""

import pytest
import torch

from gapbench.benchmark.training.precision import critic_layout, update_region


def test_bf16_region_autocasts_a_matmul_and_fp32_leaves_it_alone():
    x, w = torch.randn(4, 8), torch.randn(8, 3)
    with update_region("bf16", "cpu"):
        assert (x @ w).dtype == torch.bfloat16
    with update_region("fp32", "cpu"):
        assert (x @ w).dtype == torch.float32
    assert (x @ w).dtype == torch.float32  # nothing leaks out of the region


def test_an_unknown_precision_is_refused_by_name():
    with pytest.raises(ValueError, match="precision must be 'fp32' or 'bf16', got 'fp16'"):
        update_region("fp16", "cpu")


@pytest.mark.parametrize(("precision", "device", "flags", "expected"), [
    ("fp32", "cpu", ["avx2", "fma"], "split"),  # the CI's AMD EPYC: every committed fp32 run's layout
    ("fp32", "cpu", [], "split"),  # flags unknown (not Linux)
    ("fp32", "cpu", ["avx2", "fma", "avx512f", "avx512_bf16"], "split"),  # the AMD EPYC with AVX-512
    ("fp32", "cpu", ["avx512f", "avx512_bf16", "amx_tile", "amx_bf16"], "repeat"),  # the Intel Xeon
    ("bf16", "cpu", [], "repeat"),
    ("bf16", "cpu", ["avx512f", "avx512_bf16"], "repeat"),
    ("bf16", "cuda", ["amx_tile"], "split"),  # the GPU's layout does not follow the host's CPU
    ("fp32", "cuda:0", ["amx_tile"], "split"),
])
def test_the_critic_layout_follows_the_measurements(precision, device, flags, expected):
    assert critic_layout(precision, device, flags) == expected


def _unit(label: str, train: dict):
    from gapbench.benchmark.sweep.executors import Unit

    return Unit(label, {"config": {"train": train}}, 10, [0])


@pytest.mark.parametrize(("flags", "warned"), [
    (["avx2", "fma"], ["bf16 cpu", "bf16 default device"]),  # the AMD EPYC without AVX-512: emulated
    ([], ["bf16 cpu", "bf16 default device"]),  # flags unknown: no native bf16 known either
    (["avx2", "avx512f", "avx512_bf16"], []),  # the AMD EPYC with AVX512_BF16
    (["avx512f", "avx512_bf16", "amx_tile", "amx_bf16"], []),  # the Intel Xeon
])
def test_a_sweep_flags_bf16_units_only_where_the_cpu_emulates_bf16_and_the_unit_runs_on_it(flags, warned):
    from gapbench.benchmark.sweep.runner import emulated_bf16

    units = [_unit("bf16 cpu", {"precision": "bf16", "device": "cpu"}),
             _unit("bf16 default device", {"precision": "bf16"}),
             _unit("bf16 cuda", {"precision": "bf16", "device": "cuda:0"}),
             _unit("fp32", {"precision": "fp32"}),
             _unit("default precision", {})]
    assert emulated_bf16(units, {"flags": flags, "torch": "AVX2"}) == warned

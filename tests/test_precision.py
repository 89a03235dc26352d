"""The update region shared by training and `gapbench perf`."""

import pytest
import torch

from gapbench.benchmark.training.precision import update_region


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

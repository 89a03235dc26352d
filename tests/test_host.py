"""A run records its CPU's numeric features, so results from different CPU kinds can be told apart."""

import json
from pathlib import Path

import pytest
import torch

from gapbench.benchmark.host import NUMERIC_FLAGS, cpu_features


def _flags_by_hand() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.split(":")[0].strip() == "flags":
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads /proc/cpuinfo (Linux)")
def test_features_are_the_numeric_flags_of_proc_cpuinfo_and_torchs_kernel_set():
    features = cpu_features()
    assert set(features["flags"]) == _flags_by_hand() & set(NUMERIC_FLAGS)
    assert features["torch"] == torch.backends.cpu.get_cpu_capability()


def test_every_run_of_a_sweep_records_its_cpu_features(results_store):
    runs = [p for p in (results_store / "runs").iterdir() if (p / "run.json").exists()]
    assert runs
    for run in runs:
        host = json.loads((run / "run.json").read_text())["host"]
        assert host["cpu_features"] == cpu_features(), run

"""Two `gapbench run` started at the same moment on one store never train a seed twice: same grid,
overlapping grids, different populations, different per-process settings (device or threads,
which are not part of a run's identity). Real processes, five trials."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.cli_support import GAPBENCH, TINY_TRAIN

SAC = ["run", "--methods", "sac", "--gaps", "gravity:2.0", "--steps", "50", *TINY_TRAIN]


def other_device() -> list[str]:
    """A second device where there is one; else a setting that, like the device, is not in the identity."""
    import torch

    return ["--with", "device=cuda"] if torch.cuda.is_available() else ["--with", "torch_threads=2"]


TRIALS = {
    "same grid": (["--seeds", "0,1"], ["--seeds", "0,1"]),
    "same grid again": (["--seeds", "0,1,2"], ["--seeds", "0,1,2"]),
    "overlapping grids": (["--seeds", "0,1"], ["--seeds", "1,2"]),
    "different populations": (["--seeds", "0,1", "--population", "2"], ["--seeds", "0,1", "--population", "1"]),
    "different devices": (["--seeds", "0,1"], ["--seeds", "0,1", *other_device()]),
}


def counted_seeds(results: Path) -> Counter:
    seeds = Counter()
    for folder in (results / "runs").iterdir():
        if folder.name.isdigit():
            run = json.loads((folder / "run.json").read_text())
            if run["status"] == "COMPLETED":
                seeds.update(run["result"]["seeds"])
    return seeds


@pytest.mark.slow
@pytest.mark.parametrize("trial", TRIALS)
def test_two_sweeps_started_together_train_each_seed_once(tmp_path, trial):
    results = tmp_path / "results"
    procs = [subprocess.Popen([GAPBENCH, *SAC, *args, "--workers", "2", "--results", str(results)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for args in TRIALS[trial]]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    wanted = {int(s) for args in TRIALS[trial] for s in args[1].split(",")}
    seeds = counted_seeds(results)
    assert set(seeds) == wanted and set(seeds.values()) == {1}, (seeds, outputs)

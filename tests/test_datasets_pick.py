"""The medium pick (recipe v3): the first probe past the level stands within D4RL's medium spread;
a jump further past it gives way to the probe before, when that one is nearer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gapbench import envs
from gapbench.benchmark.data import generation
from gapbench.benchmark.data.generation import Probe, pick_medium
from gapbench.envs.d4rl_file import read_d4rl_arrays
from tests.cli_support import run_cli

SIZE, BUDGET = 1200, 3000
TAG = f"v3-n{SIZE}-b{BUDGET}-s0-m40"


@pytest.mark.parametrize("before, past, target, tolerance, expected", [
    # hopper's first full-size generation (results/reference/datasets/README.md): 1323 at 280k, then
    # 3018 at 285k against 1421.5; D4RL's hopper-medium spread is 378.95: 1596.5 over, 98.5 under.
    (Probe(280_000, 1323.0), Probe(285_000, 3018.0), 1421.5, 378.95, 280_000),
    # HalfCheetah's: 4670 at 80k, 4754 at 85k against 4685.9; 68.1 over is within its spread 355.75.
    (Probe(80_000, 4670.0), Probe(85_000, 4754.0), 4685.9, 355.75, 85_000),
    # Past the spread, but the probe before is further under than the jump is over: the jump stands.
    (Probe(5, 0.0), Probe(10, 1500.0), 1000.0, 100.0, 10),
    # An exact tie keeps the first probe past the level, D4RL's early stop.
    (Probe(5, 900.0), Probe(10, 1100.0), 1000.0, 0.0, 10),
    # No spread (no published figure): the nearer probe, always.
    (Probe(5, 990.0), Probe(10, 1020.0), 1000.0, 0.0, 5),
    # The very first probe past the level has no probe before it.
    (None, Probe(10, 5000.0), 1000.0, 0.0, 10),
])
def test_pick_medium_by_hand(before, past, target, tolerance, expected):
    assert pick_medium(before, past, target, tolerance).step == expected


def _arrays(cache, kind):
    return read_d4rl_arrays(cache / "datasets" / f"halfcheetah-{kind}-{TAG}.hdf5")


def _scripted_probes(monkeypatch, returns: dict[int, float], tolerance: float):
    """The probe of update k returns returns[k] (its rollouts still run, on the real policy); the
    target is 100 and D4RL's spread `tolerance`. Everything else is the real generation."""
    spec = envs.get_task("halfcheetah")
    monkeypatch.setattr(type(spec), "return_of_score", lambda self, score: 100.0)
    monkeypatch.setattr(envs, "get_task", lambda task: dataclasses.replace(spec, d4rl_medium_return_std=tolerance))
    real = generation.probe_return

    def scripted(agent, task, recipe, step):
        real(agent, task, recipe, step)  # the probe's rollouts run as they would
        return returns[step]

    monkeypatch.setattr(generation, "probe_return", scripted)


@pytest.mark.slow
def test_a_jump_far_past_the_level_writes_the_previous_policys_data_even_across_a_resume(tmp_path, monkeypatch):
    """Update 1000 probes 90 and update 2000 probes 500, against 100 with a spread of 50: the medium
    policy is update 1000's. Its files must be those of a generation whose pick is update 1000 itself,
    although the generation was killed after its 1000 checkpoint and resumed, and picked at 2000."""
    recipe = generation.Recipe(size=SIZE, budget=BUDGET)
    monkeypatch.setattr(generation, "CHECKPOINT_EVERY", 1000)
    with monkeypatch.context() as patch:  # a: the first probe (update 1000) reaches the level
        patch.setenv("GAPBENCH_DATA", str(tmp_path / "a"))
        _scripted_probes(patch, {1000: 120.0, 2000: 130.0, 3000: 140.0}, tolerance=50.0)
        generation.generate("halfcheetah", recipe, until_medium=True)

    monkeypatch.setenv("GAPBENCH_DATA", str(tmp_path / "b"))
    _scripted_probes(monkeypatch, {1000: 90.0, 2000: 500.0, 3000: 510.0}, tolerance=50.0)
    work = generation.work_dir("halfcheetah", recipe)

    class Killed(Exception):
        pass

    def kill_after_the_first_checkpoint(step, total, *returns):
        if (work / "checkpoint.pt").is_file():
            raise Killed

    with pytest.raises(Killed):
        generation.generate("halfcheetah", recipe, progress=kill_after_the_first_checkpoint, until_medium=True)
    assert (work / "below-target.pt").is_file()
    generation.generate("halfcheetah", recipe, until_medium=True)  # resumed: picks at update 2000

    for kind in ("medium", "medium-replay"):
        a, b = _arrays(tmp_path / "a", kind), _arrays(tmp_path / "b", kind)
        for key in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts"):
            np.testing.assert_array_equal(b[key], a[key], err_msg=f"{kind} {key}")
        meta = b["metadata"]
        assert (meta["medium_update"], meta["medium_probe_return"]) == (1000, 90.0)
        assert (meta["medium_first_past_update"], meta["medium_first_past_return"]) == (2000, 500.0)
    assert len(_arrays(tmp_path / "b", "medium-replay")["rewards"]) == 1000  # the buffer up to update 1000

    table = run_cli("datasets", "table", "--size", str(SIZE), "--budget", str(BUDGET),
                    env={"GAPBENCH_DATA": str(tmp_path / "b")}, check=True).stdout
    assert ("medium policy: SAC update 1,000, its data returned 90 against the target 100 (the first probe past "
            "the target, at update 2,000, returned 500") in table, table

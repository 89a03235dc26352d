"""`datasets make --force` takes the generation locks, so it never writes over a sweep that is
generating the same recipe: while another process holds them it waits, writing nothing."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.cli_support import GAPBENCH

SIZE, BUDGET = 1000, 200


def lock_paths() -> list[Path]:
    from gapbench import envs
    from gapbench.benchmark.data.generation import Recipe

    tag = Recipe(size=SIZE, budget=BUDGET, seed=0).for_task("halfcheetah").tag
    return [p.with_name(p.name + ".lock") for p in (envs.generated_path("halfcheetah", k, tag)
                                                    for k in envs.GENERATED_KINDS)]


def datasets(locks: list[Path]) -> list[Path]:
    return [lock.with_name(lock.name.removesuffix(".lock")) for lock in locks]


def waits_on(pid: int, paths: list[Path]) -> bool:
    """True once the process has one of the lock files open (it then blocks in flock on it)."""
    targets = {str(p) for p in paths}
    try:
        return any(os.readlink(fd) in targets for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


@pytest.mark.slow
def test_datasets_make_force_waits_for_a_generation_in_progress(tmp_path, monkeypatch):
    # A cache of its own: the session's shared one may already hold this small recipe's files.
    monkeypatch.setenv("GAPBENCH_DATA", str(tmp_path / "cache"))
    paths = lock_paths()
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        for path in paths:  # what a sweep generating this recipe holds
            fcntl.flock(held.enter_context(open(path, "w")), fcntl.LOCK_EX)
        proc = subprocess.Popen([GAPBENCH, "datasets", "make", "--size", str(SIZE), "--budget", str(BUDGET), "--force"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 300
        while not waits_on(proc.pid, paths) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(2)
        assert proc.poll() is None, proc.stdout.read()
        assert not any(dataset.is_file() for dataset in datasets(paths)), "written while the locks were held"
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out
    assert all(dataset.is_file() for dataset in datasets(paths))

"""`gapbench datasets make --resume-from DIR`: a generation goes on from a copy of its work folder,
as the committed one under results/reference/datasets/generation/ is used on a fresh machine."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch

from gapbench import envs
from gapbench.benchmark.data import generation
from tests.cli_support import run_cli

SIZE, BUDGET = 1200, 2000
TAG = f"v3-n{SIZE}-b{BUDGET}-s0-m40"


class _Stop(Exception):
    pass


def _files(cache) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for path in sorted((cache / "datasets").glob("*.hdf5")):
        with h5py.File(path) as f:
            out[path.name] = {k: f[k][:] for k in ("observations", "actions", "rewards", "terminals", "timeouts")}
    return out


@pytest.mark.slow
def test_a_generation_resumed_from_a_copied_work_folder_writes_what_an_uninterrupted_one_does(tmp_path, monkeypatch):
    recipe = generation.Recipe(size=SIZE, budget=BUDGET)
    # 1. A generation killed after its first checkpoint (at update 1000), in one cache.
    monkeypatch.setenv("GAPBENCH_DATA", str(tmp_path / "first"))
    monkeypatch.setattr(generation, "CHECKPOINT_EVERY", 1000)
    work = generation.work_dir("halfcheetah", recipe)

    def stop_once_checkpointed(step, total, *returns):
        if (work / "checkpoint.pt").is_file():
            raise _Stop

    with pytest.raises(_Stop):
        generation.generate("halfcheetah", recipe, progress=stop_once_checkpointed)
    assert torch.load(work / "checkpoint.pt", weights_only=True)["step"] == 1000
    copy = tmp_path / "committed" / work.name
    shutil.copytree(work, copy)

    # 2. A fresh machine's cache resumes from the copy through the CLI; a third generates straight.
    resumed = run_cli("datasets", "make", "--size", str(SIZE), "--budget", str(BUDGET), "--resume-from", str(copy),
                      env={"GAPBENCH_DATA": str(tmp_path / "fresh")}, check=True)
    assert "resuming the generation from SAC update 1000" in resumed.stdout
    run_cli("datasets", "make", "--size", str(SIZE), "--budget", str(BUDGET),
            env={"GAPBENCH_DATA": str(tmp_path / "straight")}, check=True)
    fresh, straight = _files(tmp_path / "fresh"), _files(tmp_path / "straight")
    assert sorted(fresh) == sorted(f"halfcheetah-{k}-{TAG}.hdf5" for k in ("medium", "medium-replay", "expert",
                                                                           "medium-expert"))
    for name in straight:
        for key in straight[name]:
            np.testing.assert_array_equal(fresh[name][key], straight[name][key], err_msg=f"{name} {key}")


def _fake_work(folder, step: int, pick: bool = False):
    folder.mkdir(parents=True)
    torch.save({"step": step}, folder / "checkpoint.pt")
    if pick:
        torch.save({"step": step, "probe_return": 1.0}, folder / "medium-pick.pt")
    return folder


def test_adopt_work_keeps_the_further_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("GAPBENCH_DATA", str(tmp_path / "cache"))
    recipe = generation.Recipe(size=SIZE, budget=BUDGET)
    work = generation.work_dir("halfcheetah", recipe)
    assert generation.adopt_work("halfcheetah", recipe, _fake_work(tmp_path / "a" / work.name, 40)) == 40
    assert torch.load(work / "checkpoint.pt", weights_only=True)["step"] == 40
    # An older copy leaves the cache's further checkpoint alone; a newer one replaces it.
    assert generation.adopt_work("halfcheetah", recipe, _fake_work(tmp_path / "b" / work.name, 20)) == 40
    assert torch.load(work / "checkpoint.pt", weights_only=True)["step"] == 40
    assert generation.adopt_work("halfcheetah", recipe, _fake_work(tmp_path / "c" / work.name, 60)) == 60
    assert torch.load(work / "checkpoint.pt", weights_only=True)["step"] == 60


def test_resume_from_rejects_another_recipes_folder_and_a_pick_without_its_files(tmp_path):
    env = {"GAPBENCH_DATA": str(tmp_path / "cache")}
    recipe = generation.Recipe(size=SIZE, budget=BUDGET, seed=1).for_task("halfcheetah")
    other = _fake_work(tmp_path / "copy" / f"halfcheetah-generation-{recipe.tag}", 1000)
    bad = run_cli("datasets", "make", "--size", str(SIZE), "--budget", str(BUDGET), "--resume-from", str(other), env=env)
    assert bad.returncode == 2, bad.stderr
    assert f"this one's is named halfcheetah-generation-{TAG}" in bad.stderr
    picked = _fake_work(tmp_path / "picked" / f"halfcheetah-generation-{TAG}", 1000, pick=True)
    bad = run_cli("datasets", "make", "--size", str(SIZE), "--budget", str(BUDGET), "--resume-from", str(picked), env=env)
    assert bad.returncode == 2 and "past its medium pick" in bad.stderr, bad.stderr
    empty = tmp_path / "empty" / f"halfcheetah-generation-{TAG}"
    empty.mkdir(parents=True)
    bad = run_cli("datasets", "make", "--size", str(SIZE), "--budget", str(BUDGET), "--resume-from", str(empty), env=env)
    assert bad.returncode == 2 and "no checkpoint.pt in it" in bad.stderr, bad.stderr
    assert not list((tmp_path / "cache").rglob("*.pt")) and not list((tmp_path / "cache").rglob("*.hdf5"))


@pytest.mark.slow
def test_a_medium_only_generation_stops_at_the_pick_and_expert_goes_on_to_the_same_files(tmp_path, monkeypatch):
    """Asked for medium, a generation stops at the pick with a checkpoint there; asked for expert
    later, it goes on from it and writes what an uninterrupted generation writes."""
    recipe = generation.Recipe(size=SIZE, budget=BUDGET)
    # Any data return reaches the target, so the first probe (update 1000, of 2000) picks.
    monkeypatch.setattr(type(envs.get_task("halfcheetah")), "return_of_score", lambda self, score: -np.inf)
    monkeypatch.setenv("GAPBENCH_DATA", str(tmp_path / "split"))
    steps = []
    paths = generation.generate("halfcheetah", recipe, progress=lambda step, total, *returns: steps.append(step),
                                until_medium=True)
    assert sorted(paths) == ["medium", "medium-replay"] and all(p.is_file() for p in paths.values())
    assert max(steps) == 1000 and sorted(p.name for p in (tmp_path / "split" / "datasets").glob("*.hdf5")) == sorted(
        f"halfcheetah-{k}-{TAG}.hdf5" for k in ("medium", "medium-replay"))
    work = generation.work_dir("halfcheetah", recipe)
    assert torch.load(work / "checkpoint.pt", weights_only=True)["step"] == 1000
    medium_first = _files(tmp_path / "split")

    generation.generate("halfcheetah", recipe)  # expert: on from the pick's checkpoint to update 2000
    assert not work.exists()
    split = _files(tmp_path / "split")
    assert all(np.array_equal(split[n][k], medium_first[n][k]) for n in medium_first for k in medium_first[n])
    monkeypatch.setenv("GAPBENCH_DATA", str(tmp_path / "straight"))
    generation.generate("halfcheetah", recipe)
    straight = _files(tmp_path / "straight")
    assert sorted(split) == sorted(straight) and len(straight) == 4
    for name in straight:
        for key in straight[name]:
            np.testing.assert_array_equal(split[name][key], straight[name][key], err_msg=f"{name} {key}")

"""The dataset recipe's medium level is the task's D4RL level (issue 11, "the four locomotion tasks
first-class"): D4RL's <task>-medium-v2 data scores differently on every task, so `datasets make` and
every sweep aim each task at its own. The numbers below are copied by hand from
results/reference/datasets/d4rl-figures.md and d4rl-figures-locomotion.md: the mean return of D4RL's
medium-v2 file, normalised with D4RL's reference scores, to one decimal."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gapbench import envs
from gapbench.benchmark.data import generation
from gapbench.benchmark.data.generation import Recipe
from gapbench.benchmark.sweep.grid import Grid, expand
from gapbench.envs.d4rl_file import read_d4rl_arrays
from tests.cli_support import run_cli

ROOT = Path(__file__).resolve().parents[1]

# hopper-medium-v2: mean return 1422.05615234375 -> 100 * (1422.056 + 20.272305) / (3234.3 + 20.272305) = 44.32
# walker2d-medium-v2: mean return 2852.08837890625 -> 100 * (2852.088 - 1.629008) / (4592.3 - 1.629008) = 62.09
# halfcheetah-medium-v2: 40.68, kept at 40 (the committed generation and runs are at m40);
# ant: no published figure, so the recipe's default 40; the wheel-legged tasks use the operator.
LEVELS = {"halfcheetah": 40.0, "hopper": 44.3, "walker2d": 62.1, "ant": 40.0,
          "wheel-legged-stand": 40.0, "wheel-legged-move": 40.0}


@pytest.mark.parametrize("task, level", sorted(LEVELS.items()))
def test_the_default_medium_level_is_the_tasks_d4rl_level(task, level):
    assert Recipe().for_task(task).medium_score == level
    assert Recipe(medium_score=55.0).for_task(task).medium_score == 55.0  # --medium-score still overrides


def test_each_level_matches_the_published_return_it_came_from():
    published = {"hopper": 1422.05615234375, "walker2d": 2852.08837890625, "halfcheetah": 4770.3349609375}
    for task, mean_return in published.items():
        spec = envs.get_task(task)
        assert spec.d4rl_medium_score == LEVELS[task]
        exact = spec.normalized_score(mean_return)
        assert abs(exact - spec.d4rl_medium_score) < (0.05 if task != "halfcheetah" else 0.7), (task, exact)
    assert envs.get_task("ant").d4rl_medium_score is None


def test_the_tag_names_the_level_and_halfcheetahs_is_unchanged():
    assert Recipe().for_task("halfcheetah").tag == "v3-n1000000-b1000000-s0-m40"  # the committed generation's
    assert (ROOT / "results/reference/datasets/generation/halfcheetah-generation-v3-n1000000-b1000000-s0-m40").is_dir()
    assert Recipe().for_task("hopper").tag == "v3-n1000000-b1000000-s0-m44.3"
    assert Recipe().for_task("walker2d").tag == "v3-n1000000-b1000000-s0-m62.1"
    with pytest.raises(ValueError, match="settle it with Recipe.for_task"):
        Recipe().tag  # an unsettled recipe has no file name


def test_every_grid_cell_carries_its_tasks_level():
    grid = Grid(("cql",), tuple(LEVELS)[:4], ("medium",), ("gravity:2.0",), (0,), 100, recipe=Recipe(size=600))
    assert {c.task: c.recipe for c in expand(grid)} == {
        t: Recipe(size=600, medium_score=LEVELS[t]) for t in tuple(LEVELS)[:4]}


def test_committed_runs_keep_their_recorded_recipes():
    """The committed HalfCheetah and wheel-legged runs recorded medium_score 40.0 in their data recipe,
    which is part of a run's identity: settling the level per task must give those recipes back."""
    seen = 0
    for config_file in sorted((ROOT / "results/reference").glob("*/runs/*/config.json")):
        config = json.loads(config_file.read_text())
        recorded = (config.get("data") or {}).get("recipe")
        if recorded is None:
            continue
        again = Recipe(size=recorded["size"], budget=recorded["budget"], seed=recorded["seed"]).for_task(config["task"])
        assert dataclasses.asdict(again) == recorded, config_file
        seen += 1
    assert seen >= 40


def test_datasets_make_on_hopper_writes_files_at_hoppers_level(tmp_path, monkeypatch):
    env = {"GAPBENCH_DATA": str(tmp_path / "cache")}
    bad = run_cli("datasets", "make", "--task", "hopper", "--size", "600", "--budget", "200", "--medium-score", "0",
                  env=env)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "medium_score must be a normalised score in (0, 100), got 0.0" in bad.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.*"))

    proc = run_cli("datasets", "make", "--task", "hopper", "--size", "600", "--budget", "200", env=env, check=True)
    tag = "v3-n600-b200-s0-m44.3"
    assert f"{tag}, medium level 44.3 normalised)" in proc.stdout, proc.stdout
    folder = tmp_path / "cache" / "datasets"
    assert sorted(p.name for p in folder.glob("*.hdf5")) == sorted(
        f"hopper-{kind}-{tag}.hdf5" for kind in ("medium", "medium-replay", "expert", "medium-expert"))
    meta = read_d4rl_arrays(folder / f"hopper-medium-{tag}.hdf5")["metadata"]
    assert meta["task"] == "hopper" and meta["recipe"]["medium_score"] == 44.3
    assert meta["medium_target_return"] == pytest.approx(-20.272305 + 0.443 * (3234.3 + 20.272305))
    check = run_cli("datasets", "check", str(folder / f"hopper-medium-{tag}.hdf5"), check=True).stdout
    assert "'medium_score': 44.3" in check
    table = run_cli("datasets", "table", "--task", "hopper", "--size", "600", "--budget", "200", env=env,
                    check=True).stdout
    assert f"recipe {tag}" in table and "medium level 44.3 normalised" in table and "not generated" not in table

    # A sweep with the same data options finds these very files: its recipe is settled the same way.
    monkeypatch.setenv("GAPBENCH_DATA", str(tmp_path / "cache"))
    grid = Grid(("cql",), ("hopper", "halfcheetah"), ("medium",), ("gravity:2.0",), (0,), 100,
                recipe=Recipe(size=600, budget=200))
    sources = {task: generation.resolve(task, "medium", cell_recipe)
               for task, cell_recipe in {(c.task, c.recipe) for c in expand(grid)}}
    assert sources["hopper"].path == folder / f"hopper-medium-{tag}.hdf5" and sources["hopper"].path.is_file()
    assert sources["halfcheetah"].path.name == "halfcheetah-medium-v3-n600-b200-s0-m40.hdf5"
    status = run_cli("status", "--methods", "cql", "--tasks", "hopper", "--datasets", "medium", "--data-size", "600",
                     "--data-budget", "200", "--results", str(tmp_path / "results"), env=env, check=True).stdout
    assert f"generated with D4RL's recipe ({tag})" in status

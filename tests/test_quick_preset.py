"""The quick preset (the wheel-legged robot) end to end through the console script, and its data.

Real MuJoCo, real HDF5 files, real Sacred: the operator's `human` dataset is generated through the
sweep's data path and passes `gapbench datasets check`; the preset runs at a tiny size (its axes
and budget overridden the way a user overrides any preset) and `gapbench tables --ci` and
`gapbench plots` draw Table 1 with confidence intervals, the episode traces and the sim-vs-real
plot from the store it wrote.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gapbench import envs
from gapbench.analysis.tables import Cell
from gapbench.benchmark.data import generation
from gapbench.benchmark.sweep.presets import QUICK_TASKS, TABLE1_METHODS, presets
from tests.cli_support import TINY_TRAIN, run_cli

TASK = "wheel-legged-stand"


def test_the_operator_dataset_is_cached_with_its_recipe_and_passes_datasets_check():
    source = generation.resolve(TASK, "human", generation.Recipe(size=1500, seed=3))
    assert source.origin == "operator" and not source.path.exists()
    assert generation.ensure(source).path.is_file()
    proc = run_cli("datasets", "check", str(source.path), check=True)
    assert f"OK for task {TASK}" in proc.stdout and "rows 1500" in proc.stdout
    assert "metadata behaviour: scripted-operator" in proc.stdout
    data = envs.load_d4rl(source.path, task=TASK, drop_timeouts=False)
    assert len(data.rewards) == 1500 and not data.terminals.any()  # the operator never falls
    recipe = data.metadata["recipe"]
    recipe = json.loads(recipe) if isinstance(recipe, str) else recipe
    assert recipe["size"] == 1500 and recipe["seed"] == 3
    again = generation.ensure(generation.resolve(TASK, "human", generation.Recipe(size=1500, seed=3)))
    assert envs.load_d4rl(again.path, task=TASK, drop_timeouts=False).equals(data)  # cached, not remade


def test_the_quick_preset_is_the_five_methods_on_both_tasks_with_small_networks():
    (grid,) = presets()["quick"].grids
    assert grid.methods == TABLE1_METHODS and grid.tasks == QUICK_TASKS and len(grid.seeds) >= 5
    assert grid.datasets == ("human",) and grid.gaps == ("wheel_legged_sim",)
    assert all(grid.algo[m]["hidden"] == [64, 64] for m in grid.methods)
    assert grid.train["sim_eval_gap"] == "wheel_legged_sim"


def test_a_cell_ci_is_a_bootstrap_interval_of_the_mean():
    cell = Cell((0, 1, 2, 3, 4), (10.0, 12.0, 30.0, 11.0, 9.0))
    low, high = cell.ci95()
    assert min(cell.scores) <= low < cell.mean < high <= max(cell.scores)
    assert cell.ci95() == (low, high)  # seeded: a rerun prints the same interval
    assert all(math.isnan(x) for x in Cell((0,), (5.0,)).ci95())


@pytest.fixture(scope="module")
def quick_store(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("quick") / "results"
    run_cli("run", "--preset", "quick", "--seeds", "0", "--steps", "50", "--data-size", "1200",
            "--results", str(results), *TINY_TRAIN, "--with", "final_eval_episodes=2", check=True)
    return results


@pytest.mark.xdist_group("quick_store")
def test_the_quick_preset_runs_end_to_end_and_records_sim_returns_and_episodes(quick_store):
    runs = [json.loads((d / "run.json").read_text()) | {"dir": d} for d in sorted((quick_store / "runs").glob("[0-9]*"))]
    assert len(runs) == len(TABLE1_METHODS) * len(QUICK_TASKS) and all(r["status"] == "COMPLETED" for r in runs)
    for run in runs:
        result = run["result"]
        assert len(result["final_sim_return"]) == 1 and result["sim_eval_gap"].startswith("dead_zone:0.0")
        with np.load(run["dir"] / "final_episode.npz") as episode:
            length = int(episode["lengths"][0])
            assert 1 <= length <= 1000 and int(episode["tilt_index"]) == 0
            assert np.isfinite(episode["observations"][0, : length + 1]).all()
            assert np.isnan(episode["observations"][0, length + 1:]).all()


@pytest.mark.xdist_group("quick_store")
def test_tables_show_confidence_intervals_and_plots_draw_episodes_and_sim_vs_real(quick_store, tmp_path):
    tables = run_cli("tables", "--ci", "--results", str(quick_store), "--out", str(tmp_path / "tables"), check=True)
    assert "95% confidence interval" in tables.stdout
    csv = (tmp_path / "tables" / "table1.csv").read_text()
    assert "ci_low" in csv.splitlines()[0]
    run_cli("plots", "--results", str(quick_store), "--out", str(tmp_path / "plots"), "--reps", "50",
            env={"MPLBACKEND": "Agg"}, check=True)
    for task in QUICK_TASKS:
        for stem in (f"episode_{task}", f"sim_vs_real_{task}"):
            assert (tmp_path / "plots" / f"{stem}.png").stat().st_size > 10_000, stem
    assert (tmp_path / "plots" / "learning_curves.png").is_file() and (tmp_path / "plots" / "aggregate.png").is_file()


@pytest.mark.xdist_group("quick_store")
def test_episode_and_sim_return_loaders_read_only_the_store(quick_store):
    from gapbench.analysis.episodes import load_episodes
    from gapbench.analysis.runs import final_scores, load_runs
    from gapbench.analysis.store import open_store

    store = open_store(quick_store)
    frame = load_runs(store)
    final = final_scores(frame)
    assert final["sim_return"].notna().all() and (final["sim_return"] >= 0).all()
    episodes = load_episodes(store, frame)
    assert set(episodes["method"]) == set(TABLE1_METHODS) and set(episodes["task"]) == set(QUICK_TASKS)
    move = episodes[episodes["task"] == "wheel-legged-move"]
    assert (move["target_velocity"] == 0.2).all()
    assert np.allclose(np.diff(move[move["method"] == "sac"]["time"].to_numpy()), 0.02)

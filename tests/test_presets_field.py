"""The field-table1 preset: the field's baselines beside the paper's five on the paper's cells, each
cell once (the offline baselines once per dataset), and the paper's own presets left as they were;
the quick-field preset: the field's baselines on the quick cells, end to end through the CLI."""

from __future__ import annotations

import json
from collections import Counter

from gapbench.algos import methods
from gapbench.benchmark.sweep.grid import expand
from gapbench.benchmark.sweep.presets import (FIELD_METHODS, PAPER_DATASETS, QUICK_HIDDEN, TABLE1_METHODS,
                                              presets)
from gapbench.envs import PAPER_GAPS
from tests.cli_support import run_cli


def test_the_roles_pick_the_methods():
    assert TABLE1_METHODS == ("sac", "cql", "darc", "darc+", "h2o")
    assert set(FIELD_METHODS) == {"iql", "td3+bc", "par", "h2o+", "vgdf"} == {
        m.name for m in methods() if m.role == "field"}


def test_field_table1_runs_the_paper_s_cells_with_the_new_methods_beside_the_paper_s():
    (grid,) = presets()["field-table1"].grids
    (paper,) = presets()["paper-table1"].grids
    assert grid.methods == TABLE1_METHODS + FIELD_METHODS
    assert (grid.tasks, grid.datasets, grid.gaps, grid.seeds, grid.steps) == (
        paper.tasks, PAPER_DATASETS, paper.gaps, paper.seeds, 1_000_000)
    assert len(grid.gaps) == len(PAPER_GAPS) == 3
    cells = Counter(cell.method for cell in expand(grid))
    d, g = len(PAPER_DATASETS), len(PAPER_GAPS)
    # offline methods once per dataset, SAC(sim) once per gap, the rest on every dataset x gap
    assert cells == {"sac": g, "cql": d, "iql": d, "td3+bc": d,
                     **{m: d * g for m in ("darc", "darc+", "h2o", "par", "h2o+", "vgdf")}}
    # the paper's cells are the same cells in both presets (one identity, so a sweep of one reuses the other's runs)
    field_cells = expand(grid)
    assert all(cell in field_cells for cell in expand(paper))


def test_the_quick_preset_keeps_the_paper_s_five():
    (grid,) = presets()["quick"].grids
    assert grid.methods == TABLE1_METHODS and set(grid.algo) == set(TABLE1_METHODS)
    assert all(tuple(grid.algo[m]["hidden"]) == QUICK_HIDDEN for m in TABLE1_METHODS)


def test_quick_field_puts_the_field_s_baselines_on_the_quick_cells():
    (quick,) = presets()["quick"].grids
    (field,) = presets()["quick-field"].grids
    assert field.methods == FIELD_METHODS
    assert (field.tasks, field.datasets, field.gaps, field.seeds, field.steps, field.train, field.recipe) == (
        quick.tasks, quick.datasets, quick.gaps, quick.seeds, quick.steps, quick.train, quick.recipe)
    assert all(tuple(field.algo[m]["hidden"]) == QUICK_HIDDEN for m in FIELD_METHODS)
    # the methods' own networks take the quick width; VGDF filters from 10% of the budget, as the authors' 100k of 1M
    assert field.algo["par"]["encoder_hidden"] == list(QUICK_HIDDEN) and field.algo["par"]["encoder_dim"] == 64
    assert field.algo["vgdf"]["model_hidden"] == [64] * 4 and field.algo["vgdf"]["filter_start"] == 200
    # every method on both tasks once (the offline ones ignore the gap), and no cell shared with quick
    assert Counter(cell.method for cell in expand(field)) == {m: 2 for m in FIELD_METHODS}
    quick_cells = expand(quick)
    assert not any(cell in quick_cells for cell in expand(field))


def test_quick_field_runs_through_the_cli_with_its_overrides(tmp_path):
    """End to end at a tiny size: PAR and VGDF train on the operator's data with the quick width for
    their own networks, and Table 1 shows both."""
    results = tmp_path / "results"
    run_cli("run", "--preset", "quick-field", "--methods", "par,vgdf", "--seeds", "0", "--steps", "50",
            "--data-size", "1200", "--with", "eval_every=50", "--with", "final_eval_episodes=1",
            "--results", str(results), check=True)
    runs = [json.loads((d / "run.json").read_text()) | {"config": json.loads((d / "config.json").read_text())}
            for d in sorted((results / "runs").glob("[0-9]*"))]
    assert sorted((r["config"]["method"], r["config"]["task"]) for r in runs) == sorted(
        (m, t) for m in ("par", "vgdf") for t in ("wheel-legged-stand", "wheel-legged-move"))
    assert all(r["status"] == "COMPLETED" for r in runs)
    for run in runs:
        algo = run["config"]["algo"]
        assert list(algo["hidden"]) == list(QUICK_HIDDEN)
        if run["config"]["method"] == "vgdf":
            assert list(algo["model_hidden"]) == [64] * 4 and algo["filter_start"] == 200
        else:
            assert list(algo["encoder_hidden"]) == [64, 64] and algo["encoder_dim"] == 64
    run_cli("tables", "--results", str(results), "--format", "md", check=True)
    header = next(line for line in (results / "tables" / "table1.md").read_text().splitlines() if line.startswith("| Task"))
    assert "| PAR " in header and "| VGDF " in header

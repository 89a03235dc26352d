"""The field-table1 preset: the field's baselines beside the paper's five on the paper's cells, each
cell once (the offline baselines once per dataset), and the paper's own presets left as they were."""

from __future__ import annotations

from collections import Counter

from gapbench.algos import methods
from gapbench.benchmark.sweep.grid import expand
from gapbench.benchmark.sweep.presets import (FIELD_METHODS, PAPER_DATASETS, QUICK_HIDDEN, TABLE1_METHODS,
                                              presets)
from gapbench.envs import PAPER_GAPS


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

"""The grid: its cells, deduplication over the axes a method ignores, and `--with`.

Two runs with the same cell identity (`cell.identity`) and seed are the same run, so a sweep skips
seeds that already have a COMPLETED run, and SAC(sim), which ignores the dataset, or CQL(real),
which ignores the gap, is trained once per value of the axes it does use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from gapbench import envs
from gapbench.algos import get_method
from gapbench.algos import methods as all_methods
from gapbench.benchmark.cell.identity import Cell
from gapbench.benchmark.cell.sacred_compat import get_config_updates
from gapbench.benchmark.data.generation import Recipe
from gapbench.benchmark.errors import UserError
from gapbench.benchmark.training.loop import TrainConfig, train_config


@dataclass(frozen=True)
class Grid:
    methods: tuple[str, ...]
    tasks: tuple[str, ...]
    datasets: tuple[str, ...]
    gaps: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: int
    train: dict[str, Any] = field(default_factory=dict)
    recipe: Recipe = Recipe()
    # method -> config overrides that apply to it (from the preset and from --with)
    algo: dict[str, dict[str, Any]] = field(default_factory=dict)


def expand(grid: Grid) -> list[Cell]:
    """Every distinct cell of the grid, in a stable order; ignored axes collapse to None."""
    cells: dict[tuple, Cell] = {}
    for method_name in grid.methods:
        method = get_method(method_name)
        sources = method.agent.sources
        for task in grid.tasks:
            for dataset in grid.datasets if "real" in sources else (None,):
                for gap in grid.gaps if "sim" in sources else (None,):
                    key = (method_name, task, dataset, gap)
                    cells.setdefault(key, Cell(method_name, task, dataset, gap, grid.steps,
                                               dict(grid.algo.get(method_name, {})), dict(grid.train),
                                               grid.recipe.for_task(task)))  # the task's medium level
    return list(cells.values())


# ---------------------------------------------------------------------- validation of user input

def check_names(methods, tasks, datasets, gaps) -> list[str]:
    """Validate names before anything runs; returns the canonical gap strings."""
    for name in methods:
        try:
            get_method(name)
        except ValueError as err:
            raise UserError(str(err)) from None
    for task in tasks:
        try:
            envs.get_task(task)
        except ValueError as err:
            raise UserError(str(err)) from None
    for dataset in datasets:
        if dataset not in envs.DATASET_KINDS:
            raise UserError(f"unknown dataset {dataset!r}; valid datasets: {', '.join(envs.DATASET_KINDS)}")
    canonical = []
    for gap in gaps:
        try:
            canonical.append(str(envs.parse_gap(gap)))
        except ValueError as err:
            raise UserError(str(err)) from None
    return canonical


def parse_with(tokens: list[str], methods: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """`--with key=value` tokens, parsed the way Sacred parses `with`, routed to their owners.

    `train.KEY` sets a training field; `algo.KEY` every method that has KEY; `METHOD.KEY` one
    method (a registered method outside this grid is allowed, and changes nothing). A bare KEY is a
    training field if there is one of that name, else it goes to every method of the grid that has
    it. A key nobody has is an error naming the valid ones.
    """
    updates, named = get_config_updates(tokens)
    if named:
        raise UserError(f"--with takes key=value pairs, got {', '.join(named)}")
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    method_fields = {m: {f.name for f in dataclasses.fields(get_method(m).agent.Config)} for m in methods}
    train: dict[str, Any] = {}
    algo: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for key, value in _flatten(updates):
        scope, _, name = key.rpartition(".")
        if scope == "train" or (not scope and name in train_fields):
            if name == "steps":  # the grid's budget, part of the cell's identity: one place sets it
                raise UserError(f"--with {key}: the number of updates is set with --steps N")
            if name not in train_fields:
                raise UserError(f"--with {key}: no training field {name!r}; valid: {', '.join(sorted(train_fields))}")
            train[name] = value
            continue
        if scope not in ("", "algo") and scope not in methods:
            try:
                outside = get_method(scope)
            except ValueError:
                raise UserError(f"--with {key}: {scope!r} is neither a method nor 'train'; valid methods: "
                                f"{', '.join(m.name for m in all_methods())}") from None
            fields = {f.name for f in dataclasses.fields(outside.agent.Config)}
            if name not in fields:
                raise UserError(f"--with {key}: {scope} has no field {name!r}; valid: {', '.join(sorted(fields))}")
            continue
        targets = [m for m in methods if (scope in ("", "algo") or scope == m) and name in method_fields[m]]
        if not targets:
            valid = sorted(train_fields | set().union(*method_fields.values()))
            raise UserError(f"--with {key}: no method of this grid has a field {name!r}; valid keys: {', '.join(valid)}")
        for m in targets:
            algo[m][name] = value
    try:  # type-check now, so a bad value fails before anything runs
        train_config(train)
        for m in methods:
            get_method(m).config(algo[m])
    except ValueError as err:
        raise UserError(f"--with: {err}") from None
    return train, {m: v for m, v in algo.items() if v}


def check_grid(grid: Grid) -> None:
    """The whole grid's configs against their declared ranges: the preset's values with the user's."""
    try:
        train_config({**grid.train, "steps": grid.steps})
        for m in grid.methods:
            get_method(m).config(grid.algo.get(m, {}))
    except ValueError as err:
        raise UserError(str(err).replace("training config: steps=", "--steps ", 1)) from None
    if len(set(grid.seeds)) != len(grid.seeds):
        twice = sorted({s for s in grid.seeds if grid.seeds.count(s) > 1})
        raise UserError(f"--seeds lists seed {', '.join(map(str, twice))} more than once; each seed is one run")
    if any(s < 0 for s in grid.seeds):
        raise UserError(f"--seeds must be non-negative integers, got {', '.join(map(str, grid.seeds))}")


def _flatten(updates: dict[str, Any], prefix: str = ""):
    """Sacred nests dotted keys (`train.eval_every=5` -> {'train': {'eval_every': 5}}); undo that."""
    for key, value in updates.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value

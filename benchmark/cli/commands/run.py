"""`gapbench run`: train a grid of cells, skipping completed runs, resuming interrupted ones.

The grid, runner and preset modules import torch, Sacred and the methods: they are imported
when the command runs, so that `gapbench --help` and the other commands start fast.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from gapbench.benchmark.errors import UserError
from gapbench.benchmark.sweep.mongo import MONGO_SCHEMES, redacted


def add_grid_arguments(parser) -> None:
    parser.add_argument("--preset", help="a named grid: `gapbench list presets`")
    parser.add_argument("--methods", help="comma-separated methods (`gapbench list methods`)")
    parser.add_argument("--tasks", help="comma-separated tasks (default halfcheetah)")
    parser.add_argument("--datasets", help="comma-separated: medium, medium-replay, medium-expert, expert")
    parser.add_argument("--gaps", help="comma-separated gaps, e.g. gravity:2.0,friction:0.3")
    parser.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1,2,3,4")
    parser.add_argument("--steps", type=int, help="gradient updates per run")
    parser.add_argument("--with", dest="with_", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, parsed like Sacred's `with` (repeatable): a training field "
                             "(eval_every=5000, precision=bf16), a method field for every method that has it "
                             "(beta=0.05), or one method's (h2o.beta=0.05)")
    parser.add_argument("--data-size", type=int, metavar="N",
                        help="generated datasets: transitions per medium/expert rollout (default 1M)")
    parser.add_argument("--data-budget", type=int, metavar="STEPS",
                        help="generated datasets: SAC updates of the behaviour policy (default 1M)")
    parser.add_argument("--results", default="results", help="the results store (default: results)")


def register(sub) -> None:
    parser = sub.add_parser("run", help="run a grid of method x dataset x gap x seed cells (resumable)",
                            description="Train every cell of a grid and log each run with Sacred. Runs that "
                            "already COMPLETED are skipped and interrupted ones resume from their checkpoint, "
                            "so rerunning the same command finishes a killed sweep.")
    add_grid_arguments(parser)
    parser.add_argument("--executor", default="local", choices=["local", "ray", "sequential"],
                        help="local: one process per run (default); ray: Ray tasks; sequential: in this process")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes at a time (default: the number of cores)")
    parser.add_argument("--address", help="Ray cluster address HOST:PORT (default: start a local Ray)")
    parser.add_argument("--mongo", default=os.environ.get("GAPBENCH_MONGO") or None,
                        help="also log to MongoDB, e.g. mongodb://HOST:PORT/DB or mongodb+srv://... (default: "
                        "$GAPBENCH_MONGO, which keeps a password off this command line); a password in it is "
                        "never shown nor passed on to a worker's command line")
    parser.add_argument("--population", type=int,
                        help="seeds trained together in one process (default: 1 on CPU, all of a cell's on GPU)")
    parser.set_defaults(handler=run)


def _csv(text: str | None, cast=str) -> tuple | None:
    if text is None:
        return None
    items = tuple(cast(x.strip()) for x in text.split(",") if x.strip())
    if not items:
        raise UserError(f"empty list {text!r}")
    return items


def grids_from_args(args) -> list:
    """The preset's grids with any explicit axis replacing the preset's, or a grid from the axes."""
    from gapbench.benchmark.sweep.grid import Grid, check_grid, check_names, parse_with
    from gapbench.benchmark.sweep.presets import presets

    try:
        seeds = _csv(args.seeds, int)
    except ValueError:
        raise UserError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    axes = {"methods": _csv(args.methods), "tasks": _csv(args.tasks), "datasets": _csv(args.datasets),
            "gaps": _csv(args.gaps), "seeds": seeds, "steps": args.steps}
    if args.preset is not None:
        available = presets()
        if args.preset not in available:
            raise UserError(f"unknown preset {args.preset!r}; valid presets: {', '.join(available)}")
        base = list(available[args.preset].grids)
    else:
        if axes["methods"] is None:
            raise UserError("give --preset NAME, or at least --methods (see `gapbench list presets`)")
        base = [Grid(axes["methods"], ("halfcheetah",), ("medium",), ("gravity:2.0",), (0,), 1_000_000)]
    recipe_changes = {k: v for k, v in (("size", args.data_size), ("budget", args.data_budget)) if v is not None}
    if any(v < 1 for v in recipe_changes.values()):
        raise UserError("--data-size and --data-budget must be positive")
    grids = []
    for grid in base:
        grid = dataclasses.replace(grid, **{k: v for k, v in axes.items() if v is not None})
        grid = dataclasses.replace(grid, recipe=dataclasses.replace(grid.recipe, **recipe_changes))
        gaps = check_names(grid.methods, grid.tasks, grid.datasets, grid.gaps)
        train, algo = parse_with(args.with_, list(grid.methods))
        merged_algo = {m: {**grid.algo.get(m, {}), **algo.get(m, {})} for m in grid.methods}
        grid = dataclasses.replace(grid, gaps=tuple(dict.fromkeys(gaps)), train={**grid.train, **train},
                                   algo={m: v for m, v in merged_algo.items() if v})
        check_grid(grid)
        grids.append(grid)
    return grids


def run(args) -> int:
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.population is not None and args.population < 1:
        raise UserError(f"--population must be at least 1, got {args.population}")
    if args.mongo and not args.mongo.startswith(MONGO_SCHEMES):
        raise UserError(f"--mongo must be a mongodb:// or mongodb+srv:// URL, got {redacted(args.mongo)!r}")
    from gapbench.benchmark.sweep.runner import SweepOptions, run_sweep

    grids = grids_from_args(args)
    options = SweepOptions(Path(args.results), args.executor, args.workers, args.address, args.mongo,
                           args.population)
    return run_sweep(grids, options)

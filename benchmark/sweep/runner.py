"""A sweep: check the input, find or make the data, skip what is done, run the rest, report."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from gapbench import envs
from gapbench.algos import get_method
from gapbench.benchmark.data import generation
from gapbench.benchmark.cell.identity import Cell, identity
from gapbench.benchmark.cell.status import FINISHED_WELL
from gapbench.benchmark.errors import UserError
from gapbench.benchmark.host import cpu_features, native_bf16
from gapbench.benchmark.sweep.executors import Unit, make_executor
from gapbench.benchmark.sweep.grid import Grid, expand
from gapbench.benchmark.sweep.progress import SweepProgress
from gapbench.benchmark.sweep.completed import completed_seeds, scan, warn_line
from gapbench.benchmark.sweep.worker import seed_running
from gapbench.benchmark.training.loop import TrainConfig


@dataclass(frozen=True)
class SweepOptions:
    results: Path
    executor: str = "local"
    workers: int = os.cpu_count() or 1
    address: str | None = None
    mongo: str | None = None
    population: int | None = None  # seeds per process; None: 1 on a CPU, all of a cell's on a GPU


@dataclass
class Plan:
    units: list[Unit]
    total_runs: int  # seeds x cells in the grid
    done_runs: int
    running_elsewhere: list[str]
    sources: list[generation.DatasetSource]


def prepare_data(grids: list[Grid], say=print, generate: bool = True) -> dict[tuple, generation.DatasetSource]:
    """Resolve (and if needed generate) every dataset the grids use, and validate each file.

    With ``generate=False`` (read-only commands) a missing dataset is only reported: its source
    still gives the cells their identities, which do not depend on the file's contents.
    """
    found: dict[tuple, generation.DatasetSource] = {}
    for grid in grids:
        for cell in expand(grid):
            if cell.dataset is None or (cell.task, cell.dataset, cell.recipe) in found:
                continue
            source = generation.resolve(cell.task, cell.dataset, cell.recipe)
            found[(cell.task, cell.dataset, cell.recipe)] = source
            if not generate and not source.path.is_file():
                how = (f"records the scripted operator's {cell.recipe.size} transitions" if source.origin == "operator"
                       else f"makes it (SAC for {cell.recipe.budget} updates)")
                say(f"dataset {cell.task} {cell.dataset} is not made yet: `gapbench run` with these options {how}")
                continue
            if source.origin == "generated" and not source.path.is_file():
                say(f"dataset {cell.task} {cell.dataset}: no D4RL file in {envs.d4rl_dir()}, generating "
                    f"with D4RL's recipe ({cell.recipe.tag}); this trains SAC for {cell.recipe.budget} updates")
                generation.ensure(source, progress=generation_progress(cell.task, cell.recipe.budget))
            if source.origin == "operator" and not source.path.is_file():
                say(f"dataset {cell.task} {cell.dataset}: recording the scripted operator's {cell.recipe.size} "
                    "transitions in the real env")
                generation.ensure(source)
            envs.check_d4rl(source.path, cell.task)  # a corrupt file fails here, naming itself
            say(f"dataset {source.describe()}")
    return found


def generation_progress(task: str, budget: int):
    """A progress callback for dataset generation: a bar on a terminal; elsewhere (a log file) one
    line per new evaluation. Both show the deterministic evaluation return and the stochastic
    policy's, which is what the data will score."""
    from tqdm import tqdm

    interactive = sys.stderr.isatty()
    bar = tqdm(total=budget, desc=f"generating {task} data", unit="upd", disable=not interactive)
    shown: list[tuple] = []

    def update(step, total, eval_return, data_return):
        returns = ", ".join(f"{name} return {value:.0f}" for name, value in
                            (("eval", eval_return), ("data", data_return)) if value is not None)
        bar.n = step
        bar.set_postfix_str(returns, refresh=False)
        bar.refresh()
        if not interactive and returns and shown[-1:] != [(eval_return, data_return)]:
            shown[:] = [(eval_return, data_return)]
            print(f"generating {task} data: update {step}/{total}, {returns}", file=sys.stderr, flush=True)
        if step >= total:
            bar.close()
    return update


def plan(grids: list[Grid], options: SweepOptions, sources: dict[tuple, generation.DatasetSource]) -> Plan:
    done = completed_seeds(scan(options.results))
    units, total, finished, elsewhere = [], 0, 0, []
    seen: set[str] = set()
    for grid in grids:
        for cell in expand(grid):
            source = sources.get((cell.task, cell.dataset, cell.recipe))
            config = cell.config(source.config() if source else None)
            key = identity(config)
            if key in seen:  # the same cell reached from two grids of a preset
                continue
            seen.add(key)
            total += len(grid.seeds)
            missing = [s for s in grid.seeds if s not in done.get(key, set())]
            finished += len(grid.seeds) - len(missing)
            device = config["train"]["device"]
            busy = [s for s in missing if seed_running(options.results, key, s)]
            if busy:
                elsewhere.append(f"{cell.label} seed{'s' if len(busy) > 1 else ''} {','.join(map(str, busy))}")
            missing = [s for s in missing if s not in busy]
            k = options.population or (len(missing) if device.startswith("cuda") else 1)
            for i in range(0, len(missing), max(1, k)):
                seeds = missing[i : i + max(1, k)]
                payload = {"config": _sacred_updates(cell, seeds), "identity": key,
                           "results": str(Path(options.results).resolve()), "mongo": options.mongo}
                label = f"{cell.label} seed{'s' if len(seeds) > 1 else ''} {','.join(map(str, seeds))}"
                units.append(Unit(label, payload, cell.steps, seeds))
    return Plan(units, total, finished, elsewhere, list(sources.values()))


def _sacred_updates(cell: Cell, seeds: list[int]) -> dict:
    return {"method": cell.method, "task": cell.task, "dataset": cell.dataset, "gap": cell.gap,
            "seeds": list(seeds), "steps": cell.steps, "algo": dict(cell.algo), "train": dict(cell.train),
            "recipe": dataclasses.asdict(cell.recipe)}


def emulated_bf16(units: list[Unit], features: dict) -> list[str]:
    """The labels of the units that would train in bf16 on a CPU whose features (`host.cpu_features`) say it
    emulates bf16. Measured on such a CPU (the AMD EPYC without AVX-512), a bf16 update ran 11-23x slower
    than fp32, so a sweep that asks for it there is almost surely a mistake worth one line."""
    if native_bf16(features) is not None:
        return []
    # A unit's payload holds only the overrides: the fields it leaves out take TrainConfig's defaults.
    trains = [(u.label, u.payload["config"]["train"]) for u in units]
    return [label for label, train in trains
            if train.get("precision", TrainConfig.precision) == "bf16"
            and torch.device(train.get("device", TrainConfig.device)).type == "cpu"]


def run_sweep(grids: list[Grid], options: SweepOptions, say=print) -> int:
    for grid in grids:
        for name in grid.methods:
            get_method(name)  # names were checked by the CLI; a library caller gets the same error
    if options.population is not None and options.population < 1:
        raise UserError(f"population must be at least 1, got {options.population}")
    if options.executor not in ("local", "ray", "sequential"):
        raise UserError(f"unknown executor {options.executor!r}; valid executors: local, ray, sequential")
    sources = prepare_data(grids, say)
    work = plan(grids, options, sources)
    runs_dir = Path(options.results) / "runs"
    if work.running_elsewhere:
        say(f"{len(work.running_elsewhere)} unit(s) are being trained by another process right now; "
            f"left to it: {'; '.join(work.running_elsewhere)}")
    if not work.units:
        if not work.running_elsewhere:
            say(f"nothing to do: all {work.total_runs} runs of this sweep are COMPLETED in {runs_dir}")
        return 0
    say(f"{work.total_runs} runs in this sweep: {work.done_runs} already completed, "
        f"{sum(len(u.seeds) for u in work.units)} to run in {len(work.units)} process(es) "
        f"({options.executor} executor, {options.workers} worker(s)); results in {runs_dir}")
    emulated = emulated_bf16(work.units, cpu_features())
    if emulated and options.address is None:  # a Ray cluster's CPUs are not this one
        warn_line(f"{len(emulated)} unit(s) train in bf16 on this CPU, which has neither AMX nor "
                  "AVX512_BF16: oneDNN emulates bf16 here, over 10x slower than fp32 (docs/performance.md); "
                  "drop --with precision=bf16 on this machine")
    progress = SweepProgress(work.units, options.workers)
    try:
        make_executor(options.executor, options.workers, options.address, Path(options.results)).run(work.units, progress)
    finally:
        progress.close()
    failed = [(u, o) for u, o in progress.outcomes if o["status"] not in FINISHED_WELL]
    say(f"finished: {progress.done} completed, {len(failed)} failed, {progress.skipped} skipped")
    for unit, outcome in failed:
        say(f"  FAILED {unit.label}: {outcome.get('reason', outcome['status'])}")
    if failed:
        say("rerun the same command to retry the failed runs; finished ones are kept")
    return 1 if failed else 0

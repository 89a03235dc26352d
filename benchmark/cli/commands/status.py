"""`gapbench status`: what a results store holds for a grid: completed, failed, running (how far), missing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from gapbench.benchmark.cell.status import COMPLETED, ENDED_BADLY, RUNNING
from gapbench.benchmark.cli.commands.run import add_grid_arguments, grids_from_args
from gapbench.benchmark.sweep.headway import read_headway

GONE = "RUNNING but its process is gone"  # killed, or the machine rebooted: it will never finish itself


def register(sub) -> None:
    parser = sub.add_parser("status", help="summarise a results store: completed, failed, running and missing runs",
                            description="With a preset or grid: which of its runs are completed, failed (with "
                            "the reasons), running (with the furthest logged update, the speed and the time "
                            "left) or missing (with the update its checkpoint holds, if one was stopped). "
                            "Without: a count of every run in the store, and the same for each failed or "
                            "running run.")
    add_grid_arguments(parser)
    parser.set_defaults(handler=status)


def status(args) -> int:
    from gapbench.benchmark.cell.identity import identity  # torch and Sacred: only when the command runs
    from gapbench.benchmark.sweep.completed import runs_dir, scan
    from gapbench.benchmark.sweep.grid import expand
    from gapbench.benchmark.sweep.runner import prepare_data
    from gapbench.benchmark.sweep.worker import seed_running

    runs, folders = scan(Path(args.results)), runs_dir(Path(args.results))
    if args.preset is None and args.methods is None:
        states = [_state(r, args.results, seed_running) for r in runs]
        counts = Counter(states)
        print(f"{Path(args.results) / 'runs'}: {len(runs)} runs: "
              + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
        for run, state in zip(runs, states):
            if run.failure:
                print(f"  run {run.run_id} {run.config.get('method')} seeds {list(run.seeds)}: {run.failure}")
            elif state == RUNNING:  # _state has checked that its process is alive
                print(f"  run {run.run_id} {run.config.get('method')} seeds {list(run.seeds)}: "
                      f"{_headway(folders, run)}")
            elif state == GONE:
                held = [(s, _checkpoint_step(args.results, run.identity, s)) for s in run.seeds]
                print(f"  run {run.run_id} {run.config.get('method')} seeds {list(run.seeds)}: its process is gone"
                      + "".join(f"; seed {s}'s checkpoint at update {step:,}/{int(run.config['steps']):,}: "
                                "`run` resumes it" for s, step in held if step is not None))
        return 0
    grids = grids_from_args(args)
    sources = prepare_data(grids, say=print, generate=False)  # read-only: never trains
    by_identity: dict[str, list] = {}
    for run in runs:
        by_identity.setdefault(run.identity, []).append(run)
    totals = Counter()
    for grid in grids:
        for cell in expand(grid):
            source = sources.get((cell.task, cell.dataset, cell.recipe))
            key = identity(cell.config(source.config() if source else None))
            cell_runs = by_identity.get(key, [])
            for seed in grid.seeds:
                mine = [r for r in cell_runs if seed in r.seeds]
                if any(r.counted for r in mine):
                    totals["completed"] += 1
                    continue
                if seed_running(args.results, key, seed):
                    state = "running"
                elif any(r.status in ENDED_BADLY for r in mine):
                    state = "failed"
                else:
                    state = "missing"
                totals[state] += 1
                notes = [f"run {r.run_id}: {r.failure}" for r in mine if r.failure]
                step = None if state == "running" else _checkpoint_step(args.results, key, seed)
                notes += [] if step is None else [f"checkpoint at update {step:,}/{grid.steps:,}: `run` resumes it"]
                if state == "running":  # the newest RUNNING folder (scan lists them oldest first) is the live one
                    live = next((r for r in reversed(mine) if r.status == RUNNING), None)
                    notes += [f"run {live.run_id}: {_headway(folders, live)}"] if live else []
                print(f"{state:8s} {cell.label} seed {seed}" + (f"  ({'; '.join(notes)})" if notes else ""))
    print(", ".join(f"{totals[k]} {k}" for k in ("completed", "running", "failed", "missing")))
    return 0


def _headway(folders: Path, run) -> str:
    """How far a live run has got: its furthest logged update, speed and time left."""
    headway = read_headway(folders / run.run_id, int(run.config["steps"]))
    return headway.describe() if headway else "nothing logged yet"


def _checkpoint_step(results, key: str, seed: int) -> int | None:
    """The update held by a stopped run's checkpoint for this seed (a run killed, or one carried over in
    an export), where `run` resumes it; None where there is none."""
    import torch
    from gapbench.benchmark.cell.identity import named_seeds

    for path in sorted((Path(results) / "checkpoints").glob(f"{key}-*.pt")):
        if seed in named_seeds(key, path.stem):
            # mmap: the weights and buffers stay on disk; only the pickled structure around them is read
            return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["step"])
    return None


def _state(run, results, seed_running) -> str:
    """A run's status as the store tells it, corrected where the store cannot know better."""
    if run.status == COMPLETED and not run.counted:
        return "COMPLETED but not counted"
    if run.status == RUNNING and not any(seed_running(results, run.identity, s) for s in run.seeds):
        return GONE
    return run.status

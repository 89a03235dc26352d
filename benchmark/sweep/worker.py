"""Runs one unit of a sweep (a cell and its seeds) as a Sacred run, in whatever process it is in.

Every executor ends here: the sequential one in the sweep's own process, the local one in a
subprocess (`python -m gapbench.benchmark.sweep.worker`, the unit as JSON on stdin, progress as JSON
lines on an inherited fd), and the Ray one in a Ray task.

No seed of a cell ever trains twice, even with several sweeps on one store, whatever their
populations or devices: a worker takes one lock per seed (the lock dies with its process), then
reads the store again under the locks and trains only the seeds no run counts yet. A seed whose
lock another worker holds is left to that worker. "Is it running?" is asked of a second file per
seed, which a probe only ever holds shared and a worker takes after its lock, so a probe can delay
a worker by a moment but never make it skip.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from gapbench.benchmark.cell import status
from gapbench.benchmark.sweep.completed import completed_seeds, scan
from gapbench.benchmark.sweep.mongo import hide_in, mongo_observer


def seed_lock_path(results: str | Path, key: str, seed: int, suffix: str = ".lock") -> Path:
    """Named per seed, not per seed list: sweeps with different populations share the lock."""
    return Path(results) / "locks" / f"{key}-seed{seed}{suffix}"


def seed_running(results: str | Path, key: str, seed: int) -> bool:
    """True while a live worker trains this seed of this cell; creates nothing, so read-only
    commands may ask, and holds its lock shared, so a worker starting meanwhile waits, not skips."""
    try:
        handle = open(seed_lock_path(results, key, seed, ".running"))
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _take_seed(stack: ExitStack, results: str, key: str, seed: int) -> bool:
    """This seed's lock for the rest of the unit, or False if another worker holds it."""
    path = seed_lock_path(results, key, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = stack.enter_context(open(path, "a"))
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    running = stack.enter_context(open(seed_lock_path(results, key, seed, ".running"), "a"))
    fcntl.flock(running, fcntl.LOCK_EX)  # blocking: only a probe can hold it, for a moment
    return True


def run_unit(unit: dict[str, Any], progress: Callable[[dict], None] | None = None,
             capture: str = "fd") -> dict[str, Any]:
    """unit = {"config": sacred config updates, "identity": key, "results": dir, "mongo": url or None}."""
    results, key, seeds = unit["results"], unit["identity"], list(unit["config"]["seeds"])
    with ExitStack() as stack:
        held = [s for s in sorted(set(seeds)) if _take_seed(stack, results, key, s)]
        done = completed_seeds(scan(Path(results), warn=lambda text: None)).get(key, set())  # the sweep warned
        todo = [s for s in seeds if s in held and s not in done]
        left = {"already running in another process": [s for s in seeds if s not in held],
                "already completed by another process": [s for s in seeds if s in held and s in done]}
        reason = "; ".join(f"seed{'s' if len(v) > 1 else ''} {','.join(map(str, v))} {why}"
                           for why, v in left.items() if v)
        if not todo:
            return {"status": status.SKIPPED, "reason": reason}
        outcome = _run_locked({**unit, "config": {**unit["config"], "seeds": todo}}, progress, capture)
        return {**outcome, "note": reason} if reason else outcome


def _run_locked(unit: dict[str, Any], progress, capture: str) -> dict[str, Any]:
    from gapbench.benchmark.cell import experiment
    from gapbench.benchmark.cell.sacred_compat import FileStorageObserver

    config = {**unit["config"], "checkpoint_dir": str(Path(unit["results"]) / "checkpoints")}
    try:
        observers = [FileStorageObserver(str(Path(unit["results"]) / "runs"))]
        if unit.get("mongo"):
            observers.append(mongo_observer(unit["mongo"]))
        run = experiment.run(config, observers, progress, capture)
    except Exception as err:  # Sacred has already marked the run FAILED and stored the trace
        from gapbench.benchmark.training.loop import Diverged

        reason = err.reason if isinstance(err, Diverged) else f"{type(err).__name__}: {err}"
        return {"status": status.FAILED, "reason": hide_in(reason, unit.get("mongo")),
                "trace": hide_in(traceback.format_exc(limit=5), unit.get("mongo"))}
    return {"status": run.status, "run_id": str(run._id), "result": run.result}


def main() -> int:
    unit = json.loads(sys.stdin.read())  # not argv: the unit may hold a Mongo password
    fd = int(os.environ.get("GAPBENCH_PROGRESS_FD", "-1"))
    channel = os.fdopen(fd, "w", buffering=1) if fd >= 0 else None

    def send(message: dict) -> None:
        if channel is not None:
            channel.write(json.dumps(message) + "\n")

    outcome = run_unit(unit, lambda fields: send({"progress": fields}))
    send({"outcome": outcome})
    return 0 if outcome["status"] in status.FINISHED_WELL else 1


if __name__ == "__main__":
    sys.exit(main())

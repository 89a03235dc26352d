"""Runs one unit of a sweep (a cell and its seeds) as a Sacred run, in whatever process it is in.

Every executor ends here: the sequential one in the sweep's own process, the local one in a
subprocess (`python -m gapbench.benchmark.sweep.worker UNIT_JSON`, progress as JSON lines on an inherited fd),
and the Ray one in a Ray task. A lock file per unit makes sure one unit never trains twice at
once, even across sweeps: the lock dies with the process that holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gapbench.benchmark.cell import status
from gapbench.benchmark.cell.identity import run_name


def unit_lock_path(results: str | Path, key: str, seeds: list[int]) -> Path:
    return Path(results) / "locks" / f"{run_name(key, seeds)}.lock"


def unit_running(results: str | Path, key: str, seeds: list[int]) -> bool:
    """True while a live process holds this unit's lock (a dead one's lock is released)."""
    path = unit_lock_path(results, key, seeds)
    if not path.exists():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def run_unit(unit: dict[str, Any], progress: Callable[[dict], None] | None = None,
             capture: str = "fd") -> dict[str, Any]:
    """unit = {"config": sacred config updates, "identity": key, "results": dir, "mongo": url or None}."""
    lock_path = unit_lock_path(unit["results"], unit["identity"], unit["config"]["seeds"])
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return {"status": status.SKIPPED, "reason": "already running in another process"}
        return _run_locked(unit, progress, capture)


def _run_locked(unit: dict[str, Any], progress, capture: str) -> dict[str, Any]:
    from gapbench.benchmark.cell import experiment
    from gapbench.benchmark.cell.sacred_compat import FileStorageObserver

    observers = [FileStorageObserver(str(Path(unit["results"]) / "runs"))]
    if unit.get("mongo"):
        observers.append(mongo_observer(unit["mongo"]))
    config = {**unit["config"], "checkpoint_dir": str(Path(unit["results"]) / "checkpoints")}
    try:
        run = experiment.run(config, observers, progress, capture)
    except Exception as err:  # Sacred has already marked the run FAILED and stored the trace
        from gapbench.benchmark.training.loop import Diverged

        reason = err.reason if isinstance(err, Diverged) else f"{type(err).__name__}: {err}"
        return {"status": status.FAILED, "reason": reason, "trace": traceback.format_exc(limit=5)}
    return {"status": run.status, "run_id": str(run._id), "result": run.result}


def mongo_observer(url: str):
    """`mongodb://HOST:PORT/DB` -> Sacred's MongoObserver writing to database DB."""
    from urllib.parse import urlparse

    from gapbench.benchmark.cell.sacred_compat import MongoObserver

    db = urlparse(url).path.lstrip("/")
    return MongoObserver(url=url, **({"db_name": db} if db else {}))  # no DB in the URL: Sacred's default


def main() -> int:
    unit = json.loads(sys.argv[1])
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

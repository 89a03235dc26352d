"""Where units run: in this process, in local subprocesses, or as Ray tasks.

All three run the same `sweep.worker.run_unit` and report the same events, so the sweep,
its progress display and its resume logic do not care which one is used.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gapbench.benchmark.cell import status
from gapbench.benchmark.cell.identity import run_name
from gapbench.benchmark.sweep.worker import run_unit


@dataclass
class Unit:
    """A cell and the seeds one process trains together (one seed on a CPU, all on a GPU)."""

    label: str
    payload: dict[str, Any]  # what `run_unit` takes
    steps: int
    seeds: list[int] = field(default_factory=list)


class Events(Protocol):
    def started(self, unit: Unit) -> None: ...
    def progress(self, unit: Unit, fields: dict) -> None: ...
    def finished(self, unit: Unit, outcome: dict) -> None: ...


class SequentialExecutor:
    """One unit after another in this process: the easy one to debug (pdb works)."""

    def run(self, units: list[Unit], events: Events) -> None:
        for unit in units:
            events.started(unit)
            outcome = run_unit(unit.payload, lambda f, u=unit: events.progress(u, f), capture="no")
            events.finished(unit, outcome)


def _die_with_parent() -> None:
    """Linux: a worker gets SIGTERM when the sweep process dies, so no orphan keeps training."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class LocalExecutor:
    """One subprocess per unit, `workers` at a time, each with one thread (perf-cpu.md)."""

    def __init__(self, workers: int, log_dir: Path):
        self.workers, self.log_dir = workers, log_dir

    def run(self, units: list[Unit], events: Events) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(self.workers) as pool:
            for future in [pool.submit(self._run_one, unit, events) for unit in units]:
                future.result()

    def _run_one(self, unit: Unit, events: Events) -> None:
        read_fd, write_fd = os.pipe()
        env = {**os.environ, "GAPBENCH_PROGRESS_FD": str(write_fd), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        log_path = self.log_dir / f"{run_name(unit.payload['identity'], unit.seeds)}.log"
        with open(log_path, "a") as log:
            # The unit goes on stdin, not the command line, which every local user can read: it
            # may hold the --mongo URL and its password.
            proc = subprocess.Popen([sys.executable, "-m", "gapbench.benchmark.sweep.worker"],
                                    pass_fds=(write_fd,), env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)
        os.close(write_fd)
        try:
            proc.stdin.write(json.dumps(unit.payload))
            proc.stdin.close()
        except BrokenPipeError:  # the worker died at once; its exit code says how
            pass
        events.started(unit)
        outcome = None
        with os.fdopen(read_fd, errors="replace") as channel:
            for line in channel:
                message = _message(line)
                if isinstance(message.get("progress"), dict):
                    events.progress(unit, message["progress"])
                elif isinstance(message.get("outcome"), dict) and isinstance(message["outcome"].get("status"), str):
                    outcome = message["outcome"]
        code = proc.wait()
        if outcome is None:
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            outcome = {"status": status.FAILED, "reason": f"worker process {how}; see {log_path}"}
        events.finished(unit, outcome)


def _message(line: str) -> dict:
    """One line of a worker's progress channel; anything that is not a JSON object is ignored
    (a stray write to the inherited fd must not end the sweep)."""
    try:
        message = json.loads(line)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


class RayExecutor:
    """The same units as Ray tasks, on a cluster (`address`) or a local Ray instance.

    Results go where the unit's `results` path points, so on a multi-machine cluster that path
    must be on a shared filesystem, or the runs must go to MongoDB (`--mongo`).
    """

    def __init__(self, workers: int, address: str | None):
        self.workers, self.address = workers, address

    def run(self, units: list[Unit], events: Events) -> None:
        import ray
        from ray.util.queue import Queue

        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:
            ray.init(num_cpus=self.workers, include_dashboard=False, _node_ip_address="127.0.0.1",
                     log_to_driver=False, object_store_memory=200 * 1024**2)
        try:
            queue = Queue()
            task = ray.remote(num_cpus=1, max_retries=0)(_ray_unit)
            pending = {}
            for index, unit in enumerate(units):
                gpus = 1 if unit.payload["config"].get("train", {}).get("device", "cpu").startswith("cuda") else 0
                pending[task.options(num_gpus=gpus).remote(unit.payload, queue, index)] = index
            started: set[int] = set()
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                self._drain(queue, units, started, events)
                for ref in done:
                    index = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception as err:  # the task's process died
                        outcome = {"status": status.FAILED, "reason": f"Ray task failed: {type(err).__name__}"}
                    self._drain(queue, units, started, events)
                    if index not in started:
                        events.started(units[index])
                    events.finished(units[index], outcome)
        finally:
            ray.shutdown()

    @staticmethod
    def _drain(queue, units, started, events) -> None:
        while not queue.empty():
            index, fields = queue.get()
            if index not in started:
                started.add(index)
                events.started(units[index])
            events.progress(units[index], fields)


def _ray_unit(payload: dict, queue, index: int) -> dict:
    return run_unit(payload, lambda fields: queue.put((index, fields)))


def make_executor(kind: str, workers: int, address: str | None, results: Path):
    if kind == "sequential":
        return SequentialExecutor()
    if kind == "local":
        return LocalExecutor(workers, results / "logs")
    if kind == "ray":
        return RayExecutor(workers, address)
    raise ValueError(f"unknown executor {kind!r}")


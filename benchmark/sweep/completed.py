"""What a results store already holds, as the runner needs it: which seeds of which cell are counted.

A seed is counted when a COMPLETED run holds a whole, finite result for it from the full number
of updates (`not_counted`). The tables count by the same rule: analysis/store.py keeps its own
copy, since that layer may not import this one, and tests/test_store_healing.py checks on one
store of broken runs that the two agree run by run. A run that is not counted is redone by the
next `run`; a folder that cannot be read at all gets one warning line and is left alone.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gapbench.benchmark.cell.identity import identity
from gapbench.benchmark.cell.status import COMPLETED, ENDED_BADLY


@dataclass(frozen=True)
class StoredRun:
    run_id: str
    status: str
    identity: str
    seeds: tuple[int, ...]
    config: dict[str, Any]
    failure: str | None
    counted: bool  # COMPLETED, with a whole, finite result from the full budget


def runs_dir(results: Path) -> Path:
    return Path(results) / "runs"


def warn_line(text: str) -> None:
    print(f"gapbench: warning: {text}", file=sys.stderr)


def scan(results: Path, warn: Callable[[str], None] = warn_line) -> list[StoredRun]:
    found = []
    base = runs_dir(results)
    if not base.is_dir():
        return found
    for folder in sorted(base.iterdir(), key=lambda p: (len(p.name), p.name)):
        if folder.name.startswith("_") or not folder.is_dir():
            continue
        try:
            config, run = _read_object(folder / "config.json"), _read_object(folder / "run.json")
            seeds = tuple(int(s) for s in config["seeds"])
            key = identity(config)
        except (_Broken, AttributeError, KeyError, TypeError, ValueError) as err:
            warn(f"skipping run folder {folder}: {_reason(err)}")
            continue
        status = str(run.get("status", "UNKNOWN"))
        problem = None
        if status == COMPLETED:
            try:
                _read_object(folder / "metrics.json")
                problem = not_counted(run, config, _read_object(folder / "info.json"))
            except _Broken as err:
                problem = str(err)
            if problem:
                warn(f"not counting run folder {folder}: {problem}; its seeds will be trained again")
        info = _read_json(folder / "info.json")
        found.append(StoredRun(folder.name, status, key, seeds, config,
                               failure_reason(run, info if isinstance(info, dict) else {}), problem is None
                               and status == COMPLETED))
    return found


def not_counted(run: dict, config: dict, info: dict) -> str | None:
    """Why a COMPLETED run does not count, or None: it must hold one finite final score per seed
    of its config, from as many updates as its config asks. (Copied in analysis/store.py.)"""
    if not isinstance(config, dict) or not all(k in config for k in ("method", "task", "seeds")):
        return "its config lacks method, task or seeds"
    if not isinstance(info, dict):
        return "its info.json is not an object"
    result = run.get("result")
    if not isinstance(result, dict):
        return "it is COMPLETED but has no result"
    seeds = result.get("seeds")
    if not isinstance(seeds, list) or sorted(map(str, seeds)) != sorted(map(str, config["seeds"])):
        return f"its result covers seeds {seeds}, its config {config['seeds']}"
    for key in ("final_return", "final_normalized"):
        values = result.get(key)
        if not isinstance(values, list) or len(values) != len(seeds):
            return f"its result's {key} is not one number per seed"
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            return f"its result's {key} is not finite: {values}"
    if config.get("steps") is not None and result.get("steps") != config["steps"]:
        return f"it made {result.get('steps')} updates of the {config['steps']} its config asks for"
    return None


class _Broken(Exception):
    """A file of a run folder that cannot be used; the message says which and why."""


def _read_object(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise _Broken(f"{path.name} is missing") from None
    except (OSError, ValueError) as err:
        raise _Broken(f"{path.name} is unreadable ({type(err).__name__}: {err})") from None
    if not isinstance(doc, dict):
        raise _Broken(f"{path.name} holds a {type(doc).__name__}, not an object")
    return doc


def _reason(err: Exception) -> str:
    if isinstance(err, _Broken):
        return str(err)
    return "its config lacks seeds, or they are not integers"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def failure_reason(run: dict, info: dict) -> str | None:
    if run.get("status") not in ENDED_BADLY:
        return None
    failure = info.get("failure")
    if isinstance(failure, dict) and failure.get("reason"):
        return str(failure["reason"])
    trace = run.get("fail_trace") or []
    return str(trace[-1]).strip() if isinstance(trace, list) and trace else str(run.get("status")).lower()


def completed_seeds(runs: list[StoredRun]) -> dict[str, set[int]]:
    done: dict[str, set[int]] = {}
    for run in runs:
        if run.counted:
            done.setdefault(run.identity, set()).update(run.seeds)
    return done

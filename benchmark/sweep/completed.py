"""What a results store already holds, as the runner needs it: which seeds of which cell are done.

The analysis layer has its own, fuller reader; this one only looks at status and identity.
"""

from __future__ import annotations

import json
import warnings
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


def runs_dir(results: Path) -> Path:
    return Path(results) / "runs"


def scan(results: Path) -> list[StoredRun]:
    found = []
    base = runs_dir(results)
    if not base.is_dir():
        return found
    for folder in sorted(base.iterdir(), key=lambda p: (len(p.name), p.name)):
        if folder.name.startswith("_") or not folder.is_dir():
            continue
        try:
            config = json.loads((folder / "config.json").read_text())
            run = json.loads((folder / "run.json").read_text())
        except (OSError, ValueError) as err:
            warnings.warn(f"skipping unreadable run folder {folder}: {err}", stacklevel=2)
            continue
        info = _read_json(folder / "info.json")
        found.append(StoredRun(folder.name, run.get("status", "UNKNOWN"), identity(config),
                               tuple(config.get("seeds") or ()), config, failure_reason(run, info)))
    return found


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def failure_reason(run: dict, info: dict) -> str | None:
    if run.get("status") not in ENDED_BADLY:
        return None
    failure = info.get("failure")
    if failure:
        return failure["reason"]
    trace = run.get("fail_trace") or []
    return trace[-1].strip() if trace else run.get("status").lower()


def completed_seeds(runs: list[StoredRun]) -> dict[str, set[int]]:
    done: dict[str, set[int]] = {}
    for run in runs:
        if run.status == COMPLETED:
            done.setdefault(run.identity, set()).update(run.seeds)
    return done

"""A store as one long DataFrame, and the rule for which runs count.

The rule, applied per cell (method, task, dataset, gap; None marks an axis the method ignores):

* Only COMPLETED runs count. FAILED, INTERRUPTED and RUNNING runs keep their partial learning
  curves in the frame (``counted`` False) and each gets a `StoreWarning` with its reason.
* A cell counts one config. If its COMPLETED runs have different configs (different
  `info.identity`: another budget, another beta), the config of the newest run is used and the
  others are named in a warning, so a table never mixes two budgets in one mean.
* A seed counts once. If several COMPLETED runs of that config cover a seed (a sweep rerun into
  the same store, a folder copied twice), the newest by start time is used and a warning names all.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from gapbench.analysis.errors import StoreWarning
from gapbench.analysis.store import COMPLETED, RUNNING, RunRecord, Store, open_store, sort_key

EVAL_METRIC = re.compile(r"^eval/(return|normalized)/seed(\d+)$")

# Leading columns of `load_runs`; the flattened config follows as `config.<key>` columns.
# "sim_return" is the final policy's return in the simulator, for runs that measured it (train.sim_eval_gap).
# "worst_episode" is the lowest of the final evaluation's episode returns (a mean of 20 can hide one fallen
# episode); NaN for runs before 2026-12-06, which stored only the mean.
# "data" is the digest of the data file the run trained on (`info.data.arrays_sha256`); None where the run
# read no data or did not record it (runs before 2026-12-06). A run's identity names the data's recipe, not
# its arrays, and a recipe made again on another CPU kind gives other arrays, so a cell can pool two files.
COLUMNS = ["run_id", "status", "counted", "method", "label", "role", "task", "dataset", "gap", "seed", "phase",
           "step", "return", "normalized", "sim_return", "worst_episode", "start_time", "identity", "data"]
CELL = ["method", "task", "dataset", "gap"]  # a cell's columns; None (NaN) in an axis the method ignores


def load_runs(source: str | Path | Store) -> pd.DataFrame:
    """One row per (run, seed, evaluation): the learning-curve points (``phase`` "eval") of every run,
    and for COMPLETED runs the final evaluation (``phase`` "final", from the run's result).

    ``counted`` marks the rows of the (run, seed) pairs that the tables and plots use (see the
    module docstring); everything else stays in the frame so that nothing is silently dropped.
    """
    store = source if isinstance(source, Store) else open_store(source)
    counted = counted_pairs(store.records)
    rows = []
    for record in store.records:
        base = _describe(record)
        for seed in record.seeds:
            is_counted = (record.run_id, seed) in counted
            curve = _curve(record, seed)
            for step in sorted(curve):
                rows.append({**base, "counted": is_counted, "seed": seed, "phase": "eval", "step": step,
                             **curve[step]})
            if record.result is not None:
                i = record.result["seeds"].index(seed)
                sim = record.result.get("final_sim_return")
                episodes = record.result.get("final_episode_returns")
                rows.append({**base, "counted": is_counted, "seed": seed, "phase": "final",
                             "step": record.result.get("steps", record.config.get("steps")),
                             "return": float(record.result["final_return"][i]),
                             "normalized": float(record.result["final_normalized"][i]),
                             "sim_return": float(sim[i]) if sim is not None else float("nan"),
                             "worst_episode": float(min(episodes[i])) if episodes is not None else float("nan")})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["start_time"] = pd.to_datetime(frame["start_time"])
    if not store.records:
        return frame
    configs = pd.json_normalize([r.config for r in store.records]).add_prefix("config.")
    configs["run_id"] = [r.run_id for r in store.records]
    return frame.merge(configs, on="run_id", how="left")


def final_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, seed): the final score of the run that counts for it."""
    final = frame[(frame["phase"] == "final") & frame["counted"]]
    return final.drop(columns=["phase"]).reset_index(drop=True)


def in_row(frame: pd.DataFrame, task: str, dataset: str | None, gap: str | None) -> pd.Series:
    """Rows that belong to a (task, dataset, gap) table row or facet: a run that ignores an axis
    (None there) belongs to every value of it, as SAC(sim) fills a whole column of the paper's Table 1."""
    return ((frame["task"] == task) & (frame["dataset"].isna() | (frame["dataset"] == dataset))
            & (frame["gap"].isna() | (frame["gap"] == gap)))


def counted_pairs(records: tuple[RunRecord, ...] | list[RunRecord]) -> set[tuple[str, int]]:
    """The (run_id, seed) pairs that count, warning about every run or seed that does not."""
    by_cell: dict[tuple, list[RunRecord]] = defaultdict(list)
    for record in records:
        if record.status == COMPLETED:
            by_cell[record.cell].append(record)
    counted: set[tuple[str, int]] = set()
    for cell, runs in by_cell.items():
        runs = sorted(runs, key=_age, reverse=True)
        keep = [r for r in runs if identity(r) == identity(runs[0])]
        others = [r for r in runs if identity(r) != identity(runs[0])]
        if others:
            differ = ", ".join(_differences(keep[0].config, others[0].config)) or "their recorded identity"
            warnings.warn(f"cell {cell_text(cell)} has COMPLETED runs with different configs: using run(s) "
                          f"{_ids(keep)} (the newest config), not {_ids(others)} (they differ in {differ})",
                          StoreWarning, stacklevel=2)
        for seed in sorted({s for r in keep for s in r.seeds}):
            covering = [r for r in keep if seed in r.seeds]
            counted.add((covering[0].run_id, seed))
            if len(covering) > 1:
                warnings.warn(f"cell {cell_text(cell)} seed {seed}: COMPLETED runs {_ids(covering)} all cover it; "
                              f"using run {covering[0].run_id}, the newest (started {covering[0].start_time}), "
                              f"and not {_ids(covering[1:])}", StoreWarning, stacklevel=2)
    covered = {(rec.cell, seed) for rec in records for seed in rec.seeds if (rec.run_id, seed) in counted}
    for record in records:
        if record.status != COMPLETED:
            redone = [s for s in record.seeds if (record.cell, s) in covered]
            warnings.warn(f"run {record.run_id} ({cell_text(record.cell)}, seeds {record.seeds}) is {record.status}"
                          f"{_reason(record)}; not counted"
                          + (f" (seeds {redone} have a COMPLETED run)" if redone else ""), StoreWarning, stacklevel=2)
    return counted


def identity(record: RunRecord) -> str:
    """The runner's identity of the cell config; for stores without one, a hash of the config less its seeds."""
    if record.info.get("identity"):
        return str(record.info["identity"])
    rest = {k: v for k, v in record.config.items() if k not in ("seeds", "seed", "checkpoint_dir")}
    return hashlib.sha1(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cell_text(cell: tuple) -> str:
    return " ".join(str(part) if part is not None else "-" for part in cell)


def _describe(record: RunRecord) -> dict[str, Any]:
    method = record.info.get("method") or {}
    name, task, dataset, gap = record.cell
    label = method.get("label", record.config["method"])
    if record.precision != "fp32":
        label = f"{label} {record.precision}"
    return {"run_id": record.run_id, "status": record.status, "method": name,
            "label": label, "role": method.get("role", "extra"), "task": task,
            "dataset": dataset, "gap": gap, "start_time": record.start_time, "identity": identity(record),
            "data": (record.info.get("data") or {}).get("arrays_sha256")}


def _curve(record: RunRecord, seed: int) -> dict[int, dict[str, float]]:
    points: dict[int, dict[str, float]] = defaultdict(lambda: {"return": float("nan"), "normalized": float("nan")})
    for name, series in record.metrics.items():
        match = EVAL_METRIC.match(name)
        if match and int(match.group(2)) == seed:
            for step, value in zip(series["steps"], series["values"]):
                points[int(step)][match.group(1)] = float(value)
    return dict(points)


def _age(record: RunRecord) -> tuple:
    """Sorts oldest first: by start time, then (same second, or no time recorded) by run id."""
    return (record.start_time or datetime.min, sort_key(record.run_id))


def _ids(runs: list[RunRecord]) -> str:
    return ", ".join(r.run_id for r in runs)


def _reason(record: RunRecord) -> str:
    failure = record.info.get("failure")
    if isinstance(failure, dict) and failure.get("reason"):
        return f" ({failure['reason']})"
    if record.fail_trace:
        return f" ({record.fail_trace[-1].strip()})"
    if record.status == RUNNING and record.heartbeat:
        return f" (last heartbeat {record.heartbeat:%Y-%m-%d %H:%M:%S})"
    return ""


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    """The dotted config keys whose values differ (seeds and paths aside)."""
    keys = []
    for key in sorted(set(a) | set(b)):
        if key in ("seeds", "seed", "checkpoint_dir"):
            continue
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            keys += _differences(a[key], b[key], f"{prefix}{key}.")
        elif a.get(key) != b.get(key):
            keys.append(f"{prefix}{key}")
    return keys

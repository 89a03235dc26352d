"""What one cell is, what makes two runs the same run, and the name its files go by.

A cell is one (method, task, dataset, gap) with its budget and config. Its Sacred config records
the fully resolved method and training configs, and its identity is a hash of everything in that
config that can change a result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from gapbench.algos import get_method
from gapbench.benchmark.data.generation import Recipe
from gapbench.benchmark.training.loop import train_config

# Fields that change what is logged or where, never a result.
NOT_IDENTITY = {"train": {"device", "torch_threads", "checkpoint_every", "log_every"}}


@dataclass(frozen=True)
class Cell:
    method: str
    task: str
    dataset: str | None  # None: the method learns nothing from the real data
    gap: str | None  # None: the method never runs the simulator
    steps: int
    algo: dict[str, Any]  # the method's overrides; the resolved config is in `config()`
    train: dict[str, Any]
    recipe: Recipe

    @property
    def label(self) -> str:
        return f"{self.method} {self.task} {self.dataset or '-'} {self.gap or '-'}"

    def config(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """The Sacred config of a run of this cell (seeds added by the caller)."""
        method = get_method(self.method)
        algo = dataclasses.asdict(method.config(self.algo))
        train = dataclasses.asdict(train_config({**self.train, "steps": self.steps}))
        config = {"method": self.method, "task": self.task, "dataset": self.dataset, "gap": self.gap,
                  "steps": self.steps, "algo": algo, "train": train,
                  "data": data or {"origin": None, "path": None, "recipe": None}}
        return json.loads(json.dumps(config))  # plain JSON (tuples become lists), as Sacred stores it


def identity(config: dict[str, Any]) -> str:
    """A short hash of everything in a run's config that can change its results."""
    keep = {k: config.get(k) for k in ("method", "task", "dataset", "gap", "steps", "algo")}
    keep["train"] = {k: v for k, v in (config.get("train") or {}).items() if k not in NOT_IDENTITY["train"]}
    data = config.get("data") or {}
    keep["data"] = {"origin": data.get("origin"), "recipe": data.get("recipe")}
    text = json.dumps(keep, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def run_name(key: str, seeds: list[int] | tuple[int, ...]) -> str:
    """The stem of a unit's checkpoint, lock and log files: its identity and its seeds."""
    return f"{key}-seeds{'_'.join(str(s) for s in seeds)}"


def named_seeds(key: str, stem: str) -> tuple[int, ...]:
    """The seeds of the unit whose file stem `run_name(key, seeds)` made; () for another cell's file."""
    prefix = run_name(key, [])
    parts = stem.removeprefix(prefix).split("_") if stem.startswith(prefix) else []
    return tuple(int(s) for s in parts) if parts and all(s.isdigit() for s in parts) else ()

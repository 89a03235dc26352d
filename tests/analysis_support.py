"""How the analysis tests' results store is built from real `gapbench run` sweeps (the
`results_store` fixture in conftest.py), and helpers to read it back by hand, so the tests compare
the analysis against the raw Sacred files."""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

from tests.cli_support import TINY_DATA, TINY_TRAIN, run_cli

STORE_METHODS = "sac,cql,darc,darc+,h2o,h2o-a,h2o-reg,bc"
STORE_GAPS = "gravity:2.0,friction:0.3"
SEEDS = "0,1"
STEPS = "50"
# Figure 3's snapshots: every 25 updates, so a 50-update run saves two, of 64 samples each.
FIGURE3 = ["--with", "diagnostics_every=25", "--with", "diagnostics_batch=64"]
FIGURE3_GAP = "velocity_offset:0.1"
SNAPSHOT_STEPS, SNAPSHOT_BATCH = (25, 50), 64
BUILD_TIMEOUT = 1800  # about a minute on an idle 2-core machine; a busy shared one can be ten times slower


def store_env(root: Path) -> dict[str, str]:
    return {"GAPBENCH_DATA": str(root / "analysis-data"), "D4RL_DATASET_DIR": str(root / "analysis-no-d4rl")}


def build_store(results: Path, env: dict[str, str]) -> None:
    """The grid the tables tests expect, plus one H2O run that saves Figure 3 snapshots.

    The grid trains both seeds of a cell in one run (`--population 2`, the GPU layout), which
    halves the runs to build and gives the analysis multi-seed runs to read; the Figure 3 run and
    the Mongo test's sweep have one seed per run.
    """
    run_cli("run", "--methods", STORE_METHODS, "--datasets", "medium-replay", "--gaps", STORE_GAPS, "--seeds", SEEDS,
            "--steps", STEPS, "--population", "2", "--results", str(results), *TINY_DATA, *TINY_TRAIN, env=env,
            check=True, timeout=BUILD_TIMEOUT)
    run_cli("run", "--methods", "h2o", "--datasets", "medium-replay", "--gaps", FIGURE3_GAP, "--seeds", "0",
            "--steps", STEPS, "--results", str(results), *TINY_DATA, *TINY_TRAIN, *FIGURE3, env=env, check=True,
            timeout=BUILD_TIMEOUT)


# ---------------------------------------------------------------------------- reading by hand


def run_folders(results: Path) -> dict[str, dict]:
    """run id -> {"config", "run", "info"} straight from the JSON files."""
    folders = {}
    for folder in (results / "runs").iterdir():
        if folder.is_dir() and not folder.name.startswith("_"):
            folders[folder.name] = {name: json.loads((folder / f"{name}.json").read_text())
                                    for name in ("config", "run", "info")}
    return folders


def hand_scores(results: Path, method: str, dataset: str | None, gap: str | None, key: str = "final_return") -> dict:
    """seed -> final score of a method's cell, read from run.json (dataset/gap None: the method ignores it)."""
    scores = {}
    for doc in run_folders(results).values():
        config = doc["config"]
        if (config["method"], config["dataset"], config["gap"]) == (method, dataset, gap):
            assert doc["run"]["status"] == "COMPLETED"
            for seed, value in zip(doc["run"]["result"]["seeds"], doc["run"]["result"][key]):
                assert seed not in scores, "the store built for the tests has no duplicates"
                scores[seed] = value
    return scores


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])

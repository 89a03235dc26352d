"""A MongoDB store filled by `gapbench run --mongo` gives the same tables and snapshots as FileStorage."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from gapbench.analysis.runs import load_runs
from gapbench.analysis.snapshots import load_snapshots
from gapbench.analysis.store import open_store
from tests.analysis_support import (
    FIGURE3,
    store_env,
)
from tests.cli_support import TINY_DATA, TINY_TRAIN, run_cli


def test_mongo_and_file_storage_give_equal_tables(results_store, mongo_url, tmp_path, tmp_path_factory):
    pytest.importorskip("pymongo")
    base = tmp_path_factory.getbasetemp()
    env = store_env(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)  # the store's data cache
    results, db = tmp_path / "results", f"{mongo_url}/analysis_tables"
    # One sweep, both observers, both seeds of a cell in one run; H2O and H2O-a also save Figure 3
    # snapshots (GridFS artifacts in Mongo).
    run_cli("run", "--methods", "sac,cql,h2o,h2o-a", "--datasets", "medium-replay", "--gaps", "gravity:2.0",
            "--seeds", "0,1", "--population", "2", "--steps", "50", "--results", str(results), "--mongo", db,
            *TINY_DATA, *TINY_TRAIN, *FIGURE3, env=env, check=True)
    outputs = {}
    for name, source in (("file", str(results)), ("mongo", db)):
        proc = run_cli("tables", "--results", source, "--out", str(tmp_path / name), check=True)
        assert "gapbench: warning" not in proc.stderr
        outputs[name] = proc.stdout.replace(str(tmp_path / name), "OUT")
    files = sorted(p.name for p in (tmp_path / "file").iterdir())
    assert files == ["table1.csv", "table1.md", "table1.tex", "table2.csv", "table2.md", "table2.tex"]
    for name in files:
        assert (tmp_path / "mongo" / name).read_text() == (tmp_path / "file" / name).read_text(), name
    assert outputs["mongo"] == outputs["file"]
    assert "H2O-a" in (tmp_path / "mongo" / "table2.md").read_text()

    key = ["method", "dataset", "gap", "seed", "phase", "step"]
    frames, snapshots = {}, {}
    for name, source in (("file", str(results)), ("mongo", db)):
        store = open_store(source)
        frame = load_runs(store)
        frames[name] = frame.drop(columns=["run_id", "start_time"]).sort_values(key).reset_index(drop=True)
        snaps = load_snapshots(store, frame).drop(columns=["run_id"])
        snapshots[name] = snaps.sort_values(["method", "seed", "step"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(frames["mongo"], frames["file"], check_like=True)
    assert len(snapshots["file"]) == 2 * 2 * 2 * 64  # two methods x two seeds x two snapshots x the batch
    pd.testing.assert_frame_equal(snapshots["mongo"], snapshots["file"])

"""Damaged stores: broken folders are skipped with a warning, duplicates count once (the newest),
failed and unfinished runs are reported and not counted, and everything else still loads."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from gapbench.analysis.errors import AnalysisError, StoreWarning
from gapbench.analysis.runs import final_scores, load_runs
from tests.analysis_support import (
    read_csv,
    run_folders,
)
from tests.cli_support import run_cli


def run_id(results: Path, method: str, dataset: str | None, gap: str | None) -> str:
    """The store's one run of a cell (its grid trains both seeds in one run)."""
    found = [rid for rid, doc in run_folders(results).items()
             if (doc["config"]["method"], doc["config"]["dataset"], doc["config"]["gap"]) == (method, dataset, gap)]
    assert len(found) == 1, found
    return found[0]


def edit(folder: Path, name: str, change) -> None:
    path = folder / name
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def damaged(results_store, tmp_path_factory):
    """A copy of the session store with one of each kind of damage; returns (store, {what: run id})."""
    store = tmp_path_factory.mktemp("damaged") / "results"
    shutil.copytree(results_store, store)
    runs = store / "runs"
    ids = {"corrupt": run_id(store, "darc", "medium-replay", "gravity:2.0"),
           "no_metrics": run_id(store, "h2o-reg", "medium-replay", "friction:0.3"),
           "h2o": run_id(store, "h2o", "medium-replay", "gravity:2.0"),
           "h2o_friction": run_id(store, "h2o", "medium-replay", "friction:0.3"),
           "sac": run_id(store, "sac", None, "gravity:2.0"),
           "cql": run_id(store, "cql", "medium-replay", None),
           "bc": run_id(store, "bc", "medium-replay", None)}
    (runs / ids["corrupt"] / "run.json").write_text('{"status": "COMPLETED", "result": ')  # cut off mid-write
    (runs / ids["no_metrics"] / "metrics.json").unlink()

    def copy(source: str, new: str) -> Path:
        shutil.copytree(runs / source, runs / new)
        return runs / new

    # A newer duplicate of H2O's run, with results that tell it apart, and an older one of SAC's.
    edit(copy(ids["h2o"], "900"), "run.json", lambda d: d.update(
        start_time="2099-01-01T00:00:00", result={**d["result"], "final_return": [12345.0, 23456.0]}))
    edit(copy(ids["sac"], "901"), "run.json", lambda d: d.update(
        start_time="1999-01-01T00:00:00", result={**d["result"], "final_return": [-999.0, -999.0]}))
    # A newer rerun of seed 1 only of H2O on friction: seed 1 comes from it, seed 0 from the original.
    partial = copy(ids["h2o_friction"], "905")
    edit(partial, "config.json", lambda d: d.update(seeds=[1]))
    edit(partial, "run.json", lambda d: d.update(start_time="2099-01-01T00:00:00", result={
        **d["result"], "seeds": [1], "final_return": [777.0], "final_normalized": [d["result"]["final_normalized"][1]]}))
    # A FAILED rerun of CQL, and a run still RUNNING that has written no metrics or info yet.
    failed = copy(ids["cql"], "902")
    edit(failed, "run.json", lambda d: d.update(status="FAILED", result=None, fail_trace=["Traceback", "Diverged\n"]))
    edit(failed, "info.json", lambda d: d.update(failure={"reason": "non-finite q/loss at update 40", "step": 40}))
    running = copy(ids["cql"], "903")
    edit(running, "run.json", lambda d: d.update(status="RUNNING", result=None))
    (running / "metrics.json").unlink()
    (running / "info.json").unlink()
    # BC rerun with another budget: a different config of the same cell, and the newest.
    other = copy(ids["bc"], "904")
    edit(other, "run.json", lambda d: d.update(start_time="2099-01-01T00:00:00",
                                               result={**d["result"], "final_return": [1.5, 2.5], "steps": 60}))
    edit(other, "config.json", lambda d: d.update(steps=60))
    edit(other, "info.json", lambda d: d.update(identity="feedfacecafe"))
    return store, ids


def store_warnings(store: Path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load_runs(store)
    return frame, [str(w.message) for w in caught if issubclass(w.category, StoreWarning)]


def one(messages: list[str], *parts: str) -> str:
    found = [m for m in messages if all(p in m for p in parts)]
    assert len(found) == 1, f"expected one warning with {parts}, got {found} among {messages}"
    return found[0]


def cell(final, method: str, gap: str | None):
    return final[(final["method"] == method) & (final["gap"].fillna("-") == (gap or "-"))].set_index("seed")


def test_broken_folders_are_skipped_with_a_warning_naming_them(damaged):
    store, ids = damaged
    frame, messages = store_warnings(store)
    one(messages, f"skipping run folder {store / 'runs' / ids['corrupt']}", "run.json is unreadable")
    one(messages, f"skipping run folder {store / 'runs' / ids['no_metrics']}", "metrics.json is missing")
    assert not {ids["corrupt"], ids["no_metrics"]} & set(frame["run_id"])
    final = final_scores(frame)
    assert cell(final, "darc", "gravity:2.0").empty and cell(final, "h2o-reg", "friction:0.3").empty
    assert list(cell(final, "darc", "friction:0.3").index) == [0, 1]  # the rest of the store loaded


def test_duplicates_count_once_and_the_newest_wins(damaged):
    store, ids = damaged
    frame, messages = store_warnings(store)
    for seed in (0, 1):
        one(messages, f"gravity:2.0 seed {seed}: COMPLETED runs 900, {ids['h2o']} all cover it", "using run 900")
        one(messages, f"gravity:2.0 seed {seed}: COMPLETED runs {ids['sac']}, 901 all cover it",
            f"using run {ids['sac']}")
    one(messages, f"friction:0.3 seed 1: COMPLETED runs 905, {ids['h2o_friction']} all cover it", "using run 905")
    assert not [m for m in messages if "friction:0.3 seed 0" in m]  # seed 0 has one run only
    final = final_scores(frame)
    assert not final.duplicated(["method", "task", "dataset", "gap", "seed"]).any()
    h2o = cell(final, "h2o", "gravity:2.0")
    assert list(h2o["return"]) == [12345.0, 23456.0] and set(h2o["run_id"]) == {"900"}
    sac = cell(final, "sac", "gravity:2.0")
    assert set(sac["run_id"]) == {ids["sac"]} and -999.0 not in set(sac["return"])
    friction = cell(final, "h2o", "friction:0.3")
    assert friction.loc[1, "return"] == 777.0 and friction.loc[0, "run_id"] == ids["h2o_friction"]
    # A cell uses one config: BC's newer 60-update run replaces the 50-update one.
    message = one(messages, "bc halfcheetah medium-replay -", "different configs", "using run(s) 904")
    assert "differ in steps" in message and f"not {ids['bc']}" in message
    assert list(cell(final, "bc", None)["return"]) == [1.5, 2.5]
    # The curves follow the same choice: only the counted (run, seed) pairs are marked counted.
    counted = frame[frame["counted"] & (frame["method"] == "h2o") & (frame["gap"] == "gravity:2.0")]
    assert set(counted["run_id"]) == {"900"}


def test_failed_and_unfinished_runs_are_reported_not_counted(damaged):
    store, _ = damaged
    frame, messages = store_warnings(store)
    one(messages, "run 902 (cql halfcheetah medium-replay -, seeds [0, 1]) is FAILED (non-finite q/loss at update 40)",
        "not counted", "seeds [0, 1] have a COMPLETED run")
    one(messages, "run 903", "is RUNNING (last heartbeat")
    assert not [m for m in messages if "skipping" in m and "903" in m]  # unfinished, not broken
    failed = frame[frame["run_id"] == "902"]
    assert len(failed) and set(failed["phase"]) == {"eval"} and not failed["counted"].any()
    assert set(failed["status"]) == {"FAILED"}


def test_tables_command_on_the_damaged_store(damaged, tmp_path):
    store, ids = damaged
    proc = run_cli("tables", "--results", str(store), "--out", str(tmp_path), "--format", "csv", check=True)
    warned = [line for line in proc.stderr.splitlines() if line.startswith("gapbench: warning: ")]
    assert any(f"skipping run folder {store / 'runs' / ids['corrupt']}" in line for line in warned)
    assert any("run 902" in line and "FAILED" in line for line in warned)
    rows = {(r["Dataset"], r["Dynamics gap"], r["method"]): r for r in read_csv(tmp_path / "table1.csv")}
    assert rows[("Medium Replay", "Gravity 2.0", "darc")]["n_seeds"] == "0"
    assert float(rows[("Medium Replay", "Gravity 2.0", "h2o")]["mean"]) == (12345.0 + 23456.0) / 2
    assert float(rows[("Medium Replay", "Friction 0.3", "bc")]["mean"]) == 2.0


def test_a_missing_store_is_a_user_error(tmp_path):
    with pytest.raises(AnalysisError, match="no results store at"):
        load_runs(tmp_path / "nothing-here")

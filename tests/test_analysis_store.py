"""Damaged stores: broken folders are skipped with a warning, duplicates count once (the newest),
failed and unfinished runs are reported and not counted, and everything else still loads."""

from __future__ import annotations

import json
import shutil
import statistics
import warnings
from pathlib import Path

import pytest

from analysis.errors import AnalysisError, StoreWarning
from analysis.runs import final_scores, load_runs
from tests.analysis_fixtures import hand_scores, read_csv, results_store, run_folders  # noqa: F401 (a fixture)
from tests.conftest import run_cli


def run_id(results: Path, method: str, dataset: str | None, gap: str | None, seed: int) -> str:
    for rid, doc in run_folders(results).items():
        config = doc["config"]
        if (config["method"], config["dataset"], config["gap"], config["seeds"]) == (method, dataset, gap, [seed]):
            return rid
    raise AssertionError(f"no run of {method} {dataset} {gap} seed {seed}")


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
    ids = {"corrupt": run_id(store, "darc", "medium-replay", "gravity:2.0", 0),
           "no_metrics": run_id(store, "h2o-reg", "medium-replay", "friction:0.3", 1),
           "h2o": run_id(store, "h2o", "medium-replay", "gravity:2.0", 0),
           "sac": run_id(store, "sac", None, "gravity:2.0", 1),
           "cql": run_id(store, "cql", "medium-replay", None, 0),
           "bc": run_id(store, "bc", "medium-replay", None, 1)}
    (runs / ids["corrupt"] / "run.json").write_text('{"status": "COMPLETED", "result": ')  # cut off mid-write
    (runs / ids["no_metrics"] / "metrics.json").unlink()

    def copy(source: str, new: str) -> Path:
        shutil.copytree(runs / source, runs / new)
        return runs / new

    # A newer duplicate of H2O's seed 0, with a result that tells it apart, and an older one of SAC's seed 1.
    newer = copy(ids["h2o"], "900")
    edit(newer, "run.json", lambda d: d.update(start_time="2099-01-01T00:00:00",
                                               result={**d["result"], "final_return": [12345.0]}))
    edit(copy(ids["sac"], "901"), "run.json", lambda d: d.update(start_time="1999-01-01T00:00:00",
                                                                 result={**d["result"], "final_return": [-999.0]}))
    # A FAILED rerun of CQL's seed 0, and a run still RUNNING that has written no metrics or info yet.
    failed = copy(ids["cql"], "902")
    edit(failed, "run.json", lambda d: d.update(status="FAILED", result=None, fail_trace=["Traceback", "Diverged\n"]))
    edit(failed, "info.json", lambda d: d.update(failure={"reason": "non-finite q/loss at update 40", "step": 40}))
    running = copy(ids["cql"], "903")
    edit(running, "run.json", lambda d: d.update(status="RUNNING", result=None))
    (running / "metrics.json").unlink()
    (running / "info.json").unlink()
    # BC's seed 1 rerun with another budget: a different config of the same cell, the newest.
    other = copy(ids["bc"], "904")
    edit(other, "run.json", lambda d: d.update(start_time="2099-01-01T00:00:00"))
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


def test_broken_folders_are_skipped_with_a_warning_naming_them(damaged):
    store, ids = damaged
    frame, messages = store_warnings(store)
    one(messages, f"skipping run folder {store / 'runs' / ids['corrupt']}", "run.json is unreadable")
    one(messages, f"skipping run folder {store / 'runs' / ids['no_metrics']}", "metrics.json is missing")
    assert not {ids["corrupt"], ids["no_metrics"]} & set(frame["run_id"])
    final = final_scores(frame)
    darc = final[(final["method"] == "darc") & (final["gap"] == "gravity:2.0")]
    assert list(darc["seed"]) == [1]  # the rest of the store loaded
    assert len(final[final["method"] == "h2o-reg"]) == 3


def test_duplicates_count_once_and_the_newest_wins(damaged):
    store, ids = damaged
    frame, messages = store_warnings(store)
    one(messages, "seed 0", f"runs 900, {ids['h2o']} all cover it", "using run 900")
    one(messages, "seed 1", f"runs {ids['sac']}, 901 all cover it", f"using run {ids['sac']}")
    final = final_scores(frame)
    assert not final.duplicated(["method", "task", "dataset", "gap", "seed"]).any()
    h2o = final[(final["method"] == "h2o") & (final["gap"] == "gravity:2.0")].set_index("seed")
    assert h2o.loc[0, "return"] == 12345.0 and h2o.loc[0, "run_id"] == "900"
    sac = final[(final["method"] == "sac") & (final["gap"] == "gravity:2.0")].set_index("seed")
    assert sac.loc[1, "run_id"] == ids["sac"] and sac.loc[1, "return"] != -999.0
    # A cell uses one config: BC's newer 60-update run replaces both 50-update seeds.
    message = one(messages, "halfcheetah medium-replay -", "different configs", "using run(s) 904")
    assert "differ in steps" in message
    assert list(final.loc[final["method"] == "bc", "run_id"]) == ["904"]


def test_failed_and_unfinished_runs_are_reported_not_counted(damaged):
    store, _ = damaged
    frame, messages = store_warnings(store)
    one(messages, "run 902 (cql halfcheetah medium-replay -, seeds [0]) is FAILED (non-finite q/loss at update 40)",
        "not counted", "seeds [0] have a COMPLETED run")
    one(messages, "run 903", "is RUNNING (last heartbeat")
    assert not [m for m in messages if "skipping" in m and m.split(":")[0].endswith("903")]  # not broken: unfinished
    failed = frame[frame["run_id"] == "902"]
    assert len(failed) and set(failed["phase"]) == {"eval"} and not failed["counted"].any()
    assert set(failed["status"]) == {"FAILED"}


def test_tables_command_on_the_damaged_store(damaged, results_store, tmp_path):
    store, ids = damaged
    proc = run_cli("tables", "--results", str(store), "--out", str(tmp_path), "--format", "csv", check=True)
    warned = [line for line in proc.stderr.splitlines() if line.startswith("gapbench: warning: ")]
    assert any(f"skipping run folder {store / 'runs' / ids['corrupt']}" in line for line in warned)
    assert any("run 902" in line and "FAILED" in line for line in warned)
    rows = {(r["Dataset"], r["Dynamics gap"], r["method"]): r for r in read_csv(tmp_path / "table1.csv")}
    assert rows[("Medium Replay", "Gravity 2.0", "darc")]["n_seeds"] == "1"
    h2o = rows[("Medium Replay", "Gravity 2.0", "h2o")]
    seed1 = hand_scores(results_store, "h2o", "medium-replay", "gravity:2.0")[1]
    assert float(h2o["mean"]) == pytest.approx(statistics.mean([12345.0, seed1]))


def test_a_missing_store_is_a_user_error(tmp_path):
    with pytest.raises(AnalysisError, match="no results store at"):
        load_runs(tmp_path / "nothing-here")

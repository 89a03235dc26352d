"""`gapbench run`, `status` and the Sacred experiment, end to end through the console script."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest


from tests.cli_support import GAPBENCH, TINY_DATA, TINY_TRAIN, run_cli


def stored_runs(results: Path) -> list[dict]:
    runs = []
    for folder in sorted((results / "runs").glob("[0-9]*")):
        run = json.loads((folder / "run.json").read_text())
        config = json.loads((folder / "config.json").read_text())
        info, metrics = (json.loads(p.read_text()) if p.exists() else {}
                         for p in (folder / "info.json", folder / "metrics.json"))  # a killed run may lack them
        runs.append({"id": folder.name, "status": run["status"], "result": run.get("result"), "config": config,
                     "info": info, "metrics": metrics})
    return runs


def cell_of(run: dict) -> tuple:
    c = run["config"]
    return c["method"], c["dataset"], c["gap"], tuple(c["seeds"])


def sweep(results: Path, *args: str, check: bool = True, steps: int = 50):
    return run_cli("run", "--datasets", "medium-replay", "--seeds", "0", "--steps", str(steps),
                   "--results", str(results), *TINY_DATA, *TINY_TRAIN, *args, check=check)


def test_grid_trains_each_cell_once_and_a_rerun_does_nothing(tmp_path):
    results = tmp_path / "results"
    proc = sweep(results, "--methods", "sac,cql,h2o", "--gaps", "gravity:2.0,friction:0.3")
    assert "generated with D4RL's recipe" in proc.stdout or "generated with D4RL's recipe" in proc.stderr
    assert "emulates bf16" not in proc.stderr  # fp32 sweeps are never warned
    runs = stored_runs(results)
    assert all(r["status"] == "COMPLETED" for r in runs)
    # SAC ignores the dataset, CQL the gap: 2 + 1 + 2 runs, not 2 + 2 + 2
    assert sorted(cell_of(r) for r in runs) == sorted([
        ("sac", None, "gravity:2.0", (0,)), ("sac", None, "friction:0.3", (0,)),
        ("cql", "medium-replay", None, (0,)),
        ("h2o", "medium-replay", "gravity:2.0", (0,)), ("h2o", "medium-replay", "friction:0.3", (0,))])
    h2o = next(r for r in runs if r["config"]["method"] == "h2o")
    assert h2o["config"]["algo"]["beta"] == 0.01 and h2o["config"]["data"]["origin"] == "generated"
    assert h2o["info"]["method"]["label"] == "H2O"
    # each run that read the data records the digest `datasets check` prints for that file
    check = run_cli("datasets", "check", h2o["config"]["data"]["path"], check=True).stdout
    digest = re.search(r"arrays sha256: ([0-9a-f]{64})", check).group(1)
    assert {r["info"]["data"]["arrays_sha256"] for r in runs if r["config"]["dataset"]} == {digest}
    assert not any("data" in r["info"] for r in runs if r["config"]["method"] == "sac")
    assert h2o["metrics"]["eval/return/seed0"]["steps"] == [0, 50]
    assert {"train/h2o/u_mean/seed0", "train/h2o/omega_std/seed0", "train/h2o/dynamics_ratio_mean/seed0",
            "train/q/bellman_real/seed0", "train/alpha/value/seed0"} <= set(h2o["metrics"])
    assert len(h2o["result"]["final_return"]) == 1
    again = sweep(results, "--methods", "sac,cql,h2o", "--gaps", "gravity:2.0,friction:0.3")
    assert "nothing to do: all 5 runs of this sweep are COMPLETED" in again.stdout
    assert len(stored_runs(results)) == 5



def test_every_locomotion_task_runs_its_data_grid_and_table_through_the_cli(tmp_path):
    """ODRL's four tasks end to end: D4RL-style data generated for each (tiny), H2O and CQL trained
    against a composed gap that every task has, and one Table 1 row per task with finite scores."""
    results, tasks = tmp_path / "results", ("hopper", "walker2d", "ant")
    sweep(results, "--methods", "h2o,cql", "--tasks", ",".join(tasks), "--gaps", "gravity:0.5+action_delay:1")
    runs = stored_runs(results)
    assert sorted((r["config"]["task"], r["config"]["method"]) for r in runs) == sorted(
        (t, m) for t in tasks for m in ("h2o", "cql"))
    assert all(r["status"] == "COMPLETED" and np.isfinite(r["result"]["final_return"]).all() for r in runs)
    for run in runs:  # each task's own data, generated with its own recipe
        assert Path(run["config"]["data"]["path"]).name.startswith(f"{run['config']['task']}-medium-replay-")
    run_cli("tables", "--results", str(results), "--format", "md", check=True)
    table = (results / "tables" / "table1.md").read_text()
    body = [line for line in table.splitlines() if line.startswith("| ") and "Task" not in line]
    assert sorted(line.split("|")[1].strip() for line in body) == sorted(tasks), table
    assert "nan" not in table.lower()

@pytest.mark.parametrize("args, expected", [
    (["--methods", "h2o,dark"], "unknown method 'dark'; valid methods: "),
    (["--methods", "h2o", "--gaps", "gravity:two"], "'two' is not a number"),
    (["--methods", "h2o", "--datasets", "medium-expertt"], "unknown dataset 'medium-expertt'; valid datasets: medium"),
    (["--preset", "paper-table3"], "unknown preset 'paper-table3'; valid presets: paper-table1"),
    (["--methods", "h2o", "--with", "betta=0.1"], "no method of this grid has a field 'betta'; valid keys:"),
    (["--methods", "h2o", "--with", "beta=[1,2]"], "'beta' must be a number"),
    (["--methods", "sac", "--with", "h2oo.beta=0.1"], "'h2oo' is neither a method nor 'train'; valid methods:"),
    (["--methods", "sac", "--with", "h2o.betta=0.1"], "h2o has no field 'betta'"),
    (["--methods", "h2o", "--with", "precision=fp8"], "'precision' must be one of ['fp32', 'bf16']"),
])
def test_bad_input_fails_in_one_line_before_anything_runs(tmp_path, args, expected):
    proc = run_cli("run", "--results", str(tmp_path / "results"), *args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert not (tmp_path / "results").exists()


def test_corrupt_dataset_is_named_before_anything_runs(tmp_path):
    d4rl = tmp_path / "d4rl"
    d4rl.mkdir()
    bad = d4rl / "halfcheetah_medium_replay-v2.hdf5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    proc = run_cli("run", "--methods", "h2o", "--datasets", "medium-replay", "--results", str(tmp_path / "r"),
                   env={"D4RL_DATASET_DIR": str(d4rl)})
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and str(bad) in proc.stderr
    assert not (tmp_path / "r" / "runs").exists()


def test_a_diverging_run_fails_with_its_reason_and_the_sweep_goes_on(tmp_path):
    results = tmp_path / "results"
    proc = sweep(results, "--methods", "sac,h2o", "--gaps", "gravity:2.0", "--with", "sac.qf_lr=1e30", check=False)
    assert proc.returncode == 1
    assert "FAILED   sac" in proc.stderr and "non-finite" in proc.stderr
    runs = {r["config"]["method"]: r for r in stored_runs(results)}
    assert runs["h2o"]["status"] == "COMPLETED"
    assert runs["sac"]["status"] == "FAILED"
    failure = runs["sac"]["info"]["failure"]
    assert "non-finite" in failure["reason"] and 1 <= failure["step"] <= 50
    status = run_cli("status", "--methods", "sac,h2o", "--datasets", "medium-replay", "--gaps", "gravity:2.0",
                     "--seeds", "0", "--steps", "50", "--results", str(results), *TINY_DATA, *TINY_TRAIN,
                     "--with", "sac.qf_lr=1e30", check=True)
    assert "1 completed, 0 running, 1 failed, 0 missing" in status.stdout
    assert "non-finite" in status.stdout


def worker_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent), "-f", "gapbench.benchmark.sweep.worker"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_sigkilled_worker_then_rerun_completes_every_cell_exactly_once(tmp_path):
    results = tmp_path / "results"
    args = ["run", "--methods", "h2o,sac", "--datasets", "medium-replay", "--gaps", "gravity:2.0",
            "--seeds", "0,1", "--steps", "150", "--results", str(results), "--workers", "2", *TINY_DATA,
            *TINY_TRAIN, "--with", "checkpoint_every=50"]
    run_cli(*args[:1], "--methods", "h2o", "--datasets", "medium-replay", "--seeds", "0", "--steps", "150",
            "--results", str(tmp_path / "reference"), *TINY_DATA, *TINY_TRAIN, "--with", "checkpoint_every=50",
            check=True)
    sweep_proc = subprocess.Popen([GAPBENCH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    victim = None
    while victim is None and time.time() < deadline and sweep_proc.poll() is None:
        if list((results / "checkpoints").glob("*.pt")):
            pids = worker_pids(sweep_proc.pid)
            if pids:
                victim = pids[0]
                os.kill(victim, signal.SIGKILL)
        time.sleep(0.1)
    _, err = sweep_proc.communicate(timeout=600)
    assert victim is not None, err
    assert sweep_proc.returncode == 1 and "killed by SIGKILL" in err
    rerun = run_cli(*args, check=True)
    assert "already completed" in rerun.stdout
    runs = stored_runs(results)
    completed = [cell_of(r) for r in runs if r["status"] == "COMPLETED"]
    assert sorted(completed) == sorted([("h2o", "medium-replay", "gravity:2.0", (0,)),
                                        ("h2o", "medium-replay", "gravity:2.0", (1,)),
                                        ("sac", None, "gravity:2.0", (0,)), ("sac", None, "gravity:2.0", (1,))])
    assert len(runs) == 5  # the killed run's folder stays, not COMPLETED
    reference = stored_runs(tmp_path / "reference")[0]
    again = next(r for r in runs if r["status"] == "COMPLETED" and cell_of(r) == cell_of(reference))
    assert again["result"] == reference["result"]  # killed or not, the same result
    assert again["metrics"]["eval/return/seed0"]["values"] == reference["metrics"]["eval/return/seed0"]["values"]


def test_mongo_observer_stores_runs_and_metrics(tmp_path, mongo_url):
    pymongo = pytest.importorskip("pymongo")
    sweep(tmp_path / "results", "--methods", "sac", "--gaps", "gravity:2.0", "--mongo", f"{mongo_url}/gapbench_test")
    client = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    db = client["gapbench_test"]
    run = db.runs.find_one({"config.method": "sac"})
    assert run["status"] == "COMPLETED" and run["info"]["method"]["label"] == "SAC(sim)"
    metric = db.metrics.find_one({"run_id": run["_id"], "name": "eval/return/seed0"})
    assert metric["steps"] == [0, 50]
    assert len(stored_runs(tmp_path / "results")) == 1  # FileStorage is still the source of truth


def test_ray_executor_runs_the_same_cells(tmp_path):
    pytest.importorskip("ray")
    results = tmp_path / "results"
    sweep(results, "--methods", "sac", "--gaps", "gravity:2.0,friction:0.3", "--executor", "ray", "--workers", "2")
    runs = stored_runs(results)
    assert sorted(cell_of(r) for r in runs) == [("sac", None, "friction:0.3", (0,)), ("sac", None, "gravity:2.0", (0,))]
    assert all(r["status"] == "COMPLETED" for r in runs)


def test_a_cell_runs_from_sacreds_own_command_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "gapbench.benchmark.cell.experiment", "with", "method=sac", "gap=joint_noise:0.5", "steps=50",
         "seeds=[3]", "train.updates_per_epoch=50", "train.sim_steps_per_epoch=50", "train.eval_every=50",
         "train.eval_episodes=1", "train.final_eval_episodes=1", "-F", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = json.loads((tmp_path / "runs" / "1" / "run.json").read_text())
    config = json.loads((tmp_path / "runs" / "1" / "config.json").read_text())
    assert run["status"] == "COMPLETED" and run["result"]["seeds"] == [3]
    assert config["gap"] == "joint_noise:0.5" and config["dataset"] is None  # SAC ignores the dataset


def test_datasets_make_writes_d4rl_files_with_their_recipe(tmp_path):
    env = {"GAPBENCH_DATA": str(tmp_path / "cache")}
    proc = run_cli("datasets", "make", "--kind", "medium", "--size", "1200", "--budget", "200", env=env, check=True)
    assert "never reached the medium target return" in proc.stdout
    folder = tmp_path / "cache" / "datasets"
    kinds = ("expert", "medium-expert", "medium-replay", "medium")
    tag = "v3-n1200-b200-s0-m40"
    assert sorted(p.name for p in folder.glob("*.hdf5")) == sorted(f"halfcheetah-{k}-{tag}.hdf5" for k in kinds)
    assert not list(folder.glob("*generation*/*")), "the work folder of a finished generation is removed"
    check = run_cli("datasets", "check", str(folder / f"halfcheetah-medium-expert-{tag}.hdf5"), check=True)
    assert "rows 2400" in check.stdout and "metadata kind: medium-expert" in check.stdout
    replay = run_cli("datasets", "check", str(folder / f"halfcheetah-medium-replay-{tag}.hdf5"), check=True)
    assert "rows 1000" in replay.stdout  # one epoch of 1000 sim steps before the budget ran out
    again = run_cli("datasets", "make", "--kind", "medium", "--size", "1200", "--budget", "200", env=env, check=True)
    assert "already generated" in again.stdout
    expert = run_cli("datasets", "make", "--kind", "expert", "--size", "1200", "--budget", "200", env=env, check=True)
    assert "already generated" in expert.stdout and "\nexpert: " in expert.stdout, expert.stdout  # no medium line

    table = run_cli("datasets", "table", "--size", "1200", "--budget", "200", env=env, check=True).stdout
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in table.splitlines() if line.startswith("| halfcheetah-")}
    assert set(rows) == {f"halfcheetah-{k}" for k in kinds}
    for kind in kinds:  # every cell against the file read by hand, episode by episode
        with h5py.File(folder / f"halfcheetah-{kind}-{tag}.hdf5") as f:
            rewards = f["rewards"][:].astype(np.float64)
            ends = np.flatnonzero(f["terminals"][:] | f["timeouts"][:]) + 1
        returns = np.array([rewards[a:b].sum() for a, b in zip([0, *ends[:-1]], ends)])
        normalised = 100 * (returns.mean() + 280.178953) / (12135.0 + 280.178953)
        assert rows[f"halfcheetah-{kind}"] == [f"{len(rewards):,}", f"{len(returns):,}",
                                                f"{returns.mean():.0f} ± {returns.std():.0f}", f"{normalised:.1f}"], (kind, table)
    assert "medium policy: SAC update 200" in table
    missing = run_cli("datasets", "table", "--seed", "5", env=env, check=True).stdout
    assert missing.count("not generated") == 4


def test_datasets_make_rejects_a_medium_level_outside_the_score_range(tmp_path):
    bad = run_cli("datasets", "make", "--medium-score", "120", env={"GAPBENCH_DATA": str(tmp_path)})
    assert bad.returncode == 2 and "medium_score must be a normalised score in (0, 100), got 120.0" in bad.stderr
    assert not any(tmp_path.iterdir())


def test_paper_presets_take_the_authors_code_settings_and_the_papers_text_stays_runnable(tmp_path):
    """docs/fidelity.md, "Which settings the paper presets use": the paper's numbers came from the
    authors' code, so the paper presets use its padded-std u(s,a) and joint-noise cost on the
    executed action; `--with` and `--gaps` give the paper's text back, and the two never share a run."""
    from gapbench.benchmark.sweep.presets import presets

    available = presets()
    (table1,) = available["paper-table1"].grids
    assert table1.gaps == ("gravity:2.0", "friction:0.3", "joint_noise:1.0:executed")
    assert {m for m, overrides in table1.algo.items() if overrides == {"next_state_noise": "padded_buffer_std"}} \
        == {"h2o"}  # the only Table 1 method with that field
    assert available["quick"].grids[0].algo["h2o"] == {"hidden": [64, 64]}  # other presets: the paper's text
    listing = run_cli("list", "presets", check=True).stdout
    for name in ("paper-table1", "paper-table2", "paper-figure3"):
        description = listing[listing.index(name):].splitlines()[1]
        assert "the authors' code settings" in description or "the authors' padded-std u(s,a)" in description

    tiny = ["--preset", "paper-table2", "--methods", "h2o", "--seeds", "0", "--steps", "50", *TINY_DATA, *TINY_TRAIN,
            "--results", str(tmp_path / "results")]
    run_cli("run", *tiny, check=True)
    run_cli("run", *tiny, "--with", "next_state_noise=dataset_cov", check=True)
    runs = stored_runs(tmp_path / "results")
    assert sorted(r["config"]["algo"]["next_state_noise"] for r in runs) == ["dataset_cov", "padded_buffer_std"]
    assert len({r["info"]["identity"] for r in runs}) == 2

def test_the_odrl_preset_covers_every_odrl_shift_of_the_four_tasks_with_an_estimate():
    """Per task: SAC(sim) once per gap, CQL(real) once (it ignores the gap), DARC, DARC+ and H2O once
    per gap; ODRL's 4 gravity + 4 friction levels and 2 kinematic + 2 morphology parts x 3 levels."""
    from gapbench.benchmark.sweep.presets import presets

    odrl = presets()["odrl"]
    assert [g.tasks for g in odrl.grids] == [("halfcheetah",), ("hopper",), ("walker2d",), ("ant",)]
    per_task = 4 + 4 + 2 * 3 + 2 * 3
    assert all(len(g.gaps) == per_task and {"kinematic:foot:hard", "morphology:torso:easy"} & set(g.gaps)
               for g in odrl.grids[:3])
    assert odrl.runs() == 4 * 5 * (per_task + 1 + 3 * per_task) == 1620
    listing = run_cli("list", "presets", check=True).stdout
    assert re.search(rf"^odrl\s+1620 runs, about [0-9.]+ (min|h|days) on {os.cpu_count() or 1} workers here$",
                     listing, re.MULTILINE), listing


def test_list_presets_gives_sizes_and_time_estimates():
    """Every preset has its size and an estimate for this machine's cores (the unit follows the size)."""
    out = run_cli("list", "presets", check=True).stdout
    assert "paper-table1    165 runs" in out and "paper-table2     40 runs" in out
    estimates = re.findall(rf"^(\S+)\s+\d+ runs, about [0-9.]+ (?:min|h|days) on {os.cpu_count() or 1} workers here",
                           out, re.MULTILINE)
    assert {"smoke", "quick", "paper-table1", "paper-table2", "odrl"} <= set(estimates), out


def _native_bf16_here() -> str | None:
    """Read independently of gapbench: /proc/cpuinfo's flags, AMX first."""
    flags: set[str] = set()
    if Path("/proc/cpuinfo").exists():
        flags = next((set(line.split(":", 1)[1].split()) for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), set())
    return "AMX" if "amx_bf16" in flags else "AVX512_BF16" if "avx512_bf16" in flags else None


def test_a_bf16_sweep_warns_in_one_line_where_this_cpu_emulates_bf16_and_still_runs(tmp_path):
    """Both branches are checked on hand-made CPU features in test_precision.py; this is the one this CPU
    takes, end to end (a SAC run needs no dataset, and batches of 32 keep emulated bf16 to seconds)."""
    proc = run_cli("run", "--methods", "sac", "--gaps", "gravity:2.0", "--seeds", "0", "--steps", "50",
                   "--results", str(tmp_path / "results"), *TINY_TRAIN, "--with", "sac.batch_size=32",
                   "--with", "precision=bf16", check=True)
    warning = [line for line in proc.stderr.splitlines() if "emulates bf16" in line]
    if _native_bf16_here():
        assert warning == []
    else:
        assert warning == ["gapbench: warning: 1 unit(s) train in bf16 on this CPU, which has neither AMX "
                           "nor AVX512_BF16: oneDNN emulates bf16 here, over 10x slower than fp32 "
                           "(docs/performance.md); drop --with precision=bf16 on this machine"]
    assert [r["status"] for r in stored_runs(tmp_path / "results")] == ["COMPLETED"]


def test_list_presets_advises_bf16_by_this_cpus_flags_and_quotes_the_committed_check():
    """The precision advice names this CPU's native bf16, read here from /proc/cpuinfo by hand, and its
    quoted means are those of study 8's committed runs (CQL, medium, 50k), recomputed from run.json."""
    import statistics

    out = run_cli("list", "presets", check=True).stdout
    native = _native_bf16_here()
    if native:
        assert f"This CPU has {native}: --with precision=bf16 is the recommended setting here." in out
    else:
        assert "bf16 is emulated, over 10x slower, so keep fp32 here." in out

    store = Path(__file__).resolve().parents[1] / "results" / "reference" / "halfcheetah" / "runs"
    # Study 8's rule pools fp32 seeds 0-5 against bf16 seeds 6-11 (the current layout and head); other
    # seeds of the same cell ran earlier bf16 roundings and are not quoted.
    groups = {("fp32", tuple(range(0, 6))): "fp32", ("bf16", tuple(range(6, 12))): "bf16"}
    scores: dict[str, list[float]] = {name: [] for name in groups.values()}
    for run in store.iterdir():
        if not (run / "config.json").exists():
            continue
        config, doc = (json.loads((run / name).read_text()) for name in ("config.json", "run.json"))
        if (doc["status"] == "COMPLETED" and config["method"] == "cql" and config["dataset"] == "medium"
                and config["steps"] == 50_000):
            seed = config["seeds"][0]
            key = next((name for (precision, seeds), name in groups.items()
                        if config["train"]["precision"] == precision and seed in seeds), None)
            if key:
                scores[key] += doc["result"]["final_normalized"]
    assert [len(s) for s in scores.values()] == [6, 6]
    quoted = re.search(r"six seeds a side, ([\d.]+) \+- ([\d.]+) in bf16 against ([\d.]+) \+- ([\d.]+) in fp32",
                       out.replace("\n", " "))
    assert quoted, out
    for key, (mean, std) in (("bf16", quoted.group(1, 2)), ("fp32", quoted.group(3, 4))):
        assert float(mean) == pytest.approx(statistics.mean(scores[key]), abs=0.005), key
        assert float(std) == pytest.approx(statistics.stdev(scores[key]), abs=0.005), key

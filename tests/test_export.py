"""`gapbench export`: a store that can be committed names no local folder and no host, and every
command reads it (and `run` resumes from it) as it does the original."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import gapbench
import torch
from gapbench.benchmark.sweep.export import portable_run, portable_text

from tests.analysis_support import SEEDS, STEPS, STORE_GAPS, STORE_METHODS, store_env
from tests.cli_support import GAPBENCH, TINY_DATA, TINY_TRAIN, run_cli

KNOWN = [("/home/ana/results/checkpoints", "checkpoints"), ("/home/ana/results", "."),
         ("/data/gapbench", "$GAPBENCH_DATA"), ("/home/ana", "~")]


def test_known_folders_become_their_names_and_other_paths_lose_their_folders():
    text = ('File "/home/ana/src/gapbench/algos/h2o.py", line 3\n'
            "dataset /data/gapbench/datasets/halfcheetah-medium.hdf5 loaded; 4.0 m/s; eval/return/seed3\n"
            "checkpoint /home/ana/results/checkpoints/ab12-seeds0.pt; store /home/ana/results2/x; "
            "/opt/site/lib/x.py; /srv/job/.tox/quick/lib/python3.11/site-packages/gapbench/benchmark/cell")
    assert portable_text(text, KNOWN) == (
        'File "~/src/gapbench/algos/h2o.py", line 3\n'
        "dataset $GAPBENCH_DATA/datasets/halfcheetah-medium.hdf5 loaded; 4.0 m/s; eval/return/seed3\n"
        "checkpoint checkpoints/ab12-seeds0.pt; store ~/results2/x; <elsewhere>/x.py; "
        "<site-packages>/gapbench/benchmark/cell")


def test_the_host_keeps_its_cpu_and_loses_its_name_and_the_repository_its_location():
    features = {"flags": ["avx2", "fma", "avx512f"], "torch": "AVX512"}
    run = {"host": {"hostname": "lab-pc-7", "cpu": "AMD EPYC", "cpu_features": features, "os": ["Linux"],
                    "python_version": "3.11.7", "ENV": {"SECRET": "x"}},
           "experiment": {"base_dir": "/home/ana/src/gapbench/benchmark/cell",
                          "repositories": [{"url": "git://home/ana/src/gapbench", "commit": "abc", "dirty": False}]},
           "meta": {"config_updates": {"checkpoint_dir": "results/checkpoints"}}}
    out = portable_run(run, KNOWN)
    assert out["host"] == {"cpu": "AMD EPYC", "cpu_features": features, "os": ["Linux"], "python_version": "3.11.7"}
    assert out["experiment"] == {"base_dir": "~/src/gapbench/benchmark/cell",
                                 "repositories": [{"commit": "abc", "dirty": False}]}
    assert out["meta"]["config_updates"]["checkpoint_dir"] == "checkpoints"


def _texts(folder: Path) -> dict[Path, str]:
    return {p: p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file() and p.suffix in (".json", ".txt")}


def test_an_exported_store_names_nothing_local_and_reads_and_resumes_as_the_original(results_store, tmp_path):
    root = results_store.parents[1]  # the session folder that holds the store and its data
    export = tmp_path / "export"
    proc = run_cli("export", str(results_store), "--to", str(export), check=True)
    original_runs = [p for p in (results_store / "runs").iterdir() if p.is_dir() and not p.name.startswith("_")]
    assert f"{len(original_runs)} ended runs written portably" in proc.stdout

    local = [str(root.resolve()), str(Path(gapbench.__file__).resolve().parents[1]), sys.prefix, str(Path.home())]
    texts = _texts(export / "runs")
    assert len([p for p in texts if p.name == "run.json"]) == len(original_runs)
    for path, text in texts.items():
        for folder in local:
            assert folder not in text, f"{path} names {folder}"
        if path.name == "run.json":
            host = json.loads(text)["host"]
            assert "hostname" not in host and host["cpu"], path
    assert socket.gethostname() in (results_store / "runs" / original_runs[0].name / "run.json").read_text()
    # A completed run leaves nothing to resume from: no checkpoint, and no scratch copy of its artifacts.
    assert not list((results_store / "checkpoints").glob("*"))
    # The artifacts (Figure 3's snapshots, the final episode) come along byte for byte.
    for run in original_runs:
        for artifact in json.loads((run / "run.json").read_text())["artifacts"]:
            assert (export / "runs" / run.name / artifact).read_bytes() == (run / artifact).read_bytes()

    for name in ("original", "export"):
        store = results_store if name == "original" else export
        run_cli("tables", "--results", str(store), "--out", str(tmp_path / f"tables-{name}"), "--format", "csv",
                check=True)
    for table in (tmp_path / "tables-original").iterdir():
        assert (tmp_path / "tables-export" / table.name).read_text() == table.read_text(), table.name

    grid = ["--methods", STORE_METHODS, "--datasets", "medium-replay", "--gaps", STORE_GAPS, "--seeds", SEEDS,
            "--steps", STEPS, *TINY_DATA, *TINY_TRAIN]
    env = store_env(root)
    said = {store: run_cli("status", *grid, "--results", str(store), env=env, check=True).stdout
            for store in (results_store, export)}
    assert said[export] == said[results_store] and " 0 missing" in said[export], said
    rerun = run_cli("run", *grid, "--population", "2", "--results", str(export), env=env, check=True)
    assert "nothing to do" in rerun.stdout + rerun.stderr
    assert sorted(p.name for p in (export / "runs").iterdir()) == sorted(p.name for p in original_runs)
    assert (results_store / "runs" / "_sources").is_dir() and not (export / "runs" / "_sources").exists()


def test_in_place_export_rewrites_ended_runs_and_leaves_a_running_one_alone(results_store, tmp_path):
    store = tmp_path / "results"
    shutil.copytree(results_store, store)
    first = sorted((p for p in (store / "runs").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))[0]
    running = store / "runs" / "999"
    shutil.copytree(first, running)
    doc = json.loads((running / "run.json").read_text())
    (running / "run.json").write_text(json.dumps({**doc, "status": "RUNNING"}))
    before = (running / "run.json").read_text()

    proc = run_cli("export", str(store), check=True)
    assert "left out (not ended): 1 RUNNING" in proc.stdout
    assert (running / "run.json").read_text() == before
    assert socket.gethostname() not in json.dumps(json.loads((first / "run.json").read_text())["host"])
    assert str(tmp_path) not in (first / "config.json").read_text()


def test_export_of_a_folder_without_runs_fails_in_one_line(tmp_path):
    proc = run_cli("export", str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no results store" in proc.stderr


def test_an_unfinished_run_travels_with_its_checkpoint_and_the_export_resumes_it_to_the_uninterrupted_result(tmp_path):
    """A study longer than a session: the machine goes away mid-run, the store is exported (and
    committed) with the unfinished run's checkpoint, and `run` on the export, elsewhere, goes on from
    that checkpoint and ends where a run never interrupted ends."""
    grid = ["--methods", "h2o", "--datasets", "medium-replay", "--gaps", "gravity:2.0", "--seeds", "0",
            "--steps", "400", *TINY_DATA, *TINY_TRAIN, "--with", "checkpoint_every=50"]
    run_cli("run", *grid, "--results", str(tmp_path / "uninterrupted"), check=True)

    store = tmp_path / "results"
    sweep = subprocess.Popen([GAPBENCH, "run", *grid, "--results", str(store)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not list((store / "checkpoints").glob("*.pt")) and time.time() < deadline and sweep.poll() is None:
        time.sleep(0.02)
    os.killpg(sweep.pid, signal.SIGKILL)  # the whole machine goes: the sweep and its worker
    sweep.wait(timeout=60)
    [checkpoint] = list((store / "checkpoints").glob("*.pt"))  # 400 updates take seconds past the first 50
    held = torch.load(checkpoint, weights_only=True)["step"]  # the update it holds, read by hand
    # `status` of the whole store names the run whose process went, and where its checkpoint stands
    gone = run_cli("status", "--results", str(store), check=True).stdout
    assert "1 RUNNING but its process is gone" in gone, gone
    assert re.search(rf"  run \d+ h2o seeds \[0\]: its process is gone; seed 0's checkpoint at update {held}/400: "
                     r"`run` resumes it\n", gone), gone

    export = tmp_path / "export"
    proc = run_cli("export", str(store), "--to", str(export), check=True)
    assert "left out (not ended): 1 RUNNING" in proc.stdout
    assert "1 unfinished runs' checkpoints" in proc.stdout
    assert (export / "checkpoints" / checkpoint.name).read_bytes() == checkpoint.read_bytes()
    assert not (export / "runs").exists() or not any((export / "runs").iterdir())

    # on the export, `status` of the grid tells the seed is not done and where its checkpoint stands
    told = run_cli("status", *grid, "--results", str(export), check=True).stdout
    assert re.search(rf"missing  h2o .* seed 0  \(checkpoint at update {held}/400: `run` resumes it\)", told), told

    resumed = run_cli("run", *grid, "--results", str(export), check=True)
    said = resumed.stdout + resumed.stderr
    assert "resumed " in said and "from its checkpoint at update " in said, said
    step = int(said.split("from its checkpoint at update ")[1].split("/")[0])
    assert step == held and 50 <= step < 400 and step % 50 == 0
    assert not list((export / "checkpoints").glob("*.pt"))  # a completed run deletes its checkpoint
    def only(runs: Path, name: str) -> dict:
        [doc] = [json.loads((p / name).read_text()) for p in runs.iterdir() if p.name.isdigit()]
        return doc

    again, reference = only(export / "runs", "run.json"), only(tmp_path / "uninterrupted" / "runs", "run.json")
    assert again["status"] == "COMPLETED" and again["result"] == reference["result"]
    # The curve before the checkpoint comes from the checkpoint, after it from the resumed training.
    curve = only(export / "runs", "metrics.json")["eval/return/seed0"]
    reference_curve = only(tmp_path / "uninterrupted" / "runs", "metrics.json")["eval/return/seed0"]
    assert (curve["steps"], curve["values"]) == (reference_curve["steps"], reference_curve["values"])

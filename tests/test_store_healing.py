"""A store with broken runs heals: each broken folder is one warning line, the runner and the
tables count the same runs, read-only commands change nothing, and the next `run` trains exactly
the seeds that are not counted. Through the console script, on a store made by real sweeps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli_support import TINY_TRAIN, run_cli

SAC = ["--methods", "sac", "--gaps", "gravity:2.0", "--steps", "50", *TINY_TRAIN]

# seed -> how its copy of a real COMPLETED run folder is broken
BREAKS = {
    2: ("run.json", lambda doc: None),
    3: ("config.json", lambda doc: []),
    4: ("run.json", lambda doc: {**doc, "result": None}),
    5: ("run.json", lambda doc: {**doc, "result": {**doc["result"], "final_return": [float("nan")]}}),
    6: ("info.json", "{"),
    7: ("run.json", lambda doc: {**doc, "result": {**doc["result"], "steps": 10}}),  # fewer updates than asked
    8: ("metrics.json", None),  # missing
}
# A worker that writes junk to its progress channel before its first real report.
JUNK_PROGRESS = """import os
fd = os.environ.get("GAPBENCH_PROGRESS_FD")
if fd:
    os.write(int(fd), b'not json\\n[1, 2]\\n{"progress": {"step": "x"}}\\n{"outcome": 3}\\n')
"""


def break_copies(results: Path) -> dict[int, Path]:
    """Copies of run 1 (seed 0) as runs of seeds 2..8 of the same cell, each broken one way."""
    runs = results / "runs"
    source = runs / "1"
    broken = {}
    for number, (seed, (name, change)) in enumerate(BREAKS.items(), start=10):
        folder = runs / str(number)
        shutil.copytree(source, folder)
        for file, key in (("config.json", "seeds"), ("run.json", "result")):
            doc = json.loads((folder / file).read_text())
            target = doc if file == "config.json" else doc["result"]
            target["seeds"] = [seed]
            (folder / file).write_text(json.dumps(doc))
        path = folder / name
        if change is None:
            path.unlink()
        elif isinstance(change, str):
            path.write_text(change)
        else:
            path.write_text(json.dumps(change(json.loads(path.read_text()))))
        broken[seed] = folder
    return broken


def tree(path: Path) -> dict[str, tuple]:
    return {str(p.relative_to(path)): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(path.rglob("*"))}


def test_a_broken_store_warns_once_per_folder_and_the_next_run_redoes_exactly_its_seeds(tmp_path):
    results = tmp_path / "results"
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(JUNK_PROGRESS)
    first = run_cli("run", *SAC, "--seeds", "0,1", "--population", "1", "--workers", "2", "--results", str(results),
                    env={"PYTHONPATH": str(hook)}, check=True)
    assert "finished: 2 completed, 0 failed" in first.stderr + first.stdout  # the junk did not end the sweep
    broken = break_copies(results)

    from gapbench.analysis.store import open_store
    from gapbench.benchmark.sweep.completed import scan

    runner_warnings: list[str] = []
    counted_by_runner = {r.run_id for r in scan(results, warn=runner_warnings.append) if r.counted}
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        counted_by_tables = {r.run_id for r in open_store(results).records if r.status == "COMPLETED"}
    assert counted_by_runner == counted_by_tables == {"1", "2"}
    for folder in broken.values():  # both name every broken folder, once
        assert sum(str(folder) in w for w in runner_warnings) == 1
        assert sum(str(folder) in str(w.message) for w in caught) == 1

    before = tree(results)
    status = run_cli("status", "--results", str(results))
    assert status.returncode == 0 and "Traceback" not in status.stderr
    lines = status.stderr.strip().splitlines()
    assert len(lines) == len(broken) and all(line.startswith("gapbench: warning: ") for line in lines), status.stderr
    assert all(sum(str(f) in line for line in lines) == 1 for f in broken.values())
    grid = run_cli("status", *SAC, "--seeds", ",".join(map(str, range(9))), "--results", str(results))
    assert grid.returncode == 0 and "Traceback" not in grid.stderr
    assert "2 completed, 0 running, 0 failed, 7 missing" in grid.stdout, grid.stdout
    tables = run_cli("tables", "--results", str(results), "--out", str(tmp_path / "tables"))
    assert tables.returncode == 0 and "Traceback" not in tables.stderr
    assert run_cli("list", "presets").returncode == 0
    assert tree(results) == before  # read-only commands wrote nothing into the store

    rerun = run_cli("run", *SAC, "--seeds", ",".join(map(str, range(9))), "--population", "7",
                    "--results", str(results), check=True)
    new = [json.loads((f / "config.json").read_text()) for f in (results / "runs").iterdir()
           if f.name.isdigit() and f.name not in {"1", "2"} and f not in broken.values()]
    assert [sorted(c["seeds"]) for c in new] == [sorted(broken)], rerun.stderr
    again = run_cli("run", *SAC, "--seeds", ",".join(map(str, range(9))), "--results", str(results), check=True)
    assert "nothing to do" in again.stdout


def test_status_of_a_grid_whose_data_is_not_made_generates_nothing(tmp_path):
    cache = tmp_path / "cache"
    proc = run_cli("status", "--methods", "h2o", "--datasets", "medium", "--results", str(tmp_path / "r"),
                   env={"GAPBENCH_DATA": str(cache)})
    assert proc.returncode == 0, proc.stderr
    assert "is not made yet" in proc.stdout and "(SAC for 1000000 updates)" in proc.stdout
    assert "1 missing" in proc.stdout
    assert not cache.exists() and not (tmp_path / "r").exists()


def test_status_of_the_quick_preset_says_its_data_comes_from_the_operator(tmp_path):
    cache = tmp_path / "cache"
    proc = run_cli("status", "--preset", "quick", "--results", str(tmp_path / "r"), env={"GAPBENCH_DATA": str(cache)})
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "is not made yet" in line]
    assert len(lines) == 2 and all("records the scripted operator's 100000 transitions" in line for line in lines)
    assert "SAC for" not in proc.stdout and "50 missing" in proc.stdout
    assert not cache.exists()

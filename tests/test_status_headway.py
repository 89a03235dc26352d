"""`gapbench status` on a running run: its furthest logged update, its speed and the time it has left."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

from gapbench.benchmark.sweep.headway import read_headway
from tests.cli_support import GAPBENCH, TINY_DATA, TINY_TRAIN, run_cli

T0 = datetime(2026, 12, 6, 8, 0, 0)


def write_metrics(folder: Path, series: dict[str, list[tuple[int, float]]]) -> Path:
    """metrics.json as Sacred's FileStorageObserver writes it: (update, seconds after T0) per point."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = {name: {"steps": [s for s, _ in points], "values": [0.0] * len(points),
                  "timestamps": [(T0 + timedelta(seconds=t)).isoformat() for _, t in points]}
           for name, points in series.items()}
    (folder / "metrics.json").write_text(json.dumps(doc))
    return folder


def test_the_rate_is_the_latest_intervals_and_a_resumed_runs_replayed_curve_is_left_out(tmp_path):
    # Seven training logs 1000 updates and 100 s apart; an evaluation series logged less often, and one
    # logged often but only early on (a warm-up's): the furthest series is the one that tells.
    steady = write_metrics(tmp_path / "steady", {
        "train/q/mean/seed0": [(1000 * i, 100.0 * i) for i in range(1, 8)],
        "eval/return/seed0": [(0, 0.0), (5000, 520.0)],
        "train/warmup/seed0": [(100 * i, 10.0 * i) for i in range(1, 11)]})
    headway = read_headway(steady, 50_000)
    assert (headway.step, headway.rate) == (7000, 10.0)  # (7000 - 2000) / (700 - 200) s over the last 5 intervals
    assert headway.seconds_left() == 4300.0  # 43,000 updates at 10/s
    assert headway.describe() == "update 7,000/50,000, 10 updates/s, about 1 h 12 min to go"

    # Resumed at update 3000: its curve up to there logged again within microseconds as it started,
    # then two real intervals of 200 s each: 5 updates/s, not the replay's millions.
    resumed = write_metrics(tmp_path / "resumed", {
        "train/q/mean/seed0": [(1000, 0.0), (2000, 0.00005), (3000, 0.0001), (4000, 200.0001), (5000, 400.0001)]})
    assert read_headway(resumed, 6000).rate == 5.0
    assert read_headway(resumed, 6000).describe() == "update 5,000/6,000, 5 updates/s, about 3 min to go"

    replayed_only = write_metrics(tmp_path / "replayed", {"train/q/mean/seed0": [(1000, 0.0), (2000, 0.00005)]})
    assert read_headway(replayed_only, 6000).rate is None
    assert read_headway(replayed_only, 6000).describe() == "update 2,000/6,000, its speed not measured yet"
    assert read_headway(tmp_path / "nothing-logged", 6000) is None
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "metrics.json").write_text('{"train/q/mean/seed0": {"steps": [10')  # caught mid-write
    assert read_headway(tmp_path / "cut", 6000) is None


def logged_step(results: Path) -> int:
    """The furthest update in the running run's metrics.json, read by hand (0 before it exists)."""
    try:
        [folder] = [p for p in (results / "runs").glob("[0-9]*")]
        metrics = json.loads((folder / "metrics.json").read_text())
    except (ValueError, OSError):
        return 0
    return max((m["steps"][-1] for m in metrics.values() if m["steps"]), default=0)


def test_status_tells_how_far_a_live_run_has_got_through_the_cli(tmp_path):
    results = tmp_path / "results"
    grid = ["--methods", "cql", "--datasets", "medium-replay", "--seeds", "0", "--steps", "1000000",
            *TINY_DATA, *TINY_TRAIN]
    sweep = subprocess.Popen([GAPBENCH, "run", *grid, "--results", str(results)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while logged_step(results) < 100 and time.time() < deadline and sweep.poll() is None:
            time.sleep(0.5)
        before = logged_step(results)
        assert before >= 100, "the run logged nothing within 300 s"
        status = run_cli("status", *grid, "--results", str(results), check=True).stdout
        store = run_cli("status", "--results", str(results), check=True).stdout
        after = logged_step(results)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait(timeout=60)
    line = re.search(r"running  cql .* seed 0  \(run (\d+): update ([\d,]+)/1,000,000, ([\d.]+) updates/s, "
                     r"(about [\d h]+min|under a minute) to go\)", status)
    assert line, status
    assert before <= int(line[2].replace(",", "")) <= after
    assert "0 completed, 1 running, 0 failed, 0 missing" in status
    assert re.search(rf"  run {line[1]} cql seeds \[0\]: update [\d,]+/1,000,000, ", store), store
    # once the process is gone the run is no longer running, and no speed is claimed for it
    gone = run_cli("status", *grid, "--results", str(results), check=True).stdout
    assert "missing  cql" in gone and "updates/s" not in gone

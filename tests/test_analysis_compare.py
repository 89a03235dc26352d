"""`gapbench compare`: the studies' two-standard-error rule, checked by hand, and the command end to end
on a store built from real runs."""

from __future__ import annotations

import json
import math
import shutil
import statistics

import pytest
from scipy import stats

from gapbench.analysis.compare import LEVEL, NOT_READ, Reading
from gapbench.analysis.render import MISSING
from gapbench.analysis.tables import Cell
from tests.analysis_support import hand_scores, run_folders
from tests.cli_support import run_cli


def reading(a: tuple[float, ...], b: tuple[float, ...], min_seeds: int = 2) -> Reading:
    return Reading("A", "B", Cell(tuple(range(len(a))), a), Cell(tuple(range(len(b))), b), min_seeds)


# ---------------------------------------------------------------------------- the rule, by hand


@pytest.mark.parametrize("shift, verdict", [(2.9, "A beats B"), (2.7, LEVEL), (-2.7, LEVEL), (-2.9, "B beats A")])
def test_the_band_is_twice_the_standard_error_of_the_difference(shift, verdict):
    # Each side is (x, x + 2): sample variance 2, two seeds, so the band is 2·sqrt(2/2 + 2/2) = 2·sqrt(2) = 2.83.
    r = reading((shift, shift + 2.0), (0.0, 2.0))
    assert r.band == pytest.approx(2 * math.sqrt(2))
    assert r.difference == pytest.approx(shift)
    assert r.verdict == verdict


def test_unequal_seed_counts_weigh_each_side_by_its_own_n():
    a, b = (1.0, 4.0, 2.0, 7.0), (3.0, 3.5, 2.5)
    expected = 2 * math.sqrt(statistics.variance(a) / 4 + statistics.variance(b) / 3)
    assert reading(a, b).band == pytest.approx(expected)


def test_a_pair_below_min_seeds_is_not_read():
    r = reading((1.0, 2.0, 3.0), (10.0, 11.0, 12.0, 13.0), min_seeds=4)
    assert (r.read, r.verdict) == (False, NOT_READ)
    assert math.isnan(r.band) and all(math.isnan(x) for x in r.welch())
    assert reading((1.0, 2.0, 3.0), (10.0, 11.0, 12.0, 13.0), min_seeds=3).verdict == "B beats A"


def test_welch_matches_the_satterthwaite_formula():
    a, b = (39.1, 30.3, 42.0, 45.3), (41.5, 41.9, 41.4, 41.8)
    va, vb = statistics.variance(a) / 4, statistics.variance(b) / 4
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / 3 + vb ** 2 / 3)
    diff = statistics.mean(a) - statistics.mean(b)
    p, low, high = reading(a, b).welch()
    assert p == pytest.approx(2 * stats.t.sf(abs(diff) / se, df))
    half = stats.t.ppf(0.975, df) * se
    assert (low, high) == (pytest.approx(diff - half), pytest.approx(diff + half))


def test_two_sides_without_spread_have_no_test_but_a_reading():
    r = reading((5.0, 5.0), (4.0, 4.0))
    assert r.verdict == "A beats B"  # any difference exceeds a zero band
    assert all(math.isnan(x) for x in r.welch())


# ---------------------------------------------------------------------------- the command, end to end


def table_rows(stdout: str) -> dict[str, list[str]]:
    """B's label -> the row's cells, from the printed Markdown table."""
    rows = [line.strip("|").split("|") for line in stdout.splitlines() if line.startswith("| ") and "---" not in line]
    return {cells[1].strip(): [c.strip() for c in cells] for cells in rows[1:]}


def test_compare_reads_the_store_like_the_run_folders(results_store):
    proc = run_cli("compare", "h2o", "h2o-a", "sac", "--results", str(results_store), "--dataset", "medium-replay",
                   "--gap", "gravity:2.0", check=True)
    assert "Medium Replay, Gravity 2.0" in proc.stdout
    rows = table_rows(proc.stdout)
    assert set(rows) == {"H2O-a", "SAC(sim)"}
    h2o = hand_scores(results_store, "h2o", "medium-replay", "gravity:2.0", "final_normalized")
    for label, method, dataset in (("H2O-a", "h2o-a", "medium-replay"), ("SAC(sim)", "sac", None)):
        # SAC(sim) ignores the dataset: its runs have none, and fill every dataset's row
        other = hand_scores(results_store, method, dataset, "gravity:2.0", "final_normalized")
        a, b = list(h2o.values()), list(other.values())
        diff = statistics.mean(a) - statistics.mean(b)
        band = 2 * math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
        row = rows[label]
        assert row[2] == f"{statistics.mean(a):.2f} ± {statistics.stdev(a):.2f} ({len(a)})"
        assert row[3] == f"{statistics.mean(b):.2f} ± {statistics.stdev(b):.2f} ({len(b)})"
        assert (row[4], row[5]) == (f"{diff:+.2f}", f"{band:.2f}")
        expected = "H2O beats " + label if diff > band else label + " beats H2O" if -diff > band else LEVEL
        assert row[6] == expected


def test_per_seed_lists_each_seed_s_run_curve_and_final_score_as_the_run_folders_hold_them(results_store):
    # H2O's seeds share one run (the store trains a cell's two seeds together); SAC(sim)'s runs have no dataset
    proc = run_cli("compare", "h2o", "sac", "--results", str(results_store), "--dataset", "medium-replay",
                   "--gap", "gravity:2.0", "--per-seed", check=True)
    assert table_rows(proc.stdout.split("per seed")[0])  # the readings come first, unchanged
    lines = [line for line in proc.stdout.split("per seed")[1].splitlines() if line.startswith("| ")]
    header, *body = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines)
    expected, steps = [], set()
    for method, label, dataset in (("h2o", "H2O", "medium-replay"), ("sac", "SAC(sim)", None)):
        mine = []
        for run_id, doc in run_folders(results_store).items():
            if (doc["config"]["method"], doc["config"]["dataset"], doc["config"]["gap"]) != (method, dataset, "gravity:2.0"):
                continue
            metrics = json.loads((results_store / "runs" / run_id / "metrics.json").read_text())
            result = doc["run"]["result"]
            for i, seed in enumerate(result["seeds"]):
                curve = metrics[f"eval/return/seed{seed}"]
                steps.add(tuple(curve["steps"]))
                episodes = result["final_episode_returns"][i]  # the final score is these episodes' mean
                assert len(episodes) == result["final_episodes"]
                assert statistics.mean(episodes) == pytest.approx(result["final_return"][i], rel=1e-9, abs=1e-9)
                mine.append([label, str(seed), run_id, *(str(round(v)) for v in curve["values"]),
                             str(round(result["final_return"][i])), f"{result['final_normalized'][i]:.2f}",
                             str(round(min(episodes)))])
        assert len(mine) == 2
        expected += sorted(mine, key=lambda row: int(row[1]))
    (evaluated,) = steps  # every run evaluated at the same steps, under 1000 updates: named as they are
    assert header == ["method", "seed", "run", *map(str, evaluated), "final return", "final normalised",
                      "worst final episode"]
    assert body == expected


def test_per_seed_marks_the_worst_episode_missing_for_a_run_that_stored_only_the_mean(results_store, tmp_path):
    store = tmp_path / "results"  # runs before 2026-12-06 stored the final mean only
    shutil.copytree(results_store, store)
    (h2o_run,) = [run_id for run_id, doc in run_folders(store).items()
                  if (doc["config"]["method"], doc["config"]["dataset"], doc["config"]["gap"])
                  == ("h2o", "medium-replay", "gravity:2.0")]
    path = store / "runs" / h2o_run / "run.json"
    doc = json.loads(path.read_text())
    del doc["result"]["final_episode_returns"]
    path.write_text(json.dumps(doc))
    proc = run_cli("compare", "h2o", "sac", "--results", str(store), "--dataset", "medium-replay",
                   "--gap", "gravity:2.0", "--per-seed", check=True)
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in proc.stdout.split("per seed")[1].splitlines() if line.startswith("| ")][1:]
    assert [row[-1] == MISSING for row in rows] == [True, True, False, False]  # H2O's two seeds, then SAC's
    assert all(row[-2] != MISSING for row in rows)  # the final score itself is still read


def test_compare_explains_what_it_cannot_read(results_store):
    common = ["--results", str(results_store), "--dataset", "medium-replay"]
    several = run_cli("compare", "h2o", "darc", *common)
    assert several.returncode == 2 and several.stderr.count("\n") == 1  # one line, as every user error
    assert "several values of gap" in several.stderr and "choose one with --gap" in several.stderr
    unknown = run_cli("compare", "h2o", "h2o-zz", *common, "--gap", "gravity:2.0")
    assert unknown.returncode == 2 and "no COMPLETED run of h2o-zz" in unknown.stderr
    assert "h2o-a" in unknown.stderr  # the valid names are listed
    too_few = run_cli("compare", "h2o", "darc", *common, "--gap", "gravity:2.0", "--min-seeds", "1")
    assert too_few.returncode == 2 and "--min-seeds must be at least 2" in too_few.stderr
    short = run_cli("compare", "h2o", "darc", *common, "--gap", "gravity:2.0", "--min-seeds", "3", check=True)
    assert table_rows(short.stdout)["DARC"][6] == NOT_READ
    assert "H2O against DARC is not read: 2 seed(s)" in short.stderr


def test_seeds_reads_only_the_named_seeds_of_each_cell(results_store):
    """A study whose cell pools other studies' seeds reads its own: --seeds keeps those, on both sides."""
    common = ["--results", str(results_store), "--dataset", "medium-replay", "--gap", "gravity:2.0"]
    h2o = hand_scores(results_store, "h2o", "medium-replay", "gravity:2.0", "final_normalized")
    sac = hand_scores(results_store, "sac", None, "gravity:2.0", "final_normalized")
    one = run_cli("compare", "h2o", "sac", *common, "--seeds", "1", check=True)
    row = table_rows(one.stdout)["SAC(sim)"]
    assert (row[2], row[3], row[6]) == (f"{h2o[1]:.2f} ± – (1)", f"{sac[1]:.2f} ± – (1)", NOT_READ)
    assert row[4] == f"{h2o[1] - sac[1]:+.2f}"
    both = run_cli("compare", "h2o", "sac", *common, "--seeds", "1,0", "--per-seed", check=True)
    assert both.stdout == run_cli("compare", "h2o", "sac", *common, "--per-seed", check=True).stdout
    absent = run_cli("compare", "h2o", "sac", *common, "--seeds", "7,8")
    assert absent.returncode == 2 and "h2o has no COMPLETED run of seeds 7, 8" in absent.stderr
    assert "its seeds there: 0, 1" in absent.stderr
    for bad in ("a,1", "-1"):
        wrong = run_cli("compare", "h2o", "sac", *common, "--seeds", bad)
        assert wrong.returncode == 2 and "--seeds must be comma-separated non-negative integers" in wrong.stderr
    per_seed = run_cli("compare", "h2o", "sac", *common, "--seeds", "0", "--per-seed", check=True).stdout
    seeds_listed = {line.split("|")[2].strip() for line in per_seed.split("per seed")[1].splitlines()
                    if line.startswith("| ") and "---" not in line} - {"seed"}
    assert seeds_listed == {"0"}

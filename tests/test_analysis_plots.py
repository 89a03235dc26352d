"""`gapbench plots`: every figure is written at its size, and the figures hold what the store holds."""

from __future__ import annotations

import json
import statistics
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from scipy import stats as scipy_stats

from gapbench.analysis.errors import AnalysisError
from gapbench.analysis.layout import method_colors, methods_table
from gapbench.analysis.plots import (
    DPI,
    ablation_figure,
    figure3_cells,
    figure3_figure,
    figure3_stem,
    learning_curves_figure,
)
from gapbench.analysis.runs import final_scores, load_runs
from gapbench.analysis.snapshots import load_snapshots
from gapbench.analysis.store import open_store
from tests.analysis_support import (
    SNAPSHOT_BATCH,
    SNAPSHOT_STEPS,
    hand_scores,
    png_size,
    read_csv,
    run_folders,
)
from tests.cli_support import run_cli

matplotlib.use("Agg")

TABLE1_LABELS = ["SAC(sim)", "CQL(real)", "DARC", "DARC+", "H2O", "BC(real)"]
FIGURE3_CELL = ("h2o", "halfcheetah", "medium-replay", "velocity_offset:0.1")


@pytest.fixture(scope="module")
def loaded(results_store):
    store = open_store(results_store)
    frame = load_runs(store)
    final = final_scores(frame)
    return store, frame, final, method_colors(methods_table(final))


@pytest.fixture(scope="module")
def plots(results_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("plots")
    proc = run_cli("plots", "--results", str(results_store), "--out", str(out), "--reps", "100", check=True)
    return out, proc


def expected_size(fig) -> tuple[int, int]:
    width, height = fig.get_size_inches() * DPI
    return round(width), round(height)


def test_every_figure_is_written_as_png_and_pdf_at_its_size(plots, loaded):
    out, proc = plots
    store, frame, final, colors = loaded
    snapshots = load_snapshots(store, frame)
    figures = {"learning_curves": learning_curves_figure(frame, colors),
               "ablations": ablation_figure(final, colors, "halfcheetah"),
               figure3_stem(FIGURE3_CELL): figure3_figure(snapshots, FIGURE3_CELL)}
    for stem, fig in figures.items():
        assert png_size(out / f"{stem}.png") == expected_size(fig), stem
    for stem in [*figures, "aggregate", "performance_profile", "probability_of_improvement"]:
        assert (out / f"{stem}.png").stat().st_size > 5000
        pdf = (out / f"{stem}.pdf").read_bytes()
        assert pdf[:5] == b"%PDF-" and b"/CreationDate" not in pdf, stem  # same runs, same bytes
    assert png_size(out / "performance_profile.png") == (round(6.2 * DPI), round(3.4 * DPI))
    assert {r["statistic"] for r in read_csv(out / "aggregate.csv")} >= {"IQM", "Mean", "Median", "Optimality gap",
                                                                         "P(H2O > DARC)"}
    assert "IQM" in (out / "aggregate.md").read_text()
    assert "Traceback" not in proc.stderr


def test_learning_curves_have_one_line_per_method_at_the_seed_mean(loaded, results_store):
    _, frame, _, colors = loaded
    fig = learning_curves_figure(frame, colors)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["Medium Replay / Gravity 2.0", "Medium Replay / Friction 0.3",
                                               "Medium Replay / Velocity Offset 0.1"]
    assert [len(ax.get_lines()) for ax in axes] == [6, 6, 3]  # SAC(sim), DARC, DARC+ never ran on velocity_offset
    assert [t.get_text() for t in fig.legends[0].get_texts()] == TABLE1_LABELS
    # H2O's line on gravity is the mean over its two seeds of the normalised scores in metrics.json.
    curves = {}
    for rid, doc in run_folders(results_store).items():
        c = doc["config"]
        if (c["method"], c["gap"]) == ("h2o", "gravity:2.0"):
            metrics = json.loads((results_store / "runs" / rid / "metrics.json").read_text())
            curves.update({seed: metrics[f"eval/normalized/seed{seed}"]["values"] for seed in c["seeds"]})
    h2o = next(line for line in axes[0].get_lines() if to_hex(line.get_color()) == to_hex(colors["H2O"]))
    assert list(h2o.get_xdata()) == [0, 50]
    assert np.allclose(h2o.get_ydata(), np.mean([curves[0], curves[1]], axis=0), rtol=1e-12)


def test_ablation_bars_are_the_seed_means_with_one_dot_per_seed(loaded, results_store):
    _, _, final, colors = loaded
    fig = ablation_figure(final, colors, "halfcheetah")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["H2O", "H2O-a", "H2O-reg", "CQL(real)", "SAC(sim)"]
    heights = [bar.get_height() for bar in ax.patches]
    cells = [("h2o", "medium-replay", "gravity:2.0"), ("h2o-a", "medium-replay", "gravity:2.0"),
             ("h2o-reg", "medium-replay", "gravity:2.0"), ("cql", "medium-replay", None), ("sac", None, "gravity:2.0")]
    assert heights == pytest.approx([statistics.mean(hand_scores(results_store, *cell).values()) for cell in cells])
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in dots] == [2] * 5


def test_figure3_shows_the_saved_snapshots(loaded, results_store):
    store, frame, _, _ = loaded
    snapshots = load_snapshots(store, frame)
    assert figure3_cells(snapshots) == [FIGURE3_CELL]
    fig = figure3_figure(snapshots, FIGURE3_CELL)
    panels = [ax for ax in fig.axes if any(isinstance(c, PathCollection) for c in ax.collections)]
    assert len(panels) == 2 * len(SNAPSHOT_STEPS)
    assert [ax.get_title() for ax in panels[:len(SNAPSHOT_STEPS)]] == [f"update {s}" for s in SNAPSHOT_STEPS]
    assert all(len(ax.collections[0].get_offsets()) == SNAPSHOT_BATCH for ax in panels)
    rid = next(r for r, d in run_folders(results_store).items() if d["config"]["gap"] == "velocity_offset:0.1")
    saved = np.load(results_store / "runs" / rid / f"diagnostics_step{SNAPSHOT_STEPS[-1]:09d}.npz")
    top_right = panels[len(SNAPSHOT_STEPS) - 1].collections[0].get_offsets()
    assert np.allclose(top_right[:, 0], saved["x_velocity"][0]) and np.allclose(top_right[:, 1], saved["u"][0])
    bottom_right = panels[-1].collections[0].get_offsets()
    assert np.allclose(bottom_right[:, 1], saved["q"][0])


def test_aggregate_statistics_match_a_hand_computation(loaded, results_store):
    from gapbench.analysis.stats import aggregate

    _, _, final, _ = loaded
    result = aggregate(final, reps=100)
    assert result.labels == tuple(TABLE1_LABELS) and result.seeds == 2
    assert result.cells == ("Medium Replay / Gravity 2.0", "Medium Replay / Friction 0.3")
    assert any("left out Medium Replay / Velocity Offset 0.1" in note for note in result.notes)
    per_cell = np.array([[v / 100 for v in hand_scores(results_store, "h2o", "medium-replay", gap,
                                                        "final_normalized").values()]
                         for gap in ("gravity:2.0", "friction:0.3")])  # cells x seeds
    scores = per_cell.ravel()
    median, iqm, mean, gap = result.point["H2O"]
    assert mean == pytest.approx(scores.mean(), rel=1e-12)
    assert median == pytest.approx(np.median(per_cell.mean(axis=1)), rel=1e-12)  # rliable: median of cell means
    assert iqm == pytest.approx(scipy_stats.trim_mean(scores, 0.25), rel=1e-12)
    assert gap == pytest.approx(np.mean(np.maximum(1 - scores, 0)), rel=1e-12)
    low, high = result.interval["H2O"]
    assert np.all(low <= result.point["H2O"] + 1e-12) and np.all(result.point["H2O"] <= high + 1e-12)
    assert set(result.improvement) == set(TABLE1_LABELS) - {"H2O"}
    assert all(0 <= lo <= p <= hi <= 1 for p, lo, hi in result.improvement.values())
    state = np.random.get_state()
    again = aggregate(final, reps=100)  # the bootstraps are seeded...
    assert np.array_equal(again.interval["H2O"], result.interval["H2O"]) and again.improvement == result.improvement
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), state))  # ...and NumPy's state restored


def test_aggregate_cells_of_several_tasks_are_named_with_their_task(loaded):
    """Two tasks on the same dataset and gap are two cells, and the note must tell them apart."""
    from gapbench.analysis.stats import aggregate

    final = loaded[2]
    both = pd.concat([final, final.assign(task="hopper")], ignore_index=True)
    result = aggregate(both, reps=50)
    assert result.cells == tuple(f"{task} / Medium Replay / {gap}" for task in ("halfcheetah", "hopper")
                                 for gap in ("Gravity 2.0", "Friction 0.3"))
    per_task = aggregate(final, reps=50)
    assert per_task.point["H2O"][2] == pytest.approx(result.point["H2O"][2], rel=1e-12)  # the same scores twice: the same mean


def test_aggregate_statistics_say_how_to_install_rliable(monkeypatch, loaded):
    from gapbench.analysis.stats import aggregate

    monkeypatch.setitem(sys.modules, "rliable", None)  # as if the `stats` extra were not installed
    with pytest.raises(AnalysisError, match=r"pip install 'gapbench\[stats\]'"):
        aggregate(loaded[2])


def test_a_store_without_h2o_aggregates_without_a_probability_of_improvement(loaded):
    """As a partial store has it, e.g. the first method of a grid still running."""
    from gapbench.analysis.stats import aggregate

    final = loaded[2]
    result = aggregate(final[final["method"] == "sac"], reps=50)
    assert result.labels == ("SAC(sim)",) and result.improvement == {} and result.reference is None
    assert any("no probability of improvement" in note for note in result.notes)

"""The paper's figures from a store: learning curves, ablation bars and Figure 3.

Every function returns a matplotlib `Figure` built without pyplot (so nothing leaks between
figures and tests can inspect the artists), at a fixed size with the legend outside the axes, and
takes the store's method colours so one method has one colour in every figure.
"""

from __future__ import annotations

import contextlib
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter

from gapbench.analysis.layout import TABLE2_CELL, cell_name, dataset_name, gap_name, methods_table, table1_methods, table2_methods
from gapbench.analysis.runs import in_row
from gapbench.analysis.tables import row_keys

DPI = 150
FORMATS = ("png", "pdf")
BOOTSTRAP_SEED = 0  # the learning curves' 95% bands are bootstrapped; seeded so a rerun draws the same band
N_BOOT = 1000
SNAPSHOT_STAGES = 4
TITLE_CHARS = 42  # a 3-inch panel's title line at the style's 10-point title size


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Paper style for the figures made (and saved) inside it, leaving the global rcParams alone."""
    import matplotlib
    import seaborn as sns

    with sns.axes_style("whitegrid"), matplotlib.rc_context({"font.size": 9, "axes.titlesize": 9,
                                                             "axes.labelsize": 9, "legend.fontsize": 8,
                                                             "xtick.labelsize": 8, "ytick.labelsize": 8,
                                                             "pdf.fonttype": 42}):
        yield


def save(fig: Figure, out: Path, stem: str) -> list[Path]:
    """`<out>/<stem>.png` and `.pdf`, at the figure's own size (no tight bbox, so sizes are predictable)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.{fmt}" for fmt in FORMATS]
    for path in paths:
        # No creation date in the PDF: redrawing the same runs gives the same bytes, so a committed
        # figure changes in git only when its data does.
        fig.savefig(path, dpi=DPI, metadata={"CreationDate": None} if path.suffix == ".pdf" else None)
    return paths


# ---------------------------------------------------------------------------- learning curves


def learning_curves_figure(frame: pd.DataFrame, colors: dict[str, tuple]) -> Figure:
    """Normalised real-env score against updates: one facet per dataset x gap (rows x columns, as
    Table 1's rows), one line per Table 1 method, the mean over seeds with a seeded 95% bootstrap band.

    ``frame`` is `load_runs`' frame; only counted runs are drawn.
    """
    import seaborn as sns

    curves = frame[frame["counted"] & (frame["phase"] == "eval")]
    known = methods_table(curves)
    names = table1_methods(known)
    keys = row_keys(curves, names)
    datasets = list(dict.fromkeys(d for _, d, _ in keys))
    gaps = list(dict.fromkeys((t, g) for t, _, g in keys))
    with style():
        fig = Figure(figsize=(0.6 + 3.0 * len(gaps) + 1.6, 0.4 + 2.4 * len(datasets)), layout="constrained")
        axes = fig.subplots(len(datasets), len(gaps), squeeze=False, sharex=True, sharey=True)
        for (task, dataset, gap) in keys:
            ax = axes[datasets.index(dataset)][gaps.index((task, gap))]
            here = curves[curves["method"].isin(names) & in_row(curves, task, dataset, gap)]
            labels = [known.loc[m, "label"] for m in names if m in set(here["method"])]
            if len(here):
                sns.lineplot(data=here, x="step", y="normalized", hue="label", hue_order=labels,
                             palette={label: colors[label] for label in labels}, errorbar=("ci", 95),
                             n_boot=N_BOOT, seed=BOOTSTRAP_SEED, estimator="mean", ax=ax, legend=False)
            else:
                ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
            title = cell_name(task, dataset, gap, with_task=len({t for t, _ in gaps}) > 1)
            # A composed gap's name is long: wrapped to the panel's width, so titles never overlap.
            ax.set_title(textwrap.fill(title, TITLE_CHARS, break_on_hyphens=False))
            ax.set_xlabel("Gradient updates")
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 200k, 1M
            ax.set_ylabel("Normalised score (D4RL)")
        labels = [known.loc[m, "label"] for m in names]
        fig.legend(handles=[Line2D([], [], color=colors[label], lw=2) for label in labels], labels=labels,
                   loc="outside right upper", title="Method", frameon=False)
        # Wrapped to the figure's width (about 9 characters an inch at the suptitle's size): above a
        # single panel the one-line title ran off the page and under the legend.
        fig.suptitle(textwrap.fill("Learning curves: real-env score (mean, 95% bootstrap CI over seeds)",
                                   int(fig.get_figwidth() * 9)))
    return fig


# ---------------------------------------------------------------------------- ablation bars


def ablation_figure(final: pd.DataFrame, colors: dict[str, tuple], task: str, dataset: str = TABLE2_CELL[0],
                    gap: str = TABLE2_CELL[1], metric: str = "return") -> Figure:
    """Table 2 as bars: the mean final score per method, one dot per seed on top of each bar."""
    known = methods_table(final)
    names = table2_methods(known)
    with style():
        fig = Figure(figsize=(0.8 + 0.75 * max(len(names), 3), 3.2), layout="constrained")
        ax = fig.subplots()
        rng = np.random.default_rng(BOOTSTRAP_SEED)  # the dots' horizontal jitter, the same on every rerun
        for x, method in enumerate(names):
            label = known.loc[method, "label"]
            scores = final.loc[(final["method"] == method) & in_row(final, task, dataset, gap), metric].to_numpy()
            if len(scores) == 0:
                ax.text(x, 0, "no runs", ha="center", va="bottom", rotation=90, fontsize=7)
                continue
            ax.bar(x, scores.mean(), width=0.7, color=colors[label], alpha=0.85, label=label)
            ax.scatter(x + rng.uniform(-0.15, 0.15, len(scores)), scores, s=14, color="black", zorder=3)
        ax.set_xticks(range(len(names)), [known.loc[m, "label"] for m in names], rotation=30, ha="right")
        ax.set_ylabel("Final return" if metric == "return" else "Final normalised score")
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_title(f"Ablations on {dataset_name(dataset)} / {gap_name(gap)}\nbar: mean over seeds; dot: one seed")
    return fig


# ---------------------------------------------------------------------------- Figure 3


def figure3_cells(snapshots: pd.DataFrame) -> list[tuple]:
    """The (method, task, dataset, gap) cells that saved snapshots, velocity-offset runs first."""
    cells = snapshots[["method", "task", "dataset", "gap"]].drop_duplicates().itertuples(index=False, name=None)
    return sorted(cells, key=lambda c: ("velocity_offset" not in str(c[3]), tuple(str(x) for x in c)))


def figure3_stem(cell: tuple) -> str:
    return "figure3_" + "_".join(re.sub(r"[^A-Za-z0-9.+-]+", "-", str(x)) for x in cell if x is not None)


def figure3_figure(snapshots: pd.DataFrame, cell: tuple, stages: int = SNAPSHOT_STAGES) -> Figure:
    """The paper's Figure 3 for one cell: u(s,a) and Q(s,a) of the snapshot minibatch against the
    x-velocity at up to `stages` points of training, for the cell's lowest seed (its Q scale is its own).

    Top row: u(s,a), coloured by Q; bottom row: Q(s,a), coloured by u. H2O should learn to give
    high-velocity (high-gap) samples a high u and, through the adaptive regulariser, a lower Q.
    """
    method, task, dataset, gap = cell
    mine = snapshots[(snapshots["method"] == method) & (snapshots["task"] == task)
                     & (snapshots["dataset"].fillna("") == (dataset or "")) & (snapshots["gap"].fillna("") == (gap or ""))]
    seed = int(mine["seed"].min())
    mine = mine[mine["seed"] == seed]
    steps = sorted(mine["step"].unique())
    chosen = [steps[i] for i in sorted(set(np.linspace(0, len(steps) - 1, min(stages, len(steps))).round().astype(int)))]
    label = mine["label"].iloc[0]
    with style():
        fig = Figure(figsize=(0.8 + 2.6 * len(chosen) + 1.0, 5.0), layout="constrained")
        axes = fig.subplots(2, len(chosen), squeeze=False, sharex=True)
        rows = [("u", "q", r"$u(s,a)$", r"$Q(s,a)$", "viridis"), ("q", "u", r"$Q(s,a)$", r"$u(s,a)$", "magma")]
        for r, (y, hue, y_label, hue_label, cmap) in enumerate(rows):
            lo, hi = mine[hue].min(), mine[hue].max()
            for c, step in enumerate(chosen):
                batch = mine[mine["step"] == step]
                ax = axes[r][c]
                points = ax.scatter(batch["x_velocity"], batch[y], c=batch[hue], cmap=cmap, vmin=lo, vmax=hi,
                                    s=8, alpha=0.8, linewidths=0)
                ax.set_title(f"update {step:,}" if r == 0 else "")
                ax.set_ylabel(y_label if c == 0 else "")
                ax.set_xlabel("x-velocity" if r == 1 else "")
            fig.colorbar(points, ax=list(axes[r]), label=hue_label, location="right", shrink=0.9)
        fig.suptitle(f"Figure 3: {label} on {task} {dataset_name(dataset) if dataset else ''} / "
                     f"{gap_name(gap) if gap else ''}, sim minibatch, seed {seed}")
    return fig

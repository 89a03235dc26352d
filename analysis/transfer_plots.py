"""What a policy does in the real env, against what the simulator promised.

`episode_figure` is the paper's Figure 2(c)-(d): tilt and forward velocity over one real-env
episode per method, with the task's target velocity drawn. `sim_vs_real_figure` puts each seed's
final return in the simulator against its return in the real env, one panel per method: the paper
remarks that a high return in the simulator promises nothing in the real world.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gapbench.analysis.layout import methods_table, table1_methods
from gapbench.analysis.plots import style


def episode_figure(episodes: pd.DataFrame, colors: dict[str, tuple], task: str) -> Figure:
    """Tilt (top) and forward velocity (bottom) against time, one line per method: its lowest seed's
    first final-evaluation episode in the real env (a line that stops early is a fall)."""
    mine = episodes[episodes["task"] == task]
    known = methods_table(mine)
    names = table1_methods(known)
    with style():
        fig = Figure(figsize=(7.5, 4.6), layout="constrained")
        tilt_ax, velocity_ax = fig.subplots(2, 1, sharex=True)
        for method in names:
            runs = mine[mine["method"] == method]
            seed = runs["seed"].min()
            line = runs[runs["seed"] == seed]
            label = known.loc[method, "label"]
            tilt_ax.plot(line["time"], line["tilt"], color=colors[label], lw=1.2)
            velocity_ax.plot(line["time"], line["x_velocity"], color=colors[label], lw=1.2)
        target = float(mine["target_velocity"].iloc[0])
        velocity_ax.axhline(target, color="black", ls="--", lw=1.0)
        tilt_ax.set_ylabel(r"tilt $\theta$ (rad)")
        velocity_ax.set_ylabel(r"velocity $\dot{x}$ (m/s)")
        velocity_ax.set_xlabel("time (s)")
        labels = [known.loc[m, "label"] for m in names]
        handles = [Line2D([], [], color=colors[label], lw=2) for label in labels]
        handles.append(Line2D([], [], color="black", ls="--", lw=1.0))
        fig.legend(handles=handles, labels=[*labels, f"target {target:g} m/s"], loc="outside right upper",
                   title="Method", frameon=False)
        fig.suptitle(f"{task}: one real-env episode per method\n(final policy, lowest seed; a line that ends "
                     "early is a fall)")
    return fig


def sim_vs_real_figure(final: pd.DataFrame, colors: dict[str, tuple], task: str) -> Figure:
    """Final return in the simulator (x) against the real env (y), one dot per seed, one panel per
    method; on the diagonal the simulator told the truth, below it it promised too much."""
    mine = final[(final["task"] == task) & final["sim_return"].notna()]
    known = methods_table(mine)
    names = table1_methods(known)
    values = np.concatenate([mine["sim_return"].to_numpy(), mine["return"].to_numpy()])
    low, high = float(values.min()), float(values.max())
    pad = 0.05 * (high - low or 1.0)
    with style():
        fig = Figure(figsize=(0.6 + 2.3 * len(names), 2.9), layout="constrained")
        axes = fig.subplots(1, len(names), squeeze=False, sharex=True, sharey=True)[0]
        for ax, method in zip(axes, names):
            runs = mine[mine["method"] == method]
            label = known.loc[method, "label"]
            ax.plot([low - pad, high + pad], [low - pad, high + pad], color="0.5", ls=":", lw=1.0)
            ax.scatter(runs["sim_return"], runs["return"], s=22, color=colors[label], edgecolors="black",
                       linewidths=0.4, zorder=3)
            ax.set_title(label)
            ax.set_xlabel("return in the simulator")
            ax.set_xlim(low - pad, high + pad)
            ax.set_ylim(low - pad, high + pad)
        axes[0].set_ylabel("return in the real env")
        gap = mine["config.train.sim_eval_gap"].iloc[0] if "config.train.sim_eval_gap" in mine else "the simulator"
        fig.suptitle(f"{task}: final policy, simulator ({gap}) vs real env; one dot per seed, dotted: equal")
    return fig

"""Aggregate statistics across cells with rliable (Agarwal et al., 2021): the optional `stats` extra.

A "task" is one of Table 1's dataset x gap rows and a "run" is one seed. Scores are D4RL-normalised
scores / 100, so the optimality gap's threshold of 1 is the D4RL expert. rliable needs the same
cells for every method, so only the rows where every Table 1 method has a score are used, and the
same number of seeds per cell (the smallest count; the lowest seeds are kept). What was left out is
listed in `Aggregate.notes` and in the written table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tabulate import tabulate

from gapbench.analysis.errors import AnalysisError
from gapbench.analysis.layout import cell_name, methods_table, table1_methods
from gapbench.analysis.plots import style
from gapbench.analysis.runs import in_row
from gapbench.analysis.tables import row_keys

STATISTICS = ("Median", "IQM", "Mean", "Optimality gap")
REFERENCE = "h2o"  # the method whose probability of improvement over each other method is reported
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Aggregate:
    labels: tuple[str, ...]
    cells: tuple[str, ...]  # the rows of Table 1 that entered
    seeds: int  # runs per cell
    point: dict[str, np.ndarray]  # label -> one value per statistic
    interval: dict[str, np.ndarray]  # label -> (2, statistics): the 95% CI's bounds
    taus: np.ndarray
    profile: dict[str, np.ndarray]  # label -> fraction of runs with score > tau
    profile_interval: dict[str, np.ndarray]
    improvement: dict[str, tuple[float, float, float]]  # other label -> P(H2O > other), CI low, CI high
    reference: str | None  # the label of REFERENCE, if it is in the store
    notes: tuple[str, ...]


def rliable():
    """rliable's modules, or an AnalysisError saying how to install them."""
    try:
        from rliable import library, metrics
    except ImportError as err:
        raise AnalysisError(f"aggregate statistics need rliable ({err}): pip install 'gapbench[stats]'") from None
    return library, metrics


def aggregate(final: pd.DataFrame, reps: int = 2000) -> Aggregate:
    """IQM, mean, median and optimality gap with stratified-bootstrap 95% CIs, the performance profile,
    and P(H2O > X) for every other Table 1 method; bootstraps are seeded."""
    library, metrics = rliable()
    known = methods_table(final)
    names = table1_methods(known)
    labels = {m: known.loc[m, "label"] for m in names}
    notes = []
    cells, scores = [], {m: [] for m in names}
    keys = row_keys(final, names)
    several_tasks = len({task for task, _, _ in keys}) > 1
    for key in keys:
        per_method = {m: final[(final["method"] == m) & in_row(final, *key)].sort_values("seed")["normalized"]
                      for m in names}
        absent = [labels[m] for m, s in per_method.items() if s.empty]
        name = cell_name(*key, with_task=several_tasks)
        if absent:
            notes.append(f"left out {name}: no run of {', '.join(absent)}")
            continue
        cells.append(name)
        for m, s in per_method.items():
            scores[m].append(s.to_numpy() / 100.0)
    if not cells:
        raise AnalysisError("no dataset x gap cell has a completed run of every Table 1 method; "
                            "aggregate statistics need at least one")
    seeds = min(len(s) for m in names for s in scores[m])
    if any(len(s) > seeds for m in names for s in scores[m]):
        notes.append(f"every cell uses its {seeds} lowest seed(s): some cells have fewer")
    score_dict = {labels[m]: np.stack([s[:seeds] for s in scores[m]], axis=1) for m in names}

    def statistics(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_median(x), metrics.aggregate_iqm(x), metrics.aggregate_mean(x),
                         metrics.aggregate_optimality_gap(x)])

    every = np.concatenate([v.ravel() for v in score_dict.values()])
    taus = np.linspace(min(0.0, every.min()), max(1.0, every.max()), 101)
    improvement, reference = {}, labels.get(REFERENCE)
    pairs = {other: [score_dict[reference], score_dict[other]] for other in score_dict
             if reference is not None and other != reference}
    if reference is None:
        notes.append(f"no probability of improvement: the store has no {REFERENCE} runs")
    with _seeded_numpy():
        point, interval = library.get_interval_estimates(score_dict, statistics, reps=reps)
        profile, profile_interval = library.get_interval_estimates(
            score_dict, lambda x: score_distribution(x, taus), reps=reps)
        if reference is not None and pairs:
            p, ci = library.get_interval_estimates(pairs, metrics.probability_of_improvement, reps=reps)
            improvement = {other: (float(np.ravel(p[other])[0]), *map(float, np.ravel(ci[other]))) for other in pairs}
    return Aggregate(tuple(score_dict), tuple(cells), seeds, point, interval, taus, profile, profile_interval,
                     improvement, reference, tuple(notes))


def score_distribution(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """The fraction of all (run, task) scores above each tau: rliable's `score_distributions`,
    vectorised, which makes the bootstrapped profile about 50 times faster."""
    return (scores.reshape(-1, 1) > taus.reshape(1, -1)).mean(axis=0)


def aggregate_frame(result: Aggregate) -> pd.DataFrame:
    """The numbers as a tidy table: one row per (method, statistic), then one per P(H2O > X)."""
    rows = [{"method": label, "statistic": stat, "estimate": float(result.point[label][i]),
             "ci_low": float(result.interval[label][0][i]), "ci_high": float(result.interval[label][1][i])}
            for label in result.labels for i, stat in enumerate(STATISTICS)]
    rows += [{"method": other, "statistic": f"P({result.reference} > {other})", "estimate": p, "ci_low": lo,
              "ci_high": hi} for other, (p, lo, hi) in result.improvement.items()]
    return pd.DataFrame(rows)


def write_numbers(result: Aggregate, out: Path) -> list[Path]:
    """`aggregate.csv` (exact) and `aggregate.md` (estimate [95% CI], with what entered the statistics)."""
    out.mkdir(parents=True, exist_ok=True)
    frame = aggregate_frame(result)
    csv, md = out / "aggregate.csv", out / "aggregate.md"
    frame.to_csv(csv, index=False)
    text = [f"{e:.3f} [{lo:.3f}, {hi:.3f}]" for e, lo, hi in zip(frame["estimate"], frame["ci_low"], frame["ci_high"])]
    frame = frame.assign(value=text)
    by_method = frame[frame["statistic"].isin(STATISTICS)].pivot(index="method", columns="statistic", values="value")
    by_method = by_method.reindex(index=list(result.labels), columns=list(STATISTICS)).reset_index()
    parts = ["**Aggregate statistics (rliable)**", tabulate(by_method, headers=["Method", *STATISTICS],
                                                            tablefmt="github", showindex=False, disable_numparse=True)]
    improvement = frame[~frame["statistic"].isin(STATISTICS)]
    if len(improvement):
        parts.append(tabulate(improvement[["statistic", "value"]], headers=["Probability of improvement", "P [95% CI]"],
                              tablefmt="github", showindex=False, disable_numparse=True))
    notes = [(f"Normalised score / 100 (1 = D4RL expert) over {len(result.cells)} cells "
              f"({'; '.join(result.cells)}) x {result.seeds} seeds; point estimate [95% stratified-bootstrap CI]."),
             *result.notes]
    md.write_text("\n\n".join(parts) + "\n\n" + "".join(f"- {n}\n" for n in notes))
    return [md, csv]


# ---------------------------------------------------------------------------- figures


def aggregate_figure(result: Aggregate, colors: dict[str, tuple]) -> Figure:
    """One panel per statistic: each method's 95% CI as a bar and its point estimate as a tick."""
    with style():
        fig = Figure(figsize=(2.4 * len(STATISTICS) + 1.2, 0.6 + 0.35 * len(result.labels)), layout="constrained")
        axes = fig.subplots(1, len(STATISTICS), sharey=True)
        for i, (ax, stat) in enumerate(zip(axes, STATISTICS)):
            for y, label in enumerate(result.labels):
                lo, hi = result.interval[label][0][i], result.interval[label][1][i]
                ax.barh(y, hi - lo, left=lo, height=0.6, color=colors[label], alpha=0.75)
                ax.vlines(result.point[label][i], y - 0.3, y + 0.3, color="black", lw=1.5)
            ax.set_title(stat)
            ax.set_yticks(range(len(result.labels)), result.labels)
            ax.set_xlabel("Normalised score / 100")
        axes[0].invert_yaxis()  # the shared y axis: the first method on top
        fig.suptitle(f"Aggregate scores over {len(result.cells)} cells x {result.seeds} seeds (95% bootstrap CIs)")
    return fig


def profile_figure(result: Aggregate, colors: dict[str, tuple]) -> Figure:
    """The performance profile: the fraction of runs scoring above tau, with 95% bands."""
    with style():
        fig = Figure(figsize=(6.2, 3.4), layout="constrained")
        ax = fig.subplots()
        for label in result.labels:
            ax.plot(result.taus, result.profile[label], color=colors[label], lw=2, label=label)
            ax.fill_between(result.taus, *result.profile_interval[label], color=colors[label], alpha=0.15, lw=0)
        ax.set_xlabel(r"Normalised score / 100 ($\tau$)")
        ax.set_ylabel(r"Fraction of runs with score $> \tau$")
        ax.set_ylim(0, 1.02)
        fig.legend(loc="outside right upper", title="Method", frameon=False)
        ax.set_title("Performance profile")
    return fig


def improvement_figure(result: Aggregate, colors: dict[str, tuple]) -> Figure:
    """P(H2O > X) per other method with its 95% CI; 0.5 is no difference."""
    others = list(result.improvement)
    with style():
        fig = Figure(figsize=(5.0, 0.9 + 0.4 * max(len(others), 1)), layout="constrained")
        ax = fig.subplots()
        for y, other in enumerate(others):
            p, lo, hi = result.improvement[other]
            ax.barh(y, hi - lo, left=lo, height=0.6, color=colors[other], alpha=0.75)
            ax.vlines(p, y - 0.3, y + 0.3, color="black", lw=1.5)
        ax.axvline(0.5, color="0.4", ls="--", lw=1)
        ax.set_yticks(range(len(others)), [f"{result.reference} vs {o}" for o in others])
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"P({result.reference} > X)")
        ax.set_title("Probability of improvement (95% bootstrap CI)")
    return fig


@contextlib.contextmanager
def _seeded_numpy() -> Iterator[None]:
    """Seed NumPy's global generator for the bootstraps, then put the caller's state back.

    rliable's stratified bootstraps draw their resamples with `np.random.choice` (its
    `random_state` argument only reaches arch, which then draws nothing), so this is the one
    way to make the confidence intervals reproducible.
    """
    state = np.random.get_state()
    np.random.seed(BOOTSTRAP_SEED)
    try:
        yield
    finally:
        np.random.set_state(state)

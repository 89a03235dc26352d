"""Table 1 and Table 2 of the paper, rebuilt from final scores: the cells, the bold rule, the footnotes.

Rendering to Markdown, LaTeX and CSV is in `analysis.render`; this module decides what each cell
holds and which cells are bold, so every format shows the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gapbench.analysis.errors import AnalysisError
from gapbench.analysis.layout import (
    TABLE2_CELL,
    dataset_name,
    gap_name,
    methods_table,
    order_datasets,
    order_gaps,
    table1_methods,
    table2_methods,
)
from gapbench.analysis.runs import CELL, in_row

METRIC_NAMES = {"return": "return", "normalized": "normalised score (D4RL scale, 0-100)"}
YES, NO, NONE = "✓", "✗", "-"
SWITCH_ROWS = ("Adaptive ω", "Uniform ω", "Modified Ẽ(Q, B̂πQ̂)")
CI_RESAMPLES = 10_000  # bootstrap resamples of a cell's seeds for its 95% confidence interval
CI_SEED = 0  # seeded, so a rerun prints the same interval


@dataclass(frozen=True)
class Cell:
    """The final scores of one method in one table row, one per seed."""

    seeds: tuple[int, ...]
    scores: tuple[float, ...]
    steps: tuple[int, ...] = ()  # each seed's training budget, in updates (one value: a cell counts one config)
    data: tuple[str | None, ...] = ()  # each seed's data digest (None: not recorded); see runs.COLUMNS

    @property
    def n(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores)) if self.scores else math.nan

    @property
    def std(self) -> float:
        """The sample standard deviation (n - 1); undefined (NaN) for a single seed."""
        return float(np.std(self.scores, ddof=1)) if self.n > 1 else math.nan

    def ci95(self) -> tuple[float, float]:
        """The 95% percentile-bootstrap confidence interval of the mean over seeds; NaN for one seed."""
        if self.n < 2:
            return math.nan, math.nan
        means = np.random.default_rng(CI_SEED).choice(np.asarray(self.scores), (CI_RESAMPLES, self.n)).mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        return float(low), float(high)


@dataclass(frozen=True)
class Table:
    """A paper table: row labels, one column per method, score cells and (Table 2) switch rows."""

    name: str  # the file stem: table1, table2
    caption: str  # the title without "Table N:", as LaTeX's \caption wants it
    row_header: tuple[str, ...]  # e.g. ("Dataset", "Dynamics gap")
    methods: tuple[str, ...]
    labels: tuple[str, ...]  # column titles
    rows: tuple[tuple[str, ...], ...]  # full row labels of the score rows (renderers blank repeats)
    cells: tuple[tuple[Cell, ...], ...]  # [row][column]; a cell with no scores is missing
    metric: str
    expected_seeds: int
    text_rows: tuple[tuple[str, tuple[str, ...]], ...] = ()  # rows of text above the scores (Table 2's switches)
    notes: tuple[str, ...] = ()  # footnotes that are not about cells
    show_ci: bool = False  # each cell also shows its 95% bootstrap confidence interval [low, high]

    @property
    def title(self) -> str:
        return f"Table {self.name.removeprefix('table')}: {self.caption}"

    def bold(self) -> list[list[bool]]:
        return [list(bold_rule(pd.Series([c.mean for c in row]), pd.Series([c.std for c in row])))
                for row in self.cells]

    def footnotes(self) -> list[str]:
        """What a reader needs to read the cells: the statistic, the bold rule, the gaps and daggers."""
        notes = [(f"Mean ± std over seeds (sample std, n − 1) of the final {METRIC_NAMES[self.metric]} in the "
                  "real environment; one seed shows no std."),
                 ("Bold: the best mean in the row and every mean within one std of it, that is at least the best "
                  "mean minus the best method's std (the paper does not apply its bolding consistently).")]
        if self.show_ci:
            notes.append(f"[low, high]: the 95% confidence interval of the mean, percentile bootstrap over seeds "
                         f"({CI_RESAMPLES:,} resamples).")
        missing, short, pooled, where_by_budget = [], [], {}, {}
        for row, cells in zip(self.rows, self.cells):
            for label, cell in zip(self.labels, cells):
                where = f"{label} on {' / '.join(row)}" if any(self.row_header) else label
                if cell.n == 0:
                    missing.append((where, self.expected_seeds))
                elif cell.n < self.expected_seeds:
                    short.append((where, cell.n))
                for steps in sorted(set(cell.steps)):
                    where_by_budget.setdefault(steps, []).append(where)
                if len(set(cell.data)) > 1:  # one entry per column and grouping: a method that ignores the
                    rows_of = pooled.setdefault((label, _data_groups(cell)), [])  # gap fills every gap's row
                    rows_of.append(" / ".join(row))
        if missing:
            notes.append(f"–: no completed run; {sum(n for _, n in missing)} seeds missing: "
                         + "; ".join(f"{w} ({n})" for w, n in missing) + ".")
        if short:
            notes.append(f"†: fewer than the expected {self.expected_seeds} seeds: "
                         + "; ".join(f"{w} ({n} seed{'s' if n > 1 else ''})" for w, n in short) + ".")
        if pooled:
            notes.append("Data: these cells pool seeds trained on different data files of one recipe (by the "
                         "digest each run recorded): "
                         + "; ".join(label + (f" on {', '.join(rows)}" if any(self.row_header) else "")
                                     + f": {groups}" for (label, groups), rows in pooled.items()) + ".")
        return notes + _budget_note(where_by_budget) + list(self.notes)

    def to_frame(self) -> pd.DataFrame:
        """One row per (table row, method) with the exact numbers: what the CSV holds."""
        records = []
        bold = self.bold()
        for r, (row, cells) in enumerate(zip(self.rows, self.cells)):
            for c, (method, label, cell) in enumerate(zip(self.methods, self.labels, cells)):
                switch_values = {name: values[c] for name, values in self.text_rows}
                records.append({**dict(zip(self.row_header, row)), **switch_values, "method": method, "label": label,
                                "metric": self.metric, "mean": cell.mean, "std": cell.std,
                                "ci_low": cell.ci95()[0], "ci_high": cell.ci95()[1], "n_seeds": cell.n,
                                "expected_seeds": self.expected_seeds, "bold": bold[r][c],
                                "seeds": " ".join(str(s) for s in cell.seeds),
                                "scores": " ".join(repr(x) for x in cell.scores)})
        return pd.DataFrame(records)


def _budget_note(where_by_budget: Mapping[int, list[str]]) -> list[str]:
    """The footnote with the training budget (updates per run) behind the cells: one budget for all, or
    the most common one and every exception, so that a table whose rows ran at different budgets says so."""
    if not where_by_budget:
        return []
    if len(where_by_budget) == 1:
        return [f"Budget: {next(iter(where_by_budget)):,} updates per run in every cell."]
    common = max(where_by_budget, key=lambda steps: (len(where_by_budget[steps]), steps))
    others = "; ".join(f"{steps:,} for {', '.join(where)}" for steps, where in sorted(where_by_budget.items())
                       if steps != common)
    return [f"Budget: {common:,} updates per run, except {others}."]


def _data_groups(cell: Cell) -> str:
    """A cell's seeds by data digest: "2f8d4efb072fdb11 (seeds 12, 13), not recorded (seeds 0, 1)"."""
    by_data: dict[str | None, list[int]] = {}
    for seed, digest in zip(cell.seeds, cell.data):
        by_data.setdefault(digest, []).append(seed)
    return ", ".join(f"{data_name(digest)} (seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))})"
                     for digest, seeds in by_data.items())


def data_name(digest: str | None) -> str:
    """A data digest as tables and comparisons print it: its first 16 hex digits, as the studies name data."""
    return digest[:16] if digest else "not recorded"


def bold_rule(means: pd.Series, stds: pd.Series) -> pd.Series:
    """Which cells of one row are bold: the best mean, and every mean >= best mean - best std.

    This is "within one std of the best", measured with the best method's std; every table states
    it in a footnote. The paper's own bolding is not consistent with any single rule: in its Medium-Expert
    Gravity row DARC (4759 ± 353) and H2O (4707) are bold but SAC(sim) (4513 >= 4759 - 353) is not,
    and in Medium-Replay Friction only H2O (5928 ± 896) is bold although CQL, DARC and DARC+ are
    within 896 of it. Where several methods share the best mean, the largest of their stds is used;
    a best cell with one seed (no std) bolds only ties. Missing cells (NaN mean) are never bold.
    """
    means = pd.Series(means, dtype=float).reset_index(drop=True)
    stds = pd.Series(stds, dtype=float).reset_index(drop=True)
    if means.isna().all():
        return pd.Series(False, index=means.index)
    best = means.max()
    spread = stds[means == best].fillna(0.0).max()
    return (means >= best - spread).fillna(False)


# ---------------------------------------------------------------------------- Table 1


def table1(final: pd.DataFrame, metric: str = "return", expected_seeds: int | None = None,
           ci: bool = False) -> Table | None:
    """Rows dataset x gap (x task if several), columns SAC(sim), CQL(real), DARC, DARC+, H2O and any
    other non-ablation method; a method that ignores an axis fills every row of the axis it uses;
    `ci` adds each cell's 95% bootstrap confidence interval. None when the store holds none of these methods."""
    check_metric(metric)
    methods = methods_table(final)
    names = table1_methods(methods)
    if not names:
        return None
    keys = row_keys(final, names)
    tasks = sorted({t for t, _, _ in keys})
    cells = tuple(tuple(score_cell(final, m, t, d, g, metric) for m in names) for t, d, g in keys)
    header = ("Task",) * (len(tasks) > 1) + ("Dataset", "Dynamics gap")
    rows = [(t,) * (len(tasks) > 1) + (dataset_name(d) if d else "any", gap_name(g) if g else "any")
            for t, d, g in keys]
    caption = f"Final {METRIC_NAMES[metric]} on {', '.join(tasks)} with a dynamics gap"
    return Table("table1", caption, header, tuple(names), tuple(methods.loc[m, "label"] for m in names),
                 tuple(rows), cells, metric, expected_seeds or max_seeds(final), notes=_ignored_axes(final, names),
                 show_ci=ci)


def row_keys(frame: pd.DataFrame, names: list[str]) -> list[tuple[str, str | None, str | None]]:
    """(task, dataset, gap) of Table 1's rows: every dataset x every gap the methods were run on,
    in the paper's order. The learning curves facet the same way."""
    mine = frame[frame["method"].isin(names)]
    datasets = order_datasets(mine["dataset"].dropna()) or [None]
    gaps = order_gaps(mine["gap"].dropna()) or [None]
    return [(t, d, g) for t in sorted(mine["task"].unique()) for d in datasets for g in gaps]


# ---------------------------------------------------------------------------- Table 2


def table2(final: pd.DataFrame, metric: str = "return", expected_seeds: int | None = None,
           task: str | None = None, dataset: str = TABLE2_CELL[0], gap: str = TABLE2_CELL[1]) -> Table | None:
    """H2O, its ablations, CQL and SAC in one cell (the paper's: Medium Replay, Gravity x2), with the
    switch rows read from each method's recorded config. None when the store holds no ablation."""
    check_metric(metric)
    methods = methods_table(final)
    if not (methods["role"] == "ablation").any():
        return None
    task = ablation_task(final, task)
    names = table2_methods(methods)
    cells = (tuple(score_cell(final, m, task, dataset, gap, metric) for m in names),)
    text_rows = tuple(zip(SWITCH_ROWS, zip(*(switches(_algo_config(final, m, task, dataset, gap)) for m in names))))
    average = "Average Return" if metric == "return" else "Average Normalised Score"
    caption = f"Ablations on H2O, {task} {dataset_name(dataset)} / {gap_name(gap)}, final {METRIC_NAMES[metric]}"
    notes = (("Switch rows: read from each method's recorded config (adaptive_omega, value_regulariser, "
              "dynamics_ratio_weight); - where the method has no such switch or no value regulariser."),)
    return Table("table2", caption, ("",), tuple(names), tuple(methods.loc[m, "label"] for m in names),
                 ((average,),), cells, metric, expected_seeds or max_seeds(final), text_rows, notes)


def switches(algo: Mapping[str, Any]) -> tuple[str, str, str]:
    """(Adaptive ω, Uniform ω, Modified Ẽ) from a method config, as the paper's Table 2 marks them."""
    def flag(key: str) -> bool | None:
        value = algo.get(key)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else bool(value)

    adaptive, regulariser, ratio = flag("adaptive_omega"), flag("value_regulariser"), flag("dynamics_ratio_weight")
    if adaptive is None or not regulariser:
        omega = (NONE, NONE)
    else:
        omega = (YES, NO) if adaptive else (NO, YES)
    return omega + (NONE if ratio is None else YES if ratio else NO,)


# ---------------------------------------------------------------------------- shared


def max_seeds(final: pd.DataFrame) -> int:
    """The most seeds any cell has: the expected count when the user does not give one."""
    if final.empty:
        return 0
    return int(final.groupby(CELL, dropna=False)["seed"].nunique().max())


def score_cell(final: pd.DataFrame, method: str, task: str, dataset: str | None, gap: str | None, metric: str) -> Cell:
    """One method's final scores in one (task, dataset, gap) row, by seed: a table cell, or a side of a comparison."""
    rows = final[(final["method"] == method) & in_row(final, task, dataset, gap)].sort_values("seed")
    data = rows["data"] if "data" in rows else pd.Series(None, index=rows.index)
    return Cell(tuple(int(s) for s in rows["seed"]), tuple(float(x) for x in rows[metric]),
                tuple(int(s) for s in rows["step"]), tuple(d if isinstance(d, str) else None for d in data))


def _algo_config(final: pd.DataFrame, method: str, task: str, dataset: str, gap: str) -> dict[str, Any]:
    """The method's recorded algo config, from its run in the table's cell if it has one."""
    rows = final[final["method"] == method]
    here = rows[in_row(rows, task, dataset, gap)]
    row = (here if len(here) else rows).iloc[0]
    return {k.removeprefix("config.algo."): v for k, v in row.items() if k.startswith("config.algo.")}


def _ignored_axes(final: pd.DataFrame, names: list[str]) -> tuple[str, ...]:
    mine = final[final["method"].isin(names)]
    labels = methods_table(final)["label"]
    no_data = [labels[m] for m in names if m in set(mine.loc[mine["dataset"].isna(), "method"])]
    no_gap = [labels[m] for m in names if m in set(mine.loc[mine["gap"].isna(), "method"])]
    parts = [f"{', '.join(no_data)} ignore{'s' * (len(no_data) == 1)} the dataset"] * bool(no_data)
    parts += [f"{', '.join(no_gap)} ignore{'s' * (len(no_gap) == 1)} the gap"] * bool(no_gap)
    if not parts:
        return ()
    return (f"{' and '.join(parts)}: one run serves every row it belongs to, as in the paper.",)


def ablation_task(final: pd.DataFrame, task: str | None = None) -> str:
    """Table 2's task: the one asked for, else the store's only task, else the paper's."""
    if task is not None:
        return task
    tasks = sorted(final["task"].unique())
    if len(tasks) == 1:
        return tasks[0]
    if "halfcheetah" in tasks:  # the paper's task
        return "halfcheetah"
    raise AnalysisError(f"the store holds several tasks ({', '.join(tasks)}); choose Table 2's with --table2-task")


def check_metric(metric: str) -> None:
    if metric not in METRIC_NAMES:
        raise AnalysisError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRIC_NAMES)}")

"""Two methods in one cell, read by the two-standard-error rule that every reference study writes down
before its runs (results/reference/halfcheetah/README.md, studies 5-14).

For final scores a (n_A seeds) and b (n_B seeds) with sample standard deviations s_A and s_B:

    band = 2 * sqrt(s_A^2 / n_A + s_B^2 / n_B)           twice the standard error of mean(a) - mean(b)
    A beats B  if mean(a) - mean(b) >  band
    B beats A  if mean(a) - mean(b) < -band
    otherwise the two are level within seed noise

The rule is a normal approximation and says nothing about a difference smaller than the band. Welch's
t-test (p-value and the 95% t interval of the difference) is printed beside it as context: with few
seeds a side its interval is wider than the band, and a study's reading is the rule's, not the test's.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass

import pandas as pd

from gapbench.analysis.errors import AnalysisError
from gapbench.analysis.layout import dataset_name, gap_name, methods_table
from gapbench.analysis.render import MISSING, number
from gapbench.analysis.runs import cell_text
from gapbench.analysis.tables import METRIC_NAMES, Cell, check_metric, data_name, score_cell

BAND_STANDARD_ERRORS = 2.0  # the rule's band, in standard errors of the difference of the means
LEVEL, NOT_READ = "level within seed noise", "not read"


@dataclass(frozen=True)
class Reading:
    """One pair (A, B) in one cell: both sides' scores and what the rule says of them."""

    a: str  # labels, as the tables print them
    b: str
    cell_a: Cell
    cell_b: Cell
    min_seeds: int

    @property
    def read(self) -> bool:
        """The rule reads a pair only when both sides have at least `min_seeds` seeds (and 2 for a std)."""
        return min(self.cell_a.n, self.cell_b.n) >= max(self.min_seeds, 2)

    @property
    def difference(self) -> float:
        return self.cell_a.mean - self.cell_b.mean

    @property
    def band(self) -> float:
        if not self.read:
            return math.nan
        return BAND_STANDARD_ERRORS * math.sqrt(self.cell_a.std ** 2 / self.cell_a.n
                                                + self.cell_b.std ** 2 / self.cell_b.n)

    @property
    def verdict(self) -> str:
        if not self.read:
            return NOT_READ
        if self.difference > self.band:
            return f"{self.a} beats {self.b}"
        if self.difference < -self.band:
            return f"{self.b} beats {self.a}"
        return LEVEL

    def welch(self) -> tuple[float, float, float]:
        """Welch's t-test of mean(a) = mean(b): (two-sided p, low, high of the 95% t interval of the
        difference); NaN where the pair is not read or both sides have no spread."""
        if not self.read or (self.cell_a.std == 0 and self.cell_b.std == 0) or not welch_available():
            return math.nan, math.nan, math.nan
        from scipy import stats

        test = stats.ttest_ind(self.cell_a.scores, self.cell_b.scores, equal_var=False)
        interval = test.confidence_interval(0.95)
        return float(test.pvalue), float(interval.low), float(interval.high)


@dataclass(frozen=True)
class Where:
    """The cell a comparison is read in; None in an axis no compared method uses."""

    task: str
    dataset: str | None
    gap: str | None

    def __str__(self) -> str:
        parts = [self.task, dataset_name(self.dataset) if self.dataset else None,
                 gap_name(self.gap) if self.gap else None]
        return ", ".join(p for p in parts if p)


def compare(final: pd.DataFrame, methods: list[str], task: str | None = None, dataset: str | None = None,
            gap: str | None = None, metric: str = "normalized", min_seeds: int = 2,
            seeds: list[int] | None = None) -> tuple[Where, list[Reading]]:
    """The first method against each of the others, in one (task, dataset, gap) cell of a store's final
    scores. An axis left out is the compared methods' only value of it, or an error naming the choices.
    `seeds` reads only those seeds of each cell (a study's own, where the cell pools several studies)."""
    check_metric(metric)
    if min_seeds < 2:
        raise AnalysisError(f"--min-seeds must be at least 2 (a standard deviation needs two seeds), got {min_seeds}")
    if len(methods) < 2:
        raise AnalysisError(f"compare needs at least two methods, got {len(methods)}: the first is compared with "
                            "each of the others")
    if len(set(methods)) < len(methods):
        raise AnalysisError(f"a method is named twice in {', '.join(methods)}")
    table = methods_table(final)
    unknown = [m for m in methods if m not in table.index]
    if unknown:
        raise AnalysisError(f"no COMPLETED run of {', '.join(unknown)} in the store; it has "
                            f"{', '.join(sorted(table.index))}")
    mine = final[final["method"].isin(methods)]
    where = Where(_axis(mine, "task", task, "--task"), _axis(mine, "dataset", dataset, "--dataset"),
                  _axis(mine, "gap", gap, "--gap"))
    cells = {}
    for method in methods:
        cells[method] = score_cell(mine, method, where.task, where.dataset, where.gap, metric)
        if cells[method].n == 0:
            rows = mine.loc[mine["method"] == method, ["task", "dataset", "gap"]]
            elsewhere = sorted({cell_text(tuple(None if pd.isna(v) else v for v in row))
                                for row in rows.itertuples(index=False)})
            raise AnalysisError(f"{method} has no COMPLETED run in {where}; it has runs in: {'; '.join(elsewhere)}")
        if seeds is not None:
            everyone = cells[method]
            cells[method] = score_cell(mine[mine["seed"].isin(seeds)], method, where.task, where.dataset, where.gap,
                                       metric)
            if cells[method].n == 0:
                raise AnalysisError(f"{method} has no COMPLETED run of seeds {', '.join(map(str, seeds))} in {where}; "
                                    f"its seeds there: {', '.join(map(str, everyone.seeds))}")
    first, *others = methods
    label = table["label"]
    return where, [Reading(label[first], label[m], cells[first], cells[m], min_seeds) for m in others]


def welch_available() -> bool:
    """Whether scipy (the `stats` extra) is installed: only the Welch context columns need it."""
    return importlib.util.find_spec("scipy") is not None


def budgets(readings: list[Reading]) -> set[int]:
    """The training budgets (updates per run) among the compared cells: more than one is worth a warning."""
    return {s for r in readings for c in (r.cell_a, r.cell_b) for s in c.steps}


def data_files(readings: list[Reading]) -> list[str]:
    """The data digests (first 16 hex digits; "not recorded" for runs without one) of the compared seeds."""
    return sorted({data_name(d) for r in readings for c in (r.cell_a, r.cell_b) for d in c.data})


def markdown(where: Where, readings: list[Reading], metric: str) -> str:
    """The readings as a Markdown table with the rule and the test's meaning underneath."""
    head = ("| A | B | A: mean ± std (n) | B: mean ± std (n) | A − B | band | reading | Welch p "
            "| 95% interval of A − B |\n" + "|---" * 9 + "|")
    lines = [f"Final {METRIC_NAMES[metric]}, {where}", "", head]
    for r in readings:
        p, low, high = r.welch()
        lines.append(f"| {r.a} | {r.b} | {_summary(r.cell_a)} | {_summary(r.cell_b)} | {r.difference:+.2f} | "
                     f"{number(r.band)} | {r.verdict} | {number(p, '.3f')} | "
                     f"{number(low, '+.2f')} to {number(high, '+.2f')} |")
    lines += ["", f"Reading: A beats B if A − B > band = {BAND_STANDARD_ERRORS:g}·sqrt(s_A²/n_A + s_B²/n_B), "
              "B beats A if A − B < −band, otherwise level within seed noise; a pair is read only when both sides "
              f"have at least {readings[0].min_seeds} seeds. Welch's t-test is context, not the reading; each "
              "pair is read on its own, with no correction for their number."]
    return "\n".join(lines)


def _axis(rows: pd.DataFrame, column: str, chosen: str | None, flag: str) -> str | None:
    values = sorted(rows[column].dropna().unique())
    if chosen is not None:
        if chosen not in values:
            raise AnalysisError(f"{flag} {chosen}: the compared methods have no COMPLETED run there; "
                                f"valid values: {', '.join(values) or 'none (no method uses this axis)'}")
        return chosen
    if len(values) > 1:
        raise AnalysisError(f"the compared methods were run on several values of {column} ({', '.join(values)}); "
                            f"choose one with {flag}")
    return values[0] if values else None


def _summary(cell: Cell) -> str:
    return f"{cell.mean:.2f} ± {number(cell.std)} ({cell.n})" if cell.n else f"{MISSING} (0)"

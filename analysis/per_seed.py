"""The seeds behind a comparison: for each compared method and seed in the cell, the run that counts,
its real-env return at every evaluation, its final return and normalised score, and the lowest of the
final evaluation's episode returns (a mean can hide one fallen episode).

`gapbench compare --per-seed` prints it under the readings, so that the reference studies' per-seed
tables (results/reference/halfcheetah/README.md) come from the store by a command, and a mean can be
read with the seeds that make it.
"""

from __future__ import annotations

import math

import pandas as pd

from gapbench.analysis.render import MISSING, number
from gapbench.analysis.runs import in_row

KEY = ["method", "seed", "run_id"]


def seed_rows(frame: pd.DataFrame, methods: list[str], task: str, dataset: str | None, gap: str | None) -> pd.DataFrame:
    """One row per (method, seed) of the counted runs in the (task, dataset, gap) cell, methods in the
    order given, seeds ascending: ``method``, ``seed``, ``run_id``, the return at each evaluation step
    (an int column per step, NaN where a run has no evaluation there), ``final_return``,
    ``final_normalized`` and ``worst_episode`` (NaN where the run did not store its episodes).
    `frame` is `load_runs`'s."""
    mine = frame[frame["counted"] & frame["method"].isin(methods) & in_row(frame, task, dataset, gap)]
    curves = (mine[mine["phase"] == "eval"].pivot_table(index=KEY, columns="step", values="return", aggfunc="first")
              .rename(columns=int))
    final = (mine[mine["phase"] == "final"].set_index(KEY)[["return", "normalized", "worst_episode"]]
             .rename(columns={"return": "final_return", "normalized": "final_normalized"}))
    rows = curves.join(final, how="outer").reset_index()
    rows["order"] = rows["method"].map({m: i for i, m in enumerate(methods)})
    return rows.sort_values(["order", "seed"]).drop(columns="order").reset_index(drop=True)


def markdown(rows: pd.DataFrame, labels: pd.Series) -> str:
    """The rows as a Markdown table: returns rounded to the unit, the normalised score to two decimals."""
    steps = [c for c in rows.columns if isinstance(c, int)]
    head = ["method", "seed", "run", *(_step_name(s) for s in steps), "final return", "final normalised",
            "worst final episode"]
    title = ("Real-env return at each evaluation, then the final evaluation's return and normalised score and "
             "its lowest episode return, per seed")
    lines = [title, "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in rows.to_dict("records"):
        cells = [labels[row["method"]], str(row["seed"]), str(row["run_id"]), *(_whole(row[s]) for s in steps),
                 _whole(row["final_return"]), number(row["final_normalized"]), _whole(row["worst_episode"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _step_name(step: int) -> str:
    return f"{step // 1000}k" if step and step % 1000 == 0 else str(step)


def _whole(value: float) -> str:
    """A return to the unit, rounded as an int so that -0.2 prints as 0, not -0."""
    return MISSING if math.isnan(value) else str(round(value))

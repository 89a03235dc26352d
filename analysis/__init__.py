"""Reads a results store (Sacred FileStorage folders or MongoDB) into tables, plots and statistics.

It never imports `algos`, `benchmark` or `envs`: it must work on a store copied from another machine.

    from gapbench.analysis import load_runs, final_scores
    frame = load_runs("results")                  # or "mongodb://HOST:PORT/DB"
    final = final_scores(frame)                   # one row per (cell, seed) that counts

The names below are imported on first use: `gapbench` loads this package for every command (the
`tables` and `plots` entry point), and pandas should not slow down `gapbench run`.
"""

from importlib import import_module

_EXPORTS = {"load_runs": "gapbench.analysis.runs", "final_scores": "gapbench.analysis.runs",
            "open_store": "gapbench.analysis.store", "load_snapshots": "gapbench.analysis.snapshots",
            "AnalysisError": "gapbench.analysis.errors", "StoreWarning": "gapbench.analysis.errors"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gapbench.analysis' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)

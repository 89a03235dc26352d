"""gapbench: RL across a sim-to-real dynamics gap. This module is its public Python API.

    from pathlib import Path

    import gapbench

    sim = gapbench.make_sim("halfcheetah", "gravity:2.0", seed=0)    # real env with the gap applied
    h2o = gapbench.get_method("h2o")                                 # every method: gapbench.methods()
    grid = gapbench.Grid(methods=("sac", "h2o"), tasks=("halfcheetah",), datasets=("medium",),
                         gaps=("gravity:2.0",), seeds=(0,), steps=1000)
    gapbench.run_sweep([grid], gapbench.SweepOptions(results=Path("results")))  # the CLI's runner
    final = gapbench.final_scores(gapbench.load_runs("results"))     # pandas, one row per seed
    print(gapbench.markdown(gapbench.table1(final)))

The layers are subpackages: `gapbench.envs`, `gapbench.algos`, `gapbench.benchmark` and
`gapbench.analysis`. Each name here is imported on first use (PEP 562), so `import gapbench.envs`
or `gapbench --help` does not pay for torch, Sacred or pandas.
"""

from __future__ import annotations

from importlib import import_module

_LAYERS = ("envs", "algos", "benchmark", "analysis")

# name -> the module that owns it
_EXPORTS = {
    # envs and gaps
    **dict.fromkeys(["make_real", "make_sim", "parse_gap", "Gap", "PAPER_GAPS", "task_names", "get_task",
                     "measure_gap"], "gapbench.envs"),
    # D4RL-format datasets
    **dict.fromkeys(["Transitions", "load_d4rl", "check_d4rl", "save_d4rl", "DatasetError", "d4rl_path"],
                    "gapbench.envs"),
    # methods
    **dict.fromkeys(["Method", "methods", "get_method"], "gapbench.algos"),
    # running a grid, as `gapbench run` does
    **dict.fromkeys(["Grid"], "gapbench.benchmark.sweep.grid"),
    **dict.fromkeys(["presets"], "gapbench.benchmark.sweep.presets"),
    **dict.fromkeys(["SweepOptions", "run_sweep"], "gapbench.benchmark.sweep.runner"),
    # the results store, in pandas, and the tables
    **dict.fromkeys(["load_runs", "final_scores", "open_store"], "gapbench.analysis"),
    **dict.fromkeys(["table1", "table2"], "gapbench.analysis.tables"),
    **dict.fromkeys(["markdown"], "gapbench.analysis.render"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _LAYERS:
        return import_module(f"{__name__}.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gapbench' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__, *_LAYERS])

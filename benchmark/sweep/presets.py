"""Named grids. A preset is one or more grids; the quick preset is the README's main job, the smoke
preset the pipeline check the tests use."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from gapbench.algos import get_method, methods
from gapbench.benchmark.data.generation import Recipe
from gapbench.benchmark.sweep.grid import Grid, expand
from gapbench.envs import PAPER_GAPS
from gapbench.envs.odrl_levels import odrl_gap_strings

TABLE1_METHODS = tuple(m.name for m in methods() if m.role == "baseline")  # the paper's order
ABLATIONS = ("h2o", *(m.name for m in methods() if m.role == "ablation"), "cql", "sac")  # Table 2's rows
FIELD_METHODS = tuple(m.name for m in methods() if m.role == "field")  # the newer baselines (IQL, TD3+BC, ...)
PAPER_DATASETS = ("medium", "medium-replay", "medium-expert")
FIVE_SEEDS = (0, 1, 2, 3, 4)
FIGURE3_GAP = "velocity_offset:0.1"

# Milliseconds per update, one thread per process on the 2-core AMD EPYC of docs/performance.md:
# sac, cql, darc and h2o measured by `gapbench perf`, the others estimated from their extra work
# (DARC+ adds a real half-batch, the ablations drop terms). Used only for time estimates; a method
# not listed is assumed to cost like H2O, and the estimate says so.
MS_PER_UPDATE = {"sac": 13.6, "cql": 128.0, "darc": 24.0, "darc+": 27.0, "h2o": 29.0, "h2o-a": 27.0,
                 "h2o-dr": 29.0, "h2o-a-dr": 27.0, "h2o-reg": 24.0, "h2o-reg-dr": 24.0, "bc": 3.0,
                 # the field's baselines: SAC's 13.6 scaled by their update rates against SAC's in the
                 # same `gapbench perf` runs (two runs, the machine loaded about two-fold; provisional)
                 "iql": 12.5, "td3+bc": 9.0, "par": 17.0,
                 # H2O+: SAC's 13.6 x 59.1 / 45.3 updates/s (sac / h2o+ in one `gapbench perf` run, the
                 # machine loaded about two-fold; provisional like the three above)
                 "h2o+": 17.7,
                 # VGDF: SAC's 13.6 x 96.3 / 19.6 updates/s (sac / vgdf in one `gapbench perf` run, the
                 # machine loaded about 1.5-fold); about half of it is the dynamics ensemble's step (7 x 256
                 # rows through 4 x 200 layers every update)
                 "vgdf": 67.0}
# The same with the quick preset's small networks (QUICK_HIDDEN) on the 4-dimensional robot: the
# wall time between evaluations of the 5,000-update quick job on the idle 2-core AMD EPYC
# (results/reference/quick-5000/), so each figure includes its sim steps and evaluations.
# The field's baselines: the same wall time, first to last evaluation, median over the 10 runs of
# each in the 2,000-update quick-field job on the idle machine (results/reference/quick-field/).
# A cell whose method has QUICK_HIDDEN uses these.
MS_PER_SMALL_UPDATE = {"sac": 8.8, "cql": 29.0, "darc": 18.0, "darc+": 13.0, "h2o": 16.5,
                       "iql": 5.2, "td3+bc": 3.3, "par": 6.8, "vgdf": 15.8, "h2o+": 9.5}
SECONDS_PER_RUN = 6.0  # process start, env creation, evaluation
SECONDS_PER_SIM_STEP = 1.2e-4


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    grids: tuple[Grid, ...]

    def runs(self) -> int:
        return sum(len(expand(g)) * len(g.seeds) for g in self.grids)

    def estimate_hours(self, workers: int) -> tuple[float, list[str]]:
        """Wall-clock hours on `workers` single-thread processes, and the assumptions it made."""
        seconds, assumed = 0.0, []
        for grid in self.grids:
            for cell in expand(grid):
                table = MS_PER_SMALL_UPDATE if tuple(cell.algo.get("hidden", ())) == QUICK_HIDDEN else MS_PER_UPDATE
                ms = table.get(cell.method)
                if ms is None:
                    ms = MS_PER_UPDATE["h2o"]
                    assumed.append(cell.method)
                sim = SECONDS_PER_SIM_STEP * cell.steps if "sim" in get_method(cell.method).agent.sources else 0.0
                seconds += len(grid.seeds) * (cell.steps * ms / 1000 + sim + SECONDS_PER_RUN)
        return seconds / 3600 / max(1, workers), sorted(set(assumed))


# The paper presets reproduce the paper's numbers, which came from the authors' code, so they take
# the code's two settings that differ from the paper's text (docs/fidelity.md, "Which settings the
# paper presets use"): u(s,a)'s next states perturbed with the padded per-dimension std, and the
# joint-noise gap charging its control cost on the executed, noisy action. Every other grid, and
# `gapbench run` without a preset, follows the paper's text; `--with next_state_noise=dataset_cov
# --gaps gravity:2.0,friction:0.3,joint_noise:1.0` runs a paper preset that way.
AUTHORS_CODE_ALGO = {"next_state_noise": "padded_buffer_std"}
AUTHORS_CODE_GAPS = {"joint_noise:1.0": "joint_noise:1.0:executed"}
AUTHORS_CODE_NOTE = "the authors' code settings: padded-std u(s,a), joint-noise cost on the executed action"


def _paper(methods_, datasets, gaps, **train) -> Grid:
    algo = {m: dict(AUTHORS_CODE_ALGO) for m in methods_
            if set(AUTHORS_CODE_ALGO) <= {f.name for f in dataclasses.fields(get_method(m).agent.Config)}}
    return Grid(tuple(methods_), ("halfcheetah",), tuple(datasets), tuple(AUTHORS_CODE_GAPS.get(g, g) for g in gaps),
                FIVE_SEEDS, 1_000_000, train=train, recipe=Recipe(), algo=algo)


# The smoke preset: every registered method, a tiny budget, tiny generated datasets, and enough
# cells that Table 1 (two rows), Table 2, the learning curves and Figure 3 all have data.
_SMOKE_TRAIN = {"sim_steps_per_epoch": 100, "updates_per_epoch": 100, "eval_every": 100, "eval_episodes": 2,
                "final_eval_episodes": 3, "log_every": 50, "checkpoint_every": 200}
_SMOKE_RECIPE = Recipe(size=4000, budget=2000, seed=0)


def _smoke() -> tuple[Grid, ...]:
    everything = tuple(m.name for m in methods())
    main = Grid(everything, ("halfcheetah",), ("medium-replay",), ("gravity:2.0", "friction:0.3"), (0, 1), 300,
                train=dict(_SMOKE_TRAIN), recipe=_SMOKE_RECIPE)
    figure3 = Grid(("h2o",), ("halfcheetah",), ("medium-replay",), (FIGURE3_GAP,), (0,), 300,
                   train={**_SMOKE_TRAIN, "diagnostics_every": 100, "diagnostics_batch": 256},
                   recipe=_SMOKE_RECIPE)
    return main, figure3


# The quick preset (docs/wheel-legged.md): the five Table 1 methods on the wheel-legged robot, both
# tasks, the idealised simulator as the gap, the scripted operator's 100,000 "human" transitions as
# the real data. Networks of 64 x 64 suit a 4-dimensional state; the budget follows the rule written
# in docs/wheel-legged.md before any method was compared.
QUICK_TASKS = ("wheel-legged-stand", "wheel-legged-move")
QUICK_GAP = "wheel_legged_sim"
QUICK_HIDDEN = (64, 64)
QUICK_STEPS = 2000
QUICK_RECIPE = Recipe(size=100_000, seed=0)  # the operator's transitions; the SAC budget plays no part
QUICK_TRAIN = {"eval_every": 500, "eval_episodes": 3, "final_eval_episodes": 10, "log_every": 250,
               "checkpoint_every": 1000, "sim_eval_gap": QUICK_GAP}


# The field's baselines on the quick cells: their own networks take the quick width too (PAR's
# encoders, VGDF's dynamics ensemble), and VGDF filters from 10% of the budget on, as the authors'
# 100,000 of 1M (at its default 100,000 it would never filter in 2,000 updates). A preset of its own,
# not part of `quick`: the main job keeps its 30-minute budget (docs/wheel-legged.md), and both
# presets share the store, so `gapbench tables` after both shows the ten methods side by side.
QUICK_FIELD_ALGO = {"par": {"encoder_hidden": list(QUICK_HIDDEN), "encoder_dim": QUICK_HIDDEN[-1]},
                    "vgdf": {"model_hidden": [QUICK_HIDDEN[-1]] * 4, "filter_start": QUICK_STEPS // 10}}


def _quick(methods: tuple[str, ...] = TABLE1_METHODS) -> Grid:
    return Grid(methods, QUICK_TASKS, ("human",), (QUICK_GAP,), FIVE_SEEDS, QUICK_STEPS,
                train=dict(QUICK_TRAIN), recipe=QUICK_RECIPE,
                algo={m: {"hidden": list(QUICK_HIDDEN), **QUICK_FIELD_ALGO.get(m, {})} for m in methods})


# ODRL's locomotion grid (docs/odrl-shifts.md) in H2O's setting: on each of its four tasks, every
# shift ODRL ships (gravity and friction at 0.1, 0.5, 2 and 5x, each kinematic and morphology part
# at easy, medium and hard) as the simulator's gap, the real env's medium data, the Table 1 methods.
ODRL_TASKS = ("halfcheetah", "hopper", "walker2d", "ant")


def _odrl() -> tuple[Grid, ...]:
    return tuple(Grid(TABLE1_METHODS, (task,), ("medium",), tuple(gap for _, gap in odrl_gap_strings(task)),
                      FIVE_SEEDS, 1_000_000, recipe=Recipe()) for task in ODRL_TASKS)


def presets() -> dict[str, Preset]:
    """Built on demand, so a method registered after import (a new baseline) joins the smoke grid."""
    table1 = _paper(TABLE1_METHODS, PAPER_DATASETS, PAPER_GAPS)
    table2 = _paper(ABLATIONS, ("medium-replay",), ("gravity:2.0",))
    # The field's newer baselines beside the paper's five, on the paper's cells and budget. The offline
    # ones train once per dataset (their cells have no gap), so they add 3 cells each, not 9.
    field = _paper(TABLE1_METHODS + FIELD_METHODS, PAPER_DATASETS, PAPER_GAPS)
    figure3 = Grid(("h2o",), ("halfcheetah",), ("medium-replay",), (FIGURE3_GAP,), (0,), 1_000_000,
                   train={"diagnostics_every": 200_000}, algo={"h2o": dict(AUTHORS_CODE_ALGO)})
    return {p.name: p for p in (
        Preset("paper-table1", f"Table 1: 5 methods x 3 datasets x 3 gaps x 5 seeds x 1M updates; {AUTHORS_CODE_NOTE}",
               (table1,)),
        Preset("field-table1", f"Table 1 with the field's newer baselines ({', '.join(FIELD_METHODS)}) beside "
               "the paper's 5 methods: 3 datasets x 3 gaps x 5 seeds x 1M updates", (field,)),
        Preset("paper-table2", "Table 2: H2O, its 5 ablations, CQL and SAC; medium-replay, gravity x2, 5 seeds; "
               f"{AUTHORS_CODE_NOTE}",
               (table2,)),
        Preset("paper-figure3", f"Figure 3: H2O on {FIGURE3_GAP} saving u(s,a) and Q snapshots; the authors' "
               "padded-std u(s,a)", (figure3,)),
        Preset("odrl", f"ODRL's locomotion shifts: {', '.join(ODRL_TASKS)} x every ODRL gravity, friction, "
               "kinematic and morphology level x medium data x 5 methods x 5 seeds x 1M updates, plus about "
               "6 h of one core per task to generate its data", _odrl()),
        Preset("quick", f"the wheel-legged robot: 5 methods x 2 tasks x 5 seeds x {QUICK_STEPS} updates, "
               "small networks, the operator's data: a readable Table 1 in half an hour", (_quick(),)),
        Preset("quick-field", f"the quick preset's cells for the field's baselines ({', '.join(FIELD_METHODS)}): "
               "run it into the same store as quick for a 10-method table", (_quick(FIELD_METHODS),)),
        Preset("smoke", "every method, 300 updates, tiny generated data: the whole pipeline in minutes",
               _smoke()),
    )}


def hours_text(hours: float) -> str:
    if hours < 1:
        return f"{math.ceil(hours * 60)} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"

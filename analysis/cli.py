"""`gapbench tables`, `gapbench plots` and `gapbench compare`, registered through the `gapbench.commands`
entry point.

All three read only the results store. What the store could not give (broken folders, duplicates,
failed runs) is printed as `gapbench: warning: ...` lines on stderr as it is found; an error the
user can fix is one `gapbench: error: ...` line and exit status 2, like the other subcommands.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from gapbench.analysis.errors import AnalysisError, StoreWarning
from gapbench.analysis.layout import TABLE2_CELL

Handler = Callable[[argparse.Namespace], int]
RESULTS_HELP = "the results store: a folder holding runs/, or mongodb://HOST:PORT/DB (default: results)"


def register(sub) -> None:
    tables = sub.add_parser("tables", help="write Table 1 and Table 2 (Markdown, LaTeX, CSV) from a results store",
                            description="Rebuild the paper's Table 1 (methods x dataset x gap) and Table 2 (the H2O "
                            "ablations) from the COMPLETED runs of a results store: mean ± std over seeds of the "
                            "final score, the best in bold. Prints the Markdown and writes md, tex and csv files.")
    _store_arguments(tables, "tables")
    tables.add_argument("--format", default="md,tex,csv", help="comma-separated: md, tex, csv (default: all)")
    tables.add_argument("--metric", default="return", choices=["return", "normalized"],
                        help="the final real-env return as in the paper (default), or the D4RL-normalised score")
    tables.add_argument("--ci", action="store_true",
                        help="Table 1's cells also show the 95%% bootstrap confidence interval of the mean over seeds")
    tables.add_argument("--expect-seeds", type=int, metavar="N",
                        help="seeds a cell should have; fewer are marked † (default: the most any cell has)")
    tables.set_defaults(handler=_reporting(tables_command))

    plots = sub.add_parser("plots", help="draw learning curves, ablation bars, Figure 3 and aggregate statistics",
                           description="Draw, as PNG and PDF: learning curves per dataset x gap, Table 2 as bars, "
                           "the paper's Figure 3 from H2O's u(s,a)/Q snapshots, one real episode per method (Figure 2(c)-(d), tasks "
                           "with a tilt), final sim vs real returns (runs with train.sim_eval_gap), and rliable's aggregate statistics "
                           "(IQM, mean, median, optimality gap, performance profile, probability of improvement; "
                           "needs the `stats` extra), whose numbers are also written as aggregate.md and .csv.")
    _store_arguments(plots, "plots")
    plots.add_argument("--reps", type=int, default=2000, help="bootstrap resamples for rliable's CIs (default 2000)")
    plots.set_defaults(handler=_reporting(plots_command))

    compare = sub.add_parser("compare", help="read methods against each other in one cell by the studies' "
                             "two-standard-error rule", description="Read the first method against each of the "
                             "others in one (task, dataset, gap) cell from the COMPLETED runs of a results store, by "
                             "the rule the reference studies write down before their runs: A beats B if the "
                             "difference of the mean final scores exceeds 2·sqrt(s_A²/n_A + s_B²/n_B), otherwise "
                             "they are level within seed noise. Welch's t-test is printed beside it as context "
                             "(needs the `stats` extra).")
    compare.add_argument("methods", nargs="+", metavar="METHOD",
                         help="method names as `gapbench list methods` gives them (a bf16 run's is e.g. cql@bf16); "
                         "the first is compared with each of the others")
    compare.add_argument("--results", default="results", help=RESULTS_HELP)
    compare.add_argument("--task", help="the cell's task (default: the compared methods' only one)")
    compare.add_argument("--dataset", help="the cell's dataset (default: the compared methods' only one)")
    compare.add_argument("--gap", help="the cell's dynamics gap, e.g. gravity:2.0 (default: the compared methods' "
                         "only one)")
    compare.add_argument("--metric", default="normalized", choices=["normalized", "return"],
                         help="the D4RL-normalised score (default) or the real-env return; the reading is the same "
                         "on either, since one is an affine map of the other")
    compare.add_argument("--min-seeds", type=int, default=2, metavar="N",
                         help="read a pair only when both sides have at least N seeds (default 2, the fewest a "
                         "standard deviation needs)")
    compare.add_argument("--seeds", metavar="S,S,...",
                         help="read only these seeds of each compared cell, e.g. a study's own seeds 12,13,14 "
                         "(default: every seed the cell counts)")
    compare.add_argument("--per-seed", action="store_true",
                         help="also print each compared method's seeds in the cell: the run that counts, its return "
                         "at every evaluation and its final return and normalised score")
    compare.set_defaults(handler=_reporting(compare_command))


def tables_command(args: argparse.Namespace) -> int:
    from gapbench.analysis.render import markdown, parse_formats, write
    from gapbench.analysis.runs import final_scores, load_runs
    from gapbench.analysis.tables import table1, table2

    formats = parse_formats(args.format)
    if args.expect_seeds is not None and args.expect_seeds < 1:
        raise AnalysisError(f"--expect-seeds must be positive, got {args.expect_seeds}")
    final = final_scores(load_runs(args.results))
    _require_scores(final, args.results)
    out = _out(args, "tables")
    written = []
    built = [table1(final, args.metric, args.expect_seeds, args.ci),
             table2(final, args.metric, args.expect_seeds, args.table2_task, args.table2_dataset, args.table2_gap)]
    for table in built:
        if table is not None:
            print(markdown(table))
            written += write(table, out, formats)
    if built[0] is None:
        _note("no Table 1: the store has no COMPLETED run of a baseline or extra method")
    if built[1] is None:
        _note("no Table 2: the store has no COMPLETED run of an H2O ablation (gapbench run --preset paper-table2)")
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def plots_command(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # files only, on any machine, headless included

    from gapbench.analysis.layout import method_colors, methods_table, table1_methods
    from gapbench.analysis.plots import (
        ablation_figure,
        figure3_cells,
        figure3_figure,
        figure3_stem,
        learning_curves_figure,
        save,
        style,
    )
    from gapbench.analysis.episodes import load_episodes
    from gapbench.analysis.runs import final_scores, load_runs
    from gapbench.analysis.snapshots import load_snapshots
    from gapbench.analysis.stats import aggregate, aggregate_figure, improvement_figure, profile_figure, write_numbers
    from gapbench.analysis.store import open_store
    from gapbench.analysis.tables import ablation_task
    from gapbench.analysis.transfer_plots import episode_figure, sim_vs_real_figure

    if args.reps < 1:
        raise AnalysisError(f"--reps must be positive, got {args.reps}")
    store = open_store(args.results)
    frame = load_runs(store)
    final = final_scores(frame)
    _require_scores(final, args.results)
    colors = method_colors(methods_table(final))
    out = _out(args, "plots")
    written = []
    with style():
        if table1_methods(methods_table(final)):
            written += save(learning_curves_figure(frame, colors), out, "learning_curves")
        else:
            _note("no learning curves: the store has no COMPLETED run of a baseline or extra method")
        if (final["role"] == "ablation").any():
            written += save(ablation_figure(final, colors, ablation_task(final, args.table2_task),
                                            args.table2_dataset, args.table2_gap), out, "ablations")
        else:
            _note("no ablation bars: the store has no COMPLETED run of an H2O ablation")
        snapshots = load_snapshots(store, frame)
        for cell in figure3_cells(snapshots):
            written += save(figure3_figure(snapshots, cell), out, figure3_stem(cell))
        if snapshots.empty:
            _note("no Figure 3: no COMPLETED run saved u(s,a) snapshots (gapbench run --preset paper-figure3)")
        episodes = load_episodes(store, frame)
        for task in sorted(episodes["task"].unique()):
            written += save(episode_figure(episodes, colors, task), out, f"episode_{task}")
        for task in sorted(final.loc[final["sim_return"].notna(), "task"].unique()):
            written += save(sim_vs_real_figure(final, colors, task), out, f"sim_vs_real_{task}")
        try:
            result = aggregate(final, args.reps)
        except AnalysisError as err:
            print(f"gapbench: warning: aggregate statistics skipped: {err}", file=sys.stderr)
        else:
            written += save(aggregate_figure(result, colors), out, "aggregate")
            written += save(profile_figure(result, colors), out, "performance_profile")
            if result.improvement:
                written += save(improvement_figure(result, colors), out, "probability_of_improvement")
            written += write_numbers(result, out)
            for note in result.notes:
                _note(f"aggregate statistics: {note}")
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def compare_command(args: argparse.Namespace) -> int:
    from gapbench.analysis import per_seed
    from gapbench.analysis.compare import budgets, compare, data_files, markdown, welch_available
    from gapbench.analysis.layout import methods_table
    from gapbench.analysis.runs import final_scores, load_runs

    frame = load_runs(args.results)
    final = final_scores(frame)
    _require_scores(final, args.results)
    seeds = _seed_list(args.seeds) if args.seeds is not None else None
    where, readings = compare(final, args.methods, args.task, args.dataset, args.gap, args.metric, args.min_seeds,
                              seeds)
    print(markdown(where, readings, args.metric))
    if args.per_seed:
        rows = per_seed.seed_rows(frame, args.methods, where.task, where.dataset, where.gap)
        rows = rows if seeds is None else rows[rows["seed"].isin(seeds)]
        print("\n" + per_seed.markdown(rows, methods_table(final)["label"]))
    if not welch_available():
        _note("Welch's test is not shown (–): it needs scipy, from the stats extra (pip install 'gapbench[stats]')")
    for reading in readings:
        if not reading.read:
            _note(f"{reading.a} against {reading.b} is not read: {min(reading.cell_a.n, reading.cell_b.n)} seed(s) "
                  f"on one side, fewer than --min-seeds {args.min_seeds}")
    trained = sorted(budgets(readings))
    if len(trained) > 1:
        _note(f"the compared cells were trained for different budgets ({', '.join(f'{s:,}' for s in trained)} "
              "updates), so a reading compares budgets as well as methods")
    files = data_files(readings)
    if len(files) > 1:
        _note(f"the compared seeds trained on different data files of one recipe ({', '.join(files)}, by the "
              "digest each run recorded), so a reading compares data as well as methods")
    return 0


def _seed_list(text: str) -> list[int]:
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        raise AnalysisError(f"--seeds must be comma-separated non-negative integers, got {text!r}")
    return [int(part) for part in parts]


def _store_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--results", default="results", help=RESULTS_HELP)
    parser.add_argument("--out", help=f"where to write (default: <results>/{what}, or ./{what} for a MongoDB store)")
    parser.add_argument("--table2-task", help="Table 2's task (default: the store's only task, or halfcheetah)")
    parser.add_argument("--table2-dataset", default=TABLE2_CELL[0],
                        help=f"Table 2's dataset (default: {TABLE2_CELL[0]}, as in the paper)")
    parser.add_argument("--table2-gap", default=TABLE2_CELL[1],
                        help=f"Table 2's dynamics gap (default: {TABLE2_CELL[1]}, as in the paper)")


def _reporting(handler: Handler) -> Handler:
    """Store warnings become `gapbench: warning:` lines, AnalysisError a `gapbench: error:` line and exit 2."""
    def run(args: argparse.Namespace) -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("always", StoreWarning)
            show = warnings.showwarning

            def print_store_warning(message, category, *rest):
                if issubclass(category, StoreWarning):
                    print(f"gapbench: warning: {message}", file=sys.stderr)
                else:
                    show(message, category, *rest)

            warnings.showwarning = print_store_warning
            try:
                return handler(args)
            except AnalysisError as err:
                print(f"gapbench: error: {err}", file=sys.stderr)
                return 2
    return run


def _out(args: argparse.Namespace, what: str) -> Path:
    if args.out:
        return Path(args.out)
    if str(args.results).startswith("mongodb"):
        return Path(what)
    return Path(args.results) / what


def _require_scores(final, results: str) -> None:
    from gapbench.analysis.store import redacted

    if final.empty:
        raise AnalysisError(f"no COMPLETED runs in {redacted(str(results))}; run `gapbench run` first (`gapbench status` "
                            "lists what the store holds)")


def _note(text: str) -> None:
    print(f"gapbench: note: {text}", file=sys.stderr)

"""`gapbench datasets check`: validate a D4RL-format file and summarise its behaviour data."""

from __future__ import annotations

from pathlib import Path

from gapbench import envs
from gapbench.envs.d4rl_file import arrays_sha256, read_d4rl_arrays

from gapbench.benchmark.cli.commands.common import parse_task_arg


def register(sub) -> None:
    parser = sub.add_parser("datasets", help="check D4RL-format datasets and generate new ones")
    ds_sub = parser.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    check = ds_sub.add_parser(
        "check",
        help="validate a D4RL-format HDF5 file and summarise it",
        description="Check keys, shapes against the task, dtypes, finite values and episode structure, "
        "then print the size, episodes, return statistics and normalised score of the behaviour data, "
        "and the SHA-256 of its arrays (observations, actions, rewards, next_observations, terminals, "
        "timeouts, those present, in that order; the metadata is left out).",
    )
    check.add_argument("path")
    check.add_argument("--task", default=None, help="task to check shapes against (default: the file's "
                       "metadata/task, else halfcheetah)")
    check.set_defaults(handler=run_check)
    make = ds_sub.add_parser(
        "make",
        help="generate D4RL-style datasets with D4RL's recipe (SAC in the real env)",
        description="Train SAC in the real env; 'medium' rolls out the first policy whose stochastic "
        "rollouts (the data it logs) reach --medium-score (or the policy one evaluation before, if the return "
        "jumped past the level by more than D4RL's medium spread and that one is nearer), 'medium-replay' is "
        "the replay buffer up to then, "
        "'expert' rolls out the final "
        "policy, 'medium-expert' is both. They are written to the cache ($GAPBENCH_DATA, default "
        "~/.cache/gapbench) in D4RL format, with the recipe in their metadata. Asked for medium or "
        "medium-replay, the generation stops once both are written (it keeps its checkpoint); asked for "
        "expert or medium-expert, it goes on from there to the end of the budget and writes all four.",
    )
    make.add_argument("--task", default="halfcheetah")
    make.add_argument("--kind", default="medium", choices=envs.GENERATED_KINDS)
    _recipe_arguments(make)
    make.add_argument("--force", action="store_true", help="regenerate even if the cache has these files")
    make.add_argument("--resume-from", type=Path, default=None, metavar="DIR",
                      help="a copy of this recipe's work folder (e.g. results/reference/datasets/generation/...): "
                      "the generation resumes from its checkpoint instead of update 0, unless the cache's own is further")
    make.set_defaults(handler=run_make)
    table = ds_sub.add_parser(
        "table",
        help="one row per generated dataset of a recipe: size, episodes, return and normalised score",
        description="Summarise the generated datasets of one recipe (the options of `datasets make`) as a "
        "Markdown table, beside the recipe's medium pick; datasets not generated yet are listed as missing.",
    )
    table.add_argument("--task", default="halfcheetah")
    _recipe_arguments(table)
    table.set_defaults(handler=run_table)


def _recipe_arguments(parser) -> None:
    parser.add_argument("--size", type=int, default=1_000_000, help="transitions per rollout dataset (default 1M)")
    parser.add_argument("--budget", type=int, default=1_000_000, help="SAC updates (default 1M)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--medium-score", type=float, default=None,
                        help="D4RL-normalised return of the medium data (default: the task's, the level of D4RL's "
                        f"<task>-medium-v2 data: {_levels_text()})")


def _levels_text() -> str:
    levels = [f"{spec.name} {spec.d4rl_medium_score:g}" for spec in map(envs.get_task, envs.task_names())
              if spec.d4rl_medium_score is not None]
    return ", ".join(levels) + f"; {envs.DEFAULT_MEDIUM_SCORE:g} where none is published, as for ant"


def _recipe(args, task: str):
    """The recipe of these options, its medium level settled for `task`."""
    from gapbench.benchmark.data import generation
    from gapbench.benchmark.errors import UserError

    try:
        level = {} if args.medium_score is None else {"medium_score": args.medium_score}
        return generation.Recipe(size=args.size, budget=args.budget, seed=args.seed, **level).for_task(task)
    except ValueError as error:
        raise UserError(str(error)) from None


def run_make(args) -> int:
    from gapbench.benchmark.data import generation
    from gapbench.benchmark.errors import UserError
    from gapbench.benchmark.sweep.runner import generation_progress

    task = parse_task_arg(args.task)
    recipe = _recipe(args, task)
    path = envs.generated_path(task, args.kind, recipe.tag)
    with generation.recipe_lock(task, recipe):  # a sweep generating this recipe now is waited for
        if path.is_file() and not args.force:
            print(f"already generated: {path} (use --force to make it again)")
        else:
            if args.resume_from is not None:
                try:
                    start = generation.adopt_work(task, recipe, args.resume_from)
                except ValueError as error:
                    raise UserError(str(error)) from None
                print(f"resuming the generation from SAC update {start}")
            if args.medium_score is None and envs.get_task(task).d4rl_medium_score is None:
                print(f"note: no D4RL {task}-medium-v2 level is published, so the medium level is the recipe's "
                      f"default {recipe.medium_score:g}; --medium-score sets another")
            print(f"training SAC in the real {task} env for {args.budget} updates (D4RL's recipe, {recipe.tag}, "
                  f"medium level {recipe.medium_score:g} normalised)")
            paths = generation.generate(task, recipe, progress=generation_progress(task, recipe.budget),
                                        until_medium=args.kind in generation.MEDIUM_KINDS)
            for kind, p in paths.items():
                print(f"  {kind:14s} {p}")
    summary = envs.check_d4rl(path, task)
    meta = summary.metadata
    print(f"{args.kind}: {summary.transitions} transitions, {summary.episodes} episodes, behaviour return "
          f"{summary.return_mean:.1f} ± {summary.return_std:.1f} (normalised {summary.normalized_mean:.1f})")
    if "medium_probe_return" in meta:  # medium and medium-replay; expert files name only the update
        print(medium_pick_line(meta))
    if not meta.get("medium_target_reached", True):
        print(f"note: the policy never reached the medium target return {meta['medium_target_return']:.0f} "
              f"within {args.budget} updates, so 'medium' uses the final policy; raise --budget for D4RL-like data")
    return 0


def medium_pick_line(meta: dict) -> str:
    """Which policy is medium and why, from a medium file's metadata (generation.pick_medium)."""
    line = (f"medium policy: SAC update {meta['medium_update']:,}, its data returned "
            f"{meta['medium_probe_return']:.0f} against the target {meta['medium_target_return']:.0f}")
    if meta.get("medium_first_past_update", meta["medium_update"]) != meta["medium_update"]:
        line += (f" (the first probe past the target, at update {meta['medium_first_past_update']:,}, returned "
                 f"{meta['medium_first_past_return']:.0f}: further past it than D4RL's medium spread, "
                 "and the probe before was nearer)")
    return line


def run_check(args) -> int:
    raw = read_d4rl_arrays(args.path)  # the digest's bytes, and the task the file names
    task = args.task if args.task is not None else raw["metadata"].get("task", "halfcheetah")
    summary = envs.check_d4rl(args.path, parse_task_arg(task))
    print(f"{summary.path}: OK for task {task}")
    print(f"  rows {summary.rows}, usable transitions {summary.transitions}, episodes {summary.episodes}"
          + (f" (+{summary.partial_rows} rows of an unfinished episode)" if summary.partial_rows else ""))
    stored = [k for k, v in (("next_observations", summary.has_next_observations),
                             ("timeouts", summary.has_timeouts)) if v]
    print(f"  observations {summary.obs_dim}-d, actions {summary.act_dim}-d; stored: "
          + (", ".join(stored) or "no next_observations, no timeouts"))
    print(f"  arrays sha256: {arrays_sha256(raw)}")
    if summary.episodes:
        print(f"  behaviour return: mean {summary.return_mean:.1f} ± {summary.return_std:.1f} "
              f"(min {summary.return_min:.1f}, max {summary.return_max:.1f}), "
              f"normalised score {summary.normalized_mean:.1f}")
    else:
        print("  behaviour return: no complete episode")
    for key, value in sorted(summary.metadata.items()):
        print(f"  metadata {key}: {value}")
    return 0


def run_table(args) -> int:
    from tabulate import tabulate

    task = parse_task_arg(args.task)
    recipe = _recipe(args, task)
    rows, medium = [], None
    for kind in envs.GENERATED_KINDS:
        path = envs.generated_path(task, kind, recipe.tag)
        if not path.is_file():
            rows.append([f"{task}-{kind}", "not generated", "", "", ""])
            continue
        summary = envs.check_d4rl(path, task)
        medium = medium or (summary.metadata if "medium_probe_return" in summary.metadata else None)
        rows.append([f"{task}-{kind}", f"{summary.rows:,}", f"{summary.episodes:,}",
                     f"{summary.return_mean:.0f} ± {summary.return_std:.0f}",
                     f"{summary.normalized_mean:.1f}" if summary.normalized_mean is not None else "n/a"])
    print(f"Generated with D4RL's recipe {recipe.tag} (SAC for {recipe.budget:,} updates, seed {recipe.seed}, "
          f"medium level {recipe.medium_score:g} normalised)\n")
    # Rows, as D4RL counts its datasets (202,000 for halfcheetah-medium-replay-v2), and the
    # population std over complete episodes, as its published statistics use.
    print(tabulate(rows, ["dataset", "transitions (rows)", "episodes", "return (mean ± std over episodes)",
                          "normalised"], tablefmt="github", disable_numparse=True))
    if medium is not None:
        print("\n" + medium_pick_line(medium))
    return 0

"""`gapbench datasets check`: validate a D4RL-format file and summarise its behaviour data."""

from __future__ import annotations

import envs
from envs.d4rl_file import read_d4rl_arrays

from benchmark.commands.common import parse_task_arg


def register(sub) -> None:
    parser = sub.add_parser("datasets", help="check D4RL-format datasets and generate new ones")
    ds_sub = parser.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    check = ds_sub.add_parser(
        "check",
        help="validate a D4RL-format HDF5 file and summarise it",
        description="Check keys, shapes against the task, dtypes, finite values and episode structure, "
        "then print the size, episodes, return statistics and normalised score of the behaviour data.",
    )
    check.add_argument("path")
    check.add_argument("--task", default=None, help="task to check shapes against (default: the file's "
                       "metadata/task, else halfcheetah)")
    check.set_defaults(handler=run_check)


def run_check(args) -> int:
    task = args.task
    if task is None:
        task = read_d4rl_arrays(args.path)["metadata"].get("task", "halfcheetah")
    summary = envs.check_d4rl(args.path, parse_task_arg(task))
    print(f"{summary.path}: OK for task {task}")
    print(f"  rows {summary.rows}, usable transitions {summary.transitions}, episodes {summary.episodes}"
          + (f" (+{summary.partial_rows} rows of an unfinished episode)" if summary.partial_rows else ""))
    stored = [k for k, v in (("next_observations", summary.has_next_observations),
                             ("timeouts", summary.has_timeouts)) if v]
    print(f"  observations {summary.obs_dim}-d, actions {summary.act_dim}-d; stored: "
          + (", ".join(stored) or "no next_observations, no timeouts"))
    if summary.episodes:
        print(f"  behaviour return: mean {summary.return_mean:.1f} ± {summary.return_std:.1f} "
              f"(min {summary.return_min:.1f}, max {summary.return_max:.1f}), "
              f"normalised score {summary.normalized_mean:.1f}")
    else:
        print("  behaviour return: no complete episode")
    for key, value in sorted(summary.metadata.items()):
        print(f"  metadata {key}: {value}")
    return 0

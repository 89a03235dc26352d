"""`gapbench gaps measure`: how wrong is a simulator?"""

from __future__ import annotations

from gapbench import envs
from gapbench.benchmark.cli.commands.common import parse_gap_arg, parse_task_arg


def register(sub) -> None:
    parser = sub.add_parser("gaps", help="measure how far a simulator's steps are from the real env's")
    gap_sub = parser.add_subparsers(dest="gaps_command", metavar="ACTION", required=True)
    measure = gap_sub.add_parser(
        "measure",
        help="same states, same actions in real and sim: the normalised next-state difference",
        description="Put the real and the sim env in the same real states (via qpos/qvel), take the same "
        "actions in both, and report the next-state difference divided per dimension by the spread of "
        "the real next states. 0 means the simulator is exact.",
    )
    measure.add_argument("--task", default="halfcheetah")
    measure.add_argument("--gap", required=True, help="e.g. gravity:2.0, friction:0.3, joint_noise:1.0")
    measure.add_argument("--samples", type=int, default=1000, help="number of states (default 1000)")
    measure.add_argument("--seed", type=int, default=0)
    measure.set_defaults(handler=run_measure)


def run_measure(args) -> int:
    task = parse_task_arg(args.task)
    gap = parse_gap_arg(args.gap)
    if args.samples < 1:
        from gapbench.benchmark.errors import UserError

        raise UserError(f"--samples must be at least 1, got {args.samples}")
    result = envs.measure_gap(task, gap, samples=args.samples, seed=args.seed)
    print(f"task {task}, gap {result.gap}: {result.samples} real states from random-action rollouts")
    print(f"next-state difference (normalised per dimension): mean {result.mean:.4f}, max {result.max:.4f}")
    worst = result.per_dim_mean.argsort()[::-1][:3]
    if result.max > 0:
        print("most affected observation dims: " + ", ".join(f"[{i}] {result.per_dim_mean[i]:.3f}" for i in worst))
    return 0

"""`gapbench perf`: update speed, population scaling, worker scaling, memory and load time, with targets."""

from __future__ import annotations

from gapbench.benchmark.errors import UserError


def register(sub) -> None:
    parser = sub.add_parser(
        "perf", help="time gapbench's updates against a plain reference, and check the speed and memory targets",
        description="Times gapbench's real update of each method against a plain one-seed update of the same "
        "maths written like the authors' code (benchmark/perf_reference.py), in interleaved blocks in one "
        "process with one thread; then population scaling (K members in one agent), the local executor with 1 "
        "and with nproc worker processes, the peak RSS of a full-size H2O run set-up and the load time of a "
        "full-size D4RL file. Prints median [min-max] per measure and a table of targets with PASS/FAIL. "
        "See docs/performance.md.")
    parser.add_argument("--methods", default="sac,cql,darc,h2o",
                        help="comma-separated methods that have a plain reference (`gapbench perf --methods x` "
                        "lists them; default: sac, cql, darc, h2o)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="timed seconds per configuration, split into --blocks blocks (default 10)")
    parser.add_argument("--population", default="1,5,10",
                        help="population sizes K to time against K=1, comma-separated (default 1,5,10; "
                        "'1' skips the population section)")
    parser.add_argument("--blocks", type=int, default=5, help="interleaved blocks per configuration (default 5)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="bf16 autocasts every update, gapbench's and the reference's alike (default fp32)")
    parser.add_argument("--dataset-size", type=int, default=2_000_000,
                        help="transitions of the D4RL file for the load and memory measures (default 2M; the "
                        "targets apply only at full size)")
    parser.add_argument("--sim-buffer", type=int, default=1_000_000,
                        help="rows of the sim buffer for the memory measure (default 1M)")
    parser.add_argument("--skip", default="",
                        help="comma-separated sections to leave out: population, workers, memory")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write every measurement as JSON")
    parser.set_defaults(handler=run_perf)


def run_perf(args) -> int:
    from gapbench.benchmark.perf import measure
    from gapbench.benchmark.perf.reference import REFERENCE_METHODS

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in REFERENCE_METHODS]
    if not methods or unknown:
        raise UserError(f"--methods: {', '.join(unknown) or 'none given'}; choose from {', '.join(REFERENCE_METHODS)}")
    try:
        population = sorted({int(k) for k in args.population.split(",") if k.strip()})
    except ValueError:
        raise UserError(f"--population must be comma-separated integers, got {args.population!r}") from None
    if not population or population[0] < 1:
        raise UserError("--population sizes must be at least 1")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip - {"population", "workers", "memory"}:
        raise UserError(f"--skip: unknown section(s) {', '.join(sorted(skip - {'population', 'workers', 'memory'}))}")
    if args.seconds <= 0 or args.blocks < 1:
        raise UserError("--seconds must be positive and --blocks at least 1")
    if args.dataset_size < 1000 or args.sim_buffer < 1000:
        raise UserError("--dataset-size and --sim-buffer must be at least 1000")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available to torch here")
    options = measure.Options(methods=methods, seconds=args.seconds, population=population if "population" not in skip
                           else [1], blocks=args.blocks, device=args.device, precision=args.precision,
                           workers="workers" not in skip, memory="memory" not in skip,
                           dataset_size=args.dataset_size, sim_buffer_size=args.sim_buffer, json_path=args.json)
    measure.run(options)
    return 0

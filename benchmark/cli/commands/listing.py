"""`gapbench list`: what tasks, gaps, methods and presets exist."""

from __future__ import annotations

from gapbench import envs
from gapbench.envs.gaps import gap_aliases, gap_kinds
from gapbench.envs.odrl_levels import KINEMATIC_LEVELS, KINEMATIC_PARTS, MORPHOLOGY_PARTS, morphology_parts_text


def register(sub) -> None:
    parser = sub.add_parser("list", help="list the tasks, gaps, methods or presets")
    parser.add_argument("what", choices=list(_LISTERS), help="what to list")
    parser.set_defaults(handler=lambda args: _LISTERS[args.what]())


def list_tasks() -> int:
    for name in envs.task_names():
        spec = envs.get_task(name)
        print(f"{name:12s} {spec.gym_id:15s} obs {spec.obs_dim:3d}  act {spec.act_dim}  "
              f"D4RL reference returns [{spec.ref_min_score:g}, {spec.ref_max_score:g}]")
    return 0


def list_gaps() -> int:
    for cls in gap_kinds():
        summary = cls.__doc__.strip().splitlines()[0].replace("``", "")
        print(f"{cls.usage:44s} {summary}")
    print(f"{'<gap>+<gap>':44s} several gaps at once, e.g. gravity:2.0+joint_noise:0.5")
    print(f"the paper's Table 1 gaps: {', '.join(envs.PAPER_GAPS)}")
    for name, gap in gap_aliases().items():
        print(f"{name}: {gap}")
    levels = ", ".join(f"{level} = {scale}x" for level, scale in KINEMATIC_LEVELS.items())
    print(f"ODRL's kinematic levels (kinematic:<part>:<level>; {levels} of the joint range), per task:")
    for task, parts in KINEMATIC_PARTS.items():
        named = "; ".join(f"{part} ({', '.join(joints)})" for part, joints in parts.items())
        print(f"  {task:12s} {named}")
    print("ODRL's morphology levels (morphology:<part>:<easy|medium|hard>, the limbs' length and radius "
          "factors read from ODRL's files), per task:")
    for task in MORPHOLOGY_PARTS:
        print(f"  {task:12s} {morphology_parts_text(task)}")
    print("ODRL's gravity and friction levels 0.1, 0.5, 2.0, 5.0 are gravity:<s> and friction:<s>; "
          "docs/odrl-shifts.md maps every ODRL environment")
    return 0


def list_methods() -> int:
    from gapbench.algos import methods

    for method in methods():
        print(f"{method.name:12s} {method.label:12s} {method.summary}")
    return 0


def list_presets() -> int:
    import os

    from gapbench.benchmark.sweep.presets import hours_text, presets

    workers = os.cpu_count() or 1
    for preset in presets().values():
        hours, assumed = preset.estimate_hours(workers)
        note = f" (no cost measured for {', '.join(assumed)}; assumed like H2O)" if assumed else ""
        print(f"{preset.name:14s} {preset.runs():4d} runs, about {hours_text(hours)} on {workers} workers here"
              f"{note}\n{'':14s} {preset.description}")
    print(f"\n{precision_advice()}")
    return 0


def precision_advice() -> str:
    """What precision to run the presets in, on this CPU (issue 16's checks, results/reference/halfcheetah, studies 5-9)."""
    from gapbench.benchmark.host import cpu_features, native_bf16

    native = native_bf16(cpu_features())
    here = (f"This CPU has {native}: --with precision=bf16 is the recommended setting here." if native else
            "This CPU has neither AMX nor AVX512_BF16: bf16 is emulated, over 10x slower, so keep fp32 here.")
    return "\n".join([
        "Precision: fp32 by default. bf16 (--with precision=bf16) learned like fp32 within seed noise in every",
        "check so far (results/reference/halfcheetah, studies 5-9: CQL on halfcheetah-medium, 50k updates; on an",
        "AVX512_BF16 CPU, six seeds a side, 41.39 +- 0.26 in bf16 against 41.56 +- 0.19 in fp32 (study 8); on an",
        "AMX CPU, three a side, 41.65 +- 0.20 against 40.22 +- 1.35 (study 9)), and CQL runs 1.9-2.6x as fast in",
        "bf16 where the CPU computes it natively (AMX, AVX512_BF16).",
        here,
        "A bf16 run is its own method in tables (e.g. 'CQL(real) bf16'), never pooled with fp32."])


_LISTERS = {"methods": list_methods, "presets": list_presets, "tasks": list_tasks, "gaps": list_gaps}

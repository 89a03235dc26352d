"""Does bf16 autocast change learning? SAC and CQL learning curves, fp32 against bf16.

    python -m gapbench.benchmark.perf.precision_check [--seeds 0,1,2] [--sac-steps 10000] [--cql-steps 3000]

Both precisions train the same populations from the same seeds on the same budgets, and print
the evaluation return per seed at every evaluation, with the mean and the fp32 - bf16 difference.

* SAC(sim) on HalfCheetah-v5 without a gap, with the small, fast-learning settings that
  tests/test_learning.py uses (the authors' defaults need far more updates to leave 0).
* CQL(real) on a dataset logged in the real env by the fp32 SAC policy of the first seed plus
  Gaussian action noise, the same dataset for both precisions.

bf16 stays off by default (`TrainConfig.precision`) until this shows no change in learning on the
machine that would use it; docs/performance.md records a run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from tabulate import tabulate

from gapbench import envs
from gapbench.algos import get_method
from gapbench.benchmark.data.generation import record
from gapbench.benchmark.training.loop import NullRecorder, TrainConfig, Training

TASK = "halfcheetah"
FAST_SAC = {"hidden": (64, 64), "policy_lr": 1e-3, "qf_lr": 1e-3, "alpha_multiplier": 0.2}
SMALL_CQL = {"batch_size": 64}
EVAL_SEED = 7_000


class Curve(NullRecorder):
    """Keeps the evaluation returns per seed, {label: {seed: return}}, labelled by update, then
    the final, longer evaluation as "final"."""

    def __init__(self):
        self.points: dict[int | str, dict[int, float]] = {}

    def scalar(self, name, step, value):
        kind, _, seed = name.rpartition("/seed")
        if kind in ("eval/return", "final/return"):
            self.points.setdefault(step if kind == "eval/return" else "final", {})[int(seed)] = value


def train(method: str, overrides: dict, steps: int, seeds: list[int], precision: str,
          data: envs.Transitions | None) -> tuple[Training, Curve, float]:
    cfg = TrainConfig(steps=steps, eval_every=max(1000, steps // 5), eval_episodes=2, final_eval_episodes=5,
                      eval_seed=EVAL_SEED, checkpoint_every=10**9, precision=precision)
    curve = Curve()
    gap = envs.NoGap() if data is None else None
    training = Training(get_method(method), overrides, cfg, TASK, gap, data, seeds, recorder=curve)
    start = time.perf_counter()
    training.run()
    return training, curve, time.perf_counter() - start


@torch.no_grad()
def noisy_policy_data(training: Training, steps: int, noise: float, seed: int = 0) -> envs.Transitions:
    """The first member's deterministic action plus Gaussian noise, `steps` steps in the real env."""
    rng, agent = np.random.default_rng(seed), training.agent

    def noisy(obs: np.ndarray) -> np.ndarray:
        states = torch.as_tensor(obs).expand(len(training.seeds), 1, -1)
        mean = agent.act(states, deterministic=True)[0, 0].float().numpy()
        return np.clip(mean + noise * rng.standard_normal(mean.shape), -1, 1).astype(np.float32)

    return record(TASK, steps, noisy, reset_seed=seed)


def report(name: str, curves: dict[str, Curve], seconds: dict[str, float], seeds: list[int]) -> None:
    rows = []
    for label in curves["fp32"].points:  # in the order logged
        fp32 = np.array([curves["fp32"].points[label][s] for s in seeds])
        bf16 = np.array([curves["bf16"].points[label][s] for s in seeds])
        rows.append([label, " ".join(f"{v:.0f}" for v in fp32), f"{fp32.mean():.0f}",
                     " ".join(f"{v:.0f}" for v in bf16), f"{bf16.mean():.0f}", f"{fp32.mean() - bf16.mean():+.0f}"])
    print(f"\n{name}: evaluation return per seed {seeds} "
          f"(fp32 {seconds['fp32']:.0f} s, bf16 {seconds['bf16']:.0f} s of training)")
    print(tabulate(rows, ["update", "fp32 per seed", "fp32 mean", "bf16 per seed", "bf16 mean", "fp32 - bf16"],
                   tablefmt="github"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gapbench.benchmark.perf.precision_check", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, one population (default 0,1,2)")
    parser.add_argument("--sac-steps", type=int, default=10_000, help="SAC updates (default 10000)")
    parser.add_argument("--cql-steps", type=int, default=3000, help="CQL updates (default 3000)")
    parser.add_argument("--data-steps", type=int, default=10_000, help="CQL dataset transitions (default 10000)")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, CPU bf16 autocast, one thread")

    sac, sac_curves, sac_seconds = {}, {}, {}
    for precision in ("fp32", "bf16"):
        sac[precision], sac_curves[precision], sac_seconds[precision] = train(
            "sac", FAST_SAC, args.sac_steps, seeds, precision, None)
    report(f"SAC(sim), {args.sac_steps} updates, {FAST_SAC}", sac_curves, sac_seconds, seeds)

    data = noisy_policy_data(sac["fp32"], args.data_steps, noise=0.8)
    episodes = max(1, int(data.timeouts.sum() + data.terminals.sum()))
    print(f"\nCQL dataset: {len(data.rewards)} transitions, behaviour return {data.rewards.sum() / episodes:.0f} "
          "per 1000-step episode")
    cql_curves, cql_seconds = {}, {}
    for precision in ("fp32", "bf16"):
        _, cql_curves[precision], cql_seconds[precision] = train("cql", SMALL_CQL, args.cql_steps, seeds, precision,
                                                                 data)
    report(f"CQL(real), {args.cql_steps} updates, {SMALL_CQL}", cql_curves, cql_seconds, seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

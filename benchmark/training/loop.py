"""The training loop, written once for every method.

One epoch, as in the paper and the authors' code: collect `sim_steps_per_epoch` simulator steps
with the current policy, then make `updates_per_epoch` updates, each on a real batch from the
dataset and a sim batch from the replay buffer, as the method's `batch_sizes()` asks. The policy
is evaluated deterministically in the real env every `eval_every` updates, and the run ends with a
final evaluation on more episodes. Everything a run depends on is checkpointed at epoch ends, so
a killed run resumes to the result it would have had.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from gapbench import envs
from gapbench.algos import AgentSpec, FixedDataset, Layout, Method, PopulationRNG, RealDataStats, ReplayBuffer
from gapbench.algos.core.config import device_field, make_config, ranged
from gapbench.benchmark.training.plain_state import from_plain, save_plain
from gapbench.benchmark.training.precision import Precision, critic_layout_here, update_region
from gapbench.benchmark.training.rollouts import Evaluation, Evaluator, SimCollector


@dataclass
class TrainConfig:
    steps: int = ranged(1_000_000, ge=1)  # gradient updates (the paper: 1000 epochs x 1000)
    sim_steps_per_epoch: int = ranged(1000, ge=1)
    updates_per_epoch: int = ranged(1000, ge=1)
    sim_buffer_size: int = ranged(0, ge=0)  # 0: keep every sim step of the run, as the authors' 10N buffer does
    eval_every: int = ranged(10_000, ge=1)  # updates; the authors evaluate every 10 epochs
    eval_episodes: int = ranged(5, ge=1)
    final_eval_episodes: int = ranged(20, ge=1)
    eval_seed: int = ranged(1_000_000, ge=0)  # episode i of every evaluation starts from reset(seed=eval_seed + i)
    log_every: int = ranged(1000, ge=1)  # updates between logged training metrics (means over the window)
    checkpoint_every: int = ranged(50_000, ge=1)  # updates; written at the first epoch end after each multiple
    device: str = device_field("cpu")
    torch_threads: int = ranged(1, ge=1)  # CPU threads of the run's process: 1 per process, as many processes as cores, is fastest
    precision: Precision = "fp32"  # bf16 autocasts the updates (opt-in)
    keep_timeout_transitions: bool = False  # True keeps time-limit rows of the real data, as the authors do
    # updates between the method's diagnostics on a sim batch, saved as artifacts (0: never); the
    # H2O family offers u(s,a), omega and Q, the data of the paper's Figure 3
    diagnostics_every: int = ranged(0, ge=0)
    diagnostics_batch: int = ranged(1024, ge=1)
    # The simulator in which the final policy is also evaluated ("": none), e.g. "wheel_legged_sim":
    # a high return there promises nothing in the real env, and the sim-vs-real plot shows it.
    # Set for every method of a grid, so CQL(real), which never sees a simulator, is measured too.
    sim_eval_gap: str = ""

    def __post_init__(self) -> None:
        if self.sim_eval_gap:
            envs.parse_gap(self.sim_eval_gap)  # a bad gap fails when the config is made, before any run


class Recorder(Protocol):
    def scalar(self, name: str, step: int, value: float) -> None: ...
    def artifact(self, name: str, path: Path) -> None: ...
    def progress(self, **fields: Any) -> None: ...


class NullRecorder:
    def scalar(self, name, step, value):
        pass

    def artifact(self, name, path):
        pass

    def progress(self, **fields):
        pass


class Diverged(RuntimeError):
    """A loss or metric became NaN or infinite."""

    def __init__(self, step: int, reason: str):
        self.step, self.reason = step, reason
        super().__init__(f"diverged at update {step}: {reason}")


def real_rows(data: envs.Transitions, layout: Layout) -> np.ndarray:
    return layout.pack(data.observations, data.actions, data.rewards, data.next_observations, data.terminals)


class Training:
    def __init__(self, method: Method, algo_overrides: dict[str, Any], cfg: TrainConfig, task: str,
                 gap: envs.Gap | None, real_data: envs.Transitions | None, seeds: list[int],
                 recorder: Recorder | None = None, checkpoint_path: Path | None = None,
                 artifact_dir: Path | None = None):
        self.method, self.cfg, self.task, self.seeds = method, cfg, envs.get_task(task), list(seeds)
        self.recorder = recorder or NullRecorder()
        self.checkpoint_path, self.artifact_dir = checkpoint_path, artifact_dir
        spec = self.task
        self.layout = Layout(spec.obs_dim, spec.act_dim)
        # The rewards too, so a method may scale them by the dataset's return range (IQL's authors do)
        stats = (RealDataStats.of(real_data.observations, real_data.rewards, real_data.next_observations,
                                  real_data.terminals) if real_data is not None else None)
        layout = critic_layout_here(cfg.precision, cfg.device)
        self.agent = method.make(AgentSpec(spec.obs_dim, spec.act_dim, self.seeds, cfg.device, stats, layout),
                                 algo_overrides)
        self.sizes = self.agent.batch_sizes()
        self.real = FixedDataset(real_rows(real_data, self.layout), self.layout, cfg.device) if "real" in self.sizes else None
        if "real" in self.sizes and real_data is None:
            raise ValueError(f"{method.name} learns from the real dataset, but none was given")
        self.collector = self.buffer = None
        if "sim" in self.sizes:
            epochs = math.ceil(cfg.steps / cfg.updates_per_epoch)
            capacity = cfg.sim_buffer_size or max(1, epochs * cfg.sim_steps_per_epoch)
            self.buffer = ReplayBuffer(len(self.seeds), capacity, self.layout, cfg.device)
            self.collector = SimCollector(task, gap, self.seeds, self.layout, cfg.device)
        self.batch_rng = PopulationRNG(self.seeds, "batches", cfg.device)
        # The stream kept its first name, "figure3": renaming it would change every saved diagnostic.
        self.snapshot_rng = PopulationRNG(self.seeds, "figure3", cfg.device)
        self.evaluator = Evaluator(task, len(self.seeds), cfg.eval_episodes, cfg.eval_seed, cfg.device)
        self.step = 0
        self.history: list[tuple[str, int, float]] = []  # everything logged, replayed on resume
        self.snapshots: dict[str, dict[str, np.ndarray]] = {}
        self.window: dict[str, torch.Tensor] = {}
        self.window_count = 0
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=cfg.device)

    # ------------------------------------------------------------------ logging

    def log(self, name: str, value: float) -> None:
        self.history.append((name, self.step, float(value)))
        self.recorder.scalar(name, self.step, float(value))

    def log_per_seed(self, name: str, values) -> None:
        for seed, value in zip(self.seeds, np.asarray(values, np.float64)):
            self.log(f"{name}/seed{seed}", value)

    def accumulate(self, metrics: dict[str, torch.Tensor]) -> None:
        """Sum metrics over the logging window without a device sync; remember the first bad update."""
        total = None
        for name, value in metrics.items():
            value = value.detach().float()
            self.window[name] = self.window[name] + value if name in self.window else value.clone()
            total = value.sum() if total is None else total + value.sum()
        self.window_count += 1
        if total is not None:
            bad = ~torch.isfinite(total) & (self.first_bad_step < 0)
            self.first_bad_step = torch.where(bad, torch.full_like(self.first_bad_step, self.step), self.first_bad_step)

    def flush(self) -> None:
        if not self.window_count:
            return
        first_bad = int(self.first_bad_step)
        means = {name: (total / self.window_count).cpu().numpy() for name, total in self.window.items()}
        if first_bad >= 0:
            broken = sorted(n for n, v in means.items() if not np.isfinite(v).all())
            raise Diverged(first_bad, f"non-finite {', '.join(broken) or 'loss'} at update {first_bad}")
        for name, values in means.items():
            self.log_per_seed(f"train/{name}", values)
        self.window, self.window_count = {}, 0

    # ------------------------------------------------------------------ evaluation

    def evaluate(self) -> np.ndarray:
        returns = self.evaluator.returns(self.agent).mean(axis=1)
        self.log_per_seed("eval/return", returns)
        self.log_per_seed("eval/normalized", [self.task.normalized_score(r) for r in returns])
        self.recorder.progress(step=self.step, steps=self.cfg.steps, eval_return=float(returns.mean()))
        return returns

    def record_diagnostics(self) -> None:
        """Whatever the method offers on a sim batch, saved with the batch's x-velocity."""
        if self.buffer is None:
            return
        batch = self.buffer.sample(self.snapshot_rng, self.cfg.diagnostics_batch)
        values = self.agent.diagnostics(batch, rng=self.snapshot_rng)
        if not values:
            return
        arrays = {name: v.float().cpu().numpy() for name, v in values.items()}
        arrays["x_velocity"] = batch.obs[..., self.task.x_velocity_obs_index].cpu().numpy()
        arrays["seeds"], arrays["step"] = np.array(self.seeds), np.array(self.step)
        name = f"diagnostics_step{self.step:09d}.npz"
        self.snapshots[name] = arrays
        self._write_artifact(name, arrays)

    def _write_artifact(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        if self.artifact_dir is None:
            return
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        path = self.artifact_dir / name
        np.savez_compressed(path, **arrays)
        self.recorder.artifact(name, path)

    # ------------------------------------------------------------------ the loop

    def run(self, on_epoch: Callable[[Training], None] | None = None) -> dict[str, Any]:
        cfg = self.cfg
        resumed = self.restore()
        if not resumed:
            self.evaluate()
        next_checkpoint = (self.step // cfg.checkpoint_every + 1) * cfg.checkpoint_every
        while self.step < cfg.steps:
            if self.collector is not None:
                self.collector.collect(self.agent, self.buffer, cfg.sim_steps_per_epoch)
            for _ in range(min(cfg.updates_per_epoch, cfg.steps - self.step)):
                real = self.real.sample(self.batch_rng, self.sizes["real"]) if self.real is not None else None
                sim = self.buffer.sample(self.batch_rng, self.sizes["sim"]) if self.buffer is not None else None
                with update_region(cfg.precision, cfg.device):
                    metrics = self.agent.update(real, sim)
                self.step += 1
                self.accumulate(metrics)
                if self.step % cfg.log_every == 0:
                    self.flush()
                    self.recorder.progress(step=self.step, steps=cfg.steps)
                if self.step % cfg.eval_every == 0:
                    self.evaluate()
                if cfg.diagnostics_every and self.step % cfg.diagnostics_every == 0:
                    self.record_diagnostics()
            if on_epoch is not None:
                on_epoch(self)
            if self.step >= next_checkpoint and self.step < cfg.steps:
                self.save_checkpoint()
                next_checkpoint = (self.step // cfg.checkpoint_every + 1) * cfg.checkpoint_every
        self.flush()
        if self.step % cfg.eval_every:
            self.evaluate()
        return self.final_evaluation()

    def final_evaluation(self) -> dict[str, Any]:
        """The final scores, and each of their episodes' returns (a mean can hide one fallen episode);
        the first real episode of each seed step by step (artifact final_episode.npz); and with
        `sim_eval_gap`, the same episodes' returns in that simulator."""
        cfg = self.cfg
        seed = cfg.eval_seed + 100_000
        final = Evaluator(self.task.name, len(self.seeds), cfg.final_eval_episodes, seed, cfg.device).run(self.agent)
        returns = final.returns.mean(axis=1)
        normalized = [self.task.normalized_score(r) for r in returns]
        self.log_per_seed("final/return", returns)
        self.log_per_seed("final/normalized", normalized)
        self._write_artifact("final_episode.npz", self.episode_arrays(final))
        result = {"seeds": self.seeds, "final_return": [float(r) for r in returns],
                  "final_normalized": [float(n) for n in normalized], "final_episodes": cfg.final_eval_episodes,
                  "final_episode_returns": [[float(r) for r in member] for member in final.returns],
                  "steps": self.step}
        if cfg.sim_eval_gap:
            gap = envs.parse_gap(cfg.sim_eval_gap)
            sim = Evaluator(self.task.name, len(self.seeds), cfg.final_eval_episodes, seed, cfg.device, gap)
            sim_returns = sim.returns(self.agent).mean(axis=1)
            self.log_per_seed("final/sim_return", sim_returns)
            result.update(final_sim_return=[float(r) for r in sim_returns], sim_eval_gap=str(gap))
        return result

    def episode_arrays(self, evaluation: Evaluation) -> dict[str, np.ndarray]:
        """One real episode per seed, with what a plot needs to read it: the control interval, and
        where tilt and forward velocity sit in the observation (-1: the task has no tilt)."""
        spec = self.task
        return {"observations": evaluation.observations, "actions": evaluation.actions,
                "lengths": evaluation.lengths, "seeds": np.array(self.seeds),
                "dt": np.array(envs.make_real(spec.name).unwrapped.dt),
                "tilt_index": np.array(-1 if spec.tilt_obs_index is None else spec.tilt_obs_index),
                "x_velocity_index": np.array(spec.x_velocity_obs_index),
                "target_velocity": np.array(np.nan if spec.target_velocity is None else spec.target_velocity)}

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        state = {
            "step": self.step,
            "agent": self.agent.state_dict(),
            "buffer": self.buffer.state_dict() if self.buffer is not None else None,
            "collector": self.collector.state() if self.collector is not None else None,
            "batch_rng": self.batch_rng.state(),
            "snapshot_rng": self.snapshot_rng.state(),
            "history": self.history,
            "snapshots": self.snapshots,
            "window": self.window,
            "window_count": self.window_count,
            "first_bad_step": self.first_bad_step,
        }
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        save_plain(state, self.checkpoint_path)  # a kill mid-write leaves the previous checkpoint whole
        self.recorder.progress(step=self.step, steps=self.cfg.steps, checkpoint=True)

    def restore(self) -> bool:
        if self.checkpoint_path is None or not self.checkpoint_path.exists():
            return False
        # weights_only: a checkpoint in a shared results folder must not be able to run code here
        state = from_plain(torch.load(self.checkpoint_path, map_location=self.cfg.device, weights_only=True))
        self.agent.load_state_dict(state["agent"])
        if self.buffer is not None:
            self.buffer.load_state_dict(state["buffer"])
            self.collector.set_state(state["collector"])
        self.batch_rng.set_state(state["batch_rng"])
        self.snapshot_rng.set_state(state["snapshot_rng"])
        self.step, self.window, self.window_count = state["step"], state["window"], state["window_count"]
        self.first_bad_step = state["first_bad_step"]
        for name, step, value in state["history"]:  # the new run's logs start where the old ones did
            self.history.append((name, step, value))
            self.recorder.scalar(name, step, value)
        for name, arrays in state["snapshots"].items():
            self.snapshots[name] = arrays
            self._write_artifact(name, arrays)
        self.recorder.progress(step=self.step, steps=self.cfg.steps, resumed=True)
        return True


def train_config(overrides: dict[str, Any]) -> TrainConfig:
    """A checked TrainConfig: unknown fields and wrong types are errors."""
    return make_config(TrainConfig, overrides, "training config")

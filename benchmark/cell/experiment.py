"""The Sacred experiment: one run trains one cell (method, task, dataset, gap) for its seeds.

It also runs on Sacred's own command line, e.g.

    python -m gapbench.benchmark.cell.experiment with method=h2o dataset=medium-replay gap=gravity:2.0 \
        steps=20000 'seeds=[0,1]' algo.beta=0.05 train.eval_every=2000 -F results/runs

The recorded config holds the fully resolved method and training configs, the data source and
the seeds; `info` names the method's label, role and sources for the analysis layer, and the digest of
the data it trained on; metrics are logged per seed (`eval/return/seed3`, `train/q/loss/seed3`, ...);
the result holds the final per-seed scores.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gapbench import envs
from gapbench.algos import get_method
from gapbench.benchmark.cell.identity import Cell, identity, run_name
from gapbench.benchmark.cell.sacred_compat import Experiment, HostInfoGetter, apply_backspaces_and_linefeeds
from gapbench.benchmark.data import generation
from gapbench.benchmark.host import cpu_features
from gapbench.benchmark.training.loop import Diverged, TrainConfig, Training, train_config
from gapbench.envs.d4rl_file import arrays_sha256, read_d4rl_arrays

ex = Experiment("gapbench", additional_host_info=[HostInfoGetter(cpu_features, "cpu_features")])
ex.captured_out_filter = apply_backspaces_and_linefeeds

# Where a run's progress goes: set by the worker around `ex.run`, unset on Sacred's command line.
progress_sink: contextvars.ContextVar[Callable[[dict], None] | None] = contextvars.ContextVar(
    "progress_sink", default=None)


@ex.config
def config():
    method = "h2o"  # a registered method: `gapbench list methods`
    task = "halfcheetah"  # `gapbench list tasks`
    dataset = "medium-replay"  # the real data: medium, medium-replay, expert or medium-expert
    gap = "gravity:2.0"  # the simulator's dynamics gap: `gapbench list gaps`
    seeds = [0]  # one population member per seed
    steps = 1_000_000  # gradient updates
    algo = json.loads(json.dumps(dataclasses.asdict(get_method(method).config())))  # the method's config
    train = json.loads(json.dumps(dataclasses.asdict(TrainConfig())))  # the training loop's config
    recipe = dataclasses.asdict(generation.Recipe())  # how to generate the data if no D4RL file exists
    data = {}  # filled in: where the real data came from
    checkpoint_dir = "results/checkpoints"  # resumable state of unfinished runs


@ex.config_hook
def resolve(config, command_name, logger):
    """Record the resolved configs, drop the axes the method ignores, and find the data."""
    method = get_method(config["method"])
    recipe = generation.Recipe(**config["recipe"]).for_task(config["task"])  # medium_score None: the task's
    dataset = config["dataset"] if "real" in method.agent.sources else None
    gap = str(envs.parse_gap(config["gap"])) if "sim" in method.agent.sources else None
    cell = Cell(method.name, config["task"], dataset, gap, config["steps"], dict(config["algo"]),
                dict(config["train"]), recipe)
    data = generation.resolve(config["task"], dataset, recipe).config() if dataset else None
    return {**cell.config(data), "recipe": dataclasses.asdict(recipe)}


@ex.main
def main(_run, method, task, dataset, gap, seeds, algo, train, recipe, checkpoint_dir):
    m = get_method(method)
    cfg = train_config(train)
    if cfg.device == "cpu":
        torch.set_num_threads(cfg.torch_threads)
    key = identity(_run.config)
    _run.info.update({"method": {"name": m.name, "label": m.label, "role": m.role, "summary": m.summary,
                                 "sources": sorted(m.agent.sources)},
                      "identity": key, "seeds": list(seeds),
                      "task": {"name": task, "ref_min_score": envs.get_task(task).ref_min_score,
                               "ref_max_score": envs.get_task(task).ref_max_score}})
    real = None
    if dataset is not None:
        source = generation.ensure(generation.resolve(task, dataset, generation.Recipe(**recipe)))
        real = envs.load_d4rl(source.path, task=task, drop_timeouts=not cfg.keep_timeout_transitions)
        # The path names a recipe, not its arrays: data made again on another CPU kind differs in its
        # last bits, so the run records the digest `gapbench datasets check` prints for its file.
        _run.info["data"] = {"arrays_sha256": arrays_sha256(read_d4rl_arrays(source.path))}
    stem = run_name(key, seeds)
    checkpoint, scratch = Path(checkpoint_dir) / f"{stem}.pt", Path(checkpoint_dir) / f"{stem}-artifacts"
    recorder = SacredRecorder(_run, progress_sink.get())
    training = Training(m, algo, cfg, task, envs.parse_gap(gap) if gap else None, real, list(seeds), recorder,
                        checkpoint_path=checkpoint, artifact_dir=scratch)
    try:
        result = training.run()
    except Diverged as err:
        _run.info["failure"] = {"reason": err.reason, "step": err.step}
        raise
    # Sacred copied every artifact into the run as it was added; the checkpoint and its scratch copies
    # are only for resuming, and a completed run never resumes.
    checkpoint.unlink(missing_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return result


class SacredRecorder:
    def __init__(self, run, sink: Callable[[dict], None] | None):
        self.run, self.sink = run, sink

    def scalar(self, name: str, step: int, value: float) -> None:
        self.run.log_scalar(name, value, step)

    def artifact(self, name: str, path: Path) -> None:
        self.run.add_artifact(str(path), name=name)

    def progress(self, **fields: Any) -> None:
        if self.sink is not None:
            self.sink(fields)
        elif "eval_return" in fields:  # on Sacred's command line: one short line per evaluation
            print(f"update {fields['step']}/{fields['steps']}: eval return {fields['eval_return']:.1f}",
                  file=sys.stderr)


def run(config_updates: dict[str, Any], observers: list, progress: Callable[[dict], None] | None = None,
        capture: str = "fd"):
    """Run one cell programmatically with the given observers; returns the Sacred Run.

    ``capture="no"`` is for runs inside the sweep's own process, whose progress display must not
    end up in the run's captured output.
    """
    ex.observers = list(observers)  # a fresh list: observers must not pile up across runs in a process
    token = progress_sink.set(progress)
    try:
        return ex.run(config_updates=json.loads(json.dumps(config_updates)),
                      options={"--loglevel": "ERROR", "--capture": capture})
    finally:
        progress_sink.reset(token)


if __name__ == "__main__":
    ex.run_commandline()

"""Where a cell's real data comes from, and generating D4RL-style datasets when none is found.

The recipe is D4RL's (Fu et al. 2020): train SAC in the real env; "medium" rolls out the policy
early-stopped when its evaluation return first reaches a third of the D4RL expert reference
return (12135 / 3 = 4045 for HalfCheetah); "medium-replay" is the SAC replay buffer up to that
point; "expert" rolls out the final policy; "medium-expert" is medium followed by expert.
"""

from __future__ import annotations

import copy
import fcntl
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gapbench import envs
from gapbench.algos import get_method
from gapbench.benchmark.data import operator
from gapbench.envs import Transitions

GENERATOR_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    size: int = 1_000_000  # transitions rolled out for medium and for expert each
    budget: int = 1_000_000  # SAC updates in the real env (one env step per update)
    seed: int = 0
    medium_fraction: float = 1 / 3  # of the D4RL expert reference return

    @property
    def tag(self) -> str:
        return f"n{self.size}-b{self.budget}-s{self.seed}"


@dataclass(frozen=True)
class DatasetSource:
    task: str
    kind: str
    path: Path
    origin: str  # "d4rl" or "generated"
    recipe: Recipe | None  # for generated data

    def describe(self) -> str:
        if self.origin == "d4rl":
            return f"{self.task} {self.kind}: D4RL file {self.path}"
        if self.origin == "operator":
            return f"{self.task} {self.kind}: the scripted operator's {self.recipe.size} transitions at {self.path}"
        return f"{self.task} {self.kind}: generated with D4RL's recipe ({self.recipe.tag}) at {self.path}"

    def config(self) -> dict[str, Any]:
        """What the Sacred config records about the data (the path only for the reader's benefit)."""
        return {"origin": self.origin, "path": str(self.path),
                "recipe": asdict(self.recipe) if self.recipe is not None else None}


def resolve(task: str, kind: str, recipe: Recipe) -> DatasetSource:
    """A D4RL download if the user has one, else the generated dataset for this recipe."""
    d4rl = envs.d4rl_path(task, kind)
    if d4rl.is_file():
        return DatasetSource(task, kind, d4rl, "d4rl", None)
    if kind == operator.KIND:
        return DatasetSource(task, kind, operator.path(task, recipe), "operator", recipe)
    return DatasetSource(task, kind, envs.generated_path(task, kind, recipe.tag), "generated", recipe)


def ensure(source: DatasetSource, progress=None) -> DatasetSource:
    """Generate a missing generated dataset (once, even with several processes asking)."""
    if source.origin in ("generated", "operator") and not source.path.is_file():
        with _file_lock(source.path.with_name(source.path.name + ".lock")):
            if not source.path.is_file() and source.origin == "operator":
                operator.generate(source.task, source.recipe, source.path)
            elif not source.path.is_file():
                generate(source.task, source.recipe, progress=progress)
    return source


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def generate(task: str, recipe: Recipe, progress=None) -> dict[str, Path]:
    """Train SAC in the real env and write all four D4RL-style datasets of the recipe."""
    from gapbench.benchmark.training.loop import TrainConfig, Training

    spec = envs.get_task(task)
    target = recipe.medium_fraction * spec.ref_max_score
    eval_every = max(1, min(10_000, recipe.budget // 10))
    cfg = TrainConfig(steps=recipe.budget, sim_steps_per_epoch=1000, updates_per_epoch=1000,
                      eval_every=eval_every, eval_episodes=2, final_eval_episodes=2, log_every=10**12,
                      checkpoint_every=10**12)
    recorder = _EvalWatcher(progress, recipe.budget)
    training = Training(get_method("sac"), {}, cfg, task, envs.NoGap(), None, [recipe.seed], recorder)
    medium: dict[str, Any] = {}

    def on_epoch(t: Training) -> None:
        if not medium and recorder.last_return is not None and recorder.last_return >= target:
            medium.update(policy=copy.deepcopy(t.agent.policy.state_dict()), step=t.step,
                          replay_rows=len(t.buffer), eval_return=recorder.last_return)

    training.run(on_epoch=on_epoch)
    agent = training.agent
    expert_policy = copy.deepcopy(agent.policy.state_dict())
    reached = bool(medium)
    if not reached:  # a small budget never gets there: the final policy stands in, and says so
        medium.update(policy=expert_policy, step=training.step, replay_rows=len(training.buffer),
                      eval_return=recorder.last_return)
    rng = np.random.default_rng(recipe.seed)
    agent.policy.load_state_dict(medium["policy"])
    medium_data = rollout(agent, task, recipe.size, rng)
    agent.policy.load_state_dict(expert_policy)
    expert_data = rollout(agent, task, recipe.size, rng)
    replay = replay_transitions(training.buffer, training.layout, medium["replay_rows"])
    common = {"task": task, "env": spec.gym_id, "recipe": asdict(recipe), "generator": "gapbench",
              "generator_version": GENERATOR_VERSION, "medium_target_return": target,
              "medium_target_reached": reached, "medium_update": medium["step"],
              "medium_eval_return": float(medium["eval_return"] or 0.0)}
    datasets = {"medium": medium_data, "medium-replay": replay, "expert": expert_data,
                "medium-expert": Transitions.concatenate([medium_data, expert_data])}
    paths = {}
    for kind, data in datasets.items():
        paths[kind] = envs.save_d4rl(data, envs.generated_path(task, kind, recipe.tag), {**common, "kind": kind})
    return paths


class _EvalWatcher:
    def __init__(self, progress, budget: int):
        self.progress_fn, self.budget, self.last_return = progress, budget, None

    def scalar(self, name, step, value):
        if name.startswith("eval/return/"):
            self.last_return = value

    def artifact(self, name, path):
        pass

    def progress(self, **fields):
        if self.progress_fn is not None and "step" in fields:
            self.progress_fn(fields["step"], self.budget, self.last_return)


@torch.no_grad()
def rollout(agent, task: str, size: int, rng: np.random.Generator) -> Transitions:
    """`size` steps of the (stochastic) behaviour policy in the real env, in whole-episode order."""
    from gapbench.algos import PopulationRNG

    policy_rng = PopulationRNG([int(rng.integers(2**31))], "behaviour", agent.spec.device)

    def behaviour(obs: np.ndarray) -> np.ndarray:
        action = agent.act(torch.as_tensor(obs, device=agent.spec.device)[None, None], False, policy_rng)[0, 0]
        return action.float().cpu().numpy()

    return record(task, size, behaviour, reset_seed=int(rng.integers(2**31)))


def record(task: str, steps: int, choose_action: Callable[[np.ndarray], np.ndarray], reset_seed: int) -> Transitions:
    """`steps` steps of `choose_action(obs)` in the real env, D4RL's keys: an episode cut by the
    time limit is a timeout, and so is the last one, cut by the budget."""
    env = envs.make_real(task)
    rows = {k: [] for k in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")}
    obs = env.reset(seed=reset_seed)[0]
    for _ in range(steps):
        action = choose_action(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(rows, (obs, action, reward, next_obs, terminated, truncated and not terminated)):
            rows[key].append(value)
        obs = env.reset()[0] if terminated or truncated else next_obs
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    arrays["timeouts"][-1] = not arrays["terminals"][-1]
    return Transitions(**{k: v.astype(np.float32) if v.dtype.kind == "f" else v.astype(bool) for k, v in arrays.items()})


def replay_transitions(buffer, layout, rows: int) -> Transitions:
    """The first `rows` replay rows; an episode boundary is where s' is not the next row's s."""
    from gapbench.algos import Batch

    batch = Batch.unpack(buffer.rows[0, :rows].cpu(), layout)
    obs, next_obs = batch.obs.numpy(), batch.next_obs.numpy()
    terminals = batch.done.numpy() > 0.5
    continues = np.zeros(rows, bool)
    continues[:-1] = (next_obs[:-1] == obs[1:]).all(axis=1)
    timeouts = ~continues & ~terminals
    return Transitions(obs.copy(), batch.act.numpy().copy(), batch.rew.numpy().copy(), next_obs.copy(),
                       terminals, timeouts)

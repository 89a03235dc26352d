"""Where a cell's real data comes from, and generating D4RL-style datasets when none is found.

The recipe is D4RL's (Fu et al. 2020): train SAC in the real env; "medium" rolls out the policy
early-stopped at a medium level; "medium-replay" is the SAC replay buffer up to that point;
"expert" rolls out the final policy; "medium-expert" is medium followed by expert. D4RL stopped when
the deterministic evaluation reached about a third of the expert return, and its medium *data*
(stochastic rollouts) then scored a level of its own on each task: about 40 normalised on
HalfCheetah, 44 on Hopper, 62 on Walker2d. gapbench stops when the stochastic rollouts themselves
reach the recipe's `medium_score`, by default the task's D4RL level (`TaskSpec.d4rl_medium_score`).
Where the return climbs smoothly (HalfCheetah: 1.5% over) the first policy past the level is at it;
where it jumps between two evaluations (hopper: 1323 then 3018 against 1422) the first policy past
it can be far past it. So the first probe past the level is kept only while it lies within the
spread of D4RL's own medium episodes (`TaskSpec.d4rl_medium_return_std`); past that, the nearer of
the two probes around the level is the medium policy (`pick_medium`).
"""

from __future__ import annotations

import copy
import fcntl
import shutil
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gapbench import envs
from gapbench.algos import get_method
from gapbench.benchmark.data import operator
from gapbench.envs import Transitions

# 2: the medium policy is picked by the return of the data it generates; 3: a first probe past the
# level by more than D4RL's medium spread gives way to the probe before it, when that one is nearer.
GENERATOR_VERSION = 3
CHECKPOINT_EVERY = 20_000  # SAC updates between checkpoints of a generation (about 6 minutes on a CPU)
MEDIUM_KINDS = ("medium", "medium-replay")  # written at the medium pick, long before the budget ends
DEFAULT_MEDIUM_SCORE = envs.DEFAULT_MEDIUM_SCORE  # the level of a task without a D4RL one (envs/tasks.py)


@dataclass(frozen=True)
class Recipe:
    """D4RL's recipe, sized. Every field is checked here, so a bad value fails before any training."""

    size: int = 1_000_000  # transitions rolled out for medium and for expert each
    budget: int = 1_000_000  # SAC updates in the real env (one env step per update)
    seed: int = 0
    # The medium behaviour level: the D4RL-normalised return of the medium *data*, i.e. of the
    # stochastic policy's rollouts. None: the task's D4RL level, filled in by `for_task` (a recipe is
    # shared by every task of a grid); halfcheetah 40, hopper 44.3, walker2d 62.1 (envs/tasks.py).
    medium_score: float | None = None
    probe_episodes: int = 3  # stochastic episodes per evaluation that estimate the data's return

    def __post_init__(self) -> None:
        for name, low in (("size", 1), ("budget", 1), ("seed", 0), ("probe_episodes", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"recipe.{name} must be an integer >= {low}, got {value!r}")
        score = self.medium_score
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                                  or not 0 < score < 100):
            raise ValueError(f"recipe.medium_score must be a normalised score in (0, 100), got {score!r}")

    def for_task(self, task: str) -> Recipe:
        """This recipe with its medium level settled: the one given, else the task's D4RL level, else
        `DEFAULT_MEDIUM_SCORE`. Every dataset path, lock and record uses the settled recipe."""
        if self.medium_score is not None:
            return self
        level = envs.get_task(task).d4rl_medium_score
        return replace(self, medium_score=float(DEFAULT_MEDIUM_SCORE if level is None else level))

    @property
    def tag(self) -> str:
        """Names the recipe in file names, level included, so recipes at two levels never share a file."""
        if self.medium_score is None:
            raise ValueError("a recipe's tag names its medium level: settle it with Recipe.for_task(task) first")
        return f"v{GENERATOR_VERSION}-n{self.size}-b{self.budget}-s{self.seed}-m{self.medium_score:g}"


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
    recipe = recipe.for_task(task)
    d4rl = envs.d4rl_path(task, kind)
    if d4rl.is_file():
        return DatasetSource(task, kind, d4rl, "d4rl", None)
    if kind == operator.KIND:
        return DatasetSource(task, kind, operator.path(task, recipe), "operator", recipe)
    return DatasetSource(task, kind, envs.generated_path(task, kind, recipe.tag), "generated", recipe)


def ensure(source: DatasetSource, progress=None) -> DatasetSource:
    """Generate a missing generated dataset (once, even with several processes asking); for medium
    or medium-replay, only up to the medium pick."""
    if source.origin == "operator" and not source.path.is_file():
        with dataset_lock(source.path):
            if not source.path.is_file():
                operator.generate(source.task, source.recipe, source.path)
    elif source.origin == "generated" and not source.path.is_file():
        with recipe_lock(source.task, source.recipe):
            if not source.path.is_file():
                generate(source.task, source.recipe, progress=progress, until_medium=source.kind in MEDIUM_KINDS)
    return source


@contextmanager
def recipe_lock(task: str, recipe: Recipe):
    """The locks of all four files one generation writes, always taken in one order, so a process
    asking for medium and one asking for medium-replay of the same recipe never both train."""
    recipe = recipe.for_task(task)
    with ExitStack() as locks:
        for kind in sorted(envs.GENERATED_KINDS):
            locks.enter_context(dataset_lock(envs.generated_path(task, kind, recipe.tag)))
        yield


@contextmanager
def dataset_lock(dataset: Path):
    """Held while a dataset file is generated or replaced; every writer of that file takes it."""
    path = dataset.with_name(dataset.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def work_dir(task: str, recipe: Recipe) -> Path:
    """Where a generation in progress keeps its SAC checkpoint and the medium pick."""
    return envs.generated_path(task, "generation", recipe.for_task(task).tag).with_suffix("")


def adopt_work(task: str, recipe: Recipe, source: Path) -> int:
    """Seed this recipe's work folder from a copy of one, so a generation goes on on another machine.

    A full-size generation is about 5 hours of one core, longer than a session on a machine that may
    not be kept, so a copy of its work folder (the SAC checkpoint, and the medium pick once made) is
    committed and resumed from. `source` must be the work folder of this very task and recipe (its
    name says so). The further of the local and the copied checkpoint is kept; a copied medium pick
    is refused unless its medium and medium-replay files are in the local cache, since a generation
    past its pick never writes them again. Returns the update the generation will resume from.
    """
    recipe = recipe.for_task(task)
    work = work_dir(task, recipe)
    if source.name != work.name:
        raise ValueError(f"--resume-from {source}: that is the work folder of another task or recipe; "
                         f"this one's is named {work.name}")
    copied = source / "checkpoint.pt"
    if not copied.is_file():
        raise ValueError(f"--resume-from {source}: no checkpoint.pt in it")
    if (source / "medium-pick.pt").is_file() and not all(
            envs.generated_path(task, kind, recipe.tag).is_file() for kind in ("medium", "medium-replay")):
        raise ValueError(f"--resume-from {source}: it is past its medium pick, but this cache has no medium "
                         "and medium-replay files of the recipe, which a resumed generation would never write")
    step = _checkpoint_step(copied)
    local = work / "checkpoint.pt"
    if local.is_file() and _checkpoint_step(local) >= step:
        return _checkpoint_step(local)
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(source, work)
    return step


def _checkpoint_step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


class _MediumWritten(Exception):
    """Ends a generation asked only for medium data once medium and medium-replay are written."""


@dataclass(frozen=True)
class Probe:
    """One evaluation's probe: the update, and the mean return of the data that policy would log."""

    step: int
    ret: float


def pick_medium(before: Probe | None, past: Probe, target: float, tolerance: float) -> Probe:
    """The medium policy, from the first probe at or past the `target` return and the probe before it.

    The first probe past the target is D4RL's early stop, and it stands while it lies within
    `tolerance` of the target (the spread of D4RL's own medium episodes), where its data is at D4RL's
    level. A jump further past gives way to the probe before it, if that one is nearer the target.
    """
    overshoot = past.ret - target
    if before is None or overshoot <= tolerance or target - before.ret >= overshoot:
        return past
    return before


def generate(task: str, recipe: Recipe, progress=None, until_medium: bool = False) -> dict[str, Path]:
    """Train SAC in the real env and write all four D4RL-style datasets of the recipe.

    At every evaluation the stochastic policy, the one that will generate the data, rolls out
    `probe_episodes` episodes. The first probe whose return reaches the recipe's medium score ends
    the search: it, or the probe before it (`pick_medium`), is "medium", and medium and medium-replay
    (the replay buffer up to the picked update) are written at that moment. Expert (the final
    policy) and medium-expert follow when the budget ends. The SAC run checkpoints every
    `CHECKPOINT_EVERY` updates into `work_dir`, next to the medium pick and the latest probe under
    the target, so a killed generation resumes where it stopped, to the same files; the folder goes
    at the end.

    With `until_medium`, the generation stops at the pick (about 85k of HalfCheetah's 1M updates)
    with a checkpoint there, and returns the two files written; a later call for expert data goes on
    from that checkpoint to the same files an uninterrupted generation writes.
    """
    from gapbench.benchmark.training.loop import TrainConfig, Training
    from gapbench.benchmark.training.plain_state import from_plain, save_plain

    recipe = recipe.for_task(task)
    spec = envs.get_task(task)
    target = spec.return_of_score(recipe.medium_score)
    # Evaluations (and medium probes) at epoch ends: every 5 epochs on a long budget, every epoch on a short one.
    eval_every = 1000 * max(1, min(5, recipe.budget // 100_000))
    cfg = TrainConfig(steps=recipe.budget, sim_steps_per_epoch=1000, updates_per_epoch=1000,
                      eval_every=eval_every, eval_episodes=2, final_eval_episodes=2, log_every=10**12,
                      checkpoint_every=CHECKPOINT_EVERY)
    work = work_dir(task, recipe)
    watcher = _EvalWatcher(progress, recipe.budget)
    training = Training(get_method("sac"), {}, cfg, task, envs.NoGap(), None, [recipe.seed], watcher,
                        checkpoint_path=work / "checkpoint.pt")
    picked_file = work / "medium-pick.pt"  # the update and data return of the picked medium policy
    below_file = work / "below-target.pt"  # the latest probe under the target: its policy, for `pick_medium`
    tolerance = spec.d4rl_medium_return_std or 0.0  # no published spread: the nearer probe, always
    medium: dict[str, Any] = torch.load(picked_file, weights_only=True) if picked_file.is_file() else {}
    common = {"task": task, "env": spec.gym_id, "recipe": asdict(recipe), "generator": "gapbench",
              "generator_version": GENERATOR_VERSION, "medium_target_return": target}

    def write_medium(t: Training, agent, rows: int, reached: bool) -> None:
        """Medium from the picked policy, and medium-replay (the first `rows` rows of the replay
        buffer, those collected up to the pick), the moment the pick is made."""
        data = rollout(agent, task, recipe.size, np.random.default_rng([recipe.seed, 1]))
        meta = {**common, "medium_target_reached": reached, "medium_update": medium["step"],
                "medium_probe_return": medium["probe_return"]}
        if "first_past_step" in medium:
            meta.update(medium_first_past_update=medium["first_past_step"],
                        medium_first_past_return=medium["first_past_return"])
        envs.save_d4rl(data, envs.generated_path(task, "medium", recipe.tag), {**meta, "kind": "medium"})
        replay = replay_transitions(t.buffer, t.layout, rows)
        envs.save_d4rl(replay, envs.generated_path(task, "medium-replay", recipe.tag),
                       {**meta, "kind": "medium-replay"})

    def probe(t: Training) -> float:
        watcher.data_return = probe_return(t.agent, task, recipe, t.step)
        return watcher.data_return

    def on_epoch(t: Training) -> None:
        if medium or (t.step % eval_every and t.step < recipe.budget):
            return
        past = Probe(t.step, probe(t))
        if past.ret < target:
            # Kept on disk, not only in memory, so a generation resumed from a checkpoint still has it.
            save_plain({"step": t.step, "probe_return": past.ret, "rows": len(t.buffer),
                        "agent": t.agent.state_dict()}, below_file)
            return
        below = from_plain(torch.load(below_file, weights_only=True)) if below_file.is_file() else None
        before = Probe(below["step"], below["probe_return"]) if below is not None else None
        picked = pick_medium(before, past, target, tolerance)
        medium.update(step=picked.step, probe_return=picked.ret, first_past_step=past.step,
                      first_past_return=past.ret)
        if picked is past:
            write_medium(t, t.agent, len(t.buffer), reached=True)
        else:
            agent = copy.deepcopy(t.agent)
            agent.load_state_dict(below["agent"])
            write_medium(t, agent, below["rows"], reached=True)
        save_plain(medium, picked_file)  # last, and whole: a kill before it repeats the same, deterministic pick
        if until_medium:
            t.save_checkpoint()  # at the epoch end, where the loop's own checkpoints are taken
            raise _MediumWritten

    work.mkdir(parents=True, exist_ok=True)
    try:
        training.run(on_epoch=on_epoch)
    except _MediumWritten:  # the work folder stays, for the rest of the budget later
        return {kind: envs.generated_path(task, kind, recipe.tag) for kind in MEDIUM_KINDS}
    if not medium:  # a small budget never gets there: the final policy stands in, and says so
        medium.update(step=training.step, probe_return=probe(training))
        write_medium(training, training.agent, len(training.buffer), reached=False)
    expert = rollout(training.agent, task, recipe.size, np.random.default_rng([recipe.seed, 3]))
    meta = {**common, "medium_update": medium["step"], "expert_update": training.step}
    paths = {kind: envs.generated_path(task, kind, recipe.tag) for kind in envs.GENERATED_KINDS}
    envs.save_d4rl(expert, paths["expert"], {**meta, "kind": "expert"})
    medium_data = envs.load_d4rl(paths["medium"], task=task, drop_timeouts=False)  # every row, as written
    envs.save_d4rl(Transitions.concatenate([medium_data, expert]), paths["medium-expert"],
                   {**meta, "kind": "medium-expert"})
    shutil.rmtree(work)
    return paths


def probe_return(agent, task: str, recipe: Recipe, step: int) -> float:
    """The mean return of `probe_episodes` stochastic episodes of the policy at update `step`: what
    the data it would log scores. Its own random stream per update, so probing never moves training."""
    max_steps = envs.get_task(task).max_episode_steps
    data = rollout(agent, task, recipe.probe_episodes * max_steps, np.random.default_rng([recipe.seed, 2, step]))
    return float(np.mean(episode_returns(data, max_steps)))


def episode_returns(data: Transitions, max_episode_steps: int) -> np.ndarray:
    """The return of every episode the rollout finished; one the rollout's own length cut short
    (neither a terminal nor at the time limit) is left out, so it never drags the mean down."""
    ends = np.flatnonzero(data.terminals | data.timeouts) + 1
    starts = np.concatenate([[0], ends[:-1]])
    returns = np.add.reduceat(data.rewards.astype(np.float64), starts)
    complete = data.terminals[ends - 1] | (ends - starts >= max_episode_steps)
    return returns[complete] if complete.any() else returns


class _EvalWatcher:
    def __init__(self, progress, budget: int):
        self.progress_fn, self.budget = progress, budget
        self.last_return: float | None = None  # the deterministic evaluation's
        self.data_return: float | None = None  # the stochastic policy's, i.e. of the data it would log

    def scalar(self, name, step, value):
        if name.startswith("eval/return/"):
            self.last_return = value

    def artifact(self, name, path):
        pass

    def progress(self, **fields):
        if self.progress_fn is not None and "step" in fields:
            self.progress_fn(fields["step"], self.budget, self.last_return, self.data_return)


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

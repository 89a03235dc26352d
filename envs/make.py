"""Building real and simulated envs."""

from __future__ import annotations

import collections
import contextlib
import re
import sys
import warnings
from collections.abc import Iterator

import gymnasium as gym
import mujoco
import numpy as np

from gapbench.envs.gaps import Gap, NoGap, parse_gap
from gapbench.envs.tasks import TaskSpec, get_task

# MuJoCo >= 3 warns that HalfCheetah's xml uses the deprecated `settotalmass`. The model it
# compiles is still correct, and the default handler would also append to MUJOCO_LOG.TXT in the
# caller's working directory, so this one known warning is dropped while an env is built.
_KNOWN_HARMLESS = ("compiler attribute 'settotalmass' is deprecated",)


@contextlib.contextmanager
def _quiet_known_mujoco_warnings() -> Iterator[None]:
    previous = mujoco.get_mju_user_warning()

    def handler(message: str) -> None:
        if not message.startswith(_KNOWN_HARMLESS):
            if previous is not None:
                previous(message)
            else:
                print(f"WARNING: {message}", file=sys.stderr)

    mujoco.set_mju_user_warning(handler)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


class Float32Observation(gym.ObservationWrapper):
    """D4RL stores float32 observations and every learner consumes float32."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        self.observation_space = gym.spaces.Box(
            space.low.astype(np.float32), space.high.astype(np.float32), space.shape, np.float32
        )

    def observation(self, observation):
        return np.asarray(observation, dtype=np.float32)


def _rebuild_model(base, gap: Gap, task: str) -> None:
    """Give ``base`` (a Gymnasium MujocoEnv) a model compiled from its own XML with ``gap``'s
    geometry edits, and fresh MjData for it.

    The XML is only read: its spec is edited in memory and compiled for this instance alone, so
    the installed asset and every other env stay as they are. The structure (joints, actuators,
    the order of the state) is unchanged, so the env's spaces and its initial state still hold.
    """
    path = getattr(base, "fullpath", None)
    if path is None:
        raise ValueError(f"gap {gap}: task {task!r} has no model file to rebuild its geometry from")
    with _quiet_known_mujoco_warnings(), warnings.catch_warnings():
        # Compiling a spec reports halfcheetah's deprecated `settotalmass` as a Python warning.
        warnings.filterwarnings("ignore", message=re.escape(_KNOWN_HARMLESS[0]))
        spec = mujoco.MjSpec.from_file(path)
        reference = spec.compile()
        gap.edit_spec(spec, reference, task)
        model = spec.compile()
    # Gymnasium grows the offscreen framebuffer on the model it compiles; keep that for rendering.
    model.vis.global_.offwidth = base.model.vis.global_.offwidth
    model.vis.global_.offheight = base.model.vis.global_.offheight
    base.model, base.data = model, mujoco.MjData(model)
    renderer = getattr(base, "mujoco_renderer", None)
    if renderer is not None:
        # Its viewers are made on the first render, from these two; none exists yet this early.
        renderer.model, renderer.data = base.model, base.data


class GapEnv(gym.Wrapper):
    """Applies a dynamics gap to the one env it wraps.

    Geometry gaps first rebuild this instance's model from its XML (`_rebuild_model`). Physics gaps
    are then written into the instance's MjModel once, at construction; MuJoCo's ``reset`` clears
    MjData, not MjModel, so they survive resets. Action and sensor gaps draw their
    noise from a generator seeded by ``reset(seed=...)``, separate from the env's own reset RNG.
    An action delay keeps the commands not yet executed in ``pending``, zero torque at each reset.
    """

    def __init__(self, env: gym.Env, gap: Gap, task: str):
        super().__init__(env)
        self.gap = gap
        if gap.rebuilds_model:
            _rebuild_model(env.unwrapped, gap, task)
        gap.apply_to_model(env.unwrapped.model, task)
        self.noise_rng = np.random.default_rng()
        self.pending: collections.deque[np.ndarray] = collections.deque()
        self._clear_pending()

    def _clear_pending(self) -> None:
        self.pending.clear()
        self.pending.extend(np.zeros(self.action_space.shape) for _ in range(self.gap.action_delay))

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            # A child stream of the same seed, so the noise never correlates with reset noise.
            self.noise_rng = np.random.default_rng([int(seed), 0x9A7])
        self._clear_pending()
        obs, info = self.env.reset(seed=seed, options=options)
        return self._observed(obs), info

    def _observed(self, obs):
        return self.gap.observed(obs, self.noise_rng) if self.gap.perturbs_observation else obs

    def step(self, action):
        if not self.gap.perturbs_action:
            obs, reward, terminated, truncated, info = self.env.step(action)
            return self._observed(obs), reward, terminated, truncated, info
        commanded = np.asarray(action, dtype=np.float64)
        if self.pending:
            self.pending.append(commanded)
            reaching = self.pending.popleft()
        else:
            reaching = commanded
        executed = self.gap.executed_action(reaching, self.env.unwrapped.data.qvel, self.noise_rng)
        obs, reward, terminated, truncated, info = self.env.step(executed)
        if self.gap.cost_on == "commanded" and "reward_ctrl" in info:
            # Swap the env's cost of the executed action for the cost of the commanded one.
            ctrl = -self.env.unwrapped._ctrl_cost_weight * float(np.sum(np.square(commanded)))
            reward = float(reward) - float(info["reward_ctrl"]) + ctrl
            info = {**info, "reward_ctrl": ctrl}
        return self._observed(obs), reward, terminated, truncated, info


def _make(spec: TaskSpec, gap: Gap, seed: int | None) -> gym.Env:
    with _quiet_known_mujoco_warnings():
        env = gym.make(spec.gym_id, max_episode_steps=spec.max_episode_steps, **spec.make_kwargs)
    if not isinstance(gap, NoGap):
        env = GapEnv(env, gap, spec.name)
    env = Float32Observation(env)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def make_real(task: str, seed: int | None = None) -> gym.Env:
    """The unmodified task: the 'real world' that evaluation and the offline data come from."""
    return _make(get_task(task), NoGap(), seed)


def make_sim(task: str, gap: Gap | str, seed: int | None = None) -> gym.Env:
    """The task with a dynamics gap applied to this instance only."""
    return _make(get_task(task), parse_gap(gap), seed)

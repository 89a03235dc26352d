"""Building real and simulated envs."""

from __future__ import annotations

import collections
import contextlib
import sys
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


class GapEnv(gym.Wrapper):
    """Applies a dynamics gap to the one env it wraps.

    Physics gaps are written into this instance's MjModel once, at construction; MuJoCo's
    ``reset`` clears MjData, not MjModel, so they survive resets. Action and sensor gaps draw their
    noise from a generator seeded by ``reset(seed=...)``, separate from the env's own reset RNG.
    An action delay keeps the commands not yet executed in ``pending``, zero torque at each reset.
    """

    def __init__(self, env: gym.Env, gap: Gap, task: str):
        super().__init__(env)
        self.gap = gap
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

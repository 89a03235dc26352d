"""Saving and restoring the complete state of an env made by `make_real` / `make_sim`.

A checkpointed run must resume bit-for-bit, so this captures everything a step depends on:
MuJoCo's integration state (positions, velocities, warm-start accelerations, time, controls),
the time-limit counter, the env's reset RNG, the gap's noise RNG and the commands an action delay
has not yet executed.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from gapbench.envs.make import GapEnv

_SIM_STATE = mujoco.mjtState.mjSTATE_INTEGRATION


def _wrappers(env: gym.Env):
    while True:
        yield env
        if not isinstance(env, gym.Wrapper):
            return
        env = env.env


def _find(env: gym.Env, cls: type):
    return next((w for w in _wrappers(env) if isinstance(w, cls)), None)


def get_env_state(env: gym.Env) -> dict[str, Any]:
    base = env.unwrapped
    physics = np.empty(mujoco.mj_stateSize(base.model, _SIM_STATE), dtype=np.float64)
    mujoco.mj_getState(base.model, base.data, physics, _SIM_STATE)
    time_limit = _find(env, gym.wrappers.TimeLimit)
    gap_env = _find(env, GapEnv)
    return {
        "physics": physics,
        "elapsed_steps": None if time_limit is None else time_limit._elapsed_steps,
        "reset_rng": base.np_random.bit_generator.state,
        "noise_rng": None if gap_env is None else gap_env.noise_rng.bit_generator.state,
        "pending_actions": None if gap_env is None else [a.copy() for a in gap_env.pending],
        # an env with per-episode state of its own (the wheel-legged robot's tyre wear and gear play)
        "robot": base.get_robot_state() if hasattr(base, "get_robot_state") else None,
    }


def set_env_state(env: gym.Env, state: dict[str, Any]) -> None:
    """Restore a state from `get_env_state` into an env of the same task and gap."""
    env.reset()  # the order-enforcing wrapper refuses `step` on an env that was never reset
    base = env.unwrapped
    mujoco.mj_setState(base.model, base.data, np.asarray(state["physics"], np.float64), _SIM_STATE)
    mujoco.mj_forward(base.model, base.data)
    if state.get("robot") is not None:
        base.set_robot_state(state["robot"])
    time_limit = _find(env, gym.wrappers.TimeLimit)
    if time_limit is not None:
        time_limit._elapsed_steps = state["elapsed_steps"]
    base.np_random.bit_generator.state = state["reset_rng"]
    gap_env = _find(env, GapEnv)
    if gap_env is not None:
        gap_env.noise_rng.bit_generator.state = state["noise_rng"]
        gap_env.pending.clear()
        gap_env.pending.extend(np.array(a) for a in state.get("pending_actions") or [])


def observe(env: gym.Env) -> np.ndarray:
    """The observation of the env's current physics state, as `step` would return it."""
    return np.asarray(env.unwrapped._get_obs(), dtype=np.float32)


def put_in_state(env: gym.Env, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """Place an env in a given simulator state (e.g. a dataset's `infos/qpos`) and observe it."""
    env.unwrapped.set_state(np.asarray(qpos, np.float64), np.asarray(qvel, np.float64))
    return observe(env)

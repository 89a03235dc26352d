"""The scripted operator that stands in for the paper's human: "100,000 human-controlled transitions".

A person drives a balancing robot with a joystick that sets a speed; the robot's own balance loop
turns that set-point into wheel torques. So the operator here is an LQR balance controller, designed
on the idealised model (as an engineer designs on the model they have), with what a person adds:

* a set-point that wanders slowly about the task's target (an Ornstein-Uhlenbeck process);
* command noise on each wheel (an unsteady thumb, uneven motors);
* now and then a late correction: the command freezes for 60-160 ms (a person's reaction time)
  and the controller then catches up; a person who has just corrected is alert for a second.

It sees what the policy would see: the robot's measured observation, errors included.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np

from .offline_data import Transitions
from .wheel_legged import CONTROL_DT, TASKS, WHEEL_RADIUS, WheelLeggedEnv, task_key
from .wheel_legged_gaps import IDEALISED_SIM_GAPS

OPERATOR_VERSION = 1


def _check(name: str, value: float, low: float, high: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"OperatorConfig.{name} must be in [{low}, {high}], got {value!r}")
    return value


@dataclass(frozen=True)
class OperatorConfig:
    """The operator's imperfections. ``OperatorConfig.perfect()`` is the plain LQR controller, the
    "good controller" that sets a task's reference (expert) return."""

    action_noise: float = 0.05  # std of the command noise, fraction of peak torque
    setpoint_std: float = 0.05  # m/s, stationary std of the set-point's wander about the target
    setpoint_time: float = 2.0  # s, the wander's correlation time
    ramp_time: float = 1.0  # s the operator takes to push the joystick to the target speed
    late_rate: float = 0.5  # late corrections per second
    late_min_steps: int = 3  # 60 ms at 50 Hz
    late_max_steps: int = 8  # 160 ms
    late_refractory: float = 1.0  # s after a late correction before the next can start

    def __post_init__(self) -> None:
        _check("action_noise", self.action_noise, 0.0, 1.0)
        _check("setpoint_std", self.setpoint_std, 0.0, 1.0)
        _check("setpoint_time", self.setpoint_time, 1e-3, 1e3)
        _check("ramp_time", self.ramp_time, 0.0, 20.0)
        _check("late_rate", self.late_rate, 0.0, 1.0 / CONTROL_DT)
        _check("late_min_steps", self.late_min_steps, 1, 1000)
        _check("late_max_steps", self.late_max_steps, self.late_min_steps, 1000)
        _check("late_refractory", self.late_refractory, 0.0, 1e3)

    @staticmethod
    def perfect() -> OperatorConfig:
        return OperatorConfig(action_noise=0.0, setpoint_std=0.0, late_rate=0.0)


# LQR weights: the inverse squared tolerances of the tasks' rewards (theta 0.1 rad, x 0.25 m,
# x_dot 0.1 m/s), theta_dot at 1 rad/s, and the command at full peak torque.
_Q = np.diag([1 / 0.1**2, 1 / 1.0**2, 1 / 0.25**2, 1 / 0.1**2])
_R = np.array([[1.0]])


def _ideal_env() -> WheelLeggedEnv:
    env = WheelLeggedEnv("stand")
    for gap in IDEALISED_SIM_GAPS:
        gap.apply_to_model(env.model, "wheel-legged-stand")
    env.reset(seed=0)
    return env


def _place(env: WheelLeggedEnv, state: np.ndarray) -> None:
    """Put the robot in the observed state (theta, theta_dot, x, x_dot), wheels rolling without
    slip, so that the observation reads it back."""
    tilt, tilt_rate, x, velocity = state
    qpos, qvel = np.zeros(env.model.nq), np.zeros(env.model.nv)
    qpos[:3] = [x, 0.0, WHEEL_RADIUS]
    qpos[3:7] = [math.cos(tilt / 2), 0.0, math.sin(tilt / 2), 0.0]
    qpos[env._wheel_qpos] = x / WHEEL_RADIUS - tilt
    qvel[0], qvel[4] = velocity, tilt_rate
    qvel[env._wheel_qvel] = velocity / WHEEL_RADIUS - tilt_rate
    env.set_state(qpos, qvel)


def linearise(eps: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) of one control step of the idealised robot about upright rest, by central finite
    differences, for the state (theta, theta_dot, x, x_dot) and one command given to both wheels."""
    env = _ideal_env()

    def next_state(state: np.ndarray, command: float) -> np.ndarray:
        _place(env, state)
        return env.step(np.full(2, command))[0].astype(np.float64)

    a = np.zeros((4, 4))
    for i in range(4):
        e = np.zeros(4)
        e[i] = eps
        a[:, i] = (next_state(e, 0.0) - next_state(-e, 0.0)) / (2 * eps)
    b = ((next_state(np.zeros(4), eps) - next_state(np.zeros(4), -eps)) / (2 * eps))[:, None]
    return a, b


@functools.lru_cache(maxsize=1)
def lqr_gain() -> np.ndarray:
    """The discrete LQR gain K (command = -K state), by iterating the Riccati equation (numpy only)."""
    a, b = linearise()
    p = _Q.copy()
    for _ in range(10_000):
        k = np.linalg.solve(_R + b.T @ p @ b, b.T @ p @ a)
        p_next = _Q + a.T @ p @ (a - b @ k)
        if np.allclose(p_next, p, rtol=1e-12, atol=1e-12):
            break
        p = p_next
    k = np.linalg.solve(_R + b.T @ p @ b, b.T @ p @ a)
    if np.max(np.abs(np.linalg.eigvals(a - b @ k))) >= 1:
        raise RuntimeError("the LQR design did not stabilise the linearised robot")
    return k[0]


class ScriptedOperator:
    """One operator for one episode at a time; ``reset`` at every episode start."""

    def __init__(self, task: str, config: OperatorConfig = OperatorConfig(), seed: int = 0):
        self.target = TASKS[task_key(task)].target_velocity
        self.config = config
        self.gain = lqr_gain().copy()  # the cached design is shared
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        self.t = 0
        self.wander = 0.0  # the set-point's offset from the target, m/s
        self.position_ref = 0.0  # where the set-point says the robot should be, m
        self.frozen_steps = 0
        self.alert_steps = 0  # steps left in which no late correction starts
        self.last = np.zeros(2)

    def _setpoint_velocity(self) -> float:
        c = self.config
        ramp = 1.0 if c.ramp_time == 0 else min(1.0, self.t * CONTROL_DT / c.ramp_time)
        decay = math.exp(-CONTROL_DT / c.setpoint_time)
        kick = c.setpoint_std * math.sqrt(1 - decay**2) * self.rng.standard_normal()
        self.wander = decay * self.wander + kick
        return ramp * self.target + self.wander

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        c = self.config
        velocity = self._setpoint_velocity()
        self.position_ref += velocity * CONTROL_DT
        self.t += 1
        late = self.rng.random() < c.late_rate * CONTROL_DT  # drawn every step: one stream per seed
        if self.frozen_steps > 0:  # a late correction: the hand has not moved yet
            self.frozen_steps -= 1
            return self.last.astype(np.float32)
        self.alert_steps = max(0, self.alert_steps - 1)
        if late and self.alert_steps == 0:
            self.frozen_steps = int(self.rng.integers(c.late_min_steps, c.late_max_steps + 1)) - 1
            self.alert_steps = self.frozen_steps + round(c.late_refractory / CONTROL_DT)
        error = np.asarray(obs, np.float64) - np.array([0.0, 0.0, self.position_ref, velocity])
        command = -float(self.gain @ error) + c.action_noise * self.rng.standard_normal(2)
        self.last = np.clip(command, -1.0, 1.0)
        return self.last.astype(np.float32)


def operator_recipe(task: str, steps: int, seed: int, config: OperatorConfig = OperatorConfig()) -> dict:
    """What the dataset's metadata records about how it was made."""
    return {"behaviour": "scripted-operator", "operator_version": OPERATOR_VERSION, "task": task_key(task),
            "steps": int(steps), "seed": int(seed), "operator": asdict(config),
            "lqr_gain": [float(k) for k in lqr_gain()]}


def operator_transitions(env: gym.Env, task: str, steps: int, seed: int,
                         config: OperatorConfig = OperatorConfig()) -> Transitions:
    """``steps`` transitions of the scripted operator in ``env`` (the real robot, e.g.
    ``make_real("wheel-legged-stand")``), with D4RL's keys: a time-limit end is a timeout, a fall a
    terminal, and the last row, cut by the budget, a timeout. Deterministic for a seed."""
    operator = ScriptedOperator(task, config, seed)
    keys = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
    rows = {k: [] for k in keys}
    obs = env.reset(seed=seed)[0]
    for _ in range(steps):
        action = operator(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        row = (obs, action, reward, next_obs, terminated, truncated and not terminated)
        for key, value in zip(keys, row):
            rows[key].append(value)
        if terminated or truncated:
            obs = env.reset()[0]
            operator.reset()
        else:
            obs = next_obs
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    arrays["timeouts"][-1] = not arrays["terminals"][-1]
    typed = {k: v.astype(np.float32) if v.dtype.kind == "f" else v.astype(bool) for k, v in arrays.items()}
    return Transitions(**typed, metadata=operator_recipe(task, steps, seed, config))


def mean_return(env: gym.Env, policy, seeds: range) -> tuple[float, float]:
    """Mean and std of the undiscounted return of ``policy(obs)`` over one episode per seed;
    ``policy`` may have a ``reset()`` that is called at each episode start."""
    returns = []
    for seed in seeds:
        if hasattr(policy, "reset"):
            policy.reset()
        obs, total = env.reset(seed=seed)[0], 0.0
        while True:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += float(reward)
            if terminated or truncated:
                break
        returns.append(total)
    return float(np.mean(returns)), float(np.std(returns))


def reference_returns(env: gym.Env, task: str, episodes: int = 100) -> dict[str, float]:
    """D4RL-style reference returns of a task in ``env`` (the real robot): a uniformly random
    policy (REF_MIN_SCORE) and the noiseless LQR controller (REF_MAX_SCORE)."""
    rng = np.random.default_rng(0)
    random_mean, _ = mean_return(env, lambda obs: rng.uniform(-1.0, 1.0, 2).astype(np.float32),
                                 range(10_000, 10_000 + episodes))
    lqr_mean, _ = mean_return(env, ScriptedOperator(task, OperatorConfig.perfect(), seed=0),
                              range(20_000, 20_000 + episodes))
    return {"random": random_mean, "lqr": lqr_mean}

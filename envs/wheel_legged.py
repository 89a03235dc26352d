"""The paper's wheel-legged robot (Sec. 6.1, 6.3, Figure 2) as a MuJoCo env: a body balancing on two
driven wheels, observed as (theta, theta_dot, x, x_dot), acted on by the two wheel torques.

The model is compiled from an XML string per env instance, so every env owns its MjModel and a gap
may edit it in place. The "real" robot carries four unmodelled effects at their physical size
(docs/wheel-legged.md gives the sources):

* ``dead_zone``: the motor-gearbox dead band, a fraction of peak torque that never reaches the wheel;
* ``encoder_play``: the same drivetrain's play seen by the motor-side encoders, an observation error;
* ``wheel_friction``: the worn rubber's sliding friction on the floor (a simulator ships 1.0);
* ``friction_wear``: how much lower that coefficient can be on a given run (wear, dust).

Their values live in the model itself, as MJCF ``<custom><numeric>`` fields that this env reads every
step, so the gaps in ``wheel_legged_gaps`` need only gapbench's ``apply_to_model`` hook. The
idealised simulator is this env with those four fields set to ideal values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import mujoco
import numpy as np

# ---- The robot: a small wheel-legged robot with its legs held at a fixed height. -----------------
WHEEL_RADIUS = 0.08  # m
WHEEL_MASS = 0.5  # kg, each: a hub motor's rotor and a rubber tyre
WHEEL_TRACK = 0.40  # m between the two contact points
BODY_MASS = 6.0  # kg: chassis, battery and the two legs, held rigid
BODY_COM_HEIGHT = 0.30  # m above the wheel axle
BODY_SIZE = (0.12, 0.24, 0.40)  # m, the box the inertia is computed from (x depth, y width, z height)
PEAK_TORQUE = 2.0  # N m per wheel: about the traction limit mu * N * r of a worn tyre (0.8 * 34 N * 0.08 m)
WHEEL_DAMPING = 0.01  # N m s / rad: the motor's back-EMF and bearing drag, modelled alike in sim and real
ROLLING_FRICTION = 0.015 * WHEEL_RADIUS  # m: rubber on a hard floor, c_rr ~ 0.015 (the sim models it)
TORSIONAL_FRICTION = 0.005  # m: MuJoCo's default spin friction of the contact patch

# ---- Timing: a real robot's control loop. --------------------------------------------------------
PHYSICS_TIMESTEP = 0.002  # s
FRAME_SKIP = 10  # physics steps per control step: 50 Hz control
CONTROL_DT = PHYSICS_TIMESTEP * FRAME_SKIP
MAX_EPISODE_STEPS = 1000  # 20 s, longer than the 12 s that Figure 2(c) separates H2O from CQL in

# ---- What counts as a fall. -----------------------------------------------------------------------
# A real balancing robot's safety stop cuts the motors past ~30 degrees; it is also about where the
# worn tyre can no longer push the wheels back under the body (tan(theta) = mu: 29-39 degrees for
# mu 0.56-0.8). The episode ends there and is a true terminal.
FALL_ANGLE = 0.5  # rad (28.6 degrees)

# ---- The real robot's unmodelled effects, at their physical size (docs/wheel-legged.md). ---------
REAL_DEAD_ZONE = 0.05  # fraction of peak torque: gearmotor friction + driver dead band
REAL_ENCODER_PLAY = math.radians(0.5)  # rad, half of a typical 1 degree planetary-gear backlash
REAL_WHEEL_FRICTION = 0.8  # sliding friction of rubber on a dry lab floor, fresh tyre
REAL_FRICTION_WEAR = 0.3  # a run's coefficient lies in [0.7, 1] x the fresh value
# The idealised simulator's values: what a simulator models when it models none of the above.
IDEAL_WHEEL_FRICTION = 1.0  # MuJoCo's (and Isaac Gym's) default friction coefficient

# The initial state: upright within a few degrees, as a person lets go of the robot.
INIT_TILT = 0.05  # rad, uniform in [-INIT_TILT, INIT_TILT]
INIT_TILT_RATE = 0.1  # rad/s, uniform likewise

EFFECT_FIELDS = ("dead_zone", "encoder_play", "wheel_friction", "friction_wear")


def _box_inertia(mass: float, size: tuple[float, float, float]) -> tuple[float, float, float]:
    x, y, z = size
    return mass * (y * y + z * z) / 12, mass * (x * x + z * z) / 12, mass * (x * x + y * y) / 12


def robot_xml() -> str:
    """The MJCF of the real robot. Wheels are spheres for contact (one clean contact point with the
    floor, as a thin tyre has) with a disk's inertia; the wheel geoms have priority over the floor,
    so the contact takes the wheel's friction exactly, not the larger of the two."""
    ixx, iyy, izz = _box_inertia(BODY_MASS, BODY_SIZE)
    wheel_axle, wheel_other = 0.5 * WHEEL_MASS * WHEEL_RADIUS**2, 0.25 * WHEEL_MASS * WHEEL_RADIUS**2
    half = tuple(s / 2 for s in BODY_SIZE)
    friction = f"{REAL_WHEEL_FRICTION} {TORSIONAL_FRICTION} {ROLLING_FRICTION}"
    wheels = "".join(
        f"""
      <body name="wheel_{side}" pos="0 {sign * WHEEL_TRACK / 2} 0">
        <joint name="wheel_{side}" type="hinge" axis="0 1 0" damping="{WHEEL_DAMPING}"/>
        <inertial pos="0 0 0" mass="{WHEEL_MASS}" diaginertia="{wheel_other} {wheel_axle} {wheel_other}"/>
        <geom name="wheel_{side}" type="sphere" size="{WHEEL_RADIUS}" condim="6" priority="1"
              friction="{friction}" rgba="0.1 0.1 0.1 1"/>
      </body>"""
        for side, sign in (("left", 1), ("right", -1))
    )
    return f"""
<mujoco model="wheel_legged">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{PHYSICS_TIMESTEP}" integrator="implicitfast" cone="elliptic"/>
  <custom>
    <numeric name="dead_zone" data="{REAL_DEAD_ZONE}"/>
    <numeric name="encoder_play" data="{REAL_ENCODER_PLAY}"/>
    <numeric name="wheel_friction" data="{REAL_WHEEL_FRICTION}"/>
    <numeric name="friction_wear" data="{REAL_FRICTION_WEAR}"/>
  </custom>
  <worldbody>
    <geom name="floor" type="plane" size="0 0 0.05" rgba="0.8 0.8 0.8 1"/>
    <light pos="0 0 3" dir="0 0 -1"/>
    <body name="base" pos="0 0 {WHEEL_RADIUS}">
      <freejoint name="root"/>
      <inertial pos="0 0 {BODY_COM_HEIGHT}" mass="{BODY_MASS}" diaginertia="{ixx} {iyy} {izz}"/>
      <geom name="chassis" type="box" pos="0 0 {BODY_COM_HEIGHT}" size="{half[0]} {half[1]} {half[2]}"
            rgba="0.3 0.5 0.8 1"/>{wheels}
    </body>
  </worldbody>
  <actuator>
    <motor name="wheel_left" joint="wheel_left" gear="{PEAK_TORQUE}" ctrlrange="-1 1"/>
    <motor name="wheel_right" joint="wheel_right" gear="{PEAK_TORQUE}" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""


def dead_zone(command: np.ndarray, width: float) -> np.ndarray:
    """The torque (fraction of peak) that reaches the wheel for a commanded one: nothing inside the
    dead band, and the band's width less outside it, as static friction takes its share (the
    continuous dead-zone model of Tao & Kokotovic, 1994, with unit slope)."""
    command = np.asarray(command, np.float64)
    return np.sign(command) * np.maximum(np.abs(command) - width, 0.0)


@dataclass(frozen=True)
class WheelLeggedTask:
    """A task's reward: 1 per upright step less the mean of capped, normalised squared errors, so a
    step's reward lies in [0, 1] and a fall (which ends the episode) forfeits every later step.

    The paper's reward functions (its Appendix B.2) are not available; these follow its wording.
    A tolerance is the error that uses up that term's whole share.
    """

    name: str
    target_velocity: float  # m/s
    tilt_tol: float = 0.1  # rad: an upright, smooth ride (Figure 2 plots theta)
    velocity_tol: float = 0.1  # m/s
    displacement_tol: float | None = None  # m; None: the task does not care where the robot is

    def __post_init__(self) -> None:
        if not (math.isfinite(self.target_velocity) and abs(self.target_velocity) <= 1.0):
            raise ValueError(f"WheelLeggedTask.target_velocity must be in [-1, 1] m/s, "
                             f"got {self.target_velocity!r}")
        for name in ("tilt_tol", "velocity_tol", "displacement_tol"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"WheelLeggedTask.{name} must be a positive finite number, got {value!r}")

    def reward(self, tilt: float, velocity: float, displacement: float, command: np.ndarray) -> float:
        terms = [(tilt / self.tilt_tol) ** 2, ((velocity - self.target_velocity) / self.velocity_tol) ** 2,
                 float(np.mean(np.square(command)))]  # control effort, in units of peak torque
        if self.displacement_tol is not None:
            terms.append((displacement / self.displacement_tol) ** 2)
        return 1.0 - float(np.mean(np.minimum(terms, 1.0)))


# "Standing still: stay upright and do not move"; "moving straight: keep balance and follow v".
TASKS = {
    "stand": WheelLeggedTask("stand", target_velocity=0.0, displacement_tol=0.25),
    "move": WheelLeggedTask("move", target_velocity=0.2),
}


def task_key(task: str) -> str:
    """'stand' or 'move', from either that or the registered name ('wheel-legged-stand')."""
    key = task.removeprefix("wheel-legged-")
    if key not in TASKS:
        raise ValueError(f"wheel-legged task must be one of {sorted(TASKS)} (or wheel-legged-<task>), "
                         f"got {task!r}")
    return key


class WheelLeggedEnv(gym.Env):
    """One wheel-legged robot. Observation (theta, theta_dot, x, x_dot) as the robot measures it:
    tilt and its rate from the IMU, displacement and speed from wheel odometry. Action: the two
    wheel torques as fractions of peak torque, in [-1, 1]. The reward and the fall use the true
    state, so a score says what the robot did, not what its sensors said.
    """

    metadata = {"render_modes": [], "render_fps": int(round(1 / CONTROL_DT))}

    def __init__(self, task: str = "stand"):
        self.task = TASKS[task_key(task)]
        self.model = mujoco.MjModel.from_xml_string(robot_xml())
        self.data = mujoco.MjData(self.model)
        self.frame_skip = FRAME_SKIP
        self.dt = CONTROL_DT
        self._base = self.model.body("base").id
        self._effect_index = {name: int(self.model.numeric_adr[self.model.numeric(name).id])
                              for name in EFFECT_FIELDS}
        self._wheel_geoms = [self.model.geom(f"wheel_{s}").id for s in ("left", "right")]
        self._wheel_qpos = [self.model.joint(f"wheel_{s}").qposadr[0] for s in ("left", "right")]
        self._wheel_qvel = [self.model.joint(f"wheel_{s}").dofadr[0] for s in ("left", "right")]
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        # Per-episode state of the robot beyond MuJoCo's: the motor-side encoders' place in the gear
        # play and this run's tyre friction. Every episode starts at the world origin with the wheel
        # encoders at zero, so displacement and odometry need no per-episode zero.
        self._play = [0.0, 0.0]  # motor angle - wheel angle, rad, per wheel
        self._play_step = [0.0, 0.0]  # its change over the last control step
        self.episode_friction = REAL_WHEEL_FRICTION

    # ---- the effects' sizes, read from this instance's model ----
    def effect(self, name: str) -> float:
        return float(self.model.numeric_data[self._effect_index[name]])

    # ---- the true state (plain floats: this runs every step, and numpy on scalars is slow) ----
    def tilt(self) -> float:
        """Forward pitch of the body: positive when its top leans towards +x (its heading)."""
        return math.asin(max(-1.0, min(1.0, -float(self.data.xmat[self._base, 6]))))

    def forward_velocity(self) -> float:
        """Speed along the heading (the body's x axis projected on the floor)."""
        hx, hy = float(self.data.xmat[self._base, 0]), float(self.data.xmat[self._base, 3])
        norm = max(math.hypot(hx, hy), 1e-9)
        return (float(self.data.qvel[0]) * hx + float(self.data.qvel[1]) * hy) / norm

    def displacement(self) -> float:
        """Distance from where every episode starts, the world origin."""
        return math.hypot(float(self.data.qpos[0]), float(self.data.qpos[1]))

    # ---- what the robot measures ----
    def _odometry(self, tilt: float) -> float:
        """Wheel rotation over ground = joint angle + body pitch, read by the motor-side encoders
        (zero at the start of an episode but for r * the initial tilt, a few millimetres)."""
        left, right = self._wheel_qpos
        wheels = 0.5 * (float(self.data.qpos[left]) + float(self.data.qpos[right]))
        wheels += 0.5 * (self._play[0] + self._play[1])
        return WHEEL_RADIUS * (wheels + tilt)

    def _get_obs(self) -> np.ndarray:
        tilt = self.tilt()
        tilt_rate = float(self.data.qvel[4])  # the gyro: body-frame rate about the wheel axis
        left, right = self._wheel_qvel
        wheel_rate = 0.5 * (float(self.data.qvel[left]) + float(self.data.qvel[right]))
        # The encoders' extra travel while crossing the play, spread over the last control step.
        wheel_rate += 0.5 * (self._play_step[0] + self._play_step[1]) / self.dt
        return np.array([tilt, tilt_rate, self._odometry(tilt),
                         WHEEL_RADIUS * (wheel_rate + tilt_rate)], np.float32)

    def _update_encoders(self, torque: np.ndarray) -> None:
        """Gear play: a driving motor sits at the end of the play that pushes the wheel, so its
        encoder leads (or lags) the wheel by the half-play; with no torque it stays where it was."""
        play = self.effect("encoder_play")
        new = [play if t > 0 else -play if t < 0 else max(-play, min(play, old))
               for t, old in zip(torque.tolist(), self._play)]
        self._play_step = [n - old for n, old in zip(new, self._play)]
        self._play = new

    def _sensors_at_rest(self) -> None:
        self._play, self._play_step = [0.0, 0.0], [0.0, 0.0]

    # ---- Gymnasium API ----
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        tilt = self.np_random.uniform(-INIT_TILT, INIT_TILT)
        tilt_rate = self.np_random.uniform(-INIT_TILT_RATE, INIT_TILT_RATE)
        wear = self.np_random.uniform()  # drawn in every model, so real and sim share initial states
        self.data.qpos[3:7] = [math.cos(tilt / 2), 0.0, math.sin(tilt / 2), 0.0]
        self.data.qvel[4] = tilt_rate
        self.episode_friction = self.effect("wheel_friction") * (1.0 - self.effect("friction_wear") * wear)
        self.model.geom_friction[self._wheel_geoms, 0] = self.episode_friction
        mujoco.mj_forward(self.model, self.data)
        self._sensors_at_rest()
        return self._get_obs(), self._info(np.zeros(2))

    def set_state(self, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Place the robot in a physics state (gapbench's `put_in_state`); the encoders start
        centred in their play. The episode's tyre friction stays."""
        self.data.qpos[:], self.data.qvel[:] = qpos, qvel
        mujoco.mj_forward(self.model, self.data)
        self._sensors_at_rest()

    def get_robot_state(self) -> dict:
        """What a step depends on beyond MuJoCo's state and the RNGs (for gapbench's checkpoints)."""
        return {"play": list(self._play), "play_step": list(self._play_step),
                "episode_friction": self.episode_friction}

    def set_robot_state(self, state: dict) -> None:
        self._play, self._play_step = list(state["play"]), list(state["play_step"])
        self.episode_friction = float(state["episode_friction"])
        self.model.geom_friction[self._wheel_geoms, 0] = self.episode_friction

    def step(self, action):
        command = np.clip(np.asarray(action, np.float64).reshape(2), -1.0, 1.0)
        torque = dead_zone(command, self.effect("dead_zone"))
        self.data.ctrl[:] = torque
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        self._update_encoders(torque)
        tilt = self.tilt()
        fell = not abs(tilt) <= FALL_ANGLE  # also true for a NaN tilt
        if fell:
            reward = 0.0
        else:
            reward = self.task.reward(tilt, self.forward_velocity(), self.displacement(), command)
        return self._get_obs(), reward, fell, False, self._info(torque)

    def _info(self, torque: np.ndarray) -> dict:
        return {"tilt": self.tilt(), "forward_velocity": self.forward_velocity(),
                "displacement": self.displacement(), "wheel_torque": torque * PEAK_TORQUE,
                "episode_friction": self.episode_friction}


# Gymnasium ids for the two tasks, so `make_real` can `gym.make` them like any other task.
GYM_IDS = {task: f"gapbench/WheelLegged{task.capitalize()}-v0" for task in TASKS}


def register_gym_ids() -> None:
    """Idempotent, as gymnasium's registry outlives a reload of this module."""
    for task, gym_id in GYM_IDS.items():
        if gym_id not in gym.registry:
            gym.register(gym_id, entry_point=WheelLeggedEnv, kwargs={"task": task},
                         max_episode_steps=MAX_EPISODE_STEPS)


register_gym_ids()

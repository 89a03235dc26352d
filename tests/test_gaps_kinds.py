"""The gap kinds past ODRL's gravity and friction, on all four locomotion tasks.

Each kind must change transitions from the same state and action, leave envs made before and
after it (and the installed asset file) untouched, survive reset, be deterministic per seed, and
round-trip through its string. ODRL's named levels must resolve to the ranges in ODRL's XMLs,
written here by hand from its assets (OffDynamicsRL/off-dynamics-rl at 34bba73); the morphology
levels' geometry is checked the same way in test_gaps_morphology.py.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from gapbench import envs
from gapbench.envs.odrl_levels import kinematic_joints
from gapbench.envs.gaps import ActionDelay, Actuator, Damping, Kinematic, Mass, ObsNoise, parse_gap

TASKS = ["halfcheetah", "hopper", "walker2d", "ant"]
PART = {"halfcheetah": "foot", "hopper": "foot", "walker2d": "thigh", "ant": "ankle"}
LIMB = {"halfcheetah": "torso", "hopper": "foot", "walker2d": "leg", "ant": "alllegs"}  # ODRL morph parts
KINDS = ["kinematic:{part}:hard", "morphology:{limb}:hard", "mass:2.0", "actuator:0.5", "damping:3.0",
         "action_delay:2", "obs_noise:0.1"]
CASES = [(task, kind.format(part=PART[task], limb=LIMB[task])) for task in TASKS for kind in KINDS]


def visited_state(task: str, steps: int = 12, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A state a few random steps into an episode, and an action to take from it."""
    env = envs.make_real(task, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
    data = env.unwrapped.data
    return data.qpos.copy(), data.qvel.copy(), rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)


def state_for(task: str, gap: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A visited state; for a broken joint, one with the joint bent to 90% of its original reach,
    which the real joint allows and the broken one does not."""
    qpos, qvel, action = visited_state(task)
    if gap.startswith("kinematic"):
        model = envs.make_real(task).unwrapped.model
        for name in kinematic_joints(task, PART[task]):
            low, high = model.joint(name).range
            qpos[model.joint(name).qposadr[0]] = 0.9 * (low if abs(low) > abs(high) else high)
    return qpos, qvel, action


def rollout(env, seed: int, steps: int = 15) -> tuple[np.ndarray, np.ndarray]:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    observations, rewards = [obs], []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            break
    return np.array(observations), np.array(rewards)


def asset_digest(env) -> str:
    return hashlib.sha256(Path(env.unwrapped.fullpath).read_bytes()).hexdigest()


@pytest.mark.parametrize("task, gap", CASES)
def test_kind_changes_transitions_from_the_same_state_and_action(task, gap):
    qpos, qvel, action = state_for(task, gap)
    real, sim = envs.make_real(task, seed=1), envs.make_sim(task, gap, seed=1)
    for env in (real, sim):
        envs.state.put_in_state(env, qpos, qvel)
    real_next, sim_next = real.step(action)[0], sim.step(action)[0]
    assert np.abs(real_next - sim_next).max() > 1e-4, gap


@pytest.mark.parametrize("task, gap", CASES)
def test_kind_leaves_other_envs_and_the_asset_file_untouched(task, gap):
    before = envs.make_real(task)
    digest = asset_digest(before)
    sim = envs.make_sim(task, gap, seed=0)
    rollout(sim, 0)
    after = envs.make_real(task)
    reference = rollout(envs.make_real(task), 5)
    for env in (before, after):
        for got, want in zip(rollout(env, 5), reference):
            np.testing.assert_array_equal(got, want)
    assert sim.unwrapped.model is not before.unwrapped.model
    assert asset_digest(after) == digest


@pytest.mark.parametrize("task, gap", CASES)
def test_kind_survives_reset_and_is_deterministic_per_seed(task, gap):
    sim = envs.make_sim(task, gap)
    for _ in range(3):
        sim.reset()
    first = rollout(sim, 11)
    second = rollout(envs.make_sim(task, gap), 11)
    real = rollout(envs.make_real(task), 11)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    n = min(len(first[0]), len(real[0]))
    assert np.abs(first[0][1:n] - real[0][1:n]).max() > 1e-4


@pytest.mark.parametrize(
    "text, expected, canonical",
    [
        ("kinematic:foot:easy", Kinematic("foot", 0.8), "kinematic:foot:0.8"),
        ("kinematic:bfoot:0.3", Kinematic("bfoot", 0.3), "kinematic:bfoot:0.3"),
        ("mass:2", Mass(2.0), "mass:2.0"),
        ("mass:torso:0.5", Mass(0.5, "torso"), "mass:torso:0.5"),
        ("actuator:0.7", Actuator(0.7), "actuator:0.7"),
        ("damping:0", Damping(0.0), "damping:0.0"),
        ("action_delay:3", ActionDelay(3), "action_delay:3"),
        ("action_delay:1:executed", ActionDelay(1, "executed"), "action_delay:1:executed"),
        ("obs_noise:0.05", ObsNoise(0.05), "obs_noise:0.05"),
    ],
)
def test_kind_strings_round_trip(text, expected, canonical):
    gap = parse_gap(text)
    assert gap == expected
    assert str(gap) == canonical
    assert parse_gap(str(gap)) == gap


@pytest.mark.parametrize("text, field", [
    ("kinematic:foot", "kinematic"), ("kinematic:foot:1.5", "scale"), ("kinematic:foot:extreme", "number"),
    ("action_delay:0", "steps"), ("action_delay:1.5", "steps"), ("obs_noise:0", "std"), ("mass:-1", "scale"),
    ("mass:a:b:c", "mass"), ("damping:-0.1", "scale"), ("actuator:inf", "scale"), ("action_delay:2:later", "cost"),
])
def test_bad_kinds_fail_naming_the_field(text, field):
    with pytest.raises(ValueError) as err:
        parse_gap(text)
    assert field in str(err.value) and "valid gaps" in str(err.value)


def test_unknown_joint_or_body_fails_listing_the_valid_ones():
    with pytest.raises(ValueError, match="bthigh"):
        envs.make_sim("halfcheetah", "kinematic:knee:0.5")
    with pytest.raises(ValueError, match="torso"):
        envs.make_sim("halfcheetah", "mass:nose:2.0")


def degrees(*values: float) -> list[float]:
    return [math.radians(v) for v in values]


@pytest.mark.parametrize("task, gap, joint, expected", [
    # ODRL's XMLs: halfcheetah is in radians, the others in degrees.
    ("halfcheetah", "kinematic:foot:hard", "bfoot", [-0.08, 0.157]),
    ("halfcheetah", "kinematic:foot:medium", "ffoot", [-0.25, 0.25]),
    ("halfcheetah", "kinematic:thigh:easy", "bthigh", [-0.416, 0.84]),
    ("hopper", "kinematic:leg:easy", "leg_joint", degrees(-120, 0)),
    ("hopper", "kinematic:foot:hard", "foot_joint", degrees(-9, 9)),
    ("walker2d", "kinematic:thigh:medium", "thigh_left_joint", degrees(-75, 0)),
    ("walker2d", "kinematic:foot:easy", "foot_joint", degrees(-36, 36)),
    ("ant", "kinematic:ankle:hard", "ankle_1", degrees(30, 38)),
    ("ant", "kinematic:ankle:hard", "ankle_2", degrees(-38, -30)),
    ("ant", "kinematic:hip:medium", "hip_3", degrees(-15, 15)),
])
def test_named_levels_resolve_to_odrl_ranges(task, gap, joint, expected):
    model = envs.make_sim(task, gap).unwrapped.model
    np.testing.assert_allclose(model.joint(joint).range, expected, atol=1e-6)


def test_mass_scales_mass_and_inertia_of_one_body_or_all():
    real = envs.make_real("hopper").unwrapped.model
    one = envs.make_sim("hopper", "mass:torso:2.0").unwrapped.model
    every = envs.make_sim("hopper", "mass:0.5").unwrapped.model
    torso = real.body("torso").id
    np.testing.assert_allclose(one.body_mass[torso], 2 * real.body_mass[torso])
    np.testing.assert_allclose(one.body_inertia[torso], 2 * real.body_inertia[torso])
    others = np.arange(real.nbody) != torso
    np.testing.assert_array_equal(one.body_mass[others], real.body_mass[others])
    np.testing.assert_allclose(every.body_mass, 0.5 * real.body_mass)


def test_action_delay_executes_the_command_k_steps_late():
    """With a delay of 2 the motors see 0, 0, a1, a2, ...: the ctrl MuJoCo receives, step by step."""
    sim = envs.make_sim("halfcheetah", "action_delay:2", seed=0)
    sim.reset(seed=0)
    commands = np.random.default_rng(0).uniform(-1, 1, (5, 6)).astype(np.float32)
    received = []
    for command in commands:
        sim.step(command)
        received.append(sim.unwrapped.data.ctrl.copy())
    np.testing.assert_array_equal(received[0], np.zeros(6))
    np.testing.assert_array_equal(received[1], np.zeros(6))
    np.testing.assert_allclose(received[2:], commands[:3], atol=1e-7)
    sim.reset(seed=1)  # a new episode starts from zero torque again
    sim.step(commands[4])
    np.testing.assert_array_equal(sim.unwrapped.data.ctrl, np.zeros(6))


def test_action_delay_survives_a_checkpoint():
    sim = envs.make_sim("halfcheetah", "action_delay:3+joint_noise:0.2", seed=7)
    rng = np.random.default_rng(1)
    actions = rng.uniform(-1, 1, (30, 6)).astype(np.float32)
    for a in actions[:10]:
        sim.step(a)
    snapshot = envs.get_env_state(sim)
    continued = [sim.step(a)[:2] for a in actions[10:]]
    fresh = envs.make_sim("halfcheetah", "action_delay:3+joint_noise:0.2")
    envs.set_env_state(fresh, snapshot)
    resumed = [fresh.step(a)[:2] for a in actions[10:]]
    for (o1, r1), (o2, r2) in zip(continued, resumed):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2


def test_obs_noise_leaves_the_physics_and_the_reward_alone():
    real, sim = envs.make_real("halfcheetah", seed=2), envs.make_sim("halfcheetah", "obs_noise:0.5", seed=2)
    real_obs, real_rewards = rollout(real, 2)
    sim_obs, sim_rewards = rollout(sim, 2)
    np.testing.assert_array_equal(real_rewards, sim_rewards)
    noise = sim_obs - real_obs
    assert 0.3 < noise.std() < 0.7  # N(0, 0.5^2), 16 x 17 draws


@pytest.mark.parametrize("task", TASKS)
def test_measure_is_zero_for_none_and_positive_for_every_kind(task):
    assert envs.measure_gap(task, "none", samples=40).mean == 0.0
    for kind in KINDS:
        gap = kind.format(part=PART[task], limb=LIMB[task])
        assert envs.measure_gap(task, gap, samples=40).mean > 0.0, gap

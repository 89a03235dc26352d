"""The wheel-legged robot: its model, its four unmodelled effects as gaps, and the scripted operator.

Real MuJoCo throughout, through the registered tasks `wheel-legged-stand` and `wheel-legged-move`
as every user builds them (`make_real`, `make_sim` with a gap string).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gapbench import envs
from gapbench.envs.wheel_legged import (
    EFFECT_FIELDS, MAX_EPISODE_STEPS, REAL_DEAD_ZONE, REAL_ENCODER_PLAY, REAL_FRICTION_WEAR,
    REAL_WHEEL_FRICTION, WHEEL_RADIUS, dead_zone,
)
from gapbench.envs.wheel_legged_gaps import (
    IDEALISED_SIM, IDEALISED_SIM_GAPS, WHEEL_LEGGED_GAPS, DeadZone, EncoderPlay, FrictionWear, WheelFriction,
)
from gapbench.envs.wheel_legged_operator import OperatorConfig, ScriptedOperator, operator_transitions

REAL_VALUES = [REAL_DEAD_ZONE, REAL_ENCODER_PLAY, REAL_WHEEL_FRICTION, REAL_FRICTION_WEAR]
SINGLE = [DeadZone(0.0), EncoderPlay(0.0), WheelFriction(1.0), FrictionWear(0.0)]
IDEAL = list(IDEALISED_SIM_GAPS)
ACTIONS = np.random.default_rng(0).uniform(-1, 1, size=(40, 2)).astype(np.float32)


def parse(text: str) -> list:
    return list(envs.parse_gap(text).parts())


def make_wheel_legged(task: str, gaps=(), seed: int | None = None):
    """The robot as a user makes it: the real one, or the simulator with these gaps applied."""
    name, text = f"wheel-legged-{task}", "+".join(str(g) for g in gaps)
    return envs.make_sim(name, text, seed) if text else envs.make_real(name, seed)


def rollout(env, seed: int, actions=ACTIONS):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        out.append(np.append(obs, reward))
        if terminated:
            break
    return out


def test_builds_resets_and_steps_deterministically_for_a_seed():
    a, b = make_wheel_legged("stand"), make_wheel_legged("stand")
    first, second = rollout(a, 7), rollout(b, 7)
    assert len(first) == len(second) > 1
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x, y)
    obs, _ = a.reset(seed=7)
    assert obs.shape == (4,) and obs.dtype == np.float32 and a.observation_space.contains(obs)
    assert abs(obs[0]) <= 0.05 and abs(obs[2]) <= WHEEL_RADIUS * 0.05 + 1e-7  # odometry: r * tilt
    assert not np.array_equal(rollout(a, 8)[0], first[0])  # another seed, another start


def test_model_carries_the_real_effects_and_one_gap_per_effect():
    env = make_wheel_legged("move").unwrapped
    assert [cls.kind for cls in WHEEL_LEGGED_GAPS] == list(EFFECT_FIELDS)
    assert [env.effect(name) for name in EFFECT_FIELDS] == pytest.approx(REAL_VALUES)
    assert [str(g) for g in parse(IDEALISED_SIM)] == IDEALISED_SIM.split("+")


@pytest.mark.parametrize("gap", SINGLE, ids=str)
def test_gap_string_round_trips_and_bad_values_name_the_field(gap):
    assert parse(str(gap)) == [gap]
    field = next(iter(gap.__dataclass_fields__))
    with pytest.raises(ValueError, match=f"gap {gap.kind}: {field} must be in"):
        type(gap)(-1.0)


def test_a_wheel_legged_gap_on_another_model_says_where_it_applies():
    import mujoco

    other = mujoco.MjModel.from_xml_string("<mujoco><worldbody/></mujoco>")
    with pytest.raises(ValueError, match="applies only to the wheel-legged tasks"):
        DeadZone(0.0).apply_to_model(other, "halfcheetah")


def test_dead_zone_matches_the_closed_form():
    width = REAL_DEAD_ZONE
    commands = np.linspace(-1, 1, 2001)
    expected = np.where(np.abs(commands) <= width, 0.0, commands - np.sign(commands) * width)
    np.testing.assert_allclose(dead_zone(commands, width), expected, atol=1e-15)
    assert np.all(dead_zone(commands[np.abs(commands) < width], width) == 0.0)
    # In the env: every command below the threshold leaves the motors without torque.
    env = make_wheel_legged("stand", seed=0).unwrapped
    for command in (0.0, 0.01, -0.03, 0.049, -0.0499):
        env.reset(seed=0)
        env.step(np.array([command, -command]))
        assert np.all(env.data.ctrl == 0.0) and np.all(env.data.actuator_force == 0.0)
    env.reset(seed=0)
    env.step(np.array([0.5, -0.8]))
    np.testing.assert_allclose(env.data.ctrl, [0.5 - width, -0.8 + width])


@pytest.mark.parametrize("gap", SINGLE, ids=str)
def test_each_effect_changes_transitions_from_the_same_state_and_action(gap):
    """From one mid-episode state, the same full-torque command (where the tyres creep and the
    gears are loaded) gives a different next observation in the real robot and without the effect."""
    real, sim = make_wheel_legged("stand"), make_wheel_legged("stand", [gap])
    for env in (real, sim):
        rollout(env, 3, ACTIONS[:5])
    qpos, qvel = real.unwrapped.data.qpos.copy(), real.unwrapped.data.qvel.copy()
    diffs = []
    for action in (np.array([1.0, 1.0]), np.array([-0.03, -0.03])):
        nexts = []
        for env in (real, sim):
            env.unwrapped.set_state(qpos, qvel)
            nexts.append(env.step(action)[0])
        diffs.append(np.abs(nexts[0] - nexts[1]).max())
    assert max(diffs) > 1e-3


@pytest.mark.parametrize("gap", SINGLE + [None], ids=str)
def test_envs_made_before_and_after_a_gap_are_untouched(gap):
    gaps = parse(IDEALISED_SIM) if gap is None else [gap]
    before = make_wheel_legged("stand")
    sim = make_wheel_legged("stand", gaps)
    rollout(sim, 0)
    after = make_wheel_legged("stand")
    reference = rollout(make_wheel_legged("stand"), 5)
    for env in (before, after):
        assert [env.unwrapped.effect(n) for n in EFFECT_FIELDS] == pytest.approx(REAL_VALUES)
        for x, y in zip(rollout(env, 5), reference):
            np.testing.assert_array_equal(x, y)


def test_each_episode_draws_its_tyre_friction_between_fresh_and_worn():
    env = make_wheel_legged("stand").unwrapped
    draws = []
    for seed in range(20):
        env.reset(seed=seed)
        draws.append(env.episode_friction)
        assert np.all(env.model.geom_friction[env._wheel_geoms, 0] == env.episode_friction)
    low, high = REAL_WHEEL_FRICTION * (1 - REAL_FRICTION_WEAR), REAL_WHEEL_FRICTION
    assert low <= min(draws) < max(draws) <= high
    ideal = make_wheel_legged("stand", IDEAL).unwrapped
    ideal.reset(seed=0)
    assert ideal.episode_friction == 1.0


def test_encoder_play_offsets_odometry_by_the_half_play():
    """Driving forward, the motor-side encoder leads the wheel by the half-play: odometry reads
    r * play more than the same robot without play (theta is the IMU's and does not change)."""
    real, ideal = make_wheel_legged("stand"), make_wheel_legged("stand", [EncoderPlay(0.0)])
    o_real, o_ideal = [], []
    for env, out in ((real, o_real), (ideal, o_ideal)):
        env.reset(seed=1)
        out.extend(env.step(np.array([0.5, 0.5]))[0])
    assert o_real[0] == o_ideal[0] and o_real[1] == o_ideal[1]
    assert o_real[2] - o_ideal[2] == pytest.approx(WHEEL_RADIUS * REAL_ENCODER_PLAY, rel=1e-4)


@pytest.mark.parametrize("task", ["stand", "move"])
@pytest.mark.parametrize("model", ["real", "ideal"])
def test_scripted_operator_keeps_the_robot_upright_for_a_whole_episode(task, model):
    env = make_wheel_legged(task, IDEAL if model == "ideal" else ())
    operator = ScriptedOperator(f"wheel-legged-{task}", OperatorConfig(), seed=11)
    obs, _ = env.reset(seed=11)
    speeds = []
    for step in range(MAX_EPISODE_STEPS):
        obs, reward, terminated, truncated, info = env.step(operator(obs))
        assert not terminated, f"fell at step {step}"
        assert 0.0 <= reward <= 1.0
        speeds.append(info["forward_velocity"])
    assert truncated
    target = 0.2 if task == "move" else 0.0
    # The set-point wanders (std 0.05 m/s, 2 s correlation), so a 5 s mean is within ~0.05 of the target.
    assert np.mean(speeds[-250:]) == pytest.approx(target, abs=0.12)


def test_operator_dataset_has_d4rl_keys_and_is_deterministic_for_a_seed():
    data = operator_transitions(make_wheel_legged("move"), "move", 300, seed=4)
    again = operator_transitions(make_wheel_legged("move"), "move", 300, seed=4)
    assert data.equals(again) and len(data) == 300
    assert data.observations.shape == data.next_observations.shape == (300, 4)
    assert data.actions.shape == (300, 2) and np.abs(data.actions).max() <= 1.0
    assert not data.terminals.any() and data.timeouts[-1] and data.timeouts.sum() == 1
    np.testing.assert_array_equal(data.observations[1:], data.next_observations[:-1])
    assert data.metadata["behaviour"] == "scripted-operator" and data.metadata["steps"] == 300
    assert math.isfinite(float(np.sum(data.rewards)))


def test_robot_state_with_mujoco_state_resumes_bit_for_bit():
    """What a checkpoint must hold besides MuJoCo's state: the encoders' place in the play and the
    episode's tyre friction (`get_robot_state`)."""
    import mujoco

    env = make_wheel_legged("move", seed=2).unwrapped
    env.reset(seed=2)
    for action in ACTIONS[:10]:
        env.step(0.3 * action)
    kind = mujoco.mjtState.mjSTATE_INTEGRATION
    physics = np.empty(mujoco.mj_stateSize(env.model, kind))
    mujoco.mj_getState(env.model, env.data, physics, kind)
    robot = env.get_robot_state()
    first = [env.step(0.3 * a)[0] for a in ACTIONS[10:15]]
    env.reset(seed=99)  # another friction draw
    mujoco.mj_setState(env.model, env.data, physics, kind)
    env.set_robot_state(robot)
    np.testing.assert_array_equal([env.step(0.3 * a)[0] for a in ACTIONS[10:15]], first)


def test_task_fields_are_range_checked():
    from gapbench.envs.wheel_legged import WheelLeggedTask

    with pytest.raises(ValueError, match="WheelLeggedTask.velocity_tol must be a positive"):
        WheelLeggedTask("bad", target_velocity=0.2, velocity_tol=0.0)
    with pytest.raises(ValueError, match="OperatorConfig.action_noise must be in"):
        OperatorConfig(action_noise=-0.1)

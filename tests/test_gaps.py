"""Every dynamics gap changes the transitions of its own env and of nothing else."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gapbench import envs
from gapbench.envs.gaps import Composite, Friction, Gravity, JointNoise, NoGap, VelocityOffset, parse_gap

GAPS = ["gravity:2.0", "friction:0.3", "joint_noise:1.0", "velocity_offset:0.2", "gravity:2.0+joint_noise:0.5"]
ACTIONS = np.random.default_rng(0).uniform(-1, 1, size=(60, 6)).astype(np.float32)


def rollout(env, seed: int, actions=ACTIONS) -> tuple[np.ndarray, np.ndarray]:
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for action in actions:
        obs, reward, *_ = env.step(action)
        observations.append(obs)
        rewards.append(reward)
    return np.array(observations), np.array(rewards)


def running_state(seed: int = 3):
    """A mid-stride state touching the floor, so velocity- and contact-dependent gaps are active."""
    env = envs.make_real("halfcheetah", seed=seed)
    env.reset(seed=seed)
    data = env.unwrapped.data
    for step, action in enumerate(ACTIONS):
        env.step(action)
        if step > 10 and data.ncon > 0 and abs(data.qvel[0]) > 0.05:
            return data.qpos.copy(), data.qvel.copy()
    raise AssertionError("no running state with floor contact found")


@pytest.mark.parametrize("gap", GAPS)
def test_gap_changes_transitions_from_same_state_and_action(gap):
    qpos, qvel = running_state()
    real, sim = envs.make_real("halfcheetah", seed=1), envs.make_sim("halfcheetah", gap, seed=1)
    for env in (real, sim):
        envs.state.put_in_state(env, qpos, qvel)
    action = ACTIONS[0]
    real_next = real.step(action)[0]
    sim_next = sim.step(action)[0]
    assert np.abs(real_next - sim_next).max() > 1e-3


@pytest.mark.parametrize("gap", GAPS)
def test_real_envs_made_before_and_after_are_untouched(gap):
    before = envs.make_real("halfcheetah")
    sim = envs.make_sim("halfcheetah", gap, seed=0)
    rollout(sim, 0)
    after = envs.make_real("halfcheetah")
    pristine = envs.make_real("halfcheetah")
    reference = rollout(pristine, 5)
    for env in (before, after):
        model = env.unwrapped.model
        np.testing.assert_array_equal(model.opt.gravity, [0.0, 0.0, -9.81])
        np.testing.assert_array_equal(model.geom_friction, np.tile([0.4, 0.1, 0.1], (model.ngeom, 1)))
        for got, want in zip(rollout(env, 5), reference):
            np.testing.assert_array_equal(got, want)
    assert sim.unwrapped.model is not before.unwrapped.model


@pytest.mark.parametrize("gap", GAPS)
def test_gap_survives_reset(gap):
    sim, real = envs.make_sim("halfcheetah", gap), envs.make_real("halfcheetah")
    for _ in range(3):
        sim.reset()
    sim_obs, _ = rollout(sim, 11)
    real_obs, _ = rollout(real, 11)
    np.testing.assert_array_equal(sim_obs[0], real_obs[0])  # the same initial state ...
    assert np.abs(sim_obs[1:] - real_obs[1:]).max() > 1e-3  # ... but different dynamics


@pytest.mark.parametrize("gap", GAPS + ["none"])
def test_same_seed_gives_identical_trajectories(gap):
    first = rollout(envs.make_sim("halfcheetah", gap, seed=4), 4)
    second = rollout(envs.make_sim("halfcheetah", gap, seed=4), 4)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert first[0].dtype == np.float32


def test_physics_gaps_scale_the_model_and_every_geom():
    sim = envs.make_sim("halfcheetah", "gravity:2.0+friction:0.3")
    model = sim.unwrapped.model
    np.testing.assert_allclose(model.opt.gravity, [0.0, 0.0, -19.62])
    # the floor (geom 0) is scaled too, or MuJoCo's max-combination would hide the gap
    np.testing.assert_allclose(model.geom_friction, np.tile([0.12, 0.03, 0.03], (model.ngeom, 1)))


@pytest.mark.parametrize("cost", ["commanded", "executed"])
def test_joint_noise_control_cost(cost):
    sim = envs.make_sim("halfcheetah", f"joint_noise:1.0:{cost}", seed=2)
    sim.reset(seed=2)
    action = np.full(6, 0.5, np.float32)
    _, reward, _, _, info = sim.step(action)
    commanded_cost = -0.1 * float(np.sum(action.astype(np.float64) ** 2))
    if cost == "commanded":
        assert info["reward_ctrl"] == pytest.approx(commanded_cost)
        assert reward == pytest.approx(info["reward_forward"] + commanded_cost)
    else:
        # gym charges the noisy action, which is far from the commanded one at std 1
        assert abs(info["reward_ctrl"] - commanded_cost) > 1e-3
        assert reward == pytest.approx(info["reward_forward"] + info["reward_ctrl"])


def test_velocity_offset_grows_with_speed():
    gap = VelocityOffset(0.5)
    rng = np.random.default_rng(0)
    action = np.zeros(6)
    np.testing.assert_array_equal(gap.executed_action(action, np.zeros(9), rng), action)
    fast = np.zeros(9)
    fast[0] = -4.0
    np.testing.assert_allclose(gap.executed_action(action, fast, rng), np.full(6, 2.0))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("none", NoGap()),
        ("gravity:2", Gravity(2.0)),
        ("friction:0.3", Friction(0.3)),
        ("joint_noise:1.0", JointNoise(1.0)),
        ("joint_noise:1.0:executed", JointNoise(1.0, "executed")),
        ("velocity_offset:0.1", VelocityOffset(0.1)),
        ("gravity:2.0+joint_noise:0.5", Composite((Gravity(2.0), JointNoise(0.5)))),
    ],
)
def test_gap_strings_round_trip(text, expected):
    gap = parse_gap(text)
    assert gap == expected
    assert parse_gap(str(gap)) == gap
    with pytest.raises(dataclasses.FrozenInstanceError):
        gap.scale = 3.0


@pytest.mark.parametrize("text", ["gravty:2", "gravity", "gravity:abc", "gravity:-1", "friction:0", "none:1",
                                  "joint_noise:1:sideways", "gravity:nan", ""])
def test_bad_gaps_fail_with_the_valid_ones(text):
    with pytest.raises(ValueError) as err:
        parse_gap(text)
    message = str(err.value)
    assert "gravity" in message or "must be" in message


def test_env_state_restores_bit_for_bit():
    sim = envs.make_sim("halfcheetah", "joint_noise:0.3", seed=7)
    rollout(sim, 7, ACTIONS[:20])
    snapshot = envs.get_env_state(sim)
    continued = [sim.step(a)[:2] for a in ACTIONS[20:]]
    fresh = envs.make_sim("halfcheetah", "joint_noise:0.3")
    envs.set_env_state(fresh, snapshot)
    resumed = [fresh.step(a)[:2] for a in ACTIONS[20:]]
    for (o1, r1), (o2, r2) in zip(continued, resumed):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2


@pytest.mark.parametrize("task", ["hopper", "walker2d", "ant"])
def test_other_tasks_take_gaps_too(task):
    spec = envs.get_task(task)
    sim, real = envs.make_sim(task, "gravity:2.0", seed=0), envs.make_real(task, seed=0)
    assert real.observation_space.shape == (spec.obs_dim,)
    assert real.action_space.shape == (spec.act_dim,)
    actions = np.zeros((10, spec.act_dim), np.float32)
    assert np.abs(rollout(sim, 0, actions)[0] - rollout(real, 0, actions)[0]).max() > 1e-3

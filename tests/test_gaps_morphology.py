"""The morphology gap: limbs changed, the model rebuilt in memory for one env.

ODRL's named levels must give the geometry of ODRL's XMLs (OffDynamicsRL/off-dynamics-rl at 34bba73,
envs/mujoco/assets/<task>_morph_<part>_<level>.xml). The numbers below are copied by hand from those
files, not computed from gapbench's tables, so they check the tables as well as the editing. The
shared properties (transitions change, other envs and the asset file untouched, reset, seeds,
measure) are checked for every task in test_gaps_kinds.py.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from gapbench import envs
from gapbench.envs.gaps import Composite, Gravity, Mass, Morphology, parse_gap


def model_of(task: str, gap: str | None = None) -> mujoco.MjModel:
    env = envs.make_real(task) if gap is None else envs.make_sim(task, gap)
    return env.unwrapped.model


def posed(model: mujoco.MjModel) -> mujoco.MjData:
    """The model at its reference pose, where ODRL's global coordinates hold."""
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return data


def ends(model: mujoco.MjModel, geom: str) -> np.ndarray:
    """A capsule's two axis end points in world coordinates, ordered by z then x (as a fromto reads)."""
    data, g = posed(model), model.geom(geom).id
    axis = data.geom_xmat[g].reshape(3, 3)[:, 2] * model.geom_size[g, 1]
    points = [data.geom_xpos[g] - axis, data.geom_xpos[g] + axis]
    return np.array(sorted(points, key=lambda p: (round(p[2], 9), round(p[0], 9))))


def anchor(model: mujoco.MjModel, joint: str) -> np.ndarray:
    return posed(model).xanchor[model.joint(joint).id]


def fromto(*values: float) -> np.ndarray:
    """An ODRL fromto, as the ordered end points `ends` returns."""
    a, b = np.array(values[:3]), np.array(values[3:])
    return np.array(sorted([a, b], key=lambda p: (round(p[2], 9), round(p[0], 9))))


# --- ODRL's files, level by level ---------------------------------------------------------------

def test_halfcheetah_torso_matches_odrl_files():
    # halfcheetah_morph_torso_{easy,hard}.xml: torso fromto -.4 .. .4 / -.1 .. .1, head pos .5 / .2 0 .1,
    # bthigh and fthigh bodies at -.4 / -.1 and .4 / .1. Local coordinates in ODRL and Gymnasium alike.
    for level, half, head in (("easy", 0.4, 0.5), ("hard", 0.1, 0.2)):
        model = model_of("halfcheetah", f"morphology:torso:{level}")
        np.testing.assert_allclose(model.geom("torso").size[:2], [0.046, half], atol=1e-12)
        np.testing.assert_allclose(model.geom("head").pos, [head, 0, 0.1], atol=1e-12)
        np.testing.assert_allclose(model.body("bthigh").pos, [-half, 0, 0], atol=1e-12)
        np.testing.assert_allclose(model.body("fthigh").pos, [half, 0, 0], atol=1e-12)


def test_hopper_torso_matches_odrl_file():
    # hopper_morph_torso_hard.xml (global coordinates): torso_geom fromto "0 0 1.85 0 0 1.05", size 0.125;
    # the hip (thigh_joint pos "0 0 1.05") and the rest of the leg where they were.
    real, model = model_of("hopper"), model_of("hopper", "morphology:torso:hard")
    np.testing.assert_allclose(ends(model, "torso_geom"), fromto(0, 0, 1.85, 0, 0, 1.05), atol=1e-9)
    assert model.geom("torso_geom").size[0] == pytest.approx(0.125)
    np.testing.assert_allclose(anchor(model, "thigh_joint"), [0, 0, 1.05], atol=1e-9)
    np.testing.assert_allclose(ends(model, "foot_geom"), ends(real, "foot_geom"), atol=1e-12)
    # Mass follows the geometry as when MuJoCo compiles ODRL's file: a capsule of density 1000.
    radius, length = 0.125, 0.8
    mass = 1000 * (math.pi * radius**2 * length + 4 / 3 * math.pi * radius**3)
    assert model.body("torso").mass[0] == pytest.approx(mass, rel=1e-9)
    real_mass = 1000 * (math.pi * 0.05**2 * 0.4 + 4 / 3 * math.pi * 0.05**3)
    assert real.body("torso").mass[0] == pytest.approx(real_mass)


def test_hopper_foot_matches_odrl_file():
    # hopper_morph_foot_medium.xml: foot_geom fromto "-0.078 0 0.1 0.156 0 0.1", size 0.036; ankle at 0 0 0.1.
    model = model_of("hopper", "morphology:foot:medium")
    np.testing.assert_allclose(ends(model, "foot_geom"), fromto(-0.078, 0, 0.1, 0.156, 0, 0.1), atol=1e-9)
    assert model.geom("foot_geom").size[0] == pytest.approx(0.036)
    np.testing.assert_allclose(anchor(model, "foot_joint"), [0, 0, 0.1], atol=1e-9)


def test_walker2d_leg_matches_odrl_file():
    # walker2d_morph_leg_medium.xml: thigh_geom fromto "0 0 1.05 0 0 0.35", leg_joint pos "0 0 0.35",
    # leg_geom fromto "0 0 0.35 0 0 0.1", the same on the left; feet unchanged (foot_joint at 0 0 0.1).
    real, model = model_of("walker2d"), model_of("walker2d", "morphology:leg:medium")
    for side in ("", "_left"):
        np.testing.assert_allclose(ends(model, f"thigh{side}_geom"), fromto(0, 0, 1.05, 0, 0, 0.35),
                                   atol=1e-9)
        np.testing.assert_allclose(anchor(model, f"leg{side}_joint"), [0, 0, 0.35], atol=1e-9)
        np.testing.assert_allclose(ends(model, f"leg{side}_geom"), fromto(0, 0, 0.35, 0, 0, 0.1), atol=1e-9)
        np.testing.assert_allclose(anchor(model, f"foot{side}_joint"), [0, 0, 0.1], atol=1e-9)
        np.testing.assert_allclose(ends(model, f"foot{side}_geom"), ends(real, f"foot{side}_geom"),
                                   atol=1e-12)
        assert model.geom(f"thigh{side}_geom").size[0] == real.geom(f"thigh{side}_geom").size[0]


@pytest.mark.parametrize("gap, expected", [
    # ant_morph_alllegs_easy.xml: every ankle fromto "0 0 0 ±.32 ±.32 0" in its body.
    ("morphology:alllegs:easy", {"left": (0.32, 0.32), "right": (-0.32, 0.32), "third": (-0.32, -0.32),
                                 "fourth": (0.32, -0.32)}),
    # ant_morph_halflegs_hard.xml: the front two "0 0 0 ±.08 .08 0", the back two unchanged (±.4 -.4).
    ("morphology:halflegs:hard", {"left": (0.08, 0.08), "right": (-0.08, 0.08), "third": (-0.4, -0.4),
                                  "fourth": (0.4, -0.4)}),
])
def test_ant_legs_match_odrl_files(gap, expected):
    model = model_of("ant", gap)
    for leg, (x, y) in expected.items():
        geom = model.geom(f"{leg}_ankle_geom")
        np.testing.assert_allclose(geom.pos, [x / 2, y / 2, 0], atol=1e-12)
        assert geom.size[:2] == pytest.approx([0.08, math.hypot(x, y) / 2])


def test_halfcheetah_thigh_takes_odrl_lengths_and_keeps_the_rest():
    # halfcheetah_morph_thigh_easy.xml: bthigh fromto "0 0 0 0.11 0 -0.11", fthigh "0 0 0 -0.09 0 -0.1".
    # ODRL also re-aims the thighs and rewrites both shins; gapbench keeps the directions and the shins
    # (docs/odrl-shifts.md), and the knee keeps its offset from the thigh's end.
    real, model = model_of("halfcheetah"), model_of("halfcheetah", "morphology:thigh:easy")
    for thigh, shin, odrl_length in (("bthigh", "bshin", math.hypot(0.11, 0.11)),
                                     ("fthigh", "fshin", math.hypot(0.09, 0.1))):
        assert 2 * model.geom(thigh).size[1] == pytest.approx(odrl_length)
        np.testing.assert_allclose(model.geom(thigh).quat, real.geom(thigh).quat, atol=1e-12)
        old, new = ends(real, thigh), ends(model, thigh)
        hip = anchor(real, thigh)
        far = int(np.argmax(np.linalg.norm(old - hip, axis=1)))
        np.testing.assert_allclose(posed(model).xpos[model.body(shin).id] - new[far],
                                   posed(real).xpos[real.body(shin).id] - old[far], atol=1e-12)
        np.testing.assert_array_equal(model.geom(shin).size, real.geom(shin).size)


# --- numeric forms, attachments, and what else stays ---------------------------------------------

def test_a_shorter_thigh_brings_the_shin_and_foot_along():
    """Hopper's thigh at half length: the knee rises with the thigh's end, and everything below it
    moves with the knee, keeping its offsets."""
    real, model = model_of("hopper"), model_of("hopper", "morphology:thigh_geom:0.5")
    np.testing.assert_allclose(ends(model, "thigh_geom"), fromto(0, 0, 1.05, 0, 0, 0.825), atol=1e-9)
    rise = np.array([0, 0, 0.225])
    np.testing.assert_allclose(anchor(model, "leg_joint"), anchor(real, "leg_joint") + rise, atol=1e-9)
    for geom in ("leg_geom", "foot_geom"):
        np.testing.assert_allclose(ends(model, geom), ends(real, geom) + rise, atol=1e-9)
        np.testing.assert_array_equal(model.geom(geom).size, real.geom(geom).size)


@pytest.mark.parametrize("task, part", [("halfcheetah", "torso"), ("hopper", "foot"), ("walker2d", "leg"),
                                        ("ant", "alllegs")])
def test_a_factor_of_one_rebuilds_the_real_robot(task, part):
    """The rebuild itself changes nothing: a limb times 1 steps exactly like the real env."""
    real, sim = envs.make_real(task, seed=4), envs.make_sim(task, f"morphology:{part}:1.0", seed=4)
    assert sim.unwrapped.model is not real.unwrapped.model
    rng = np.random.default_rng(4)
    for _ in range(20):
        action = rng.uniform(-1, 1, real.action_space.shape).astype(np.float32)
        real_obs, sim_obs = real.step(action)[0], sim.step(action)[0]
        np.testing.assert_allclose(sim_obs, real_obs, rtol=0, atol=1e-9)


def test_the_rebuilt_model_survives_reset_and_a_checkpoint():
    sim = envs.make_sim("hopper", "morphology:torso:hard", seed=0)
    size = sim.unwrapped.model.geom("torso_geom").size.copy()
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (20, 3)).astype(np.float32)
    for _ in range(3):
        sim.reset()
    np.testing.assert_array_equal(sim.unwrapped.model.geom("torso_geom").size, size)
    for a in actions[:5]:
        sim.step(a)
    snapshot = envs.get_env_state(sim)
    continued = [sim.step(a)[0] for a in actions[5:]]
    fresh = envs.make_sim("hopper", "morphology:torso:hard")
    envs.set_env_state(fresh, snapshot)
    np.testing.assert_array_equal([fresh.step(a)[0] for a in actions[5:]], continued)


# --- composition -------------------------------------------------------------------------------

def test_composes_with_scale_gaps_in_either_order():
    """Geometry is rebuilt before any scale gap acts, so `mass` scales the rebuilt masses whichever
    comes first in the string, and the gravity of the composition is the gravity gap's."""
    alone = model_of("hopper", "morphology:torso:hard")
    for text in ("mass:2.0+morphology:torso:hard", "morphology:torso:hard+mass:2.0"):
        model = model_of("hopper", text)
        np.testing.assert_allclose(model.body_mass, 2 * alone.body_mass)
        np.testing.assert_array_equal(model.geom_size, alone.geom_size)
    both = model_of("ant", "gravity:2.0+morphology:alllegs:hard")
    assert both.opt.gravity[2] == pytest.approx(2 * model_of("ant").opt.gravity[2])
    ankle = model_of("ant").geom("third_ankle_geom").size[1]
    assert both.geom("third_ankle_geom").size[1] == pytest.approx(0.2 * ankle)


def test_two_parts_compose_and_change_each_their_own_limbs():
    both = model_of("hopper", "morphology:torso:easy+morphology:foot:hard")
    torso, foot = model_of("hopper", "morphology:torso:easy"), model_of("hopper", "morphology:foot:hard")
    np.testing.assert_array_equal(both.geom("torso_geom").size, torso.geom("torso_geom").size)
    np.testing.assert_array_equal(both.geom("foot_geom").size, foot.geom("foot_geom").size)


def test_composition_keeps_both_gaps_in_the_transitions():
    """From the same state and action, geometry plus gravity differs from each of them alone."""
    real = model_of("ant")
    qpos, qvel, action = real.qpos0.copy(), np.zeros(real.nv), np.full(8, 0.5, np.float32)
    nexts = {}
    for gap in ("morphology:alllegs:hard", "gravity:0.5", "morphology:alllegs:hard+gravity:0.5"):
        env = envs.make_sim("ant", gap, seed=0)
        envs.state.put_in_state(env, qpos, qvel)
        nexts[gap] = env.step(action)[0]
    both = nexts.pop("morphology:alllegs:hard+gravity:0.5")
    for gap, alone in nexts.items():
        assert np.abs(both - alone).max() > 1e-4, gap


# --- strings and errors ------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected, canonical", [
    ("morphology:torso:easy", Morphology("torso", "easy"), "morphology:torso:easy"),
    ("morphology:thigh:0.5", Morphology("thigh", 0.5), "morphology:thigh:0.5"),
    ("morphology:torso:1.2:1.5", Morphology("torso", 1.2, 1.5), "morphology:torso:1.2:1.5"),
    ("morphology:bthigh:2", Morphology("bthigh", 2.0), "morphology:bthigh:2.0"),
    ("morphology:foot:0.4:1", Morphology("foot", 0.4), "morphology:foot:0.4"),
])
def test_strings_round_trip(text, expected, canonical):
    gap = parse_gap(text)
    assert gap == expected and str(gap) == canonical and parse_gap(str(gap)) == gap


def test_composition_round_trips():
    gap = parse_gap("gravity:2.0+morphology:leg:hard+mass:torso:0.5")
    assert gap == Composite((Gravity(2.0), Morphology("leg", "hard"), Mass(0.5, "torso")))
    assert parse_gap(str(gap)) == gap and gap.rebuilds_model


@pytest.mark.parametrize("text, words", [
    ("morphology:torso", ["expected morphology:<part or geom>"]),
    ("morphology:torso:huge", ["length", "easy", "(0, 4]", "'huge'"]),
    ("morphology:torso:0", ["length", "(0, 4]"]),
    ("morphology:torso:4.5", ["length", "(0, 4]"]),
    ("morphology:torso:0.5:-1", ["radius", "(0, 4]"]),
    ("morphology:torso:0.5:wide", ["radius", "(0, 4]"]),
    ("morphology:torso:easy:2", ["radius", "named level"]),
    ("morphology:tor so:0.5", ["part"]),
    ("morphology:torso:easy+morphology:torso:0.5", ["morphology for 'torso' is given twice"]),
])
def test_bad_strings_fail_naming_the_field_and_range(text, words):
    with pytest.raises(ValueError) as err:
        parse_gap(text)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


@pytest.mark.parametrize("task, gap, words", [
    ("hopper", "morphology:wing:0.5", ["no part or geom 'wing'", "'torso', 'foot'", "thigh_geom"]),
    ("halfcheetah", "morphology:bshin:easy", ["no level 'easy' for part 'bshin'", "torso, thigh"]),
    ("walker2d", "morphology:leg:2.0", ["past the hip", "(0, 1.9)"]),
    ("walker2d", "morphology:leg:0.5:2", ["no radius"]),
    ("hopper", "morphology:floor:0.5", ["no hinge"]),
])
def test_bad_targets_fail_when_applied_naming_the_valid_ones(task, gap, words):
    with pytest.raises(ValueError) as err:
        envs.make_sim(task, gap)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_parts_text_names_limbs_and_odrl_factors():
    from gapbench.envs.odrl_levels import morphology_parts_text

    assert morphology_parts_text("hopper") == ("torso (torso_geom: length 1.2/1.6/2x, radius 1.5/2/2.5x); "
                                               "foot (foot_geom: length 0.8/0.6/0.4x, radius 0.8/0.6/0.4x)")
    assert "leg (leg_geom below a moving knee" in morphology_parts_text("walker2d")
    assert morphology_parts_text("wheel-legged-stand") == ""


def test_every_odrl_morph_environment_has_a_gap_string():
    from gapbench.envs.odrl_levels import odrl_gap_strings

    rows = dict(odrl_gap_strings("walker2d"))
    assert rows["walker2d-morph-leg hard"] == "morphology:leg:hard"
    assert rows["walker2d-morph-torso easy"] == "morphology:torso:easy"
    for task in ("halfcheetah", "hopper", "walker2d", "ant"):
        gaps = [gap for name, gap in odrl_gap_strings(task) if "-morph-" in name]
        assert len(gaps) == 6
        for gap in gaps:
            envs.make_sim(task, gap)  # every one builds

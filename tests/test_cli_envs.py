"""`gapbench gaps measure`, `gapbench list` and `--help`, through the console script."""

from __future__ import annotations

import re

import pytest

from tests.cli_support import run_cli


def measured(stdout: str) -> tuple[float, float]:
    match = re.search(r"mean ([0-9.]+), max ([0-9.]+)", stdout)
    assert match, stdout
    return float(match.group(1)), float(match.group(2))


def test_measure_real_against_none_is_zero():
    proc = run_cli("gaps", "measure", "--task", "halfcheetah", "--gap", "none", "--samples", "300", check=True)
    assert measured(proc.stdout) == (0.0, 0.0)


@pytest.mark.parametrize("gap", ["gravity:2.0", "friction:0.3", "joint_noise:1.0", "velocity_offset:0.1"])
def test_measure_paper_gaps_are_clearly_above_zero(gap):
    proc = run_cli("gaps", "measure", "--gap", gap, "--samples", "300", check=True)
    mean, worst = measured(proc.stdout)
    assert mean > 0.01 and worst >= mean


@pytest.mark.parametrize("task, gap", [("hopper", "kinematic:foot:hard"), ("ant", "mass:2.0"),
                                       ("walker2d", "action_delay:1"), ("halfcheetah", "obs_noise:0.1")])
def test_measure_takes_the_new_kinds_on_every_task(task, gap):
    mean, worst = measured(run_cli("gaps", "measure", "--task", task, "--gap", gap, "--samples", "200", check=True).stdout)
    assert mean > 0.0 and worst >= mean


def test_list_gaps_shows_odrl_levels_per_task():
    out = run_cli("list", "gaps", check=True).stdout
    assert "hopper       foot (foot_joint); leg (leg_joint)" in out and "hard = 0.2x" in out
    assert "action_delay:<steps>" in out and "wheel_legged_sim:" in out
    morph = out[out.index("ODRL's morphology levels"):].splitlines()[1:5]
    assert [line.split()[0] for line in morph] == ["halfcheetah", "hopper", "walker2d", "ant"]
    assert "torso (torso_geom: length 1.2/1.6/2x, radius 1.5/2/2.5x)" in morph[1]  # hopper_morph_torso_*.xml


@pytest.mark.parametrize("args, expected", [
    (["gaps", "measure", "--gap", "gravty:2"], "valid gaps: none, gravity:<scale>"),
    (["gaps", "measure", "--gap", "gravity:2", "--task", "cheetah"], "valid tasks: ant, halfcheetah"),
    (["gaps", "measure", "--gap", "friction:-1"], "friction: scale must be a positive"),
])
def test_bad_input_is_one_line_and_non_zero(args, expected):
    proc = run_cli(*args)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and expected in proc.stderr


def test_help_explains_every_subcommand():
    out = run_cli("--help", check=True).stdout
    for command in ("list", "gaps", "datasets"):
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), out


def test_list_tasks_and_gaps():
    assert "HalfCheetah-v5" in run_cli("list", "tasks", check=True).stdout
    gaps = run_cli("list", "gaps", check=True).stdout
    for usage in ("gravity:<scale>", "friction:<scale>", "joint_noise:<std>", "velocity_offset:<k>", "none"):
        assert usage in gaps

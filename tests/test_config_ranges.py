"""Every config field's valid range, declared next to it, is checked when a command starts.

Each bad value is one line naming the field, the value and the range, exit status 2, and nothing
is written: no results folder, no dataset cache.
"""

from __future__ import annotations

import dataclasses
import typing

import pytest

from tests.cli_support import run_cli

# (arguments of `gapbench run --methods h2o`, what the one line of stderr says)
BAD_INPUT = [
    (["--with", "eval_every=0"], "eval_every=0 is out of range; valid: >= 1"),
    (["--with", "log_every=0"], "log_every=0 is out of range; valid: >= 1"),
    (["--with", "checkpoint_every=0"], "checkpoint_every=0 is out of range; valid: >= 1"),
    (["--with", "device=nosuch"], "device='nosuch' is out of range; valid: cpu"),
    (["--with", "torch_threads=0"], "torch_threads=0 is out of range; valid: >= 1"),
    (["--with", "sim_buffer_size=-1"], "sim_buffer_size=-1 is out of range; valid: >= 0"),
    (["--with", "updates_per_epoch=0"], "updates_per_epoch=0 is out of range; valid: >= 1"),
    (["--with", "final_eval_episodes=0"], "final_eval_episodes=0 is out of range; valid: >= 1"),
    (["--with", "beta=-1"], "method h2o: beta=-1.0 is out of range; valid: >= 0"),
    (["--with", "h2o.u_clip=[2,1]"], "u_clip=[2.0, 1.0] is out of range; valid: a (low, high) pair with low <= high"),
    (["--with", "hidden=[256,0]"], "hidden=[256, 0] is out of range; valid: >= 1"),
    (["--with", "steps=-5"], "--with steps: the number of updates is set with --steps N"),
    (["--with", "train.steps=10"], "--with train.steps: the number of updates is set with --steps N"),
    (["--steps", "-5"], "--steps -5 is out of range; valid: >= 1"),
    (["--seeds", "0,0"], "--seeds lists seed 0 more than once"),
    (["--seeds", "-1"], "--seeds must be non-negative integers"),
    (["--population", "0"], "--population must be at least 1, got 0"),
    (["--gaps", "gravity:2.0+gravity:3.0"], "gravity is given twice (gravity:2.0 and gravity:3.0)"),
]


# Each case starts the console script (torch, Sacred: seconds each on a busy machine); the default
# run checks one of each kind of range and the slow run, which CI runs too, all of them.
QUICK = {"--with eval_every=0", "--with device=nosuch", "--with beta=-1", "--with h2o.u_clip=[2,1]",
         "--with steps=-5", "--seeds 0,0"}
CASES = [pytest.param(args, expected, id=" ".join(args),
                      marks=() if " ".join(args) in QUICK else pytest.mark.slow) for args, expected in BAD_INPUT]


@pytest.mark.parametrize("args, expected", CASES)
def test_a_bad_value_is_one_line_and_exit_2_with_nothing_written(tmp_path, args, expected):
    results, cache = tmp_path / "results", tmp_path / "cache"
    proc = run_cli("run", "--methods", "h2o", "--results", str(results), *args, env={"GAPBENCH_DATA": str(cache)})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and expected in lines[0], proc.stderr
    assert not results.exists() and not cache.exists()


def test_status_checks_the_same_ranges(tmp_path):
    proc = run_cli("status", "--methods", "sac", "--with", "eval_every=0", "--results", str(tmp_path / "r"))
    assert proc.returncode == 2 and "eval_every=0 is out of range" in proc.stderr
    assert not (tmp_path / "r").exists()


def config_classes():
    from gapbench import algos
    from gapbench.benchmark.training.loop import TrainConfig

    return sorted({m.agent.Config for m in algos.methods()} | {TrainConfig}, key=lambda c: c.__name__)


@pytest.mark.parametrize("config_cls", config_classes(), ids=lambda c: c.__name__)
def test_every_numeric_field_declares_its_range(config_cls):
    """Switches and choices are checked by their type; every number (or tuple of numbers) needs a
    range, declared with `ranged()` where the field is, even if it is "any number"."""
    hints = typing.get_type_hints(config_cls)
    undeclared = [f.name for f in dataclasses.fields(config_cls)
                  if hints[f.name] not in (bool, str) and typing.get_origin(hints[f.name]) is not typing.Literal
                  and "valid" not in f.metadata]
    assert not undeclared, f"{config_cls.__name__} fields without a declared range: {undeclared}"

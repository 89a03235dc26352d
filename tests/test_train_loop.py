"""The training loop: schedule, logging, exact resume from a checkpoint, divergence detection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gapbench import envs
from gapbench.algos import get_method
from gapbench.benchmark.training.loop import Diverged, Training, TrainConfig


def tiny_real_data(n: int = 3000, seed: int = 0) -> envs.Transitions:
    """Random-policy transitions of the real env: enough for the loop, not for learning."""
    env = envs.make_real("halfcheetah", seed=seed)
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")}
    obs = env.reset(seed=seed)[0]
    for _ in range(n):
        action = rng.uniform(-1, 1, 6).astype(np.float32)
        nxt, reward, term, trunc, _ = env.step(action)
        for key, value in zip(rows, (obs, action, reward, nxt, term, trunc)):
            rows[key].append(value)
        obs = env.reset()[0] if term or trunc else nxt
    return envs.Transitions(**{k: np.asarray(v, np.float32 if k not in ("terminals", "timeouts") else bool)
                               for k, v in rows.items()})


class Recorded:
    def __init__(self):
        self.scalars, self.events = [], []

    def scalar(self, name, step, value):
        self.scalars.append((name, step, value))

    def artifact(self, name, path):
        self.events.append(("artifact", name))

    def progress(self, **fields):
        self.events.append(fields)


CFG = dict(steps=60, sim_steps_per_epoch=20, updates_per_epoch=20, eval_every=30, eval_episodes=1,
           final_eval_episodes=1, log_every=10, checkpoint_every=20)


def make(method: str, tmp_path, data, seeds=(0,), **changes) -> tuple[Training, Recorded]:
    torch.set_num_threads(1)
    recorder = Recorded()
    cfg = TrainConfig(**{**CFG, **changes})
    gap = envs.parse_gap("gravity:2.0")
    overrides = {"batch_size": 32} if method in ("sac", "cql") else {}
    training = Training(get_method(method), overrides, cfg, "halfcheetah", gap, data, list(seeds), recorder,
                        checkpoint_path=tmp_path / "ckpt.pt", artifact_dir=tmp_path / "artifacts")
    return training, recorder


@pytest.fixture(scope="module")
def data():
    return tiny_real_data()


def test_schedule_and_logged_series(tmp_path, data):
    training, recorder = make("h2o", tmp_path, data, seeds=(0, 1))
    result = training.run()
    assert result["seeds"] == [0, 1] and result["steps"] == 60 and len(result["final_return"]) == 2
    eval_steps = sorted({s for n, s, _ in recorder.scalars if n == "eval/return/seed1"})
    assert eval_steps == [0, 30, 60]
    train_steps = sorted({s for n, s, _ in recorder.scalars if n == "train/q/bellman_sim/seed0"})
    assert train_steps == [10, 20, 30, 40, 50, 60]
    assert {n for n, *_ in recorder.scalars} >= {"train/h2o/u_mean/seed0", "train/h2o/omega_std/seed1",
                                                  "train/h2o/dynamics_ratio_mean/seed0", "train/alpha/value/seed1"}
    # 3 epochs of 20 sim steps per member; the buffer holds all of them
    assert len(training.buffer) == 60 and training.collector.steps == 60
    spec = envs.get_task("halfcheetah")
    finals = {n: v for n, s, v in recorder.scalars if n.startswith("final/")}
    assert finals["final/normalized/seed0"] == pytest.approx(spec.normalized_score(finals["final/return/seed0"]))


class Stop(Exception):
    pass


@pytest.mark.parametrize("method", ["h2o", "sac", "cql"])
def test_resume_from_checkpoint_ends_where_an_uninterrupted_run_does(tmp_path, data, method):
    whole, whole_log = make(method, tmp_path / "whole", data)
    expected = whole.run()

    interrupted, _ = make(method, tmp_path / "cut", data)

    def kill_after_first_checkpoint(t):
        if t.step == 40:  # the checkpoint at the end of epoch 1 (update 20) exists; epoch 2 is lost
            raise Stop

    with pytest.raises(Stop):
        interrupted.run(on_epoch=kill_after_first_checkpoint)
    resumed, resumed_log = make(method, tmp_path / "cut", data)
    assert resumed.run() == expected
    assert resumed_log.scalars == whole_log.scalars  # the full history, replayed and continued
    for p, q in zip(whole.agent.parameters(), resumed.agent.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_divergence_is_reported_with_its_update(tmp_path, data):
    training, _ = make("sac", tmp_path, data)
    training.agent = get_method("sac").make(training.agent.spec, {"qf_lr": 1e30, "batch_size": 32})
    with pytest.raises(Diverged) as err:
        training.run()
    assert 1 <= err.value.step <= 60 and "non-finite" in err.value.reason


def artifacts(recorder) -> list[str]:
    return [name for kind, name in (e for e in recorder.events if isinstance(e, tuple)) if kind == "artifact"]


def test_the_diagnostics_h2o_offers_are_saved(tmp_path, data):
    training, recorder = make("h2o", tmp_path, data, diagnostics_every=30, diagnostics_batch=64)
    training.run()
    names = sorted(name for name in artifacts(recorder) if name.startswith("diagnostics_"))
    assert names == ["diagnostics_step000000030.npz", "diagnostics_step000000060.npz"]
    snap = np.load(tmp_path / "artifacts" / names[0])
    assert snap["u"].shape == snap["q"].shape == snap["x_velocity"].shape == (1, 64)
    np.testing.assert_allclose(snap["omega"].sum(-1), 1.0, rtol=1e-5)


def test_a_method_that_offers_no_diagnostics_saves_none(tmp_path, data):
    training, recorder = make("sac", tmp_path, data, diagnostics_every=30, diagnostics_batch=64)
    training.run()
    # the final evaluation's episode trace is saved for every method; diagnostics only when offered
    assert artifacts(recorder) == ["final_episode.npz"]


def test_the_loop_gives_iqls_reward_scale_the_datasets_return_range(tmp_path, data):
    """`--with iql.reward_scale=None` (the authors' 1000 / (max - min episode return)) works in a run:
    the loop passes the rewards with the states. The range here is rebuilt by hand from the
    episode flags the recorder wrote (terminals and timeouts), not from the s' discontinuities
    the method's own cut uses."""
    cfg = TrainConfig(**CFG)
    training = Training(get_method("iql"), {"reward_scale": None, "hidden": (8,)}, cfg, "halfcheetah",
                        envs.NoGap(), data, [0], Recorded())
    returns, total = [], 0.0
    for reward, term, timeout in zip(data.rewards.astype(np.float64), data.terminals, data.timeouts):
        total += reward
        if term or timeout:
            returns.append(total)
            total = 0.0
    if not (data.terminals[-1] or data.timeouts[-1]):
        returns.append(total)  # an unfinished last episode counts, as the authors count it
    assert len(returns) >= 2
    assert training.agent.reward_scale == pytest.approx(1000.0 / (max(returns) - min(returns)), rel=1e-9)

"""D4RL-format loading, saving, validation and the `datasets check` command."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from gapbench import envs
from gapbench.envs import DatasetError, Transitions, load_d4rl, save_d4rl
from gapbench.envs.d4rl_file import arrays_sha256, read_d4rl_arrays
from tests.cli_support import run_cli

OBS, ACT = 17, 6


def write_file(path: Path, n: int = 10, *, terminals=(), timeouts=(), next_obs: bool = True,
               with_timeouts: bool = True, rewards=None, drop=(), replace=None, **overrides) -> Path:
    """Row i observes the value i everywhere and (if stored) i + 100 next, so tests can tell."""
    arrays = {
        "observations": np.repeat(np.arange(n, dtype=np.float32)[:, None], OBS, axis=1),
        "actions": np.full((n, ACT), 0.5, np.float32),
        "rewards": np.arange(n, dtype=np.float32) if rewards is None else np.asarray(rewards, np.float32),
        "terminals": np.isin(np.arange(n), terminals),
    }
    if with_timeouts:
        arrays["timeouts"] = np.isin(np.arange(n), timeouts)
    if next_obs:
        arrays["next_observations"] = arrays["observations"] + 100
    arrays.update(overrides)
    arrays.update(replace or {})
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            if key not in drop:
                f[key] = value
    return path


def rows_of(t: Transitions) -> list[int]:
    return t.observations[:, 0].astype(int).tolist()


def test_timeouts_and_terminals_with_stored_next_observations(tmp_path):
    t = load_d4rl(write_file(tmp_path / "a.hdf5", terminals=[3], timeouts=[6]))
    # the time-limit row 6 is dropped; the last row 9 is kept because its next state is stored
    assert rows_of(t) == [0, 1, 2, 3, 4, 5, 7, 8, 9]
    np.testing.assert_array_equal(t.next_observations[:, 0], np.array(rows_of(t)) + 100)
    np.testing.assert_array_equal(t.terminals, np.array(rows_of(t)) == 3)
    assert not t.timeouts.any()
    np.testing.assert_array_equal(t.rewards, np.array(rows_of(t), np.float32))
    assert t.observations.dtype == np.float32 and t.terminals.dtype == bool


def test_without_next_observations_d4rl_pairs_row_i_with_row_i_plus_1(tmp_path):
    t = load_d4rl(write_file(tmp_path / "b.hdf5", terminals=[3], timeouts=[6], next_obs=False))
    assert rows_of(t) == [0, 1, 2, 3, 4, 5, 7, 8]  # the time-limit row and the final row go
    np.testing.assert_array_equal(t.next_observations[:, 0], [1, 2, 3, 4, 5, 6, 8, 9])


def test_without_timeouts_the_time_limit_cuts_every_max_steps_since_a_terminal(tmp_path):
    path = write_file(tmp_path / "c.hdf5", terminals=[3], with_timeouts=False)
    t = load_d4rl(path, max_episode_steps=3)
    # episodes [0 1 2 | 3(terminal)] [4 5 6] [7 8 9]: the third step of each is a time-limit row
    assert rows_of(t) == [0, 1, 3, 4, 5, 7, 8]
    np.testing.assert_array_equal(t.terminals, np.array(rows_of(t)) == 3)


def test_keeping_timeout_rows_like_the_authors_loader(tmp_path):
    t = load_d4rl(write_file(tmp_path / "d.hdf5", timeouts=[4]), drop_timeouts=False)
    assert rows_of(t) == list(range(10))
    np.testing.assert_array_equal(t.timeouts, np.arange(10) == 4)
    with pytest.raises(DatasetError, match="next_observations"):
        load_d4rl(write_file(tmp_path / "e.hdf5", timeouts=[4], next_obs=False), drop_timeouts=False)


def random_transitions(n: int, seed: int) -> Transitions:
    rng = np.random.default_rng(seed)
    return Transitions(
        observations=rng.standard_normal((n, OBS)).astype(np.float32),
        actions=rng.uniform(-1, 1, (n, ACT)).astype(np.float32),
        rewards=rng.standard_normal(n).astype(np.float32),
        next_observations=rng.standard_normal((n, OBS)).astype(np.float32),
        terminals=rng.random(n) < 0.05,
        timeouts=rng.random(n) < 0.05,
    )


def test_save_load_round_trip_is_exact(tmp_path):
    original = random_transitions(500, 0)
    meta = {"task": "halfcheetah", "size": 500, "budget": 1.5, "ok": True, "recipe": {"kind": "medium", "n": [1, 2]}}
    path = save_d4rl(original, tmp_path / "rt.hdf5", meta)
    loaded = load_d4rl(path, drop_timeouts=False)
    assert loaded.equals(Transitions(**original.arrays(), metadata=meta))
    # saved again, the same file content comes back
    again = load_d4rl(save_d4rl(loaded, tmp_path / "rt2.hdf5"), drop_timeouts=False)
    assert again.equals(loaded)
    # with no time-limit rows, the default (D4RL) load is exact as well
    no_timeouts = Transitions(**{**original.arrays(), "timeouts": np.zeros(500, bool)})
    assert load_d4rl(save_d4rl(no_timeouts, tmp_path / "rt3.hdf5")).equals(no_timeouts)


def test_check_summarises_the_behaviour_data(tmp_path):
    # episodes: rows 0-3 (terminal at 3) and rows 4-6 (time limit at 6); rows 7-9 unfinished
    rewards = np.arange(10.0)
    summary = envs.check_d4rl(write_file(tmp_path / "s.hdf5", terminals=[3], timeouts=[6], rewards=rewards),
                              "halfcheetah")
    returns = [0 + 1 + 2 + 3, 4 + 5 + 6]
    assert (summary.rows, summary.transitions, summary.episodes, summary.partial_rows) == (10, 9, 2, 3)
    assert summary.return_mean == pytest.approx(np.mean(returns))
    assert summary.return_std == pytest.approx(np.std(returns))
    assert (summary.return_min, summary.return_max) == (6.0, 15.0)
    assert summary.normalized_mean == pytest.approx(100 * (10.5 + 280.178953) / (12135.0 + 280.178953))


def test_the_digest_is_sha256_over_the_arrays_in_order_and_ignores_the_metadata(tmp_path):
    path = write_file(tmp_path / "d.hdf5", terminals=[3], timeouts=[6])
    by_hand = hashlib.sha256()
    with h5py.File(path, "r") as f:
        for key in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts"):
            by_hand.update(f[key][()].tobytes())
    assert arrays_sha256(read_d4rl_arrays(path)) == by_hand.hexdigest()
    # the same arrays under other metadata: the same digest
    with h5py.File(path, "a") as f:
        f["metadata/recipe"] = "renamed"
    assert arrays_sha256(read_d4rl_arrays(path)) == by_hand.hexdigest()
    # one reward changed by one float32 step: another digest
    rewards = np.arange(10, dtype=np.float32)
    rewards[9] = np.nextafter(rewards[9], np.float32(np.inf))
    other = write_file(tmp_path / "e.hdf5", terminals=[3], timeouts=[6], rewards=rewards)
    assert arrays_sha256(read_d4rl_arrays(other)) != by_hand.hexdigest()


def test_normalised_score_uses_d4rl_references():
    assert envs.get_task("halfcheetah").normalized_score(4800.0) == pytest.approx(40.92, abs=0.01)


BAD_FILES = {
    "missing key": (lambda p: write_file(p, drop=("rewards",)), "missing key(s) rewards"),
    "observation dims": (lambda p: write_file(p, observations=np.zeros((10, 11), np.float32),
                                              drop=("next_observations",)), "observations have 11 dims"),
    "action dims": (lambda p: write_file(p, actions=np.zeros((10, 3), np.float32)), "actions have 3 dims"),
    "nan": (lambda p: write_file(p, observations=np.where(np.eye(10, OBS) > 0, np.nan, 1.0).astype(np.float32)),
            "NaN/inf"),
    "inf reward": (lambda p: write_file(p, rewards=[0] * 9 + [np.inf]), "rewards contain 1 NaN/inf value(s), first in row 9"),
    "length mismatch": (lambda p: write_file(p, replace={"timeouts": np.zeros(7, bool)}), "timeouts has shape"),
    "string dtype": (lambda p: write_file(p, replace={"terminals": np.array([b"x"] * 10)}), "terminals must hold booleans"),
    "long episode": (lambda p: write_file(p, n=1200), "longer than the time limit of 1000"),
    "truncated": (lambda p: _truncated(p), "truncated or corrupt"),
    "not hdf5": (lambda p: (p.write_text("observations,actions\n1,2\n"), p)[1], "not an HDF5 file"),
}


def _truncated(path: Path) -> Path:
    save_d4rl(random_transitions(2000, 1), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_fail_with_one_line_naming_file_and_problem(tmp_path, case):
    make, problem = BAD_FILES[case]
    path = tmp_path / f"{case.replace(' ', '_')}.hdf5"
    make(path)
    with pytest.raises(DatasetError) as err:
        envs.check_d4rl(path, "halfcheetah")
    assert str(err.value).startswith(str(path)) and problem in str(err.value)
    proc = run_cli("datasets", "check", str(path), "--task", "halfcheetah")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and problem in lines[0]
    assert proc.stdout == ""


def test_datasets_check_cli_prints_summary(tmp_path):
    path = write_file(tmp_path / "ok.hdf5", terminals=[3], timeouts=[6])
    proc = run_cli("datasets", "check", str(path), check=True)
    assert "OK for task halfcheetah" in proc.stdout
    assert "episodes 2" in proc.stdout and "usable transitions 9" in proc.stdout
    assert "normalised score" in proc.stdout
    assert f"arrays sha256: {arrays_sha256(read_d4rl_arrays(path))}" in proc.stdout


def test_d4rl_files_are_found_under_their_download_names(tmp_path, monkeypatch):
    monkeypatch.setenv("D4RL_DATASET_DIR", str(tmp_path))
    assert envs.d4rl_path("halfcheetah", "medium-replay") == tmp_path / "halfcheetah_medium_replay-v2.hdf5"
    monkeypatch.delenv("D4RL_DATASET_DIR")
    assert envs.d4rl_path("halfcheetah", "medium") == Path("~/.d4rl/datasets/halfcheetah_medium-v2.hdf5").expanduser()


def test_minari_dataset_loads_as_transitions(tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    from minari.data_collector import EpisodeBuffer

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    env = envs.make_real("halfcheetah")
    rng = np.random.default_rng(0)
    buffers, episodes = [], []
    for ep, length in enumerate([7, 5]):
        obs = [env.reset(seed=ep)[0]]
        actions, rewards, terms, truncs = [], [], [], []
        for t in range(length):
            a = rng.uniform(-1, 1, ACT).astype(np.float32)
            o, r, te, _, _ = env.step(a)
            obs.append(o), actions.append(a), rewards.append(r), terms.append(te), truncs.append(t == length - 1)
        episodes.append((np.array(obs), np.array(actions), np.array(rewards)))
        buffers.append(EpisodeBuffer(id=ep, observations=np.array(obs), actions=np.array(actions),
                                     rewards=np.array(rewards), terminations=np.array(terms),
                                     truncations=np.array(truncs), infos={}))
    minari.create_dataset_from_buffers("test/halfcheetah/tiny-v0", buffers, env=env, algorithm_name="random",
                                       author="gapbench tests", author_email="-", code_permalink="-",
                                       description="tiny", data_format="hdf5")
    t = envs.load_minari("test/halfcheetah/tiny-v0")
    assert len(t) == 12
    np.testing.assert_allclose(t.observations[:7], episodes[0][0][:-1])
    np.testing.assert_allclose(t.next_observations[7:], episodes[1][0][1:])
    np.testing.assert_allclose(t.actions[7:], episodes[1][1])
    np.testing.assert_array_equal(t.timeouts, np.isin(np.arange(12), [6, 11]))
    assert not t.terminals.any()


def test_probe_returns_count_only_the_episodes_a_rollout_finished():
    """Three rollouts' worth of rows, hand-summed: an episode ended by a terminal (rows 0-1), one cut
    by the time limit of 3 (rows 2-4) and one the rollout's own length cut short (rows 5-6)."""
    from gapbench.benchmark.data.generation import episode_returns

    rewards = np.array([1.0, 2.0, 10.0, 20.0, 30.0, 100.0, 200.0], np.float32)
    terminals = np.array([0, 1, 0, 0, 0, 0, 0], bool)
    timeouts = np.array([0, 0, 0, 0, 1, 0, 1], bool)
    obs = np.zeros((7, 2), np.float32)
    data = Transitions(obs, np.zeros((7, 1), np.float32), rewards, obs, terminals, timeouts)
    np.testing.assert_array_equal(episode_returns(data, max_episode_steps=3), [3.0, 60.0])

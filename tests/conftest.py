"""Shared test helpers: the console script, a scratch data cache, hand-made HDF5 files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GAPBENCH = str(Path(sys.executable).with_name("gapbench"))


def pytest_configure(config):
    """`pytest -n 2` already keeps every core busy: extra intra-op threads would only contend."""
    import torch

    torch.set_num_threads(1)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600, check: bool = False):
    """Run the installed `gapbench` console script as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([GAPBENCH, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"gapbench {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(autouse=True)
def _isolated_data_dirs(tmp_path_factory, monkeypatch):
    """Never read or write the user's real D4RL folder or gapbench cache from a test."""
    if "GAPBENCH_TEST_KEEP_ENV" not in os.environ:
        base = tmp_path_factory.getbasetemp()
        monkeypatch.setenv("D4RL_DATASET_DIR", str(base / "d4rl-empty"))
        monkeypatch.setenv("GAPBENCH_DATA", str(base / "gapbench-cache"))


# A tiny budget every CLI test of a real sweep uses: real envs, real Sacred, seconds per run.
TINY_DATA = ["--data-size", "1000", "--data-budget", "300"]
TINY_TRAIN = ["--with", "updates_per_epoch=50", "--with", "sim_steps_per_epoch=50", "--with", "eval_every=50",
              "--with", "eval_episodes=1", "--with", "final_eval_episodes=1", "--with", "log_every=25",
              "--with", "cql.batch_size=32"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory):
    """A real MongoDB wire-protocol server (SecantusDB) on 127.0.0.1 for the session."""
    import socket
    import time

    pytest.importorskip("secantus", reason="the Mongo tests need `pip install secantusdb`")
    port = free_port()
    log = open(tmp_path_factory.mktemp("mongo") / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
                               "--storage-path", ":memory:"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        raise RuntimeError("SecantusDB did not start")
    yield f"mongodb://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)

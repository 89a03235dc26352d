"""Fixtures and hooks shared by every test. Helpers live in tests/*_support.py, imported as `tests.<module>`."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.analysis_support import build_store, store_env
from tests.cli_support import free_port


def pytest_configure(config):
    """`pytest -n 2` already keeps every core busy: extra intra-op threads would only contend."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_data_dirs(tmp_path_factory, monkeypatch):
    """Never read or write the user's real D4RL folder or gapbench cache from a test."""
    if "GAPBENCH_TEST_KEEP_ENV" not in os.environ:
        base = tmp_path_factory.getbasetemp()
        monkeypatch.setenv("D4RL_DATASET_DIR", str(base / "d4rl-empty"))
        monkeypatch.setenv("GAPBENCH_DATA", str(base / "gapbench-cache"))


@pytest.fixture(scope="session")
def results_store(tmp_path_factory) -> Path:
    """A results store built by real `gapbench run` sweeps (`analysis_support.build_store`).

    Built once per test session: under xdist the first worker builds it behind a file lock in the
    session's shared temp folder and the others reuse it. Tests must copy it before changing it.
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    store = root / "analysis-store"
    with open(root / "analysis-store.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (store / "complete").exists():
            shutil.rmtree(store, ignore_errors=True)  # a half-built store from a worker that crashed
            build_store(store / "results", store_env(root))
            (store / "complete").write_text("")
    return store / "results"


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory):
    """A real MongoDB wire-protocol server (SecantusDB) on 127.0.0.1 for the session."""
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

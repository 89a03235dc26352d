"""Shared test helpers: the console script, a scratch data cache, hand-made HDF5 files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GAPBENCH = str(Path(sys.executable).with_name("gapbench"))


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

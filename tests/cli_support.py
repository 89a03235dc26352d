"""Running the installed `gapbench` console script as a user would, with a tiny training budget."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

GAPBENCH = str(Path(sys.executable).with_name("gapbench"))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600, check: bool = False):
    """Run the installed `gapbench` console script as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([GAPBENCH, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"gapbench {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


# A tiny budget every CLI test of a real sweep uses: real envs, real Sacred, seconds per run.
TINY_DATA = ["--data-size", "1000", "--data-budget", "300"]
TINY_TRAIN = ["--with", "updates_per_epoch=50", "--with", "sim_steps_per_epoch=50", "--with", "eval_every=50",
              "--with", "eval_episodes=1", "--with", "final_eval_episodes=1", "--with", "log_every=25",
              "--with", "cql.batch_size=32"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

"""tox runs the suite with `pytest -n 2 --dist loadgroup`. Tests that share an expensive module
fixture carry an `xdist_group` (the six-seed SAC population, the quick preset's store) and must run
on one worker, or each worker builds the fixture again: about 100 s for the SAC population. pytest
9.2 with xdist 3.8 drops the groups without a word (pytest-xdist issue #1386). This runs a small
suite in a subprocess, with the installed pytest and xdist, and checks which worker ran each test."""

from __future__ import annotations

import re
import subprocess
import sys

SUITE = '''
import pytest

@pytest.mark.xdist_group("shared")
@pytest.mark.parametrize("i", range(4))
def test_grouped(i):
    pass

@pytest.mark.parametrize("i", range(4))
def test_free(i):
    pass
'''


def test_the_tests_of_one_xdist_group_run_on_one_worker(tmp_path):
    (tmp_path / "test_suite.py").write_text(SUITE)
    command = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
               "test_suite.py"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    workers = {m.group(2): m.group(1) for m in re.finditer(r"\[(gw\d+)\] .*?PASSED (\S+)", run.stdout)}
    assert len(workers) == 8 and set(workers.values()) == {"gw0", "gw1"}, run.stdout  # both workers ran tests
    assert len({w for test, w in workers.items() if "test_grouped" in test}) == 1, workers

"""tox runs the suite with `pytest -n 2 --dist loadgroup`. Tests that share an expensive fixture (the
six-seed SAC population, the quick preset's store, the analysis store) must run on one worker, or
each worker builds the fixture again, about 100 s each. pytest 9.2 with xdist 3.8 dropped the groups
without a word (pytest-xdist issue #1386). These run small suites in a subprocess, with the installed
pytest and xdist, and check which worker ran each test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MARKED = '''
import pytest

@pytest.mark.xdist_group("shared")
@pytest.mark.parametrize("i", range(4))
def test_grouped(i):
    pass

@pytest.mark.parametrize("i", range(4))
def test_free(i):
    pass
'''

READERS = '''
import pytest

@pytest.fixture(scope="session")
def results_store():
    return None

@pytest.mark.parametrize("i", range(4))
def test_reads_the_store(i, results_store):
    pass

@pytest.mark.parametrize("i", range(4))
def test_free(i):
    pass
'''


def worker_of_each_test(folder: Path, source: str, *plugins: str) -> dict[str, str]:
    (folder / "test_suite.py").write_text(source)
    options = [arg for plugin in plugins for arg in ("-p", plugin)]
    command = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
               *options, "test_suite.py"]
    run = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stdout + run.stderr
    workers = {m.group(2): m.group(1) for m in re.finditer(r"\[(gw\d+)\] .*?PASSED (\S+)", run.stdout)}
    assert len(workers) == 8, run.stdout
    return workers


def test_the_tests_of_one_xdist_group_run_on_one_worker(tmp_path):
    workers = worker_of_each_test(tmp_path, MARKED)
    assert len({w for test, w in workers.items() if "test_grouped" in test}) == 1, workers


def test_the_readers_of_the_analysis_store_run_on_one_worker(tmp_path):
    workers = worker_of_each_test(tmp_path, READERS, "tests.xdist_support")
    assert len({w for test, w in workers.items() if "test_reads_the_store" in test}) == 1, workers

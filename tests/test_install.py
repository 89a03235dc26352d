"""The built package installs as one top-level `gapbench`, and works away from the checkout.

The wheel is built from a copy of the checkout and installed into a fresh venv that has no
packages of its own. The test env's dependencies (torch, Sacred, ...) are visible to it through
a path entry, which adds their folder to sys.path without running that folder's .pth files, so
the editable install of the checkout stays invisible.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ["pyproject.toml", "README.md", "api", "envs", "algos", "benchmark", "analysis"]

CHECKS = """
import importlib.util, pathlib, sys
import gapbench
import gapbench.envs, gapbench.algos, gapbench.benchmark, gapbench.analysis
assert pathlib.Path(gapbench.__file__).is_relative_to(sys.prefix), gapbench.__file__
for name in ("envs", "algos", "benchmark", "analysis", "api"):
    assert importlib.util.find_spec(name) is None, f"{name} is importable"
sim = gapbench.make_sim("halfcheetah", "gravity:2.0", seed=0)
assert [m.name for m in gapbench.methods()][:5] == ["sac", "cql", "darc", "darc+", "h2o"]
print("ok")
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel of this checkout installed, and nothing else of its own."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"  # a copy: building in the checkout would leave build/ behind
    source.mkdir()
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(base / "dist"), str(source)], check=True, cwd=base)
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", *map(str, (base / "dist").glob("*.whl"))], check=True, cwd=base)
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "test-env-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def test_only_gapbench_lands_in_site_packages(installed):
    site = next((installed / "lib").glob("python*/site-packages"))
    ours = sorted(p.name for p in site.iterdir() if p.name != "test-env-dependencies.pth")
    assert ours[0] == "gapbench" and [n for n in ours[1:] if not n.startswith("gapbench-")] == []


def test_the_installed_package_imports_away_from_the_checkout(installed, tmp_path):
    out = subprocess.run([installed / "bin" / "python", "-c", CHECKS], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_the_installed_console_script_runs(installed, tmp_path):
    out = subprocess.run([installed / "bin" / "gapbench", "list", "methods"], cwd=tmp_path, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert "h2o" in out.stdout


def test_the_readme_python_example_runs_as_written(installed, tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"## Python API\n.*?```python\n(.*?)```", readme, re.S).group(1)
    out = subprocess.run([installed / "bin" / "python", "-c", example], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "SAC(sim)" in out.stdout  # Table 1 came out of the store the example wrote

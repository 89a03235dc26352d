"""The layering rules and the 'every config field is used' rule, checked on the source."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["envs", "algos", "benchmark", "analysis"]  # imports only point to earlier entries
FORBIDDEN = {
    "envs": {"algos", "benchmark", "analysis"},
    "algos": {"benchmark", "analysis"},
    "benchmark": {"analysis"},
    "analysis": {"algos", "benchmark", "envs"},  # must read a store copied from another machine
}
# Inside benchmark/, a run's arguments enter at the CLI, pass through the sweep (or perf) and reach
# the training loop without coming back: each subpackage imports only the ones listed for it.
BENCHMARK_MAY_IMPORT = {
    "training": set(),
    "data": {"training"},  # generating a dataset trains SAC in the real env
    "cell": {"data", "training"},
    "sweep": {"cell", "data", "training"},
    "perf": {"data", "training"},
    "cli": {"sweep", "perf", "cell", "data", "training"},
}
# What the checkout's folders are called only on disk: installed, they are gapbench.<layer>.
OLD_TOP_LEVELS = {"envs", "algos", "benchmark", "analysis", "api"}
SOURCES = [*LAYERS, "api", "tests"]


def module_name(path: Path) -> str:
    """The installed name of a source file: envs/make.py is gapbench.envs.make, api/ is gapbench."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] == "tests":
        return ".".join(parts)
    return ".".join(["gapbench", *parts[1:]] if parts[0] == "api" else ["gapbench", *parts])


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement names, resolved to an absolute name.

    `from gapbench import envs` counts as gapbench.envs, and `from ..training import loop` in
    gapbench.benchmark.sweep.grid as gapbench.benchmark.training.loop.
    """
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # maybe submodules
    return names


def within(prefix: str, names: set[str]) -> set[str]:
    """The next name component under `prefix` of every imported module below it."""
    return {name[len(prefix):].split(".")[0] for name in names if name.startswith(prefix)}


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_never_imports_upward(layer):
    offenders = {}
    for path in sources(layer):
        bad = within("gapbench.", imported_modules(path)) & FORBIDDEN[layer]
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders


@pytest.mark.parametrize("package", sorted(BENCHMARK_MAY_IMPORT))
def test_benchmark_subpackages_import_one_way(package):
    assert {p.name for p in (ROOT / "benchmark").iterdir() if (p / "__init__.py").exists()} == set(BENCHMARK_MAY_IMPORT)
    offenders = {}
    for path in sources(f"benchmark/{package}"):
        used = within("gapbench.benchmark.", imported_modules(path)) & set(BENCHMARK_MAY_IMPORT)
        bad = used - BENCHMARK_MAY_IMPORT[package] - {package}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders


@pytest.mark.parametrize("folder", SOURCES)
def test_nothing_imports_the_checkouts_folder_names(folder):
    """`import envs` works only with the checkout on sys.path, and would load a second copy."""
    offenders = {}
    for path in sources(folder):
        bad = {name.split(".")[0] for name in imported_modules(path)} & OLD_TOP_LEVELS
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders


def test_tests_import_their_helpers_one_way():
    """As `tests.<module>`; fixtures live in conftest.py, which no module imports."""
    local = {p.stem for p in (ROOT / "tests").glob("*.py")}
    offenders = {}
    for path in sources("tests"):
        bad = {name for name in imported_modules(path)
               if name.split(".")[0] in local or name.startswith("tests.conftest")}
        if bad:
            offenders[path.name] = sorted(bad)
    assert not offenders


def config_classes():
    from gapbench import algos
    from gapbench.benchmark.data.generation import Recipe
    from gapbench.benchmark.training.loop import TrainConfig

    classes = {m.agent.Config for m in algos.methods()} | {TrainConfig, Recipe}
    return sorted(classes, key=lambda c: c.__name__)


# The speed reference re-implements the updates to time them against gapbench's; a field that only
# it reads is still a field gapbench never uses.
NOT_A_USE = {ROOT / "benchmark" / "perf" / "reference.py"}


def attribute_uses() -> dict[str, int]:
    """How often each attribute name is read (`x.name`) anywhere in the package code."""
    counts: dict[str, int] = {}
    for layer in ("algos", "benchmark", "envs"):
        for path in (p for p in sources(layer) if p not in NOT_A_USE):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                    counts[node.attr] = counts.get(node.attr, 0) + 1
    return counts


@pytest.mark.parametrize("config_cls", config_classes(), ids=lambda c: c.__name__)
def test_every_config_field_is_read_somewhere(config_cls):
    uses = attribute_uses()
    unused = [f.name for f in dataclasses.fields(config_cls) if not uses.get(f.name)]
    assert not unused, f"{config_cls.__name__} fields never read: {unused}"

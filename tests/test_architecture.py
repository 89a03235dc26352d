"""The layering rule and the 'every config field is used' rule, checked on the source."""

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


def imported_modules(path: Path) -> set[str]:
    """Every absolute module an import statement names, `from gapbench import envs` as gapbench.envs."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            if node.module == "gapbench":
                names.update(f"gapbench.{alias.name}" for alias in node.names)
    return names


def imported_layers(path: Path) -> set[str]:
    return {name.split(".")[1] for name in imported_modules(path)
            if name.startswith("gapbench.") and name.split(".")[1] in LAYERS}


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_never_imports_upward(layer):
    offenders = {}
    for path in sorted((ROOT / layer).rglob("*.py")):
        bad = imported_layers(path) & FORBIDDEN[layer]
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders


def config_classes():
    from gapbench import algos
    from gapbench.benchmark.data.generation import Recipe
    from gapbench.benchmark.training.loop import TrainConfig

    classes = {m.agent.Config for m in algos.methods()} | {TrainConfig, Recipe}
    return sorted(classes, key=lambda c: c.__name__)


def attribute_uses() -> dict[str, int]:
    """How often each attribute name is read (`x.name`) anywhere in the package code."""
    counts: dict[str, int] = {}
    for layer in ("algos", "benchmark", "envs"):
        for path in (ROOT / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                    counts[node.attr] = counts.get(node.attr, 0) + 1
    return counts


@pytest.mark.parametrize("config_cls", config_classes(), ids=lambda c: c.__name__)
def test_every_config_field_is_read_somewhere(config_cls):
    uses = attribute_uses()
    unused = [f.name for f in dataclasses.fields(config_cls) if not uses.get(f.name)]
    assert not unused, f"{config_cls.__name__} fields never read: {unused}"

"""analysis/ reads only the results store: it imports nothing from algos/, benchmark/ or envs/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"
LOWER = {"algos", "benchmark", "envs"}


def test_no_module_of_analysis_imports_a_lower_layer():
    offenders = []
    for path in sorted(ANALYSIS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if isinstance(node, ast.ImportFrom) and node.module == "gapbench":
                names = [f"gapbench.{a.name}" for a in node.names]
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names
                          if n.startswith("gapbench.") and n.split(".")[1] in LOWER]
    assert not offenders


def test_importing_every_analysis_module_loads_no_lower_layer():
    modules = sorted(f"gapbench.analysis.{p.stem}" for p in ANALYSIS.glob("*.py") if p.stem != "__init__")
    code = (f"import sys\nfor m in {modules!r}: __import__(m)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[:2] in {[['gapbench', n] for n in sorted(LOWER)]!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""Learning: the shared core and one file per method, all behind one interface (`core.agent`)."""

import importlib
import pkgutil

from gapbench.algos.core.agent import Agent, AgentSpec, RealDataStats
from gapbench.algos.core.batch import Batch, FixedDataset, Layout, ReplayBuffer
from gapbench.algos.core.rng import PopulationRNG, derive_seed
from gapbench.algos.registry import Method, get_method, methods, register

# Every module of this package registers its methods on import; a new file is picked up as is.
# `methods()` puts them in the paper's order, whatever order they were imported in.
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in ("core", "registry")):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["Agent", "AgentSpec", "Batch", "FixedDataset", "Layout", "Method", "PopulationRNG", "RealDataStats",
           "ReplayBuffer", "derive_seed", "get_method", "methods", "register"]

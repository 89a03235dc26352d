"""Learning: the shared core and one file per method, all behind one interface (`algos.core.agent`)."""

import importlib
import pkgutil

from algos.core.agent import Agent, AgentSpec, RealDataStats
from algos.core.batch import Batch, FixedDataset, Layout, ReplayBuffer
from algos.core.rng import PopulationRNG, derive_seed
from algos.registry import Method, get_method, methods, register

# Every module of this package registers its methods on import; a new file is picked up as is.
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("core", "registry"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Agent", "AgentSpec", "Batch", "FixedDataset", "Layout", "Method", "PopulationRNG", "RealDataStats",
           "ReplayBuffer", "derive_seed", "get_method", "methods", "register"]

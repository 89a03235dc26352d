"""Learning: the shared core and one file per method, all behind one interface (`core.agent`)."""

import importlib
import pkgutil

from gapbench.algos.core.agent import Agent, AgentSpec, RealDataStats
from gapbench.algos.core.batch import Batch, FixedDataset, Layout, ReplayBuffer
from gapbench.algos.core.rng import PopulationRNG, derive_seed
from gapbench.algos.registry import Method, get_method, methods, register

# Every module of this package registers its methods on import; a new file is picked up as is.
# The paper's methods come first, in the paper's order, so listings and tables read like Table 1.
_PAPER_ORDER = ["sac", "cql", "darc", "darc_plus", "h2o"]
_others = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _PAPER_ORDER + ["core", "registry"])
for _name in _PAPER_ORDER + _others:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["Agent", "AgentSpec", "Batch", "FixedDataset", "Layout", "Method", "PopulationRNG", "RealDataStats",
           "ReplayBuffer", "derive_seed", "get_method", "methods", "register"]

"""Methods by name. A method module calls `register` once per name it offers.

`algos/__init__.py` imports every module in this package, so a new baseline is one file with a
config dataclass, an `Agent` subclass and a `register` call; nothing else changes.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gapbench.algos.core.agent import Agent, AgentSpec
from gapbench.algos.core.config import make_config

# "baseline": the paper's Table 1; "ablation": its Table 2; "field": a newer baseline from the field
# (IQL, TD3+BC, ...), shown beside the paper's in the field-table1 preset and in Table 1; "extra":
# anything else (BC, the worked example).
Role = Literal["baseline", "ablation", "field", "extra"]
ROLES = typing.get_args(Role)

# The paper's Table 1 columns: listings, presets and tests take the order from `methods()`.
PAPER_ORDER = ("sac", "cql", "darc", "darc+", "h2o")


@dataclass(frozen=True)
class Method:
    name: str
    agent: type[Agent]
    label: str  # the column title in tables and the legend entry in plots
    role: Role  # "baseline": Table 1; "ablation": Table 2; "field": a newer baseline; "extra": any other
    summary: str  # one line for `gapbench list methods`
    overrides: Mapping[str, Any] = field(default_factory=dict)  # e.g. an ablation's switches

    def config(self, overrides: Mapping[str, Any] | None = None):
        """The method's config: the class defaults, its registered overrides, then the user's."""
        return make_config(self.agent.Config, {**self.overrides, **(overrides or {})}, f"method {self.name}")

    def make(self, spec: AgentSpec, overrides: Mapping[str, Any] | None = None) -> Agent:
        return self.agent(self.config(overrides), spec)


_METHODS: dict[str, Method] = {}


def register(name: str, agent: type[Agent], *, label: str, role: Role, summary: str,
             overrides: Mapping[str, Any] | None = None) -> Method:
    if name in _METHODS:
        raise ValueError(f"method {name!r} is already registered")
    if role not in ROLES:
        raise ValueError(f"method {name!r}: role {role!r} is not one of {', '.join(ROLES)}")
    method = Method(name, agent, label, role, summary, dict(overrides or {}))
    method.config()  # fail at import time if the registered overrides do not fit the config
    _METHODS[name] = method
    return method


def get_method(name: str) -> Method:
    try:
        return _METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(_METHODS)}") from None


def methods() -> list[Method]:
    """The paper's methods in its order, each followed by its variants (H2O by its ablations), then
    the field's newer baselines, then the rest.

    A variant is a method registered with the same agent class as a paper method; the others keep
    their registration order, which is by module name.
    """
    registered = list(_METHODS.values())
    paper = [_METHODS[name] for name in PAPER_ORDER if name in _METHODS]

    def rank(method: Method) -> tuple[int, int, int]:
        family = next((i for i, p in enumerate(paper) if p.agent is method.agent), len(paper))
        return family, 0 if family < len(paper) or method.role == "field" else 1, registered.index(method)

    return sorted(registered, key=rank)

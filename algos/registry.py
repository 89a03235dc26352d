"""Methods by name. A method module calls `register` once per name it offers.

`algos/__init__.py` imports every module in this package, so a new baseline is one file with a
config dataclass, an `Agent` subclass and a `register` call; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gapbench.algos.core.agent import Agent, AgentSpec
from gapbench.algos.core.config import make_config

Role = Literal["baseline", "ablation", "extra"]


@dataclass(frozen=True)
class Method:
    name: str
    agent: type[Agent]
    label: str  # the column title in tables and the legend entry in plots
    role: Role  # "baseline": Table 1; "ablation": Table 2; "extra": any other method
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
    return list(_METHODS.values())

"""Methods by name. A method module calls `register` once per name it offers.

`algos/__init__.py` imports every module in this package, so a new baseline is one file with a
config dataclass, an `Agent` subclass and a `register` call; nothing else changes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gapbench.algos.core.agent import Agent, AgentSpec

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


def make_config(config_cls: type, overrides: Mapping[str, Any], owner: str):
    """A config dataclass with overrides, checked: unknown fields and wrong types are errors.

    ``owner`` names the config in error messages, e.g. "method h2o".
    """
    hints = typing.get_type_hints(config_cls)
    names = [f.name for f in dataclasses.fields(config_cls)]
    values = {}
    for key, value in overrides.items():
        if key not in hints or key not in names:
            raise ValueError(f"{owner}: no config field {key!r}; valid fields: {', '.join(names)}")
        values[key] = _coerce(hints[key], value, f"{owner}: field {key!r}")
    return config_cls(**values)


def _coerce(hint, value, where: str):
    """Accept what Sacred's `with` parsing produces (ints for floats, lists for tuples)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{where} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0])
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a list, got {value!r}")
        item = args[0] if args else Any
        if (len(args) == 2 and args[1] is Ellipsis) or len(args) == 1:
            return tuple(_coerce(item, v, where) for v in value)
        if len(value) != len(args):
            raise ValueError(f"{where} must have {len(args)} entries, got {value!r}")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value))
    if hint is bool:
        # Sacred's parser turns `x=True` into a bool but leaves `x=true` a string; take both.
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is str and not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {value!r}")
    return value

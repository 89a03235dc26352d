"""Typed config dataclasses from user overrides: one parser for method and training configs.

Overrides come from `--with KEY=VALUE` and Sacred's `with`, so values arrive as Sacred parses
them; each is checked against its field's type hint, and an unknown field or a wrong type fails
with a message that names the owner, the field and the valid values.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal


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

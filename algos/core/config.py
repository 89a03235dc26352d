"""Typed config dataclasses from user overrides: one parser for method and training configs.

Overrides come from `--with KEY=VALUE` and Sacred's `with`, so values arrive as Sacred parses
them; each is checked against its field's type hint, and an unknown field or a wrong type fails
with a message that names the owner, the field and the valid values.

A field's valid range is declared once, next to the field (`eval_every: int = ranged(10_000, ge=1)`),
and `make_config` checks every field against it, so a value that would divide by zero, loop
forever or train nothing fails when the command starts, not inside a worker.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Range:
    """Numbers from `low` to `high` (either may be open or absent); a tuple is checked item by item.

    `ordered` is for (low, high) clip pairs, whose first item must not exceed the second.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    ordered: bool = False

    def check(self, value: Any) -> bool:
        if isinstance(value, (tuple, list)):
            in_order = not self.ordered or all(a <= b for a, b in zip(value, value[1:]))
            return in_order and all(self.check(v) for v in value)
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        low = None if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        high = None if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        text = " and ".join(t for t in (low, high) if t) or "any number"
        return f"a (low, high) pair with low <= high, each {text}" if self.ordered else text


class Device:
    """A torch device this machine has: "cpu", or "cuda"/"cuda:N" where a GPU is visible."""

    def check(self, value: Any) -> bool:
        import torch

        try:
            device = torch.device(value)
        except (RuntimeError, TypeError):
            return False
        if device.type == "cpu":
            return True
        if device.type == "cuda":
            return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
        return False

    def __str__(self) -> str:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return "cpu" + (f", cuda or cuda:0..{gpus - 1}" if gpus else " (no CUDA device is visible here)")


def ranged(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None, ordered: bool = False) -> Any:
    """A dataclass field with its valid range: ge/gt a lower bound (closed/open), le/lt an upper one."""
    valid = Range(gt if gt is not None else ge, lt if lt is not None else le, gt is not None, lt is not None, ordered)
    return dataclasses.field(default=default, metadata={"valid": valid})


def device_field(default: str = "cpu") -> Any:
    return dataclasses.field(default=default, metadata={"valid": Device()})


def make_config(config_cls: type, overrides: Mapping[str, Any], owner: str):
    """A config dataclass with overrides, checked: unknown fields, wrong types and values out of
    their field's declared range are errors.

    ``owner`` names the config in error messages, e.g. "method h2o".
    """
    hints = typing.get_type_hints(config_cls)
    names = [f.name for f in dataclasses.fields(config_cls)]
    values = {}
    for key, value in overrides.items():
        if key not in hints or key not in names:
            raise ValueError(f"{owner}: no config field {key!r}; valid fields: {', '.join(names)}")
        values[key] = _coerce(hints[key], value, f"{owner}: field {key!r}")
    config = config_cls(**values)
    check_ranges(config, owner)
    return config


def check_ranges(config: Any, owner: str) -> None:
    """Every field against the range declared next to it; None (an optional field unset) passes."""
    for f in dataclasses.fields(config):
        valid, value = f.metadata.get("valid"), getattr(config, f.name)
        if valid is not None and value is not None and not valid.check(value):
            shown = list(value) if isinstance(value, tuple) else value
            raise ValueError(f"{owner}: {f.name}={shown!r} is out of range; valid: {valid}")


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
